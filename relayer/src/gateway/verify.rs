//! Checks a worker's result before anything is charged: the bytes match the
//! result hash, the usage matches what the answer itself reports, and the
//! operator key signed (request id, result hash, usage) for this relayer.

use super::Gateway;
use super::pool::WorkerLink;
use sha2::{Digest, Sha256};
use spindle_worker::backend::{ResultHash, Usage};
use spindle_worker::protocol::{result_payload, verify_hex};

/// What the worker's `done` message claims.
pub(crate) struct Claim<'a> {
    pub usage: &'a Usage,
    pub result_hash: &'a str,
    pub signature: &'a str,
}

/// `delivered`: SHA-256 of the bytes received; `reported_usage`: the usage the
/// answer itself carries.
pub(crate) fn verify_result(
    gw: &Gateway,
    link: &WorkerLink,
    request_id: u64,
    delivered: [u8; 32],
    reported_usage: Option<Usage>,
    claim: Claim<'_>,
) -> Result<(), String> {
    let Claim {
        usage,
        result_hash,
        signature,
    } = claim;
    let delivered = ResultHash(delivered);
    if delivered.to_string() != result_hash {
        return Err(format!(
            "result hash {result_hash} does not match the delivered bytes ({delivered})"
        ));
    }
    if reported_usage.as_ref() != Some(usage) {
        return Err(format!(
            "signed usage {usage:?} differs from the answer's {reported_usage:?}"
        ));
    }
    let payload = result_payload(
        gw.config.global_id,
        &gw.identity,
        request_id,
        &delivered,
        usage,
    )
    .map_err(|e| e.to_string())?;
    verify_hex(&link.operator_key, &payload, signature)
        .map_err(|e| format!("bad result signature: {e}"))
}

pub(crate) fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}
