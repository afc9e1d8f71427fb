//! The store side of escrow-job settlement: a peer stores the coordinator's result once
//! (never a second one), its funded job leaves dispatch, the dispatcher's provider and pay
//! are set once, and the settlement loop's queries find the right jobs.

use spindle_relayer::job::JobState;
use spindle_relayer::store::StoreError;

use crate::common::{TestDb, both_backends};
use crate::fixtures::{escrow, job, sig};
use crate::jobs::{acceptance, proof, result};

async fn a_peer_stores_one_result_per_job(db: TestDb) {
    let s = db.store();
    s.insert_job(&job(1, 1_000), 100).await.unwrap();
    s.store_peer_result(&escrow(1), 3, &result(1), "0:provider", 400_000_000, 101)
        .await
        .unwrap();
    // The peer never leased the job; now it will not dispatch it either.
    let stored = s.job(&escrow(1)).await.unwrap().unwrap();
    assert_eq!(stored.state, JobState::ResultStored);
    assert!(
        s.claim_job(&escrow(1), "w", 102, 30)
            .await
            .unwrap()
            .is_none()
    );
    // The same result again (a retried request) changes nothing.
    s.store_peer_result(&escrow(1), 3, &result(1), "0:provider", 400_000_000, 103)
        .await
        .unwrap();
    // Another result for the job is refused, and nothing is stored.
    let err = s
        .store_peer_result(&escrow(1), 4, &result(2), "0:provider", 400_000_000, 104)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::DifferentResult { .. }), "{err}");
    let results = s.results_of(&escrow(1)).await.unwrap();
    assert_eq!(results.len(), 1);
    assert_eq!(results[0].result, result(1));
    assert_eq!(results[0].lease_seq, 3);
    assert_eq!(results[0].provider.as_deref(), Some("0:provider"));
    assert_eq!(results[0].pay, Some(400_000_000));
    // Signing it moves the job to signed and is the one signature of the job.
    s.commit_job_signature(&proof(1, 1), &sig(1), 105)
        .await
        .unwrap();
    assert_eq!(
        s.job(&escrow(1)).await.unwrap().unwrap().state,
        JobState::Signed
    );
    let own = s.own_job_signature(&escrow(1)).await.unwrap().unwrap();
    assert_eq!((own.proof, own.signature), (proof(1, 1), sig(1)));
    assert!(s.own_job_signature(&escrow(2)).await.unwrap().is_none());
    // An unknown job is refused.
    let err = s
        .store_peer_result(&escrow(9), 1, &result(1), "0:provider", 1, 106)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::JobNotFound(_)), "{err}");
}

async fn provider_and_pay_are_set_once(db: TestDb) {
    let s = db.store();
    s.insert_job(&job(1, 1_000), 100).await.unwrap();
    let lease = s
        .claim_job(&escrow(1), "w", 100, 30)
        .await
        .unwrap()
        .unwrap();
    s.record_acceptance(&lease, &acceptance(1), 101)
        .await
        .unwrap();
    // Not stored yet: named.
    let err = s
        .set_result_settlement(&escrow(1), &result(1).result_hash, "0:p", 5)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::ResultNotStored { .. }), "{err}");
    s.store_result(&lease, &result(1), 102).await.unwrap();
    let hash = result(1).result_hash;
    assert!(
        s.results_of(&escrow(1)).await.unwrap()[0]
            .provider
            .is_none()
    );
    assert!(s.jobs_with_results(10).await.unwrap() == vec![escrow(1)]);
    s.set_result_settlement(&escrow(1), &hash, "0:p", 5)
        .await
        .unwrap();
    s.set_result_settlement(&escrow(1), &hash, "0:p", 5)
        .await
        .unwrap();
    for (provider, pay) in [("0:q", 5), ("0:p", 6)] {
        let err = s
            .set_result_settlement(&escrow(1), &hash, provider, pay)
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::ResultTermsDiffer { .. }), "{err}");
    }
    let r = &s.results_of(&escrow(1)).await.unwrap()[0];
    assert_eq!((r.provider.as_deref(), r.pay), (Some("0:p"), Some(5)));
}

async fn loop_queries_pick_unfinished_jobs(db: TestDb) {
    let s = db.store();
    s.insert_job(&job(1, 1_000), 100).await.unwrap();
    s.insert_job(&job(2, 2_000), 100).await.unwrap();
    s.insert_job(&job(3, 500), 100).await.unwrap();
    s.store_peer_result(&escrow(2), 1, &result(2), "0:p", 1, 101)
        .await
        .unwrap();
    assert_eq!(s.jobs_with_results(10).await.unwrap(), vec![escrow(2)]);
    assert_eq!(
        s.jobs_past_deadline(1_500, 10).await.unwrap(),
        vec![escrow(3), escrow(1)]
    );
    s.transition_job(&escrow(3), JobState::Refunded, 600)
        .await
        .unwrap();
    s.transition_job(&escrow(2), JobState::Settled, 600)
        .await
        .unwrap();
    assert!(s.jobs_with_results(10).await.unwrap().is_empty());
    assert_eq!(
        s.jobs_past_deadline(3_000, 10).await.unwrap(),
        vec![escrow(1)]
    );
}

both_backends!(
    a_peer_stores_one_result_per_job,
    provider_and_pay_are_set_once,
    loop_queries_pick_unfinished_jobs,
);
