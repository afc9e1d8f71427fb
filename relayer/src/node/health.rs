//! `GET /healthz`, `GET /readyz` and `GET /metrics`.
//!
//! - `/healthz`: the process serves HTTP (liveness; restart it if this fails).
//! - `/readyz`: it can do its work: the store answers, the chain API answers, and who
//!   holds the voucher-posting lease (informational: another replica may hold it).
//!   200 with the checks as JSON, or 503 problem+json naming what is not ready (take
//!   it out of the load balancer until it recovers).
//! - `/metrics`: Prometheus text ([`super::metrics`]).

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};
use spindle_sdk::toncenter::Toncenter;

use super::metrics::Metrics;
use crate::Store;
use crate::gateway::pool::Pool;
use crate::gateway::problem::Problem;

/// Longest a readiness check waits for the store or the chain.
const CHECK_TIMEOUT: Duration = Duration::from_secs(3);

/// What the operational routes read.
pub struct Ops {
    pub store: Store,
    /// A client that does not retry: readiness reports the chain as it is now.
    pub probe: Toncenter,
    pub pool: Arc<Pool>,
    pub metrics: Arc<Metrics>,
    /// This replica's name in the posting lease.
    pub holder: String,
}

impl Ops {
    pub fn router(self: &Arc<Self>) -> Router {
        Router::new()
            .route("/healthz", get(healthz))
            .route("/readyz", get(readyz))
            .route("/metrics", get(metrics))
            .with_state(self.clone())
    }

    /// Runs the readiness checks: `(ready, checks as JSON)`.
    pub async fn readiness(&self) -> (bool, Value) {
        let store = match tokio::time::timeout(CHECK_TIMEOUT, self.store.ping()).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err(format!("no answer within {CHECK_TIMEOUT:?}")),
        };
        let chain =
            match tokio::time::timeout(CHECK_TIMEOUT, self.probe.get_masterchain_info()).await {
                Ok(Ok(info)) => Ok(info.last.seqno),
                Ok(Err(e)) => Err(e.to_string()),
                Err(_) => Err(format!("no answer within {CHECK_TIMEOUT:?}")),
            };
        let lease = if store.is_ok() {
            self.store
                .posting_lease_holder(crate::settle::submitter::LEASE)
                .await
                .ok()
                .flatten()
        } else {
            None
        };
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        let checks = json!({
            "store": match &store {
                Ok(()) => json!({"ok": true}),
                Err(e) => json!({"ok": false, "error": e}),
            },
            "chain": match &chain {
                Ok(seqno) => json!({"ok": true, "masterchain_seqno": seqno}),
                Err(e) => json!({"ok": false, "error": e}),
            },
            "posting_lease": match &lease {
                Some((holder, until)) => json!({
                    "holder": holder,
                    "live": *until > now,
                    "held_here": holder == &self.holder && *until > now,
                    "expires_at": until,
                }),
                None => json!({"holder": null, "live": false, "held_here": false}),
            },
        });
        (store.is_ok() && chain.is_ok(), checks)
    }
}

async fn healthz() -> Response {
    Json(json!({"status": "alive"})).into_response()
}

async fn readyz(State(ops): State<Arc<Ops>>) -> Response {
    let (ready, checks) = ops.readiness().await;
    if ready {
        return Json(json!({"status": "ready", "checks": checks})).into_response();
    }
    let failing: Vec<String> = ["store", "chain"]
        .iter()
        .filter(|k| checks[**k]["ok"] == false)
        .map(|k| format!("{k}: {}", checks[*k]["error"].as_str().unwrap_or("")))
        .collect();
    Problem::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "not-ready",
        "Relayer not ready",
        failing.join("; "),
    )
    .with("checks", checks)
    .retry_after(5)
    .into_response()
}

async fn metrics(State(ops): State<Arc<Ops>>) -> Response {
    let text = ops.metrics.render(&ops.store, &ops.pool, &ops.holder).await;
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response()
}
