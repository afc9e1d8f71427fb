//! The job API (mount [`router`] on the relayer's server).
//!
//! | route | what |
//! |---|---|
//! | `POST /v1/jobs` | `{escrow, client, nonce, spec}`: checks the escrow on-chain ([`super::escrow`]), records the job as funded with its spec; idempotent. 202 with the job's status |
//! | `GET /v1/jobs/{escrow}` | state, amount, deadline, current lease |
//! | `GET /v1/jobs/{escrow}/acceptance` | every signed acceptance (the slashing evidence for `expire`) |
//! | `GET /v1/jobs/{escrow}/result` | the stored result, to the job's client only |
//!
//! **Reading a result.** The client signs the SDK's `job_escrow::ResultRead`
//! {global_id, escrow, nonce, this relayer's address, valid_until} (tag `JGET`) with
//! its wallet's key and sends `Spindle-Valid-Until: <unix secs>` and
//! `Spindle-Signature: <hex ed25519>`. The relayer reads the key from the client
//! wallet's `get_public_key` on-chain (the client is the escrow's creator, so only
//! who holds that wallet's key can read). 401 without the headers or past
//! `valid_until` (or more than `read_validity_secs` ahead), 403 when the signature is
//! not the client's.
//!
//! Errors are problem+json; a refused request changes nothing.

use super::escrow::EscrowError;
use super::scheduler::spec_shape;
use super::{Jobs, unix_now};
use crate::gateway::problem::Problem;
use crate::store::{Job, StoreError};
use axum::Router;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Value, json};
use spindle_sdk::protocol::job_escrow::{self as je, ResultRead};
use spindle_sdk::signing::PayloadHeader;
use spindle_sdk::{Signature, TonAddress, address};
use std::sync::Arc;

/// The job API's routes over `jobs`.
pub fn router(jobs: Arc<Jobs>) -> Router {
    Router::new()
        .route("/v1/jobs", post(submit))
        .route("/v1/jobs/{escrow}", get(status))
        .route("/v1/jobs/{escrow}/acceptance", get(acceptance))
        .route("/v1/jobs/{escrow}/result", get(result))
        .with_state(jobs)
}

type Answer = Result<Response, Problem>;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Submit {
    escrow: String,
    client: String,
    nonce: u64,
    spec: Value,
}

async fn submit(State(jobs): State<Arc<Jobs>>, body: Body) -> Answer {
    let bytes = axum::body::to_bytes(body, jobs.config.max_body_bytes)
        .await
        .map_err(|_| {
            Problem::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "body-too-large",
                "Body too large",
                format!(
                    "a job submission is at most {} bytes",
                    jobs.config.max_body_bytes
                ),
            )
        })?;
    let request: Submit = serde_json::from_slice(&bytes)
        .map_err(|e| Problem::bad_request(format!("the body is not a job submission: {e}")))?;
    let escrow = parse_addr("escrow", &request.escrow)?;
    let client = parse_addr("client", &request.client)?;
    spec_shape(&request.spec).map_err(|e| {
        Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "bad-spec",
            "The spec cannot be run",
            e,
        )
    })?;
    let spec_hash = je::spec_hash(&request.spec);
    let now = unix_now();
    let job = jobs
        .check_escrow(&escrow, &client, request.nonce, spec_hash, now)
        .await
        .map_err(escrow_problem)?;
    let canonical =
        String::from_utf8(je::canonical_spec(&request.spec)).expect("serde_json writes UTF-8");
    let stored = jobs
        .store
        .submit_job(&job, &canonical, now)
        .await
        .map_err(store_problem)?;
    // From now on the watcher follows the escrow: its settlement or refund reaches the
    // store from the chain, whoever posts it.
    jobs.store
        .watch(&stored.job.escrow, crate::store::WatchKind::JobEscrow, now)
        .await
        .map_err(store_problem)?;
    jobs.wake_scheduler();
    tracing::info!(escrow = %stored.job.escrow, "job submitted");
    Ok((StatusCode::ACCEPTED, axum::Json(job_json(&stored))).into_response())
}

async fn status(State(jobs): State<Arc<Jobs>>, Path(escrow): Path<String>) -> Answer {
    let job = load(&jobs, &escrow).await?;
    Ok(axum::Json(job_json(&job)).into_response())
}

async fn acceptance(State(jobs): State<Arc<Jobs>>, Path(escrow): Path<String>) -> Answer {
    let job = load(&jobs, &escrow).await?;
    let all = jobs
        .store
        .acceptances(&job.job.escrow)
        .await
        .map_err(store_problem)?;
    let list: Vec<Value> = all
        .iter()
        .map(|(seq, a)| {
            // The payload is the SDK's Acceptance cell: header, then the provider's owner.
            let owner = spindle_sdk::boc::from_boc(&a.payload)
                .ok()
                .and_then(|cell| {
                    let mut parser = cell.parser();
                    PayloadHeader::load(&mut parser).ok()?;
                    parser.load_address().ok().map(|o| address::to_raw(&o))
                });
            json!({
                "lease_seq": seq,
                "provider_owner": owner,
                "operator_key": hex::encode(a.operator_pubkey),
                "signature": hex::encode(a.signature),
                "payload_boc": hex::encode(&a.payload),
            })
        })
        .collect();
    if list.is_empty() {
        return Err(Problem::new(
            StatusCode::NOT_FOUND,
            "no-acceptance",
            "No acceptance yet",
            format!("no worker has accepted job {} yet", job.job.escrow),
        ));
    }
    Ok(axum::Json(json!({"escrow": job.job.escrow, "acceptances": list})).into_response())
}

async fn result(
    State(jobs): State<Arc<Jobs>>,
    Path(escrow): Path<String>,
    headers: HeaderMap,
) -> Answer {
    let job = load(&jobs, &escrow).await?;
    authorize_read(&jobs, &job, &headers).await?;
    let Some((seq, result)) = jobs
        .store
        .latest_result(&job.job.escrow)
        .await
        .map_err(store_problem)?
    else {
        return Err(Problem::new(
            StatusCode::NOT_FOUND,
            "no-result",
            "No result yet",
            format!(
                "job {} has no stored result yet (state {})",
                job.job.escrow, job.state
            ),
        ));
    };
    Ok(axum::Json(json!({
        "escrow": job.job.escrow,
        "lease_seq": seq,
        "result_hash": hex::encode(result.result_hash),
        "usage": {"prompt_tokens": result.usage.input_tokens, "completion_tokens": result.usage.output_tokens},
        "worker_key": hex::encode(result.worker_pubkey),
        "worker_signature": hex::encode(result.worker_signature),
        "result": String::from_utf8_lossy(&result.body),
    }))
    .into_response())
}

/// Checks the client's signed read request (see the module docs).
async fn authorize_read(jobs: &Jobs, job: &Job, headers: &HeaderMap) -> Result<(), Problem> {
    let unauthorized = |detail: String| {
        Problem::new(
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            "Sign the request with the client's wallet key",
            detail,
        )
    };
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
            .ok_or_else(|| unauthorized(format!("the {name} header is missing")))
    };
    let valid_until: u32 = header("spindle-valid-until")?
        .parse()
        .map_err(|_| unauthorized("Spindle-Valid-Until is not unix seconds".into()))?;
    let now = unix_now();
    if i64::from(valid_until) < now
        || i64::from(valid_until) > now + i64::from(jobs.config.read_validity_secs)
    {
        return Err(unauthorized(format!(
            "Spindle-Valid-Until must lie between now ({now}) and {} s ahead",
            jobs.config.read_validity_secs
        )));
    }
    let signature: [u8; 64] = hex::decode(header("spindle-signature")?)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| unauthorized("Spindle-Signature is not 64 hex bytes".into()))?;
    let escrow = parse_addr("escrow", &job.job.escrow)?;
    let client = parse_addr("client", &job.job.client)?;
    let payload = ResultRead {
        global_id: jobs.config.global_id,
        escrow,
        nonce: job.job.nonce,
        relayer: jobs.identity.clone(),
        valid_until,
    }
    .payload()
    .map_err(|e| Problem::bad_request(e.to_string()))?;
    let not_client = |detail: &str| {
        Problem::new(
            StatusCode::FORBIDDEN,
            "not-the-client",
            "Not the job's client",
            detail.to_owned(),
        )
    };
    let Some(key) = jobs.client_key(&client).await.map_err(chain_down)? else {
        return Err(not_client(
            "the escrow's client has no get_public_key, so it cannot sign result reads",
        ));
    };
    spindle_sdk::signing::verify(&key, &payload, &Signature::from_bytes(&signature))
        .map_err(|_| not_client("the signature is not by the key of the escrow's client wallet"))
}

async fn load(jobs: &Jobs, escrow: &str) -> Result<Job, Problem> {
    let escrow = address::to_raw(&parse_addr("escrow", escrow)?);
    jobs.store
        .job(&escrow)
        .await
        .map_err(store_problem)?
        .ok_or_else(|| {
            Problem::new(
                StatusCode::NOT_FOUND,
                "unknown-job",
                "Unknown job",
                format!("no job at escrow {escrow} was submitted here"),
            )
        })
}

fn job_json(job: &Job) -> Value {
    json!({
        "escrow": job.job.escrow,
        "client": job.job.client,
        "nonce": job.job.nonce,
        "amount": job.job.amount.to_string(),
        "deadline": job.job.deadline,
        "spec_hash": hex::encode(job.job.spec_hash),
        "state": job.state.as_str(),
        "lease": job.lease.as_ref().map(|l| json!({
            "seq": l.seq, "worker": l.worker, "expires_at": l.expires_at,
        })),
    })
}

fn parse_addr(field: &str, text: &str) -> Result<TonAddress, Problem> {
    address::parse_address(text)
        .map_err(|e| Problem::bad_request(format!("{field} is not a TON address: {e}")))
}

fn chain_down(detail: String) -> Problem {
    Problem::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "chain-unavailable",
        "The chain API is unavailable",
        detail,
    )
    .retry_after(5)
}

fn escrow_problem(e: EscrowError) -> Problem {
    let (status, name, title) = match &e {
        EscrowError::AddressMismatch { .. } => (
            StatusCode::UNPROCESSABLE_ENTITY,
            "escrow-mismatch",
            "Not an escrow of this hub",
        ),
        EscrowError::NotDeployed(_) => (StatusCode::NOT_FOUND, "unknown-escrow", "Unknown escrow"),
        EscrowError::NotFunded(_) => (
            StatusCode::PAYMENT_REQUIRED,
            "escrow-not-funded",
            "The escrow is not funded",
        ),
        EscrowError::Closed { .. } => (
            StatusCode::CONFLICT,
            "escrow-closed",
            "The escrow is closed",
        ),
        EscrowError::BelowFloor { .. } => (
            StatusCode::PAYMENT_REQUIRED,
            "below-price-floor",
            "The escrow holds too little",
        ),
        EscrowError::DeadlineTooClose { .. } => (
            StatusCode::UNPROCESSABLE_ENTITY,
            "deadline-too-close",
            "The deadline is too close",
        ),
        EscrowError::SpecHashMismatch { .. } => (
            StatusCode::UNPROCESSABLE_ENTITY,
            "spec-hash-mismatch",
            "The spec is not the escrow's",
        ),
        EscrowError::OtherRelayerSet { .. } => (
            StatusCode::UNPROCESSABLE_ENTITY,
            "escrow-relayer-set",
            "The escrow is not for this relayer set",
        ),
        EscrowError::Chain(detail) => return chain_down(detail.clone()),
    };
    Problem::new(status, name, title, e.to_string())
}

fn store_problem(e: StoreError) -> Problem {
    match e {
        StoreError::JobMismatch(_) => Problem::new(
            StatusCode::CONFLICT,
            "job-conflict",
            "The job is recorded with other terms",
            e.to_string(),
        ),
        e => {
            tracing::error!(error = %e, "store failed");
            Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "store-unavailable",
                "The relayer's store is unavailable",
                e.to_string(),
            )
            .retry_after(5)
        }
    }
}
