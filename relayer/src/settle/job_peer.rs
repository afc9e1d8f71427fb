//! The peer API for escrow jobs: `POST /v1/peer/job-sign`, where a job's coordinator
//! asks the other relayers of the set to sign its completion proof. The request carries
//! the result itself (body, usage, the worker's signature), because each signer checks
//! and stores it before signing ([`super::job_signer`]).
//!
//! Authenticated exactly like `/v1/peer/voucher-sign` ([`super::peer`]): the requester's
//! signature over `"PEER" from to sent_at ^completion_payload`. The result needs no
//! separate authentication: its hash is in the completion and the worker signed it.
//! Malformed or oversized requests ([`MAX_REQUEST_BYTES`]) get a 4xx problem+json too.
//! A refusal is problem+json (409, or 503 when the chain or store is unavailable) with
//! a `refusal` member naming the reason ([`JobRefusal::code`]).

use std::sync::Arc;

use axum::extract::rejection::JsonRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use spindle_sdk::protocol::job_escrow::Completion;
use spindle_sdk::{Signature, SigningKey, TonAddress, VerifyingKey, address};

use super::job_signer::{CompletionClaim, JobRefusal, JobSigner};
use super::peer::{SignResponse, ask_peer, authenticate, sign_request};
use crate::gateway::problem::Problem;
use crate::store::{StoredResult, Usage};

pub const PATH: &str = "/v1/peer/job-sign";
/// Largest request accepted: the result body travels hex-encoded inside it.
pub const MAX_REQUEST_BYTES: usize = 8 << 20;

/// A request for a completion signature.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct JobSignRequest {
    pub global_id: i32,
    pub escrow: String,
    pub nonce: u64,
    pub provider_owner: String,
    pub pay: u64,
    /// Hex SHA-256 of the result body.
    pub result_hash: String,
    /// The coordinator's lease that produced the result.
    pub lease_seq: u64,
    /// Hex result body, usage and the worker's JRES signature.
    pub body: String,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub worker_pubkey: String,
    pub worker_signature: String,
    /// Hex ed25519 keys of the requester and of the relayer asked.
    pub from: String,
    pub to: String,
    pub sent_at: u64,
    /// Hex signature of the requester over the auth cell.
    pub signature: String,
}

fn hex_array<const N: usize>(s: &str, what: &str) -> Result<[u8; N], String> {
    hex::decode(s)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| format!("{what} is not {N} hex bytes"))
}

impl JobSignRequest {
    /// A request from `key` to the relayer `to` for `claim`, signed now.
    pub fn new(
        claim: &CompletionClaim,
        key: &SigningKey,
        to: &VerifyingKey,
    ) -> Result<Self, String> {
        let c = &claim.completion;
        let payload = c.payload().map_err(|e| e.to_string())?;
        let (sent_at, signature) = sign_request(key, to, payload)?;
        let r = &claim.result;
        Ok(Self {
            global_id: c.global_id,
            escrow: address::to_raw(&c.escrow),
            nonce: c.nonce,
            provider_owner: address::to_raw(&c.provider_owner),
            pay: c.pay,
            result_hash: hex::encode(c.result_hash),
            lease_seq: claim.lease_seq,
            body: hex::encode(&r.body),
            input_tokens: r.usage.input_tokens,
            output_tokens: r.usage.output_tokens,
            worker_pubkey: hex::encode(r.worker_pubkey),
            worker_signature: hex::encode(r.worker_signature),
            from: hex::encode(key.verifying_key().to_bytes()),
            to: hex::encode(to.as_bytes()),
            sent_at,
            signature,
        })
    }

    pub fn claim(&self) -> Result<CompletionClaim, String> {
        let addr = |s: &str| -> Result<TonAddress, String> {
            address::parse_address(s).map_err(|e| e.to_string())
        };
        let result_hash = hex_array(&self.result_hash, "result_hash")?;
        Ok(CompletionClaim {
            completion: Completion {
                global_id: self.global_id,
                escrow: addr(&self.escrow)?,
                nonce: self.nonce,
                provider_owner: addr(&self.provider_owner)?,
                pay: self.pay,
                result_hash,
            },
            lease_seq: self.lease_seq,
            result: StoredResult {
                result_hash,
                body: hex::decode(&self.body).map_err(|_| "body is not hex")?,
                usage: Usage {
                    input_tokens: self.input_tokens,
                    output_tokens: self.output_tokens,
                },
                worker_pubkey: hex_array(&self.worker_pubkey, "worker_pubkey")?,
                worker_signature: hex_array(&self.worker_signature, "worker_signature")?,
            },
        })
    }
}

/// The job peer API's state: this relayer's job signer and the keys of its peers.
pub struct JobPeerApi {
    pub signer: Arc<JobSigner>,
    pub peers: Vec<VerifyingKey>,
}

impl JobPeerApi {
    pub fn router(self: &Arc<Self>) -> Router {
        Router::new()
            .route(PATH, post(job_sign))
            .layer(DefaultBodyLimit::max(MAX_REQUEST_BYTES))
            .with_state(self.clone())
    }
}

async fn job_sign(
    State(api): State<Arc<JobPeerApi>>,
    body: Result<Json<JobSignRequest>, JsonRejection>,
) -> Response {
    let req = match body {
        Ok(Json(req)) => req,
        Err(e) => {
            return Problem::new(
                e.status(),
                "malformed-request",
                "Malformed request",
                e.body_text(),
            )
            .into_response();
        }
    };
    let claim = match req.claim() {
        Ok(c) => c,
        Err(e) => return Problem::bad_request(e).into_response(),
    };
    let me = api.signer.key.verifying_key();
    let payload = match claim.completion.payload() {
        Ok(p) => p,
        Err(e) => return Problem::bad_request(e.to_string()).into_response(),
    };
    let peer = match authenticate(
        &req.from,
        &req.to,
        req.sent_at,
        &req.signature,
        &me,
        &api.peers,
        payload,
    ) {
        Ok(peer) => peer,
        Err(e) => {
            tracing::warn!(from = %req.from, error = %e, "refused a peer request");
            return Problem::new(
                StatusCode::UNAUTHORIZED,
                "peer-unauthenticated",
                "Peer not authenticated",
                e,
            )
            .into_response();
        }
    };
    let Some(from) = api.signer.set.index_of(&peer) else {
        return refusal(&req.escrow, JobRefusal::OtherRelayerSet);
    };
    match api.signer.sign(&claim, Some(from)).await {
        Ok(sig) => Json(SignResponse {
            signer: hex::encode(me.to_bytes()),
            signature: hex::encode(sig.to_bytes()),
        })
        .into_response(),
        Err(e) => refusal(&req.escrow, e),
    }
}

fn refusal(escrow: &str, e: JobRefusal) -> Response {
    tracing::warn!(escrow = %escrow, error = %e, "refused to sign a job completion");
    let status = if e.is_transient() {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::CONFLICT
    };
    Problem::new(
        status,
        "job-sign-refused",
        "Completion refused",
        e.to_string(),
    )
    .with("refusal", serde_json::Value::from(e.code()))
    .into_response()
}

/// Asks one peer for its signature over `claim` and checks it before returning it.
pub async fn request_job_signature(
    http: &reqwest::Client,
    url: &str,
    peer: &VerifyingKey,
    key: &SigningKey,
    claim: &CompletionClaim,
) -> Result<Signature, String> {
    let req = JobSignRequest::new(claim, key, peer)?;
    let payload = claim.completion.payload().map_err(|e| e.to_string())?;
    ask_peer(http, url, PATH, &req, peer, &payload).await
}
