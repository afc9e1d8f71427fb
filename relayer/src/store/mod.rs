//! The relayer's persistent state: one [`Store`] over SQLite (default, one process) or
//! PostgreSQL (several replicas of one operator), chosen by the URL.
//!
//! Both backends run the same SQL (`$n` placeholders work in both) except where a
//! dialect differs, and each has its own migration set under `relayer/migrations/`.
//! The safety rules of the protocol (one signature per job, vouchers never lower,
//! one poster at a time, re-seen transactions are no-ops) are enforced by keys,
//! constraints, triggers and transactions in the database, so a bug in a caller or a
//! second replica cannot break them. Writes on SQLite use `BEGIN IMMEDIATE`, which takes
//! the write lock up front and so never fails half-way with `SQLITE_BUSY`. This relayer's
//! own signatures are group-committed (`group_commit`): concurrent ones share one
//! transaction, each answered once it is durable.
//!
//! All times are unix seconds (`i64`), passed in by the caller so tests control the clock.

mod chain;
mod charges;
mod dashboard;
mod error;
mod group_commit;
mod job_settle;
mod jobs;
mod leases;
mod outbox;
mod row;
mod signing;
mod specs;
mod views;
mod watched;

pub use chain::{Applied, ChainEvent, ChainTx, Cursor};
pub use charges::{Charge, ChargeSummary, PairTotals, VoucherPost};
pub use dashboard::{JobEarnings, VoucherView, WorkerOutcome};
pub use error::StoreError;
pub use job_settle::{OwnJobSignature, ResultRecord};
pub use jobs::{Job, LeaseInfo, NewJob};
pub use leases::{Acceptance, Lease};
pub use outbox::PostingLease;
pub use signing::{
    JobProof, ProofSignature, SignOutcome, StoredResult, Usage, VoucherRecord, VoucherSignature,
};
pub use specs::DispatchableJob;
pub use views::{JobTimeline, OutboxView, SignatureView, TimelineEvent};
pub use watched::{WatchKind, Watched};

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{PgPool, SqlitePool};

/// How long a SQLite writer waits for the lock before giving up.
const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// The relayer's database handle. Cheap to clone (pools are reference-counted).
#[derive(Clone)]
pub struct Store {
    backend: Backend,
    /// This store's signature batcher (see [`group_commit`]).
    signing: group_commit::SignQueue,
}

#[derive(Clone)]
pub(crate) enum Backend {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Which database a [`Store`] talks to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BackendKind {
    Sqlite,
    Postgres,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("backend", &self.kind())
            .finish()
    }
}

/// Runs `$body` with `$pool` bound to the backend's pool (the body is compiled per backend).
macro_rules! with_pool {
    ($store:expr, $pool:ident => $body:expr) => {
        match &$store.backend {
            $crate::store::Backend::Sqlite($pool) => $body,
            $crate::store::Backend::Postgres($pool) => $body,
        }
    };
}

/// Runs `$body` inside a write transaction bound to `$tx`, committing if the body finishes.
/// An early `return Err(..)` or `?` drops the transaction, which rolls everything back.
/// `$pg` is a `bool` telling the body which dialect it runs on.
macro_rules! with_tx {
    ($store:expr, $tx:ident, $pg:ident => $body:expr) => {
        match &$store.backend {
            $crate::store::Backend::Sqlite(pool) => {
                #[allow(unused_variables)]
                let $pg = false;
                let mut $tx = pool.begin_with("BEGIN IMMEDIATE").await?;
                let out = $body;
                $tx.commit().await?;
                out
            }
            $crate::store::Backend::Postgres(pool) => {
                #[allow(unused_variables)]
                let $pg = true;
                let mut $tx = pool.begin().await?;
                let out = $body;
                $tx.commit().await?;
                out
            }
        }
    };
}
pub(crate) use {with_pool, with_tx};

impl Store {
    /// Connects to `url` (`sqlite://path`, `sqlite::memory:` or `postgres://…`), creating a
    /// SQLite file if missing, and applies the pending migrations of that backend.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let store = Self::connect_without_migrating(url).await?;
        store.migrate().await?;
        Ok(store)
    }

    /// Connects without migrating (for tools that only read, and for tests of migration).
    pub async fn connect_without_migrating(url: &str) -> Result<Self, StoreError> {
        let backend = if url.starts_with("sqlite:") {
            let options = SqliteConnectOptions::from_str(url)?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .busy_timeout(SQLITE_BUSY_TIMEOUT)
                .foreign_keys(true);
            // Each connection to `:memory:` is its own database: keep exactly one, forever.
            let pool = if url.contains(":memory:") {
                SqlitePoolOptions::new()
                    .max_connections(1)
                    .min_connections(1)
                    .idle_timeout(None)
                    .max_lifetime(None)
            } else {
                SqlitePoolOptions::new().max_connections(4)
            }
            .connect_with(options)
            .await?;
            Backend::Sqlite(pool)
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            let options = PgConnectOptions::from_str(url)?;
            let pool = PgPoolOptions::new()
                .max_connections(8)
                .acquire_timeout(Duration::from_secs(10))
                .connect_with(options)
                .await?;
            Backend::Postgres(pool)
        } else {
            return Err(StoreError::UnsupportedUrl(redact_url(url)));
        };
        Ok(Self {
            backend,
            signing: Default::default(),
        })
    }

    /// Applies this backend's migrations that have not run yet.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        match &self.backend {
            Backend::Sqlite(pool) => sqlx::migrate!("./migrations/sqlite").run(pool).await?,
            Backend::Postgres(pool) => sqlx::migrate!("./migrations/postgres").run(pool).await?,
        }
        Ok(())
    }

    /// Which database this store uses.
    pub fn kind(&self) -> BackendKind {
        match self.backend {
            Backend::Sqlite(_) => BackendKind::Sqlite,
            Backend::Postgres(_) => BackendKind::Postgres,
        }
    }

    /// Closes the pool, waiting for connections to be returned.
    pub async fn close(&self) {
        with_pool!(self, pool => pool.close().await)
    }

    /// Names of the tables the migrations created (for health checks and tests).
    pub async fn table_names(&self) -> Result<Vec<String>, StoreError> {
        let names = match &self.backend {
            Backend::Sqlite(pool) => {
                sqlx::query_scalar(
                    "SELECT name FROM sqlite_master WHERE type = 'table' \
                     AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '_sqlx%' ORDER BY name",
                )
                .fetch_all(pool)
                .await?
            }
            Backend::Postgres(pool) => {
                sqlx::query_scalar(
                    "SELECT table_name::text FROM information_schema.tables \
                     WHERE table_schema = current_schema() AND table_name NOT LIKE '_sqlx%' \
                     ORDER BY table_name",
                )
                .fetch_all(pool)
                .await?
            }
        };
        Ok(names)
    }
}

impl Store {
    /// Number of jobs in each state (every state listed, zeros included), for `/metrics`.
    pub async fn job_counts(&self) -> Result<Vec<(crate::job::JobState, u64)>, StoreError> {
        let counted = self
            .count_by("SELECT state, COUNT(*) AS n FROM jobs GROUP BY state")
            .await?;
        Ok(crate::job::JobState::ALL
            .into_iter()
            .map(|state| {
                (
                    state,
                    counted
                        .iter()
                        .find(|(s, _)| s == state.as_str())
                        .map_or(0, |(_, n)| *n),
                )
            })
            .collect())
    }

    /// Number of outbox items in each state (every state listed), for `/metrics`.
    pub async fn outbox_counts(
        &self,
    ) -> Result<Vec<(crate::outbox::OutboxState, u64)>, StoreError> {
        let counted = self
            .count_by("SELECT state, COUNT(*) AS n FROM outbox GROUP BY state")
            .await?;
        Ok(crate::outbox::OutboxState::ALL
            .into_iter()
            .map(|state| {
                (
                    state,
                    counted
                        .iter()
                        .find(|(s, _)| s == state.as_str())
                        .map_or(0, |(_, n)| *n),
                )
            })
            .collect())
    }

    /// Number of outbox items per (kind, state) that has any, for `/metrics`.
    pub async fn outbox_counts_by_kind(&self) -> Result<Vec<(String, String, u64)>, StoreError> {
        use row::RowExt;
        with_pool!(self, pool => {
            let rows = sqlx::query(
                "SELECT kind, state, COUNT(*) AS n FROM outbox GROUP BY kind, state ORDER BY kind, state",
            )
            .fetch_all(pool)
            .await?;
            rows.iter()
                .map(|r| Ok((r.text("kind")?, r.text("state")?, from_db("count", r.int("n")?)?)))
                .collect()
        })
    }

    /// Cheapest round trip to the database, for `/readyz`.
    pub async fn ping(&self) -> Result<(), StoreError> {
        with_pool!(self, pool => {
            sqlx::query("SELECT 1").execute(pool).await?;
            Ok(())
        })
    }

    async fn count_by(&self, sql: &'static str) -> Result<Vec<(String, u64)>, StoreError> {
        use row::RowExt;
        with_pool!(self, pool => {
            let rows = sqlx::query(sql).fetch_all(pool).await?;
            rows.iter().map(|r| Ok((r.text("state")?, from_db("count", r.int("n")?)?))).collect()
        })
    }
}

/// Drops the password from a database URL so it can appear in errors and logs.
pub fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        _ => url.to_owned(),
    }
}

/// Converts an amount or counter to the database's signed 64-bit integer.
pub(crate) fn to_db(field: &'static str, value: u64) -> Result<i64, StoreError> {
    i64::try_from(value).map_err(|_| StoreError::OutOfRange { field, value })
}

/// Converts a database integer back, refusing negative values (which constraints forbid).
pub(crate) fn from_db(field: &'static str, value: i64) -> Result<u64, StoreError> {
    u64::try_from(value).map_err(|_| StoreError::Corrupt(format!("{field} is negative: {value}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn memory_store_keeps_its_data() {
        let store = Store::connect("sqlite::memory:").await.unwrap();
        let job = NewJob {
            escrow: "0:e".into(),
            client: "0:c".into(),
            nonce: 1,
            asset: "TON".into(),
            amount: 5,
            deadline: 100,
            spec_hash: [1; 32],
        };
        store.insert_job(&job, 1).await.unwrap();
        // Many round trips: a pool that opened a second connection would see an empty database.
        for _ in 0..20 {
            assert!(store.job("0:e").await.unwrap().is_some());
        }
        let counts = store.job_counts().await.unwrap();
        assert_eq!(counts.len(), 9);
        assert_eq!(counts[0], (crate::job::JobState::Funded, 1));
        assert!(counts[1..].iter().all(|(_, n)| *n == 0));
    }

    #[tokio::test]
    async fn unsupported_url_is_named_without_its_password() {
        let err = Store::connect("mysql://user:topsecret@host/db")
            .await
            .unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, StoreError::UnsupportedUrl(_)), "{msg}");
        assert!(
            !msg.contains("topsecret") && msg.contains("sqlite://") && msg.contains("postgres://"),
            "{msg}"
        );
    }
}
