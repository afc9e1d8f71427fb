//! Serves one relayed request through the backend: streamed answers are passed
//! on one whole SSE event at a time as they arrive; the result is signed
//! (request id, result hash, usage) with the operator key.

use crate::backend::{Backend, BackendError, Endpoint, Request, ResultHash, Usage};
use crate::protocol::{WorkerMessage, job_result_payload, result_payload, sign_hex};
use futures::StreamExt;
use spindle_sdk::{SigningKey, TonAddress};
use std::sync::Arc;
use tokio::sync::{Notify, mpsc};

/// What a session knows that every request it serves needs.
pub(crate) struct ServeContext {
    pub backend: Backend,
    pub key: SigningKey,
    pub global_id: i32,
    pub relayer: TonAddress,
    /// The provider's owner address (named in job acceptances).
    pub owner: TonAddress,
    /// Poked when the backend is found unavailable, for an immediate health check.
    pub recheck: Arc<Notify>,
}

pub(crate) async fn serve(
    ctx: Arc<ServeContext>,
    id: u64,
    endpoint: Endpoint,
    body: Request,
    stream: bool,
    out: mpsc::UnboundedSender<WorkerMessage>,
) {
    let mut started = false;
    let result = if stream {
        serve_stream(&ctx, id, endpoint, body, &out, &mut started).await
    } else {
        serve_whole(&ctx, id, endpoint, body).await
    };
    let message = match result {
        Ok(done) => done,
        Err(e) => {
            if e.is_unavailable() {
                ctx.recheck.notify_one();
            }
            tracing::warn!(id, error = %e, "request failed");
            let (status, body) = match &e {
                BackendError::Status { status, body, .. } => {
                    (Some(status.as_u16()), Some(body.clone()))
                }
                _ => (None, None),
            };
            WorkerMessage::Failed {
                id,
                status,
                message: e.to_string(),
                body,
                started,
            }
        }
    };
    // The session is gone when this fails; nothing is left to tell.
    let _ = out.send(message);
}

async fn serve_whole(
    ctx: &ServeContext,
    id: u64,
    endpoint: Endpoint,
    body: Request,
) -> Result<WorkerMessage, BackendError> {
    let response = ctx.backend.send(endpoint, body).await?;
    let text = String::from_utf8(response.body.to_vec()).map_err(|e| BackendError::Malformed {
        url: endpoint.path().into(),
        reason: e.to_string(),
    })?;
    Ok(done(
        ctx,
        id,
        Some(text),
        response.usage,
        response.result_hash,
    ))
}

async fn serve_stream(
    ctx: &ServeContext,
    id: u64,
    endpoint: Endpoint,
    body: Request,
    out: &mpsc::UnboundedSender<WorkerMessage>,
    started: &mut bool,
) -> Result<WorkerMessage, BackendError> {
    let mut events = ctx.backend.send_stream(endpoint, body).await?;
    while let Some(event) = events.next().await {
        let event = event?;
        let data = String::from_utf8(event.to_vec()).map_err(|e| BackendError::Malformed {
            url: endpoint.path().into(),
            reason: e.to_string(),
        })?;
        *started = true;
        if out.send(WorkerMessage::Chunk { id, data }).is_err() {
            // The session closed: stop generating for nobody.
            break;
        }
    }
    let summary = events.summary().ok_or_else(|| BackendError::StreamCut {
        url: endpoint.path().into(),
        received: 0,
        reason: "the relayer connection closed mid-stream".into(),
    })?;
    Ok(done(ctx, id, None, summary.usage, summary.result_hash))
}

fn done(
    ctx: &ServeContext,
    id: u64,
    body: Option<String>,
    usage: Usage,
    result_hash: ResultHash,
) -> WorkerMessage {
    let payload = result_payload(ctx.global_id, &ctx.relayer, id, &result_hash, &usage)
        .expect("the result payload fits one cell");
    WorkerMessage::Done {
        id,
        body,
        usage,
        result_hash: result_hash.to_string(),
        signature: sign_hex(&ctx.key, &payload),
    }
}

/// Runs one escrow job: signs the acceptance (the provider's stake now answers
/// for it), runs the spec on the backend, signs (job, result hash, usage).
pub(crate) async fn serve_job(
    ctx: Arc<ServeContext>,
    id: u64,
    escrow: TonAddress,
    nonce: u64,
    endpoint: Endpoint,
    body: Request,
    out: mpsc::UnboundedSender<WorkerMessage>,
) {
    let acceptance = spindle_sdk::protocol::job_escrow::Acceptance {
        global_id: ctx.global_id,
        escrow: escrow.clone(),
        nonce,
        provider_owner: ctx.owner.clone(),
    };
    let message = match acceptance.payload() {
        Ok(payload) => {
            let accepted = WorkerMessage::JobAccepted {
                id,
                signature: sign_hex(&ctx.key, &payload),
            };
            if out.send(accepted).is_err() {
                return;
            }
            match run_job(&ctx, endpoint, body).await {
                Ok((text, usage, hash)) => {
                    let payload = job_result_payload(
                        ctx.global_id,
                        &escrow,
                        nonce,
                        &ctx.owner,
                        &hash,
                        &usage,
                    )
                    .expect("the job result payload fits one cell");
                    WorkerMessage::JobResult {
                        id,
                        body: text,
                        usage,
                        result_hash: hash.to_string(),
                        signature: sign_hex(&ctx.key, &payload),
                    }
                }
                Err(e) => {
                    if e.is_unavailable() {
                        ctx.recheck.notify_one();
                    }
                    tracing::warn!(id, error = %e, "job failed");
                    WorkerMessage::JobFailed {
                        id,
                        message: e.to_string(),
                    }
                }
            }
        }
        Err(e) => WorkerMessage::JobFailed {
            id,
            message: format!("cannot build the acceptance: {e}"),
        },
    };
    let _ = out.send(message);
}

/// The backend's whole answer to a job: its text, usage and the hash of its bytes.
async fn run_job(
    ctx: &ServeContext,
    endpoint: Endpoint,
    body: Request,
) -> Result<(String, Usage, ResultHash), BackendError> {
    let response = ctx.backend.send(endpoint, body).await?;
    let text = String::from_utf8(response.body.to_vec()).map_err(|e| BackendError::Malformed {
        url: endpoint.path().into(),
        reason: e.to_string(),
    })?;
    Ok((text, response.usage, response.result_hash))
}
