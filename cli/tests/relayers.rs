//! Paid escrow jobs through three relayers (k = 2), end to end. The provider
//! stakes and the client funds escrows with the real `spindle` commands; three
//! relayers, each with its own key, SQLite store and wallet, serve the hub's
//! relayer set; a real worker in front of a real llama-server dials all three.
//! The client submits each spec to the job's coordinator, whose scheduler leases
//! it to the worker; the worker accepts and returns a signed result; the
//! coordinator collects a peer's signature and posts `complete`, which pays the
//! provider's stake its price for the tokens (less the protocol fee), the
//! treasury the fee and the client the rest.
//!
//! - `escrow_job_settles_through_three_relayer_nodes`: the relayers are `Node`s in
//!   this process (what `spindle relayer run` starts); every node's watcher then
//!   sees the escrow settled, and the coordinator's dashboard (headless Chromium)
//!   lists the job when submitted and shows its settled timeline.
//! - `jobs_settle_exactly_once_while_relayers_are_killed`: the relayers are
//!   `spindle relayer run` processes, SIGKILLed at random points of the jobs'
//!   lifecycles (50 times, seeded; `SPINDLE_CRASH_SEED` replays a run) and
//!   restarted on their stores; every job ends completed and the stake is paid
//!   each job's price exactly once.

mod support;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use serde_json::{Value, json};
use spindle_cli::job::job_state;
use spindle_cli::stake::Stake;
use spindle_relayer::Store;
use spindle_relayer::config::Config;
use spindle_relayer::job::JobState;
use spindle_relayer::node::Node;
use spindle_relayer::settle::job_signer::coordinator;
use spindle_relayer::ui::browser::Browser;
use spindle_sdk::message::InternalMessage;
use spindle_sdk::protocol::job_escrow as je;
use spindle_sdk::protocol::provider_stake as ps;
use spindle_sdk::{SigningKey, TonAddress, address};
use spindle_worker::agent::{RelayerEndpoint, WorkerConfig};
use spindle_worker::protocol::Prices;
use spindle_worker::testing::{LlamaServer, LlamaServerConfig, MODEL_ALIAS};
use support::{Env, TON};

/// nanoTON per million tokens: high enough that the pay is well above the stake's
/// payout gas (a pay below it earns the owner nothing), within a job's 0.5 TON.
const PRICES: Prices = Prices {
    prompt: 1_000_000_000_000,
    cached_prompt: 500_000_000_000,
    completion: 3_000_000_000_000,
};
const JOB_AMOUNT: u128 = TON / 2;

/// A free loopback port (the relayers must know each other's URLs before they start).
fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

async fn wait_for<F, Fut>(what: &str, timeout: Duration, mut done: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let until = Instant::now() + timeout;
    while !done().await {
        assert!(Instant::now() < until, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A devnet with a hub, a staked provider, three relayer configs (files) with
/// funded wallets, and the provider's llama-server.
struct Cluster {
    env: Env,
    operator: SigningKey,
    owner: TonAddress,
    stake: Stake,
    ports: Vec<u16>,
    configs: Vec<PathBuf>,
    llama: LlamaServer,
}

impl Cluster {
    async fn start() -> Cluster {
        // The nodes' logs explain a failure (`RUST_LOG=spindle_relayer=debug` for more).
        let _ = tracing_subscriber::fmt()
            .with_env_filter(
                tracing_subscriber::EnvFilter::try_from_default_env()
                    .unwrap_or_else(|_| "warn,spindle_relayer=info".into()),
            )
            .with_test_writer()
            .try_init();
        let env = Env::start().await.unwrap();
        let global_id = env.devnet.global_id();

        // The provider (genesis wallet 2) stakes with a hot operator key for its worker.
        let operator = SigningKey::from_bytes(&[42; 32]);
        let owner = env.payer(2).unwrap().address;
        env.run(&[
            "provider",
            "stake",
            "12",
            "--operator-key",
            &hex::encode(operator.verifying_key().as_bytes()),
            "--key-file",
            &env.key_file(2),
        ])
        .await
        .ok();
        let stake = Stake {
            address: ps::state_init(spindle_cli::stake::code().unwrap(), &env.hub, &owner)
                .unwrap()
                .address(0)
                .unwrap(),
        };

        // Three relayers: the hub's set is keys [1;32], [2;32], [3;32] with k = 2.
        let keys: Vec<SigningKey> = (1..=3u8)
            .map(|i| SigningKey::from_bytes(&[i; 32]))
            .collect();
        let ports: Vec<u16> = (0..3).map(|_| free_port()).collect();
        let members: Vec<String> = keys
            .iter()
            .map(|k| format!("\"{}\"", hex::encode(k.verifying_key().as_bytes())))
            .collect();
        let mut configs = Vec::new();
        for i in 0..3 {
            let key = key_file(&env, &format!("relayer{i}.key"), &keys[i]);
            // Each relayer's W5 wallet pays the gas of what it posts (non-bounceable:
            // the wallet is deployed by its first post).
            let wallet = spindle_cli::onchain::Payer::new("r", keys[i].clone(), global_id).unwrap();
            env.payer(3)
                .unwrap()
                .send(
                    &env.api,
                    vec![InternalMessage::new(wallet.address.clone(), 5 * TON).with_bounce(false)],
                )
                .await
                .unwrap();
            let peers: String = (0..3)
                .filter(|&j| j != i)
                .map(|j| {
                    format!(
                        "[[peers]]\nurl = \"http://127.0.0.1:{}\"\npubkey = \"{}\"\n",
                        ports[j],
                        hex::encode(keys[j].verifying_key().as_bytes())
                    )
                })
                .collect();
            let toml = format!(
                r#"
[chain]
api_url = "{api}"
rps = 1000
hub = "{hub}"
global_id = {global_id}

[relayer]
key_file = "{key}"
listen = "127.0.0.1:{port}"

[store]
url = "sqlite://{store}?mode=rwc"

[relayer_set]
version = 1
k = 2
members = [{members}]

{peers}
[gateway]
heartbeat_secs = 1
queue_timeout_ms = 2000

[[gateway.providers]]
operator_key = "{operator}"
owner = "{owner}"

[thresholds]
confirmation_depth = 0
lease_duration_secs = 6
heartbeat_interval_secs = 2
"#,
                api = env.url,
                hub = address::to_raw(&env.hub),
                store = env.dir.join(format!("relayer{i}.db")).display(),
                port = ports[i],
                members = members.join(", "),
                operator = hex::encode(operator.verifying_key().as_bytes()),
                owner = address::to_raw(&owner),
            );
            configs.push(PathBuf::from(env.write(&format!("relayer{i}.toml"), &toml)));
        }
        let llama = LlamaServerConfig::from_env()
            .unwrap()
            .start()
            .await
            .unwrap();
        Cluster {
            env,
            operator,
            owner,
            stake,
            ports,
            configs,
            llama,
        }
    }

    fn config(&self, i: usize) -> Config {
        Config::load_with_env(Some(&self.configs[i]), Vec::new())
            .unwrap_or_else(|e| panic!("relayer {i} config: {e}"))
    }

    fn url(&self, i: usize) -> String {
        format!("http://127.0.0.1:{}", self.ports[i])
    }

    /// The provider's worker, dialling all three relayers (and redialling them).
    fn start_worker(&self) {
        let worker = WorkerConfig {
            backend_url: self.llama.base_url(),
            operator_key_file: key_file(&self.env, "operator.key", &self.operator).into(),
            owner: address::to_raw(&self.owner),
            max_concurrency: 1,
            relayers: (0..3)
                .map(|i| RelayerEndpoint {
                    url: format!(
                        "{}{}",
                        self.url(i).replace("http://", "ws://"),
                        spindle_worker::protocol::CONNECT_PATH
                    ),
                    address: Some(self.config(i).gateway.relayer_address),
                })
                .collect(),
            prices: BTreeMap::from([("*".to_owned(), PRICES)]),
            health_interval_ms: 500,
            drain_timeout_secs: 30,
            max_backoff_ms: 300,
        };
        tokio::spawn(spindle_worker::agent::run(worker));
    }

    /// The client (genesis wallet 0) funds escrow `nonce` with `spindle client job
    /// create`; returns the escrow and the body to submit to a relayer.
    async fn create_job(&self, nonce: u64) -> (TonAddress, Value) {
        let spec = json!({
            "model": MODEL_ALIAS,
            "messages": [{"role": "user", "content": format!("Name color number {nonce}.")}],
            "max_tokens": 8,
            "temperature": 0,
        });
        let spec_file = self
            .env
            .write(&format!("spec{nonce}.json"), &spec.to_string());
        let created = self
            .env
            .run(&[
                "client",
                "job",
                "create",
                "0.5",
                "--spec",
                &spec_file,
                "--deadline",
                "1h",
                "--nonce",
                &nonce.to_string(),
                "--key-file",
                &self.env.key_file(0),
                "--json",
            ])
            .await
            .json();
        let escrow = address::parse_address(created["escrow"].as_str().unwrap()).unwrap();
        (escrow, created["submit"]["body"].clone())
    }

    async fn wait_completed(&self, escrow: &TonAddress, timeout: Duration) {
        wait_for("the escrow to complete", timeout, || async {
            job_state(&self.env.api, escrow)
                .await
                .is_ok_and(|s| s.state == je::COMPLETED)
        })
        .await;
    }

    async fn earned(&self) -> u128 {
        self.stake.state(&self.env.api).await.unwrap().earned
    }

    /// What the provider earns from a job whose stored result is `(input, output)` tokens.
    fn earned_for(&self, input: u64, output: u64) -> u128 {
        let usage = spindle_worker::backend::Usage {
            prompt_tokens: input,
            completion_tokens: output,
            total_tokens: input + output,
            cached_tokens: 0,
        };
        let pay = PRICES.cost(&usage).min(JOB_AMOUNT);
        let params = self.env.params().unwrap();
        let fee = pay * u128::from(params.fee_bps) / 10_000;
        ps::earned_from_payout(pay - fee)
    }
}

fn key_file(env: &Env, name: &str, key: &SigningKey) -> String {
    let path = env.write(name, &hex::encode(key.to_bytes()));
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    path
}

/// Submits `body` to `url`'s job API, retrying while that relayer is down.
async fn submit(http: &reqwest::Client, url: &str, body: &Value) {
    let until = Instant::now() + Duration::from_secs(60);
    loop {
        match http.post(format!("{url}/v1/jobs")).json(body).send().await {
            Ok(r) if r.status() == 202 => return,
            Ok(r) => panic!("job submission refused: {}", r.text().await.unwrap()),
            Err(e) => assert!(Instant::now() < until, "relayer unreachable: {e}"),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn escrow_job_settles_through_three_relayer_nodes() {
    let c = Cluster::start().await;
    let mut nodes = Vec::new();
    for i in 0..3 {
        nodes.push(Node::start(c.config(i)).await.unwrap());
    }
    c.start_worker();
    for node in &nodes {
        let pool = node.parts.gateway.pool.clone();
        wait_for("the worker to connect", Duration::from_secs(60), || {
            let pool = pool.clone();
            async move { !pool.served_models().is_empty() }
        })
        .await;
    }
    let earned_before = c.earned().await;
    let (escrow, body) = c.create_job(1).await;
    let escrow_raw = address::to_raw(&escrow);
    let client = c.env.payer(0).unwrap().address;
    let client_before = c.env.balance(&client).await;

    // Submitted to the job's coordinator, which leases it to the worker; settled
    // on-chain by 2 of the 3 relayers.
    let k = coordinator(&escrow_raw, 0, 3);
    let http = reqwest::Client::new();
    submit(&http, &c.url(k), &body).await;
    // The coordinator's dashboard lists the job as soon as it is submitted.
    let browser = Browser::new(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/ui-screenshots"),
    );
    let jobs_page = format!("{}/ui#/jobs", c.url(k));
    let dom = tokio::task::block_in_place(|| browser.dom(&jobs_page));
    assert!(
        dom.contains(&escrow_raw),
        "the jobs page lists the job:\n{dom}"
    );
    c.wait_completed(&escrow, Duration::from_secs(240)).await;

    // The coordinator stored the worker's result; the stake got its price less the fee.
    let (_, result) = nodes[k]
        .parts
        .store
        .latest_result(&escrow_raw)
        .await
        .unwrap()
        .expect("a stored result");
    // The client reads it with `spindle client job result`, signed with its key;
    // another wallet's key is refused, and so is a relayer that never had the job.
    let read = c
        .env
        .run(&[
            "client",
            "job",
            "result",
            &escrow_raw,
            "--relayer",
            &c.url(k),
            "--key-file",
            &c.env.key_file(0),
            "--json",
        ])
        .await
        .json();
    assert_eq!(
        read["result"].as_str().unwrap().as_bytes(),
        &result.body[..]
    );
    assert_eq!(read["result_hash"], hex::encode(result.result_hash));
    assert_eq!(read["completion_tokens"], result.usage.output_tokens);
    c.env
        .run(&[
            "client",
            "job",
            "result",
            &escrow_raw,
            "--relayer",
            &c.url(k),
            "--key-file",
            &c.env.key_file(1),
        ])
        .await
        .fails_with("only the job's client can read its result");
    let other = (k + 1) % 3;
    if nodes[other]
        .parts
        .store
        .job(&escrow_raw)
        .await
        .unwrap()
        .is_none()
    {
        c.env
            .run(&[
                "client",
                "job",
                "result",
                &escrow_raw,
                "--relayer",
                &c.url(other),
                "--key-file",
                &c.env.key_file(0),
            ])
            .await
            .fails_with("was submitted here");
    }
    let expected = c.earned_for(result.usage.input_tokens, result.usage.output_tokens);
    assert!(expected > 0, "the job used tokens");
    assert_eq!(
        c.earned().await - earned_before,
        expected,
        "the stake is credited the price less the fee (and its payout gas)"
    );
    // The client got back the rest of the job's amount (and the unspent margins).
    let client_after = c.env.balance(&client).await;
    assert!(
        client_after >= client_before + JOB_AMOUNT / 2,
        "client refunded the unspent amount: {client_before} -> {client_after}"
    );
    // Every node's watcher sees the escrow settled, whoever posted; the coordinator
    // and the peer that signed had the job, the third may never have heard of it.
    for (i, node) in nodes.iter().enumerate() {
        let store = node.parts.store.clone();
        let escrow_raw = escrow_raw.clone();
        wait_for(
            &format!("relayer {i} to see the settlement"),
            Duration::from_secs(60),
            || {
                let store = store.clone();
                let escrow_raw = escrow_raw.clone();
                async move {
                    match store.job(&escrow_raw).await {
                        Ok(Some(j)) => j.state == JobState::Settled,
                        Ok(None) => i != k,
                        Err(_) => false,
                    }
                }
            },
        )
        .await;
    }
    // Its page then shows the whole timeline, settled, with the amount the chain holds.
    let job_page = format!("{}/ui#/job/{escrow_raw}", c.url(k));
    let dom = tokio::task::block_in_place(|| browser.dom(&job_page));
    for text in [
        "settled", "leased", "accepted", "result", "signed", "0.5 TON",
    ] {
        assert!(dom.contains(text), "the job page lacks {text:?}:\n{dom}");
    }
    tokio::task::block_in_place(|| {
        browser.screenshot(&jobs_page, "jobs-live");
        browser.screenshot(&job_page, "job-timeline");
    });
    for node in nodes {
        node.shutdown().await.unwrap();
    }
}

/// A `spindle relayer run` process.
struct Relayer {
    child: Child,
}

impl Relayer {
    fn spawn(c: &Cluster, i: usize) -> Relayer {
        let log = std::fs::File::create(c.env.dir.join(format!("relayer{i}.log"))).unwrap();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_spindle"));
        cmd.args(["relayer", "run", "--config"])
            .arg(&c.configs[i])
            .env("RUST_LOG", "warn,spindle_relayer=info")
            .stdout(Stdio::piped())
            .stderr(log);
        for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("SPINDLE_")) {
            cmd.env_remove(k);
        }
        let mut child = cmd.spawn().expect("spawn spindle relayer run");
        // Started once it says where it listens.
        let stdout = child.stdout.take().unwrap();
        let line = BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .find(|l| l.starts_with("spindle relayer listening on"));
        assert!(
            line.is_some(),
            "relayer {i} did not start; log:\n{}",
            std::fs::read_to_string(c.env.dir.join(format!("relayer{i}.log"))).unwrap_or_default()
        );
        Relayer { child }
    }

    fn kill(mut self) {
        let _ = self.child.kill(); // SIGKILL
        let _ = self.child.wait();
    }
}

impl Drop for Relayer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn jobs_settle_exactly_once_while_relayers_are_killed() {
    const JOBS: u64 = 4;
    const KILLS: usize = 50;
    let seed: u64 = std::env::var("SPINDLE_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random);
    eprintln!("crash test seed {seed} (SPINDLE_CRASH_SEED={seed} replays it)");
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);

    let c = Cluster::start().await;
    let mut relayers: Vec<Option<Relayer>> = (0..3).map(|i| Some(Relayer::spawn(&c, i))).collect();
    c.start_worker();
    let earned_before = c.earned().await;

    let http = reqwest::Client::new();
    let mut escrows = Vec::new();
    for nonce in 1..=JOBS {
        let (escrow, body) = c.create_job(nonce).await;
        let k = coordinator(&address::to_raw(&escrow), 0, 3);
        submit(&http, &c.url(k), &body).await;
        escrows.push((escrow, k));
    }

    // SIGKILL a random relayer at a random moment, restart it on its store, again
    // and again while the jobs are leased, run, signed, posted and confirmed.
    for n in 0..KILLS {
        let i = rng.gen_range(0..3);
        tokio::time::sleep(Duration::from_millis(rng.gen_range(0..400))).await;
        relayers[i].take().unwrap().kill();
        let c = &c;
        relayers[i] = Some(tokio::task::block_in_place(|| Relayer::spawn(c, i)));
        if n % 10 == 9 {
            eprintln!("{} kills", n + 1);
        }
    }

    // Every job completes, and the stake is paid each job's price exactly once.
    let mut expected = 0;
    for (escrow, k) in &escrows {
        c.wait_completed(escrow, Duration::from_secs(300)).await;
        let store = Store::connect(&format!(
            "sqlite://{}",
            c.env.dir.join(format!("relayer{k}.db")).display()
        ))
        .await
        .unwrap();
        let (_, result) = store
            .latest_result(&address::to_raw(escrow))
            .await
            .unwrap()
            .expect("the coordinator stored the result it had signed");
        let earned = c.earned_for(result.usage.input_tokens, result.usage.output_tokens);
        let received = spindle_cli::onchain::received_from(&c.env.api, &c.stake.address, escrow)
            .await
            .unwrap();
        eprintln!(
            "job {} (coordinator {k}): result {:?}, expected earned {earned}, stake received {received}",
            address::to_raw(escrow),
            result.usage
        );
        expected += earned;
        store.close().await;
    }
    assert_eq!(
        c.earned().await - earned_before,
        expected,
        "each job paid exactly once (seed {seed})"
    );
    drop(relayers);
}
