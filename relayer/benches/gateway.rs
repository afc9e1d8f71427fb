//! Requests through Spindle vs straight to the inference server, side by side
//! in one run (a benchmark, not a test; `scripts/bench gateway` runs it).
//!
//! One llama-server (SmolLM2-135M on the CPU, `--parallel 8`) serves both
//! paths. The Spindle path is the whole request route: the gateway's API-key
//! check and balance reservation, the per-account fair queue, the worker
//! WebSocket, the worker's call to the same llama-server, the worker's
//! signature over (request, result hash, usage), the gateway's verification
//! and the charge persisted in a SQLite store. Balances come from a fixed
//! source here (reading them from the chain is cached per account and is not
//! on the per-request path being measured).
//!
//! Each case (concurrency × streaming) runs the direct path and the Spindle
//! path alternately in rounds, so both see the same machine state; prints one
//! JSON line per path and case, then one ratio line per case.
//!
//!     cargo bench -p spindle-relayer --bench gateway -- [REQUESTS_PER_CASE] [MAX_TOKENS]

use futures::StreamExt;
use futures::future::BoxFuture;
use serde_json::{Value, json};
use spindle_relayer::gateway::{
    AllowedProvider, ApiKeyEntry, BalanceSource, ConfiguredProviders, Gateway, GatewayConfig,
};
use spindle_sdk::{SigningKey, TonAddress};
use spindle_worker::agent::{RelayerEndpoint, WorkerConfig};
use spindle_worker::protocol::Prices;
use spindle_worker::testing::LlamaServerConfig;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

const API_KEY: &str = "sk-bench";
const RELAYER: &str = "0:1111111111111111111111111111111111111111111111111111111111111111";
const ACCOUNT: &str = "0:a11ce00000000000000000000000000000000000000000000000000000000000";
const OWNER: &str = "0:0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e";
const SLOTS: usize = 8;
const ROUNDS: usize = 2;

/// Every account holds 1,000 TON: the bench measures the request path, not refusals.
struct Plenty;

impl BalanceSource for Plenty {
    fn balance<'a>(&'a self, _: &'a TonAddress) -> BoxFuture<'a, Result<u128, String>> {
        Box::pin(async { Ok(1_000_000_000_000) })
    }
}

#[derive(Clone, Copy)]
struct Case {
    concurrency: usize,
    stream: bool,
}

/// What one batch of requests measured.
struct Sample {
    wall: Duration,
    latencies: Vec<Duration>,
    first_bytes: Vec<Duration>,
    completion_tokens: u64,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let per_case: usize = args.first().map(|s| s.parse()).transpose()?.unwrap_or(32);
    let max_tokens: u64 = args.get(1).map(|s| s.parse()).transpose()?.unwrap_or(32);

    let mut llama_config = LlamaServerConfig::from_env()?;
    // A later `--parallel` overrides the test default of one slot.
    llama_config.extra_args = vec!["--parallel".into(), SLOTS.to_string()];
    let llama = llama_config.start().await?;
    let direct = llama.base_url().trim_end_matches('/').to_owned();

    let dir = std::env::temp_dir().join(format!("spindle-bench-gateway-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let store = spindle_relayer::Store::connect(&format!(
        "sqlite://{}?mode=rwc",
        dir.join("relayer.db").display()
    ))
    .await?;

    let operator = SigningKey::from_bytes(&[7; 32]);
    let mut config = GatewayConfig::new(RELAYER, -3);
    config.api_keys = vec![ApiKeyEntry {
        key: API_KEY.into(),
        account: ACCOUNT.into(),
    }];
    config.providers = vec![AllowedProvider {
        operator_key: hex::encode(operator.verifying_key().as_bytes()),
        owner: OWNER.into(),
    }];
    let providers =
        Arc::new(ConfiguredProviders::from_config(&config.providers).map_err(anyhow::Error::msg)?);
    let gateway = Gateway::with_store(config, Arc::new(Plenty), providers, store)
        .map_err(anyhow::Error::msg)?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let spindle = format!("http://{}", listener.local_addr()?);
    tokio::spawn(gateway.serve(listener));

    let key_file = dir.join("operator.key");
    std::fs::write(&key_file, hex::encode(operator.to_bytes()))?;
    let prices = Prices {
        prompt: 1_000_000,
        cached_prompt: 500_000,
        completion: 3_000_000,
    };
    let worker = WorkerConfig {
        backend_url: direct.clone(),
        operator_key_file: key_file,
        owner: OWNER.into(),
        max_concurrency: SLOTS as u32,
        relayers: vec![RelayerEndpoint {
            url: format!(
                "{}{}",
                spindle.replace("http://", "ws://"),
                spindle_worker::protocol::CONNECT_PATH
            ),
            address: Some(RELAYER.into()),
        }],
        prices: BTreeMap::from([("*".to_owned(), prices)]),
        health_interval_ms: 1_000,
        drain_timeout_secs: 30,
        max_backoff_ms: 500,
    };
    tokio::spawn(spindle_worker::agent::run(worker));

    // A fresh loopback connection per request on both paths: llama-server closes
    // streamed responses' connections, and a reused closed one fails the request.
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()?;
    wait_for_models(&http, &spindle).await?;

    let cases = [
        Case {
            concurrency: 1,
            stream: false,
        },
        Case {
            concurrency: 1,
            stream: true,
        },
        Case {
            concurrency: SLOTS,
            stream: false,
        },
        Case {
            concurrency: SLOTS,
            stream: true,
        },
    ];
    // Warm-up: load the model's weights into the page cache and the slots.
    run_batch(
        &http,
        &direct,
        None,
        Case {
            concurrency: SLOTS,
            stream: false,
        },
        SLOTS,
        max_tokens,
    )
    .await?;
    run_batch(
        &http,
        &spindle,
        Some(API_KEY),
        Case {
            concurrency: SLOTS,
            stream: false,
        },
        SLOTS,
        max_tokens,
    )
    .await?;

    for case in cases {
        let mut direct_samples = Vec::new();
        let mut spindle_samples = Vec::new();
        for _ in 0..ROUNDS {
            direct_samples
                .push(run_batch(&http, &direct, None, case, per_case / ROUNDS, max_tokens).await?);
            spindle_samples.push(
                run_batch(
                    &http,
                    &spindle,
                    Some(API_KEY),
                    case,
                    per_case / ROUNDS,
                    max_tokens,
                )
                .await?,
            );
        }
        let d = report("direct", case, direct_samples);
        let s = report("spindle", case, spindle_samples);
        println!(
            "{}",
            json!({
                "bench": "gateway", "case": case_name(case),
                "spindle_over_direct_req_per_s": round(s["req_per_s"].as_f64().unwrap() / d["req_per_s"].as_f64().unwrap()),
                "spindle_minus_direct_p50_ms": round(s["p50_ms"].as_f64().unwrap() - d["p50_ms"].as_f64().unwrap()),
            })
        );
    }
    drop(llama);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

fn case_name(case: Case) -> String {
    format!(
        "c={} {}",
        case.concurrency,
        if case.stream { "stream" } else { "whole" }
    )
}

fn round(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

/// Prints and returns the JSON line of one path in one case.
fn report(path: &str, case: Case, samples: Vec<Sample>) -> Value {
    let wall: Duration = samples.iter().map(|s| s.wall).sum();
    let tokens: u64 = samples.iter().map(|s| s.completion_tokens).sum();
    let mut latencies: Vec<Duration> = samples.iter().flat_map(|s| s.latencies.clone()).collect();
    let mut firsts: Vec<Duration> = samples.iter().flat_map(|s| s.first_bytes.clone()).collect();
    latencies.sort();
    firsts.sort();
    let line = json!({
        "bench": "gateway", "path": path, "case": case_name(case),
        "requests": latencies.len(),
        "req_per_s": round(latencies.len() as f64 / wall.as_secs_f64()),
        "completion_tokens_per_s": round(tokens as f64 / wall.as_secs_f64()),
        "p50_ms": round(percentile(&latencies, 0.5)),
        "p99_ms": round(percentile(&latencies, 0.99)),
        "first_byte_p50_ms": round(percentile(&firsts, 0.5)),
    });
    println!("{line}");
    line
}

async fn wait_for_models(http: &reqwest::Client, spindle: &str) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let models: Value = http
            .get(format!("{spindle}/v1/models"))
            .bearer_auth(API_KEY)
            .send()
            .await?
            .json()
            .await?;
        if models["data"].as_array().is_some_and(|d| !d.is_empty()) {
            return Ok(());
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "the worker never advertised a model: {models}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// `n` requests, at most `case.concurrency` at a time.
async fn run_batch(
    http: &reqwest::Client,
    base: &str,
    key: Option<&str>,
    case: Case,
    n: usize,
    max_tokens: u64,
) -> anyhow::Result<Sample> {
    let started = Instant::now();
    let results: Vec<anyhow::Result<(Duration, Duration, u64)>> = futures::stream::iter(0..n)
        .map(|i| one_request(http, base, key, case.stream, i, max_tokens))
        .buffer_unordered(case.concurrency)
        .collect()
        .await;
    let wall = started.elapsed();
    let mut sample = Sample {
        wall,
        latencies: Vec::new(),
        first_bytes: Vec::new(),
        completion_tokens: 0,
    };
    for r in results {
        let (latency, first, tokens) = r?;
        sample.latencies.push(latency);
        sample.first_bytes.push(first);
        sample.completion_tokens += tokens;
    }
    Ok(sample)
}

/// One chat completion; returns (latency, time to first byte, completion tokens).
async fn one_request(
    http: &reqwest::Client,
    base: &str,
    key: Option<&str>,
    stream: bool,
    i: usize,
    max_tokens: u64,
) -> anyhow::Result<(Duration, Duration, u64)> {
    let mut body = json!({
        "model": spindle_worker::testing::MODEL_ALIAS,
        "messages": [{"role": "user", "content": format!("Count from {i} to {}.", i + 20)}],
        "max_tokens": max_tokens,
        "temperature": 0,
        "stream": stream,
    });
    if stream {
        body["stream_options"] = json!({"include_usage": true});
    }
    let mut request = http.post(format!("{base}/v1/chat/completions")).json(&body);
    if let Some(key) = key {
        request = request.bearer_auth(key);
    }
    let started = Instant::now();
    let response = request.send().await?;
    let status = response.status();
    anyhow::ensure!(
        status.is_success(),
        "{base}: HTTP {status}: {}",
        response.text().await?
    );
    if !stream {
        let first = started.elapsed();
        let answer: Value = response.json().await?;
        let tokens = answer["usage"]["completion_tokens"].as_u64().unwrap_or(0);
        return Ok((started.elapsed(), first, tokens));
    }
    let mut chunks = response.bytes_stream();
    let mut first = None;
    let mut text = Vec::new();
    while let Some(chunk) = chunks.next().await {
        first.get_or_insert_with(|| started.elapsed());
        text.extend_from_slice(&chunk?);
    }
    let text = String::from_utf8(text)?;
    anyhow::ensure!(
        text.trim_end().ends_with("data: [DONE]"),
        "{base}: stream did not end with [DONE]"
    );
    let tokens = text
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .filter_map(|d| serde_json::from_str::<Value>(d).ok())
        .filter_map(|v| v["usage"]["completion_tokens"].as_u64())
        .last()
        .unwrap_or(0);
    Ok((started.elapsed(), first.unwrap_or_default(), tokens))
}
