//! Starts the pieces: a llama-server, a gateway on a loopback port, worker
//! agents pointed at both; and small HTTP helpers for the tests.

use futures::future::BoxFuture;
use serde_json::{Value, json};
use spindle_relayer::gateway::{
    AllowedProvider, ApiKeyEntry, BalanceSource, Gateway, GatewayConfig,
};
use spindle_sdk::{SigningKey, TonAddress};
use spindle_worker::agent::{RelayerEndpoint, WorkerConfig};
use spindle_worker::protocol::Prices;
use spindle_worker::testing::{LlamaServer, LlamaServerConfig};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub const KEY: &str = "sk-test-alice";
pub const POOR_KEY: &str = "sk-test-bob";
pub const RELAYER: &str = "0:1111111111111111111111111111111111111111111111111111111111111111";
pub const ACCOUNT: &str = "0:a11ce00000000000000000000000000000000000000000000000000000000000";
pub const POOR_ACCOUNT: &str = "0:b0b0000000000000000000000000000000000000000000000000000000000000";
pub const OWNER: &str = "0:0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e";
pub const DEVNET_GLOBAL_ID: i32 = -3;
pub const PRICES: Prices = Prices {
    prompt: 1_000_000,
    cached_prompt: 500_000,
    completion: 3_000_000,
};

/// Balances the test sets; stands where the chain's compute accounts will.
#[derive(Default)]
pub struct TestBalances(pub Mutex<HashMap<TonAddress, u128>>);

impl BalanceSource for TestBalances {
    fn balance<'a>(&'a self, account: &'a TonAddress) -> BoxFuture<'a, Result<u128, String>> {
        let balance = self.0.lock().unwrap().get(account).copied().unwrap_or(0);
        Box::pin(async move { Ok(balance) })
    }
}

pub fn addr(s: &str) -> TonAddress {
    spindle_sdk::address::parse_address(s).unwrap()
}

pub fn operator_key(n: u8) -> SigningKey {
    SigningKey::from_bytes(&[n; 32])
}

pub struct Relayer {
    pub gateway: Arc<Gateway>,
    pub url: String,
    server: JoinHandle<()>,
}

impl Drop for Relayer {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// A gateway on a free loopback port; operator keys 1..=3 are allowed providers.
pub async fn start_relayer(tweak: impl FnOnce(&mut GatewayConfig)) -> Relayer {
    let balances = Arc::new(TestBalances::default());
    balances
        .0
        .lock()
        .unwrap()
        .insert(addr(ACCOUNT), 1_000_000_000_000);
    balances.0.lock().unwrap().insert(addr(POOR_ACCOUNT), 10);
    start_relayer_with(balances, tweak).await
}

/// A gateway reading balances from `balances`.
pub async fn start_relayer_with(
    balances: Arc<dyn BalanceSource>,
    tweak: impl FnOnce(&mut GatewayConfig),
) -> Relayer {
    start_relayer_on(balances, tweak, None).await
}

/// A gateway reading balances from `balances`, keeping charges in `store` if given.
pub async fn start_relayer_on(
    balances: Arc<dyn BalanceSource>,
    tweak: impl FnOnce(&mut GatewayConfig),
    store: Option<spindle_relayer::Store>,
) -> Relayer {
    let mut config = GatewayConfig::new(RELAYER, DEVNET_GLOBAL_ID);
    config.api_keys = vec![
        ApiKeyEntry {
            key: KEY.into(),
            account: ACCOUNT.into(),
        },
        ApiKeyEntry {
            key: POOR_KEY.into(),
            account: POOR_ACCOUNT.into(),
        },
    ];
    config.providers = (1..=3)
        .map(|n| AllowedProvider {
            operator_key: hex::encode(operator_key(n).verifying_key().as_bytes()),
            owner: OWNER.into(),
        })
        .collect();
    config.heartbeat_secs = 1;
    config.queue_timeout_ms = 2_000;
    config.retry_after_secs = 7;
    config.max_body_bytes = 64 << 10;
    tweak(&mut config);
    let gateway = match store {
        None => Gateway::new(config, balances).unwrap(),
        Some(store) => {
            let providers = Arc::new(
                spindle_relayer::gateway::ConfiguredProviders::from_config(&config.providers)
                    .unwrap(),
            );
            Gateway::with_store(config, balances, providers, store).unwrap()
        }
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let server = tokio::spawn({
        let gateway = gateway.clone();
        async move { gateway.serve(listener).await.unwrap() }
    });
    Relayer {
        gateway,
        url,
        server,
    }
}

pub async fn start_llama() -> LlamaServer {
    let mut config = LlamaServerConfig::from_env().unwrap_or_else(|e| panic!("{e}"));
    config.embeddings = true;
    config.start().await.unwrap_or_else(|e| panic!("{e}"))
}

/// A running worker agent; dropping the handle's `stop` drains it, `kill` aborts it.
pub struct Worker {
    stop: Option<oneshot::Sender<()>>,
    pub task: JoinHandle<anyhow::Result<()>>,
    _key_dir: TempDir,
}

impl Worker {
    /// Like SIGKILL for the agent: its connections drop mid-whatever.
    pub fn kill(&self) {
        self.task.abort();
    }

    /// Like SIGTERM: drain, then wait for the agent to return.
    pub async fn drain(mut self) {
        let _ = self.stop.take().unwrap().send(());
        (&mut self.task).await.unwrap().unwrap();
    }
}

pub fn worker_config(
    relayer: &Relayer,
    backend_url: &str,
    key: u8,
    prices: Prices,
    key_dir: &TempDir,
) -> WorkerConfig {
    let key_file = key_dir.0.join(format!("operator-{key}.key"));
    std::fs::write(&key_file, hex::encode(operator_key(key).to_bytes())).unwrap();
    WorkerConfig {
        backend_url: backend_url.into(),
        operator_key_file: key_file,
        owner: OWNER.into(),
        max_concurrency: 1,
        relayers: vec![RelayerEndpoint {
            url: format!(
                "{}{}",
                relayer.url.replace("http://", "ws://"),
                spindle_worker::protocol::CONNECT_PATH
            ),
            address: Some(RELAYER.into()),
        }],
        prices: BTreeMap::from([("*".to_owned(), prices)]),
        health_interval_ms: 200,
        // Long enough for an in-flight stream to finish on a loaded machine
        // (tokens can come seconds apart when every core is busy).
        drain_timeout_secs: 600,
        max_backoff_ms: 500,
    }
}

pub fn start_worker(config: WorkerConfig, key_dir: TempDir) -> Worker {
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(spindle_worker::agent::run_until(config, async move {
        let _ = stopped.await;
    }));
    Worker {
        stop: Some(stop),
        task,
        _key_dir: key_dir,
    }
}

/// Waits until `/v1/models` satisfies `ok`.
pub async fn wait_models(relayer: &Relayer, ok: impl Fn(&Value) -> bool) -> Value {
    let started = Instant::now();
    loop {
        let (status, body) = get(relayer, "/v1/models", KEY).await;
        assert_eq!(status, 200, "{body}");
        if ok(&body) {
            return body;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "models never became as expected: {body}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub fn served(models: &Value) -> Vec<String> {
    models["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap().to_owned())
        .collect()
}

pub fn http() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().unwrap()
}

pub async fn get(relayer: &Relayer, path: &str, key: &str) -> (u16, Value) {
    let r = http()
        .get(format!("{}{path}", relayer.url))
        .bearer_auth(key)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// POSTs JSON; returns status, headers and the body as text.
pub async fn post(
    base: &str,
    path: &str,
    key: Option<&str>,
    body: &Value,
) -> (u16, reqwest::header::HeaderMap, String) {
    post_raw(base, path, key, body.to_string()).await
}

pub async fn post_raw(
    base: &str,
    path: &str,
    key: Option<&str>,
    body: String,
) -> (u16, reqwest::header::HeaderMap, String) {
    let mut request = http()
        .post(format!("{base}{path}"))
        .header("content-type", "application/json")
        .body(body);
    if let Some(key) = key {
        request = request.bearer_auth(key);
    }
    let r = request.send().await.unwrap();
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    (status, headers, r.text().await.unwrap())
}

/// The `data:` payloads of an SSE body, in order.
pub fn sse_data(body: &str) -> Vec<String> {
    body.split("\n\n")
        .filter(|e| !e.trim().is_empty())
        .map(|e| {
            e.lines()
                .filter_map(|l| l.strip_prefix("data: "))
                .collect::<Vec<_>>()
                .join("\n")
        })
        .collect()
}

/// Removes what differs between two runs of the same generation: ids, times,
/// llama.cpp's timings, and Spindle's own additions to `usage`.
pub fn normalize(mut v: Value) -> Value {
    if let Some(o) = v.as_object_mut() {
        for k in ["id", "created", "timings"] {
            o.remove(k);
        }
        if let Some(u) = o.get_mut("usage").and_then(Value::as_object_mut) {
            u.remove("cost_nanoton");
            u.remove("balance_nanoton");
        }
    }
    v
}

pub fn chat_body(model: &str, content: &str, max_tokens: u64) -> Value {
    // cache_prompt: false (llama.cpp) keeps cached_tokens 0, so usage compares exactly.
    json!({"model": model, "messages": [{"role": "user", "content": content}],
           "max_tokens": max_tokens, "temperature": 0, "cache_prompt": false})
}

/// A temporary directory removed on drop.
pub struct TempDir(pub std::path::PathBuf);

impl TempDir {
    pub fn new(name: &str) -> Self {
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir =
            std::env::temp_dir().join(format!("spindle-gw-{name}-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A relayer with one worker serving a fresh llama-server, ready.
pub struct Setup {
    pub relayer: Relayer,
    pub llama: LlamaServer,
    pub worker: Worker,
}

pub async fn setup() -> Setup {
    let relayer = start_relayer(|_| {}).await;
    let llama = start_llama().await;
    let dir = TempDir::new("worker");
    let config = worker_config(&relayer, &llama.base_url(), 1, PRICES, &dir);
    let worker = start_worker(config, dir);
    let alias = llama.alias().to_owned();
    wait_models(&relayer, |m| served(m) == [alias.clone()]).await;
    Setup {
        relayer,
        llama,
        worker,
    }
}
