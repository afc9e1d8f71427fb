//! The operator and provider commands, run as users run them: the real `spindle`
//! binary as a subprocess, against an in-process devnet, real SQLite and PostgreSQL
//! stores and (for the worker) a real llama-server.
//!
//! - `relayer init` writes a loadable config and a 0600 key, and refuses to overwrite;
//! - a bad setting makes `relayer run` / `worker run` exit non-zero naming the setting;
//! - a running relayer answers `/healthz`, `/readyz` (503 problem+json when the chain
//!   API is dead or the store goes away) and `/metrics` (which counts requests), and
//!   stops cleanly on SIGTERM;
//! - `worker init` + `worker run` connect to the relayer, and `relayer status` and
//!   `worker status` both see the one worker.

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;
use spindle_devnet::{Devnet, DevnetConfig};
use spindle_relayer::node::metrics;

const HUB: &str = "0:1212121212121212121212121212121212121212121212121212121212121212";
const OWNER: &str = "0:0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e";

fn spindle() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_spindle"));
    c.env("RUST_BACKTRACE", "0").env_remove("SPINDLE_LOG");
    // The test process's own SPINDLE_… settings must not leak into the relayer.
    for (k, _) in std::env::vars() {
        if k.starts_with("SPINDLE_") && !k.contains("LLAMA") && !k.contains("MODEL") {
            c.env_remove(k);
        }
    }
    c
}

fn temp_dir(name: &str) -> PathBuf {
    static N: AtomicU32 = AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!(
        "spindle-ops-{name}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn text(out: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// `spindle relayer init` into `dir` for a chain at `chain_url`, listening on a free port.
fn relayer_init(dir: &Path, chain_url: &str) -> Output {
    let out = spindle()
        .args(["relayer", "init", "--hub", HUB, "--global-id", "-1313"])
        .args(["--listen", "127.0.0.1:0", "--chain-url", chain_url, "--dir"])
        .arg(dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "relayer init failed: {}", text(&out));
    out
}

/// A `spindle … run` subprocess, killed when dropped.
struct Proc {
    child: Child,
    stderr: PathBuf,
}

impl Proc {
    fn spawn(mut cmd: Command, log: PathBuf) -> Proc {
        let err = std::fs::File::create(&log).unwrap();
        let child = cmd
            .stdout(Stdio::piped())
            .stderr(err)
            .spawn()
            .expect("spawn spindle");
        Proc { child, stderr: log }
    }

    /// Reads stdout up to the line starting with `prefix`; returns the rest of it.
    fn wait_line(&mut self, prefix: &str) -> String {
        let stdout = self.child.stdout.take().expect("stdout piped");
        let (tx, rx) = std::sync::mpsc::channel();
        let wanted = prefix.to_owned();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(rest) = line.strip_prefix(&wanted) {
                    let _ = tx.send(rest.trim().to_owned());
                }
            }
        });
        rx.recv_timeout(Duration::from_secs(120))
            .unwrap_or_else(|_| panic!("no {prefix:?} line; stderr:\n{}", self.log()))
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    /// SIGTERM, then the exit status (within a minute).
    fn terminate(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        assert!(
            Command::new("kill")
                .args(["-TERM", &pid])
                .status()
                .unwrap()
                .success()
        );
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "did not stop on SIGTERM:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `spindle relayer run -c dir/relayer.toml` with `env`; returns it and its URL.
fn relayer_run(dir: &Path, env: &[(&str, &str)]) -> (Proc, String) {
    let mut cmd = spindle();
    cmd.args(["relayer", "run", "--config"])
        .arg(dir.join("relayer.toml"));
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut p = Proc::spawn(cmd, dir.join("relayer.log"));
    let url = p.wait_line("spindle relayer listening on");
    (p, url)
}

async fn devnet() -> (Devnet, spindle_devnet::ServerHandle) {
    let devnet = Devnet::new(DevnetConfig {
        block_interval: Some(Duration::from_millis(200)),
        ..DevnetConfig::default()
    })
    .unwrap();
    let server = devnet.serve("127.0.0.1:0".parse().unwrap()).await.unwrap();
    (devnet, server)
}

/// The API URL of a port nothing listens on.
fn dead_url() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    drop(l);
    format!("http://127.0.0.1:{port}/api/v2/")
}

fn status_json(url: &str) -> (bool, Value) {
    let out = spindle()
        .args(["relayer", "status", "--json", "--url", url])
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("status --json is not JSON ({e}): {}", text(&out)));
    (out.status.success(), v)
}

#[test]
fn relayer_init_writes_a_private_key_and_refuses_to_overwrite() {
    let dir = temp_dir("init");
    let out = relayer_init(&dir, "http://127.0.0.1:8081/api/v2/");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let key = dir.join("relayer.key");
    let mode = std::fs::metadata(&key).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "key file mode");
    let key_text = std::fs::read_to_string(&key).unwrap();
    // The config loads as written (no environment) and is this key's.
    let config =
        spindle_relayer::config::Config::load_with_env(Some(&dir.join("relayer.toml")), Vec::new())
            .unwrap_or_else(|e| panic!("the written config does not load: {e}"));
    assert_eq!(config.chain.global_id, -1313);
    assert_eq!(config.relayer_set.k, 1);
    let public = hex::encode(config.key.public_key());
    assert!(
        stdout.contains(&format!("relayer public key   {public}")),
        "public key not printed: {stdout}"
    );
    assert!(
        !stdout.contains(key_text.trim()),
        "the secret key was printed"
    );
    assert!(stdout.contains("Next:"), "{stdout}");

    let again = spindle()
        .args(["relayer", "init", "--hub", HUB, "--dir"])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(
        !again.status.success(),
        "re-init succeeded: {}",
        text(&again)
    );
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("already exists"),
        "{}",
        text(&again)
    );
    assert_eq!(
        std::fs::read_to_string(&key).unwrap(),
        key_text,
        "key overwritten"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn bad_settings_exit_non_zero_naming_the_setting() {
    let dir = temp_dir("bad");
    relayer_init(&dir, "http://127.0.0.1:8081/api/v2/");
    let run = |env: &[(&str, &str)]| {
        let mut cmd = spindle();
        cmd.args(["relayer", "run", "--config"])
            .arg(dir.join("relayer.toml"));
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.output().unwrap()
    };
    let out = run(&[("SPINDLE_CHAIN_RPS", "0")]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("chain.rps (SPINDLE_CHAIN_RPS): is 0"),
        "{}",
        text(&out)
    );
    let out = run(&[("SPINDLE_RELAYER_SET_K", "2")]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("relayer_set.k (SPINDLE_RELAYER_SET_K)"),
        "{}",
        text(&out)
    );
    // A key others can read.
    let key = dir.join("relayer.key");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = run(&[]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("relayer.key_file"),
        "{}",
        text(&out)
    );
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    // A store that cannot be opened: named, and the process exits.
    let out = run(&[(
        "SPINDLE_STORE_URL",
        "sqlite:///nonexistent-spindle-dir/x/relayer.db",
    )]);
    assert!(!out.status.success(), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("cannot open the store"),
        "{}",
        text(&out)
    );

    // The worker: a relayer URL that is not a WebSocket URL is named.
    let wdir = dir.join("worker");
    let out = spindle()
        .args(["worker", "init", "--owner", OWNER, "--dir"])
        .arg(&wdir)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let config = wdir.join("worker.toml");
    let t = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        t.replace("ws://127.0.0.1:8480", "http://127.0.0.1:8480"),
    )
    .unwrap();
    let out = spindle()
        .args(["worker", "run", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("must be ws:// or wss://"),
        "{}",
        text(&out)
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn relayer_serves_health_readiness_and_metrics_and_stops_on_sigterm() {
    let (_devnet, server) = devnet().await;
    let dir = temp_dir("run");
    relayer_init(&dir, &server.url);
    let (relayer, url) = relayer_run(&dir, &[("SPINDLE_LOG_FORMAT", "json")]);
    let http = reqwest::Client::new();

    let r = http
        .get(format!("{url}/healthz"))
        .header("x-request-id", "ops-test-42")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-request-id"], "ops-test-42");
    let r = http.get(format!("{url}/readyz")).send().await.unwrap();
    assert_eq!(r.status(), 200, "{}", relayer.log());
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["status"], "ready");
    assert_eq!(body["checks"]["chain"]["ok"], true);
    // An unauthenticated API call is counted under its route and status.
    let models = http.get(format!("{url}/v1/models")).send().await.unwrap();
    let models_status = models.status().as_u16();

    let text = http
        .get(format!("{url}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let samples = metrics::parse(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    let value = |series: &str| {
        samples
            .iter()
            .find(|(s, _)| s == series)
            .map(|(_, v)| *v)
            .unwrap_or_else(|| panic!("{series} missing from:\n{text}"))
    };
    assert_eq!(
        value(r#"spindle_http_requests_total{route="/healthz",status="200"}"#),
        1.0
    );
    assert_eq!(
        value(r#"spindle_http_requests_total{route="/readyz",status="200"}"#),
        1.0
    );
    assert_eq!(
        value(&format!(
            r#"spindle_http_requests_total{{route="/v1/models",status="{models_status}"}}"#
        )),
        1.0
    );
    assert_eq!(value(r#"spindle_jobs{state="funded"}"#), 0.0);
    assert_eq!(
        value(r#"spindle_settlements{kind="voucher",status="posted"}"#),
        0.0
    );
    assert_eq!(value("spindle_workers_connected"), 0.0);
    assert_eq!(value("spindle_store_up"), 1.0);

    let (ok, s) = status_json(&url);
    assert!(ok, "{s}");
    assert_eq!(s["ready"], true);
    assert_eq!(s["workers"], 0.0);

    let log_path = relayer.stderr.clone();
    let status = relayer.terminate();
    assert!(status.success(), "exit on SIGTERM: {status:?}");
    // JSON logs: every line an object; the request's line carries its id; no key.
    let log = std::fs::read_to_string(log_path).unwrap();
    let lines: Vec<Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    assert!(
        lines.iter().any(|l| l["span"]["id"] == "ops-test-42"
            && l["span"]["route"] == "/healthz"
            && l["fields"]["status"] == 200),
        "no log line for the request:\n{log}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l["fields"]["message"] == "shutting down: draining"),
        "{log}"
    );
    let seed = std::fs::read_to_string(dir.join("relayer.key")).unwrap();
    assert!(!log.contains(seed.trim()), "the relayer key was logged");
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn readyz_is_503_problem_json_when_the_chain_api_is_dead() {
    let dir = temp_dir("deadchain");
    relayer_init(&dir, &dead_url());
    let (_relayer, url) = relayer_run(&dir, &[]);
    let r = reqwest::get(format!("{url}/readyz")).await.unwrap();
    assert_eq!(r.status(), 503);
    assert_eq!(r.headers()["content-type"], "application/problem+json");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["type"], "urn:spindle:problem:not-ready");
    assert!(
        body["detail"].as_str().unwrap().starts_with("chain:"),
        "{body}"
    );
    assert_eq!(body["checks"]["store"]["ok"], true, "{body}");
    // Alive all the same: a dead chain API is no reason to restart the relayer.
    assert_eq!(
        reqwest::get(format!("{url}/healthz"))
            .await
            .unwrap()
            .status(),
        200
    );
    let (ok, s) = status_json(&url);
    assert!(!ok, "status exits 0 on a relayer that is not ready: {s}");
    assert_eq!(s["ready"], false);
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn readyz_is_503_when_the_postgres_store_goes_away() {
    use sqlx::Connection;
    let (_devnet, server) = devnet().await;
    let admin_url = std::env::var("SPINDLE_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let db = format!("spindle_ops_{}", std::process::id());
    let mut admin = sqlx::PgConnection::connect(&admin_url)
        .await
        .unwrap_or_else(|e| panic!("PostgreSQL at {admin_url} is needed: {e}"));
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {db} WITH (FORCE)"
    )))
    .execute(&mut admin)
    .await
    .unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {db}")))
        .execute(&mut admin)
        .await
        .unwrap();
    let mut store_url = url::Url::parse(&admin_url).unwrap();
    store_url.set_path(&format!("/{db}"));

    let dir = temp_dir("pg");
    relayer_init(&dir, &server.url);
    let (_relayer, url) = relayer_run(&dir, &[("SPINDLE_STORE_URL", store_url.as_str())]);
    assert_eq!(
        reqwest::get(format!("{url}/readyz"))
            .await
            .unwrap()
            .status(),
        200
    );

    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE {db} WITH (FORCE)"
    )))
    .execute(&mut admin)
    .await
    .unwrap();
    let r = reqwest::get(format!("{url}/readyz")).await.unwrap();
    assert_eq!(r.status(), 503);
    let body: Value = r.json().await.unwrap();
    assert!(
        body["detail"].as_str().unwrap().starts_with("store:"),
        "{body}"
    );
    assert_eq!(body["checks"]["chain"]["ok"], true, "{body}");
    let text = reqwest::get(format!("{url}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(text.contains("\nspindle_store_up 0\n"), "{text}");
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn worker_connects_and_both_status_commands_see_it() {
    let llama = spindle_worker::testing::LlamaServerConfig::from_env()
        .unwrap_or_else(|e| panic!("{e}"))
        .start()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let (_devnet, server) = devnet().await;
    let dir = temp_dir("worker");
    let rdir = dir.join("relayer");
    let wdir = dir.join("worker");
    relayer_init(&rdir, &server.url);

    // The provider's worker config and key; the relayer is not up yet (port 9 for now).
    let out = spindle()
        .args(["worker", "init", "--owner", OWNER, "--model", llama.alias()])
        .args([
            "--relayer",
            "ws://127.0.0.1:9/v1/worker/connect",
            "--backend",
        ])
        .arg(llama.base_url())
        .arg("--dir")
        .arg(&wdir)
        .output()
        .unwrap();
    assert!(out.status.success(), "worker init: {}", text(&out));
    let key = wdir.join("operator.key");
    assert_eq!(
        std::fs::metadata(&key).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let operator = stdout
        .lines()
        .find_map(|l| l.strip_prefix("operator public key"))
        .map(|k| k.trim().to_owned())
        .unwrap_or_else(|| panic!("no operator key printed: {stdout}"));
    // The relayer operator allows this provider's workers.
    let rconfig = rdir.join("relayer.toml");
    let mut t = std::fs::read_to_string(&rconfig).unwrap();
    t.push_str(&format!(
        "\n[[gateway.providers]]\noperator_key = \"{operator}\"\nowner = \"{OWNER}\"\n"
    ));
    std::fs::write(&rconfig, t).unwrap();
    let (relayer, url) = relayer_run(&rdir, &[]);
    let wconfig = wdir.join("worker.toml");
    let t = std::fs::read_to_string(&wconfig).unwrap();
    let host = url.trim_start_matches("http://");
    std::fs::write(&wconfig, t.replace("127.0.0.1:9/", &format!("{host}/"))).unwrap();

    let mut cmd = spindle();
    cmd.args(["worker", "run", "--config"]).arg(&wconfig);
    let worker = Proc::spawn(cmd, wdir.join("worker.log"));

    // Wait (bounded) for the relayer to report the worker with its capacity.
    let deadline = Instant::now() + Duration::from_secs(120);
    let s = loop {
        let (_, s) = status_json(&url);
        if s["workers"] == 1.0 && s["capacity"] == 1.0 {
            break s;
        }
        assert!(
            Instant::now() < deadline,
            "the worker never showed up: {s}\nworker log:\n{}\nrelayer log:\n{}",
            worker.log(),
            relayer.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(s["workers_offering"], 1.0, "{s}");
    let human = spindle()
        .args(["relayer", "status", "--url", &url])
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&human.stdout).contains("1 connected, 1 offering, capacity 1"),
        "{}",
        text(&human)
    );
    let ws = spindle()
        .args(["worker", "status", "--json", "--config"])
        .arg(&wconfig)
        .output()
        .unwrap();
    assert!(ws.status.success(), "worker status: {}", text(&ws));
    let w: Value = serde_json::from_slice(&ws.stdout).unwrap();
    assert_eq!(w["backend"]["ok"], true, "{w}");
    assert_eq!(w["priced_models"][0], llama.alias(), "{w}");
    assert_eq!(w["relayers"][0]["ready"], true, "{w}");
    assert_eq!(w["relayers"][0]["workers_connected"], 1.0, "{w}");

    // SIGTERM drains the worker and it exits 0; the relayer sees it go.
    let status = worker.terminate();
    assert!(status.success(), "worker exit on SIGTERM: {status:?}");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (_, s) = status_json(&url);
        if s["workers"] == 0.0 {
            break;
        }
        assert!(Instant::now() < deadline, "the worker never left: {s}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    drop(relayer);
    std::fs::remove_dir_all(dir).unwrap();
}
