//! Outbox: exactly one replica holds the posting lease; a retry keeps the id; stale
//! copies of an entry cannot step it twice; confirmation needs the target's change.

use std::sync::Arc;

use spindle_relayer::outbox::{
    AnyOutboxEntry, Failure, NewOutboxItem, OutboxKind, OutboxState, Pending, Submission,
    SubmissionState, TargetStateChanged,
};
use spindle_relayer::store::StoreError;
use tokio::sync::Barrier;

use crate::common::{TestDb, both_backends};
use crate::fixtures::{escrow, h};

const ROUNDS: usize = 60;

fn item(n: u64) -> NewOutboxItem {
    NewOutboxItem {
        kind: OutboxKind::Complete,
        target: escrow(n),
        key: h(500 + n).to_vec(),
        payload: format!("boc of complete #{n}").into_bytes(),
        value: 1_000,
        not_before: 0,
    }
}

fn changed(target: &str) -> TargetStateChanged {
    TargetStateChanged {
        target: target.to_owned(),
        lt: 77,
        hash: h(77),
    }
}

fn submission(valid_until: i64) -> Submission {
    Submission {
        wallet_seqno: Some(3),
        valid_until: Some(valid_until),
        query_id: None,
    }
}

async fn one_poster_at_a_time(db: TestDb) {
    let a = db.new_store().await;
    let b = db.new_store().await;
    for round in 0..ROUNDS {
        let name = format!("poster-{round}");
        let now = 1_000;
        let barrier = Arc::new(Barrier::new(2));
        let race = |store: spindle_relayer::Store, holder: &'static str| {
            let (barrier, name) = (barrier.clone(), name.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                store.acquire_posting_lease(&name, holder, now, 30).await
            })
        };
        let (ra, rb) = tokio::join!(race(a.clone(), "replica-a"), race(b.clone(), "replica-b"));
        let held: Vec<_> = [ra.unwrap().unwrap(), rb.unwrap().unwrap()]
            .into_iter()
            .flatten()
            .collect();
        assert_eq!(
            held.len(),
            1,
            "round {round}: exactly one replica holds the posting lease"
        );
        assert_eq!(held[0].token, 1);
    }

    // Hand-over: the holder renews; the other waits until it lapses, then takes over
    // with a higher token, and the old holder can no longer record a submission.
    let s = db.store();
    let _first = s
        .acquire_posting_lease("poster", "replica-a", 100, 30)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        s.acquire_posting_lease("poster", "replica-b", 110, 30)
            .await
            .unwrap(),
        None
    );
    let first = s
        .acquire_posting_lease("poster", "replica-a", 120, 30)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (first.token, first.expires_at),
        (1, 150),
        "renewal keeps the token"
    );
    assert_eq!(
        s.acquire_posting_lease("poster", "replica-b", 149, 30)
            .await
            .unwrap(),
        None
    );
    let second = s
        .acquire_posting_lease("poster", "replica-b", 150, 30)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(second.token, 2);

    let AnyOutboxEntry::Prepared(entry) = s.outbox_prepare(&item(1), 150).await.unwrap() else {
        panic!()
    };
    let err = s
        .outbox_submit(entry, &first, submission(200), 151)
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::NotPoster { token: 1, .. }),
        "{err}"
    );
    let AnyOutboxEntry::Prepared(entry) = s.outbox_get(&item(1).id()).await.unwrap().unwrap()
    else {
        panic!("the refused submit left it prepared")
    };
    s.outbox_submit(entry, &second, submission(200), 151)
        .await
        .unwrap();

    // Releasing hands over at once.
    assert!(s.release_posting_lease(&second).await.unwrap());
    let third = s
        .acquire_posting_lease("poster", "replica-a", 152, 30)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(third.token, 3);
}

async fn retry_keeps_the_id(db: TestDb) {
    let s = db.store();
    let poster = s
        .acquire_posting_lease("poster", "me", 100, 1_000)
        .await
        .unwrap()
        .unwrap();
    let new = item(1);
    let AnyOutboxEntry::Prepared(entry) = s.outbox_prepare(&new, 100).await.unwrap() else {
        panic!()
    };
    let id = entry.id.clone();
    assert_eq!(id, new.id(), "the id is derived from (kind, target, key)");

    let sent = s
        .outbox_submit(entry, &poster, submission(130), 101)
        .await
        .unwrap();
    assert_eq!((sent.state(), sent.attempts), (OutboxState::Submitted, 1));

    // Preparing the same action again finds the row in flight: no second action.
    let again = s.outbox_prepare(&new, 102).await.unwrap();
    assert_eq!(
        (again.state(), &again.record().id),
        (OutboxState::Submitted, &id)
    );
    assert_eq!(db.raw_int("SELECT COUNT(*) FROM outbox").await, 1);
    // Nothing in flight is due for sending.
    assert!(s.outbox_due(10_000, 10).await.unwrap().is_empty());

    // While the external message may still land, it cannot be declared failed.
    let err = s
        .outbox_fail(sent, Failure::Expired, 140, 130)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::OutboxMayStillLand {
                valid_until: 130,
                ..
            }
        ),
        "{err}"
    );
    let [sent] = <[_; 1]>::try_from(s.outbox_submitted_to(&escrow(1)).await.unwrap()).unwrap();
    let failed = s
        .outbox_fail(sent, Failure::Expired, 140, 131)
        .await
        .unwrap();
    assert_eq!(failed.state(), OutboxState::FailedRetryable);
    assert!(
        s.outbox_due(139, 10).await.unwrap().is_empty(),
        "not due before retry time"
    );

    let [due] = <[_; 1]>::try_from(s.outbox_due(140, 10).await.unwrap()).unwrap();
    let Pending::FailedRetryable(due) = due else {
        panic!("due entry is failed_retryable")
    };
    assert_eq!(due.id, id);
    let resent = s
        .outbox_submit(due, &poster, submission(200), 141)
        .await
        .unwrap();
    assert_eq!(
        (&resent.id, resent.attempts),
        (&id, 2),
        "the retry keeps the id"
    );

    // Confirmation needs the target contract's own change.
    let err = s
        .outbox_confirm(resent, &changed("0:elsewhere"), 150)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::OutboxWrongTarget { .. }), "{err}");
    let [resent] = <[_; 1]>::try_from(s.outbox_submitted_to(&escrow(1)).await.unwrap()).unwrap();
    let done = s
        .outbox_confirm(resent, &changed(&escrow(1)), 151)
        .await
        .unwrap();
    assert_eq!(done.confirmation, Some(changed(&escrow(1))));

    let stored = s.outbox_get(&id).await.unwrap().unwrap();
    assert_eq!(stored.state(), OutboxState::Confirmed);
    assert_eq!(stored.record().attempts, 2);
    assert_eq!(
        s.outbox_prepare(&new, 152).await.unwrap().state(),
        OutboxState::Confirmed
    );
    assert_eq!(
        db.raw_int("SELECT COUNT(*) FROM outbox").await,
        1,
        "one row for the action, ever"
    );
}

async fn stale_copies_cannot_step_twice(db: TestDb) {
    let a = db.store();
    let b = db.new_store().await;
    let poster = a
        .acquire_posting_lease("poster", "me", 100, 1_000)
        .await
        .unwrap()
        .unwrap();
    a.outbox_prepare(&item(1), 100).await.unwrap();
    // Two copies of the same prepared entry (two loops, or a replica's stale read).
    let AnyOutboxEntry::Prepared(first) = a.outbox_get(&item(1).id()).await.unwrap().unwrap()
    else {
        panic!()
    };
    let AnyOutboxEntry::Prepared(second) = b.outbox_get(&item(1).id()).await.unwrap().unwrap()
    else {
        panic!()
    };
    a.outbox_submit(first, &poster, submission(200), 101)
        .await
        .unwrap();
    let err = b
        .outbox_submit(second, &poster, submission(200), 101)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::OutboxStale {
                expected: OutboxState::Prepared,
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(
        a.outbox_get(&item(1).id())
            .await
            .unwrap()
            .unwrap()
            .record()
            .attempts,
        1,
        "sent once"
    );

    // The same id with another payload is refused.
    let mut changed_payload = item(1);
    changed_payload.payload = b"another boc".to_vec();
    let err = a.outbox_prepare(&changed_payload, 102).await.unwrap_err();
    assert!(matches!(err, StoreError::OutboxConflict { .. }), "{err}");

    // Someone else's post changed the target: a pending item is superseded, never sent.
    let AnyOutboxEntry::Prepared(other) = a.outbox_prepare(&item(2), 103).await.unwrap() else {
        panic!()
    };
    let gone = a
        .outbox_supersede(other, &changed(&escrow(2)), 104)
        .await
        .unwrap();
    assert_eq!(gone.state(), OutboxState::Superseded);
    assert!(a.outbox_due(10_000, 10).await.unwrap().is_empty());
}

async fn batches_submit_all_or_nothing(db: TestDb) {
    let s = db.store();
    let poster = s
        .acquire_posting_lease("poster", "me", 100, 1_000)
        .await
        .unwrap()
        .unwrap();
    for n in 1..=3 {
        s.outbox_prepare(&item(n), 100).await.unwrap();
    }
    // A stale member (item 2 was already sent through another copy) refuses the whole batch.
    let due = s.outbox_due(100, 10).await.unwrap();
    assert_eq!(due.len(), 3);
    let AnyOutboxEntry::Prepared(two) = s.outbox_get(&item(2).id()).await.unwrap().unwrap() else {
        panic!()
    };
    s.outbox_submit(two, &poster, submission(150), 101)
        .await
        .unwrap();
    let err = s
        .outbox_submit_batch(due, &poster, submission(160), 102)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::OutboxStale { .. }), "{err}");
    let pending = s.outbox_due(102, 10).await.unwrap();
    assert_eq!(
        pending.len(),
        2,
        "items 1 and 3 are still prepared: the batch changed nothing"
    );
    assert!(
        pending
            .iter()
            .all(|p| p.state() == OutboxState::Prepared && p.record().attempts == 0)
    );

    // A fresh batch of the pending items goes out together, sharing one wallet message.
    let sent = s
        .outbox_submit_batch(pending, &poster, submission(160), 103)
        .await
        .unwrap();
    assert_eq!(sent.len(), 2);
    assert!(
        sent.iter()
            .all(|e| e.submission.as_ref().unwrap().valid_until == Some(160) && e.attempts == 1)
    );
    assert_eq!(
        s.outbox_counts().await.unwrap()[1],
        (OutboxState::Submitted, 3)
    );
    assert!(s.outbox_due(10_000, 10).await.unwrap().is_empty());

    // Each wallet message is stored with the items it carries; the refused batch left none.
    let messages = s.wallet_submissions_pending("poster").await.unwrap();
    let shape: Vec<_> = messages
        .iter()
        .map(|m| (m.seqno, m.valid_until, m.items.len()))
        .collect();
    assert_eq!(shape, [(3, 150, 1), (3, 160, 2)]);
    assert_eq!(messages[0].items, [item(2).id()]);
    // A message is resolved once: a second resolution (another pass) changes nothing.
    let landed = &messages[1].id;
    assert!(
        s.wallet_submission_resolve(landed, SubmissionState::Landed, 200)
            .await
            .unwrap()
    );
    assert!(
        !s.wallet_submission_resolve(landed, SubmissionState::Expired, 201)
            .await
            .unwrap()
    );
    let of_one = s.wallet_submissions_of(&item(1).id()).await.unwrap();
    assert_eq!(
        of_one.iter().map(|m| m.state).collect::<Vec<_>>(),
        [SubmissionState::Landed]
    );
    assert_eq!(
        s.wallet_submissions_pending("poster").await.unwrap().len(),
        1
    );
}

async fn settlement_seen_on_chain_finishes_the_outbox(db: TestDb) {
    use spindle_relayer::store::{ChainEvent, ChainTx};
    let s = db.store();
    crate::jobs::signed_job(&db, 1).await;
    let poster = s
        .acquire_posting_lease("poster", "me", 100, 1_000)
        .await
        .unwrap()
        .unwrap();
    let complete = item(1);
    let AnyOutboxEntry::Prepared(entry) = s.queue_completion(&complete, 104).await.unwrap() else {
        panic!()
    };
    s.outbox_submit(entry, &poster, submission(200), 105)
        .await
        .unwrap();
    let expire = NewOutboxItem {
        kind: OutboxKind::Expire,
        key: b"expire".to_vec(),
        ..item(1)
    };
    s.outbox_prepare(&expire, 106).await.unwrap();

    let settled = ChainTx {
        account: escrow(1),
        lt: 900,
        hash: h(900),
    };
    s.apply_chain_tx(
        &settled,
        &[ChainEvent::JobSettled { escrow: escrow(1) }],
        150,
    )
    .await
    .unwrap();
    let done = s.outbox_get(&complete.id()).await.unwrap().unwrap();
    assert_eq!(
        done.state(),
        OutboxState::Confirmed,
        "our submitted proof landed"
    );
    assert_eq!(
        done.record().confirmation,
        Some(TargetStateChanged {
            target: escrow(1),
            lt: 900,
            hash: h(900)
        })
    );
    assert_eq!(
        s.outbox_get(&expire.id()).await.unwrap().unwrap().state(),
        OutboxState::Superseded
    );
    assert!(
        s.outbox_due(10_000, 10).await.unwrap().is_empty(),
        "nothing left to send for a settled job"
    );

    // Vouchers: the settled amount follows the chain, in the same transaction machinery.
    let v = spindle_relayer::store::VoucherSignature {
        account: "0:acct".into(),
        provider: "0:prov".into(),
        epoch: 2,
        cumulative: 500,
        valid_until: 10_000,
        payload_hash: h(5),
        signature: crate::fixtures::sig(5),
    };
    s.commit_voucher_signature(&v, 160).await.unwrap();
    let paid = ChainEvent::VoucherSettled {
        account: v.account.clone(),
        provider: v.provider.clone(),
        epoch: 2,
        settled: 300,
    };
    s.apply_chain_tx(
        &ChainTx {
            account: v.account.clone(),
            lt: 5,
            hash: h(5),
        },
        &[paid],
        161,
    )
    .await
    .unwrap();
    assert_eq!(
        s.voucher("0:acct", "0:prov")
            .await
            .unwrap()
            .unwrap()
            .settled,
        300
    );
}

both_backends!(
    one_poster_at_a_time,
    settlement_seen_on_chain_finishes_the_outbox,
    retry_keeps_the_id,
    stale_copies_cannot_step_twice,
    batches_submit_all_or_nothing
);
