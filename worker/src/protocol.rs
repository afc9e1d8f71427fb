//! The worker ↔ relayer protocol, shared by both sides.
//!
//! The worker dials out to the relayer (`GET /v1/worker/connect`, WebSocket);
//! every message is one JSON text frame, tagged by `type`.
//!
//! ```text
//! relayer → worker   challenge {relayer, global_id, challenge}
//! worker  → relayer  hello {operator_key, owner, signature}        signature over auth_payload
//! relayer → worker   welcome {heartbeat_secs}                       or a close frame with the reason
//! worker  → relayer  advertise {max_concurrency, models[{id, prices}]}   again whenever it changes;
//!                                                                  no models = capacity withdrawn
//! worker  → relayer  heartbeat                                      every heartbeat_secs
//! relayer → worker   request {id, endpoint, body, stream}
//! worker  → relayer  chunk {id, data}*  then  done {id, body?, usage, result_hash, signature}
//!                                       or   failed {id, status?, message, body?, started}
//! relayer → worker   cancel {id}                                    the client went away
//!
//! relayer → worker   job_offer {id, escrow, nonce, deadline, endpoint, body}   a leased escrow job
//! worker  → relayer  job_accepted {id, signature}                   signature over the SDK's
//!                                                                  job_escrow::Acceptance (JACC)
//! worker  → relayer  job_result {id, body, usage, result_hash, signature}   signature over
//!                                                                  job_result_payload (JRES)
//!                    or job_failed {id, message}                    declined, or the backend failed
//! ```
//!
//! A job offer counts against the worker's `max_concurrency` like a request.
//! The acceptance makes the provider's stake slashable if the job then expires
//! undelivered, so a worker accepts only what it is about to run.
//!
//! Both signatures use [`spindle_sdk::signing`]'s payload convention with the
//! relayer's address as target, so an authentication or a result signed for
//! one relayer (or network) is worthless to another.

use crate::backend::{Endpoint, ResultHash, Usage};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use spindle_sdk::signing::{self, PayloadHeader, tag};
use spindle_sdk::{Cell, Signature, SigningKey, TonAddress, VerifyingKey};

/// Tag of the worker's answer to a relayer's challenge.
pub const AUTH_TAG: u32 = tag(b"WAUT");
/// Tag of the worker's signature over one served request.
pub const RESULT_TAG: u32 = tag(b"WRES");
/// Tag of the worker's signature over an escrow job's result.
/// The path workers connect to.
pub const CONNECT_PATH: &str = "/v1/worker/connect";

/// Prices of one model, in nanoTON per million tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Prices {
    pub prompt: u64,
    /// Prompt tokens the backend served from its prompt cache.
    pub cached_prompt: u64,
    pub completion: u64,
}

impl Prices {
    /// What `usage` costs at these prices, in nanoTON, rounded up (a request
    /// that used tokens never costs 0). Cached tokens are part of
    /// `prompt_tokens` and priced at `cached_prompt` instead of `prompt`.
    /// Saturates: usage and prices come from the worker, and each product fits a
    /// u128 but their sum may not (the `worker_protocol` fuzz target checks this).
    pub fn cost(&self, usage: &Usage) -> u128 {
        let cached = usage.cached_tokens.min(usage.prompt_tokens);
        let micro = ((usage.prompt_tokens - cached) as u128 * self.prompt as u128)
            .saturating_add(cached as u128 * self.cached_prompt as u128)
            .saturating_add(usage.completion_tokens as u128 * self.completion as u128);
        micro.div_ceil(1_000_000)
    }

    /// The worst case of a request: `prompt` uncached prompt tokens plus
    /// `completion` generated ones.
    pub fn worst_case(&self, prompt: u64, completion: u64) -> u128 {
        self.cost(&Usage {
            prompt_tokens: prompt,
            completion_tokens: completion,
            total_tokens: prompt.saturating_add(completion),
            cached_tokens: 0,
        })
    }
}

/// One model a worker serves and its prices.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelOffer {
    pub id: String,
    pub prices: Prices,
}

/// Messages the relayer sends.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum RelayerMessage {
    Challenge {
        /// The relayer's address (raw form): the signed payload's target.
        relayer: String,
        global_id: i32,
        /// 32 random bytes, hex.
        challenge: String,
    },
    Welcome {
        heartbeat_secs: u64,
    },
    Request {
        id: u64,
        endpoint: Endpoint,
        body: Map<String, Value>,
        stream: bool,
    },
    Cancel {
        id: u64,
    },
    /// An escrow job leased to this worker: run `body` on `endpoint` (never
    /// streamed), accept first, then return the signed result.
    JobOffer {
        /// This dispatch's id (a new one for every lease).
        id: u64,
        /// The escrow's address (raw form): the signed payloads' target.
        escrow: String,
        nonce: u64,
        /// Unix seconds by which the result must be delivered.
        deadline: u32,
        endpoint: Endpoint,
        body: Map<String, Value>,
    },
}

/// Messages the worker sends.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum WorkerMessage {
    Hello {
        /// The provider's operator public key, hex.
        operator_key: String,
        /// The provider's owner address (raw form).
        owner: String,
        /// ed25519 over [`auth_payload`], hex.
        signature: String,
    },
    Advertise {
        max_concurrency: u32,
        models: Vec<ModelOffer>,
    },
    Heartbeat,
    /// One whole SSE event of a streamed answer, exactly as the backend sent it.
    Chunk {
        id: u64,
        data: String,
    },
    Done {
        id: u64,
        /// The whole body of a non-streamed answer, exactly as the backend sent it.
        body: Option<String>,
        usage: Usage,
        /// SHA-256 of every byte of the answer (the body, or all chunks), hex.
        result_hash: String,
        /// ed25519 over [`result_payload`], hex.
        signature: String,
    },
    Failed {
        id: u64,
        /// The backend's HTTP status when it refused the request.
        status: Option<u16>,
        message: String,
        /// The backend's error body, when it sent one.
        body: Option<String>,
        /// Whether any chunk was sent before the failure.
        started: bool,
    },
    /// The provider accepts job offer `id`: ed25519 (operator key) over the
    /// SDK's `job_escrow::Acceptance` {global_id, escrow, nonce, owner}, hex.
    JobAccepted {
        id: u64,
        signature: String,
    },
    /// The answer to job offer `id`.
    JobResult {
        id: u64,
        /// The whole body, exactly as the backend sent it.
        body: String,
        usage: Usage,
        /// SHA-256 of the body's bytes, hex.
        result_hash: String,
        /// ed25519 over [`job_result_payload`], hex.
        signature: String,
    },
    /// Job offer `id` was declined (before acceptance) or failed (after).
    JobFailed {
        id: u64,
        message: String,
    },
}

impl WorkerMessage {
    /// The request or job id a message is about (none for session messages).
    pub fn id(&self) -> Option<u64> {
        match self {
            WorkerMessage::Chunk { id, .. }
            | WorkerMessage::Done { id, .. }
            | WorkerMessage::Failed { id, .. }
            | WorkerMessage::JobAccepted { id, .. }
            | WorkerMessage::JobResult { id, .. }
            | WorkerMessage::JobFailed { id, .. } => Some(*id),
            _ => None,
        }
    }

    /// Whether this is the last message about its id.
    pub fn is_final(&self) -> bool {
        matches!(
            self,
            WorkerMessage::Done { .. }
                | WorkerMessage::Failed { .. }
                | WorkerMessage::JobResult { .. }
                | WorkerMessage::JobFailed { .. }
        )
    }
}

/// The cell a worker signs to authenticate: target = the relayer, id = the
/// challenge's first 8 bytes; body = the whole challenge and the owner.
pub fn auth_payload(
    global_id: i32,
    relayer: &TonAddress,
    challenge: &[u8; 32],
    owner: &TonAddress,
) -> spindle_sdk::Result<Cell> {
    let header = PayloadHeader {
        tag: AUTH_TAG,
        global_id,
        target: relayer.clone(),
        id: u64::from_be_bytes(challenge[..8].try_into().expect("8 bytes")),
    };
    header.cell_with(|b| {
        b.store_slice(challenge)?.store_raw_address(owner)?;
        Ok(())
    })
}

/// The cell a worker signs for a served request: target = the relayer,
/// id = the request id; body = result hash and the four token counts.
pub fn result_payload(
    global_id: i32,
    relayer: &TonAddress,
    request_id: u64,
    result_hash: &ResultHash,
    usage: &Usage,
) -> spindle_sdk::Result<Cell> {
    let header = PayloadHeader {
        tag: RESULT_TAG,
        global_id,
        target: relayer.clone(),
        id: request_id,
    };
    header.cell_with(|b| {
        b.store_slice(&result_hash.0)?
            .store_u64(64, usage.prompt_tokens)?
            .store_u64(64, usage.cached_tokens)?
            .store_u64(64, usage.completion_tokens)?
            .store_u64(64, usage.total_tokens)?;
        Ok(())
    })
}

/// The cell a worker signs for an escrow job's result: the SDK's
/// [`JobResult`](spindle_sdk::protocol::job_escrow::JobResult) (tag `JRES`,
/// target = the escrow, id = the job's nonce; the provider's owner, the result
/// hash and the token counts). It names the job, not a relayer, so every
/// relayer of the set checks the same signature before signing the completion.
pub fn job_result_payload(
    global_id: i32,
    escrow: &TonAddress,
    nonce: u64,
    owner: &TonAddress,
    result_hash: &ResultHash,
    usage: &Usage,
) -> spindle_sdk::Result<Cell> {
    spindle_sdk::protocol::job_escrow::JobResult {
        global_id,
        escrow: escrow.clone(),
        nonce,
        provider_owner: owner.clone(),
        result_hash: result_hash.0,
        input_tokens: usage.prompt_tokens,
        output_tokens: usage.completion_tokens,
    }
    .payload()
}

/// Signs a payload; hex, as it travels.
pub fn sign_hex(key: &SigningKey, payload: &Cell) -> String {
    hex::encode(signing::sign(key, payload).to_bytes())
}

/// Checks a hex signature made by [`sign_hex`].
pub fn verify_hex(key: &VerifyingKey, payload: &Cell, signature: &str) -> Result<(), String> {
    let bytes = hex::decode(signature).map_err(|e| format!("signature is not hex: {e}"))?;
    let bytes: [u8; 64] = bytes
        .try_into()
        .map_err(|_| "signature is not 64 bytes".to_owned())?;
    signing::verify(key, payload, &Signature::from_bytes(&bytes)).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usage(prompt: u64, cached: u64, completion: u64) -> Usage {
        Usage {
            prompt_tokens: prompt,
            completion_tokens: completion,
            total_tokens: prompt.saturating_add(completion),
            cached_tokens: cached,
        }
    }

    #[test]
    fn cost_prices_cached_tokens_apart_and_rounds_up() {
        let p = Prices {
            prompt: 1_000_000,
            cached_prompt: 100_000,
            completion: 2_000_000,
        };
        // 6 uncached × 1 + 4 cached × 0.1 + 5 × 2 = 16.4 → 17
        assert_eq!(p.cost(&usage(10, 4, 5)), 17);
        assert_eq!(p.cost(&usage(0, 0, 0)), 0);
        assert_eq!(p.worst_case(10, 5), 20);
    }

    #[test]
    fn cost_of_extreme_usage_saturates_instead_of_wrapping() {
        let max = Prices {
            prompt: u64::MAX,
            cached_prompt: u64::MAX,
            completion: u64::MAX,
        };
        let all = usage(u64::MAX, 0, u64::MAX);
        // Two products of (2^64 - 1)^2 overflow a u128: the bill saturates at the top,
        // not a wrapped small one.
        assert_eq!(max.cost(&all), u128::MAX.div_ceil(1_000_000));
        assert_eq!(
            max.worst_case(u64::MAX, u64::MAX),
            u128::MAX.div_ceil(1_000_000)
        );
    }

    #[test]
    fn result_signature_binds_every_field() {
        let key = SigningKey::from_bytes(&[7; 32]);
        let relayer = TonAddress::new(0, [1; 32].into());
        let hash = ResultHash([9; 32]);
        let payload = result_payload(-3, &relayer, 42, &hash, &usage(3, 0, 2)).unwrap();
        let sig = sign_hex(&key, &payload);
        assert!(verify_hex(&key.verifying_key(), &payload, &sig).is_ok());
        for other in [
            result_payload(-3, &relayer, 43, &hash, &usage(3, 0, 2)),
            result_payload(-3, &relayer, 42, &hash, &usage(3, 0, 1)),
            result_payload(-239, &relayer, 42, &hash, &usage(3, 0, 2)),
            result_payload(-3, &relayer, 42, &ResultHash([8; 32]), &usage(3, 0, 2)),
        ] {
            assert!(verify_hex(&key.verifying_key(), &other.unwrap(), &sig).is_err());
        }
    }
}
