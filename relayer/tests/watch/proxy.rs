//! A faulty toncenter: an HTTP proxy in front of the real devnet API that, from a seeded
//! RNG, answers some requests with 429 or 500, delays some (under the client's timeout)
//! and stalls some past it, damages `getTransactions` pages (cut short, a hole in the
//! middle, shuffled, an older page served again, a body cut off mid-JSON), and drops
//! connections: a TCP front resets some connections at once and cuts the others after
//! a random number of response bytes (mid-response, or between keep-alive requests).
//! A test double for the faults only: every answer it does give comes from the devnet.

use std::net::SocketAddr;
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
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// How many faults of each kind the proxy injected.
#[derive(Default, Debug)]
pub struct Injected {
    pub too_many: AtomicU64,
    /// Requests answered late, but within the client's timeout.
    pub delayed: AtomicU64,
    /// Connections reset on accept, before any answer.
    pub refused: AtomicU64,
    /// Connections cut after some response bytes (mid-answer or between answers).
    pub dropped: AtomicU64,
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
    /// The longest added latency (kept under the client's timeout).
    delay: Duration,
    injected: Arc<Injected>,
}

/// Starts the proxy in front of `upstream` (`…/api/v2`); returns its base URL. Some
/// requests stall for `stall` (past the client's timeout), some wait up to `delay`.
pub async fn start(
    upstream: &str,
    seed: u64,
    stall: Duration,
    delay: Duration,
) -> (String, Arc<Injected>) {
    let injected = Arc::new(Injected::default());
    let proxy = Arc::new(Proxy {
        upstream: format!("{}/jsonRPC", upstream.trim_end_matches('/')),
        http: reqwest::Client::new(),
        rng: Mutex::new(StdRng::seed_from_u64(seed)),
        last_page: Mutex::new(None),
        stall,
        delay,
        injected: injected.clone(),
    });
    let app = Router::new()
        .route("/api/v2/jsonRPC", post(handle))
        .with_state(proxy);
    let inner = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let inner_addr = inner.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(inner, app).await });
    let front = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/api/v2", front.local_addr().unwrap());
    let rng = StdRng::seed_from_u64(seed ^ 0xd20b);
    tokio::spawn(drop_connections(front, inner_addr, rng, injected.clone()));
    (url, injected)
}

/// The TCP front: each accepted connection is reset at once (10%), or piped to the HTTP
/// proxy until the server has sent a random byte budget (0–64 KiB) and then reset, so
/// even kept-alive connections die now and then, mid-answer or between answers.
async fn drop_connections(
    front: TcpListener,
    inner: SocketAddr,
    mut rng: StdRng,
    injected: Arc<Injected>,
) {
    loop {
        let Ok((client, _)) = front.accept().await else {
            continue;
        };
        let _ = client.set_nodelay(true);
        if rng.gen_bool(0.10) {
            count(&injected.refused);
            let _ = client.set_zero_linger();
            drop(client);
            continue;
        }
        let budget = rng.gen_range(0..64 * 1024usize);
        let injected = injected.clone();
        tokio::spawn(async move {
            let Ok(server) = TcpStream::connect(inner).await else {
                return;
            };
            if pipe(client, server, budget).await {
                count(&injected.dropped);
            }
        });
    }
}

/// Copies both ways until either side closes, or until `budget` bytes went from the
/// server to the client: then both sockets are reset. True if it was cut.
async fn pipe(client: TcpStream, server: TcpStream, budget: usize) -> bool {
    let (mut cr, mut cw) = client.into_split();
    let (mut sr, mut sw) = server.into_split();
    let up = async {
        let _ = tokio::io::copy(&mut cr, &mut sw).await;
        let _ = sw.shutdown().await;
    };
    let down = async {
        let mut left = budget;
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            let n = match sr.read(&mut buf).await {
                Ok(0) | Err(_) => return false,
                Ok(n) => n,
            };
            let n = n.min(left);
            if cw.write_all(&buf[..n]).await.is_err() {
                return false;
            }
            left -= n;
            if left == 0 {
                return true;
            }
        }
    };
    let cut = {
        tokio::pin!(down);
        tokio::select! {
            cut = &mut down => cut,
            // The client is done sending: the answer still comes back in full.
            () = up => down.await,
        }
    };
    if cut {
        let client = cr.reunite(cw).expect("the halves of one stream");
        let _ = client.set_zero_linger();
    }
    cut
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
    } else if roll < 0.37 {
        count(&i.delayed);
        let wait = p.rng.lock().unwrap().gen_range(Duration::ZERO..p.delay);
        tokio::time::sleep(wait).await;
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
