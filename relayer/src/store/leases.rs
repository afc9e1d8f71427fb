//! Leases: a paid job is handed to one worker at a time, for a limited time that
//! heartbeats extend. Claiming is a compare-and-set on the job row inside a write
//! transaction; on Postgres the candidate is picked with `FOR UPDATE SKIP LOCKED`, so
//! replicas sharing a database never hand one job to two workers and never wait on
//! each other's candidates. A lease that ran out may be claimed again (re-dispatch).

use super::jobs::{load_job, set_job_state};
use super::row::RowExt;
use super::{Store, StoreError, from_db, to_db, with_tx};
use crate::job::JobState;

/// A live lease held by a worker on a job.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lease {
    pub escrow: String,
    /// Rises with every lease of the job; results and acceptances name it.
    pub seq: u64,
    pub worker: String,
    pub expires_at: i64,
}

/// The provider's signed acceptance of a job (its operator key over `payload`): the
/// evidence that lets anyone slash the provider if the job then expires.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Acceptance {
    pub operator_pubkey: [u8; 32],
    pub payload: Vec<u8>,
    pub signature: [u8; 64],
}

/// Hands `$job` (loaded and locked in this transaction) to `$worker`, ending a lapsed lease.
macro_rules! grant_lease {
    ($tx:expr, $job:expr, $worker:expr, $now:expr, $expires:expr) => {{
        let job: &$crate::store::Job = $job;
        if job.state.is_leased() {
            sqlx::query(
                "UPDATE leases SET ended_at = $1, end_reason = 'lapsed' \
                 WHERE escrow = $2 AND seq = $3 AND ended_at IS NULL",
            )
            .bind($now)
            .bind(&job.job.escrow)
            .bind(to_db("lease_seq", job.lease_seq)?)
            .execute(&mut *$tx)
            .await?;
        }
        let seq = job.lease_seq + 1;
        let done = sqlx::query(
            "UPDATE jobs SET state = 'leased', lease_seq = $1, lease_worker = $2, lease_expires_at = $3, \
             updated_at = $4 WHERE escrow = $5 AND lease_seq = $6 AND state = $7",
        )
        .bind(to_db("lease_seq", seq)?)
        .bind($worker)
        .bind($expires)
        .bind($now)
        .bind(&job.job.escrow)
        .bind(to_db("lease_seq", job.lease_seq)?)
        .bind(job.state.as_str())
        .execute(&mut *$tx)
        .await?;
        if done.rows_affected() != 1 {
            return Err(StoreError::Corrupt(format!("job {} changed while locked", job.job.escrow)));
        }
        sqlx::query(
            "INSERT INTO leases (escrow, seq, worker, claimed_at, heartbeat_at, expires_at) \
             VALUES ($1, $2, $3, $4, $4, $5)",
        )
        .bind(&job.job.escrow)
        .bind(to_db("lease_seq", seq)?)
        .bind($worker)
        .bind($now)
        .bind($expires)
        .execute(&mut *$tx)
        .await?;
        Lease { escrow: job.job.escrow.clone(), seq, worker: $worker.to_owned(), expires_at: $expires }
    }};
}

/// Whether `job` is claimable at `now`: paid and unleased, or its lease ran out.
fn claimable(job: &crate::store::Job, now: i64) -> bool {
    job.job.deadline > now
        && match job.state {
            JobState::Funded => true,
            JobState::Leased | JobState::Running => {
                job.lease.as_ref().is_some_and(|l| l.expires_at <= now)
            }
            _ => false,
        }
}

/// Returns [`StoreError::LeaseLost`] unless `lease` is the job's current lease.
pub(crate) fn check_current(job: &crate::store::Job, lease: &Lease) -> Result<(), StoreError> {
    let current = job.state.is_leased()
        && job
            .lease
            .as_ref()
            .is_some_and(|l| l.seq == lease.seq && l.worker == lease.worker);
    if current {
        Ok(())
    } else {
        Err(StoreError::LeaseLost {
            escrow: lease.escrow.clone(),
            seq: lease.seq,
            worker: lease.worker.clone(),
        })
    }
}

impl Store {
    /// Leases the most urgent claimable job to `worker` for `lease_secs`, or returns `None`
    /// when there is none. Concurrent callers (in any replica) never get the same job.
    pub async fn claim_next(
        &self,
        worker: &str,
        now: i64,
        lease_secs: i64,
    ) -> Result<Option<Lease>, StoreError> {
        let expires = now + lease_secs;
        let lease = with_tx!(self, tx, pg => {
            let sql = if pg {
                "SELECT escrow, client, nonce, asset, amount, deadline, spec_hash, state, lease_seq, \
                 lease_worker, lease_expires_at, created_at, updated_at FROM jobs WHERE deadline > $1 \
                 AND (state = 'funded' OR (state IN ('leased', 'running') AND lease_expires_at <= $1)) \
                 ORDER BY deadline, escrow LIMIT 1 FOR UPDATE SKIP LOCKED"
            } else {
                "SELECT escrow, client, nonce, asset, amount, deadline, spec_hash, state, lease_seq, \
                 lease_worker, lease_expires_at, created_at, updated_at FROM jobs WHERE deadline > $1 \
                 AND (state = 'funded' OR (state IN ('leased', 'running') AND lease_expires_at <= $1)) \
                 ORDER BY deadline, escrow LIMIT 1"
            };
            match sqlx::query(sql).bind(now).fetch_optional(&mut *tx).await? {
                None => None,
                Some(row) => {
                    let job = crate::store::jobs::job_from_row(&row)?;
                    Some(grant_lease!(tx, &job, worker, now, expires))
                }
            }
        });
        Ok(lease)
    }

    /// Leases one given job to `worker` (the scheduler's choice), or returns `None` if it
    /// is not claimable now (already leased, finished, or past its deadline).
    pub async fn claim_job(
        &self,
        escrow: &str,
        worker: &str,
        now: i64,
        lease_secs: i64,
    ) -> Result<Option<Lease>, StoreError> {
        let expires = now + lease_secs;
        let lease = with_tx!(self, tx, pg => {
            let job = load_job!(&mut *tx, escrow, pg);
            if claimable(&job, now) { Some(grant_lease!(tx, &job, worker, now, expires)) } else { None }
        });
        Ok(lease)
    }

    /// Extends a live lease to `now + lease_secs`. A lease that ran out, or was replaced,
    /// is lost for good: [`StoreError::LeaseLost`].
    pub async fn heartbeat(
        &self,
        lease: &Lease,
        now: i64,
        lease_secs: i64,
    ) -> Result<Lease, StoreError> {
        let expires = now + lease_secs;
        with_tx!(self, tx, pg => {
            let done = sqlx::query(
                "UPDATE jobs SET lease_expires_at = $1 WHERE escrow = $2 AND lease_seq = $3 \
                 AND lease_worker = $4 AND state IN ('leased', 'running') AND lease_expires_at > $5",
            )
            .bind(expires)
            .bind(&lease.escrow)
            .bind(to_db("lease_seq", lease.seq)?)
            .bind(&lease.worker)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            if done.rows_affected() != 1 {
                return Err(StoreError::LeaseLost {
                    escrow: lease.escrow.clone(),
                    seq: lease.seq,
                    worker: lease.worker.clone(),
                });
            }
            sqlx::query("UPDATE leases SET heartbeat_at = $1, expires_at = $2 WHERE escrow = $3 AND seq = $4")
                .bind(now)
                .bind(expires)
                .bind(&lease.escrow)
                .bind(to_db("lease_seq", lease.seq)?)
                .execute(&mut *tx)
                .await?;
        });
        Ok(Lease {
            expires_at: expires,
            ..lease.clone()
        })
    }

    /// Gives a job back (the worker declined or is shutting down): it is `funded` again.
    pub async fn release_lease(&self, lease: &Lease, now: i64) -> Result<(), StoreError> {
        with_tx!(self, tx, pg => {
            let job = load_job!(&mut *tx, &lease.escrow, pg);
            check_current(&job, lease)?;
            set_job_state!(tx, &job, JobState::Funded, now);
        });
        Ok(())
    }

    /// Stores the worker's signed acceptance of its live lease and marks the job `running`.
    /// The signature must have been verified against the provider's operator key. The same
    /// acceptance sent again (a retried request) is accepted and changes nothing.
    pub async fn record_acceptance(
        &self,
        lease: &Lease,
        acceptance: &Acceptance,
        now: i64,
    ) -> Result<(), StoreError> {
        with_tx!(self, tx, pg => {
            let job = load_job!(&mut *tx, &lease.escrow, pg);
            check_current(&job, lease)?;
            if job.state == JobState::Running {
                // A retried request is fine if it carries the acceptance already stored.
                let prior = sqlx::query(
                    "SELECT payload, signature FROM acceptances WHERE escrow = $1 AND lease_seq = $2",
                )
                .bind(&lease.escrow)
                .bind(to_db("lease_seq", lease.seq)?)
                .fetch_optional(&mut *tx)
                .await?;
                if let Some(row) = prior
                    && row.bytes("payload")? == acceptance.payload
                    && row.bytes("signature")? == acceptance.signature
                {
                    return Ok(());
                }
                return Err(StoreError::IllegalTransition {
                    escrow: lease.escrow.clone(),
                    from: job.state,
                    to: JobState::Running,
                });
            }
            if job.lease.as_ref().is_none_or(|l| l.expires_at <= now) {
                return Err(StoreError::LeaseLost {
                    escrow: lease.escrow.clone(),
                    seq: lease.seq,
                    worker: lease.worker.clone(),
                });
            }
            sqlx::query(
                "INSERT INTO acceptances (escrow, lease_seq, operator_pubkey, payload, signature, received_at) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(&lease.escrow)
            .bind(to_db("lease_seq", lease.seq)?)
            .bind(&acceptance.operator_pubkey[..])
            .bind(&acceptance.payload)
            .bind(&acceptance.signature[..])
            .bind(now)
            .execute(&mut *tx)
            .await?;
            set_job_state!(tx, &job, JobState::Running, now);
        });
        Ok(())
    }

    /// Every acceptance stored for a job, oldest lease first (each is slashing evidence).
    pub async fn acceptances(&self, escrow: &str) -> Result<Vec<(u64, Acceptance)>, StoreError> {
        super::with_pool!(self, pool => {
            let rows = sqlx::query(
                "SELECT lease_seq, operator_pubkey, payload, signature FROM acceptances \
                 WHERE escrow = $1 ORDER BY lease_seq",
            )
            .bind(escrow)
            .fetch_all(pool)
            .await?;
            rows.iter()
                .map(|row| {
                    Ok((
                        from_db("lease_seq", row.int("lease_seq")?)?,
                        Acceptance {
                            operator_pubkey: row.array("operator_pubkey")?,
                            payload: row.bytes("payload")?,
                            signature: row.array("signature")?,
                        },
                    ))
                })
                .collect()
        })
    }
}
