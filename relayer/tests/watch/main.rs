//! The chain watcher against the devnet over HTTP with the real contracts, on SQLite and
//! on PostgreSQL: escrow and voucher events land in the store exactly once, a restarted
//! watcher backfills gap-free from its persisted cursor, and a faulty API in front of the
//! devnet (latency, 429, 500, timeouts, dropped connections, damaged pages) over more
//! than 1,000 transactions (10,000 in `scripts/chaos faults`) neither loses nor repeats
//! anything.

#[path = "../relayer/common.rs"]
#[allow(dead_code)]
mod common;
mod proxy;
mod world;

use std::time::Duration;

use common::{TestDb, both_backends};
use spindle_devnet::TON;
use spindle_relayer::job::JobState;
use spindle_relayer::store::Cursor;
use spindle_relayer::store::{VoucherSignature, WatchKind};
use spindle_relayer::watch::walk::WalkError;
use spindle_relayer::watch::{WatchError, Watcher};
use spindle_sdk::TonAddress;
use world::{AMOUNT, GRACE, World, raw};

/// Polls until the watcher's cursor of every account in `accounts` is the account's
/// newest transaction on the devnet (bounded; each poll is a real pass).
async fn catch_up(w: &World, watcher: &Watcher, db: &TestDb, accounts: &[&TonAddress]) {
    for _ in 0..400 {
        watcher.poll_once().await.unwrap();
        let mut done = true;
        for a in accounts {
            let cursor = db.store().cursor(&raw(a)).await.unwrap();
            let (lt, hash) = w.newest(a);
            done &= cursor.is_some_and(|c| c.lt == lt && c.hash == hash);
        }
        if done {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the watcher did not catch up with the chain");
}

async fn seen_count(db: &TestDb, account: &TonAddress) -> i64 {
    db.raw_int(&format!(
        "SELECT COUNT(*) FROM seen_transactions WHERE account = '{}'",
        raw(account)
    ))
    .await
}

/// A voucher row for (account, provider wallet 2) that the chain's settlement updates.
async fn signed_voucher(w: &World, db: &TestDb, account: &TonAddress, cumulative: u64) {
    let v = VoucherSignature {
        account: raw(account),
        provider: raw(&w.address(2)),
        epoch: 0,
        cumulative,
        valid_until: i64::from(w.devnet.now()) + 600,
        payload_hash: [1; 32],
        signature: [2; 64],
    };
    db.store().commit_voucher_signature(&v, 0).await.unwrap();
}

/// Funded, completed and expired escrows, an escrow of another hub, and a voucher
/// payout: the store shows exactly the chain's facts, and polling again changes nothing.
async fn events_from_real_contracts(db: TestDb) {
    let w = World::start().await;
    let watcher = w.watcher(db.store().clone(), &w.url, 4, 0);
    let other_hub = w.address(3);
    let (done, expired, foreign) = (
        w.escrow(&w.hub, 1),
        w.escrow(&w.hub, 2),
        w.escrow(&other_hub, 3),
    );
    for e in [&done, &expired, &foreign] {
        assert!(watcher.watch(e, WatchKind::JobEscrow).await.unwrap());
    }
    // Registering again is a no-op; as another kind it is refused.
    assert!(!watcher.watch(&done, WatchKind::JobEscrow).await.unwrap());
    assert!(
        watcher
            .watch(&done, WatchKind::ComputeAccount)
            .await
            .is_err()
    );

    let deadline = w.devnet.now() + 30;
    w.create_escrow(&w.hub, 1, deadline).await;
    w.create_escrow(&w.hub, 2, deadline).await;
    w.create_escrow(&other_hub, 3, deadline).await;
    let account = w.create_account(5 * TON).await;
    assert!(
        watcher
            .watch(&account, WatchKind::ComputeAccount)
            .await
            .unwrap()
    );
    catch_up(&w, &watcher, &db, &[&done, &expired, &foreign, &account]).await;
    for (escrow, nonce) in [(&done, 1u64), (&expired, 2)] {
        let job = db
            .store()
            .job(&raw(escrow))
            .await
            .unwrap()
            .expect("funded job in the store");
        assert_eq!(job.state, JobState::Funded);
        assert_eq!((job.job.nonce, job.job.amount as u128), (nonce, AMOUNT));
        assert_eq!(
            (job.job.deadline, job.job.spec_hash),
            (i64::from(deadline), [nonce as u8; 32])
        );
        assert_eq!(job.job.client, raw(&w.address(0)));
    }
    assert!(
        db.store().job(&raw(&foreign)).await.unwrap().is_none(),
        "another hub's escrow is not a job"
    );
    assert_eq!(watcher.stats().refused, 1);

    w.complete_escrow(&done, 1).await;
    w.devnet.advance_time(u64::from(GRACE) + 60);
    w.expire_escrow(&expired).await;
    signed_voucher(&w, &db, &account, TON as u64).await;
    w.settle_voucher(&account, TON).await;
    // Every internal message of these (payouts, bounces, refunds) lands first.
    w.quiet(&[&done, &expired, &foreign, &account]).await;
    catch_up(&w, &watcher, &db, &[&done, &expired, &foreign, &account]).await;

    let state = |job: Option<spindle_relayer::store::Job>| job.expect("job in the store").state;
    assert_eq!(
        state(db.store().job(&raw(&done)).await.unwrap()),
        JobState::Settled
    );
    assert_eq!(
        state(db.store().job(&raw(&expired)).await.unwrap()),
        JobState::Refunded
    );
    let voucher = db
        .store()
        .voucher(&raw(&account), &raw(&w.address(2)))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        voucher.settled, TON as u64,
        "the chain paid the whole voucher"
    );

    let stats = watcher.stats();
    assert_eq!(
        stats.events_applied, 5,
        "2 funded + settled + refunded + voucher: {stats:?}"
    );
    for a in [&done, &expired, &foreign, &account] {
        assert_eq!(
            seen_count(&db, a).await,
            w.tx_count(a) as i64,
            "every transaction of {a} applied once"
        );
    }
    // Nothing new: another poll applies nothing, and a second watcher on the same store
    // (a restart) finds everything seen.
    let before = watcher.stats().transactions_applied;
    watcher.poll_once().await.unwrap();
    assert_eq!(watcher.stats().transactions_applied, before);
    let again = w.watcher(db.new_store().await, &w.url, 4, 0);
    for (_, r) in again.poll_once().await.unwrap() {
        assert_eq!(r.unwrap().applied, 0);
    }
}

/// The watcher is down while hundreds of transactions land; restarted on its store, it
/// backfills through many small pages from the persisted cursor, acting only on
/// transactions `confirmation_depth` blocks deep.
async fn backfill_after_downtime(db: TestDb) {
    let w = World::start().await;
    let account = w.create_account(5 * TON).await;
    let (escrow, _) = w.create_escrow(&w.hub, 11, w.devnet.now() + 600).await;
    {
        let watcher = w.watcher(db.store().clone(), &w.url, 5, 0);
        watcher
            .watch(&account, WatchKind::ComputeAccount)
            .await
            .unwrap();
        watcher.watch(&escrow, WatchKind::JobEscrow).await.unwrap();
        catch_up(&w, &watcher, &db, &[&account, &escrow]).await;
        assert_eq!(seen_count(&db, &account).await, 1);
    } // the watcher stops
    let before = db.store().cursor(&raw(&account)).await.unwrap().unwrap();

    w.transfers(0, &account, 300).await;
    signed_voucher(&w, &db, &account, (TON / 2) as u64).await;
    w.settle_voucher(&account, TON / 2).await;
    w.complete_escrow(&escrow, 11).await;
    w.quiet(&[&account, &escrow]).await;
    let new = (w.tx_count(&account) - 1 + w.tx_count(&escrow) - 1) as u64;
    assert!(new > 300);
    assert_eq!(
        db.store().cursor(&raw(&account)).await.unwrap().unwrap(),
        before,
        "nothing moved while down"
    );

    // Restarted with a confirmation depth of 3: the first poll sees everything but acts
    // on nothing, since nothing is 3 blocks deep yet.
    let watcher = w.watcher(db.new_store().await, &w.url, 5, 3);
    let first = watcher.poll_once().await.unwrap();
    assert!(first.iter().all(|(_, r)| r.as_ref().unwrap().applied == 0));
    assert_eq!(watcher.stats().pending_confirmation, new);
    let seen_at = watcher.stats().masterchain_seqno;
    while w.devnet.last_block_seqno() < seen_at + 3 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let second = watcher.poll_once().await.unwrap();
    let applied: u64 = second
        .iter()
        .map(|(_, r)| r.as_ref().unwrap().applied)
        .sum();
    assert_eq!(applied, new, "every transaction since the cursor, once");
    catch_up(&w, &watcher, &db, &[&account, &escrow]).await;
    assert_eq!(seen_count(&db, &account).await, w.tx_count(&account) as i64);
    assert_eq!(
        watcher.stats().transactions_already_seen,
        0,
        "nothing was applied twice"
    );
    assert_eq!(
        db.store().job(&raw(&escrow)).await.unwrap().unwrap().state,
        JobState::Settled
    );
    let v = db
        .store()
        .voucher(&raw(&account), &raw(&w.address(2)))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(v.settled, (TON / 2) as u64);
}

/// The chain-fault run's size: `SPINDLE_CHAOS_FAULTS_TX` transactions (1,000 in the
/// suite; `scripts/chaos faults` runs ≥ 10,000), the proxy's `SPINDLE_CHAOS_SEED`, and
/// `SPINDLE_CHAOS_REPORT`, a file each backend's run appends its counts to (one JSON line).
struct FaultRun {
    tx: usize,
    seed: u64,
    report: Option<std::path::PathBuf>,
}

impl FaultRun {
    fn from_env() -> FaultRun {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        FaultRun {
            tx: var("SPINDLE_CHAOS_FAULTS_TX").map_or(1_000, |v| v.parse().expect(NOT_A_NUMBER)),
            seed: var("SPINDLE_CHAOS_SEED").map_or(0x5eed, |v| v.parse().expect(NOT_A_NUMBER)),
            report: var("SPINDLE_CHAOS_REPORT").map(Into::into),
        }
    }
}

const NOT_A_NUMBER: &str = "SPINDLE_CHAOS_FAULTS_TX and SPINDLE_CHAOS_SEED are unsigned integers";

/// Deposits per round: two wallet messages of 255 transfers each.
const ROUND_TRANSFERS: usize = 510;

/// Over `SPINDLE_CHAOS_FAULTS_TX` (≥ 1,000) transactions through a proxy injecting
/// latency, 429, 500, timeouts, dropped connections and damaged pages, while a watcher
/// polls without pause: every transaction and every event (per round a funded and a
/// settled escrow and a voucher payout) is applied exactly once, and the cursors end at
/// the newest transactions.
async fn chain_faults(db: TestDb) {
    use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
    let run = FaultRun::from_env();
    let started = std::time::Instant::now();
    let w = World::start().await;
    let (url, injected) = proxy::start(
        &w.url,
        run.seed,
        Duration::from_millis(800),
        Duration::from_millis(150),
    )
    .await;
    let account = w.create_account(5 * TON).await;
    let watcher = w.watcher(db.store().clone(), &url, 16, 0);
    watcher
        .watch(&account, WatchKind::ComputeAccount)
        .await
        .unwrap();
    let rounds = run.tx.div_ceil(ROUND_TRANSFERS + 4).max(2);
    let escrows: Vec<TonAddress> = (0..rounds as u64)
        .map(|r| w.escrow(&w.hub, 100 + r))
        .collect();
    for e in &escrows {
        watcher.watch(e, WatchKind::JobEscrow).await.unwrap();
    }
    // The chain moves while the watcher polls without pause.
    let done = AtomicBool::new(false);
    let poll = async {
        while !done.load(Relaxed) {
            // A pass that fails as a whole (the API kept failing) is retried, as in the node.
            let _ = watcher.poll_once().await;
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    let drive = async {
        for (r, escrow) in escrows.iter().enumerate() {
            let nonce = 100 + r as u64;
            w.create_escrow(&w.hub, nonce, w.devnet.now() + 3600).await;
            w.transfers(2 * (r % 2), &account, ROUND_TRANSFERS).await;
            w.complete_escrow(escrow, nonce).await;
            let cumulative = (r as u128 + 1) * TON / 10;
            signed_voucher(&w, &db, &account, cumulative as u64).await;
            w.settle_voucher(&account, cumulative).await;
        }
        done.store(true, Relaxed);
    };
    tokio::join!(poll, drive);
    let mut all: Vec<&TonAddress> = escrows.iter().collect();
    all.push(&account);
    w.quiet(&all).await;
    catch_up(&w, &watcher, &db, &all).await;

    let total: usize = all.iter().map(|a| w.tx_count(a)).sum();
    assert!(total >= run.tx, "{total} transactions, {} asked", run.tx);
    for a in &all {
        assert_eq!(
            seen_count(&db, a).await,
            w.tx_count(a) as i64,
            "every transaction of {a} applied once"
        );
    }
    let stats = watcher.stats();
    assert_eq!(stats.transactions_applied, total as u64, "{stats:?}");
    assert_eq!(stats.transactions_already_seen, 0, "{stats:?}");
    assert_eq!(
        stats.events_applied,
        3 * rounds as u64,
        "per round: funded, settled, voucher: {stats:?}"
    );
    for e in &escrows {
        assert_eq!(
            db.store().job(&raw(e)).await.unwrap().unwrap().state,
            JobState::Settled
        );
    }
    let v = db
        .store()
        .voucher(&raw(&account), &raw(&w.address(2)))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(u128::from(v.settled), rounds as u128 * TON / 10);
    // The faults really happened.
    let i = &injected;
    let counts = [
        ("429", i.too_many.load(Relaxed)),
        ("500", i.server_error.load(Relaxed)),
        ("timeout", i.timeout.load(Relaxed)),
        ("latency", i.delayed.load(Relaxed)),
        ("reset on accept", i.refused.load(Relaxed)),
        ("dropped connection", i.dropped.load(Relaxed)),
        ("short page", i.short.load(Relaxed)),
        ("hole", i.hole.load(Relaxed)),
        ("shuffled", i.shuffled.load(Relaxed)),
        ("stale page", i.stale.load(Relaxed)),
        ("cut body", i.cut_body.load(Relaxed)),
    ];
    for (name, n) in counts {
        assert!(n > 0, "the proxy injected no {name}: {i:?}");
    }
    if let Some(path) = &run.report {
        let faults: serde_json::Map<String, serde_json::Value> = counts
            .iter()
            .map(|(name, n)| ((*name).to_owned(), (*n).into()))
            .collect();
        let line = serde_json::json!({
            "backend": format!("{:?}", db.kind),
            "seed": run.seed,
            "asked": run.tx,
            "transactions": total,
            "applied": stats.transactions_applied,
            "applied_twice": stats.transactions_already_seen,
            "events": stats.events_applied,
            "events_expected": 3 * rounds,
            "rounds": rounds,
            "polls": stats.polls,
            "account_errors": stats.account_errors,
            "requests_forwarded": i.forwarded.load(Relaxed),
            "faults": faults,
            "seconds": started.elapsed().as_secs(),
        });
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .unwrap();
        writeln!(f, "{line}").unwrap();
    }
}

/// The hub's own deploys are followed without a registration: the watcher sees the
/// hub's outgoing `create`, follows the escrow and records the funded job.
async fn hub_deploys_are_followed(db: TestDb) {
    let mut w = World::start().await;
    w.hub = w.address(3); // wallet 3 stands for the hub: escrows accept its `create`
    let hub = w.hub.clone();
    let watcher = w.watcher(db.store().clone(), &w.url, 4, 0);
    watcher.watch(&hub, WatchKind::Hub).await.unwrap();
    watcher.poll_once().await.unwrap();
    let (escrow, _) = w
        .create_escrow_from(3, &hub, 31, w.devnet.now() + 600)
        .await;
    w.quiet(&[&escrow]).await;
    catch_up(&w, &watcher, &db, &[&hub]).await;
    catch_up(&w, &watcher, &db, &[&hub, &escrow]).await;
    let watched = db.store().watched().await.unwrap();
    assert!(
        watched
            .iter()
            .any(|x| x.account == raw(&escrow) && x.kind == WatchKind::JobEscrow),
        "{watched:?}"
    );
    let job = db
        .store()
        .job(&raw(&escrow))
        .await
        .unwrap()
        .expect("the hub-deployed job is funded");
    assert_eq!((job.job.nonce, job.state), (31, JobState::Funded));
}

/// A cursor that is not in the account's history (the chain forked under the store)
/// halts that account with a named error and applies nothing; other accounts go on.
async fn forked_cursor_halts_the_account(db: TestDb) {
    let w = World::start().await;
    let account = w.create_account(5 * TON).await;
    w.transfers(0, &account, 3).await;
    let (escrow, _) = w.create_escrow(&w.hub, 41, w.devnet.now() + 600).await;
    w.quiet(&[&account, &escrow]).await;
    let watcher = w.watcher(db.store().clone(), &w.url, 2, 0);
    watcher
        .watch(&account, WatchKind::ComputeAccount)
        .await
        .unwrap();
    watcher.watch(&escrow, WatchKind::JobEscrow).await.unwrap();
    // The store believes in a transaction the chain never had, between real ones.
    let (newest_lt, _) = w.newest(&account);
    let forged = Cursor {
        lt: newest_lt - 1,
        hash: [0xee; 32],
    };
    db.store()
        .advance_cursor(&raw(&account), &forged, 0)
        .await
        .unwrap();
    for (watched, result) in watcher.poll_once().await.unwrap() {
        if watched.account == raw(&account) {
            let err = result.expect_err("a forked cursor is an error");
            assert!(
                matches!(
                    &err,
                    WatchError::Walk {
                        source: WalkError::CursorNotFound { .. },
                        ..
                    }
                ),
                "{err}"
            );
        } else {
            assert_eq!(result.unwrap().applied, w.tx_count(&escrow) as u64);
        }
    }
    assert_eq!(
        seen_count(&db, &account).await,
        0,
        "nothing applied past a fork"
    );
    assert_eq!(
        db.store().cursor(&raw(&account)).await.unwrap(),
        Some(forged)
    );
    assert_eq!(watcher.stats().account_errors, 1);
}

both_backends!(
    events_from_real_contracts,
    backfill_after_downtime,
    chain_faults,
    hub_deploys_are_followed,
    forked_cursor_halts_the_account
);
