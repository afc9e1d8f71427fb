//! Jobs: created from a funding transaction, moved along [`JobState`] by compare-and-set
//! updates, so two replicas racing on one job cannot both move it.

use super::row::RowExt;
use super::{Store, StoreError, from_db, with_pool, with_tx};
use crate::job::JobState;

/// A job as read from its escrow's creation (or its state, for a backfill).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewJob {
    /// The escrow contract's address; the job's id everywhere.
    pub escrow: String,
    pub client: String,
    /// Never repeats for one client, so (client, nonce) names one escrow.
    pub nonce: u64,
    /// `TON` or the jetton master's address.
    pub asset: String,
    /// In the asset's smallest unit.
    pub amount: u64,
    /// Unix seconds after which `expire` is possible (plus the grace period).
    pub deadline: i64,
    pub spec_hash: [u8; 32],
}

/// The current lease of a job.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeaseInfo {
    pub seq: u64,
    pub worker: String,
    pub expires_at: i64,
}

/// A stored job.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Job {
    pub job: NewJob,
    pub state: JobState,
    /// Number of leases ever granted (the current one, if leased, has this number).
    pub lease_seq: u64,
    /// Set while the state is `leased` or `running`.
    pub lease: Option<LeaseInfo>,
    pub created_at: i64,
    pub updated_at: i64,
}

pub(crate) fn job_from_row(row: &impl RowExt) -> Result<Job, StoreError> {
    let state: JobState = row
        .text("state")?
        .parse()
        .map_err(|e| StoreError::Corrupt(format!("{e}")))?;
    let lease = match (
        state.is_leased(),
        row.opt_text("lease_worker")?,
        row.opt_int("lease_expires_at")?,
    ) {
        (true, Some(worker), Some(expires_at)) => Some(LeaseInfo {
            seq: from_db("lease_seq", row.int("lease_seq")?)?,
            worker,
            expires_at,
        }),
        _ => None,
    };
    Ok(Job {
        job: NewJob {
            escrow: row.text("escrow")?,
            client: row.text("client")?,
            nonce: from_db("nonce", row.int("nonce")?)?,
            asset: row.text("asset")?,
            amount: from_db("amount", row.int("amount")?)?,
            deadline: row.int("deadline")?,
            spec_hash: row.array("spec_hash")?,
        },
        state,
        lease_seq: from_db("lease_seq", row.int("lease_seq")?)?,
        lease,
        created_at: row.int("created_at")?,
        updated_at: row.int("updated_at")?,
    })
}

/// Inserts a funded job on `$exec` (inside an open transaction); a job that already
/// exists makes the enclosing function return [`StoreError::JobExists`].
macro_rules! insert_job {
    ($exec:expr, $job:expr, $now:expr) => {{
        let job: &$crate::store::NewJob = $job;
        let done = sqlx::query(
            "INSERT INTO jobs (escrow, client, nonce, asset, amount, deadline, spec_hash, state, \
             created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, 'funded', $8, $8) \
             ON CONFLICT DO NOTHING",
        )
        .bind(&job.escrow)
        .bind(&job.client)
        .bind($crate::store::to_db("nonce", job.nonce)?)
        .bind(&job.asset)
        .bind($crate::store::to_db("amount", job.amount)?)
        .bind(job.deadline)
        .bind(&job.spec_hash[..])
        .bind($now)
        .execute($exec)
        .await?;
        if done.rows_affected() == 0 {
            return Err($crate::store::StoreError::JobExists(job.escrow.clone()));
        }
    }};
}

/// Records a funded job seen on-chain on `$exec` (inside an open transaction). A job
/// already recorded with the same terms (the job API read the escrow first, or another
/// relayer's watcher of this store did) is left as it is; one with other terms makes the
/// enclosing function return [`StoreError::JobMismatch`].
macro_rules! record_funded_job {
    ($exec:expr, $job:expr, $now:expr) => {{
        let job: &$crate::store::NewJob = $job;
        let done = sqlx::query(
            "INSERT INTO jobs (escrow, client, nonce, asset, amount, deadline, spec_hash, state, \
             created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, 'funded', $8, $8) \
             ON CONFLICT DO NOTHING",
        )
        .bind(&job.escrow)
        .bind(&job.client)
        .bind($crate::store::to_db("nonce", job.nonce)?)
        .bind(&job.asset)
        .bind($crate::store::to_db("amount", job.amount)?)
        .bind(job.deadline)
        .bind(&job.spec_hash[..])
        .bind($now)
        .execute(&mut *$exec)
        .await?;
        if done.rows_affected() == 0 {
            let row = sqlx::query(
                "SELECT client, nonce, asset, amount, deadline, spec_hash FROM jobs WHERE escrow = $1",
            )
            .bind(&job.escrow)
            .fetch_optional(&mut *$exec)
            .await?;
            let same = match row {
                Some(r) => {
                    use $crate::store::row::RowExt;
                    r.text("client")? == job.client
                        && r.int("nonce")? == $crate::store::to_db("nonce", job.nonce)?
                        && r.text("asset")? == job.asset
                        && r.int("amount")? == $crate::store::to_db("amount", job.amount)?
                        && r.int("deadline")? == job.deadline
                        && r.bytes("spec_hash")? == job.spec_hash
                }
                // (client, nonce) is taken by another escrow address.
                None => false,
            };
            if !same {
                return Err($crate::store::StoreError::JobMismatch(job.escrow.clone()));
            }
        }
    }};
}

/// Loads a job on `$exec`, locking its row on Postgres (`$pg`), or returns
/// [`StoreError::JobNotFound`] from the enclosing function.
macro_rules! load_job {
    ($exec:expr, $escrow:expr, $pg:expr) => {{
        let escrow: &str = $escrow;
        let sql = if $pg {
            "SELECT escrow, client, nonce, asset, amount, deadline, spec_hash, state, lease_seq, \
             lease_worker, lease_expires_at, created_at, updated_at FROM jobs WHERE escrow = $1 FOR UPDATE"
        } else {
            "SELECT escrow, client, nonce, asset, amount, deadline, spec_hash, state, lease_seq, \
             lease_worker, lease_expires_at, created_at, updated_at FROM jobs WHERE escrow = $1"
        };
        match sqlx::query(sql).bind(escrow).fetch_optional($exec).await? {
            Some(row) => $crate::store::jobs::job_from_row(&row)?,
            None => return Err($crate::store::StoreError::JobNotFound(escrow.to_owned())),
        }
    }};
}

/// Moves a job loaded in this transaction to `$to` (checked against the lifecycle) with a
/// compare-and-set on its old state, ending its lease if it had one.
macro_rules! set_job_state {
    ($tx:expr, $job:expr, $to:expr, $now:expr) => {{
        let job: &$crate::store::Job = $job;
        let to: $crate::job::JobState = $to;
        if !job.state.can_transition_to(to) {
            return Err($crate::store::StoreError::IllegalTransition {
                escrow: job.job.escrow.clone(),
                from: job.state,
                to,
            });
        }
        let done = sqlx::query(
            "UPDATE jobs SET state = $1, updated_at = $2, \
             lease_worker = CASE WHEN $1 IN ('leased', 'running') THEN lease_worker END, \
             lease_expires_at = CASE WHEN $1 IN ('leased', 'running') THEN lease_expires_at END \
             WHERE escrow = $3 AND state = $4",
        )
        .bind(to.as_str())
        .bind($now)
        .bind(&job.job.escrow)
        .bind(job.state.as_str())
        .execute(&mut *$tx)
        .await?;
        if done.rows_affected() != 1 {
            return Err($crate::store::StoreError::Corrupt(format!(
                "job {} changed under a locked transaction",
                job.job.escrow
            )));
        }
        if job.state.is_leased() && !to.is_leased() {
            sqlx::query(
                "UPDATE leases SET ended_at = $1, end_reason = $2 \
                 WHERE escrow = $3 AND seq = $4 AND ended_at IS NULL",
            )
            .bind($now)
            .bind(to.as_str())
            .bind(&job.job.escrow)
            .bind($crate::store::to_db("lease_seq", job.lease_seq)?)
            .execute(&mut *$tx)
            .await?;
        }
    }};
}
pub(crate) use {insert_job, load_job, record_funded_job, set_job_state};

impl Store {
    /// Records a funded job directly (tests, backfill from contract state). The watcher
    /// normally does this through [`Store::apply_chain_tx`], which is idempotent.
    pub async fn insert_job(&self, job: &NewJob, now: i64) -> Result<(), StoreError> {
        with_tx!(self, tx, pg => insert_job!(&mut *tx, job, now));
        Ok(())
    }

    /// The job escrowed at `escrow`, if known.
    pub async fn job(&self, escrow: &str) -> Result<Option<Job>, StoreError> {
        let sql = "SELECT escrow, client, nonce, asset, amount, deadline, spec_hash, state, lease_seq, \
                   lease_worker, lease_expires_at, created_at, updated_at FROM jobs WHERE escrow = $1";
        with_pool!(self, pool => {
            match sqlx::query(sql).bind(escrow).fetch_optional(pool).await? {
                Some(row) => Ok(Some(job_from_row(&row)?)),
                None => Ok(None),
            }
        })
    }

    /// Jobs in `state`, earliest deadline first.
    pub async fn jobs_in_state(&self, state: JobState, limit: u32) -> Result<Vec<Job>, StoreError> {
        let sql = "SELECT escrow, client, nonce, asset, amount, deadline, spec_hash, state, lease_seq, \
                   lease_worker, lease_expires_at, created_at, updated_at FROM jobs WHERE state = $1 \
                   ORDER BY deadline, escrow LIMIT $2";
        with_pool!(self, pool => {
            let rows = sqlx::query(sql).bind(state.as_str()).bind(i64::from(limit)).fetch_all(pool).await?;
            rows.iter().map(job_from_row).collect()
        })
    }

    /// Moves a job to `to` if the lifecycle allows it from its current state. States that
    /// need evidence (lease, acceptance, result, signature) are refused here: use
    /// [`Store::claim_next`], [`Store::record_acceptance`], [`Store::store_result`],
    /// [`Store::commit_job_signature`]. A refusal changes nothing.
    pub async fn transition_job(
        &self,
        escrow: &str,
        to: JobState,
        now: i64,
    ) -> Result<Job, StoreError> {
        if to.needs_evidence() {
            return Err(StoreError::TransitionNeedsEvidence {
                escrow: escrow.to_owned(),
                to,
            });
        }
        let job = with_tx!(self, tx, pg => {
            let job = load_job!(&mut *tx, escrow, pg);
            set_job_state!(tx, &job, to, now);
            job
        });
        Ok(Job {
            state: to,
            lease: None,
            updated_at: now,
            ..job
        })
    }

    /// Moves every unfinished job whose `deadline + grace` has passed to `expired` (their
    /// leases end), returning the escrows moved. After `deadline + grace` the escrow no
    /// longer accepts `complete`, so no work on them can be paid.
    pub async fn expire_overdue(&self, now: i64, grace: i64) -> Result<Vec<String>, StoreError> {
        let expired = with_tx!(self, tx, pg => {
            let rows = sqlx::query(
                "UPDATE jobs SET state = 'expired', updated_at = $1, lease_worker = NULL, lease_expires_at = NULL \
                 WHERE deadline + $2 <= $1 AND state NOT IN ('settled', 'refunded', 'expired') RETURNING escrow",
            )
            .bind(now)
            .bind(grace)
            .fetch_all(&mut *tx)
            .await?;
            sqlx::query(
                "UPDATE leases SET ended_at = $1, end_reason = 'expired' WHERE ended_at IS NULL \
                 AND escrow IN (SELECT escrow FROM jobs WHERE state = 'expired')",
            )
            .bind(now)
            .execute(&mut *tx)
            .await?;
            rows.iter().map(|row| row.text("escrow")).collect::<Result<Vec<_>, _>>()?
        });
        Ok(expired)
    }
}
