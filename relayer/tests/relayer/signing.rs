//! The signing guard: one proof per job, vouchers never lower; the database refuses
//! violations even from raw SQL.

use spindle_relayer::store::{ProofSignature, SignOutcome, StoreError, VoucherSignature};

use crate::common::{TestDb, both_backends};
use crate::fixtures::{escrow, h, job, sig};
use crate::jobs::{acceptance, proof, result};

/// A job with result 1 stored, ready to sign.
async fn stored_job(db: &TestDb, i: u64) {
    let s = db.store();
    s.insert_job(&job(i, 1_000), 100).await.unwrap();
    let lease = s
        .claim_job(&escrow(i), "w", 100, 30)
        .await
        .unwrap()
        .unwrap();
    s.record_acceptance(&lease, &acceptance(1), 101)
        .await
        .unwrap();
    s.store_result(&lease, &result(1), 102).await.unwrap();
}

async fn never_two_proofs_for_one_job(db: TestDb) {
    stored_job(&db, 1).await;
    let s = db.store();
    let first = s
        .commit_job_signature(&proof(1, 1), &sig(1), 103)
        .await
        .unwrap();
    assert_eq!(first, SignOutcome::New(sig(1)));
    // Asked again for the same proof: the stored signature is returned, nothing new signed.
    let again = s
        .commit_job_signature(&proof(1, 1), &sig(77), 104)
        .await
        .unwrap();
    assert_eq!(again, SignOutcome::Existing(sig(1)));

    // A different proof for the same job is refused, also for the same result with
    // another amount (a different payload).
    let mut other = proof(1, 2);
    other.result_hash = result(1).result_hash;
    let err = s
        .commit_job_signature(&other, &sig(2), 105)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::ConflictingProof { .. }), "{err}");
    let err = s
        .commit_job_signature(&proof(1, 2), &sig(3), 105)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::ConflictingProof { .. }), "{err}");
    assert_eq!(db.raw_int("SELECT COUNT(*) FROM job_signatures").await, 1);

    // The database enforces it too: no second row, no rewrite, no delete.
    let e = escrow(1);
    assert!(
        db.raw_execute(&format!(
            "UPDATE job_signatures SET amount = 1 WHERE escrow = '{e}'"
        ))
        .await
        .is_err(),
        "a signature row cannot be rewritten"
    );
    assert!(
        db.raw_execute(&format!("DELETE FROM job_signatures WHERE escrow = '{e}'"))
            .await
            .is_err()
    );
    assert_eq!(
        s.commit_job_signature(&proof(1, 1), &sig(9), 106)
            .await
            .unwrap(),
        SignOutcome::Existing(sig(1))
    );
}

async fn quorum_signatures_collected(db: TestDb) {
    stored_job(&db, 1).await;
    let s = db.store();
    let payload = h(701);
    for index in [2u8, 0, 1] {
        let sig = ProofSignature {
            escrow: escrow(1),
            payload_hash: payload,
            signer_index: index,
            signer_pubkey: h(index as u64),
            signature: sig(index as u64),
        };
        assert!(s.add_proof_signature(&sig, 110).await.unwrap());
        assert!(
            !s.add_proof_signature(&sig, 111).await.unwrap(),
            "duplicate signer counts once"
        );
    }
    let got = s.proof_signatures(&escrow(1), &payload).await.unwrap();
    assert_eq!(
        got.iter().map(|s| s.signer_index).collect::<Vec<_>>(),
        [0, 1, 2],
        "ascending signer order"
    );
    assert!(
        s.proof_signatures(&escrow(1), &h(1))
            .await
            .unwrap()
            .is_empty()
    );
}

fn voucher(epoch: u64, cumulative: u64) -> VoucherSignature {
    VoucherSignature {
        account: "0:account".into(),
        provider: "0:provider".into(),
        epoch,
        cumulative,
        valid_until: 10_000,
        payload_hash: h(cumulative),
        signature: sig(cumulative),
    }
}

async fn never_a_lower_voucher(db: TestDb) {
    let s = db.store();
    s.commit_voucher_signature(&voucher(0, 100), 1)
        .await
        .unwrap();
    s.commit_voucher_signature(&voucher(0, 150), 2)
        .await
        .unwrap();
    s.commit_voucher_signature(&voucher(0, 150), 3)
        .await
        .unwrap(); // equal: re-sign allowed
    let err = s
        .commit_voucher_signature(&voucher(0, 120), 4)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::VoucherNotMonotonic {
                signed_epoch: 0,
                signed_cumulative: 150,
                cumulative: 120,
                ..
            }
        ),
        "{err}"
    );
    let stored = s.voucher("0:account", "0:provider").await.unwrap().unwrap();
    assert_eq!(
        (stored.voucher.cumulative, stored.voucher.signature),
        (150, sig(150)),
        "unchanged by the refusal"
    );

    assert!(
        s.record_voucher_settled("0:account", "0:provider", 0, 100, 5)
            .await
            .unwrap()
    );
    assert!(
        !s.record_voucher_settled("0:account", "0:provider", 0, 90, 6)
            .await
            .unwrap(),
        "settled only rises"
    );

    // A new epoch (after a final withdrawal) starts again from zero; an old epoch never returns.
    s.commit_voucher_signature(&voucher(1, 10), 7)
        .await
        .unwrap();
    let stored = s.voucher("0:account", "0:provider").await.unwrap().unwrap();
    assert_eq!(
        (
            stored.voucher.epoch,
            stored.voucher.cumulative,
            stored.settled
        ),
        (1, 10, 0)
    );
    let err = s
        .commit_voucher_signature(&voucher(0, 1_000), 8)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::VoucherNotMonotonic {
                signed_epoch: 1,
                ..
            }
        ),
        "{err}"
    );

    // Raw SQL cannot lower it either: a trigger guards the row.
    assert!(
        db.raw_execute("UPDATE vouchers SET cumulative = 5")
            .await
            .is_err()
    );
    assert!(
        db.raw_execute("UPDATE vouchers SET epoch = 0")
            .await
            .is_err()
    );
    assert!(db.raw_execute("DELETE FROM vouchers").await.is_err());
    assert_eq!(
        db.raw_execute("UPDATE vouchers SET cumulative = 11")
            .await
            .unwrap(),
        1,
        "raising is allowed"
    );
}

both_backends!(
    never_two_proofs_for_one_job,
    quorum_signatures_collected,
    never_a_lower_voucher
);
