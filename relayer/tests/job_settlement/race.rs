//! Races for one job, on the devnet, judged on-chain: replicas of one operator's relayer
//! (one wallet, one database, each its own pool and lease holder) all settle at once,
//! and independent relayers (own stores, keys and wallets) all post after the rotation
//! timeout. Exactly one settlement each time: the provider is paid once, the escrow's
//! refund and fee go out once. `SPINDLE_CHAOS_RACE_ROUNDS` jobs per race (2 in the
//! suite; `scripts/chaos race` runs more) and `SPINDLE_CHAOS_REPORT`, a file each race
//! appends its counts to (one JSON line).

use std::time::Instant;

use super::*;

/// Replicas of the coordinator sharing its database and wallet.
const REPLICAS: usize = 3;
/// Every relayer coordinates from here on (rounds 0, 1 and 2 have passed).
const ALL_MAY_POST: u64 = 2 * ROTATION as u64 + 1;

fn rounds() -> u64 {
    std::env::var("SPINDLE_CHAOS_RACE_ROUNDS")
        .ok()
        .filter(|v| !v.is_empty())
        .map_or(2, |v| {
            v.parse()
                .expect("SPINDLE_CHAOS_RACE_ROUNDS is a positive integer")
        })
}

/// Appends one JSON line to `SPINDLE_CHAOS_REPORT`, if set.
fn report(line: serde_json::Value) {
    let Some(path) = std::env::var_os("SPINDLE_CHAOS_REPORT").filter(|p| !p.is_empty()) else {
        return;
    };
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    writeln!(f, "{line}").unwrap();
}

/// The next nonce from `from` whose escrow relayer 0 coordinates first, so relayer 0 (the
/// one on the test's database, with one wallet) coordinates every round.
fn nonce_for_relayer_0(w: &World, from: u64) -> u64 {
    let client = w.net.devnet.wallets()[CLIENT].address.clone();
    let code = je::code().unwrap();
    (from..)
        .find(|&nonce| {
            let escrow = je::state_init(code.clone(), &w.hub, &client, nonce)
                .unwrap()
                .address(0)
                .unwrap();
            coordinator(&address::to_raw(&escrow), 0, 3) == 0
        })
        .unwrap()
}

/// Calls `settle` until the escrow is final, as the relayer's loop would; returns the
/// outcome and how many calls failed or were told to wait first (bounded).
async fn settle_until_final(p: &JobPoster, raw: &str) -> (JobOutcome, u32) {
    let mut retries = 0;
    loop {
        match p.settle(raw).await {
            Ok(o @ (JobOutcome::Confirmed { .. } | JobOutcome::Finished { .. })) => {
                return (o, retries);
            }
            other => {
                retries += 1;
                assert!(retries < 300, "no final outcome: {other:?}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// How many `complete` messages from `wallet` reached `escrow`.
async fn completes_from(w: &World, escrow: &TonAddress, wallet: &TonAddress) -> usize {
    w.net
        .api
        .get_transactions(escrow, 50, None)
        .await
        .unwrap()
        .iter()
        .filter(|t| {
            t.in_msg.as_ref().is_some_and(|m| {
                !m.source.is_empty() && address::parse_address(&m.source).unwrap() == *wallet
            })
        })
        .count()
}

/// Three replicas of the coordinator on one database (own pools, own lease holders, one
/// wallet) settle the same job at once, every round: the wallet posting lease lets one
/// send, the shared outbox holds one item, one wallet message carries it, it pays once,
/// and every replica ends up reporting the same confirmed item.
pub(crate) async fn replicas_race_on_one_job(db: TestDb) {
    let started = Instant::now();
    let w = World::start().await;
    let rounds = rounds();
    let (key, wallet) = w.wallet(1);
    let wallet_addr = wallet.address().unwrap();
    let mut stores = vec![db.store().clone()];
    for _ in 1..REPLICAS {
        stores.push(db.new_store().await);
    }
    let (mut retries, mut nonce) = (0, 100);
    for round in 0..rounds {
        nonce = nonce_for_relayer_0(&w, nonce + 1);
        let s = setup(&w, &db, nonce, None, 3600).await;
        assert_eq!(s.coord, 0);
        let body = format!("replica race {round}");
        let result = signed_result(&w, &s.escrow, nonce, body.as_bytes(), &operator());
        dispatch(&w, s.store(0), &s.escrow, nonce, &s.job, Some(&result)).await;
        let stake0 = w.stake_state().await;
        let lt0 = last_lt(&w, &wallet_addr).await;
        let raw = s.raw();
        let posters: Vec<JobPoster> = stores
            .iter()
            .enumerate()
            .map(|(r, store)| {
                let submitter = Submitter::new(
                    client(&w.net.server.url),
                    store.clone(),
                    key.clone(),
                    wallet.clone(),
                    format!("replica-{r}"),
                )
                .unwrap();
                poster_with(&w, 0, store.clone(), &s.urls, 3600, Arc::new(submitter))
            })
            .collect();
        let outcomes =
            futures::future::join_all(posters.iter().map(|p| settle_until_final(p, &raw))).await;

        let ids: Vec<_> = outcomes
            .iter()
            .map(|(o, _)| match o {
                JobOutcome::Confirmed {
                    id,
                    state: je::COMPLETED,
                } => id.clone(),
                other => panic!("round {round}: {other:?}"),
            })
            .collect();
        assert!(ids.iter().all(|id| *id == ids[0]), "{ids:?}");
        retries += outcomes.iter().map(|(_, r)| r).sum::<u32>();
        assert_paid_once(&w, &s.escrow, stake0).await;
        assert_eq!(
            outbox_states(s.store(0), &raw).await,
            vec![(OutboxKind::Complete, OutboxState::Confirmed, 1)],
            "round {round}: one item, sent once"
        );
        let carried = wallet_messages(&w, &wallet_addr, lt0)
            .await
            .concat()
            .iter()
            .filter(|to| **to == s.escrow)
            .count();
        assert_eq!(
            carried, 1,
            "round {round}: one wallet message to the escrow"
        );
        assert_eq!(completes_from(&w, &s.escrow, &wallet_addr).await, 1);
    }
    report(serde_json::json!({
        "race": "replicas",
        "backend": format!("{:?}", db.kind),
        "rounds": rounds,
        "replicas": REPLICAS,
        "settled_once": rounds,
        "wallet_messages_per_job": 1,
        "retries": retries,
        "seconds": started.elapsed().as_secs(),
    }));
}

/// Three independent relayers (own stores, keys, wallets) hold the same 2-of-3 proof
/// and, the rotation timeout passed for all, post it at the same moment, every round
/// (every other round all three posts are sent before any lands): however many
/// `complete`s reach the escrow, it pays once; one relayer's item is confirmed, the
/// others' superseded, none sent twice.
pub(crate) async fn independent_relayers_race_on_one_job(db: TestDb) {
    let started = Instant::now();
    let w = World::start().await;
    let rounds = rounds();
    let (mut nonce, mut retries) = (200, 0);
    let mut posted = [0usize; 4]; // rounds in which 0..=3 completes reached the escrow
    for round in 0..rounds {
        nonce = nonce_for_relayer_0(&w, nonce + 1);
        let s = setup(&w, &db, nonce, None, ROTATION).await;
        assert_eq!(s.coord, 0);
        let body = format!("independent race {round}");
        let result = signed_result(&w, &s.escrow, nonce, body.as_bytes(), &operator());
        dispatch(&w, s.store(0), &s.escrow, nonce, &s.job, Some(&result)).await;
        let stake0 = w.stake_state().await;
        let raw = s.raw();
        let posters: Vec<JobPoster> = (0..3)
            .map(|i| poster(&w, i, s.store(i).clone(), &s.urls, ROTATION))
            .collect();
        // The coordinator collects the proof (its peers sign and store the result), then
        // stalls past every rotation: now all three may post.
        let job = s.store(0).job(&raw).await.unwrap().unwrap();
        let claim = posters[0].claim(&raw, &s.escrow).await.unwrap().unwrap();
        let now = i64::from(w.net.devnet.now());
        posters[0]
            .prepare_complete(&claim, job.state, now)
            .await
            .unwrap();
        w.net.devnet.advance_time(ALL_MAY_POST);
        w.net.devnet.produce_block();
        // Even rounds: each relayer queues its `complete` and all three wallets send at
        // once, so three posts are in flight. Odd rounds: all three run `settle` at once
        // and decide by themselves whether to post.
        let all_sent = round % 2 == 0;
        if all_sent {
            for p in &posters {
                assert_eq!(p.submit(&raw).await.unwrap(), None);
            }
            let sent = futures::future::join_all(
                posters.iter().map(|p| p.submitter.send_pending_to(&raw)),
            )
            .await;
            assert!(sent.iter().all(Result::is_ok), "{sent:?}");
        }
        let outcomes =
            futures::future::join_all(posters.iter().map(|p| settle_until_final(p, &raw))).await;

        retries += outcomes.iter().map(|(_, r)| r).sum::<u32>();
        let confirmed = outcomes
            .iter()
            .filter(|(o, _)| matches!(o, JobOutcome::Confirmed { .. }))
            .count();
        assert_eq!(confirmed, 1, "round {round}: {outcomes:?}");
        assert_paid_once(&w, &s.escrow, stake0).await;
        let mut states = Vec::new();
        let mut completes = 0;
        for i in 0..3 {
            for (kind, state, attempts) in outbox_states(s.store(i), &raw).await {
                assert_eq!((kind, attempts), (OutboxKind::Complete, 1), "relayer {i}");
                states.push(state);
            }
            let wallet = w.net.devnet.wallets()[1 + i].address.clone();
            completes += completes_from(&w, &s.escrow, &wallet).await;
        }
        states.sort_by_key(|s| s.as_str());
        assert_eq!(
            states
                .iter()
                .filter(|s| **s == OutboxState::Confirmed)
                .count(),
            1,
            "round {round}: {states:?}"
        );
        assert!(
            states
                .iter()
                .all(|s| matches!(s, OutboxState::Confirmed | OutboxState::Superseded)),
            "round {round}: {states:?}"
        );
        if all_sent {
            // Wait until all three posts reached the escrow, then check again.
            wait_until(|| async {
                let mut n = 0;
                for i in 1..=3 {
                    let wallet = w.net.devnet.wallets()[i].address.clone();
                    n += completes_from(&w, &s.escrow, &wallet).await;
                }
                n == 3
            })
            .await;
            completes = 3;
        }
        assert!((1..=3).contains(&completes), "{completes}");
        posted[completes] += 1;
        assert_paid_once(&w, &s.escrow, stake0).await;
    }
    report(serde_json::json!({
        "race": "independent",
        "backend": format!("{:?}", db.kind),
        "rounds": rounds,
        "relayers": 3,
        "settled_once": rounds,
        "rounds_with_completes_reaching_escrow": {
            "1": posted[1], "2": posted[2], "3": posted[3],
        },
        "retries": retries,
        "seconds": started.elapsed().as_secs(),
    }));
}
