//! Group commit of signatures under concurrency: many sign requests at once (through two
//! stores on one database, as two replicas or a restarted process would) still give one
//! proof signature per job and never a lower voucher, and what was answered survives a
//! restart.

use spindle_relayer::Store;
use spindle_relayer::store::{JobProof, SignOutcome, StoreError, VoucherSignature};

use crate::common::{Kind, TestDb, both_backends};
use crate::fixtures::{escrow, h, job, sig};
use crate::jobs::{acceptance, result};

/// How many sign requests race.
const RACERS: u64 = 48;
/// Results stored for the job: the racers propose proofs over each of them.
const RESULTS: u64 = 4;

/// Job 1 with results 1..=RESULTS stored (the first by its lease, the others as rows a
/// buggy or malicious path could have left), ready to sign.
async fn job_with_results(db: &TestDb) {
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
    s.store_result(&lease, &result(1), 102).await.unwrap();
    let blob = |b: &[u8]| match db.kind {
        Kind::Sqlite => format!("X'{}'", hex::encode(b)),
        Kind::Postgres => format!("'\\x{}'::bytea", hex::encode(b)),
    };
    for n in 2..=RESULTS {
        let r = result(n);
        db.raw_execute(&format!(
            "INSERT INTO results (escrow, result_hash, lease_seq, body, input_tokens, output_tokens, \
             worker_pubkey, worker_signature, stored_at) VALUES ('{}', {}, 1, {}, 1, 1, {}, {}, 102)",
            escrow(1),
            blob(&r.result_hash),
            blob(&r.body),
            blob(&r.worker_pubkey),
            blob(&r.worker_signature),
        ))
        .await
        .unwrap();
    }
}

/// Racer `k`'s proof: one of the stored results, its own amount (so its own payload).
fn racer_proof(k: u64) -> JobProof {
    JobProof {
        escrow: escrow(1),
        result_hash: result(k % RESULTS + 1).result_hash,
        provider: "0:provider".into(),
        amount: 1_000 + k,
        payload_hash: h(7_000 + k),
    }
}

async fn racing_proofs_for_one_job_sign_once(db: TestDb) {
    job_with_results(&db).await;
    let stores = [db.store().clone(), db.new_store().await];
    // Every racer twice (a retried request), all at once, spread over both stores.
    let tasks: Vec<_> = (0..RACERS * 2)
        .map(|i| {
            let store = stores[(i % 2) as usize].clone();
            let k = i % RACERS;
            tokio::spawn(async move {
                let out = store
                    .commit_job_signature(&racer_proof(k), &sig(k), 103)
                    .await;
                (k, out)
            })
        })
        .collect();
    let mut outcomes = Vec::new();
    for t in tasks {
        outcomes.push(t.await.unwrap());
    }
    assert_eq!(db.raw_int("SELECT COUNT(*) FROM job_signatures").await, 1);
    let own = db
        .store()
        .own_job_signature(&escrow(1))
        .await
        .unwrap()
        .expect("one signature stored");
    let winner = (0..RACERS)
        .find(|&k| racer_proof(k).payload_hash == own.proof.payload_hash)
        .expect("the stored proof is one of the racers'");
    assert_eq!(own.signature, sig(winner));
    let new = outcomes
        .iter()
        .filter(|(_, o)| matches!(o, Ok(SignOutcome::New(_))))
        .count();
    assert_eq!(new, 1, "exactly one request signed anew: {outcomes:?}");
    for (k, outcome) in &outcomes {
        match outcome {
            Ok(o) => assert!(
                *k == winner && o.signature() == sig(winner),
                "racer {k} got a signature ({o:?}) but racer {winner}'s proof is the one"
            ),
            Err(e) => assert!(
                *k != winner && matches!(e, StoreError::ConflictingProof { .. }),
                "racer {k}: {e}"
            ),
        }
    }
    assert_eq!(
        outcomes.iter().filter(|(k, _)| *k == winner).count(),
        2,
        "the winner's retry got the same signature"
    );
    let state = db.store().job(&escrow(1)).await.unwrap().unwrap().state;
    assert_eq!(state.as_str(), "signed");
}

fn pair_voucher(account: u64, cumulative: u64) -> VoucherSignature {
    VoucherSignature {
        account: format!("0:account{account}"),
        provider: "0:provider".into(),
        epoch: 0,
        cumulative,
        valid_until: 10_000,
        payload_hash: h(cumulative),
        signature: sig(cumulative),
    }
}

async fn racing_vouchers_never_go_lower(db: TestDb) {
    let stores = [db.store().clone(), db.new_store().await];
    // Four pairs; for each, cumulatives 1..=RACERS offered in a scrambled order at once.
    let tasks: Vec<_> = (0..4 * RACERS)
        .map(|i| {
            let store = stores[(i % 2) as usize].clone();
            // The pair's j-th request offers a permutation of 1..=RACERS (37 ⊥ 48).
            let (pair, j) = (i % 4, i / 4);
            let cumulative = (j * 37) % RACERS + 1;
            tokio::spawn(async move {
                let out = store
                    .commit_voucher_signature(&pair_voucher(pair, cumulative), 5)
                    .await;
                (pair, cumulative, out)
            })
        })
        .collect();
    let mut outcomes = Vec::new();
    for t in tasks {
        outcomes.push(t.await.unwrap());
    }
    for pair in 0..4 {
        let stored = db
            .store()
            .voucher(&format!("0:account{pair}"), "0:provider")
            .await
            .unwrap()
            .expect("voucher stored");
        assert_eq!(
            (stored.voucher.cumulative, stored.voucher.signature),
            (RACERS, sig(RACERS)),
            "pair {pair}: the highest voucher is the one kept"
        );
    }
    for (pair, cumulative, outcome) in &outcomes {
        match outcome {
            Ok(o) => assert_eq!(*o, SignOutcome::New(sig(*cumulative))),
            Err(StoreError::VoucherNotMonotonic {
                signed_cumulative, ..
            }) => assert!(
                signed_cumulative > cumulative,
                "pair {pair}: {cumulative} refused against {signed_cumulative}"
            ),
            Err(e) => panic!("pair {pair}: {e}"),
        }
    }
    // The top voucher of each pair was accepted (nothing is higher).
    for pair in 0..4 {
        assert!(
            outcomes
                .iter()
                .any(|(p, c, o)| *p == pair && *c == RACERS && o.is_ok())
        );
    }
}

async fn answered_signatures_survive_a_restart(db: TestDb) {
    job_with_results(&db).await;
    // A fresh store (its own batcher), many requests at once, then the process "ends".
    let first = Store::connect(&db.url).await.unwrap();
    let tasks: Vec<_> = (0..RACERS)
        .map(|k| {
            let s = first.clone();
            tokio::spawn(async move {
                let (voucher, proof, signature) = (pair_voucher(k, 10 + k), racer_proof(k), sig(k));
                let (v, p) = tokio::join!(
                    s.commit_voucher_signature(&voucher, 6),
                    s.commit_job_signature(&proof, &signature, 103)
                );
                (k, v, p)
            })
        })
        .collect();
    let mut answered = Vec::new();
    for t in tasks {
        answered.push(t.await.unwrap());
    }
    first.close().await;
    drop(first);

    let again = Store::connect(&db.url).await.unwrap();
    let signed_proof = answered
        .iter()
        .find_map(|(k, _, p)| p.as_ref().ok().map(|o| (*k, o.signature())))
        .expect("one proof signed");
    for (k, v, _) in &answered {
        assert!(v.is_ok(), "voucher {k}: {v:?}");
        let stored = again
            .voucher(&format!("0:account{k}"), "0:provider")
            .await
            .unwrap()
            .expect("an answered voucher is stored after a restart");
        assert_eq!(stored.voucher.signature, sig(10 + k));
        let err = again
            .commit_voucher_signature(&pair_voucher(*k, 9 + k), 7)
            .await
            .unwrap_err();
        assert!(
            matches!(err, StoreError::VoucherNotMonotonic { .. }),
            "{err}"
        );
    }
    // The proof answered before the restart is the one: the same proof gets its
    // signature again, every other proof is refused.
    let (winner, signature) = signed_proof;
    assert_eq!(
        again
            .commit_job_signature(&racer_proof(winner), &sig(999), 104)
            .await
            .unwrap(),
        SignOutcome::Existing(signature)
    );
    let other = (winner + 1) % RACERS;
    let err = again
        .commit_job_signature(&racer_proof(other), &sig(other), 104)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::ConflictingProof { .. }), "{err}");
    again.close().await;
}

async fn refusals_in_a_batch_leave_the_others_alone(db: TestDb) {
    // An unknown job, an unstored result and a lower voucher, batched with good requests.
    job_with_results(&db).await;
    let s = db.store().clone();
    s.commit_voucher_signature(&pair_voucher(0, 100), 1)
        .await
        .unwrap();
    let mut unknown = racer_proof(0);
    unknown.escrow = escrow(99);
    let mut unstored = racer_proof(0);
    unstored.result_hash = h(123_456);
    let (lower, fresh, good) = (pair_voucher(0, 50), pair_voucher(1, 50), racer_proof(3));
    let sigs = [sig(1), sig(2), sig(3)];
    let (a, b, c, d, e) = tokio::join!(
        s.commit_job_signature(&unknown, &sigs[0], 103),
        s.commit_job_signature(&unstored, &sigs[1], 103),
        s.commit_voucher_signature(&lower, 2),
        s.commit_voucher_signature(&fresh, 2),
        s.commit_job_signature(&good, &sigs[2], 103),
    );
    assert!(matches!(a, Err(StoreError::JobNotFound(_))), "{a:?}");
    assert!(
        matches!(b, Err(StoreError::ResultNotStored { .. })),
        "{b:?}"
    );
    assert!(
        matches!(c, Err(StoreError::VoucherNotMonotonic { .. })),
        "{c:?}"
    );
    assert_eq!(d.unwrap(), SignOutcome::New(sig(50)));
    assert_eq!(e.unwrap(), SignOutcome::New(sig(3)));
    assert_eq!(db.raw_int("SELECT COUNT(*) FROM job_signatures").await, 1);
}

both_backends!(
    racing_proofs_for_one_job_sign_once,
    racing_vouchers_never_go_lower,
    answered_signatures_survive_a_restart,
    refusals_in_a_batch_leave_the_others_alone
);
