//! `spindle-devnet`: runs a local TON chain serving the toncenter v2 API.
//! The same as `spindle devnet`.

use clap::Parser;

#[derive(Parser)]
#[command(
    name = "spindle-devnet",
    about = "A local TON chain with the toncenter v2 API"
)]
struct Cli {
    #[command(flatten)]
    run: spindle_devnet::RunArgs,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .init();
    spindle_devnet::run(Cli::parse().run).await
}
