//! `spindle`: one binary for every Spindle user — the demo, the local chain,
//! the relayer operator's and the provider's commands, and (as they land) the
//! client and provider on-chain commands.

use clap::{Parser, Subcommand};
use spindle_cli::logging::{self, LogFormat};

/// Pay-per-use GPU compute on TON.
///
/// Clients pay for GPU work from any TON wallet, providers stake TON and run the
/// jobs, relayer operators dispatch jobs and post k-of-n signed proofs on-chain.
///
/// Start with `spindle demo`. Operators: `spindle relayer init --help`.
/// Providers: `spindle worker init --help`.
#[derive(Parser)]
#[command(name = "spindle", version, propagate_version = true)]
struct Cli {
    /// Log line format on stderr (filter with SPINDLE_LOG or RUST_LOG, e.g. `info`).
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text, env = "SPINDLE_LOG_FORMAT")]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the whole system on this machine, to on-chain settlement.
    ///
    /// Starts a CPU inference server (installing it on first use), a devnet with
    /// the real contracts and a hub, two staked providers, three relayers (k = 2,
    /// as `spindle relayer run` starts them) and the providers' workers. Then a
    /// client funds escrow jobs from its wallet and fetches their results; opens
    /// a compute account and makes OpenAI-compatible requests, paid by a 2-of-3
    /// voucher; and watches a job expire after its provider accepted it and
    /// vanished (refund and slash). Ends with a table read back from the chain
    /// and exits non-zero if any expected settlement is missing.
    Demo(spindle_cli::demo::DemoArgs),
    /// Start a local TON chain (toncenter v2 API) running the real contracts.
    ///
    /// Prints the API URL and funded test wallets with their keys. Point any TON
    /// client at the printed URL, as you would at toncenter.
    Devnet(spindle_devnet::RunArgs),
    /// Relayer operators: init a config and key, run the relayer, check its status.
    #[command(subcommand)]
    Relayer(spindle_cli::relayer::RelayerCommand),
    /// Providers: init, run and check the worker beside an inference server.
    #[command(subcommand)]
    Worker(spindle_cli::worker::WorkerCommand),
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
async fn main() -> std::process::ExitCode {
    match run().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // The chain of causes, without a backtrace: errors here say what to do.
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run() -> anyhow::Result<()> {
    let cli = Cli::parse();
    // Long-running services log what they do; one-shot commands only problems.
    let default = match &cli.command {
        Command::Relayer(spindle_cli::relayer::RelayerCommand::Run(_))
        | Command::Worker(spindle_cli::worker::WorkerCommand::Run(_)) => "info",
        _ => "warn",
    };
    logging::init(cli.log_format, default);
    match cli.command {
        Command::Demo(args) => spindle_cli::demo::run(args).await,
        Command::Devnet(args) => spindle_devnet::run(args).await,
        Command::Relayer(command) => spindle_cli::relayer::run(command).await,
        Command::Worker(command) => spindle_cli::worker::run(command).await,
        Command::Provider(args) => {
            spindle_cli::cmd::finish(spindle_cli::cmd::provider::run(args).await)
        }
        Command::Client(args) => {
            spindle_cli::cmd::finish(spindle_cli::cmd::client::run(args).await)
        }
    }
}
