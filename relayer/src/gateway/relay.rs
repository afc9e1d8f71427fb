//! Relays one client request to a worker and its answer back.
//!
//! - A worker that fails before anything reached the client (refused, died,
//!   disconnected) is excluded and the request goes to the next cheapest one,
//!   up to `max_attempts`; so is one that sends nothing for
//!   `first_byte_timeout_secs` (it is told to cancel).
//! - A stream is passed on event by event as the worker relays them; only the
//!   event carrying `usage` and `data: [DONE]` are held back until the worker's
//!   signed result has been verified, so the usage the client sees gains
//!   `cost_nanoton` and `balance_nanoton`. A stream that breaks ends with an
//!   SSE error event instead of `[DONE]`, and nothing is charged.
//! - Nothing is charged unless the result hash, the usage and the signature
//!   all check out (`verify`).

use super::Gateway;
use super::accounts::Reservation;
use super::pool::{NoSlot, Slot, WorkerLink};
use super::problem::Problem;
use super::verify::{Claim, sha256, verify_result};
use axum::body::Body;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use rand::Rng;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use spindle_sdk::TonAddress;
use spindle_worker::backend::{Endpoint, Usage};
use spindle_worker::protocol::{RelayerMessage, WorkerMessage};
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

/// A validated client request.
pub(crate) struct Call {
    pub account: TonAddress,
    pub endpoint: Endpoint,
    pub model: String,
    pub body: Map<String, Value>,
    pub stream: bool,
}

/// Stops listening for a request when dropped; tells the worker to stop it
/// unless its result already arrived (the client left, or we gave up on it).
struct InFlight {
    link: Arc<WorkerLink>,
    id: u64,
    finished: bool,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.link.finish(self.id, !self.finished);
    }
}

pub(crate) async fn relay(gw: Arc<Gateway>, call: Call, reservation: Reservation) -> Response {
    let mut exclude = Vec::new();
    let mut last_failure = String::new();
    for _ in 0..gw.config.max_attempts.max(1) {
        let slot = match gw
            .pool
            .acquire(
                &call.account,
                &call.model,
                &exclude,
                gw.config.queue_timeout(),
            )
            .await
        {
            Ok(slot) => slot,
            Err(NoSlot::UnknownModel) => return unknown_model(&call.model).into_response(),
            Err(NoSlot::Busy) => {
                return no_capacity(&gw, &call.model, "every worker serving it stayed busy")
                    .into_response();
            }
            Err(NoSlot::Unavailable) if exclude.is_empty() => {
                return no_capacity(&gw, &call.model, "no worker serves it right now")
                    .into_response();
            }
            Err(NoSlot::Unavailable) => break,
        };
        let id: u64 = rand::thread_rng().r#gen();
        let request = RelayerMessage::Request {
            id,
            endpoint: call.endpoint,
            body: call.body.clone(),
            stream: call.stream,
        };
        let mut rx = slot.link.start(id, request);
        let mut guard = InFlight {
            link: slot.link.clone(),
            id,
            finished: false,
        };
        let first_byte = Duration::from_secs(gw.config.first_byte_timeout_secs);
        let Ok(first) = tokio::time::timeout(first_byte, rx.recv()).await else {
            // `guard` tells the worker to stop on drop.
            last_failure = format!("no answer within {first_byte:?}");
            tracing::warn!(
                worker = slot.link.id,
                "worker did not answer in time; trying another"
            );
            exclude.push(slot.link.id);
            continue;
        };
        match first {
            Some(WorkerMessage::Done {
                body: Some(body),
                usage,
                result_hash,
                signature,
                ..
            }) if !call.stream => {
                guard.finished = true;
                return finish_whole(
                    &gw,
                    &slot,
                    id,
                    body,
                    usage,
                    &result_hash,
                    &signature,
                    reservation,
                )
                .await;
            }
            Some(WorkerMessage::Chunk { data, .. }) if call.stream => {
                return start_stream(gw.clone(), slot, guard, rx, data, reservation);
            }
            Some(WorkerMessage::Failed {
                status: Some(status),
                body,
                message,
                ..
            }) if (400..500).contains(&status) && status != 429 => {
                // The backend refused the request itself: another worker would too.
                guard.finished = true;
                return backend_refused(status, body, message).into_response();
            }
            Some(WorkerMessage::Failed { message, .. }) => {
                guard.finished = true;
                last_failure = message;
            }
            None => last_failure = "the worker disconnected".into(),
            Some(other) => {
                last_failure = format!("protocol violation: unexpected {}", kind(&other))
            }
        }
        tracing::warn!(worker = slot.link.id, failure = %last_failure, "worker failed before answering; trying another");
        exclude.push(slot.link.id);
    }
    Problem::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "worker-failed",
        "Workers failed",
        format!("every worker tried failed; last: {last_failure}"),
    )
    .retry_after(gw.config.retry_after_secs)
    .into_response()
}

#[allow(clippy::too_many_arguments)]
async fn finish_whole(
    gw: &Gateway,
    slot: &Slot,
    id: u64,
    body: String,
    usage: Usage,
    result_hash: &str,
    signature: &str,
    reservation: Reservation,
) -> Response {
    let mut json: Value = match serde_json::from_str(&body) {
        Ok(json) => json,
        Err(e) => return bad_result(format!("answer is not JSON: {e}")).into_response(),
    };
    let reported = Usage::from_response(&json).ok().flatten();
    if let Err(e) = verify_result(
        gw,
        &slot.link,
        id,
        sha256(body.as_bytes()),
        reported,
        Claim {
            usage: &usage,
            result_hash,
            signature,
        },
    ) {
        return bad_result(e).into_response();
    }
    let cost = slot.prices.cost(&usage);
    let remaining = reservation.commit(cost, &slot.link.owner).await;
    add_cost(&mut json, cost, remaining);
    (
        [(header::CONTENT_TYPE, "application/json")],
        json.to_string(),
    )
        .into_response()
}

fn start_stream(
    gw: Arc<Gateway>,
    slot: Slot,
    guard: InFlight,
    rx: mpsc::UnboundedReceiver<WorkerMessage>,
    first: String,
    reservation: Reservation,
) -> Response {
    let (tx, body_rx) = mpsc::channel::<Bytes>(64);
    tokio::spawn(pump_stream(gw, slot, guard, rx, first, reservation, tx));
    let body = futures::stream::unfold(body_rx, |mut rx| async move {
        rx.recv()
            .await
            .map(|bytes| (Ok::<_, Infallible>(bytes), rx))
    });
    Response::builder()
        .header(header::CONTENT_TYPE, "text/event-stream")
        .header(header::CACHE_CONTROL, "no-cache")
        .body(Body::from_stream(body))
        .expect("static headers are valid")
}

/// Forwards a stream's events; holds back `usage` and `[DONE]` until the
/// signed result is verified and charged.
async fn pump_stream(
    gw: Arc<Gateway>,
    slot: Slot,
    mut guard: InFlight,
    mut rx: mpsc::UnboundedReceiver<WorkerMessage>,
    first: String,
    reservation: Reservation,
    tx: mpsc::Sender<Bytes>,
) {
    let mut hasher = Sha256::new();
    let mut held: Vec<(String, Option<Value>)> = Vec::new();
    let mut next = Some(WorkerMessage::Chunk {
        id: guard.id,
        data: first,
    });
    loop {
        let message = match next.take() {
            Some(m) => Some(m),
            None => rx.recv().await,
        };
        match message {
            Some(WorkerMessage::Chunk { data, .. }) => {
                hasher.update(data.as_bytes());
                match classify(&data) {
                    Event::Plain => {
                        if tx.send(Bytes::from(data)).await.is_err() {
                            return; // The client left: `guard` cancels, nothing is charged.
                        }
                    }
                    Event::Usage(json) => held.push((data, Some(json))),
                    Event::Done => held.push((data, None)),
                }
            }
            Some(WorkerMessage::Done {
                usage,
                result_hash,
                signature,
                ..
            }) => {
                guard.finished = true;
                let reported = held
                    .iter()
                    .rev()
                    .find_map(|(_, j)| j.as_ref())
                    .and_then(|j| Usage::from_response(j).ok().flatten());
                let delivered: [u8; 32] = hasher.finalize().into();
                if let Err(e) = verify_result(
                    &gw,
                    &slot.link,
                    guard.id,
                    delivered,
                    reported,
                    Claim {
                        usage: &usage,
                        result_hash: &result_hash,
                        signature: &signature,
                    },
                ) {
                    tracing::warn!(worker = slot.link.id, error = %e, "rejected a streamed result");
                    let _ = tx.send(error_event("bad-worker-result", &e)).await;
                    return;
                }
                let cost = slot.prices.cost(&usage);
                let remaining = reservation.commit(cost, &slot.link.owner).await;
                for (data, json) in held {
                    let bytes = match json {
                        Some(mut json) => {
                            add_cost(&mut json, cost, remaining);
                            Bytes::from(format!("data: {json}\n\n"))
                        }
                        None => Bytes::from(data),
                    };
                    if tx.send(bytes).await.is_err() {
                        return;
                    }
                }
                return;
            }
            Some(WorkerMessage::Failed { message, .. }) => {
                guard.finished = true;
                let _ = tx
                    .send(error_event(
                        "worker-failed",
                        &format!("the worker failed mid-stream: {message}"),
                    ))
                    .await;
                return;
            }
            None => {
                let _ = tx
                    .send(error_event(
                        "worker-failed",
                        "the worker disconnected mid-stream",
                    ))
                    .await;
                return;
            }
            Some(other) => {
                let _ = tx
                    .send(error_event(
                        "worker-failed",
                        &format!("protocol violation: unexpected {}", kind(&other)),
                    ))
                    .await;
                return;
            }
        }
    }
}

enum Event {
    Plain,
    Usage(Value),
    Done,
}

fn classify(event: &str) -> Event {
    let data: String = event
        .lines()
        .filter_map(|l| l.strip_prefix("data:"))
        .map(|d| d.strip_prefix(' ').unwrap_or(d))
        .collect::<Vec<_>>()
        .join("\n");
    if data == "[DONE]" {
        return Event::Done;
    }
    if !data.contains("\"usage\"") {
        return Event::Plain;
    }
    match serde_json::from_str::<Value>(&data) {
        Ok(json) if json.get("usage").is_some_and(|u| !u.is_null()) => Event::Usage(json),
        _ => Event::Plain,
    }
}

fn add_cost(json: &mut Value, cost: u128, remaining: u128) {
    if let Some(usage) = json.get_mut("usage").and_then(Value::as_object_mut) {
        usage.insert(
            "cost_nanoton".into(),
            json!(u64::try_from(cost).unwrap_or(u64::MAX)),
        );
        usage.insert(
            "balance_nanoton".into(),
            json!(u64::try_from(remaining).unwrap_or(u64::MAX)),
        );
    }
}

/// An SSE event OpenAI clients read as an error (they raise on a chunk with `error`).
fn error_event(name: &str, message: &str) -> Bytes {
    let event = json!({"error": {"message": message, "type": name, "code": name}});
    Bytes::from(format!("data: {event}\n\n"))
}

fn kind(message: &WorkerMessage) -> &'static str {
    match message {
        WorkerMessage::Hello { .. } => "hello",
        WorkerMessage::Advertise { .. } => "advertise",
        WorkerMessage::Heartbeat => "heartbeat",
        WorkerMessage::Chunk { .. } => "chunk",
        WorkerMessage::Done { .. } => "done",
        WorkerMessage::Failed { .. } => "failed",
        WorkerMessage::JobAccepted { .. } => "job_accepted",
        WorkerMessage::JobResult { .. } => "job_result",
        WorkerMessage::JobFailed { .. } => "job_failed",
    }
}

pub(crate) fn unknown_model(model: &str) -> Problem {
    Problem::new(
        StatusCode::NOT_FOUND,
        "unknown-model",
        "Unknown model",
        format!("no worker serves model {model:?}"),
    )
}

pub(crate) fn no_capacity(gw: &Gateway, model: &str, why: &str) -> Problem {
    Problem::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "no-capacity",
        "No capacity",
        format!("model {model:?}: {why}"),
    )
    .retry_after(gw.config.retry_after_secs)
}

fn bad_result(reason: String) -> Problem {
    Problem::new(
        StatusCode::BAD_GATEWAY,
        "bad-worker-result",
        "The worker's result failed verification",
        reason,
    )
}

fn backend_refused(status: u16, body: Option<String>, message: String) -> Problem {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
    let backend: Option<Value> = body.as_deref().and_then(|b| serde_json::from_str(b).ok());
    let mut problem = Problem::new(
        status,
        "backend-refused",
        "The inference server refused the request",
        message,
    );
    if let Some(backend) = backend {
        problem = problem.with("backend", backend);
    }
    problem
}
