//! The harness itself must not let an unreachable Postgres pass silently.

#[tokio::test]
#[should_panic(expected = "PostgreSQL is not reachable")]
async fn unreachable_postgres_fails_loudly() {
    // Port 1 on localhost: nothing listens there.
    crate::common::postgres_admin("postgres://postgres@127.0.0.1:1/test").await;
}
