//! Job specs: `submit_job` records a job and its spec once, agrees with the watcher's
//! `JobFunded`, refuses other terms without storing anything, and only jobs with a spec
//! are dispatchable.

use spindle_relayer::job::JobState;
use spindle_relayer::store::StoreError;

use crate::common::{TestDb, both_backends};
use crate::fixtures::{funded, job, tx};

async fn submit_is_idempotent_and_agrees_with_the_watcher(db: TestDb) {
    let store = db.store();
    // Submitted first: recorded with its spec, dispatchable.
    let a = job(1, 1_000);
    let stored = store.submit_job(&a, "{\"a\":1}", 10).await.unwrap();
    assert_eq!(stored.state, JobState::Funded);
    assert_eq!(store.submit_job(&a, "{\"a\":1}", 11).await.unwrap(), stored);
    // Seen by the watcher first: the submission adds only the spec.
    store
        .apply_chain_tx(&tx("0:aa", 1), &funded(2, 1_000), 10)
        .await
        .unwrap();
    assert_eq!(store.job_spec(&job(2, 1_000).escrow).await.unwrap(), None);
    assert_eq!(
        store.dispatchable_jobs(20, 10).await.unwrap().len(),
        1,
        "no spec, not dispatchable"
    );
    store
        .submit_job(&job(2, 1_000), "{\"b\":2}", 12)
        .await
        .unwrap();
    let ready = store.dispatchable_jobs(20, 10).await.unwrap();
    assert_eq!(ready.len(), 2);
    assert_eq!(ready[1].spec, "{\"b\":2}");
    // Other terms for a known escrow: refused, nothing stored.
    let mut other = job(3, 1_000);
    store
        .apply_chain_tx(&tx("0:aa", 2), &funded(3, 1_000), 10)
        .await
        .unwrap();
    other.amount += 1;
    assert!(matches!(
        store.submit_job(&other, "{\"c\":3}", 13).await,
        Err(StoreError::JobMismatch(_))
    ));
    assert_eq!(store.job_spec(&other.escrow).await.unwrap(), None);
    assert_eq!(
        store.job(&other.escrow).await.unwrap().unwrap().job,
        job(3, 1_000)
    );
    // A spec is never rewritten.
    assert!(
        db.raw_execute("UPDATE job_specs SET spec = 'x'")
            .await
            .is_err()
    );
    // Past the deadline, or leased and live: not dispatchable.
    assert!(store.dispatchable_jobs(1_000, 10).await.unwrap().is_empty());
    let lease = store
        .claim_job(&a.escrow, "w", 20, 30)
        .await
        .unwrap()
        .unwrap();
    let ready = store.dispatchable_jobs(21, 10).await.unwrap();
    assert_eq!(ready.len(), 1);
    assert_eq!(
        store
            .dispatchable_jobs(lease.expires_at, 10)
            .await
            .unwrap()
            .len(),
        2,
        "a lapsed lease is dispatchable again"
    );
}

both_backends!(submit_is_idempotent_and_agrees_with_the_watcher);
