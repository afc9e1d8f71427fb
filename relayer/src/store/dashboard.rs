//! Aggregates for the dashboard's network, money and health views: the newest
//! voucher per (account, provider), how the jobs each worker leased ended, what
//! settled jobs paid each provider, and how long funded jobs waited for a lease.
//! Nothing here writes.

use super::row::RowExt;
use super::{Store, StoreError, from_db, with_pool};

/// The newest cumulative voucher this relayer signed for (account, provider).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct VoucherView {
    pub account: String,
    pub provider: String,
    pub epoch: u64,
    /// nanoTON, cumulative over the epoch.
    pub cumulative: u64,
    /// How much of it the chain has paid.
    pub settled: u64,
    pub valid_until: i64,
    pub updated_at: i64,
    /// The ed25519 signature (hex).
    pub signature: String,
}

/// How many distinct jobs leased to `worker` (an operator key, hex) are in `state`.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct WorkerOutcome {
    pub worker: String,
    pub state: String,
    pub jobs: u64,
}

/// What settled escrow jobs paid one provider (owner address, raw).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct JobEarnings {
    pub provider: String,
    pub jobs: u64,
    /// nanoTON (or jetton units) the completion proofs paid.
    pub paid: u64,
}

impl Store {
    /// The newest voucher of every (account, provider), newest first.
    pub async fn vouchers(&self) -> Result<Vec<VoucherView>, StoreError> {
        with_pool!(self, pool => {
            let rows = sqlx::query(
                "SELECT account, provider, epoch, cumulative, settled, valid_until, updated_at, signature \
                 FROM vouchers ORDER BY updated_at DESC, account, provider",
            )
            .fetch_all(pool)
            .await?;
            rows.iter()
                .map(|r| {
                    Ok(VoucherView {
                        account: r.text("account")?,
                        provider: r.text("provider")?,
                        epoch: from_db("epoch", r.int("epoch")?)?,
                        cumulative: from_db("cumulative", r.int("cumulative")?)?,
                        settled: from_db("settled", r.int("settled")?)?,
                        valid_until: r.int("valid_until")?,
                        updated_at: r.int("updated_at")?,
                        signature: hex::encode(r.bytes("signature")?),
                    })
                })
                .collect()
        })
    }

    /// For each worker that ever held a lease: its jobs by current state.
    pub async fn worker_outcomes(&self) -> Result<Vec<WorkerOutcome>, StoreError> {
        with_pool!(self, pool => {
            let rows = sqlx::query(
                "SELECT l.worker AS worker, j.state AS state, COUNT(DISTINCT j.escrow) AS n \
                 FROM leases l JOIN jobs j ON j.escrow = l.escrow \
                 GROUP BY l.worker, j.state ORDER BY l.worker, j.state",
            )
            .fetch_all(pool)
            .await?;
            rows.iter()
                .map(|r| {
                    Ok(WorkerOutcome {
                        worker: r.text("worker")?,
                        state: r.text("state")?,
                        jobs: from_db("n", r.int("n")?)?,
                    })
                })
                .collect()
        })
    }

    /// What the settled jobs this relayer signed paid each provider.
    pub async fn job_earnings(&self) -> Result<Vec<JobEarnings>, StoreError> {
        with_pool!(self, pool => {
            let rows = sqlx::query(
                "SELECT s.provider AS provider, COUNT(*) AS n, \
                 CAST(COALESCE(SUM(s.amount), 0) AS BIGINT) AS paid \
                 FROM job_signatures s JOIN jobs j ON j.escrow = s.escrow \
                 WHERE j.state = 'settled' GROUP BY s.provider ORDER BY s.provider",
            )
            .fetch_all(pool)
            .await?;
            rows.iter()
                .map(|r| {
                    Ok(JobEarnings {
                        provider: r.text("provider")?,
                        jobs: from_db("n", r.int("n")?)?,
                        paid: from_db("paid", r.int("paid")?)?,
                    })
                })
                .collect()
        })
    }

    /// Seconds from funding to first lease of the newest `limit` leased jobs.
    pub async fn lease_latencies(&self, limit: u32) -> Result<Vec<i64>, StoreError> {
        with_pool!(self, pool => {
            let rows = sqlx::query(
                "SELECT j.created_at AS created_at, MIN(l.claimed_at) AS first_claim \
                 FROM jobs j JOIN leases l ON l.escrow = j.escrow \
                 GROUP BY j.escrow, j.created_at ORDER BY j.created_at DESC LIMIT $1",
            )
            .bind(i64::from(limit))
            .fetch_all(pool)
            .await?;
            rows.iter()
                .map(|r| Ok((r.int("first_claim")? - r.int("created_at")?).max(0)))
                .collect()
        })
    }
}
