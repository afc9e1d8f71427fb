//! Shared set-up for the CLI tests: an in-process devnet serving the
//! toncenter API over HTTP with a deployed Spindle hub, key files for its
//! genesis wallets, and a way to run the real `spindle` binary against it.

#![allow(dead_code)] // each test binary uses a different part

use std::path::PathBuf;
use std::process::{Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use spindle_cli::onchain::Payer;
use spindle_devnet::{Devnet, DevnetConfig, ServerHandle};
use spindle_sdk::message::{InternalMessage, StateInit};
use spindle_sdk::protocol::hub::HubParams;
use spindle_sdk::protocol::relayer_set::RelayerSet;
use spindle_sdk::toncenter::{Toncenter, ToncenterConfig};
use spindle_sdk::{SigningKey, TonAddress, address, boc};
use tokio::io::AsyncWriteExt;

pub const TON: u128 = 1_000_000_000;
/// The test hub's parameters that the tests check against.
pub const MIN_STAKE: u128 = 10 * TON;
pub const UNBOND_PERIOD: u32 = 3600;
pub const ACCOUNT_GRACE: u32 = 600;
pub const MIN_JOB: u128 = TON / 10;
pub const JOB_GRACE: u32 = 60;

pub struct Env {
    pub devnet: Devnet,
    pub api: Toncenter,
    pub url: String,
    pub hub: TonAddress,
    pub dir: PathBuf,
    _server: ServerHandle,
}

impl Env {
    /// A devnet with a manual clock (unbonding and grace periods are crossed
    /// with `advance_time`) and a hub deployed with the test parameters.
    pub async fn start() -> anyhow::Result<Env> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .as_secs() as u32;
        let devnet = Devnet::new(DevnetConfig {
            block_interval: Some(Duration::from_millis(50)),
            manual_clock: Some(now),
            ..DevnetConfig::default()
        })?;
        let server = devnet.serve("127.0.0.1:0".parse()?).await?;
        let mut config = ToncenterConfig::new(server.url.clone());
        config.requests_per_second = 10_000.0;
        let api = Toncenter::new(config);
        static N: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "spindle-cli-test-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        std::fs::create_dir_all(&dir)?;
        let mut env = Env {
            hub: devnet.faucet_wallet().address,
            devnet,
            api,
            url: server.url.clone(),
            dir,
            _server: server,
        };
        env.hub = env.deploy_hub().await?;
        Ok(env)
    }

    pub fn payer(&self, i: usize) -> anyhow::Result<Payer> {
        let w = &self.devnet.wallets()[i];
        Payer::new(
            &w.name,
            SigningKey::from_bytes(&w.secret_key),
            self.devnet.global_id(),
        )
    }

    pub fn params(&self) -> anyhow::Result<HubParams> {
        let keys = (1..=3u8)
            .map(|i| SigningKey::from_bytes(&[i; 32]).verifying_key())
            .collect();
        Ok(HubParams {
            fee_bps: 200,
            min_stake: MIN_STAKE,
            unbond_period: UNBOND_PERIOD,
            slash_mult_pct: 200,
            finder_fee: TON / 20,
            settle_fee: TON / 100,
            min_job: MIN_JOB,
            min_deadline: 60,
            max_deadline: 86_400,
            grace: JOB_GRACE,
            window: 600,
            account_grace: ACCOUNT_GRACE,
            delay: 90_000,
            relayers: RelayerSet::new(1, 2, keys)?,
            treasury: self.devnet.wallets()[3].address.clone(),
            jetton: None,
        })
    }

    async fn deploy_hub(&self) -> anyhow::Result<TonAddress> {
        spindle_cli::hub::deploy(&self.api, &self.payer(3)?, &self.params()?).await
    }

    /// A key file with genesis wallet `i`'s secret, as `spindle devnet` prints it.
    pub fn key_file(&self, i: usize) -> String {
        self.write(
            &format!("wallet{i}.key"),
            &hex::encode(self.devnet.wallets()[i].secret_key),
        )
    }

    pub fn write(&self, name: &str, text: &str) -> String {
        let p = self.dir.join(name);
        std::fs::write(&p, text).expect("write a test file");
        p.display().to_string()
    }

    pub fn hub_str(&self) -> String {
        address::to_user_friendly(&self.hub, true, false)
    }

    fn command(&self, args: &[&str]) -> tokio::process::Command {
        let mut c = tokio::process::Command::new(env!("CARGO_BIN_EXE_spindle"));
        c.args(args)
            .env("SPINDLE_API_URL", &self.url)
            .env("SPINDLE_HUB", self.hub_str())
            .env("SPINDLE_GLOBAL_ID", self.devnet.global_id().to_string())
            .env_remove("SPINDLE_MNEMONIC")
            .env_remove("SPINDLE_KEY_FILE")
            .env("RUST_BACKTRACE", "0")
            .stdin(Stdio::null())
            .kill_on_drop(true);
        c
    }

    /// Runs `spindle ARGS` to the end.
    pub async fn run(&self, args: &[&str]) -> Run {
        Run(self.command(args).output().await.expect("run spindle"))
    }

    /// Runs `spindle ARGS` with `env` set.
    pub async fn run_env(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let mut c = self.command(args);
        for (k, v) in env {
            c.env(k, v);
        }
        Run(c.output().await.expect("run spindle"))
    }

    /// Runs `spindle ARGS` with `stdin` piped in.
    pub async fn run_stdin(&self, args: &[&str], stdin: &str) -> Run {
        let mut c = self.command(args);
        c.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = c.spawn().expect("spawn spindle");
        let mut input = child.stdin.take().expect("piped stdin");
        input
            .write_all(stdin.as_bytes())
            .await
            .expect("write stdin");
        drop(input);
        Run(child.wait_with_output().await.expect("run spindle"))
    }

    /// Spawns `spindle ARGS` with stdout piped, for commands that print a
    /// wallet request and then wait.
    pub fn spawn(&self, args: &[&str]) -> tokio::process::Child {
        let mut c = self.command(args);
        c.stdout(Stdio::piped()).stderr(Stdio::piped());
        c.spawn().expect("spawn spindle")
    }

    /// Moves the chain's clock and produces a block, so the API reports the new time.
    pub fn advance(&self, secs: u32) {
        self.devnet.advance_time(u64::from(secs));
        self.devnet.produce_block();
    }

    pub async fn balance(&self, a: &TonAddress) -> u128 {
        spindle_cli::onchain::balance(&self.api, a)
            .await
            .expect("balance")
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A finished `spindle` run.
pub struct Run(pub Output);

impl Run {
    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.0.stdout).into_owned()
    }
    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.0.stderr).into_owned()
    }
    /// Asserts success and returns stdout parsed as JSON (run with --json).
    pub fn json(&self) -> serde_json::Value {
        assert!(
            self.0.status.success(),
            "spindle failed:\nstdout: {}\nstderr: {}",
            self.stdout(),
            self.stderr()
        );
        serde_json::from_slice(&self.0.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.stdout()))
    }
    /// Asserts success.
    pub fn ok(&self) -> String {
        assert!(
            self.0.status.success(),
            "spindle failed:\nstdout: {}\nstderr: {}",
            self.stdout(),
            self.stderr()
        );
        self.stdout()
    }
    /// Asserts failure with `needle` in the error, and returns stderr.
    pub fn fails_with(&self, needle: &str) -> String {
        let err = self.stderr();
        assert!(
            !self.0.status.success(),
            "spindle succeeded but should fail with {needle:?}:\n{}",
            self.stdout()
        );
        assert!(
            err.contains(needle),
            "expected {needle:?} in the error, got:\n{err}"
        );
        err
    }
}

/// Plays the user's wallet for `--wallet-link`: reads the command's stdout
/// until the TonConnect request, sends exactly what it asks from `wallet`,
/// and returns the command's full output once it ends.
pub async fn pay_as_wallet(
    env: &Env,
    mut child: tokio::process::Child,
    wallet: &Payer,
) -> (Run, serde_json::Value) {
    use tokio::io::{AsyncBufReadExt, BufReader};
    let stdout = child.stdout.take().expect("piped stdout");
    let mut lines = BufReader::new(stdout).lines();
    let mut seen = String::new();
    let request: serde_json::Value = loop {
        let line = lines
            .next_line()
            .await
            .expect("read stdout")
            .unwrap_or_else(|| {
                panic!("spindle ended before printing a TonConnect request:\n{seen}")
            });
        seen += &line;
        seen.push('\n');
        if line.starts_with("{\"id\"") || line.contains("\"sendTransaction\"") {
            let v: serde_json::Value =
                serde_json::from_str(&line).expect("the request line is JSON");
            // With --json the request comes inside {"tonconnect", "request", "link"}.
            break if v.get("request").is_some() {
                v["request"].clone()
            } else {
                v
            };
        }
    };
    let params: serde_json::Value = serde_json::from_str(
        request["params"][0]
            .as_str()
            .expect("params[0] is a JSON string"),
    )
    .expect("params JSON");
    let mut messages = vec![];
    for m in params["messages"].as_array().expect("messages") {
        let parsed = address::parse(m["address"].as_str().unwrap()).expect("address");
        let bounce = !matches!(
            parsed.form,
            address::AddressForm::UserFriendly {
                bounceable: false,
                ..
            }
        );
        let mut msg = InternalMessage::new(
            parsed.address,
            m["amount"].as_str().unwrap().parse().unwrap(),
        )
        .with_bounce(bounce);
        if let Some(p) = m["payload"].as_str() {
            msg = msg.with_body(boc::from_boc_base64(p).expect("payload BoC"));
        }
        if let Some(s) = m["stateInit"].as_str() {
            let c = boc::from_boc_base64(s).expect("stateInit BoC");
            msg = msg.with_state_init(StateInit::new(
                c.references()[0].clone(),
                c.references()[1].clone(),
            ));
        }
        messages.push(msg);
    }
    // The rest of stdout must keep draining while the command waits.
    let rest = tokio::spawn(async move {
        let mut rest = String::new();
        while let Ok(Some(l)) = lines.next_line().await {
            rest += &l;
            rest.push('\n');
        }
        rest
    });
    wallet
        .send(&env.api, messages)
        .await
        .expect("the wallet pays");
    let out = child.wait_with_output().await.expect("spindle ends");
    let rest = rest.await.expect("drain stdout");
    let mut output = out;
    output.stdout = format!("{seen}{rest}").into_bytes();
    (Run(output), params)
}
