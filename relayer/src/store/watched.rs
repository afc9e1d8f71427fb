//! Which accounts the watcher follows. Clients deploy escrows and compute accounts
//! themselves (protocol rule 6), so the relayer learns of one only when a client
//! registers it (job API, gateway account); the registration is persisted here so a
//! restarted watcher still follows it, from its cursor in `chain_cursors`.

use super::row::RowExt;
use super::{Store, StoreError, with_pool};

/// What a followed account is, which decides how its transactions are decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum WatchKind {
    Hub,
    JobEscrow,
    ComputeAccount,
}

impl WatchKind {
    pub fn as_str(self) -> &'static str {
        match self {
            WatchKind::Hub => "hub",
            WatchKind::JobEscrow => "job_escrow",
            WatchKind::ComputeAccount => "compute_account",
        }
    }

    fn parse(s: &str) -> Result<Self, StoreError> {
        Ok(match s {
            "hub" => WatchKind::Hub,
            "job_escrow" => WatchKind::JobEscrow,
            "compute_account" => WatchKind::ComputeAccount,
            other => return Err(StoreError::Corrupt(format!("unknown watch kind {other:?}"))),
        })
    }
}

/// A followed account (raw address form, `0:<hex>`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Watched {
    pub account: String,
    pub kind: WatchKind,
}

impl Store {
    /// Registers `account` to be followed as `kind`; returns true if it is new. Registering
    /// it again with the same kind is a no-op; with another kind it is refused
    /// ([`StoreError::WatchKindConflict`]) and nothing changes.
    pub async fn watch(
        &self,
        account: &str,
        kind: WatchKind,
        now: i64,
    ) -> Result<bool, StoreError> {
        with_pool!(self, pool => {
            let done = sqlx::query(
                "INSERT INTO watched_accounts (account, kind, added_at) VALUES ($1, $2, $3) \
                 ON CONFLICT DO NOTHING",
            )
            .bind(account)
            .bind(kind.as_str())
            .bind(now)
            .execute(pool)
            .await?;
            if done.rows_affected() == 1 {
                return Ok(true);
            }
            let row = sqlx::query("SELECT kind FROM watched_accounts WHERE account = $1")
                .bind(account)
                .fetch_one(pool)
                .await?;
            let existing = WatchKind::parse(&row.text("kind")?)?;
            if existing != kind {
                return Err(StoreError::WatchKindConflict { account: account.to_owned(), existing, requested: kind });
            }
            Ok(false)
        })
    }

    /// Every followed account, in registration order.
    pub async fn watched(&self) -> Result<Vec<Watched>, StoreError> {
        with_pool!(self, pool => {
            let rows = sqlx::query("SELECT account, kind FROM watched_accounts ORDER BY added_at, account")
                .fetch_all(pool)
                .await?;
            rows.iter()
                .map(|row| Ok(Watched { account: row.text("account")?, kind: WatchKind::parse(&row.text("kind")?)? }))
                .collect()
        })
    }
}
