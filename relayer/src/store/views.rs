//! Read-only views for people: the dashboard's job list, a job's whole
//! timeline, and money per (account, provider). Nothing here writes.

use super::jobs::job_from_row;
use super::row::RowExt;
use super::{Job, PairTotals, Store, StoreError, from_db, with_pool};
use crate::job::JobState;

const JOB_COLUMNS: &str = "escrow, client, nonce, asset, amount, deadline, spec_hash, state, \
     lease_seq, lease_worker, lease_expires_at, created_at, updated_at";

/// One thing that happened to a job, in time order.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct TimelineEvent {
    /// Unix seconds.
    pub at: i64,
    /// `funded`, `leased`, `accepted`, `lease_ended`, `result`, `signed`,
    /// `peer_signature`, `outbox`, `updated`.
    pub what: &'static str,
    /// Human-readable details (worker, hashes, counts, outbox state).
    pub detail: String,
}

/// An outbox item aimed at a job's escrow.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct OutboxView {
    pub id: String,
    pub kind: String,
    pub state: String,
    pub attempts: u64,
    pub last_error: Option<String>,
    /// The confirming transaction's logical time, once confirmed.
    pub confirmed_lt: Option<u64>,
    /// That transaction's hash (hex), for an explorer link.
    pub confirmed_hash: Option<String>,
}

/// A signature recorded for a job: the provider's acceptance, the worker's signed
/// result, this relayer's proof signature and the set's proof signatures.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct SignatureView {
    /// `acceptance`, `result`, `own_proof` or `proof`.
    pub kind: &'static str,
    /// Who signed: an operator or worker key (hex) or `relayer #i`.
    pub signer: String,
    /// The signed payload's hash (hex), when the store keeps it.
    pub payload_hash: Option<String>,
    /// The ed25519 signature (hex).
    pub signature: String,
    pub at: i64,
}

/// A job and everything this relayer recorded about it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JobTimeline {
    pub job: Job,
    pub events: Vec<TimelineEvent>,
    pub outbox: Vec<OutboxView>,
    /// Signer indices of the proof signatures collected for the job.
    pub proof_signers: Vec<u8>,
    /// Every signature recorded for the job, in time order.
    pub signatures: Vec<SignatureView>,
}

impl Store {
    /// The newest jobs first, optionally only those in `state`.
    pub async fn recent_jobs(
        &self,
        state: Option<JobState>,
        limit: u32,
    ) -> Result<Vec<Job>, StoreError> {
        let limit = i64::from(limit);
        with_pool!(self, pool => {
            let rows = match state {
                Some(state) => {
                    let sql = sqlx::AssertSqlSafe(format!(
                        "SELECT {JOB_COLUMNS} FROM jobs WHERE state = $1 \
                         ORDER BY created_at DESC, escrow LIMIT $2"
                    ));
                    sqlx::query(sql).bind(state.as_str()).bind(limit).fetch_all(pool).await?
                }
                None => {
                    let sql = sqlx::AssertSqlSafe(format!(
                        "SELECT {JOB_COLUMNS} FROM jobs ORDER BY created_at DESC, escrow LIMIT $1"
                    ));
                    sqlx::query(sql).bind(limit).fetch_all(pool).await?
                }
            };
            rows.iter().map(job_from_row).collect()
        })
    }

    /// The job at `escrow` with its leases, acceptances, results, signatures and
    /// outbox items as one timeline, or `None` if this relayer never saw it.
    pub async fn job_timeline(&self, escrow: &str) -> Result<Option<JobTimeline>, StoreError> {
        let Some(job) = self.job(escrow).await? else {
            return Ok(None);
        };
        let mut events = vec![TimelineEvent {
            at: job.created_at,
            what: "funded",
            detail: if job.job.asset == "TON" {
                format!(
                    "{} nanoTON escrowed, deadline at unix time {}",
                    job.job.amount, job.job.deadline
                )
            } else {
                format!(
                    "{} units of {} escrowed, deadline at unix time {}",
                    job.job.amount, job.job.asset, job.job.deadline
                )
            },
        }];
        let mut outbox = Vec::new();
        let mut proof_signers = Vec::new();
        let mut signatures = Vec::new();
        with_pool!(self, pool => {
            for r in sqlx::query(
                "SELECT seq, worker, claimed_at, ended_at, end_reason FROM leases \
                 WHERE escrow = $1 ORDER BY seq",
            )
            .bind(escrow)
            .fetch_all(pool)
            .await?
            {
                let seq = r.int("seq")?;
                events.push(TimelineEvent {
                    at: r.int("claimed_at")?,
                    what: "leased",
                    detail: format!("lease {seq} to worker {}", r.text("worker")?),
                });
                if let Some(ended) = r.opt_int("ended_at")? {
                    events.push(TimelineEvent {
                        at: ended,
                        what: "lease_ended",
                        detail: format!(
                            "lease {seq}: {}",
                            r.opt_text("end_reason")?.unwrap_or_default()
                        ),
                    });
                }
            }
            for r in sqlx::query(
                "SELECT lease_seq, operator_pubkey, signature, received_at FROM acceptances \
                 WHERE escrow = $1 ORDER BY lease_seq",
            )
            .bind(escrow)
            .fetch_all(pool)
            .await?
            {
                signatures.push(SignatureView {
                    kind: "acceptance",
                    signer: hex::encode(r.bytes("operator_pubkey")?),
                    payload_hash: None,
                    signature: hex::encode(r.bytes("signature")?),
                    at: r.int("received_at")?,
                });
                events.push(TimelineEvent {
                    at: r.int("received_at")?,
                    what: "accepted",
                    detail: format!(
                        "lease {} accepted by operator {}",
                        r.int("lease_seq")?,
                        hex::encode(r.bytes("operator_pubkey")?)
                    ),
                });
            }
            for r in sqlx::query(
                "SELECT result_hash, lease_seq, input_tokens, output_tokens, worker_pubkey, worker_signature, \
                 stored_at FROM results \
                 WHERE escrow = $1 ORDER BY stored_at",
            )
            .bind(escrow)
            .fetch_all(pool)
            .await?
            {
                signatures.push(SignatureView {
                    kind: "result",
                    signer: hex::encode(r.bytes("worker_pubkey")?),
                    payload_hash: None,
                    signature: hex::encode(r.bytes("worker_signature")?),
                    at: r.int("stored_at")?,
                });
                events.push(TimelineEvent {
                    at: r.int("stored_at")?,
                    what: "result",
                    detail: format!(
                        "result {} from lease {} ({} in, {} out tokens)",
                        hex::encode(r.bytes("result_hash")?),
                        r.int("lease_seq")?,
                        r.int("input_tokens")?,
                        r.int("output_tokens")?
                    ),
                });
            }
            if let Some(r) = sqlx::query(
                "SELECT result_hash, provider, amount, payload_hash, signature, signed_at \
                 FROM job_signatures WHERE escrow = $1",
            )
            .bind(escrow)
            .fetch_optional(pool)
            .await?
            {
                signatures.push(SignatureView {
                    kind: "own_proof",
                    signer: "this relayer".into(),
                    payload_hash: Some(hex::encode(r.bytes("payload_hash")?)),
                    signature: hex::encode(r.bytes("signature")?),
                    at: r.int("signed_at")?,
                });
                events.push(TimelineEvent {
                    at: r.int("signed_at")?,
                    what: "signed",
                    detail: format!(
                        "this relayer signed result {} paying {} to {}",
                        hex::encode(r.bytes("result_hash")?),
                        r.int("amount")?,
                        r.text("provider")?
                    ),
                });
            }
            for r in sqlx::query(
                "SELECT signer_index, payload_hash, signature, received_at FROM proof_signatures \
                 WHERE escrow = $1 ORDER BY received_at, signer_index",
            )
            .bind(escrow)
            .fetch_all(pool)
            .await?
            {
                let index = u8::try_from(r.int("signer_index")?)
                    .map_err(|_| StoreError::Corrupt("signer_index out of range".into()))?;
                proof_signers.push(index);
                signatures.push(SignatureView {
                    kind: "proof",
                    signer: format!("relayer #{index}"),
                    payload_hash: Some(hex::encode(r.bytes("payload_hash")?)),
                    signature: hex::encode(r.bytes("signature")?),
                    at: r.int("received_at")?,
                });
                events.push(TimelineEvent {
                    at: r.int("received_at")?,
                    what: "peer_signature",
                    detail: format!("signature of relayer #{index}"),
                });
            }
            for r in sqlx::query(
                "SELECT id, kind, state, attempts, last_error, confirmed_lt, confirmed_hash, created_at, updated_at \
                 FROM outbox WHERE target = $1 ORDER BY created_at, id",
            )
            .bind(escrow)
            .fetch_all(pool)
            .await?
            {
                let item = OutboxView {
                    id: r.text("id")?,
                    kind: r.text("kind")?,
                    state: r.text("state")?,
                    attempts: from_db("attempts", r.int("attempts")?)?,
                    last_error: r.opt_text("last_error")?,
                    confirmed_lt: r
                        .opt_int("confirmed_lt")?
                        .map(|lt| from_db("confirmed_lt", lt))
                        .transpose()?,
                    confirmed_hash: r.opt_bytes("confirmed_hash")?.map(hex::encode),
                };
                events.push(TimelineEvent {
                    at: r.int("updated_at")?,
                    what: "outbox",
                    detail: format!("{} {} after {} attempt(s)", item.kind, item.state, item.attempts),
                });
                outbox.push(item);
            }
            Ok::<(), StoreError>(())
        })?;
        if job.updated_at > job.created_at && job.state.is_terminal() {
            events.push(TimelineEvent {
                at: job.updated_at,
                what: "updated",
                detail: format!("now {}", job.state.as_str()),
            });
        }
        events.sort_by_key(|e| e.at);
        signatures.sort_by_key(|s| s.at);
        Ok(Some(JobTimeline {
            job,
            events,
            outbox,
            proof_signers,
            signatures,
        }))
    }

    /// Charged and settled for every (account, provider) this relayer charged.
    pub async fn all_pairs(&self) -> Result<Vec<PairTotals>, StoreError> {
        let sql = sqlx::AssertSqlSafe(format!(
            "{} GROUP BY c.account, c.provider ORDER BY c.account, c.provider",
            super::charges::TOTALS
        ));
        with_pool!(self, pool => {
            let rows = sqlx::query(sql).fetch_all(pool).await?;
            rows.iter().map(super::charges::totals).collect()
        })
    }
}
