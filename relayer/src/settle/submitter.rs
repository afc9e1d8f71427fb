//! The one owner of the relayer's W5 wallet: every on-chain post of this relayer (voucher
//! settlements, `complete`, `expire`) leaves through it.
//!
//! A wallet takes one external message per seqno, so two senders on one wallet race: the
//! second message with the same seqno is refused and its action is lost until retried.
//! Here one [`Submitter`] takes the ready items of every poster from the outbox and, per
//! [`Submitter::flush`]:
//!
//! 1. resolves the submission in flight: *landed* once the wallet's seqno passed it,
//!    *expired* once its `valid_until` passed with the seqno unused (it can never land;
//!    its items still `submitted` become failed-retryable and go out again under the same
//!    ids). While it may still land nothing else is sent: one seqno sequence, no gaps;
//! 2. packs up to [`MAX_ACTIONS`] due items (prepared, or failed and due) into one
//!    external message with one seqno and `valid_until`;
//! 3. stores that submission (seqno, `valid_until`, the item ids) under the posting lease
//!    *before* the message leaves, so after a crash it is known and bounded in time;
//! 4. sends it.
//!
//! Whether an item did what it should is not the submitter's business: each poster
//! confirms its own items by the target's state (a voucher's `get_paid`, an escrow's
//! `get_job`), and the contracts' own idempotency (cumulative vouchers, an escrow that
//! completes or expires once) is the final guard against a re-sent action paying twice.

use std::sync::Arc;
use std::time::Duration;

use spindle_sdk::message::InternalMessage;
use spindle_sdk::toncenter::Toncenter;
use spindle_sdk::wallet::{Outgoing, Transfer, WalletV5R1};
use spindle_sdk::{ArcCell, SigningKey, TonAddress, address, boc};
use tokio::sync::Mutex;

use super::chain;
use crate::Store;
use crate::outbox::{AnyOutboxEntry, Failure, OutboxState, SubmissionState, WalletSubmission};
use crate::store::StoreError;

/// The posting lease of the relayer's wallet: one replica sends at a time.
pub const LEASE: &str = "wallet";
/// Most actions a W5R1 external message carries.
pub const MAX_ACTIONS: usize = 255;
/// How long a sent external message may land; after that an unused seqno means lost.
pub const EXTERNAL_VALIDITY_SECS: u64 = 60;
const LEASE_TTL_SECS: i64 = 120;

/// Why a flush did not send.
#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    #[error("store: {0}")]
    Store(#[from] StoreError),
    #[error("chain API: {0}")]
    Chain(String),
    #[error("another replica holds the wallet's posting lease")]
    NotPoster,
    #[error("an outbox item for {target} is due but cannot be sent (see the log)")]
    Unsendable { target: String },
    /// The submission is stored; whether the message reached the chain is unknown, so it
    /// resolves like any other (landed by seqno, or expired at `valid_until`).
    #[error("sending submission {id}: {reason}")]
    Send { id: String, reason: String },
    /// An injected crash (tests): the submission is stored, nothing was sent.
    #[error("crashed after storing submission {id} (injected)")]
    Crashed { id: String },
}

/// What one flush did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Flushed {
    /// Nothing was due.
    Idle,
    /// A submission may still land; nothing new is sent until it resolves.
    InFlight { id: String, valid_until: i64 },
    /// One external message with these items went out.
    Sent(WalletSubmission),
}

/// A fault injected between storing a submission and sending it (tests only use it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// The process dies: the flush fails with [`SubmitError::Crashed`], nothing is sent.
    Crash,
    /// The message is lost on the way: the flush reports it sent, nothing reaches the chain.
    Drop,
}

/// Decides, per stored submission, whether a fault strikes before the send.
pub type FaultHook = Arc<dyn Fn(&WalletSubmission) -> Option<Fault> + Send + Sync>;

/// One message of an external: where, how much, what.
#[derive(Clone, Debug)]
pub struct Action {
    pub target: TonAddress,
    pub value: u128,
    pub body: ArcCell,
}

/// Sends the relayer's outbox from its W5R1 wallet, batched, one seqno at a time.
pub struct Submitter {
    pub api: Toncenter,
    pub store: Store,
    wallet_key: SigningKey,
    wallet: WalletV5R1,
    address: TonAddress,
    /// Identifies this replica in the posting lease.
    pub holder: String,
    /// Actions per external message (≤ [`MAX_ACTIONS`]).
    pub max_actions: usize,
    pub validity_secs: u64,
    fault: Option<FaultHook>,
    /// One flush at a time in this process (the lease orders replicas).
    turn: Mutex<()>,
}

impl Submitter {
    pub fn new(
        api: Toncenter,
        store: Store,
        wallet_key: SigningKey,
        wallet: WalletV5R1,
        holder: String,
    ) -> Result<Self, String> {
        let address = wallet.address().map_err(|e| e.to_string())?;
        Ok(Self {
            api,
            store,
            wallet_key,
            wallet,
            address,
            holder,
            max_actions: MAX_ACTIONS,
            validity_secs: EXTERNAL_VALIDITY_SECS,
            fault: None,
            turn: Mutex::new(()),
        })
    }

    /// Injects `hook` between storing each submission and sending it.
    pub fn with_fault(mut self, hook: FaultHook) -> Self {
        self.fault = Some(hook);
        self
    }

    /// The wallet's address (the sender of every post).
    pub fn wallet_address(&self) -> &TonAddress {
        &self.address
    }

    /// The chain's time (the wallet's last block), which `valid_until` is checked against.
    pub async fn now(&self) -> Result<i64, SubmitError> {
        chain::chain_time(&self.api, &self.address)
            .await
            .map(|t| t as i64)
            .map_err(SubmitError::Chain)
    }

    /// Resolves the submission in flight, then sends the due items in one external.
    pub async fn flush(&self) -> Result<Flushed, SubmitError> {
        let _turn = self.turn.lock().await;
        let store = &self.store;
        let now = self.now().await?;
        let lease = store
            .acquire_posting_lease(LEASE, &self.holder, now, LEASE_TTL_SECS)
            .await?
            .ok_or(SubmitError::NotPoster)?;
        let seqno = self
            .api
            .wallet_seqno(&self.address)
            .await
            .map_err(|e| SubmitError::Chain(e.to_string()))?;
        for sub in store.wallet_submissions_pending(LEASE).await? {
            if seqno > sub.seqno {
                store
                    .wallet_submission_resolve(&sub.id, SubmissionState::Landed, now)
                    .await?;
            } else if now > sub.valid_until {
                self.expire(&sub, now).await?;
            } else {
                return Ok(Flushed::InFlight {
                    id: sub.id,
                    valid_until: sub.valid_until,
                });
            }
        }
        let due = store.outbox_due(now, self.max_actions as u32).await?;
        if due.is_empty() {
            return Ok(Flushed::Idle);
        }
        let mut actions = Vec::with_capacity(due.len());
        let mut batch = Vec::with_capacity(due.len());
        for item in due {
            let r = item.record();
            match (address::parse_address(&r.target), boc::from_boc(&r.payload)) {
                (Ok(target), Ok(body)) => {
                    actions.push(Action {
                        target,
                        value: r.value,
                        body,
                    });
                    batch.push(item);
                }
                // A bug, never a chain condition: log it and keep the wallet moving.
                (target, body) => tracing::error!(
                    item = %r.id,
                    target = ?target.err(),
                    body = ?body.err(),
                    "outbox item cannot be sent; skipped"
                ),
            }
        }
        if batch.is_empty() {
            return Ok(Flushed::Idle);
        }
        let valid_until = now + self.validity_secs as i64;
        let submission = crate::outbox::Submission {
            wallet_seqno: Some(seqno),
            valid_until: Some(valid_until),
            query_id: None,
        };
        // Stored before sending: after a crash the message is known and bounded in time.
        let sent = store
            .outbox_submit_batch(batch, &lease, submission, now)
            .await?;
        let record = WalletSubmission {
            id: WalletSubmission::id_for(LEASE, seqno, valid_until),
            lease: LEASE.to_owned(),
            seqno,
            valid_until,
            state: SubmissionState::Pending,
            items: sent.iter().map(|e| e.id.clone()).collect(),
            created_at: now,
        };
        match self.fault.as_ref().and_then(|f| f(&record)) {
            Some(Fault::Crash) => return Err(SubmitError::Crashed { id: record.id }),
            Some(Fault::Drop) => return Ok(Flushed::Sent(record)),
            None => {}
        }
        if let Err(reason) = self
            .send_external(&actions, seqno, valid_until as u32)
            .await
        {
            // It may have reached the chain anyway: resolved by seqno like any other.
            return Err(SubmitError::Send {
                id: record.id,
                reason,
            });
        }
        tracing::info!(submission = %record.id, actions = actions.len(), "wallet message sent");
        Ok(Flushed::Sent(record))
    }

    /// `sub` can never land: its items still submitted under it are failed-retryable and
    /// due at once, to go out again under the same ids.
    async fn expire(&self, sub: &WalletSubmission, now: i64) -> Result<(), SubmitError> {
        let store = &self.store;
        for id in &sub.items {
            let Some(AnyOutboxEntry::Submitted(entry)) = store.outbox_get(id).await? else {
                continue; // confirmed or stepped by its poster meanwhile
            };
            let ours = entry.submission.as_ref().is_some_and(|s| {
                s.wallet_seqno == Some(sub.seqno) && s.valid_until == Some(sub.valid_until)
            });
            if !ours {
                continue;
            }
            match store.outbox_fail(entry, Failure::Expired, now, now).await {
                Ok(_) | Err(StoreError::OutboxStale { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
        store
            .wallet_submission_resolve(&sub.id, SubmissionState::Expired, now)
            .await?;
        tracing::warn!(submission = %sub.id, items = sub.items.len(), "wallet message expired unsent; its items will be re-sent");
        Ok(())
    }

    /// Flushes until no item aimed at `target` waits to be sent: each goes out (in
    /// whatever batch) or the flush fails. Waits out a submission in flight.
    pub async fn send_pending_to(&self, target: &str) -> Result<(), SubmitError> {
        let mut idle = 0;
        loop {
            let flushed = self.flush().await?;
            let now = self.now().await?;
            let waiting = self.store.outbox_for_target(target).await?.iter().any(|e| {
                matches!(
                    e.state(),
                    OutboxState::Prepared | OutboxState::FailedRetryable
                ) && e.record().next_attempt_at <= now
            });
            if !waiting {
                return Ok(());
            }
            match flushed {
                Flushed::Sent(_) => idle = 0,
                Flushed::InFlight { .. } => {
                    idle = 0;
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                // Nothing was due a moment ago (the clock moved on), or the item is unsendable.
                Flushed::Idle if idle < 3 => {
                    idle += 1;
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Flushed::Idle => {
                    return Err(SubmitError::Unsendable {
                        target: target.to_owned(),
                    });
                }
            }
        }
    }

    /// Signs and sends `actions` as one W5 external with `seqno` and `valid_until`,
    /// bypassing the outbox (tests use it to re-send a body as an attacker would).
    pub async fn send_external(
        &self,
        actions: &[Action],
        seqno: u32,
        valid_until: u32,
    ) -> Result<(), String> {
        let transfer = Transfer {
            seqno,
            valid_until,
            messages: actions
                .iter()
                .map(|a| {
                    Outgoing::new(
                        InternalMessage::new(a.target.clone(), a.value).with_body(a.body.clone()),
                    )
                })
                .collect(),
        };
        let ext = self
            .wallet
            .external_transfer(&self.wallet_key, &transfer)
            .map_err(|e| e.to_string())?;
        self.api.send_boc(&ext).await.map_err(|e| e.to_string())
    }
}

/// The submitter's futures can run on a multi-threaded runtime (`tokio::spawn`).
#[allow(dead_code)]
fn assert_send(s: &Submitter) {
    fn is_send<T: Send>(_: T) {}
    is_send(s.flush());
    is_send(s.send_pending_to(""));
}
