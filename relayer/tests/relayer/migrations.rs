//! Both migration sets create the same tables and can be re-run.

use spindle_relayer::Store;

use crate::common::{TestDb, both_backends};

const TABLES: [&str; 17] = [
    "acceptances",
    "chain_cursors",
    "charges",
    "job_signatures",
    "job_specs",
    "jobs",
    "leases",
    "outbox",
    "posting_lease",
    "proof_signatures",
    "results",
    "seen_transactions",
    "voucher_posts",
    "vouchers",
    "wallet_submission_items",
    "wallet_submissions",
    "watched_accounts",
];

async fn migrations_apply(db: TestDb) {
    let tables = db.store().table_names().await.unwrap();
    assert_eq!(tables, TABLES, "the schema has exactly the designed tables");
    // Re-running is a no-op, and a second process opening the store migrates nothing.
    db.store().migrate().await.unwrap();
    let again = Store::connect(&db.url).await.unwrap();
    assert_eq!(again.table_names().await.unwrap(), TABLES);
    assert_eq!(db.raw_int("SELECT COUNT(*) FROM _sqlx_migrations").await, 6);
}

async fn constraints_refuse_bad_rows(db: TestDb) {
    // The schema itself rejects an unknown job state and a short hash.
    let bad_state = "INSERT INTO jobs (escrow, client, nonce, asset, amount, deadline, spec_hash, state, created_at, \
                     updated_at) VALUES ('e', 'c', 1, 'TON', 5, 10, {HASH}, 'paid', 0, 0)";
    let hash = match db.kind {
        crate::common::Kind::Sqlite => "zeroblob(32)",
        crate::common::Kind::Postgres => "decode(repeat('00', 32), 'hex')",
    };
    assert!(
        db.raw_execute(&bad_state.replace("{HASH}", hash))
            .await
            .is_err()
    );
    let short_hash = bad_state
        .replace("{HASH}", "x'00'")
        .replace("'paid'", "'funded'");
    let short_hash = match db.kind {
        crate::common::Kind::Sqlite => short_hash,
        crate::common::Kind::Postgres => short_hash.replace("x'00'", "'\\x00'::bytea"),
    };
    assert!(db.raw_execute(&short_hash).await.is_err());
    let good = bad_state
        .replace("{HASH}", hash)
        .replace("'paid'", "'funded'");
    assert_eq!(
        db.raw_execute(&good).await.unwrap(),
        1,
        "the same row with valid values is accepted"
    );
}

both_backends!(migrations_apply, constraints_refuse_bad_rows);
