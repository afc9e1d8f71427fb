//! Errors of the store. Each refusal of a protocol rule has its own variant, so callers
//! (and the API's problem+json mapping) can tell "illegal" from "database down".

use crate::job::JobState;
use crate::outbox::OutboxState;

/// What went wrong in a store operation. A refused operation changed nothing.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("store URL {0:?} is not supported: use sqlite://path or postgres://user@host/db")]
    UnsupportedUrl(String),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration failed: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    #[error("stored data is inconsistent: {0}")]
    Corrupt(String),
    #[error("{field} = {value} does not fit the store's 63-bit integers")]
    OutOfRange { field: &'static str, value: u64 },

    #[error("job {0} is not in the store")]
    JobNotFound(String),
    #[error("job {0} is already in the store")]
    JobExists(String),
    #[error(
        "job {0} is in the store with other terms (client, nonce, amount, deadline or spec hash)"
    )]
    JobMismatch(String),
    #[error("job {escrow}: illegal transition {from} -> {to}")]
    IllegalTransition {
        escrow: String,
        from: JobState,
        to: JobState,
    },
    #[error("job {escrow}: moving to {to} needs its evidence; use the dedicated store method")]
    TransitionNeedsEvidence { escrow: String, to: JobState },
    #[error("job {escrow}: lease {seq} of worker {worker} is not the current live lease")]
    LeaseLost {
        escrow: String,
        seq: u64,
        worker: String,
    },
    #[error("account {account} is watched as {existing:?}, not {requested:?}")]
    WatchKindConflict {
        account: String,
        existing: super::WatchKind,
        requested: super::WatchKind,
    },
    #[error("transaction {account}:{lt} was seen before with a different hash")]
    TxHashMismatch { account: String, lt: u64 },

    #[error(
        "job {escrow}: already signed a different proof (result {signed_result}); refusing to sign another"
    )]
    ConflictingProof {
        escrow: String,
        signed_result: String,
    },
    #[error(
        "job {escrow}: result {stored} is stored; refusing to store or vouch for another result {offered}"
    )]
    DifferentResult {
        escrow: String,
        stored: String,
        offered: String,
    },
    #[error("job {escrow}: result {result} was recorded with another provider or pay")]
    ResultTermsDiffer { escrow: String, result: String },
    #[error("job {escrow}: result {result} is not stored; store a result before signing it")]
    ResultNotStored { escrow: String, result: String },
    #[error(
        "voucher {account}/{provider}: already signed epoch {signed_epoch} cumulative {signed_cumulative}; \
         refusing epoch {epoch} cumulative {cumulative}"
    )]
    VoucherNotMonotonic {
        account: String,
        provider: String,
        signed_epoch: u64,
        signed_cumulative: u64,
        epoch: u64,
        cumulative: u64,
    },

    #[error("outbox {id}: already prepared with a different payload")]
    OutboxConflict { id: String },
    #[error(
        "outbox {id}: expected state {expected} (attempt {attempts}) but the store has moved on"
    )]
    OutboxStale {
        id: String,
        expected: OutboxState,
        attempts: u32,
    },
    #[error("outbox item for job {escrow} is invalid: {reason}")]
    InvalidOutboxItem { escrow: String, reason: String },
    #[error("outbox {id}: not found")]
    OutboxNotFound { id: String },
    #[error("outbox {id}: the change observed on {observed} is not the target {target}")]
    OutboxWrongTarget {
        id: String,
        target: String,
        observed: String,
    },
    #[error(
        "outbox {id}: submission valid until {valid_until} may still land at {now}; wait before retrying"
    )]
    OutboxMayStillLand {
        id: String,
        valid_until: i64,
        now: i64,
    },
    #[error("posting lease of {holder} (token {token}) is not held any more")]
    NotPoster { holder: String, token: i64 },
}
