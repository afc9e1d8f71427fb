//! Crash safety under load: three `spindle relayer run` processes (k = 2, own keys,
//! SQLite stores and wallets) and two `spindle worker run` processes in front of a
//! real llama-server, while the client keeps funding escrow jobs with `spindle client
//! job create` and submitting them to their coordinators. A seeded sequence SIGKILLs a
//! random relayer or worker at a random moment and restarts it (a relayer on its
//! store), again and again, through leases, runs, signatures, posts and confirmations.
//!
//! Afterwards every job must end completed or refundable: the run waits until no job
//! has made progress for a while; a job still open then (its worker died and nobody
//! finished it) is taken past its deadline plus grace on the devnet's clock, where the
//! relayers must expire it (the client's own `spindle client job expire` is the last
//! resort, and the report says so). One more job, funded once both workers are
//! stopped for good, is always taken past its deadline, so the refund path is audited
//! in every run. Then `kill/audit.rs` reads every escrow back from
//! the chain and compares it with the stake and with each relayer's store: no double
//! payment, no job lost, stores in agreement, the stake paid exactly the prices.
//!
//! Knobs (environment): `SPINDLE_CHAOS_KILLS` (default 50), `SPINDLE_CHAOS_JOBS`
//! (default 8), `SPINDLE_CRASH_SEED` (replays a run's kill sequence),
//! `SPINDLE_CHAOS_SETTLE_SECS` (how long without progress before the clock is moved,
//! default 180), `SPINDLE_CHAOS_REPORT` (write the Markdown report there). The short
//! version runs in `scripts/test`; `scripts/chaos kill` runs the long one (200 kills).

#[path = "kill/audit.rs"]
mod audit;
#[path = "support/cluster.rs"]
mod cluster;
mod support;

use std::collections::HashSet;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use audit::{Audit, Job};
use cluster::{Cluster, Process, submit};
use rand::{Rng, SeedableRng};
use spindle_relayer::settle::job_signer::coordinator;
use spindle_sdk::protocol::job_escrow as je;
use spindle_sdk::{TonAddress, address};

/// `spindle worker run` processes (all of the one staked provider).
const WORKERS: usize = 2;

/// The run's size, from the environment.
struct Knobs {
    kills: usize,
    jobs: u64,
    seed: u64,
    settle: Duration,
    report: Option<String>,
}

impl Knobs {
    fn from_env() -> Knobs {
        let var = |name: &str| {
            std::env::var(name).ok().map(|v| {
                v.parse::<u64>()
                    .unwrap_or_else(|_| panic!("{name}={v}: not a number"))
            })
        };
        Knobs {
            kills: var("SPINDLE_CHAOS_KILLS").unwrap_or(50) as usize,
            jobs: var("SPINDLE_CHAOS_JOBS").unwrap_or(8),
            seed: var("SPINDLE_CRASH_SEED").unwrap_or_else(rand::random),
            settle: Duration::from_secs(var("SPINDLE_CHAOS_SETTLE_SECS").unwrap_or(180)),
            report: std::env::var("SPINDLE_CHAOS_REPORT").ok(),
        }
    }
}

/// What the kill sequence did.
#[derive(Default)]
struct Kills {
    relayers: usize,
    workers: usize,
    /// Kills made while at least one funded job was open on-chain.
    under_load: usize,
    took: Duration,
}

/// How the jobs got to their ends after the kills.
#[derive(Default)]
struct Ending {
    /// Waiting for jobs to finish on their own.
    waited: Duration,
    /// Seconds the devnet clock was moved, if any job needed its deadline to pass.
    clock_moved: Option<u64>,
    /// Jobs the relayers did not expire, expired by the client itself.
    expired_by_client: Vec<u64>,
}

/// The escrows among `escrows` that are still open on-chain.
async fn open(c: &Cluster, escrows: &[TonAddress]) -> Vec<TonAddress> {
    let mut open = Vec::new();
    for e in escrows {
        let s = spindle_cli::job::job_state(&c.env.api, e).await.unwrap();
        if s.state == je::OPEN {
            open.push(e.clone());
        }
    }
    open
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn paid_jobs_settle_once_or_refund_while_relayers_and_workers_are_killed() {
    let knobs = Knobs::from_env();
    let seed = knobs.seed;
    eprintln!(
        "kill test: {} kills, {} jobs, seed {seed} (SPINDLE_CRASH_SEED={seed} replays it)",
        knobs.kills, knobs.jobs
    );
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);

    let c = Cluster::start().await;
    let mut relayers = Vec::new();
    for i in 0..3 {
        relayers.push(Some(Process::relayer(&c, i).await));
    }
    let worker_config = c.worker_config_file();
    let mut workers: Vec<Option<Process>> = (0..WORKERS)
        .map(|i| Some(Process::worker(&c, i, &worker_config)))
        .collect();
    let earned_before = c.earned().await;

    // The load: jobs funded and submitted one after another, spread over the kills
    // (job j is ordered before kill j × kills / jobs).
    let kills_done = AtomicUsize::new(0);
    let created: Mutex<Vec<TonAddress>> = Mutex::new(Vec::new());
    let (order, mut orders) = tokio::sync::mpsc::unbounded_channel::<u64>();
    let load = async {
        let http = reqwest::Client::new();
        let mut jobs = Vec::new();
        while let Some(nonce) = orders.recv().await {
            let (escrow, body) = c.create_job(nonce).await;
            let k = coordinator(&address::to_raw(&escrow), 0, 3);
            submit(&http, &c.url(k), &body).await;
            created.lock().unwrap().push(escrow.clone());
            jobs.push(Job {
                nonce,
                escrow,
                coordinator: k,
                kills_before: kills_done.load(Ordering::SeqCst),
            });
        }
        jobs
    };
    // The kills: a random relayer or worker, at a random moment, restarted at once.
    let chaos = async {
        let started = Instant::now();
        let mut kills = Kills::default();
        let mut ordered = 0u64;
        let mut finished = HashSet::new();
        for n in 0..knobs.kills {
            while ordered < knobs.jobs && ordered as usize * knobs.kills <= n * knobs.jobs as usize
            {
                ordered += 1;
                order.send(ordered).unwrap();
            }
            tokio::time::sleep(Duration::from_millis(rng.gen_range(0..400))).await;
            let target = rng.gen_range(0..3 + WORKERS);
            let escrows: Vec<TonAddress> = created
                .lock()
                .unwrap()
                .iter()
                .filter(|e| !finished.contains(&address::to_raw(e)))
                .cloned()
                .collect();
            let still_open = open(&c, &escrows).await;
            finished.extend(
                escrows
                    .iter()
                    .filter(|e| !still_open.contains(e))
                    .map(address::to_raw),
            );
            if !still_open.is_empty() {
                kills.under_load += 1;
            }
            if target < 3 {
                relayers[target].take().unwrap().kill().await;
                relayers[target] = Some(Process::relayer(&c, target).await);
                kills.relayers += 1;
            } else {
                let w = target - 3;
                workers[w].take().unwrap().kill().await;
                workers[w] = Some(Process::worker(&c, w, &worker_config));
                kills.workers += 1;
            }
            kills_done.store(n + 1, Ordering::SeqCst);
            if n % 10 == 9 {
                eprintln!(
                    "{} kills ({} relayers, {} workers), {} jobs ordered, {:?}",
                    n + 1,
                    kills.relayers,
                    kills.workers,
                    ordered,
                    started.elapsed()
                );
            }
        }
        while ordered < knobs.jobs {
            ordered += 1;
            order.send(ordered).unwrap();
        }
        drop(order);
        kills.took = started.elapsed();
        kills
    };
    let (jobs, kills) = tokio::join!(load, chaos);

    let ending = finish(&c, &jobs, knobs.settle).await;

    // And one job no worker will ever run (both are stopped for good), taken past its
    // deadline at once: the refund path runs, and is audited, in every run.
    for w in &mut workers {
        if let Some(p) = w.take() {
            p.kill().await;
        }
    }
    let nonce = knobs.jobs + 1;
    let (escrow, body) = c.create_job(nonce).await;
    let k = coordinator(&address::to_raw(&escrow), 0, 3);
    submit(&reqwest::Client::new(), &c.url(k), &body).await;
    let orphan = Job {
        nonce,
        escrow,
        coordinator: k,
        kills_before: knobs.kills,
    };
    let orphan_ending = finish(&c, std::slice::from_ref(&orphan), Duration::ZERO).await;
    let mut jobs = jobs;
    jobs.push(orphan);

    let audit = audit::run(&c, &jobs, earned_before).await;
    let report = report(&knobs, &kills, &ending, &orphan_ending, &audit);
    eprintln!("{report}");
    if let Some(path) = &knobs.report {
        std::fs::write(path, &report).unwrap_or_else(|e| panic!("write {path}: {e}"));
    }
    assert!(
        audit.violations.is_empty(),
        "the audit found {} violation(s) (seed {seed}):\n{}",
        audit.violations.len(),
        audit.violations.join("\n")
    );
    assert_eq!(audit.jobs.len() as u64, knobs.jobs + 1);
    drop((relayers, workers));
}

/// Waits for every job to end on-chain; jobs that stop making progress for `settle`
/// are taken past their deadline plus grace, for the relayers (or at last the
/// client) to expire.
async fn finish(c: &Cluster, jobs: &[Job], settle: Duration) -> Ending {
    let started = Instant::now();
    let escrows: Vec<TonAddress> = jobs.iter().map(|j| j.escrow.clone()).collect();
    let mut ending = Ending::default();
    let mut left = open(c, &escrows).await;
    let mut progress = Instant::now();
    while !left.is_empty() && progress.elapsed() < settle {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let now = open(c, &left).await;
        if now.len() < left.len() {
            progress = Instant::now();
        }
        left = now;
    }
    ending.waited = started.elapsed();
    if left.is_empty() {
        return ending;
    }
    eprintln!(
        "{} job(s) made no progress for {settle:?}: moving the devnet clock past their deadlines",
        left.len()
    );
    let mut due = 0;
    for e in &left {
        due = due.max(
            spindle_cli::job::job_state(&c.env.api, e)
                .await
                .unwrap()
                .deadline,
        );
    }
    let grace = c.env.params().unwrap().grace;
    let skip = u64::from(due + grace + 1).saturating_sub(u64::from(c.env.devnet.now()));
    c.env.devnet.advance_time(skip);
    c.env.devnet.produce_block();
    ending.clock_moved = Some(skip);
    let until = Instant::now() + Duration::from_secs(120);
    while !left.is_empty() && Instant::now() < until {
        tokio::time::sleep(Duration::from_secs(1)).await;
        left = open(c, &left).await;
    }
    for e in left {
        let raw = address::to_raw(&e);
        // Whatever it answers, the audit reads the escrow's end from the chain.
        let run = c
            .env
            .run(&[
                "client",
                "job",
                "expire",
                &raw,
                "--key-file",
                &c.env.key_file(0),
            ])
            .await;
        eprintln!("client expire {raw}: {}{}", run.stdout(), run.stderr());
        let job = jobs.iter().find(|j| j.escrow == e).unwrap();
        ending.expired_by_client.push(job.nonce);
    }
    ending
}

fn report(knobs: &Knobs, kills: &Kills, ending: &Ending, orphan: &Ending, audit: &Audit) -> String {
    let mut r = String::new();
    let secs = |d: Duration| format!("{:.0} s", d.as_secs_f64());
    let _ = writeln!(r, "## Run\n");
    let _ = writeln!(
        r,
        "| seed | kills | of relayers | of workers | with a job in flight | jobs | kill phase | settling |"
    );
    let _ = writeln!(r, "|---|---|---|---|---|---|---|---|");
    let _ = writeln!(
        r,
        "| {} | {} | {} | {} | {} | {} | {} | {} |\n",
        knobs.seed,
        kills.relayers + kills.workers,
        kills.relayers,
        kills.workers,
        kills.under_load,
        audit.jobs.len(),
        secs(kills.took),
        secs(ending.waited)
    );
    let _ = writeln!(
        r,
        "Devnet clock moved: {}. Jobs expired by the client itself (the relayers did not): {}.\n",
        ending.clock_moved.map_or("no".to_owned(), |s| format!(
            "{s} s, past the open jobs' deadline + grace"
        )),
        if ending.expired_by_client.is_empty() {
            "none".to_owned()
        } else {
            format!("{:?}", ending.expired_by_client)
        }
    );
    let _ = writeln!(
        r,
        "Then job {} was funded with both workers stopped for good and the clock moved {} s \
         past its deadline + grace: {}.\n",
        knobs.jobs + 1,
        orphan.clock_moved.unwrap_or(0),
        if orphan.expired_by_client.is_empty() {
            "the relayers expired it (the audit checks the refund)"
        } else {
            "the relayers did NOT expire it; the client did"
        }
    );
    let _ = writeln!(r, "## Audit (chain vs stores)\n");
    let _ = writeln!(r, "| check | result |");
    let _ = writeln!(r, "|---|---|");
    let rows = [
        (
            "jobs funded (the last with no worker left)",
            audit.jobs.len().to_string(),
        ),
        (
            "completed (stake paid)",
            audit.count(je::COMPLETED).to_string(),
        ),
        (
            "expired (client refunded)",
            audit.count(je::EXPIRED).to_string(),
        ),
        ("double payments", audit.double_payments().to_string()),
        ("paid jobs lost", audit.lost().to_string()),
        ("stake earned (nanoTON)", audit.earned.to_string()),
        (
            "sum of completed prices less fee and payout gas",
            audit.expected_earned.to_string(),
        ),
        ("violations", audit.violations.len().to_string()),
    ];
    for (k, v) in rows {
        let _ = writeln!(r, "| {k} | {v} |");
    }
    let _ = writeln!(r, "\n## Jobs\n");
    let _ = writeln!(
        r,
        "| job | coordinator | submitted after kill | chain | payouts to stake | refunds to client | stores (relayer 0, 1, 2) | signers |"
    );
    let _ = writeln!(r, "|---|---|---|---|---|---|---|---|");
    for j in &audit.jobs {
        let state = match j.state {
            je::COMPLETED => "completed",
            je::EXPIRED => "expired",
            je::OPEN => "OPEN",
            _ => "?",
        };
        let stores: Vec<String> = j
            .stores
            .iter()
            .map(|s| s.map_or("-".to_owned(), |s| format!("{s:?}").to_lowercase()))
            .collect();
        let _ = writeln!(
            r,
            "| {} | {} | {} | {state} | {} | {} | {} | {:?} |",
            j.job.nonce,
            j.job.coordinator,
            j.job.kills_before,
            j.paid.len(),
            j.refunds.len(),
            stores.join(", "),
            j.signers
        );
    }
    let _ = writeln!(r, "\n## Violations\n");
    if audit.violations.is_empty() {
        let _ = writeln!(r, "None.");
    }
    for v in &audit.violations {
        let _ = writeln!(r, "- {v}");
    }
    r
}
