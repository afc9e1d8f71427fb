//! Metered charges → k-of-n vouchers → on-chain settlement, exactly once: three
//! relayers with their own stores and keys (k = 2) against the real compute_account
//! and provider_stake on the devnet over HTTP. Relayer A (the home gateway) runs on a
//! fresh SQLite file or a fresh PostgreSQL database; B and C on SQLite files.

#[path = "../relayer/common.rs"]
#[allow(dead_code)]
mod common;
mod dashboard;

use std::sync::Arc;
use std::time::Duration;

use common::{TestDb, both_backends};
use spindle_devnet::{Devnet, DevnetConfig, ServerHandle, TON};
use spindle_relayer::Store;
use spindle_relayer::outbox::{AnyOutboxEntry, OutboxState};
use spindle_relayer::settle::peer::{PATH, SignRequest, request_signature};
use spindle_relayer::settle::submitter::{Action, Fault};
use spindle_relayer::settle::{
    PeerApi, PeerRelayer, PostPolicy, Poster, Settled, Submitter, VoucherSigner, chain,
};
use spindle_relayer::store::Charge;
use spindle_sdk::message::InternalMessage;
use spindle_sdk::protocol::compute_account::{self as ca, Params, Voucher};
use spindle_sdk::protocol::provider_stake::{self as ps, StakeConfig};
use spindle_sdk::protocol::relayer_set::RelayerSet;
use spindle_sdk::toncenter::{Toncenter, ToncenterConfig};
use spindle_sdk::wallet::{Outgoing, Transfer, WalletV5R1};
use spindle_sdk::{SigningKey, TonAddress, address};

struct Net {
    devnet: Devnet,
    api: Toncenter,
    _server: ServerHandle,
}

/// A client of the devnet's API (each relayer has its own).
fn client(url: &str) -> Toncenter {
    let mut config = ToncenterConfig::new(url.to_owned());
    config.requests_per_second = 10_000.0; // a local chain: no rate limit to respect
    Toncenter::new(config)
}

async fn wait_until<F, Fut>(mut done: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    for _ in 0..300 {
        if done().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timed out after 30 s");
}

impl Net {
    async fn start() -> Net {
        let devnet = Devnet::new(DevnetConfig {
            block_interval: Some(Duration::from_millis(50)),
            ..DevnetConfig::default()
        })
        .unwrap();
        let server = devnet.serve("127.0.0.1:0".parse().unwrap()).await.unwrap();
        Net {
            devnet,
            api: client(&server.url),
            _server: server,
        }
    }

    fn wallet(&self, i: usize) -> (SigningKey, WalletV5R1) {
        let w = &self.devnet.wallets()[i];
        let key = SigningKey::from_bytes(&w.secret_key);
        let wallet = WalletV5R1::new(key.verifying_key(), 0, self.devnet.global_id());
        assert_eq!(wallet.address().unwrap(), w.address);
        (key, wallet)
    }

    /// Genesis wallet `i` sends `messages` and the transfer lands.
    async fn send(&self, i: usize, messages: Vec<InternalMessage>) {
        let (key, wallet) = self.wallet(i);
        let addr = wallet.address().unwrap();
        let seqno = self.api.wallet_seqno(&addr).await.unwrap();
        let t = Transfer {
            seqno,
            valid_until: self.devnet.now() + 120,
            messages: messages.into_iter().map(Outgoing::new).collect(),
        };
        self.api
            .send_boc(&wallet.external_transfer(&key, &t).unwrap())
            .await
            .unwrap();
        wait_until(|| async { self.api.wallet_seqno(&addr).await.unwrap() > seqno }).await;
    }
}

fn relayer_key(i: u8) -> SigningKey {
    SigningKey::from_bytes(&[i + 1; 32])
}

struct World {
    net: Arc<Net>,
    set: RelayerSet,
    account: TonAddress,
    owner: TonAddress,
}

/// A compute account of wallet 0 (5 TON, 2-of-3 set) and wallet 2's provider stake.
async fn world() -> World {
    let net = Arc::new(Net::start().await);
    let keys: Vec<_> = (0..3).map(|i| relayer_key(i).verifying_key()).collect();
    let set = RelayerSet::new(1, 2, keys).unwrap();
    let hub = net.devnet.faucet_wallet().address.clone();
    let client = net.devnet.wallets()[0].address.clone();
    let owner = net.devnet.wallets()[2].address.clone();
    let stake_code = spindle_sdk::artifact!("provider_stake").unwrap().code;
    let init = ca::state_init(
        spindle_sdk::artifact!("compute_account").unwrap().code,
        &hub,
        &client,
        7,
    )
    .unwrap();
    let account = init.address(0).unwrap();
    let params = Params {
        relayers: set.clone(),
        settle_fee: TON / 100,
        grace: 3600,
        stake_code: stake_code.clone(),
        jetton_wallet: None,
    };
    net.send(
        0,
        vec![
            InternalMessage::new(account.clone(), 5 * TON)
                .with_state_init(init)
                .with_body(ca::init_body(&params, 1).unwrap()),
        ],
    )
    .await;
    let config = StakeConfig {
        escrow_code: spindle_sdk::protocol::job_escrow::code().unwrap(),
        treasury: hub.clone(),
        slash_mult_pct: 200,
        finder_fee: TON / 20,
        unbond_period: 86_400,
        min_stake: TON,
    };
    let sinit = ps::state_init(stake_code, &hub, &owner).unwrap();
    let operator = SigningKey::from_bytes(&[42; 32]).verifying_key();
    net.send(
        2,
        vec![
            InternalMessage::new(sinit.address(0).unwrap(), 2 * TON)
                .with_state_init(sinit)
                .with_body(ps::init_body(&operator, &config, 0).unwrap()),
        ],
    )
    .await;
    World {
        net,
        set,
        account,
        owner,
    }
}

impl World {
    fn signer(&self, i: u8, store: Store) -> Arc<VoucherSigner> {
        Arc::new(VoucherSigner {
            store,
            key: relayer_key(i),
            set: self.set.clone(),
            api: client(&self.net._server.url),
            global_id: self.net.devnet.global_id(),
        })
    }

    /// Serves relayer `i`'s peer API (its peers: the other two) and returns its URL.
    async fn serve_peer(&self, i: u8, store: Store) -> String {
        let peers = (0..3)
            .filter(|&j| j != i)
            .map(|j| relayer_key(j).verifying_key())
            .collect();
        let api = Arc::new(PeerApi {
            signer: self.signer(i, store),
            peers,
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let router = api.router();
        tokio::spawn(async move { axum::serve(listener, router).await });
        url
    }

    /// Relayer A (index 0), the home gateway, posting from genesis wallet 1.
    fn poster(&self, store: Store, b_url: &str, c_url: &str) -> Poster {
        let (wallet_key, wallet) = self.net.wallet(1);
        Poster {
            signer: self.signer(0, store.clone()),
            peers: vec![
                PeerRelayer {
                    url: b_url.into(),
                    key: relayer_key(1).verifying_key(),
                },
                PeerRelayer {
                    url: c_url.into(),
                    key: relayer_key(2).verifying_key(),
                },
            ],
            http: reqwest::Client::new(),
            submitter: Arc::new(
                Submitter::new(
                    client(&self.net._server.url),
                    store,
                    wallet_key,
                    wallet,
                    "relayer-a".into(),
                )
                .unwrap(),
            ),
            settle_value: TON / 10,
            voucher_validity_secs: 600,
        }
    }

    async fn paid(&self) -> u128 {
        chain::paid(&self.net.api, &self.account, &self.owner)
            .await
            .unwrap()
    }

    fn raw(&self) -> (String, String) {
        (address::to_raw(&self.account), address::to_raw(&self.owner))
    }

    async fn charge(&self, store: &Store, id: &str, cost: u128) {
        let (account, provider) = self.raw();
        let cost = u64::try_from(cost).unwrap();
        let charge = Charge {
            request_id: id.into(),
            account,
            provider,
            cost,
        };
        assert!(store.record_charge(&charge, 0).await.unwrap());
        assert!(
            !store.record_charge(&charge, 0).await.unwrap(),
            "a request is charged once"
        );
    }

    fn voucher(&self, cumulative: u128) -> Voucher {
        Voucher {
            global_id: self.net.devnet.global_id(),
            account: self.account.clone(),
            epoch: 0,
            provider_owner: self.owner.clone(),
            cumulative,
            valid_until: self.net.devnet.now() + 600,
        }
    }
}

fn sqlite_store_url(name: &str) -> String {
    format!(
        "sqlite://{}",
        common::temp_dir(name).join("store.db").display()
    )
}

/// Charges on A → voucher signed by A and B (C is down) → lands and pays exactly the
/// charges once; a re-sent identical voucher pays nothing; further charges pay only the
/// delta; peers refuse lower, unjustified and forged requests; a poster killed between
/// submit and confirm is restarted on its store and confirms without paying twice.
async fn charges_settle_exactly_once(db: TestDb) {
    let w = world().await;
    let a = db.store().clone();
    let b = Store::connect(&sqlite_store_url("b")).await.unwrap();
    let b_url = w.serve_peer(1, b.clone()).await;
    let c_url = "http://127.0.0.1:1".to_owned(); // relayer C is down
    let poster = w.poster(a.clone(), &b_url, &c_url);
    let (account_raw, provider_raw) = w.raw();

    w.charge(&a, "r1", TON / 10).await;
    w.charge(&a, "r2", TON / 5).await;
    w.charge(&a, "r3", 7).await;
    let first = TON / 10 + TON / 5 + 7;
    assert_eq!(
        a.account_totals(&account_raw).await.unwrap()[0].unsettled(),
        first as u64
    );

    // The same signed voucher posted twice pays once.
    let (v, body) = poster
        .signed_settle(&w.account, &w.owner)
        .await
        .unwrap()
        .expect("something to settle");
    assert_eq!(v.cumulative, first);
    let wallet_addr = poster.submitter.wallet_address().clone();
    let action = Action {
        target: w.account.clone(),
        value: TON / 10,
        body: Arc::new(body.clone()),
    };
    for _ in 0..2 {
        let seqno = w.net.api.wallet_seqno(&wallet_addr).await.unwrap();
        poster
            .submitter
            .send_external(
                std::slice::from_ref(&action),
                seqno,
                w.net.devnet.now() + 60,
            )
            .await
            .unwrap();
        wait_until(|| async { w.net.api.wallet_seqno(&wallet_addr).await.unwrap() > seqno }).await;
    }
    assert_eq!(w.paid().await, first, "paid exactly the charges, once");
    // B stored what it signed before answering.
    assert_eq!(
        b.voucher(&account_raw, &provider_raw)
            .await
            .unwrap()
            .unwrap()
            .voucher
            .cumulative,
        first as u64
    );
    // Nothing more is owed: the poster posts nothing.
    assert_eq!(
        poster.settle(&w.account, &w.owner).await.unwrap(),
        Settled::Nothing { paid: first }
    );

    // More charges: the poster settles through the outbox, only the delta is paid.
    w.charge(&a, "r4", TON / 4).await;
    let second = first + TON / 4;
    let Settled::Confirmed { id, cumulative } = poster.settle(&w.account, &w.owner).await.unwrap()
    else {
        panic!("expected a confirmed voucher");
    };
    assert_eq!(cumulative, second);
    assert_eq!(w.paid().await, second);
    let entry = a.outbox_get(&id).await.unwrap().unwrap();
    assert_eq!(entry.state(), OutboxState::Confirmed);
    assert!(
        entry
            .record()
            .submission
            .as_ref()
            .unwrap()
            .wallet_seqno
            .is_some()
    );
    assert_eq!(
        a.account_totals(&account_raw).await.unwrap()[0].unsettled(),
        0,
        "settled is subtracted"
    );

    // B refuses a lower cumulative than it signed, and an unjustified one.
    let key_a = relayer_key(0);
    let key_b = relayer_key(1).verifying_key();
    let http = reqwest::Client::new();
    let lower = request_signature(&http, &b_url, &key_b, &key_a, &w.voucher(first)).await;
    assert!(lower.unwrap_err().contains("409"), "lower voucher refused");
    let too_much =
        request_signature(&http, &b_url, &key_b, &key_a, &w.voucher(second + 10 * TON)).await;
    let e = too_much.unwrap_err();
    assert!(e.contains("409") && e.contains("unjustified"), "{e}");
    // Forged requests: signed by an outsider, or altered after signing.
    let outsider = SigningKey::from_bytes(&[9; 32]);
    let forged = request_signature(&http, &b_url, &key_b, &outsider, &w.voucher(second + 1)).await;
    assert!(forged.unwrap_err().contains("401"));
    let mut altered = SignRequest::new(&w.voucher(second + 1), &key_a, &key_b).unwrap();
    altered.cumulative = (second + 2).to_string();
    let r = http
        .post(format!("{b_url}{PATH}"))
        .json(&altered)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let signed = b
        .voucher(&account_raw, &provider_raw)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        signed.voucher.cumulative, second as u64,
        "refusals changed nothing"
    );

    // Killed between submit and confirm, restarted on the same store: confirmed, once.
    w.charge(&a, "r5", TON / 2).await;
    let third = second + TON / 2;
    let submitted = poster
        .submit(&w.account, &w.owner)
        .await
        .unwrap()
        .expect("a post");
    drop(poster);
    assert!(matches!(
        a.outbox_get(&submitted).await.unwrap(),
        Some(AnyOutboxEntry::Submitted(_))
    ));
    let restarted_store = Store::connect(&db.url).await.unwrap();
    let poster = w.poster(restarted_store.clone(), &b_url, &c_url);
    let outcome = poster.settle(&w.account, &w.owner).await.unwrap();
    assert_eq!(
        outcome,
        Settled::Confirmed {
            id: submitted.clone(),
            cumulative: third
        }
    );
    assert_eq!(w.paid().await, third, "no double payment after the restart");
    assert_eq!(
        restarted_store
            .outbox_get(&submitted)
            .await
            .unwrap()
            .unwrap()
            .state(),
        OutboxState::Confirmed
    );
    assert!(restarted_store.unsettled_pairs().await.unwrap().is_empty());
    // Posting again (drain) finds nothing to do.
    assert!(poster.run_once(0, 0, true).await.is_empty());
    assert_eq!(w.paid().await, third);

    // The loop: below the threshold a tick posts nothing; the shutdown drain posts it.
    w.charge(&restarted_store, "r6", TON / 10).await;
    let fourth = third + TON / 10;
    let policy = PostPolicy {
        threshold: TON as u64,
        interval: Duration::from_millis(50),
        max_delay: Duration::from_secs(3600),
        grace_margin_secs: 600,
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let watch = async {
        tokio::time::sleep(Duration::from_millis(600)).await;
        assert_eq!(w.paid().await, third, "below the threshold, nothing posted");
        stop.send(()).unwrap();
    };
    tokio::join!(poster.run(policy, async { stopped.await.unwrap() }), watch);
    assert_eq!(w.paid().await, fourth, "the shutdown drain posted it");

    // A client asking to withdraw: its unsettled charges are posted by the next tick,
    // inside the grace period, though below the threshold.
    w.charge(&restarted_store, "r7", TON / 10).await;
    let fifth = fourth + TON / 10;
    w.net
        .send(
            0,
            vec![
                InternalMessage::new(w.account.clone(), TON / 10)
                    .with_body(ca::simple_body(ca::op::REQUEST_WITHDRAW, 0).unwrap()),
            ],
        )
        .await;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let watch = async {
        wait_until(|| async { w.paid().await == fifth }).await;
        stop.send(()).unwrap();
    };
    tokio::join!(
        poster.run(
            PostPolicy {
                grace_margin_secs: 3600 + 60,
                ..policy
            },
            async { stopped.await.unwrap() }
        ),
        watch
    );
    assert_eq!(w.paid().await, fifth);

    // C comes up with its own store and B goes down: A+C settle the next charges.
    let c = Store::connect(&sqlite_store_url("c")).await.unwrap();
    let c_url = w.serve_peer(2, c.clone()).await;
    let poster = w.poster(restarted_store.clone(), "http://127.0.0.1:1", &c_url);
    w.charge(&restarted_store, "r8", TON / 10).await;
    let sixth = fifth + TON / 10;
    let outcome = poster.settle(&w.account, &w.owner).await.unwrap();
    assert!(matches!(outcome, Settled::Confirmed { cumulative, .. } if cumulative == sixth));
    assert_eq!(w.paid().await, sixth);
    let c_signed = c
        .voucher(&account_raw, &provider_raw)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(c_signed.voucher.cumulative, sixth as u64);
    let b_signed = b
        .voucher(&account_raw, &provider_raw)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(b_signed.voucher.cumulative, fifth as u64, "B was down");
}

/// A voucher post whose wallet message is lost fails once the message expires; the next
/// settle re-sends that very post (same outbox id, same payload: the same signed voucher)
/// instead of signing a fresh voucher, and it pays once.
async fn a_failed_voucher_post_is_resent_as_it_was(db: TestDb) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let w = world().await;
    let a = db.store().clone();
    let b = Store::connect(&sqlite_store_url("b")).await.unwrap();
    let b_url = w.serve_peer(1, b.clone()).await;
    let mut poster = w.poster(a.clone(), &b_url, "http://127.0.0.1:1");
    let sent = Arc::new(AtomicUsize::new(0));
    let counter = sent.clone();
    let (wallet_key, wallet) = w.net.wallet(1);
    poster.submitter = Arc::new(
        Submitter::new(
            client(&w.net._server.url),
            a.clone(),
            wallet_key,
            wallet,
            "relayer-a".into(),
        )
        .unwrap()
        // The first external message is lost on the way.
        .with_fault(Arc::new(move |_| {
            (counter.fetch_add(1, Ordering::SeqCst) == 0).then_some(Fault::Drop)
        })),
    );
    let (account_raw, provider_raw) = w.raw();
    w.charge(&a, "r1", TON / 10).await;

    // The chain's clock passes the lost message's valid_until: the post fails.
    let clock = async {
        wait_until(|| async { sent.load(Ordering::SeqCst) > 0 }).await;
        w.net.devnet.advance_time(120);
    };
    let (first, ()) = tokio::join!(poster.settle(&w.account, &w.owner), clock);
    let e = first.unwrap_err();
    assert!(e.contains("expired unpaid"), "{e}");
    let items = a.outbox_for_target(&account_raw).await.unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0].state(), OutboxState::FailedRetryable);
    let failed = items[0].record().clone();
    assert_eq!(w.paid().await, 0);
    let b_signed = b
        .voucher(&account_raw, &provider_raw)
        .await
        .unwrap()
        .unwrap();

    // Settled again: the same post goes out again and lands.
    let outcome = poster.settle(&w.account, &w.owner).await.unwrap();
    assert_eq!(
        outcome,
        Settled::Confirmed {
            id: failed.id.clone(),
            cumulative: TON / 10
        }
    );
    assert_eq!(w.paid().await, TON / 10);
    let items = a.outbox_for_target(&account_raw).await.unwrap();
    assert_eq!(items.len(), 1, "no second post for the pair");
    assert_eq!(items[0].state(), OutboxState::Confirmed);
    assert_eq!(
        items[0].record().payload,
        failed.payload,
        "the same payload"
    );
    assert_eq!(items[0].record().attempts, failed.attempts + 1);
    assert_eq!(
        b.voucher(&account_raw, &provider_raw)
            .await
            .unwrap()
            .unwrap(),
        b_signed,
        "no fresh voucher was signed"
    );
    assert_eq!(sent.load(Ordering::SeqCst), 2, "one lost send, one re-send");
}

both_backends!(
    charges_settle_exactly_once,
    a_failed_voucher_post_is_resent_as_it_was
);
