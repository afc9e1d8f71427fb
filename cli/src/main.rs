//! `spindle`: one binary for every Spindle user — the demo, the local chain,
//! and (as they land) the relayer, worker, client, provider and operator commands.

use clap::{Parser, Subcommand};

/// Pay-per-use GPU compute on TON.
///
/// Clients pay for GPU work from any TON wallet, providers stake TON and run the
/// jobs, relayer operators dispatch jobs and post k-of-n signed proofs on-chain.
#[derive(Parser)]
#[command(name = "spindle", version, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Start a local TON chain (toncenter v2 API) running the real contracts.
    ///
    /// Prints the API URL and funded test wallets with their keys. Point any TON
    /// client at the printed URL, as you would at toncenter.
    Devnet(spindle_devnet::RunArgs),
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .init();
    match Cli::parse().command {
        Command::Devnet(args) => spindle_devnet::run(args).await,
    }
}
