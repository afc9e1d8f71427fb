//! Job specs: what a client submitted through the job API for its funded escrow, kept
//! next to the job so any replica's scheduler can dispatch it; and the queries the
//! scheduler and the job API read jobs with.

use super::jobs::{insert_job, job_from_row};
use super::row::RowExt;
use super::signing::{StoredResult, Usage};
use super::{Job, NewJob, Store, StoreError, from_db, with_pool, with_tx};

/// A job the scheduler may dispatch now, with its spec.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DispatchableJob {
    pub job: Job,
    /// The spec's canonical JSON.
    pub spec: String,
}

const JOB_COLUMNS: &str = "j.escrow, j.client, j.nonce, j.asset, j.amount, j.deadline, j.spec_hash, \
    j.state, j.lease_seq, j.lease_worker, j.lease_expires_at, j.created_at, j.updated_at";

impl Store {
    /// Records a funded job (checked on-chain by the caller) and its spec, in one
    /// transaction. Idempotent: if the watcher (or an earlier submission) already
    /// recorded the job, its terms must equal `job`'s ([`StoreError::JobMismatch`]
    /// otherwise); a spec already stored is kept (its hash is the escrow's, so it is
    /// the same spec). Returns the job as stored.
    pub async fn submit_job(&self, job: &NewJob, spec: &str, now: i64) -> Result<Job, StoreError> {
        let sql = format!("SELECT {JOB_COLUMNS} FROM jobs j WHERE j.escrow = $1");
        let stored = with_tx!(self, tx, pg => {
            let existing = sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
                .bind(&job.escrow)
                .fetch_optional(&mut *tx)
                .await?;
            match existing {
                Some(row) => {
                    let found = job_from_row(&row)?;
                    let same = found.job.client == job.client
                        && found.job.nonce == job.nonce
                        && found.job.amount == job.amount
                        && found.job.deadline == job.deadline
                        && found.job.spec_hash == job.spec_hash;
                    if !same {
                        return Err(StoreError::JobMismatch(job.escrow.clone()));
                    }
                }
                None => insert_job!(&mut *tx, job, now),
            }
            sqlx::query(
                "INSERT INTO job_specs (escrow, spec, submitted_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
            )
            .bind(&job.escrow)
            .bind(spec)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            let row = sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
                .bind(&job.escrow)
                .fetch_one(&mut *tx)
                .await?;
            job_from_row(&row)?
        });
        Ok(stored)
    }

    /// The canonical spec submitted for a job, if any.
    pub async fn job_spec(&self, escrow: &str) -> Result<Option<String>, StoreError> {
        with_pool!(self, pool => {
            let row = sqlx::query("SELECT spec FROM job_specs WHERE escrow = $1")
                .bind(escrow)
                .fetch_optional(pool)
                .await?;
            row.map(|r| r.text("spec")).transpose()
        })
    }

    /// Jobs with a spec that a worker may lease at `now` (paid and unleased, or whose
    /// lease ran out, deadline still ahead), earliest deadline first. Reading is not
    /// claiming: [`Store::claim_job`] decides, so replicas may read the same rows.
    pub async fn dispatchable_jobs(
        &self,
        now: i64,
        limit: u32,
    ) -> Result<Vec<DispatchableJob>, StoreError> {
        let sql = format!(
            "SELECT {JOB_COLUMNS}, s.spec FROM jobs j JOIN job_specs s ON s.escrow = j.escrow \
             WHERE j.deadline > $1 AND (j.state = 'funded' OR (j.state IN ('leased', 'running') \
             AND j.lease_expires_at <= $1)) ORDER BY j.deadline, j.escrow LIMIT $2"
        );
        with_pool!(self, pool => {
            let rows = sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
                .bind(now)
                .bind(i64::from(limit))
                .fetch_all(pool)
                .await?;
            rows.iter()
                .map(|row| Ok(DispatchableJob { job: job_from_row(row)?, spec: row.text("spec")? }))
                .collect()
        })
    }

    /// The newest result stored for a job (by lease), with the lease that returned it.
    pub async fn latest_result(
        &self,
        escrow: &str,
    ) -> Result<Option<(u64, StoredResult)>, StoreError> {
        with_pool!(self, pool => {
            let row = sqlx::query(
                "SELECT lease_seq, result_hash, body, input_tokens, output_tokens, worker_pubkey, \
                 worker_signature FROM results WHERE escrow = $1 ORDER BY lease_seq DESC LIMIT 1",
            )
            .bind(escrow)
            .fetch_optional(pool)
            .await?;
            row.map(|row| {
                Ok((
                    from_db("lease_seq", row.int("lease_seq")?)?,
                    StoredResult {
                        result_hash: row.array("result_hash")?,
                        body: row.bytes("body")?,
                        usage: Usage {
                            input_tokens: from_db("input_tokens", row.int("input_tokens")?)?,
                            output_tokens: from_db("output_tokens", row.int("output_tokens")?)?,
                        },
                        worker_pubkey: row.array("worker_pubkey")?,
                        worker_signature: row.array("worker_signature")?,
                    },
                ))
            })
            .transpose()
        })
    }
}
