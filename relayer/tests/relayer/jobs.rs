//! The job lifecycle end to end, and refusals that leave the job untouched.

use spindle_relayer::job::JobState;
use spindle_relayer::outbox::{NewOutboxItem, OutboxKind, OutboxState};
use spindle_relayer::store::{Acceptance, ChainEvent, JobProof, StoreError, StoredResult, Usage};

use crate::common::{TestDb, both_backends};
use crate::fixtures::{HUB, escrow, funded, h, sig, tx};

pub fn acceptance(n: u64) -> Acceptance {
    Acceptance {
        operator_pubkey: h(7),
        payload: format!("accept {n}").into_bytes(),
        signature: sig(n),
    }
}

pub fn result(n: u64) -> StoredResult {
    StoredResult {
        result_hash: h(500 + n),
        body: format!("result {n}").into_bytes(),
        usage: Usage {
            input_tokens: 10,
            output_tokens: 20 + n,
        },
        worker_pubkey: h(7),
        worker_signature: sig(900 + n),
    }
}

pub fn proof(i: u64, n: u64) -> JobProof {
    JobProof {
        escrow: escrow(i),
        result_hash: h(500 + n),
        provider: "0:provider".into(),
        amount: 400_000_000,
        payload_hash: h(700 + n),
    }
}

async fn job_lifecycle(db: TestDb) {
    let s = db.store();
    let e = escrow(1);
    s.apply_chain_tx(&tx(HUB, 10), &funded(1, 1_000), 100)
        .await
        .unwrap();
    let job = s.job(&e).await.unwrap().expect("funded job stored");
    assert_eq!(job.state, JobState::Funded);
    assert_eq!(job.job.amount, 1_000_000_001);

    let lease = s
        .claim_next("worker-a", 100, 30)
        .await
        .unwrap()
        .expect("claims the funded job");
    assert_eq!(
        (lease.escrow.as_str(), lease.seq, lease.expires_at),
        (e.as_str(), 1, 130)
    );
    assert_eq!(s.job(&e).await.unwrap().unwrap().state, JobState::Leased);

    s.record_acceptance(&lease, &acceptance(1), 101)
        .await
        .unwrap();
    assert_eq!(s.job(&e).await.unwrap().unwrap().state, JobState::Running);
    assert_eq!(s.acceptances(&e).await.unwrap(), vec![(1, acceptance(1))]);

    s.store_result(&lease, &result(1), 102).await.unwrap();
    assert_eq!(
        s.job(&e).await.unwrap().unwrap().state,
        JobState::ResultStored
    );
    assert_eq!(s.result(&e, &h(501)).await.unwrap(), Some(result(1)));

    s.commit_job_signature(&proof(1, 1), &sig(1), 103)
        .await
        .unwrap();
    assert_eq!(s.job(&e).await.unwrap().unwrap().state, JobState::Signed);

    s.transition_job(&e, JobState::Posted, 104).await.unwrap();
    s.apply_chain_tx(
        &tx(&e, 20),
        &[ChainEvent::JobSettled { escrow: e.clone() }],
        105,
    )
    .await
    .unwrap();
    let job = s.job(&e).await.unwrap().unwrap();
    assert_eq!(job.state, JobState::Settled);
    assert_eq!(job.lease, None, "a finished job holds no lease");
    assert_eq!(
        db.raw_int("SELECT COUNT(*) FROM leases WHERE ended_at IS NULL")
            .await,
        0,
        "its lease row is closed"
    );
}

async fn illegal_transitions_refused(db: TestDb) {
    let s = db.store();
    let e = escrow(2);
    s.apply_chain_tx(&tx(HUB, 10), &funded(2, 1_000), 100)
        .await
        .unwrap();
    let before = s.job(&e).await.unwrap().unwrap();

    // Skipping ahead is refused with a named error and changes nothing.
    let err = s
        .transition_job(&e, JobState::Posted, 150)
        .await
        .unwrap_err();
    assert!(
        matches!(
            &err,
            StoreError::IllegalTransition {
                from: JobState::Funded,
                to: JobState::Posted,
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(
        s.job(&e).await.unwrap().unwrap(),
        before,
        "no state change, not even updated_at"
    );

    // Evidence-carrying states cannot be entered by a bare transition.
    for to in [
        JobState::Leased,
        JobState::Running,
        JobState::ResultStored,
        JobState::Signed,
    ] {
        let err = s.transition_job(&e, to, 150).await.unwrap_err();
        assert!(
            matches!(err, StoreError::TransitionNeedsEvidence { .. }),
            "{err}"
        );
    }
    // A lease, but no acceptance: storing a result is out of order.
    let lease = s.claim_job(&e, "w", 100, 30).await.unwrap().unwrap();
    let err = s.store_result(&lease, &result(2), 101).await.unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::IllegalTransition {
                from: JobState::Leased,
                to: JobState::ResultStored,
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(
        db.raw_int("SELECT COUNT(*) FROM results").await,
        0,
        "the refused result was not stored"
    );
    // Signing without a stored result is refused.
    let err = s
        .commit_job_signature(&proof(2, 2), &sig(2), 102)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::ResultNotStored { .. }), "{err}");
    assert_eq!(s.job(&e).await.unwrap().unwrap().state, JobState::Leased);

    // Terminal states are final.
    s.transition_job(&e, JobState::Expired, 200).await.unwrap();
    s.transition_job(&e, JobState::Refunded, 201).await.unwrap();
    let done = s.job(&e).await.unwrap().unwrap();
    for to in [
        JobState::Funded,
        JobState::Expired,
        JobState::Settled,
        JobState::Posted,
    ] {
        let err = s.transition_job(&e, to, 300).await.unwrap_err();
        assert!(
            matches!(
                err,
                StoreError::IllegalTransition {
                    from: JobState::Refunded,
                    ..
                }
            ),
            "{err}"
        );
    }
    assert_eq!(s.job(&e).await.unwrap().unwrap(), done);

    let err = s
        .transition_job("0:unknown", JobState::Expired, 300)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::JobNotFound(_)), "{err}");
}

async fn duplicate_job_refused(db: TestDb) {
    let s = db.store();
    let job = crate::fixtures::job(3, 1_000);
    s.insert_job(&job, 100).await.unwrap();
    let err = s.insert_job(&job, 101).await.unwrap_err();
    assert!(matches!(err, StoreError::JobExists(_)), "{err}");
    // Another escrow address for the same (client, nonce) is refused by the schema too.
    let twin = spindle_relayer::store::NewJob {
        escrow: escrow(99),
        ..job
    };
    assert!(s.insert_job(&twin, 102).await.is_err());
    assert_eq!(db.raw_int("SELECT COUNT(*) FROM jobs").await, 1);
}

/// Job `i` moved through signing by worker `w` (lease from t=100, 30 s).
pub async fn signed_job(db: &TestDb, i: u64) {
    let s = db.store();
    s.insert_job(&crate::fixtures::job(i, 1_000), 100)
        .await
        .unwrap();
    let lease = s
        .claim_job(&escrow(i), "w", 100, 30)
        .await
        .unwrap()
        .unwrap();
    s.record_acceptance(&lease, &acceptance(i), 101)
        .await
        .unwrap();
    s.store_result(&lease, &result(i), 102).await.unwrap();
    s.commit_job_signature(&proof(i, i), &sig(i), 103)
        .await
        .unwrap();
}

fn completion(i: u64, payload: &str) -> NewOutboxItem {
    NewOutboxItem {
        kind: OutboxKind::Complete,
        target: escrow(i),
        key: h(500 + i).to_vec(),
        payload: payload.as_bytes().to_vec(),
        value: 1_000,
        not_before: 0,
    }
}

async fn queuing_a_proof_posts_the_job_atomically(db: TestDb) {
    let s = db.store();
    // Only a signed job can be queued; a refusal queues nothing.
    s.insert_job(&crate::fixtures::job(9, 1_000), 100)
        .await
        .unwrap();
    let err = s
        .queue_completion(&completion(9, "boc"), 100)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::IllegalTransition {
                from: JobState::Funded,
                to: JobState::Posted,
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(db.raw_int("SELECT COUNT(*) FROM outbox").await, 0);

    signed_job(&db, 1).await;
    let entry = s
        .queue_completion(&completion(1, "boc"), 104)
        .await
        .unwrap();
    assert_eq!(entry.state(), OutboxState::Prepared);
    assert_eq!(
        s.job(&escrow(1)).await.unwrap().unwrap().state,
        JobState::Posted
    );
    // Again (a restart after queuing): the same item, nothing new.
    let again = s
        .queue_completion(&completion(1, "boc"), 105)
        .await
        .unwrap();
    assert_eq!(again.record().id, entry.record().id);
    assert_eq!(db.raw_int("SELECT COUNT(*) FROM outbox").await, 1);
    // Another payload under the same id is refused.
    let err = s
        .queue_completion(&completion(1, "other boc"), 106)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::OutboxConflict { .. }), "{err}");
    let err = s
        .queue_completion(
            &NewOutboxItem {
                kind: OutboxKind::Expire,
                ..completion(1, "boc")
            },
            106,
        )
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::InvalidOutboxItem { .. }), "{err}");
}

async fn overdue_jobs_expire(db: TestDb) {
    let s = db.store();
    s.insert_job(&crate::fixtures::job(1, 1_000), 100)
        .await
        .unwrap(); // funded
    s.insert_job(&crate::fixtures::job(2, 1_000), 100)
        .await
        .unwrap(); // leased
    s.claim_job(&escrow(2), "w", 100, 5_000)
        .await
        .unwrap()
        .unwrap();
    s.insert_job(&crate::fixtures::job(3, 2_000), 100)
        .await
        .unwrap(); // not yet due
    signed_job(&db, 4).await; // deadline 1_000, then settled on-chain
    s.apply_chain_tx(
        &tx(&escrow(4), 1),
        &[ChainEvent::JobSettled { escrow: escrow(4) }],
        104,
    )
    .await
    .unwrap();

    assert!(
        s.expire_overdue(1_059, 60).await.unwrap().is_empty(),
        "grace not over yet"
    );
    let mut expired = s.expire_overdue(1_060, 60).await.unwrap();
    expired.sort();
    assert_eq!(expired, vec![escrow(1), escrow(2)]);
    assert_eq!(s.job(&escrow(2)).await.unwrap().unwrap().lease, None);
    assert_eq!(
        db.raw_int("SELECT COUNT(*) FROM leases WHERE ended_at IS NULL")
            .await,
        0
    );
    assert_eq!(
        s.job(&escrow(3)).await.unwrap().unwrap().state,
        JobState::Funded
    );
    assert_eq!(
        s.job(&escrow(4)).await.unwrap().unwrap().state,
        JobState::Settled,
        "terminal stays"
    );
    assert!(
        s.expire_overdue(1_060, 60).await.unwrap().is_empty(),
        "idempotent"
    );
    let counts = s.job_counts().await.unwrap();
    assert!(
        counts.contains(&(JobState::Expired, 2)) && counts.contains(&(JobState::Settled, 1)),
        "{counts:?}"
    );
}

async fn retried_worker_requests_are_idempotent(db: TestDb) {
    let s = db.store();
    s.insert_job(&crate::fixtures::job(1, 1_000), 100)
        .await
        .unwrap();
    let lease = s
        .claim_job(&escrow(1), "w", 100, 30)
        .await
        .unwrap()
        .unwrap();
    s.record_acceptance(&lease, &acceptance(1), 101)
        .await
        .unwrap();
    s.record_acceptance(&lease, &acceptance(1), 102)
        .await
        .unwrap(); // the worker retried
    let err = s
        .record_acceptance(&lease, &acceptance(2), 103)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::IllegalTransition {
                from: JobState::Running,
                to: JobState::Running,
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(
        s.acceptances(&escrow(1)).await.unwrap(),
        vec![(1, acceptance(1))]
    );

    s.store_result(&lease, &result(1), 104).await.unwrap();
    s.store_result(&lease, &result(1), 105).await.unwrap(); // retried
    let err = s.store_result(&lease, &result(2), 106).await.unwrap_err();
    assert!(matches!(err, StoreError::LeaseLost { .. }), "{err}");
    assert_eq!(db.raw_int("SELECT COUNT(*) FROM results").await, 1);
    assert_eq!(
        s.job(&escrow(1)).await.unwrap().unwrap().state,
        JobState::ResultStored
    );
}

both_backends!(
    job_lifecycle,
    retried_worker_requests_are_idempotent,
    illegal_transitions_refused,
    duplicate_job_refused,
    queuing_a_proof_posts_the_job_atomically,
    overdue_jobs_expire
);
