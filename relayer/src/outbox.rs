//! The outbox: every on-chain action this relayer sends, as a typed state machine.
//!
//! ```text
//! prepared ──submit──▶ submitted ──confirm (target's state changed)──▶ confirmed
//!    │                  │    ▲
//!    │             fail │    │ submit again (same id)
//!    │                  ▼    │
//!    │               failed_retryable
//!    └──────┴──supersede (target changed by someone else's post)──▶ superseded
//! ```
//!
//! An [`OutboxEntry<S>`] carries its state in its type, so only legal steps compile:
//! only a `Prepared` or `FailedRetryable` entry can be submitted, only a `Submitted` one
//! can fail or be confirmed, and confirming needs a [`TargetStateChanged`] from the
//! watcher (a wallet transaction landing is not enough: the target contract must have
//! acted). The store persists each step with a compare-and-set on (state, attempts), so
//! a stale copy of an entry (another replica, a retry loop) cannot step it twice.
//!
//! The id is derived from (kind, target, key), so preparing the same action again finds
//! the same row and a re-send is never a second action. A submission is persisted
//! *before* the message is sent (with its wallet seqno and `valid_until`, or highload
//! `query_id`); after a crash it is retried only once it can no longer land. The items
//! sent in one wallet message form one [`WalletSubmission`], stored with their ids and
//! resolved as a whole ([`crate::settle::submitter`]).

use std::fmt;
use std::marker::PhantomData;
use std::ops::Deref;

use sha2::{Digest, Sha256};

/// What an outbox item does on-chain.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OutboxKind {
    /// `complete` on a job escrow with k-of-n relayer signatures.
    Complete,
    /// A cumulative voucher posted to a compute account.
    Voucher,
    /// `expire` on a job escrow (with acceptance evidence if any).
    Expire,
    /// `deliver(result_hash)` signed by the provider's operator key.
    Deliver,
}

impl OutboxKind {
    pub const ALL: [OutboxKind; 4] = [
        OutboxKind::Complete,
        OutboxKind::Voucher,
        OutboxKind::Expire,
        OutboxKind::Deliver,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            OutboxKind::Complete => "complete",
            OutboxKind::Voucher => "voucher",
            OutboxKind::Expire => "expire",
            OutboxKind::Deliver => "deliver",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// The persisted state of an outbox item.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OutboxState {
    Prepared,
    Submitted,
    FailedRetryable,
    Confirmed,
    Superseded,
}

impl OutboxState {
    pub const ALL: [OutboxState; 5] = [
        OutboxState::Prepared,
        OutboxState::Submitted,
        OutboxState::FailedRetryable,
        OutboxState::Confirmed,
        OutboxState::Superseded,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            OutboxState::Prepared => "prepared",
            OutboxState::Submitted => "submitted",
            OutboxState::FailedRetryable => "failed_retryable",
            OutboxState::Confirmed => "confirmed",
            OutboxState::Superseded => "superseded",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

impl fmt::Display for OutboxState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Deterministic id of an on-chain action: hex SHA-256 of (kind, target, key).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OutboxId(String);

impl OutboxId {
    /// `key` tells actions of one kind on one target apart (e.g. the result hash of a
    /// proof, or epoch + cumulative amount of a voucher).
    pub fn derive(kind: OutboxKind, target: &str, key: &[u8]) -> Self {
        let mut h = Sha256::new();
        h.update(b"spindle/outbox/v1\0");
        h.update(kind.as_str().as_bytes());
        h.update([0]);
        h.update(target.as_bytes());
        h.update([0]);
        h.update(key);
        OutboxId(hex::encode(h.finalize()))
    }

    pub(crate) fn from_stored(s: String) -> Self {
        OutboxId(s)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for OutboxId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An action to put in the outbox.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewOutboxItem {
    pub kind: OutboxKind,
    /// The contract that acts on the message (escrow, compute account).
    pub target: String,
    /// Distinguishes actions of one kind on one target; part of the id.
    pub key: Vec<u8>,
    /// The message body as a BoC.
    pub payload: Vec<u8>,
    /// TON attached to the message (nanotons); the target returns what it does not use.
    pub value: u128,
    /// Earliest time to submit (unix seconds).
    pub not_before: i64,
}

impl NewOutboxItem {
    pub fn id(&self) -> OutboxId {
        OutboxId::derive(self.kind, &self.target, &self.key)
    }
}

/// How one submission was sent, so a re-send can be proven harmless.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Submission {
    /// Wallet v5 seqno of the external message carrying this action.
    pub wallet_seqno: Option<u32>,
    /// The external message is invalid after this time (unix seconds).
    pub valid_until: Option<i64>,
    /// Highload wallet v3 query id (the wallet refuses a repeated one).
    pub query_id: Option<u64>,
}

/// Where a wallet submission stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SubmissionState {
    /// Sent (or about to be): may still land until `valid_until`.
    Pending,
    /// The wallet's seqno passed it: the external message was accepted.
    Landed,
    /// `valid_until` passed with the seqno unused: it can never land.
    Expired,
}

impl SubmissionState {
    pub const ALL: [SubmissionState; 3] = [
        SubmissionState::Pending,
        SubmissionState::Landed,
        SubmissionState::Expired,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            SubmissionState::Pending => "pending",
            SubmissionState::Landed => "landed",
            SubmissionState::Expired => "expired",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// One external message of the relayer's wallet: one seqno and `valid_until`, carrying
/// the outbox items `items` (up to 255), stored before it is sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WalletSubmission {
    pub id: String,
    /// The posting lease (wallet) it was sent under.
    pub lease: String,
    pub seqno: u32,
    pub valid_until: i64,
    pub state: SubmissionState,
    pub items: Vec<OutboxId>,
    pub created_at: i64,
}

impl WalletSubmission {
    /// The id of the submission with `seqno` and `valid_until` under `lease`. Unique: a
    /// seqno is used again only after its earlier submission expired, so later.
    pub fn id_for(lease: &str, seqno: u32, valid_until: i64) -> String {
        format!("{lease}:{seqno}:{valid_until}")
    }
}

/// The watcher's report that the target contract's state changed as this action intended
/// (e.g. the escrow is completed), in the confirmed transaction (lt, hash).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TargetStateChanged {
    pub target: String,
    pub lt: u64,
    pub hash: [u8; 32],
}

/// Why a submission failed; both mean it can no longer land.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Failure {
    /// The chain API refused the external message outright.
    Rejected(String),
    /// Its `valid_until` (or query id lifetime) passed without the target changing.
    Expired,
}

/// Everything stored about an outbox item.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutboxRecord {
    pub id: OutboxId,
    pub kind: OutboxKind,
    pub target: String,
    pub payload: Vec<u8>,
    /// TON attached to the message (nanotons).
    pub value: u128,
    /// Submissions so far; rises by one per submit.
    pub attempts: u32,
    pub next_attempt_at: i64,
    /// The latest submission (set once submitted).
    pub submission: Option<Submission>,
    /// Fencing token of the posting lease the latest submission was made under.
    pub posting_token: Option<i64>,
    pub last_error: Option<String>,
    pub confirmation: Option<TargetStateChanged>,
    pub created_at: i64,
    pub updated_at: i64,
}

mod sealed {
    pub trait Sealed {}
}

/// A state marker of [`OutboxEntry`].
pub trait StateMarker: sealed::Sealed {
    const STATE: OutboxState;
}

/// States from which an item may be (re-)submitted or superseded.
pub trait Sendable: StateMarker + Sized {
    /// Wraps an entry of this state for a batch.
    fn pending(entry: OutboxEntry<Self>) -> Pending;
}

macro_rules! markers {
    ($($(#[$doc:meta])* $name:ident => $state:ident),* $(,)?) => {$(
        $(#[$doc])*
        #[derive(Debug)]
        pub struct $name;
        impl sealed::Sealed for $name {}
        impl StateMarker for $name {
            const STATE: OutboxState = OutboxState::$state;
        }
    )*};
}
markers! {
    /// Persisted, not yet sent.
    Prepared => Prepared,
    /// Sent (or about to be, the record written first); waiting for the target to change.
    Submitted => Submitted,
    /// The last submission can no longer land; due again at `next_attempt_at`.
    FailedRetryable => FailedRetryable,
    /// The target's state changed after our submission (terminal).
    Confirmed => Confirmed,
    /// The target's state changed without our submission (terminal).
    Superseded => Superseded,
}
impl Sendable for Prepared {
    fn pending(entry: OutboxEntry<Self>) -> Pending {
        Pending::Prepared(entry)
    }
}
impl Sendable for FailedRetryable {
    fn pending(entry: OutboxEntry<Self>) -> Pending {
        Pending::FailedRetryable(entry)
    }
}

/// An item that may be sent now: prepared, or failed and due again. Batches of these
/// are submitted together (one wallet message carries up to 255 actions).
#[derive(Debug)]
pub enum Pending {
    Prepared(OutboxEntry<Prepared>),
    FailedRetryable(OutboxEntry<FailedRetryable>),
}

impl Pending {
    pub fn state(&self) -> OutboxState {
        match self {
            Pending::Prepared(_) => OutboxState::Prepared,
            Pending::FailedRetryable(_) => OutboxState::FailedRetryable,
        }
    }

    pub fn record(&self) -> &OutboxRecord {
        match self {
            Pending::Prepared(e) => e,
            Pending::FailedRetryable(e) => e,
        }
    }

    pub(crate) fn into_record(self) -> OutboxRecord {
        match self {
            Pending::Prepared(e) => e.record,
            Pending::FailedRetryable(e) => e.record,
        }
    }
}

impl<S: Sendable> From<OutboxEntry<S>> for Pending {
    fn from(entry: OutboxEntry<S>) -> Self {
        S::pending(entry)
    }
}

/// An outbox item known to be in state `S`. Not `Clone`: each step consumes it.
#[derive(Debug)]
pub struct OutboxEntry<S: StateMarker> {
    pub(crate) record: OutboxRecord,
    _state: PhantomData<S>,
}

impl<S: StateMarker> OutboxEntry<S> {
    pub(crate) fn new(record: OutboxRecord) -> Self {
        Self {
            record,
            _state: PhantomData,
        }
    }

    pub fn state(&self) -> OutboxState {
        S::STATE
    }

    pub fn into_record(self) -> OutboxRecord {
        self.record
    }

    /// Next state's entry; only the store calls this, after persisting the step.
    pub(crate) fn step<T: StateMarker>(self, record: OutboxRecord) -> OutboxEntry<T> {
        debug_assert_eq!(self.record.id, record.id, "a step never changes the id");
        OutboxEntry::new(record)
    }
}

impl<S: StateMarker> Deref for OutboxEntry<S> {
    type Target = OutboxRecord;
    fn deref(&self) -> &OutboxRecord {
        &self.record
    }
}

/// An outbox item loaded from the store, in whatever state it is.
#[derive(Debug)]
pub enum AnyOutboxEntry {
    Prepared(OutboxEntry<Prepared>),
    Submitted(OutboxEntry<Submitted>),
    FailedRetryable(OutboxEntry<FailedRetryable>),
    Confirmed(OutboxEntry<Confirmed>),
    Superseded(OutboxEntry<Superseded>),
}

impl AnyOutboxEntry {
    pub(crate) fn from_record(state: OutboxState, record: OutboxRecord) -> Self {
        match state {
            OutboxState::Prepared => Self::Prepared(OutboxEntry::new(record)),
            OutboxState::Submitted => Self::Submitted(OutboxEntry::new(record)),
            OutboxState::FailedRetryable => Self::FailedRetryable(OutboxEntry::new(record)),
            OutboxState::Confirmed => Self::Confirmed(OutboxEntry::new(record)),
            OutboxState::Superseded => Self::Superseded(OutboxEntry::new(record)),
        }
    }

    pub fn state(&self) -> OutboxState {
        match self {
            Self::Prepared(_) => OutboxState::Prepared,
            Self::Submitted(_) => OutboxState::Submitted,
            Self::FailedRetryable(_) => OutboxState::FailedRetryable,
            Self::Confirmed(_) => OutboxState::Confirmed,
            Self::Superseded(_) => OutboxState::Superseded,
        }
    }

    pub fn record(&self) -> &OutboxRecord {
        match self {
            Self::Prepared(e) => e,
            Self::Submitted(e) => e,
            Self::FailedRetryable(e) => e,
            Self::Confirmed(e) => e,
            Self::Superseded(e) => e,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_deterministic_and_distinct() {
        let a = OutboxId::derive(OutboxKind::Complete, "0:ab", b"r1");
        assert_eq!(a, OutboxId::derive(OutboxKind::Complete, "0:ab", b"r1"));
        assert_ne!(a, OutboxId::derive(OutboxKind::Expire, "0:ab", b"r1"));
        assert_ne!(a, OutboxId::derive(OutboxKind::Complete, "0:ab", b"r2"));
        // The separator keeps (target, key) boundaries unambiguous.
        assert_ne!(
            OutboxId::derive(OutboxKind::Complete, "0:a", b"b"),
            OutboxId::derive(OutboxKind::Complete, "0:ab", b"")
        );
        assert_eq!(a.as_str().len(), 64);
    }

    #[test]
    fn names_round_trip() {
        for k in OutboxKind::ALL {
            assert_eq!(OutboxKind::parse(k.as_str()), Some(k));
        }
        for s in OutboxState::ALL {
            assert_eq!(OutboxState::parse(s.as_str()), Some(s));
        }
    }
}
