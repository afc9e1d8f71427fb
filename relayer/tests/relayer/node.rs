//! A node started from a config serves `/metrics` from its store: what the store holds
//! (charges, outbox items by kind and state, jobs) is what the scrape reports, on SQLite
//! and on PostgreSQL. The binary-level tests (health, readiness, SIGTERM, workers) are
//! in `cli/tests/ops.rs`.

use std::os::unix::fs::PermissionsExt;

use spindle_relayer::config::{Config, example_config};
use spindle_relayer::node::{Node, metrics};
use spindle_relayer::outbox::{NewOutboxItem, OutboxKind};
use spindle_relayer::store::{Charge, NewJob};

use crate::common::{TestDb, both_backends};

const HUB: &str = "0:1212121212121212121212121212121212121212121212121212121212121212";

async fn metrics_count_what_the_store_holds(db: TestDb) {
    let dir = crate::common::temp_dir("node_metrics");
    let key = dir.join("relayer.key");
    std::fs::write(&key, "42".repeat(32)).unwrap();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    let config = Config::from_toml_str(
        &example_config(HUB, &key),
        "test",
        [
            ("SPINDLE_STORE_URL".to_owned(), db.url.clone()),
            (
                "SPINDLE_RELAYER_LISTEN".to_owned(),
                "127.0.0.1:0".to_owned(),
            ),
        ],
    )
    .unwrap();
    let node = Node::start(config).await.unwrap();
    let url = format!("http://{}", node.addr);
    let scrape = || async {
        let text = reqwest::get(format!("{url}/metrics"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        metrics::parse(&text).unwrap()
    };
    let value = |samples: &[(String, f64)], series: &str| {
        samples.iter().find(|(s, _)| s == series).map(|(_, v)| *v)
    };
    let before = scrape().await;
    assert_eq!(value(&before, "spindle_charges_total"), Some(0.0));

    let store = db.store();
    for (i, cost) in [(1, 700u64), (2, 300)] {
        let charge = Charge {
            request_id: format!("req-{i}"),
            account: "0:aa".into(),
            provider: "0:bb".into(),
            cost,
        };
        assert!(store.record_charge(&charge, 1).await.unwrap());
    }
    store
        .outbox_prepare(
            &NewOutboxItem {
                kind: OutboxKind::Voucher,
                target: "0:aa".into(),
                key: vec![1],
                payload: vec![0],
                value: 1_000,
                not_before: 0,
            },
            1,
        )
        .await
        .unwrap();
    store
        .insert_job(
            &NewJob {
                escrow: "0:e1".into(),
                client: "0:c".into(),
                nonce: 1,
                asset: "TON".into(),
                amount: 5,
                deadline: 100,
                spec_hash: [1; 32],
            },
            1,
        )
        .await
        .unwrap();

    let after = scrape().await;
    assert_eq!(value(&after, "spindle_charges_total"), Some(2.0));
    assert_eq!(value(&after, "spindle_charged_nanoton_total"), Some(1000.0));
    assert_eq!(value(&after, "spindle_settled_nanoton_total"), Some(0.0));
    assert_eq!(
        value(
            &after,
            r#"spindle_outbox_items{kind="voucher",state="prepared"}"#
        ),
        Some(1.0)
    );
    assert_eq!(
        value(
            &after,
            r#"spindle_settlements{kind="voucher",status="pending"}"#
        ),
        Some(1.0)
    );
    assert_eq!(value(&after, r#"spindle_jobs{state="funded"}"#), Some(1.0));
    // The first scrape was counted by the request layer before the second answered.
    assert_eq!(
        value(
            &after,
            r#"spindle_http_requests_total{route="/metrics",status="200"}"#
        ),
        Some(1.0)
    );
    // This replica takes the posting lease; metrics say so; shutdown gives it up, so
    // another replica can post at once instead of waiting out the lease.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let lease = spindle_relayer::settle::submitter::LEASE;
    let holder = node.parts.ops.holder.clone();
    assert!(
        store
            .acquire_posting_lease(lease, &holder, now, 120)
            .await
            .unwrap()
            .is_some()
    );
    assert!(
        store
            .acquire_posting_lease(lease, "other-replica", now, 120)
            .await
            .unwrap()
            .is_none(),
        "the lease is live"
    );
    let held = scrape().await;
    assert_eq!(value(&held, "spindle_posting_lease_held"), Some(1.0));
    node.shutdown().await.unwrap();
    assert!(
        store
            .acquire_posting_lease(lease, "other-replica", now, 120)
            .await
            .unwrap()
            .is_some(),
        "shutdown did not release the posting lease"
    );
    let _ = std::fs::remove_dir_all(dir);
}

both_backends!(metrics_count_what_the_store_holds);
