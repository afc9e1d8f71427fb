//! What the watcher has seen of the chain: a cursor per watched account and the set of
//! transactions already applied. Applying a transaction records it as seen and applies
//! its events in one database transaction, so a transaction seen again (overlapping
//! pages, a restart before the cursor moved, a second replica) changes nothing.
//!
//! The cursor is moved separately, by [`Store::advance_cursor`], once the watcher has
//! applied everything up to it; it only ever moves forward.

use super::jobs::{load_job, record_funded_job, set_job_state};
use super::row::RowExt;
use super::{NewJob, Store, StoreError, from_db, to_db, with_pool, with_tx};
use crate::job::JobState;
use crate::outbox::OutboxKind;

/// A TON transaction: (account, lt) names it, the hash pins its content.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChainTx {
    pub account: String,
    pub lt: u64,
    pub hash: [u8; 32],
}

/// The newest fully processed transaction of a watched account.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cursor {
    pub lt: u64,
    pub hash: [u8; 32],
}

/// A Spindle effect decoded from a confirmed transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChainEvent {
    /// An escrow was created and paid.
    JobFunded(NewJob),
    /// The escrow accepted a `complete`: the provider is paid.
    JobSettled { escrow: String },
    /// The escrow was expired: the client is refunded.
    JobRefunded { escrow: String },
    /// A compute account paid a provider's voucher up to `settled` (cumulative) in `epoch`.
    VoucherSettled {
        account: String,
        provider: String,
        epoch: u64,
        settled: u64,
    },
}

/// Whether [`Store::apply_chain_tx`] applied the transaction or had seen it already.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Applied {
    New,
    AlreadySeen,
}

/// The escrow `$target` finished in transaction `$tx_id`: its submitted outbox item of
/// kind `$kind` is confirmed (the target's state changed), and every other unfinished
/// item aimed at it is superseded (it can no longer act), in the same transaction.
macro_rules! finish_outbox {
    ($tx:expr, $target:expr, $kind:expr, $tx_id:expr, $now:expr) => {{
        let kind: OutboxKind = $kind;
        sqlx::query(
            "UPDATE outbox SET state = CASE WHEN state = 'submitted' AND kind = $1 THEN 'confirmed' \
             ELSE 'superseded' END, confirmed_lt = $2, confirmed_hash = $3, updated_at = $4 \
             WHERE target = $5 AND state IN ('prepared', 'submitted', 'failed_retryable')",
        )
        .bind(kind.as_str())
        .bind(to_db("lt", $tx_id.lt)?)
        .bind(&$tx_id.hash[..])
        .bind($now)
        .bind($target)
        .execute(&mut *$tx)
        .await?;
    }};
}

impl Store {
    /// Applies the events of a confirmed transaction exactly once. A transaction seen
    /// before is a no-op ([`Applied::AlreadySeen`]); seen before with another hash is an
    /// error ([`StoreError::TxHashMismatch`]), as it means the view of the chain forked.
    /// If any event is refused, nothing is recorded, not even that the tx was seen.
    /// A finished escrow also finishes its outbox items in the same transaction (the
    /// matching submitted post is confirmed, the rest superseded), so the job and its posts
    /// never disagree after a crash.
    pub async fn apply_chain_tx(
        &self,
        tx_id: &ChainTx,
        events: &[ChainEvent],
        now: i64,
    ) -> Result<Applied, StoreError> {
        let applied = with_tx!(self, tx, pg => {
            let inserted = sqlx::query(
                "INSERT INTO seen_transactions (account, lt, hash, seen_at) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT DO NOTHING",
            )
            .bind(&tx_id.account)
            .bind(to_db("lt", tx_id.lt)?)
            .bind(&tx_id.hash[..])
            .bind(now)
            .execute(&mut *tx)
            .await?;
            if inserted.rows_affected() == 0 {
                let row = sqlx::query("SELECT hash FROM seen_transactions WHERE account = $1 AND lt = $2")
                    .bind(&tx_id.account)
                    .bind(to_db("lt", tx_id.lt)?)
                    .fetch_one(&mut *tx)
                    .await?;
                let hash: [u8; 32] = row.array("hash")?;
                if hash != tx_id.hash {
                    return Err(StoreError::TxHashMismatch { account: tx_id.account.clone(), lt: tx_id.lt });
                }
                Applied::AlreadySeen
            } else {
                for event in events {
                    match event {
                        ChainEvent::JobFunded(job) => record_funded_job!(tx, job, now),
                        // The poster may have recorded the outcome first (it watches the
                        // escrow it posted to): the chain saying the same again is no change.
                        ChainEvent::JobSettled { escrow } => {
                            let job = load_job!(&mut *tx, escrow, pg);
                            if job.state != JobState::Settled {
                                set_job_state!(tx, &job, JobState::Settled, now);
                            }
                            finish_outbox!(tx, escrow, OutboxKind::Complete, tx_id, now);
                        }
                        ChainEvent::JobRefunded { escrow } => {
                            let job = load_job!(&mut *tx, escrow, pg);
                            if job.state != JobState::Refunded {
                                set_job_state!(tx, &job, JobState::Refunded, now);
                            }
                            finish_outbox!(tx, escrow, OutboxKind::Expire, tx_id, now);
                        }
                        ChainEvent::VoucherSettled { account, provider, epoch, settled } => {
                            sqlx::query(
                                "UPDATE vouchers SET settled = $1, updated_at = $2 \
                                 WHERE account = $3 AND provider = $4 AND epoch = $5 AND settled < $1",
                            )
                            .bind(to_db("settled", *settled)?)
                            .bind(now)
                            .bind(account)
                            .bind(provider)
                            .bind(to_db("epoch", *epoch)?)
                            .execute(&mut *tx)
                            .await?;
                        }
                    }
                }
                Applied::New
            }
        });
        Ok(applied)
    }

    /// Whether a transaction was applied before.
    pub async fn is_seen(&self, account: &str, lt: u64) -> Result<bool, StoreError> {
        with_pool!(self, pool => {
            let row = sqlx::query("SELECT 1 AS one FROM seen_transactions WHERE account = $1 AND lt = $2")
                .bind(account)
                .bind(to_db("lt", lt)?)
                .fetch_optional(pool)
                .await?;
            Ok(row.is_some())
        })
    }

    /// The cursor of a watched account, if it has one.
    pub async fn cursor(&self, account: &str) -> Result<Option<Cursor>, StoreError> {
        with_pool!(self, pool => {
            let row = sqlx::query("SELECT lt, hash FROM chain_cursors WHERE account = $1")
                .bind(account)
                .fetch_optional(pool)
                .await?;
            row.map(|row| Ok(Cursor { lt: from_db("lt", row.int("lt")?)?, hash: row.array("hash")? }))
                .transpose()
        })
    }

    /// Moves an account's cursor forward to `cursor`; returns false (and changes nothing)
    /// if the stored cursor is already at or past it.
    pub async fn advance_cursor(
        &self,
        account: &str,
        cursor: &Cursor,
        now: i64,
    ) -> Result<bool, StoreError> {
        with_pool!(self, pool => {
            let done = sqlx::query(
                "INSERT INTO chain_cursors (account, lt, hash, updated_at) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (account) DO UPDATE SET lt = excluded.lt, hash = excluded.hash, \
                 updated_at = excluded.updated_at WHERE excluded.lt > chain_cursors.lt",
            )
            .bind(account)
            .bind(to_db("lt", cursor.lt)?)
            .bind(&cursor.hash[..])
            .bind(now)
            .execute(pool)
            .await?;
            Ok(done.rows_affected() == 1)
        })
    }
}
