//! Re-seen transactions are no-ops; refused events record nothing; cursors only advance.

use spindle_relayer::job::JobState;
use spindle_relayer::store::{
    Applied, ChainEvent, ChainTx, Cursor, StoreError, WatchKind, Watched,
};

use crate::common::{TestDb, both_backends};
use crate::fixtures::{HUB, escrow, funded, h, tx};

async fn reseen_transactions_are_noops(db: TestDb) {
    let s = db.store();
    let e = escrow(1);
    assert_eq!(
        s.apply_chain_tx(&tx(HUB, 10), &funded(1, 1_000), 100)
            .await
            .unwrap(),
        Applied::New
    );
    // The job moves on; the same funding transaction seen again (overlapping page,
    // restart, second replica) must neither fail nor reset it.
    let lease = s.claim_next("w", 100, 30).await.unwrap().unwrap();
    for _ in 0..3 {
        assert_eq!(
            s.apply_chain_tx(&tx(HUB, 10), &funded(1, 1_000), 101)
                .await
                .unwrap(),
            Applied::AlreadySeen
        );
    }
    let job = s.job(&e).await.unwrap().unwrap();
    assert_eq!((job.state, job.lease_seq), (JobState::Leased, lease.seq));
    assert_eq!(db.raw_int("SELECT COUNT(*) FROM jobs").await, 1);
    assert_eq!(
        db.raw_int("SELECT COUNT(*) FROM seen_transactions").await,
        1
    );

    // Settlement seen twice settles once. A settlement recorded before its transaction
    // is applied (the poster saw the escrow's state change first) is no change either:
    // the transaction is marked seen and the job stays settled.
    let settle = [ChainEvent::JobSettled { escrow: e.clone() }];
    assert_eq!(
        s.apply_chain_tx(&tx(&e, 50), &settle, 102).await.unwrap(),
        Applied::New
    );
    assert_eq!(
        s.apply_chain_tx(&tx(&e, 50), &settle, 103).await.unwrap(),
        Applied::AlreadySeen
    );
    assert_eq!(
        s.apply_chain_tx(&tx(&e, 51), &settle, 104).await.unwrap(),
        Applied::New
    );
    assert!(s.is_seen(&e, 51).await.unwrap());
    // A refund of a settled job is still illegal, and its transaction is not marked seen.
    let err = s
        .apply_chain_tx(
            &tx(&e, 52),
            &[ChainEvent::JobRefunded { escrow: e.clone() }],
            105,
        )
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::IllegalTransition {
                from: JobState::Settled,
                ..
            }
        ),
        "{err}"
    );
    assert!(
        !s.is_seen(&e, 52).await.unwrap(),
        "a refused transaction is not marked seen"
    );
    assert_eq!(s.job(&e).await.unwrap().unwrap().state, JobState::Settled);

    // The same (account, lt) with another hash means our view forked: refuse loudly.
    let forked = ChainTx {
        hash: h(12345),
        ..tx(HUB, 10)
    };
    let err = s.apply_chain_tx(&forked, &[], 105).await.unwrap_err();
    assert!(
        matches!(err, StoreError::TxHashMismatch { lt: 10, .. }),
        "{err}"
    );
}

async fn refused_event_records_nothing(db: TestDb) {
    let s = db.store();
    // Funds job 1, then settles an unknown escrow in the same transaction: all or nothing.
    let events = vec![
        ChainEvent::JobFunded(crate::fixtures::job(1, 1_000)),
        ChainEvent::JobSettled {
            escrow: "0:unknown".into(),
        },
    ];
    let err = s
        .apply_chain_tx(&tx(HUB, 10), &events, 100)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::JobNotFound(_)), "{err}");
    assert!(!s.is_seen(HUB, 10).await.unwrap());
    assert_eq!(
        s.job(&escrow(1)).await.unwrap(),
        None,
        "the funding in the refused tx was rolled back"
    );
}

async fn cursors_only_advance(db: TestDb) {
    let s = db.store();
    assert_eq!(s.cursor(HUB).await.unwrap(), None);
    let c10 = Cursor {
        lt: 10,
        hash: h(10),
    };
    let c20 = Cursor {
        lt: 20,
        hash: h(20),
    };
    assert!(s.advance_cursor(HUB, &c10, 1).await.unwrap());
    assert!(s.advance_cursor(HUB, &c20, 2).await.unwrap());
    assert!(
        !s.advance_cursor(HUB, &c10, 3).await.unwrap(),
        "never backwards"
    );
    assert!(
        !s.advance_cursor(HUB, &c20, 4).await.unwrap(),
        "same position is a no-op"
    );
    assert_eq!(s.cursor(HUB).await.unwrap(), Some(c20));
    assert_eq!(
        s.cursor("0:other").await.unwrap(),
        None,
        "cursors are per account"
    );
}

async fn watched_accounts_persist(db: TestDb) {
    let store = db.store();
    assert!(store.watch("0:aa", WatchKind::Hub, 1).await.unwrap());
    assert!(store.watch("0:bb", WatchKind::JobEscrow, 2).await.unwrap());
    assert!(
        !store.watch("0:bb", WatchKind::JobEscrow, 3).await.unwrap(),
        "again: a no-op"
    );
    let conflict = store.watch("0:bb", WatchKind::ComputeAccount, 4).await;
    assert!(
        matches!(conflict, Err(StoreError::WatchKindConflict { .. })),
        "{conflict:?}"
    );
    // A second replica (own pool) sees the same set; the database refuses removal.
    let other = db.new_store().await;
    let expected = vec![
        Watched {
            account: "0:aa".into(),
            kind: WatchKind::Hub,
        },
        Watched {
            account: "0:bb".into(),
            kind: WatchKind::JobEscrow,
        },
    ];
    assert_eq!(other.watched().await.unwrap(), expected);
    assert!(
        db.raw_execute("DELETE FROM watched_accounts")
            .await
            .is_err()
    );
    assert!(
        db.raw_execute("INSERT INTO watched_accounts VALUES ('0:cc', 'wallet', 5)")
            .await
            .is_err()
    );
    assert_eq!(store.watched().await.unwrap(), expected);
}

both_backends!(
    watched_accounts_persist,
    reseen_transactions_are_noops,
    refused_event_records_nothing,
    cursors_only_advance
);
