//! The read-only web dashboard, served under `/ui` on the relayer's API port.
//!
//! No build step and no external requests: one HTML page, one script and one
//! stylesheet are compiled into the binary (`include_str!`), and the page polls
//! small JSON views of this relayer's store and gateway every two seconds:
//!
//! | route | what |
//! |---|---|
//! | `GET /ui` | the page (network, jobs, job timeline, money, health views) |
//! | `GET /ui/api/overview` | network info, jobs and outbox by state, served models, money per pair, health |
//! | `GET /ui/api/jobs?state=&limit=` | newest jobs, optionally of one state |
//! | `GET /ui/api/jobs/{escrow}` | one job's timeline, outbox items and proof signers |
//!
//! Everything shown comes from what this relayer recorded (its store) or sees
//! live (its workers); the page links addresses to an explorer when one is
//! configured (mainnet or testnet), so each figure can be checked on-chain.

pub mod browser;

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

impl Ui {
    /// The `/ui` routes.
    pub fn router(self: Arc<Self>) -> Router {
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
            .route("/ui/api/jobs", get(jobs))
            .route("/ui/api/jobs/{escrow}", get(job))
            .with_state(self)
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

fn store_error(e: crate::store::StoreError) -> Problem {
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

async fn overview(State(ui): State<Arc<Ui>>) -> Result<axum::Json<Value>, Problem> {
    let jobs = ui.store.job_counts().await.map_err(store_error)?;
    let outbox = ui.store.outbox_counts().await.map_err(store_error)?;
    let pairs = ui.store.all_pairs().await.map_err(store_error)?;
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
    })))
}

#[derive(Deserialize)]
struct ListQuery {
    state: Option<String>,
    limit: Option<u32>,
}

async fn jobs(
    State(ui): State<Arc<Ui>>,
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
    let limit = q.limit.unwrap_or(100).clamp(1, MAX_LIST);
    let list = ui
        .store
        .recent_jobs(state, limit)
        .await
        .map_err(store_error)?;
    Ok(axum::Json(
        json!({"jobs": list.iter().map(job_json).collect::<Vec<_>>()}),
    ))
}

async fn job(
    State(ui): State<Arc<Ui>>,
    Path(escrow): Path<String>,
) -> Result<axum::Json<Value>, Problem> {
    // The store keys jobs by raw address; accept any form a person pastes.
    let raw = spindle_sdk::address::parse_address(&escrow)
        .map(|a| spindle_sdk::address::to_raw(&a))
        .map_err(|e| {
            Problem::new(
                StatusCode::BAD_REQUEST,
                "bad-address",
                "Bad address",
                e.to_string(),
            )
        })?;
    let Some(t) = ui.store.job_timeline(&raw).await.map_err(store_error)? else {
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
    })))
}
