//! Leases: two replicas racing for one job never both win; a lapsed lease can be taken
//! over, and the old holder can then do nothing more with the job.

use std::sync::Arc;

use spindle_relayer::job::JobState;
use spindle_relayer::store::StoreError;
use tokio::sync::Barrier;

use crate::common::{TestDb, both_backends};
use crate::fixtures::{escrow, job};
use crate::jobs::{acceptance, result};

const ROUNDS: u64 = 60;

async fn concurrent_claims_one_winner(db: TestDb) {
    // Two replicas, each with its own pool, as two relayer processes sharing a database.
    let a = db.new_store().await;
    let b = db.new_store().await;
    for i in 0..ROUNDS {
        let now = 1_000 + i as i64;
        db.store().insert_job(&job(i, 10_000), now).await.unwrap();
        let barrier = Arc::new(Barrier::new(2));
        let by_id = i % 2 == 1; // alternate: scheduler's pick vs. next claimable
        let claim = |store: spindle_relayer::Store, worker: &'static str| {
            let barrier = barrier.clone();
            tokio::spawn(async move {
                barrier.wait().await;
                if by_id {
                    store.claim_job(&escrow(i), worker, now, 100_000).await
                } else {
                    store.claim_next(worker, now, 100_000).await
                }
            })
        };
        let (ra, rb) = tokio::join!(claim(a.clone(), "worker-a"), claim(b.clone(), "worker-b"));
        let (ra, rb) = (ra.unwrap().unwrap(), rb.unwrap().unwrap());
        let winners: Vec<_> = [ra, rb].into_iter().flatten().collect();
        assert_eq!(
            winners.len(),
            1,
            "round {i}: exactly one claimer wins, got {winners:?}"
        );
        assert_eq!(winners[0].escrow, escrow(i));
        assert_eq!(winners[0].seq, 1);
        let stored = db.store().job(&escrow(i)).await.unwrap().unwrap();
        assert_eq!(stored.state, JobState::Leased);
        assert_eq!(stored.lease.unwrap().worker, winners[0].worker);
    }
    assert_eq!(
        db.raw_int("SELECT COUNT(*) FROM leases").await,
        ROUNDS as i64,
        "one lease row per job"
    );
}

async fn lapsed_lease_is_reclaimable(db: TestDb) {
    let s = db.store();
    let e = escrow(1);
    s.insert_job(&job(1, 1_000), 100).await.unwrap();
    let first = s.claim_next("w1", 100, 30).await.unwrap().unwrap();
    assert_eq!(
        s.claim_next("w2", 120, 30).await.unwrap(),
        None,
        "a live lease is not claimable"
    );
    let first = s.heartbeat(&first, 125, 30).await.unwrap();
    assert_eq!(first.expires_at, 155);
    s.record_acceptance(&first, &acceptance(1), 126)
        .await
        .unwrap();
    assert_eq!(
        s.claim_job(&e, "w2", 150, 30).await.unwrap(),
        None,
        "the heartbeat extended it"
    );

    // w1 goes silent; after expiry the job is dispatched again.
    let second = s
        .claim_next("w2", 155, 30)
        .await
        .unwrap()
        .expect("lapsed lease is re-claimable");
    assert_eq!((second.seq, second.worker.as_str()), (2, "w2"));
    let job = s.job(&e).await.unwrap().unwrap();
    assert_eq!((job.state, job.lease_seq), (JobState::Leased, 2));

    // The old holder has lost it for good.
    let lost = |r: Result<_, StoreError>| matches!(r, Err(StoreError::LeaseLost { seq: 1, .. }));
    assert!(lost(s.heartbeat(&first, 156, 30).await.map(|_| ())));
    assert!(lost(s.store_result(&first, &result(1), 156).await));
    assert!(lost(s.release_lease(&first, 156).await));
    assert_eq!(db.raw_int("SELECT COUNT(*) FROM results").await, 0);
    assert_eq!(
        s.acceptances(&e).await.unwrap().len(),
        1,
        "w1's acceptance stays as evidence"
    );

    // Releasing the live lease makes the job funded again; past the deadline nobody claims it.
    s.release_lease(&second, 160).await.unwrap();
    assert_eq!(s.job(&e).await.unwrap().unwrap().state, JobState::Funded);
    assert_eq!(
        s.claim_next("w3", 1_000, 30).await.unwrap(),
        None,
        "deadline reached"
    );
    assert_eq!(
        db.raw_int("SELECT COUNT(*) FROM leases WHERE ended_at IS NULL")
            .await,
        0
    );
}

async fn expired_lease_cannot_accept(db: TestDb) {
    let s = db.store();
    s.insert_job(&job(1, 1_000), 100).await.unwrap();
    let lease = s.claim_next("w1", 100, 30).await.unwrap().unwrap();
    let err = s
        .record_acceptance(&lease, &acceptance(1), 130)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::LeaseLost { .. }), "{err}");
    assert!(s.acceptances(&escrow(1)).await.unwrap().is_empty());
    assert!(matches!(
        s.heartbeat(&lease, 131, 30).await,
        Err(StoreError::LeaseLost { .. })
    ));
}

both_backends!(
    concurrent_claims_one_winner,
    lapsed_lease_is_reclaimable,
    expired_lease_cannot_accept
);
