//! The three-relayer world the escrow tests share (included with `#[path]` by the
//! test binaries that need it, so the others do not compile it): a devnet with a
//! hub and a staked provider, three relayer configs (k = 2) with their own keys,
//! SQLite stores and funded wallets, the provider's real llama-server, and
//! handles for the `spindle relayer run` / `spindle worker run` processes the
//! crash tests SIGKILL.

#![allow(dead_code)] // each test binary uses a different part

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use spindle_cli::job::job_state;
use spindle_cli::stake::Stake;
use spindle_relayer::config::Config;
use spindle_sdk::message::InternalMessage;
use spindle_sdk::protocol::job_escrow as je;
use spindle_sdk::protocol::provider_stake as ps;
use spindle_sdk::{SigningKey, TonAddress, address};
use spindle_worker::agent::{RelayerEndpoint, WorkerConfig};
use spindle_worker::protocol::Prices;
use spindle_worker::testing::{LlamaServer, LlamaServerConfig, MODEL_ALIAS};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::support::{Env, TON};

/// nanoTON per million tokens: high enough that the pay is well above the stake's
/// payout gas (a pay below it earns the owner nothing), within a job's 0.5 TON.
pub const PRICES: Prices = Prices {
    prompt: 1_000_000_000_000,
    cached_prompt: 500_000_000_000,
    completion: 3_000_000_000_000,
};
pub const JOB_AMOUNT: u128 = TON / 2;

/// A free loopback port (the relayers must know each other's URLs before they start).
pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

pub async fn wait_for<F, Fut>(what: &str, timeout: Duration, mut done: F)
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
pub struct Cluster {
    pub env: Env,
    pub operator: SigningKey,
    pub owner: TonAddress,
    pub stake: Stake,
    pub ports: Vec<u16>,
    pub configs: Vec<PathBuf>,
    pub llama: LlamaServer,
}

impl Cluster {
    pub async fn start() -> Cluster {
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

    pub fn config(&self, i: usize) -> Config {
        Config::load_with_env(Some(&self.configs[i]), Vec::new())
            .unwrap_or_else(|e| panic!("relayer {i} config: {e}"))
    }

    pub fn url(&self, i: usize) -> String {
        format!("http://127.0.0.1:{}", self.ports[i])
    }

    /// The provider's worker config: all three relayers (redialled every 300 ms at
    /// most), the llama-server, one request at a time.
    pub fn worker_config(&self) -> WorkerConfig {
        WorkerConfig {
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
        }
    }

    /// The provider's worker in this process, dialling all three relayers.
    pub fn start_worker(&self) {
        tokio::spawn(spindle_worker::agent::run(self.worker_config()));
    }

    /// [`Self::worker_config`] as the TOML file `spindle worker run --config` reads.
    pub fn worker_config_file(&self) -> PathBuf {
        let w = self.worker_config();
        let q = |s: &str| serde_json::to_string(s).unwrap();
        let mut toml = format!(
            "backend_url = {}\noperator_key_file = {}\nowner = {}\nmax_concurrency = {}\n\
             health_interval_ms = {}\ndrain_timeout_secs = {}\nmax_backoff_ms = {}\n",
            q(&w.backend_url),
            q(&w.operator_key_file.display().to_string()),
            q(&w.owner),
            w.max_concurrency,
            w.health_interval_ms,
            w.drain_timeout_secs,
            w.max_backoff_ms,
        );
        for r in &w.relayers {
            toml += &format!(
                "\n[[relayers]]\nurl = {}\naddress = {}\n",
                q(&r.url),
                q(r.address.as_deref().unwrap())
            );
        }
        toml += &format!(
            "\n[prices.\"*\"]\nprompt = {}\ncached_prompt = {}\ncompletion = {}\n",
            PRICES.prompt, PRICES.cached_prompt, PRICES.completion
        );
        WorkerConfig::from_toml(&toml).expect("the worker config file parses");
        PathBuf::from(self.env.write("worker.toml", &toml))
    }

    /// The client (genesis wallet 0) funds escrow `nonce` with `spindle client job
    /// create`; returns the escrow and the body to submit to a relayer.
    pub async fn create_job(&self, nonce: u64) -> (TonAddress, Value) {
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
                // Hours: the devnet's clock stands still while the relayers judge
                // deadlines on the wall clock, and the long kill run takes a while.
                "--deadline",
                "6h",
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

    pub async fn wait_completed(&self, escrow: &TonAddress, timeout: Duration) {
        wait_for("the escrow to complete", timeout, || async {
            job_state(&self.env.api, escrow)
                .await
                .is_ok_and(|s| s.state == je::COMPLETED)
        })
        .await;
    }

    pub async fn earned(&self) -> u128 {
        self.stake.state(&self.env.api).await.unwrap().earned
    }

    /// What the provider earns from a job whose stored result is `(input, output)` tokens.
    pub fn earned_for(&self, input: u64, output: u64) -> u128 {
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

pub fn key_file(env: &Env, name: &str, key: &SigningKey) -> String {
    let path = env.write(name, &hex::encode(key.to_bytes()));
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    path
}

/// Submits `body` to `url`'s job API, retrying while that relayer is down.
pub async fn submit(http: &reqwest::Client, url: &str, body: &Value) {
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

/// A `spindle relayer run` or `spindle worker run` process, logging to a file in the
/// test directory; SIGKILLed when dropped.
pub struct Process {
    child: Child,
}

impl Process {
    fn command(args: &[&str], log: &std::path::Path) -> Command {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .expect("open the process log");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_spindle"));
        cmd.args(args)
            .env("RUST_LOG", "warn,spindle_relayer=info,spindle_worker=info")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log)
            .kill_on_drop(true);
        // The test process's own SPINDLE_… settings must not leak into the node.
        for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("SPINDLE_")) {
            cmd.env_remove(k);
        }
        cmd
    }

    /// Relayer `i` on its config and store; returns once it listens.
    pub async fn relayer(c: &Cluster, i: usize) -> Process {
        let log = c.env.dir.join(format!("relayer{i}.log"));
        let config = c.configs[i].display().to_string();
        let mut child = Self::command(&["relayer", "run", "--config", &config], &log)
            .spawn()
            .expect("spawn spindle relayer run");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut started = false;
        while let Ok(Some(line)) = lines.next_line().await {
            if line.starts_with("spindle relayer listening on") {
                started = true;
                break;
            }
        }
        assert!(
            started,
            "relayer {i} did not start; log:\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        // Keep reading its stdout: a closed pipe would fail its later prints.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Process { child }
    }

    /// Worker `i` (all workers share the provider's operator key and `config`).
    pub fn worker(c: &Cluster, i: usize, config: &std::path::Path) -> Process {
        let log = c.env.dir.join(format!("worker{i}.log"));
        let config = config.display().to_string();
        let mut child = Self::command(&["worker", "run", "--config", &config], &log)
            .spawn()
            .expect("spawn spindle worker run");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Process { child }
    }

    /// SIGKILL, and reap.
    pub async fn kill(mut self) {
        let _ = self.child.kill().await;
    }
}
