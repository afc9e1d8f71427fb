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
    /// Run the whole system on this machine, to on-chain settlement.
    ///
    /// Starts a CPU inference server (installing it on first use), a devnet
    /// with the real contracts, a relayer gateway and a provider's worker;
    /// a client opens a compute account from its wallet and makes
    /// OpenAI-compatible requests; 2 of 3 relayers sign a voucher that pays
    /// the provider on-chain. Ends with a table read back from the chain and
    /// exits non-zero if any expected settlement is missing.
    Demo(spindle_cli::demo::DemoArgs),
    /// Start a local TON chain (toncenter v2 API) running the real contracts.
    ///
    /// Prints the API URL and funded test wallets with their keys. Point any TON
    /// client at the printed URL, as you would at toncenter.
    Devnet(spindle_devnet::RunArgs),
    /// Provider: stake TON under a hub, rotate the operator key, unbond, withdraw.
    ///
    /// Sign with --key-file, SPINDLE_MNEMONIC or --mnemonic-stdin, or pay from your
    /// own wallet with --wallet-link --from ADDRESS. The hub comes from --hub or
    /// SPINDLE_HUB, the chain from --api-url or SPINDLE_API_URL.
    Provider(spindle_cli::cmd::provider::ProviderArgs),
    /// Client: fund job escrows and compute accounts from your wallet.
    ///
    /// Sign with --key-file, SPINDLE_MNEMONIC or --mnemonic-stdin, or pay from your
    /// own wallet with --wallet-link --from ADDRESS. The hub comes from --hub or
    /// SPINDLE_HUB, the chain from --api-url or SPINDLE_API_URL.
    Client(spindle_cli::cmd::client::ClientArgs),
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .init();
    match Cli::parse().command {
        Command::Demo(args) => spindle_cli::demo::run(args).await,
        Command::Devnet(args) => spindle_devnet::run(args).await,
        Command::Provider(args) => {
            spindle_cli::cmd::finish(spindle_cli::cmd::provider::run(args).await)
        }
        Command::Client(args) => {
            spindle_cli::cmd::finish(spindle_cli::cmd::client::run(args).await)
        }
    }
}
