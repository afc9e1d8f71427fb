//! What the settlement of escrow jobs reads and writes beyond the job lifecycle: the
//! provider a result is from, results a peer relayer stores before it signs a
//! coordinator's proof, and this relayer's own (one, permanent) proof signature.

use super::jobs::{load_job, set_job_state};
use super::row::RowExt;
use super::signing::{JobProof, StoredResult, Usage};
use super::{Store, StoreError, from_db, to_db, with_pool, with_tx};
use crate::job::JobState;

/// A stored result with where it came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResultRecord {
    pub result: StoredResult,
    /// The lease (of whichever relayer dispatched it) that produced it.
    pub lease_seq: u64,
    /// The provider's owner address (raw), if known.
    pub provider: Option<String>,
    /// What the provider earns for it, if decided.
    pub pay: Option<u64>,
}

/// This relayer's own proof signature for a job.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OwnJobSignature {
    pub proof: JobProof,
    pub signature: [u8; 64],
}

fn record_from_row(row: &impl RowExt) -> Result<ResultRecord, StoreError> {
    Ok(ResultRecord {
        result: StoredResult {
            result_hash: row.array("result_hash")?,
            body: row.bytes("body")?,
            usage: Usage {
                input_tokens: from_db("input_tokens", row.int("input_tokens")?)?,
                output_tokens: from_db("output_tokens", row.int("output_tokens")?)?,
            },
            worker_pubkey: row.array("worker_pubkey")?,
            worker_signature: row.array("worker_signature")?,
        },
        lease_seq: from_db("lease_seq", row.int("lease_seq")?)?,
        provider: row.opt_text("provider")?,
        pay: row.opt_int("pay")?.map(|p| from_db("pay", p)).transpose()?,
    })
}

const RESULT_COLUMNS: &str = "result_hash, body, input_tokens, output_tokens, worker_pubkey, \
     worker_signature, lease_seq, provider, pay";

impl Store {
    /// Records which provider (owner address, raw) the stored result `result_hash` of a
    /// job is from and what it earns (the dispatcher calls this after
    /// [`Store::store_result`]). Set once: different values for the same result are
    /// refused ([`StoreError::ResultTermsDiffer`]).
    pub async fn set_result_settlement(
        &self,
        escrow: &str,
        result_hash: &[u8; 32],
        provider: &str,
        pay: u64,
    ) -> Result<(), StoreError> {
        with_pool!(self, pool => {
            let done = sqlx::query(
                "UPDATE results SET provider = $1, pay = $4 WHERE escrow = $2 AND result_hash = $3 \
                 AND (provider IS NULL OR provider = $1) AND (pay IS NULL OR pay = $4)",
            )
            .bind(provider)
            .bind(escrow)
            .bind(&result_hash[..])
            .bind(to_db("pay", pay)?)
            .execute(pool)
            .await?;
            if done.rows_affected() != 1 {
                let stored = sqlx::query("SELECT 1 AS one FROM results WHERE escrow = $1 AND result_hash = $2")
                    .bind(escrow)
                    .bind(&result_hash[..])
                    .fetch_optional(pool)
                    .await?;
                let (escrow, result) = (escrow.to_owned(), hex::encode(result_hash));
                return Err(match stored {
                    Some(_) => StoreError::ResultTermsDiffer { escrow, result },
                    None => StoreError::ResultNotStored { escrow, result },
                });
            }
        });
        Ok(())
    }

    /// Every result stored for a job, newest lease first.
    pub async fn results_of(&self, escrow: &str) -> Result<Vec<ResultRecord>, StoreError> {
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {RESULT_COLUMNS} FROM results WHERE escrow = $1 ORDER BY lease_seq DESC, result_hash"
        ));
        with_pool!(self, pool => {
            let rows = sqlx::query(sql).bind(escrow).fetch_all(pool).await?;
            rows.iter().map(record_from_row).collect()
        })
    }

    /// Stores a result a coordinator sent with its request for this relayer's proof
    /// signature (this relayer must hold the result before it signs: it is what it
    /// vouches for). A `funded` job moves to `result_stored` (this relayer never leased
    /// it, and now will not dispatch it); a job in any other state keeps it. Refuses ([`StoreError::DifferentResult`]) when another result is
    /// already stored for the job: a relayer vouches for one result per job, ever. The
    /// same result again is a no-op.
    pub async fn store_peer_result(
        &self,
        escrow: &str,
        lease_seq: u64,
        result: &StoredResult,
        provider: &str,
        pay: u64,
        now: i64,
    ) -> Result<(), StoreError> {
        with_tx!(self, tx, pg => {
            let job = load_job!(&mut *tx, escrow, pg);
            let other = sqlx::query("SELECT result_hash FROM results WHERE escrow = $1 AND result_hash <> $2")
                .bind(escrow)
                .bind(&result.result_hash[..])
                .fetch_optional(&mut *tx)
                .await?;
            if let Some(row) = other {
                let stored: [u8; 32] = row.array("result_hash")?;
                return Err(StoreError::DifferentResult {
                    escrow: escrow.to_owned(),
                    stored: hex::encode(stored),
                    offered: hex::encode(result.result_hash),
                });
            }
            sqlx::query(
                "INSERT INTO results (escrow, result_hash, lease_seq, body, input_tokens, output_tokens, \
                 worker_pubkey, worker_signature, stored_at, provider, pay) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT DO NOTHING",
            )
            .bind(escrow)
            .bind(&result.result_hash[..])
            .bind(to_db("lease_seq", lease_seq)?)
            .bind(&result.body)
            .bind(to_db("input_tokens", result.usage.input_tokens)?)
            .bind(to_db("output_tokens", result.usage.output_tokens)?)
            .bind(&result.worker_pubkey[..])
            .bind(&result.worker_signature[..])
            .bind(now)
            .bind(provider)
            .bind(to_db("pay", pay)?)
            .execute(&mut *tx)
            .await?;
            if job.state == JobState::Funded {
                set_job_state!(tx, &job, JobState::ResultStored, now);
            }
        });
        Ok(())
    }

    /// The proof this relayer signed for a job, if any (at most one, forever).
    pub async fn own_job_signature(
        &self,
        escrow: &str,
    ) -> Result<Option<OwnJobSignature>, StoreError> {
        with_pool!(self, pool => {
            let row = sqlx::query(
                "SELECT result_hash, provider, amount, payload_hash, signature FROM job_signatures \
                 WHERE escrow = $1",
            )
            .bind(escrow)
            .fetch_optional(pool)
            .await?;
            row.map(|row| {
                Ok(OwnJobSignature {
                    proof: JobProof {
                        escrow: escrow.to_owned(),
                        result_hash: row.array("result_hash")?,
                        provider: row.text("provider")?,
                        amount: from_db("amount", row.int("amount")?)?,
                        payload_hash: row.array("payload_hash")?,
                    },
                    signature: row.array("signature")?,
                })
            })
            .transpose()
        })
    }

    /// Unfinished jobs that have a stored result: what the settlement loop looks at.
    pub async fn jobs_with_results(&self, limit: u32) -> Result<Vec<String>, StoreError> {
        with_pool!(self, pool => {
            let rows = sqlx::query(
                "SELECT escrow FROM jobs WHERE state NOT IN ('settled', 'refunded', 'expired') \
                 AND EXISTS (SELECT 1 FROM results r WHERE r.escrow = jobs.escrow) \
                 ORDER BY deadline, escrow LIMIT $1",
            )
            .bind(i64::from(limit))
            .fetch_all(pool)
            .await?;
            rows.iter().map(|row| row.text("escrow")).collect()
        })
    }

    /// Jobs not known to be settled or refunded whose deadline passed before `before`:
    /// candidates for `expire` (the escrow's own grace is checked on-chain).
    pub async fn jobs_past_deadline(
        &self,
        before: i64,
        limit: u32,
    ) -> Result<Vec<String>, StoreError> {
        with_pool!(self, pool => {
            let rows = sqlx::query(
                "SELECT escrow FROM jobs WHERE state NOT IN ('settled', 'refunded') AND deadline < $1 \
                 ORDER BY deadline, escrow LIMIT $2",
            )
            .bind(before)
            .bind(i64::from(limit))
            .fetch_all(pool)
            .await?;
            rows.iter().map(|row| row.text("escrow")).collect()
        })
    }
}
