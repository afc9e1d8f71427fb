//! Test harness: runs one test body against a real SQLite file and a real PostgreSQL
//! database, each created fresh for the test and removed afterwards (also on failure).
//!
//! PostgreSQL is expected at `SPINDLE_TEST_POSTGRES_URL` (default
//! `postgres://postgres@127.0.0.1:5432/test`, as on every Spindle machine). If it is not
//! reachable the Postgres tests fail with a message saying so; they never skip.

use std::future::Future;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use spindle_relayer::Store;
use sqlx::Connection;

pub const DEFAULT_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Sqlite,
    Postgres,
}

/// A fresh, migrated database for one test.
pub struct TestDb {
    pub kind: Kind,
    pub url: String,
    store: Store,
}

impl TestDb {
    /// The store the harness opened (migrations applied).
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Another store on the same database with its own pool: a second replica.
    pub async fn new_store(&self) -> Store {
        Store::connect(&self.url)
            .await
            .expect("second store connects")
    }

    /// Runs raw SQL outside the store API (to prove the database itself refuses things).
    pub async fn raw_execute(&self, sql: &str) -> Result<u64, sqlx::Error> {
        let sql = sqlx::AssertSqlSafe(sql.to_owned());
        match self.kind {
            Kind::Sqlite => {
                let mut c = sqlx::SqliteConnection::connect(&self.url).await?;
                sqlx::query("PRAGMA foreign_keys = ON")
                    .execute(&mut c)
                    .await?;
                Ok(sqlx::query(sql).execute(&mut c).await?.rows_affected())
            }
            Kind::Postgres => {
                let mut c = sqlx::PgConnection::connect(&self.url).await?;
                Ok(sqlx::query(sql).execute(&mut c).await?.rows_affected())
            }
        }
    }

    /// A single integer from raw SQL (e.g. `SELECT COUNT(*) …`).
    pub async fn raw_int(&self, sql: &str) -> i64 {
        let sql = sqlx::AssertSqlSafe(sql.to_owned());
        match self.kind {
            Kind::Sqlite => {
                let mut c = sqlx::SqliteConnection::connect(&self.url).await.unwrap();
                sqlx::query_scalar(sql).fetch_one(&mut c).await.unwrap()
            }
            Kind::Postgres => {
                let mut c = sqlx::PgConnection::connect(&self.url).await.unwrap();
                sqlx::query_scalar(sql).fetch_one(&mut c).await.unwrap()
            }
        }
    }
}

fn unique(name: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos()
        % 1_000_000_000_000;
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{name}_{}_{nanos}_{n}", std::process::id())
}

/// A fresh empty directory under the system temp dir.
pub fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("spindle-relayer-{}", unique(name)));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

pub fn postgres_admin_url() -> String {
    std::env::var("SPINDLE_TEST_POSTGRES_URL").unwrap_or_else(|_| DEFAULT_POSTGRES_URL.to_owned())
}

/// Connects to the admin database, or panics with what is wrong and what to do.
pub async fn postgres_admin(url: &str) -> sqlx::PgConnection {
    let attempt =
        tokio::time::timeout(Duration::from_secs(10), sqlx::PgConnection::connect(url)).await;
    match attempt {
        Ok(Ok(conn)) => conn,
        Ok(Err(e)) => panic!(
            "PostgreSQL is not reachable at {url}: {e}. The store tests need a real server (it runs on \
             127.0.0.1:5432 on every Spindle machine): start it, or set SPINDLE_TEST_POSTGRES_URL."
        ),
        Err(_) => panic!(
            "PostgreSQL is not reachable at {url}: connecting timed out after 10 s. Start it, or set \
             SPINDLE_TEST_POSTGRES_URL."
        ),
    }
}

/// Creates a database for the test, runs `body` on it, and removes it afterwards.
pub async fn run<F, Fut>(kind: Kind, name: &str, body: F)
where
    F: FnOnce(TestDb) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    match kind {
        Kind::Sqlite => {
            let dir = temp_dir(name);
            let url = format!("sqlite://{}", dir.join("store.db").display());
            let store = Store::connect(&url)
                .await
                .expect("SQLite store opens and migrates");
            let outcome = tokio::spawn(body(TestDb { kind, url, store })).await;
            let _ = std::fs::remove_dir_all(&dir);
            if let Err(e) = outcome {
                fail(e.into_panic());
            }
        }
        Kind::Postgres => {
            let admin_url = postgres_admin_url();
            let mut admin = postgres_admin(&admin_url).await;
            let short: String = name.chars().take(24).collect();
            let db = unique(&format!("spindle_t_{short}")).to_lowercase();
            sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{db}\"")))
                .execute(&mut admin)
                .await
                .expect("CREATE DATABASE for the test");
            let mut url = url::Url::parse(&admin_url).expect("SPINDLE_TEST_POSTGRES_URL is a URL");
            url.set_path(&format!("/{db}"));
            let url = url.to_string();
            let outcome = match Store::connect(&url).await {
                Ok(store) => tokio::spawn(body(TestDb { kind, url, store }))
                    .await
                    .map_err(|e| e.into_panic()),
                Err(e) => {
                    Err(Box::new(format!("the Postgres store must open and migrate: {e}")) as _)
                }
            };
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS \"{db}\" WITH (FORCE)"
            )))
            .execute(&mut admin)
            .await
            .expect("DROP DATABASE after the test");
            if let Err(panic) = outcome {
                fail(panic);
            }
        }
    }
}

/// Re-raises a test body's panic on the test's own thread, with its message, after the
/// database was cleaned up (the body ran in a task, whose output the harness may not show).
fn fail(panic: Box<dyn std::any::Any + Send>) -> ! {
    let message = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("(non-string panic)");
    panic!("{message}")
}

/// Declares each listed `async fn name(db: TestDb)` as two tests, `sqlite::name` and
/// `postgres::name`, running the same body on each backend.
macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    crate::common::run(crate::common::Kind::Sqlite, stringify!($name), super::$name).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    crate::common::run(crate::common::Kind::Postgres, stringify!($name), super::$name).await;
                }
            )*
        }
    };
}
pub(crate) use both_backends;
