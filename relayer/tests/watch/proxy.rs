//! A faulty toncenter: an HTTP proxy in front of the real devnet API that, from a seeded
//! RNG, answers some requests with 429 or 500, stalls some past the client's timeout,
//! and damages `getTransactions` pages (cut short, a hole in the middle, shuffled,
//! an older page served again, a body cut off mid-JSON). A test double for the faults
//! only: every answer it does give comes from the devnet.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde_json::Value;

/// How many faults of each kind the proxy injected.
#[derive(Default, Debug)]
pub struct Injected {
    pub too_many: AtomicU64,
    pub server_error: AtomicU64,
    pub timeout: AtomicU64,
    pub short: AtomicU64,
    pub hole: AtomicU64,
    pub shuffled: AtomicU64,
    pub stale: AtomicU64,
    pub cut_body: AtomicU64,
    pub forwarded: AtomicU64,
}

struct Proxy {
    upstream: String,
    http: reqwest::Client,
    rng: Mutex<StdRng>,
    /// The last good `getTransactions` page, served again as a stale answer.
    last_page: Mutex<Option<Value>>,
    stall: Duration,
    injected: Arc<Injected>,
}

/// Starts the proxy in front of `upstream` (`…/api/v2`); returns its base URL.
pub async fn start(upstream: &str, seed: u64, stall: Duration) -> (String, Arc<Injected>) {
    let injected = Arc::new(Injected::default());
    let proxy = Arc::new(Proxy {
        upstream: format!("{}/jsonRPC", upstream.trim_end_matches('/')),
        http: reqwest::Client::new(),
        rng: Mutex::new(StdRng::seed_from_u64(seed)),
        last_page: Mutex::new(None),
        stall,
        injected: injected.clone(),
    });
    let app = Router::new()
        .route("/api/v2/jsonRPC", post(handle))
        .with_state(proxy);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/api/v2", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, injected)
}

fn count(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

async fn handle(State(p): State<Arc<Proxy>>, body: Bytes) -> Response {
    let method = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|v| v["method"].as_str().map(str::to_owned))
        .unwrap_or_default();
    let roll: f64 = p.rng.lock().unwrap().r#gen();
    let i = &p.injected;
    if roll < 0.08 {
        count(&i.too_many);
        let body = r#"{"ok":false,"error":"Ratelimit exceed","code":429}"#;
        return (StatusCode::TOO_MANY_REQUESTS, body).into_response();
    }
    if roll < 0.14 {
        count(&i.server_error);
        return (StatusCode::INTERNAL_SERVER_ERROR, "upstream failure").into_response();
    }
    if roll < 0.17 {
        count(&i.timeout);
        tokio::time::sleep(p.stall).await;
    }
    let upstream = p
        .http
        .post(&p.upstream)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await;
    let Ok(upstream) = upstream else {
        return (StatusCode::BAD_GATEWAY, "devnet unreachable").into_response();
    };
    let status = upstream.status().as_u16();
    let text = upstream.text().await.unwrap_or_default();
    count(&i.forwarded);
    if method != "getTransactions" || status != 200 {
        return (StatusCode::from_u16(status).unwrap(), text).into_response();
    }
    let mut v: Value = match serde_json::from_str(&text) {
        Ok(v) => v,
        Err(_) => return (StatusCode::OK, text).into_response(),
    };
    let damage: f64 = p.rng.lock().unwrap().r#gen();
    if let Some(txs) = v["result"].as_array_mut()
        && txs.len() > 1
    {
        let mut rng = p.rng.lock().unwrap();
        if damage < 0.15 {
            count(&i.short);
            let keep = rng.gen_range(1..txs.len());
            txs.truncate(keep);
        } else if damage < 0.25 && txs.len() > 2 {
            count(&i.hole);
            let at = rng.gen_range(1..txs.len() - 1);
            txs.remove(at);
        } else if damage < 0.40 {
            count(&i.shuffled);
            txs.shuffle(&mut *rng);
        } else if damage < 0.45 {
            let stale = p.last_page.lock().unwrap().clone();
            if let Some(stale) = stale {
                count(&i.stale);
                drop(rng);
                return (StatusCode::OK, stale.to_string()).into_response();
            }
        } else if damage < 0.50 {
            count(&i.cut_body);
            let cut = text.len() / 2;
            return (StatusCode::OK, text[..cut].to_owned()).into_response();
        } else {
            *p.last_page.lock().unwrap() = Some(v.clone());
        }
    }
    (StatusCode::OK, v.to_string()).into_response()
}
