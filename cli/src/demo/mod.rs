//! `spindle demo`: the whole system on one machine, to settlement on-chain.
//!
//! From embedded defaults only: a CPU inference server (llama.cpp with
//! SmolLM2-135M), an in-process devnet running the real contracts, a hub, two
//! staked providers, three relayers (k = 2, each a real relayer node with its
//! own SQLite store) and the providers' workers. Then clients
//!
//! 1. fund escrow jobs from their wallet and fetch the results (`escrow`);
//! 2. deposit into a compute account and make OpenAI-compatible requests,
//!    settled by a 2-of-3 relayer voucher (`metered`);
//! 3. watch a job expire after its provider accepted it and vanished: the
//!    client is refunded and the provider slashed (`expire`).
//!
//! The final table (`summary`) is read back from the chain, and the demo
//! exits non-zero unless every settlement it expects is there.

mod config;
mod escrow;
mod expire;
mod metered;
mod setup;
mod summary;

use std::time::{Duration, Instant};

use anyhow::bail;

/// The demo's hub parameters, also what the end-to-end benchmark deploys.
pub use config::hub_params;
pub use summary::ton;

pub(crate) const TON: u128 = 1_000_000_000;

/// Options of `spindle demo`.
#[derive(Debug, Clone, clap::Args)]
pub struct DemoArgs {
    /// Escrow jobs the client funds from its wallet.
    #[arg(long, default_value_t = 2)]
    pub jobs: usize,
    /// OpenAI-compatible chat requests the client makes on its compute account.
    #[arg(long, default_value_t = 3)]
    pub requests: usize,
    /// Leave the devnet, relayers and workers running after the summary (Ctrl-C stops them).
    #[arg(long)]
    pub keep_running: bool,
    /// Print the summary as JSON (one line on stdout; progress stays on stderr).
    #[arg(long)]
    pub json: bool,
}

/// Numbered progress lines on stderr, so `--json` output stays clean.
pub(crate) struct Progress {
    step: usize,
    total: usize,
}

impl Progress {
    fn step(&mut self, what: &str) {
        self.step += 1;
        eprintln!("[{}/{}] {what}", self.step, self.total);
    }
    fn detail(&self, what: impl AsRef<str>) {
        eprintln!("      {}", what.as_ref());
    }
}

/// Steps: 5 of set-up, 1 for the escrow jobs, 2 metered, 1 expiry, 1 summary.
const STEPS: usize = 10;

pub async fn run(args: DemoArgs) -> anyhow::Result<()> {
    let mut p = Progress {
        step: 0,
        total: STEPS,
    };
    let mut world = setup::World::start(&mut p).await?;
    let before = summary::Snapshot::read(&world).await?;
    let outcome = scenarios(&mut world, &mut p, &args).await;
    let report = match outcome {
        Ok((jobs, metered, expired)) => {
            p.step("Reading every balance back from the chain");
            summary::Report::read(&world, &before, jobs, metered, expired).await
        }
        Err(e) => Err(e),
    };
    let report = match report {
        Ok(r) => r,
        Err(e) => {
            world.shutdown().await;
            return Err(e);
        }
    };
    if args.json {
        println!("{}", serde_json::to_string(&report.json())?);
    } else {
        report.print();
    }
    let failed = report.failed_checks();
    if args.keep_running {
        eprintln!(
            "\nEverything is still running: dashboards at {}/ui; Ctrl-C stops it.",
            world.relayers[0].url
        );
        tokio::signal::ctrl_c().await?;
    }
    world.shutdown().await;
    if !failed.is_empty() {
        bail!(
            "settlement did not match the chain:\n  {}",
            failed.join("\n  ")
        );
    }
    Ok(())
}

async fn scenarios(
    world: &mut setup::World,
    p: &mut Progress,
    args: &DemoArgs,
) -> anyhow::Result<(Vec<escrow::JobRun>, metered::MeteredRun, expire::ExpiredRun)> {
    let jobs = escrow::run(world, p, args.jobs).await?;
    let metered = metered::run(world, p, args.requests).await?;
    let expired = expire::run(world, p).await?;
    Ok((jobs, metered, expired))
}

/// Polls `done` every 200 ms until it holds, for up to `secs` seconds.
pub(crate) async fn wait_for<F, Fut>(what: &str, secs: u64, mut done: F) -> anyhow::Result<()>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<bool>>,
{
    let until = Instant::now() + Duration::from_secs(secs);
    loop {
        if done().await? {
            return Ok(());
        }
        if Instant::now() > until {
            bail!("timed out after {secs} s waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
