//! Metered charges of the gateway and the vouchers posted for them.
//!
//! A charge is one verified request's cost to (account, provider); it is written before
//! the client sees its `usage`, so a restart never forgets it. The cumulative voucher for
//! (account, provider) is the sum of its charges; what is unsettled is that sum less what
//! the chain has paid (`vouchers.settled`, raised from the account's `get_paid`).

use super::row::RowExt;
use super::{Store, StoreError, from_db, to_db, with_pool};
use crate::outbox::OutboxId;

/// One verified request's cost.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Charge {
    /// Unique per request, across restarts (the gateway draws 128 random bits).
    pub request_id: String,
    pub account: String,
    /// The provider's owner address (raw form), whose stake the voucher pays.
    pub provider: String,
    pub cost: u64,
}

/// What (account, provider) has been charged and what settled on-chain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PairTotals {
    pub account: String,
    pub provider: String,
    pub charged: u64,
    pub settled: u64,
}

impl PairTotals {
    pub fn unsettled(&self) -> u64 {
        self.charged.saturating_sub(self.settled)
    }
}

/// The voucher an outbox item posts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VoucherPost {
    pub outbox_id: OutboxId,
    pub account: String,
    pub provider: String,
    pub epoch: u64,
    pub cumulative: u64,
}

pub(super) const TOTALS: &str = "SELECT c.account, c.provider, CAST(SUM(c.cost) AS BIGINT) AS charged, \
     CAST(COALESCE(MAX(v.settled), 0) AS BIGINT) AS settled FROM charges c \
     LEFT JOIN vouchers v ON v.account = c.account AND v.provider = c.provider";

impl Store {
    /// Records a charge; the same request id again is a no-op (returns false).
    pub async fn record_charge(&self, charge: &Charge, now: i64) -> Result<bool, StoreError> {
        with_pool!(self, pool => {
            let done = sqlx::query(
                "INSERT INTO charges (request_id, account, provider, cost, charged_at) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (request_id) DO NOTHING",
            )
            .bind(&charge.request_id)
            .bind(&charge.account)
            .bind(&charge.provider)
            .bind(to_db("cost", charge.cost)?)
            .bind(now)
            .execute(pool)
            .await?;
            Ok(done.rows_affected() == 1)
        })
    }

    /// Charged and settled per provider of `account`.
    pub async fn account_totals(&self, account: &str) -> Result<Vec<PairTotals>, StoreError> {
        let sql = sqlx::AssertSqlSafe(format!(
            "{TOTALS} WHERE c.account = $1 GROUP BY c.account, c.provider ORDER BY c.provider"
        ));
        with_pool!(self, pool => {
            let rows = sqlx::query(sql).bind(account).fetch_all(pool).await?;
            rows.iter().map(totals).collect()
        })
    }

    /// Every (account, provider) whose charges exceed what settled.
    pub async fn unsettled_pairs(&self) -> Result<Vec<PairTotals>, StoreError> {
        let sql = sqlx::AssertSqlSafe(format!(
            "{TOTALS} GROUP BY c.account, c.provider \
             HAVING SUM(c.cost) > COALESCE(MAX(v.settled), 0) ORDER BY c.account, c.provider"
        ));
        with_pool!(self, pool => {
            let rows = sqlx::query(sql).fetch_all(pool).await?;
            rows.iter().map(totals).collect()
        })
    }

    /// What this relayer charged (account, provider) in total (0 if nothing).
    pub async fn charged(&self, account: &str, provider: &str) -> Result<u64, StoreError> {
        with_pool!(self, pool => {
            let sum: i64 = sqlx::query_scalar(
                "SELECT CAST(COALESCE(SUM(cost), 0) AS BIGINT) FROM charges \
                 WHERE account = $1 AND provider = $2",
            )
            .bind(account)
            .bind(provider)
            .fetch_one(pool)
            .await?;
            from_db("charged", sum)
        })
    }

    /// Records which voucher an outbox item posts (idempotent).
    pub async fn record_voucher_post(&self, post: &VoucherPost) -> Result<(), StoreError> {
        with_pool!(self, pool => {
            sqlx::query(
                "INSERT INTO voucher_posts (outbox_id, account, provider, epoch, cumulative) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (outbox_id) DO NOTHING",
            )
            .bind(post.outbox_id.as_str())
            .bind(&post.account)
            .bind(&post.provider)
            .bind(to_db("epoch", post.epoch)?)
            .bind(to_db("cumulative", post.cumulative)?)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// The voucher an outbox item posts, if it is a voucher post.
    pub async fn voucher_post(&self, id: &OutboxId) -> Result<Option<VoucherPost>, StoreError> {
        with_pool!(self, pool => {
            let row = sqlx::query(
                "SELECT account, provider, epoch, cumulative FROM voucher_posts WHERE outbox_id = $1",
            )
            .bind(id.as_str())
            .fetch_optional(pool)
            .await?;
            row.map(|row| {
                Ok(VoucherPost {
                    outbox_id: id.clone(),
                    account: row.text("account")?,
                    provider: row.text("provider")?,
                    epoch: from_db("epoch", row.int("epoch")?)?,
                    cumulative: from_db("cumulative", row.int("cumulative")?)?,
                })
            })
            .transpose()
        })
    }
    /// All charges ever recorded (count, nanoTON) and what the chain has settled of them,
    /// for `/metrics`.
    pub async fn charge_summary(&self) -> Result<ChargeSummary, StoreError> {
        with_pool!(self, pool => {
            let row = sqlx::query(
                "SELECT COUNT(*) AS n, CAST(COALESCE(SUM(cost), 0) AS BIGINT) AS total FROM charges",
            )
            .fetch_one(pool)
            .await?;
            let settled = sqlx::query(
                "SELECT CAST(COALESCE(SUM(settled), 0) AS BIGINT) AS settled FROM vouchers",
            )
            .fetch_one(pool)
            .await?;
            Ok(ChargeSummary {
                count: from_db("count", row.int("n")?)?,
                charged: from_db("charged", row.int("total")?)?,
                settled: from_db("settled", settled.int("settled")?)?,
            })
        })
    }
}

pub(super) fn totals<R: RowExt>(row: &R) -> Result<PairTotals, StoreError> {
    Ok(PairTotals {
        account: row.text("account")?,
        provider: row.text("provider")?,
        charged: from_db("charged", row.int("charged")?)?,
        settled: from_db("settled", row.int("settled")?)?,
    })
}

/// Totals over every charge, for `/metrics`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ChargeSummary {
    pub count: u64,
    pub charged: u64,
    pub settled: u64,
}
