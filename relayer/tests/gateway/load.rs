//! Sustained load with a fair-share check, all real and on loopback: a gateway, a
//! worker agent over the real worker protocol (WebSocket, signed challenge) and a
//! llama-server with one slot. A flooding client keeps `FLOOD` requests waiting at all
//! times while a light client sends its requests one after another. The per-account
//! fair queue must serve the light client next whenever it waits: between sending a
//! light request and getting its answer, at most `2 × capacity + 1` flood requests
//! finish (the one running, the one dispatched ahead by the round-robin, and one for
//! the loopback race between sending and queueing), however deep the flood's queue.
//! A first-come queue would let about `FLOOD` of them through each time.
//!
//! Bounded in count and time: `SPINDLE_CHAOS_LOAD_LIGHT` light requests (10 in the
//! suite), `SPINDLE_CHAOS_LOAD_FLOOD` flooding connections (8), every flooding
//! connection stops when the light client is done or after `FLOOD_CAP` requests.
//! `scripts/chaos load` runs it longer; `SPINDLE_CHAOS_REPORT` receives the counts.

use crate::harness::*;
use serde_json::json;
use spindle_relayer::gateway::ApiKeyEntry;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::SeqCst};
use std::time::{Duration, Instant};

const FLOOD_KEY: &str = "sk-test-flood";
const FLOOD_ACCOUNT: &str = "0:f100d00000000000000000000000000000000000000000000000000000000000";
/// Most requests one flooding connection sends.
const FLOOD_CAP: u64 = 5_000;
/// The worker's concurrency (llama-server runs one slot).
const CAPACITY: u64 = 1;
/// Tokens per flood answer: long enough that a light request reaches the queue while
/// one flood request runs (the bound's slack of one), even on a loaded machine.
const FLOOD_TOKENS: u64 = 8;
const LIGHT_TOKENS: u64 = 2;

fn env_count(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .filter(|v| !v.is_empty())
        .map_or(default, |v| {
            v.parse().unwrap_or_else(|_| panic!("{name} is a count"))
        })
}

#[derive(Default)]
struct Tally {
    ok: AtomicU64,
    busy: AtomicU64,
    other: AtomicU64,
}

/// One non-streaming chat request of `tokens` generated tokens (`ignore_eos`, a
/// llama.cpp option, makes it exactly that many); `true` if answered with a completion.
async fn ask(base: &str, key: &str, model: &str, tokens: u64, tally: &Tally) -> bool {
    let mut body = chat_body(
        model,
        "Write a long story about a lighthouse keeper.",
        tokens,
    );
    body["ignore_eos"] = json!(true);
    // The prompt is the same every time: llama.cpp reuses its evaluation, so the
    // generated tokens set each request's length.
    body["cache_prompt"] = json!(true);
    let (status, _, body) = post(base, "/v1/chat/completions", Some(key), &body).await;
    let ok = status == 200 && body.contains("\"choices\"");
    match status {
        _ if ok => tally.ok.fetch_add(1, SeqCst),
        503 => tally.busy.fetch_add(1, SeqCst),
        _ => {
            eprintln!("unexpected answer {status}: {body}");
            tally.other.fetch_add(1, SeqCst)
        }
    };
    ok
}

fn percentile(sorted: &[u128], p: f64) -> u128 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flooding_client_does_not_starve_a_light_one() {
    let light_n = env_count("SPINDLE_CHAOS_LOAD_LIGHT", 10);
    let flood_n = env_count("SPINDLE_CHAOS_LOAD_FLOOD", 8);
    assert!(flood_n > 2 * CAPACITY + 1, "a flood deeper than the bound");
    let started = Instant::now();
    let balances = Arc::new(TestBalances::default());
    for a in [ACCOUNT, FLOOD_ACCOUNT] {
        balances
            .0
            .lock()
            .unwrap()
            .insert(addr(a), 1_000_000_000_000_000);
    }
    let relayer = start_relayer_with(balances, |c| {
        c.api_keys.push(ApiKeyEntry {
            key: FLOOD_KEY.into(),
            account: FLOOD_ACCOUNT.into(),
        });
        // Flood requests wait their turn instead of giving up: the queue stays deep.
        c.queue_timeout_ms = 600_000;
    })
    .await;
    let llama = start_llama().await;
    let dir = TempDir::new("load-worker");
    let config = worker_config(&relayer, &llama.base_url(), 1, PRICES, &dir);
    assert_eq!(u64::from(config.max_concurrency), CAPACITY);
    let worker = start_worker(config, dir);
    let model = llama.alias().to_owned();
    wait_models(&relayer, |m| served(m) == [model.clone()]).await;

    let flood_done = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let flood_tally = Arc::new(Tally::default());
    let flooders: Vec<_> = (0..flood_n)
        .map(|_| {
            let (url, model) = (relayer.url.clone(), model.clone());
            let (done, stop, tally) = (flood_done.clone(), stop.clone(), flood_tally.clone());
            tokio::spawn(async move {
                let mut sent = 0;
                while !stop.load(SeqCst) && sent < FLOOD_CAP {
                    sent += 1;
                    if ask(&url, FLOOD_KEY, &model, FLOOD_TOKENS, &tally).await {
                        done.fetch_add(1, SeqCst);
                    }
                }
            })
        })
        .collect();
    // Let the flood fill the queue before the light client starts.
    while relayer.gateway.pool.stats().in_flight < CAPACITY || flood_done.load(SeqCst) < 2 {
        assert!(
            started.elapsed() < Duration::from_secs(300),
            "the flood never got served"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let light_tally = Tally::default();
    let mut overtaken = Vec::new();
    let mut latency_ms = Vec::new();
    for _ in 0..light_n {
        assert!(
            started.elapsed() < Duration::from_secs(1_800),
            "load run over 30 min"
        );
        let before = flood_done.load(SeqCst);
        let t = Instant::now();
        ask(&relayer.url, KEY, &model, LIGHT_TOKENS, &light_tally).await;
        latency_ms.push(t.elapsed().as_millis());
        overtaken.push(flood_done.load(SeqCst) - before);
    }
    // The flood's queued requests are not waited for: its clients hang up.
    stop.store(true, SeqCst);
    for f in &flooders {
        f.abort();
    }
    worker.drain().await;

    let light_ok = light_tally.ok.load(SeqCst);
    let flood_ok = flood_tally.ok.load(SeqCst);
    let most = *overtaken.iter().max().unwrap();
    let mean = overtaken.iter().sum::<u64>() as f64 / overtaken.len() as f64;
    latency_ms.sort_unstable();
    let bound = 2 * CAPACITY + 1;
    if let Some(path) = std::env::var_os("SPINDLE_CHAOS_REPORT").filter(|p| !p.is_empty()) {
        use std::io::Write;
        let line = json!({
            "light_requests": light_n,
            "light_ok": light_ok,
            "light_503": light_tally.busy.load(SeqCst),
            "light_other": light_tally.other.load(SeqCst),
            "flood_connections": flood_n,
            "flood_ok": flood_ok,
            "flood_503": flood_tally.busy.load(SeqCst),
            "flood_other": flood_tally.other.load(SeqCst),
            "capacity": CAPACITY,
            "bound": bound,
            "overtaken_max": most,
            "overtaken_mean": mean,
            "overtaken_hist": (0..=most)
                .map(|k| overtaken.iter().filter(|&&o| o == k).count())
                .collect::<Vec<_>>(),
            "light_ms_p50": percentile(&latency_ms, 0.5),
            "light_ms_p99": percentile(&latency_ms, 0.99),
            "light_ms_max": latency_ms.last(),
            "seconds": started.elapsed().as_secs(),
        });
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .unwrap();
        writeln!(f, "{line}").unwrap();
    }
    assert_eq!(light_ok, light_n, "every light request answered");
    assert_eq!(light_tally.other.load(SeqCst), 0);
    assert_eq!(flood_tally.other.load(SeqCst), 0, "the flood only waits");
    assert!(
        flood_ok >= light_n / 2,
        "the flood had its share too ({flood_ok} answers)"
    );
    assert!(
        most <= bound,
        "a light request waited behind {most} flood requests (fair share allows {bound}): {overtaken:?}"
    );
}
