//! Paid escrow jobs end to end on the devnet: jobs per second, and latency from the
//! relayer seeing the payment to a worker running the job (a benchmark, not a test;
//! `scripts/bench e2e` runs it).
//!
//! Per case (store × replicas) a fresh devnet is served over HTTP with a real hub and
//! a provider staked on it; one operator's relayer runs as 1 or 2 real [`Node`]s
//! (replicas share the key, the wallet and the store: SQLite, or one PostgreSQL
//! database); one real worker agent (`spindle_worker::agent`) dials every replica over
//! the real worker API (signed challenge, offers, signed acceptance and result). Its
//! inference backend is a stub that answers at once: this measures Spindle's
//! scheduling, not inference.
//!
//! 1. Set-up (not timed): the client's wallet deploys and pays the N job escrows
//!    directly, 255 per external message (W5's most actions).
//! 2. Timed: the client submits each job's spec to `POST /v1/jobs` (64 in flight,
//!    round-robin over the replicas). The 202 is "payment seen": the relayer has
//!    checked the escrow on-chain and stored the funded job with its spec, so it is
//!    dispatchable. The scheduler leases it to the worker, which accepts (signed),
//!    calls the backend — the stub records that moment, "worker lease" — and returns
//!    its signed result, which the relayer verifies and stores.
//! 3. Settlement (skippable): the relayer signs completions (k = 1 here) and posts
//!    `complete` from its wallet, batched; a job counts once its store says settled
//!    (the watcher saw the escrow complete on-chain).
//!
//! Prints one JSON line per case. `jobs_per_s` = jobs leased per second from the first
//! submission to the last lease; latencies are per job, submission 202 → backend call
//! (so they include the offer's trip over the worker's WebSocket and the signing of
//! its acceptance, and any queueing when submissions outrun dispatch).
//!
//!     cargo bench -p spindle-e2e --bench e2e -- [JOBS] [--cases sqlite,pg,pg2] [--no-settle]
//!         [--settle-timeout SECS]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use axum::Json;
use axum::extract::State;
use axum::routing::{get, post};
use futures::StreamExt;
use serde_json::{Value, json};
use spindle_cli::demo::hub_params;
use spindle_cli::onchain::Payer;
use spindle_cli::stake::Stake;
use spindle_devnet::{Devnet, DevnetConfig, TON};
use spindle_relayer::config::Config;
use spindle_relayer::job::JobState;
use spindle_relayer::node::Node;
use spindle_sdk::message::InternalMessage;
use spindle_sdk::protocol::job_escrow::{self as je, Job};
use spindle_sdk::protocol::provider_stake::BASECHAIN_GAS_PRICE;
use spindle_sdk::protocol::relayer_set::RelayerSet;
use spindle_sdk::toncenter::{Toncenter, ToncenterConfig};
use spindle_sdk::{SigningKey, TonAddress, address};
use spindle_worker::agent::{RelayerEndpoint, WorkerConfig};
use spindle_worker::protocol::Prices;

const MODEL: &str = "bench-echo";
/// W5's most actions per external message.
const BATCH: usize = 255;
/// Submissions in flight.
const IN_FLIGHT: usize = 64;
/// The worker's capacity per relayer connection.
const WORKER_SLOTS: u32 = 256;
const JOB_AMOUNT: u128 = TON / 10;
const STAKE: u128 = 20 * TON;
/// What `spindle provider stake` adds to the stake: the contract's reserve and init gas.
const STAKE_RESERVE: u128 = 10_000_000;
const STAKE_GAS_INIT: u128 = 8_000;
const GOAL_JOBS_PER_S: f64 = 1_000.0;

#[derive(Clone, Copy, Debug)]
struct Case {
    name: &'static str,
    postgres: bool,
    replicas: usize,
}

const CASES: [Case; 3] = [
    Case {
        name: "sqlite",
        postgres: false,
        replicas: 1,
    },
    Case {
        name: "pg",
        postgres: true,
        replicas: 1,
    },
    Case {
        name: "pg2",
        postgres: true,
        replicas: 2,
    },
];

struct Args {
    jobs: usize,
    cases: Vec<Case>,
    settle: bool,
    settle_timeout: Duration,
}

fn args() -> anyhow::Result<Args> {
    let mut out = Args {
        jobs: 1_000,
        cases: CASES.to_vec(),
        settle: true,
        settle_timeout: Duration::from_secs(90),
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--bench" => {}
            "--no-settle" => out.settle = false,
            "--settle-timeout" => {
                out.settle_timeout = Duration::from_secs(it.next().context("secs")?.parse()?)
            }
            "--cases" => {
                let names = it.next().context("--cases sqlite,pg,pg2")?;
                out.cases = names
                    .split(',')
                    .map(|n| {
                        CASES
                            .iter()
                            .find(|c| c.name == n)
                            .copied()
                            .with_context(|| format!("unknown case {n}"))
                    })
                    .collect::<anyhow::Result<_>>()?;
            }
            n => out.jobs = n.parse().with_context(|| format!("JOBS, not {n:?}"))?,
        }
    }
    ensure!(out.jobs > 0, "JOBS must be at least 1");
    Ok(out)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = args()?;
    for case in &args.cases {
        let line = run_case(*case, &args)
            .await
            .with_context(|| format!("case {}", case.name))?;
        println!("{line}");
    }
    Ok(())
}

fn progress(case: &Case, what: impl AsRef<str>) {
    eprintln!("[e2e {} ×{}] {}", case.name, case.replicas, what.as_ref());
}

/// When the stub backend saw each job (by nonce): the worker is running it.
#[derive(Default)]
struct Started(Mutex<HashMap<u64, Instant>>);

async fn run_case(case: Case, args: &Args) -> anyhow::Result<Value> {
    let n = args.jobs;
    let dir = std::env::temp_dir().join(format!(
        "spindle-bench-e2e-{}-{}",
        std::process::id(),
        case.name
    ));
    std::fs::create_dir_all(&dir)?;

    // The chain: a hub, a provider staked on it, a client with enough for N escrows.
    let devnet = Devnet::new(DevnetConfig {
        wallets: 5,
        wallet_balance: 1_000 * TON + n as u128 * TON / 5,
        block_interval: Some(Duration::from_millis(50)),
        ..DevnetConfig::default()
    })?;
    let server = devnet.serve("127.0.0.1:0".parse()?).await?;
    let api = Toncenter::new(ToncenterConfig {
        requests_per_second: 100_000.0,
        ..ToncenterConfig::new(server.url.clone())
    });
    let global_id = devnet.global_id();
    let wallets = devnet.wallets();
    let payer = |i: usize, name: &str| {
        Payer::new(
            name,
            SigningKey::from_bytes(&wallets[i].secret_key),
            global_id,
        )
    };
    let governance = payer(0, "governance")?;
    let treasury = payer(1, "treasury")?.address;
    let client = payer(2, "client")?;
    let owner = payer(3, "provider")?;
    let relayer = payer(4, "relayer")?;
    let set = RelayerSet::new(1, 1, vec![relayer.key.verifying_key()])?;
    let params = hub_params(set.clone(), treasury);
    let hub = spindle_cli::hub::deploy(&api, &governance, &params).await?;
    let operator = SigningKey::from_bytes(&[40; 32]);
    let stake = Stake::deploy(
        &api,
        &owner,
        &hub,
        &operator.verifying_key(),
        &params.stake_config(spindle_cli::job::code()?),
        STAKE + STAKE_RESERVE + STAKE_GAS_INIT * BASECHAIN_GAS_PRICE,
    )
    .await?;
    ensure!(
        stake.state(&api).await?.stake >= STAKE,
        "the stake did not initialise"
    );
    progress(
        &case,
        format!("devnet {} with hub and staked provider", server.url),
    );

    // The store, then the operator's relayer replicas.
    let (store_url, pg_db) = if case.postgres {
        let db = format!("spindle_bench_e2e_{}_{}", std::process::id(), case.name);
        psql(&format!("CREATE DATABASE {db}"))?;
        (format!("postgres://postgres@127.0.0.1:5432/{db}"), Some(db))
    } else {
        (
            format!("sqlite://{}?mode=rwc", dir.join("relayer.db").display()),
            None,
        )
    };
    let relayer_key = key_file(&dir, "relayer.key", &relayer.key)?;
    let operator_key = key_file(&dir, "operator.key", &operator)?;
    let mut nodes = Vec::new();
    for i in 0..case.replicas {
        let path = dir.join(format!("relayer-{i}.toml"));
        std::fs::write(
            &path,
            relayer_toml(
                &server.url,
                &hub,
                global_id,
                &relayer_key,
                &store_url,
                &set,
                &operator,
                &owner.address,
            ),
        )?;
        let config = Config::load_with_env(Some(&path), Vec::new())?;
        nodes.push(Node::start(config).await?);
    }
    let urls: Vec<String> = nodes.iter().map(|n| format!("http://{}", n.addr)).collect();

    // The stub backend and the real worker agent dialling every replica.
    let started = Arc::new(Started::default());
    let backend = serve_backend(started.clone()).await?;
    let worker = WorkerConfig {
        backend_url: backend,
        operator_key_file: operator_key,
        owner: address::to_raw(&owner.address),
        max_concurrency: WORKER_SLOTS,
        relayers: urls
            .iter()
            .map(|u| RelayerEndpoint {
                url: format!(
                    "{}{}",
                    u.replace("http://", "ws://"),
                    spindle_worker::protocol::CONNECT_PATH
                ),
                address: Some(address::to_raw(&relayer.address)),
            })
            .collect(),
        prices: [(
            "*".to_owned(),
            Prices {
                prompt: 1_000_000,
                cached_prompt: 1_000_000,
                completion: 1_000_000,
            },
        )]
        .into(),
        health_interval_ms: 1_000,
        drain_timeout_secs: 5,
        max_backoff_ms: 500,
    };
    let (stop_worker, worker_stopped) = tokio::sync::oneshot::channel::<()>();
    let worker_task = tokio::spawn(spindle_worker::agent::run_until(worker, async {
        let _ = worker_stopped.await;
    }));
    for node in &nodes {
        let pool = node.parts.gateway.pool.clone();
        wait_for("the worker to connect", 60, || {
            let pool = pool.clone();
            async move { !pool.offers(MODEL).is_empty() }
        })
        .await?;
    }
    progress(
        &case,
        format!(
            "{} relayer replica(s) on {store_url}, worker connected",
            case.replicas
        ),
    );

    // Set-up: the client deploys and pays the escrows, BATCH per external message.
    let escrow_config = params.escrow_config(spindle_cli::stake::code()?);
    let now = api.get_address_information(&hub).await?.sync_utime as u32;
    let mut jobs = Vec::with_capacity(n);
    let create_started = Instant::now();
    for chunk in (1..=n as u64).collect::<Vec<_>>().chunks(BATCH) {
        let mut messages = Vec::new();
        for &nonce in chunk {
            let spec = spec(nonce);
            let job = Job {
                amount: JOB_AMOUNT,
                deadline: now + 3_600,
                spec_hash: je::spec_hash(&spec),
            };
            let init = je::state_init(spindle_cli::job::code()?, &hub, &client.address, nonce)?;
            let escrow = init.address(0)?;
            messages.push(
                InternalMessage::new(
                    escrow.clone(),
                    spindle_cli::job::create_value(&job, &escrow_config),
                )
                .with_state_init(init)
                .with_body(je::create_body(&job, &escrow_config, nonce)?),
            );
            jobs.push((nonce, escrow, spec));
        }
        client.send(&api, messages).await?;
        let (_, last, _) = jobs.last().expect("a chunk is never empty");
        let last = last.clone();
        wait_for("the batch's escrows to open", 60, || {
            let (api, last) = (&api, &last);
            async move {
                spindle_cli::job::job_state(api, last)
                    .await
                    .is_ok_and(|s| s.state == je::OPEN)
            }
        })
        .await?;
        progress(&case, format!("{}/{n} escrows funded on-chain", jobs.len()));
    }
    for (_, escrow, _) in jobs.iter().step_by(97) {
        let s = spindle_cli::job::job_state(&api, escrow).await?;
        ensure!(s.state == je::OPEN, "escrow {escrow} is not open");
    }
    progress(
        &case,
        format!(
            "{n} escrows in {:.1} s; submitting specs ({IN_FLIGHT} in flight)",
            create_started.elapsed().as_secs_f64()
        ),
    );

    // Timed: submissions ("payment seen") → leases (the worker's backend call).
    let http = reqwest::Client::new();
    let client_raw = address::to_raw(&client.address);
    let t0 = Instant::now();
    let submitted: Vec<(u64, Instant)> = futures::stream::iter(jobs.iter().enumerate())
        .map(|(i, (nonce, escrow, spec))| {
            let url = format!("{}/v1/jobs", urls[i % urls.len()]);
            let body = json!({
                "escrow": address::to_raw(escrow),
                "client": client_raw,
                "nonce": nonce,
                "spec": spec,
            });
            let http = http.clone();
            async move {
                let r = http.post(&url).json(&body).send().await?;
                let status = r.status();
                if status != 202 {
                    bail!("job {nonce} refused: {status} {}", r.text().await?);
                }
                Ok((*nonce, Instant::now()))
            }
        })
        .buffer_unordered(IN_FLIGHT)
        .collect::<Vec<anyhow::Result<_>>>()
        .await
        .into_iter()
        .collect::<anyhow::Result<_>>()?;
    let submit_secs = t0.elapsed().as_secs_f64();
    progress(
        &case,
        format!("{n} submitted in {submit_secs:.2} s; waiting for the leases"),
    );
    let deadline = Instant::now() + Duration::from_secs(120 + n as u64 / 10);
    loop {
        let seen = started.0.lock().unwrap().len();
        if seen >= n {
            break;
        }
        if Instant::now() > deadline {
            bail!("only {seen}/{n} jobs reached the worker in time");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let leases = started.0.lock().unwrap().clone();
    let last_lease = leases.values().max().copied().expect("n > 0");
    let lease_secs = (last_lease - t0).as_secs_f64();
    let mut latencies: Vec<f64> = submitted
        .iter()
        .map(|(nonce, at)| leases[nonce].saturating_duration_since(*at).as_secs_f64() * 1e3)
        .collect();
    latencies.sort_by(f64::total_cmp);
    let jobs_per_s = n as f64 / lease_secs;
    progress(
        &case,
        format!("{n} leased in {lease_secs:.2} s: {jobs_per_s:.0} jobs/s"),
    );

    // Results stored, then (optionally) settlement on-chain.
    let store = nodes[0].parts.store.clone();
    let count = |states: &'static [JobState]| {
        let store = store.clone();
        async move {
            let mut total = 0;
            for s in states {
                total += store.jobs_in_state(*s, n as u32 + 1).await?.len();
            }
            anyhow::Ok(total)
        }
    };
    const DONE: &[JobState] = &[
        JobState::ResultStored,
        JobState::Signed,
        JobState::Posted,
        JobState::Settled,
    ];
    wait_for("the results to be stored", 120, || async move {
        count(DONE).await.is_ok_and(|c| c >= n)
    })
    .await?;
    let results_secs = t0.elapsed().as_secs_f64();
    let mut settled = 0;
    let mut settle_secs = None;
    if args.settle {
        let until = Instant::now() + args.settle_timeout;
        let mut last_report = Instant::now();
        while Instant::now() < until {
            settled = count(&[JobState::Settled]).await?;
            if settled >= n {
                settle_secs = Some(t0.elapsed().as_secs_f64());
                break;
            }
            if last_report.elapsed() > Duration::from_secs(10) {
                progress(&case, format!("{settled}/{n} settled on-chain"));
                last_report = Instant::now();
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        progress(&case, format!("{settled}/{n} settled on-chain"));
        if settled >= n {
            // Spot-check the chain itself, not only the store.
            for (_, escrow, _) in jobs.iter().step_by(97) {
                let s = spindle_cli::job::job_state(&api, escrow).await?;
                ensure!(
                    s.state == je::COMPLETED,
                    "escrow {escrow} is not completed on-chain"
                );
            }
        }
    }
    let elapsed_all = t0.elapsed().as_secs_f64();

    let _ = stop_worker.send(());
    let _ = tokio::time::timeout(Duration::from_secs(10), worker_task).await;
    for node in nodes {
        let _ = tokio::time::timeout(Duration::from_secs(20), node.shutdown()).await;
    }
    drop(server);
    if let Some(db) = pg_db {
        let _ = psql(&format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"));
    }
    let _ = std::fs::remove_dir_all(&dir);

    let round = |x: f64, d: i32| (x * 10f64.powi(d)).round() / 10f64.powi(d);
    Ok(json!({
        "bench": "e2e",
        "case": case.name,
        "store": if case.postgres { "postgres" } else { "sqlite" },
        "replicas": case.replicas,
        "jobs": n,
        "submit_per_s": round(n as f64 / submit_secs, 1),
        "jobs_per_s": round(jobs_per_s, 1),
        "lease_p50_ms": round(percentile(&latencies, 0.50), 1),
        "lease_p99_ms": round(percentile(&latencies, 0.99), 1),
        "lease_max_ms": round(*latencies.last().expect("n > 0"), 1),
        "results_per_s": round(n as f64 / results_secs, 1),
        "settle_measured": args.settle,
        "settled": settled,
        "settled_per_s": settle_secs.map(|s| round(n as f64 / s, 1))
            .or_else(|| args.settle.then(|| round(settled as f64 / elapsed_all, 1))),
        "goal_jobs_per_s": GOAL_JOBS_PER_S,
        "ratio_to_goal": round(jobs_per_s / GOAL_JOBS_PER_S, 3),
        "worker": "real worker agent over the worker API; stub backend answering at once",
    }))
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// Job `nonce`'s spec: the nonce in the prompt lets the stub backend name the job.
fn spec(nonce: u64) -> Value {
    json!({
        "model": MODEL,
        "messages": [{"role": "user", "content": format!("bench job {nonce}")}],
        "max_tokens": 4,
    })
}

/// An OpenAI-compatible server that answers every completion at once, recording when
/// each job's request arrived.
async fn serve_backend(started: Arc<Started>) -> anyhow::Result<String> {
    async fn complete(State(started): State<Arc<Started>>, Json(body): Json<Value>) -> Json<Value> {
        let at = Instant::now();
        if let Some(nonce) = body["messages"][0]["content"]
            .as_str()
            .and_then(|c| c.strip_prefix("bench job "))
            .and_then(|n| n.parse().ok())
        {
            started.0.lock().unwrap().entry(nonce).or_insert(at);
        }
        Json(json!({
            "id": "bench", "object": "chat.completion", "created": 0, "model": MODEL,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 8, "completion_tokens": 1, "total_tokens": 9},
        }))
    }
    let app = axum::Router::new()
        .route("/health", get(|| async { Json(json!({"status": "ok"})) }))
        .route(
            "/v1/models",
            get(|| async {
                Json(json!({"object": "list", "data": [{"id": MODEL, "object": "model"}]}))
            }),
        )
        .route("/v1/chat/completions", post(complete))
        .with_state(started);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(url)
}

/// One replica's config: every replica of the operator has the same one but its port.
/// The chain API's rps is the validator's maximum (a local devnet).
#[allow(clippy::too_many_arguments)]
fn relayer_toml(
    api_url: &str,
    hub: &TonAddress,
    global_id: i32,
    key_file: &Path,
    store_url: &str,
    set: &RelayerSet,
    operator: &SigningKey,
    owner: &TonAddress,
) -> String {
    let member = hex::encode(set.keys[0].as_bytes());
    format!(
        r#"[chain]
api_url = "{api_url}"
rps = 10000
hub = "{hub}"
global_id = {global_id}

[relayer]
key_file = "{key}"
listen = "127.0.0.1:0"

[store]
url = "{store_url}"

[relayer_set]
version = {version}
k = 1
members = ["{member}"]

[gateway]
heartbeat_secs = 5
queue_timeout_ms = 2000

[[gateway.providers]]
operator_key = "{operator}"
owner = "{owner}"

[thresholds]
confirmation_depth = 0
lease_duration_secs = 30
heartbeat_interval_secs = 10
"#,
        hub = address::to_raw(hub),
        key = key_file.display(),
        version = set.version,
        operator = hex::encode(operator.verifying_key().as_bytes()),
        owner = address::to_raw(owner),
    )
}

/// A key file (hex seed, mode 0600 as the relayer and worker require).
fn key_file(dir: &Path, name: &str, key: &SigningKey) -> anyhow::Result<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join(name);
    std::fs::write(&path, hex::encode(key.to_bytes()))?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
    Ok(path)
}

fn psql(sql: &str) -> anyhow::Result<()> {
    let out = std::process::Command::new("psql")
        .args([
            "-h",
            "127.0.0.1",
            "-U",
            "postgres",
            "-v",
            "ON_ERROR_STOP=1",
            "-qc",
            sql,
        ])
        .output()
        .context("psql")?;
    ensure!(
        out.status.success(),
        "psql {sql}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}

async fn wait_for<F, Fut>(what: &str, secs: u64, mut done: F) -> anyhow::Result<()>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let until = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < until {
        if done().await {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    bail!("timed out after {secs} s waiting for {what}")
}
