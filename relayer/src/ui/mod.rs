//! The read-only web dashboard, served under `/ui` on the relayer's API port.
//!
//! No build step and no external requests: one HTML page, one script and one
//! stylesheet are compiled into the binary (`include_str!`), and the page polls
//! small JSON views of this relayer's store, gateway and the chain every two seconds:
//!
//! | route | what |
//! |---|---|
//! | `GET /ui` | the page (network, jobs, job timeline, money, health views) |
//! | `GET /ui/api/overview` | network info, jobs and outbox by state, served models, money per pair, health, lease latency |
//! | `GET /ui/api/network` | hub parameters (chain), relayer set with who is online, providers (stake, unbonding, slashes, workers, models, prices, capacity, success rate) |
//! | `GET /ui/api/money?days=` | per compute account balance (chain), pending charges, last voucher, withdrawal; per provider earnings; protocol fees; the relayer wallet's fees per day over `days` (1–90, default 14) |
//! | `GET /ui/api/history` | health samples over the last hour (chain lag, outbox backlog, API errors, lease latency, settled jobs, capacity), oldest first |
//! | `GET /ui/api/jobs?state=&limit=` | newest jobs (`limit` 1–500, default 100), optionally of one state |
//! | `GET /ui/api/jobs/{escrow}` | one job's timeline, outbox items, signatures and on-chain transactions |
//!
//! Bad input (an unknown state, a malformed address, `limit` or `days` out of range) is a
//! 4xx `application/problem+json`. What comes from the chain is read through
//! [`chain::ChainView`] when the node supplies one ([`Live`]); a view without it
//! shows only the store's side. The page links addresses and transactions to an
//! explorer when one is configured (`chain.explorer`), so each figure can be
//! checked on-chain.

pub mod browser;
pub mod chain;
pub mod history;
mod panels;
pub mod peers;

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::Store;
use crate::gateway::Gateway;
use crate::gateway::problem::Problem;
use crate::job::JobState;
use crate::store::Job;

const INDEX: &str = include_str!("assets/index.html");
const SCRIPT: &str = include_str!("assets/app.js");
const STYLE: &str = include_str!("assets/style.css");

/// Most jobs one list returns.
const MAX_LIST: u32 = 500;

/// What the page says about the network this relayer serves.
#[derive(Clone, Debug, Default, Serialize)]
pub struct NetworkInfo {
    /// `mainnet`, `testnet` or `devnet`.
    pub network: String,
    pub global_id: i32,
    /// The hub's address, when one is configured.
    pub hub: Option<String>,
    /// This relayer's identity (address its workers sign for).
    pub relayer: String,
    /// Signatures needed (k) of the relayer set's size (n).
    pub k: u8,
    pub n: u8,
    /// Prefix an address is appended to for an explorer link
    /// (e.g. `https://testnet.tonviewer.com/`); none on a devnet.
    pub explorer: Option<String>,
}

/// Live health figures the node adds to the overview (chain lag, error rates, …).
pub type HealthSource = Arc<dyn Fn() -> Value + Send + Sync>;

/// The dashboard's shared state.
pub struct Ui {
    pub store: Store,
    pub info: NetworkInfo,
    pub gateway: Option<Arc<Gateway>>,
    pub health: Option<HealthSource>,
}

/// What a running node adds to the store's view: the chain and the relayer set's
/// members (for who is online). Without it the chain-side panels say "not connected".
#[derive(Clone, Default)]
pub struct Live {
    pub chain: Option<Arc<chain::ChainView>>,
    /// The relayer set in the hub's order.
    pub members: Vec<peers::Member>,
    /// The wallet this relayer posts from (whose fees the money view sums).
    pub wallet: Option<spindle_sdk::TonAddress>,
    /// Health samples a background task takes ([`history::History::run`]).
    pub history: Option<Arc<history::History>>,
}

/// What the handlers share.
pub(crate) struct Dash {
    pub ui: Arc<Ui>,
    pub live: Live,
    pub peers: peers::PeerHealth,
}

impl Ui {
    /// The `/ui` routes, showing only what the store and gateway know.
    pub fn router(self: Arc<Self>) -> Router {
        self.router_with(Live::default())
    }

    /// The `/ui` routes with the chain and the relayer set's peers.
    pub fn router_with(self: Arc<Self>, live: Live) -> Router {
        let dash = Arc::new(Dash {
            ui: self,
            live,
            peers: peers::PeerHealth::default(),
        });
        Router::new()
            .route(
                "/ui",
                get(|| async { page("text/html; charset=utf-8", INDEX) }),
            )
            .route(
                "/ui/",
                get(|| async { page("text/html; charset=utf-8", INDEX) }),
            )
            .route(
                "/ui/app.js",
                get(|| async { page("text/javascript; charset=utf-8", SCRIPT) }),
            )
            .route(
                "/ui/style.css",
                get(|| async { page("text/css; charset=utf-8", STYLE) }),
            )
            .route("/ui/api/overview", get(overview))
            .route("/ui/api/network", get(panels::network))
            .route("/ui/api/money", get(panels::money))
            .route("/ui/api/history", get(history))
            .route("/ui/api/jobs", get(jobs))
            .route("/ui/api/jobs/{escrow}", get(job))
            .with_state(dash)
    }
}

fn page(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
            // Everything is local: the page may load nothing from elsewhere.
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'",
            ),
        ],
        body,
    )
        .into_response()
}

pub(crate) fn store_error(e: crate::store::StoreError) -> Problem {
    Problem::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "store-unavailable",
        "Store unavailable",
        e.to_string(),
    )
}

fn job_json(j: &Job) -> Value {
    json!({
        "escrow": j.job.escrow,
        "client": j.job.client,
        "nonce": j.job.nonce,
        "asset": j.job.asset,
        "amount": j.job.amount.to_string(),
        "deadline": j.job.deadline,
        "spec_hash": hex::encode(j.job.spec_hash),
        "state": j.state.as_str(),
        "lease_seq": j.lease_seq,
        "lease": j.lease.as_ref().map(|l| json!({"seq": l.seq, "worker": l.worker, "expires_at": l.expires_at})),
        "created_at": j.created_at,
        "updated_at": j.updated_at,
    })
}

/// Lease latencies averaged in the overview (the newest leased jobs).
const LATENCY_SAMPLES: u32 = 20;

async fn history(State(dash): State<Arc<Dash>>) -> axum::Json<Value> {
    axum::Json(json!({
        "every_secs": history::SAMPLE_EVERY.as_secs(),
        "samples": dash.live.history.as_ref().map(|h| h.list()).unwrap_or_default(),
    }))
}

async fn overview(State(dash): State<Arc<Dash>>) -> Result<axum::Json<Value>, Problem> {
    let ui = &dash.ui;
    let jobs = ui.store.job_counts().await.map_err(store_error)?;
    let outbox = ui.store.outbox_counts().await.map_err(store_error)?;
    let pairs = ui.store.all_pairs().await.map_err(store_error)?;
    let latencies = ui
        .store
        .lease_latencies(LATENCY_SAMPLES)
        .await
        .map_err(store_error)?;
    let models: Vec<Value> = ui
        .gateway
        .as_ref()
        .map(|gw| {
            gw.pool
                .served_models()
                .into_iter()
                .map(|m| json!({"id": m.id, "prices": m.prices, "workers": m.workers, "capacity": m.capacity}))
                .collect()
        })
        .unwrap_or_default();
    Ok(axum::Json(json!({
        "now": std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs()),
        "network": ui.info,
        "jobs": jobs.iter().map(|(s, n)| (s.as_str().to_owned(), json!(n))).collect::<serde_json::Map<_, _>>(),
        "outbox": outbox.iter().map(|(s, n)| (s.as_str().to_owned(), json!(n))).collect::<serde_json::Map<_, _>>(),
        "models": models,
        "money": pairs.iter().map(|p| json!({
            "account": p.account,
            "provider": p.provider,
            "charged": p.charged.to_string(),
            "settled": p.settled.to_string(),
            "unsettled": p.unsettled().to_string(),
        })).collect::<Vec<_>>(),
        "health": ui.health.as_ref().map(|h| h()).unwrap_or(Value::Null),
        "lease_latency": {
            "samples": latencies.len(),
            "mean_secs": (!latencies.is_empty()).then(|| latencies.iter().sum::<i64>() as f64 / latencies.len() as f64),
            "max_secs": latencies.iter().max(),
        },
    })))
}

#[derive(Deserialize)]
struct ListQuery {
    state: Option<String>,
    // A string, so a bad number is answered as problem+json like any other bad input.
    limit: Option<String>,
}

async fn jobs(
    State(dash): State<Arc<Dash>>,
    Query(q): Query<ListQuery>,
) -> Result<axum::Json<Value>, Problem> {
    let state = match q.state.as_deref().filter(|s| !s.is_empty()) {
        None => None,
        Some(s) => Some(s.parse::<JobState>().map_err(|_| {
            Problem::new(
                StatusCode::BAD_REQUEST,
                "unknown-job-state",
                "Unknown job state",
                format!(
                    "state {s:?} is not one of {}",
                    JobState::ALL.map(JobState::as_str).join(", ")
                ),
            )
        })?),
    };
    let limit = match q.limit.as_deref().filter(|l| !l.is_empty()) {
        None => 100,
        Some(l) => l
            .parse::<u32>()
            .ok()
            .filter(|l| (1..=MAX_LIST).contains(l))
            .ok_or_else(|| {
                Problem::new(
                    StatusCode::BAD_REQUEST,
                    "bad-limit",
                    "Bad limit",
                    format!("limit {l:?} is not a whole number from 1 to {MAX_LIST}"),
                )
            })?,
    };
    let list = dash
        .ui
        .store
        .recent_jobs(state, limit)
        .await
        .map_err(store_error)?;
    Ok(axum::Json(
        json!({"jobs": list.iter().map(job_json).collect::<Vec<_>>()}),
    ))
}

/// Any address form a person pastes, or 400 problem+json.
pub(crate) fn parse_address(s: &str) -> Result<spindle_sdk::TonAddress, Problem> {
    spindle_sdk::address::parse_address(s).map_err(|e| {
        Problem::new(
            StatusCode::BAD_REQUEST,
            "bad-address",
            "Bad address",
            e.to_string(),
        )
    })
}

async fn job(
    State(dash): State<Arc<Dash>>,
    Path(escrow): Path<String>,
) -> Result<axum::Json<Value>, Problem> {
    // The store keys jobs by raw address.
    let address = parse_address(&escrow)?;
    let raw = spindle_sdk::address::to_raw(&address);
    let Some(t) = dash
        .ui
        .store
        .job_timeline(&raw)
        .await
        .map_err(store_error)?
    else {
        return Err(Problem::new(
            StatusCode::NOT_FOUND,
            "unknown-job",
            "Unknown job",
            format!("this relayer has no job at {raw}"),
        ));
    };
    Ok(axum::Json(json!({
        "job": job_json(&t.job),
        "events": t.events,
        "outbox": t.outbox,
        "proof_signers": t.proof_signers,
        "signatures": t.signatures,
        // The escrow's own transactions, read from the chain (creation, complete, payouts).
        "transactions": match &dash.live.chain {
            Some(chain) => chain.transactions(&address).await,
            None => Value::Null,
        },
    })))
}
