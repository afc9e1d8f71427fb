//! Escrow jobs → k-of-n completion proofs → `complete` (or `expire`) on-chain, exactly
//! once: three relayers with their own stores and keys (k = 2) against the real
//! job_escrow and provider_stake on the devnet over HTTP. The job's coordinator runs on
//! a fresh SQLite file or PostgreSQL database (both backends), its peers on SQLite.
//! The worker's result is stored at the coordinator through the store's own methods
//! (lease, acceptance, result), signed with the provider's real operator key.

#[path = "../relayer/common.rs"]
#[allow(dead_code)]
mod common;
mod dashboard;
mod race;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::{TestDb, both_backends};
use sha2::{Digest, Sha256};
use spindle_devnet::{Devnet, DevnetConfig, ServerHandle, TON};
use spindle_relayer::Store;
use spindle_relayer::outbox::{OutboxKind, OutboxState, SubmissionState, WalletSubmission};
use spindle_relayer::settle::job_peer::{JobSignRequest, MAX_REQUEST_BYTES, PATH};
use spindle_relayer::settle::job_signer::coordinator;
use spindle_relayer::settle::submitter::{Fault, Flushed, LEASE};
use spindle_relayer::settle::{
    CompletionClaim, JobOutcome, JobPeerApi, JobPoster, JobSigner, PeerApi, PeerRelayer, Poster,
    Settled, Submitter, VoucherSigner,
};
use spindle_relayer::store::{Acceptance as StoredAcceptance, Charge, NewJob, StoredResult, Usage};
use spindle_sdk::message::InternalMessage;
use spindle_sdk::protocol::compute_account as ca;
use spindle_sdk::protocol::job_escrow::{self as je, Acceptance, Completion, JobResult};
use spindle_sdk::protocol::provider_stake::{self as ps, StakeConfig, earned_from_payout};
use spindle_sdk::protocol::relayer_set::RelayerSet;
use spindle_sdk::toncenter::{Toncenter, ToncenterConfig};
use spindle_sdk::wallet::{Outgoing, Transfer, WalletV5R1};
use spindle_sdk::{SigningKey, TonAddress, address, boc, signing};

const AMOUNT: u128 = TON / 2;
const PAY: u64 = (3 * TON / 10) as u64;
const SETTLE_FEE: u128 = TON / 100;
const FEE_BPS: u16 = 500;
const GRACE: u32 = 60;
const SLASH_MULT_PCT: u16 = 200;
const FINDER_FEE: u128 = TON / 20;
/// Genesis wallets: 0 the client, 1..=3 the relayers' posting wallets, 4 the provider.
const CLIENT: usize = 0;
/// Rotation timeout of the coordinator in the test where it is slow.
const ROTATION: i64 = 100;
const PROVIDER: usize = 4;

struct Net {
    devnet: Devnet,
    api: Toncenter,
    server: ServerHandle,
}

impl Net {
    /// A devnet with six funded wallets and 50 ms blocks, served over HTTP.
    async fn start() -> Arc<Net> {
        let devnet = Devnet::new(DevnetConfig {
            wallets: 6,
            block_interval: Some(Duration::from_millis(50)),
            ..DevnetConfig::default()
        })
        .unwrap();
        let server = devnet.serve("127.0.0.1:0".parse().unwrap()).await.unwrap();
        Arc::new(Net {
            api: client(&server.url),
            devnet,
            server,
        })
    }
}

fn client(url: &str) -> Toncenter {
    let mut config = ToncenterConfig::new(url.to_owned());
    config.requests_per_second = 10_000.0;
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

fn relayer_key(i: usize) -> SigningKey {
    SigningKey::from_bytes(&[i as u8 + 1; 32])
}

fn operator() -> SigningKey {
    SigningKey::from_bytes(&[42; 32])
}

/// A chain with a funded provider stake, and the three relayers' set.
struct World {
    net: Arc<Net>,
    set: RelayerSet,
    hub: TonAddress,
    treasury: TonAddress,
    owner: TonAddress,
    stake: TonAddress,
    config: je::Config,
}

impl World {
    async fn start() -> World {
        let net = Net::start().await;
        let keys = (0..3).map(|i| relayer_key(i).verifying_key()).collect();
        let set = RelayerSet::new(1, 2, keys).unwrap();
        let hub = net.devnet.faucet_wallet().address.clone();
        let treasury = net.devnet.wallets()[5].address.clone();
        let owner = net.devnet.wallets()[PROVIDER].address.clone();
        let stake_code = spindle_sdk::artifact!("provider_stake").unwrap().code;
        let stake_config = StakeConfig {
            escrow_code: je::code().unwrap(),
            treasury: treasury.clone(),
            slash_mult_pct: SLASH_MULT_PCT,
            finder_fee: FINDER_FEE,
            unbond_period: 86_400,
            min_stake: TON,
        };
        let sinit = ps::state_init(stake_code.clone(), &hub, &owner).unwrap();
        let stake = sinit.address(0).unwrap();
        let w = World {
            net,
            config: je::Config {
                settle_fee: SETTLE_FEE,
                fee_bps: FEE_BPS,
                grace: GRACE,
                window: 3600,
                stake_code,
                treasury: treasury.clone(),
                relayers: set.clone(),
            },
            set,
            hub,
            treasury,
            owner,
            stake,
        };
        w.send(
            PROVIDER,
            vec![
                InternalMessage::new(w.stake.clone(), 2 * TON)
                    .with_state_init(sinit)
                    .with_body(
                        ps::init_body(&operator().verifying_key(), &stake_config, 0).unwrap(),
                    ),
            ],
        )
        .await;
        w
    }

    fn wallet(&self, i: usize) -> (SigningKey, WalletV5R1) {
        let w = &self.net.devnet.wallets()[i];
        let key = SigningKey::from_bytes(&w.secret_key);
        let wallet = WalletV5R1::new(key.verifying_key(), 0, self.net.devnet.global_id());
        assert_eq!(wallet.address().unwrap(), w.address);
        (key, wallet)
    }

    async fn send(&self, i: usize, messages: Vec<InternalMessage>) {
        let (key, wallet) = self.wallet(i);
        let addr = wallet.address().unwrap();
        let api = &self.net.api;
        let seqno = api.wallet_seqno(&addr).await.unwrap();
        let t = Transfer {
            seqno,
            valid_until: self.net.devnet.now() + 120,
            messages: messages.into_iter().map(Outgoing::new).collect(),
        };
        api.send_boc(&wallet.external_transfer(&key, &t).unwrap())
            .await
            .unwrap();
        wait_until(|| async { api.wallet_seqno(&addr).await.unwrap() > seqno }).await;
    }

    /// The client deploys and funds escrow `nonce`, due `secs` from now.
    async fn create(&self, nonce: u64, secs: u32) -> (TonAddress, je::Job) {
        let client = self.net.devnet.wallets()[CLIENT].address.clone();
        let code = je::code().unwrap();
        let init = je::state_init(code, &self.hub, &client, nonce).unwrap();
        let escrow = init.address(0).unwrap();
        let job = je::Job {
            amount: AMOUNT,
            deadline: self.net.devnet.now() + secs,
            spec_hash: [7; 32],
        };
        let value = AMOUNT
            + SETTLE_FEE
            + je::RESERVE
            + je::GAS_CREATE * ps::BASECHAIN_GAS_PRICE
            + TON / 100;
        self.send(
            CLIENT,
            vec![
                InternalMessage::new(escrow.clone(), value)
                    .with_state_init(init)
                    .with_body(je::create_body(&job, &self.config, nonce).unwrap()),
            ],
        )
        .await;
        assert_eq!(self.state(&escrow).await.state, je::OPEN);
        (escrow, job)
    }

    async fn state(&self, escrow: &TonAddress) -> je::JobState {
        spindle_relayer::settle::job_chain::job_state(&self.net.api, escrow)
            .await
            .unwrap()
    }

    /// `get_stake`: (stake, earned).
    async fn stake_state(&self) -> (u128, u128) {
        let r = self
            .net
            .api
            .run_get_method(&self.stake, "get_stake", &[])
            .await
            .unwrap();
        let n = |i: usize| u128::try_from(r.stack[i].as_num().unwrap().clone()).unwrap();
        (n(0), n(1))
    }

    /// What `at` received in messages from `from`, bounces excluded.
    async fn received(&self, at: &TonAddress, from: &TonAddress) -> u128 {
        let mut sum = 0;
        for tx in self.net.api.get_transactions(at, 100, None).await.unwrap() {
            if let Some(m) = tx.in_msg.filter(|m| !m.source.is_empty())
                && address::parse_address(&m.source).unwrap() == *from
            {
                let body = m.body().unwrap();
                let op = body.as_ref().and_then(|b| b.parser().load_u32(32).ok());
                if op != Some(0xffff_ffff) {
                    sum += m.value;
                }
            }
        }
        sum
    }

    fn signer(&self, i: usize, store: Store, rotation_secs: i64) -> Arc<JobSigner> {
        Arc::new(JobSigner {
            store,
            key: relayer_key(i),
            set: self.set.clone(),
            api: client(&self.net.server.url),
            global_id: self.net.devnet.global_id(),
            hub: self.hub.clone(),
            stake_code: self.config.stake_code.clone(),
            rotation_secs,
        })
    }
}

/// One relayer: its store, peer API (if up) and poster.
struct Relayer {
    index: usize,
    store: Store,
    url: String,
}

/// Starts relayer `i`'s peer API on `store`; returns it with its URL.
async fn relayer(w: &World, i: usize, store: Store, rotation_secs: i64) -> Relayer {
    let peers = (0..3)
        .filter(|&j| j != i)
        .map(|j| relayer_key(j).verifying_key())
        .collect();
    let api = Arc::new(JobPeerApi {
        signer: w.signer(i, store.clone(), rotation_secs),
        peers,
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let router = api.router();
    tokio::spawn(async move { axum::serve(listener, router).await });
    Relayer {
        index: i,
        store,
        url,
    }
}

/// Relayer `me`'s submitter: the one sender from its wallet (genesis wallet 1 + me).
fn submitter(w: &World, me: usize, store: Store) -> Submitter {
    let (wallet_key, wallet) = w.wallet(1 + me);
    Submitter::new(
        client(&w.net.server.url),
        store,
        wallet_key,
        wallet,
        format!("relayer-{me}"),
    )
    .unwrap()
}

/// Relayer `me`'s poster, its peers at `urls`, with its own submitter.
fn poster(
    w: &World,
    me: usize,
    store: Store,
    urls: &[(usize, String)],
    rotation_secs: i64,
) -> JobPoster {
    let submitter = Arc::new(submitter(w, me, store.clone()));
    poster_with(w, me, store, urls, rotation_secs, submitter)
}

/// Relayer `me`'s poster sending through `submitter`.
fn poster_with(
    w: &World,
    me: usize,
    store: Store,
    urls: &[(usize, String)],
    rotation_secs: i64,
    submitter: Arc<Submitter>,
) -> JobPoster {
    JobPoster {
        signer: w.signer(me, store, rotation_secs),
        peers: urls
            .iter()
            .filter(|(j, _)| *j != me)
            .map(|(j, url)| PeerRelayer {
                url: url.clone(),
                key: relayer_key(*j).verifying_key(),
            })
            .collect(),
        http: reqwest::Client::new(),
        submitter,
    }
}

/// A peer's SQLite store in a fresh directory, removed when the guard drops.
async fn peer_store(name: &str) -> (Store, TempDir) {
    let dir = common::temp_dir(name);
    let store = Store::connect(&format!("sqlite://{}", dir.join("store.db").display()))
        .await
        .unwrap();
    (store, TempDir(dir))
}

/// Removes a test directory when dropped (also when the test fails).
struct TempDir(std::path::PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
/// A result signed by the provider's operator key (or `key`), for job `nonce` at `escrow`.
fn signed_result(
    w: &World,
    escrow: &TonAddress,
    nonce: u64,
    body: &[u8],
    key: &SigningKey,
) -> StoredResult {
    let result_hash: [u8; 32] = Sha256::digest(body).into();
    let usage = Usage {
        input_tokens: 12,
        output_tokens: 34,
    };
    let payload = JobResult {
        global_id: w.net.devnet.global_id(),
        escrow: escrow.clone(),
        nonce,
        provider_owner: w.owner.clone(),
        result_hash,
        input_tokens: usage.input_tokens,
        output_tokens: usage.output_tokens,
    }
    .payload()
    .unwrap();
    StoredResult {
        result_hash,
        body: body.to_vec(),
        usage,
        worker_pubkey: key.verifying_key().to_bytes(),
        worker_signature: signing::sign(key, &payload).to_bytes(),
    }
}

/// The dispatch side at the coordinator: the job is funded, leased, accepted (the
/// operator's JACC) and its worker's result stored with its provider and pay.
async fn dispatch(
    w: &World,
    store: &Store,
    escrow: &TonAddress,
    nonce: u64,
    job: &je::Job,
    result: Option<&StoredResult>,
) {
    let raw = address::to_raw(escrow);
    let now = i64::from(w.net.devnet.now());
    store
        .insert_job(
            &NewJob {
                escrow: raw.clone(),
                client: address::to_raw(&w.net.devnet.wallets()[CLIENT].address),
                nonce,
                asset: "TON".into(),
                amount: AMOUNT as u64,
                deadline: i64::from(job.deadline),
                spec_hash: job.spec_hash,
            },
            now,
        )
        .await
        .unwrap();
    let lease = store
        .claim_job(&raw, "worker-1", now, 600)
        .await
        .unwrap()
        .unwrap();
    let acceptance = Acceptance {
        global_id: w.net.devnet.global_id(),
        escrow: escrow.clone(),
        nonce,
        provider_owner: w.owner.clone(),
    }
    .payload()
    .unwrap();
    store
        .record_acceptance(
            &lease,
            &StoredAcceptance {
                operator_pubkey: operator().verifying_key().to_bytes(),
                payload: boc::to_boc(&acceptance),
                signature: signing::sign(&operator(), &acceptance).to_bytes(),
            },
            now,
        )
        .await
        .unwrap();
    if let Some(result) = result {
        store.store_result(&lease, result, now).await.unwrap();
        store
            .set_result_settlement(&raw, &result.result_hash, &address::to_raw(&w.owner), PAY)
            .await
            .unwrap();
    }
}

/// Three relayers for escrow `nonce`: the coordinator on `db`'s store, the others on
/// SQLite files; `down` (a non-coordinator) is not started.
struct Setup {
    escrow: TonAddress,
    job: je::Job,
    coord: usize,
    relayers: Vec<Relayer>,
    urls: Vec<(usize, String)>,
    _dirs: Vec<TempDir>,
}

async fn setup(
    w: &World,
    db: &TestDb,
    nonce: u64,
    down: Option<usize>,
    rotation_secs: i64,
) -> Setup {
    let (escrow, job) = w.create(nonce, 600).await;
    let coord = coordinator(&address::to_raw(&escrow), 0, 3);
    let mut relayers = Vec::new();
    let mut urls = Vec::new();
    let mut dirs = Vec::new();
    for i in 0..3 {
        let store = if i == coord {
            db.store().clone()
        } else {
            let (store, dir) = peer_store(&format!("peer{i}")).await;
            dirs.push(dir);
            store
        };
        if Some(i) == down.map(|d| (coord + d) % 3) {
            urls.push((i, "http://127.0.0.1:1".to_owned()));
            relayers.push(Relayer {
                index: i,
                store,
                url: "http://127.0.0.1:1".into(),
            });
            continue;
        }
        let r = relayer(w, i, store, rotation_secs).await;
        urls.push((i, r.url.clone()));
        relayers.push(r);
    }
    Setup {
        escrow,
        job,
        coord,
        relayers,
        urls,
        _dirs: dirs,
    }
}

impl Setup {
    fn store(&self, i: usize) -> &Store {
        &self.relayers[i].store
    }

    fn raw(&self) -> String {
        address::to_raw(&self.escrow)
    }
}

/// Asserts the job paid exactly once: the stake earned the pay less the fee, the
/// treasury got the fee, the client got the rest back, the escrow keeps its reserve.
async fn assert_paid_once(w: &World, escrow: &TonAddress, stake0: (u128, u128)) {
    let s = w.state(escrow).await;
    assert_eq!(s.state, je::COMPLETED);
    let pay = u128::from(PAY);
    let fee = w.config.fee(pay);
    assert_eq!(
        w.received(&w.stake, escrow).await,
        pay - fee,
        "stake payout once"
    );
    assert_eq!(
        w.received(&w.treasury, escrow).await,
        fee,
        "treasury fee once"
    );
    let client = w.net.devnet.wallets()[CLIENT].address.clone();
    let refund = w.received(&client, escrow).await;
    assert!(refund >= AMOUNT - pay, "client refunded {refund}");
    assert!(
        refund < AMOUNT - pay + TON / 50,
        "client refunded {refund} (once)"
    );
    let stake1 = w.stake_state().await;
    assert_eq!(
        stake1.1,
        stake0.1 + earned_from_payout(pay - fee),
        "stake credited"
    );
    assert_eq!(stake1.0, stake0.0);
    assert!(w.net.devnet.balance(escrow) <= je::RESERVE);
}

async fn outbox_states(store: &Store, escrow: &str) -> Vec<(OutboxKind, OutboxState, u32)> {
    store
        .outbox_for_target(escrow)
        .await
        .unwrap()
        .iter()
        .map(|e| (e.record().kind, e.state(), e.record().attempts))
        .collect()
}

/// The full path, then one peer down, then two posters of the same proof.
async fn escrow_job_settles_with_two_of_three(db: TestDb) {
    let w = World::start().await;
    let s = setup(&w, &db, 1, None, 3600).await;
    let result = signed_result(&w, &s.escrow, 1, b"the answer is 42", &operator());
    dispatch(&w, s.store(s.coord), &s.escrow, 1, &s.job, Some(&result)).await;
    let stake0 = w.stake_state().await;

    // A non-coordinator does nothing before the rotation timeout.
    let other = (s.coord + 1) % 3;
    let p_other = poster(&w, other, s.store(other).clone(), &s.urls, 3600);
    assert!(matches!(
        p_other.settle(&s.raw()).await.unwrap(),
        JobOutcome::NotYet(_)
    ));

    let p = poster(&w, s.coord, s.store(s.coord).clone(), &s.urls, 3600);
    let outcome = p.settle(&s.raw()).await.unwrap();
    assert!(
        matches!(
            outcome,
            JobOutcome::Confirmed {
                state: je::COMPLETED,
                ..
            }
        ),
        "{outcome:?}"
    );
    assert_paid_once(&w, &s.escrow, stake0).await;
    let job = s.store(s.coord).job(&s.raw()).await.unwrap().unwrap();
    assert_eq!(job.state, spindle_relayer::job::JobState::Settled);
    assert_eq!(
        outbox_states(s.store(s.coord), &s.raw()).await,
        vec![(OutboxKind::Complete, OutboxState::Confirmed, 1)]
    );
    // Each peer that signed stored the result and its one signature first.
    for r in s.relayers.iter().filter(|r| r.index != s.coord) {
        let own = r
            .store
            .own_job_signature(&s.raw())
            .await
            .unwrap()
            .expect("peer signed");
        assert_eq!(own.proof.result_hash, result.result_hash);
        assert_eq!(own.proof.amount, PAY);
        // It stored the result first, and will not dispatch the job itself.
        let job = r.store.job(&s.raw()).await.unwrap().unwrap();
        assert_eq!(job.state, spindle_relayer::job::JobState::Signed);
        let stored = r.store.results_of(&s.raw()).await.unwrap();
        assert_eq!(stored.len(), 1);
        assert_eq!(stored[0].result.body, result.body);
    }
    // Settling again does nothing more.
    let again = p.settle(&s.raw()).await.unwrap();
    assert!(matches!(again, JobOutcome::Confirmed { .. }), "{again:?}");
    assert_paid_once(&w, &s.escrow, stake0).await;
    // A peer asked to sign the settled escrow refuses.
    let claim = claim(&w, &s.escrow, 1, &result, PAY);
    let refusal = ask(&s.relayers[other].url, s.coord, other, &claim).await;
    assert_eq!(refusal, Some("escrow-not-open".into()));
}

/// One non-coordinator is down: the coordinator and the other peer settle.
async fn escrow_job_settles_with_one_relayer_down(db: TestDb) {
    let w = World::start().await;
    let s = setup(&w, &db, 2, Some(1), 3600).await;
    let result = signed_result(
        &w,
        &s.escrow,
        2,
        b"done while one relayer was down",
        &operator(),
    );
    dispatch(&w, s.store(s.coord), &s.escrow, 2, &s.job, Some(&result)).await;
    let stake0 = w.stake_state().await;
    let p = poster(&w, s.coord, s.store(s.coord).clone(), &s.urls, 3600);
    // The loop finds the job by its stored result and settles it.
    let outcomes = p.run_once().await;
    assert!(
        outcomes.iter().any(|o| matches!(
            o,
            Ok(JobOutcome::Confirmed {
                state: je::COMPLETED,
                ..
            })
        )),
        "{outcomes:?}"
    );
    assert_paid_once(&w, &s.escrow, stake0).await;
    let down = (s.coord + 1) % 3;
    assert!(
        s.store(down)
            .own_job_signature(&s.raw())
            .await
            .unwrap()
            .is_none()
    );
}

fn claim(
    w: &World,
    escrow: &TonAddress,
    nonce: u64,
    result: &StoredResult,
    pay: u64,
) -> CompletionClaim {
    CompletionClaim {
        completion: Completion {
            global_id: w.net.devnet.global_id(),
            escrow: escrow.clone(),
            nonce,
            provider_owner: w.owner.clone(),
            pay,
            result_hash: result.result_hash,
        },
        lease_seq: 1,
        result: result.clone(),
    }
}

/// Relayer `from` asks relayer `to` (at `url`) to sign `claim`: `None` if it signed,
/// else the problem's `refusal` name.
async fn ask(url: &str, from: usize, to: usize, claim: &CompletionClaim) -> Option<String> {
    let req =
        JobSignRequest::new(claim, &relayer_key(from), &relayer_key(to).verifying_key()).unwrap();
    let resp = reqwest::Client::new()
        .post(format!("{url}{PATH}"))
        .json(&req)
        .send()
        .await
        .unwrap();
    if resp.status().is_success() {
        return None;
    }
    assert_eq!(
        resp.headers()["content-type"].to_str().unwrap(),
        "application/problem+json"
    );
    let body: serde_json::Value = resp.json().await.unwrap();
    Some(
        body["refusal"]
            .as_str()
            .unwrap_or("(unauthenticated)")
            .to_owned(),
    )
}

/// Forged requests are refused with a named error and nothing settles.
async fn forged_results_are_refused(db: TestDb) {
    let w = World::start().await;
    let s = setup(&w, &db, 3, None, 3600).await;
    let peer = (s.coord + 1) % 3;
    let url = &s.relayers[peer].url;
    let genuine = signed_result(&w, &s.escrow, 3, b"genuine", &operator());

    // A bad worker signature (signed by a key that is not the stake's operator key, or
    // a signature over another result).
    let outsider = signed_result(
        &w,
        &s.escrow,
        3,
        b"genuine",
        &SigningKey::from_bytes(&[9; 32]),
    );
    assert_eq!(
        ask(url, s.coord, peer, &claim(&w, &s.escrow, 3, &outsider, PAY))
            .await
            .as_deref(),
        Some("not-operator")
    );
    let mut tampered = genuine.clone();
    tampered.worker_signature[0] ^= 1;
    assert_eq!(
        ask(url, s.coord, peer, &claim(&w, &s.escrow, 3, &tampered, PAY))
            .await
            .as_deref(),
        Some("bad-worker-signature")
    );
    let mut swapped = genuine.clone();
    swapped.body = b"something else".to_vec();
    assert_eq!(
        ask(url, s.coord, peer, &claim(&w, &s.escrow, 3, &swapped, PAY))
            .await
            .as_deref(),
        Some("result-hash-mismatch")
    );
    // More than the escrow holds.
    assert_eq!(
        ask(
            url,
            s.coord,
            peer,
            &claim(&w, &s.escrow, 3, &genuine, AMOUNT as u64 + 1)
        )
        .await
        .as_deref(),
        Some("over-budget")
    );
    // A relayer that is not the coordinator may not ask yet.
    let third = (s.coord + 2) % 3;
    assert_eq!(
        ask(url, third, peer, &claim(&w, &s.escrow, 3, &genuine, PAY))
            .await
            .as_deref(),
        Some("not-coordinator")
    );
    // A relayer outside the configured peers is not heard at all.
    let outsider_key = SigningKey::from_bytes(&[77; 32]);
    let req = JobSignRequest::new(
        &claim(&w, &s.escrow, 3, &genuine, PAY),
        &outsider_key,
        &relayer_key(peer).verifying_key(),
    )
    .unwrap();
    let resp = reqwest::Client::new()
        .post(format!("{url}{PATH}"))
        .json(&req)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    // Malformed and oversized requests: problem+json 4xx.
    let http = reqwest::Client::new();
    for (body, status) in [
        ("{\"escrow\": ".to_owned(), 400),
        ("{}".to_owned(), 422),
        (format!("\"{}\"", "x".repeat(MAX_REQUEST_BYTES + 1)), 413),
    ] {
        let resp = http
            .post(format!("{url}{PATH}"))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), status);
        assert_eq!(
            resp.headers()["content-type"].to_str().unwrap(),
            "application/problem+json"
        );
    }
    // None of that stored anything or signed anything.
    assert!(
        s.store(peer)
            .own_job_signature(&s.raw())
            .await
            .unwrap()
            .is_none()
    );
    assert!(s.store(peer).results_of(&s.raw()).await.unwrap().is_empty());

    // The genuine result is signed; a different (validly signed) result for the same job
    // is refused afterwards, as is the same result with another pay.
    assert_eq!(
        ask(url, s.coord, peer, &claim(&w, &s.escrow, 3, &genuine, PAY)).await,
        None
    );
    let other = signed_result(&w, &s.escrow, 3, b"a second opinion", &operator());
    assert_eq!(
        ask(url, s.coord, peer, &claim(&w, &s.escrow, 3, &other, PAY))
            .await
            .as_deref(),
        Some("different-result")
    );
    assert_eq!(
        ask(
            url,
            s.coord,
            peer,
            &claim(&w, &s.escrow, 3, &genuine, PAY - 1)
        )
        .await
        .as_deref(),
        Some("conflicting-proof")
    );
    // The same request again returns the same signature (a retry).
    assert_eq!(
        ask(url, s.coord, peer, &claim(&w, &s.escrow, 3, &genuine, PAY)).await,
        None
    );
    assert_eq!(w.state(&s.escrow).await.state, je::OPEN, "nothing settled");
    assert_eq!(w.received(&w.stake, &s.escrow).await, 0);
}

/// Two relayers post the same proof: it pays once, and neither outbox item is left
/// failed; a poster restarted between submit and confirm does not pay again.
async fn same_proof_twice_and_restart_pay_once(db: TestDb) {
    let w = World::start().await;
    let s = setup(&w, &db, 4, None, ROTATION).await;
    let result = signed_result(&w, &s.escrow, 4, b"posted twice", &operator());
    dispatch(&w, s.store(s.coord), &s.escrow, 4, &s.job, Some(&result)).await;
    let stake0 = w.stake_state().await;
    let raw = s.raw();

    // The coordinator collects the proof (its peers sign and store the result)...
    let p = poster(&w, s.coord, s.store(s.coord).clone(), &s.urls, ROTATION);
    let job = s.store(s.coord).job(&raw).await.unwrap().unwrap();
    let claim = p
        .claim(&raw, &s.escrow)
        .await
        .unwrap()
        .expect("a result to settle");
    let now = i64::from(w.net.devnet.now());
    let queued = p.prepare_complete(&claim, job.state, now).await.unwrap();
    assert_eq!(queued.state(), OutboxState::Prepared);
    // ...but is slow to post: the rotation timeout passes, and the next relayer of the
    // set, which signed and stored the result, posts the same proof.
    w.net.devnet.advance_time(ROTATION as u64 + 1);
    w.net.devnet.produce_block();
    let peer = coordinator(&raw, 1, 3);
    assert_ne!(peer, s.coord);
    let q = poster(&w, peer, s.store(peer).clone(), &s.urls, ROTATION);
    assert_eq!(q.submit(&raw).await.unwrap(), None);
    q.submitter.send_pending_to(&raw).await.unwrap();
    // Then the coordinator posts too, and "crashes" before confirming.
    p.submitter.send_pending_to(&raw).await.unwrap();
    drop(p);

    // The coordinator restarts on its store: it resolves its submission, sends nothing new.
    let restarted = poster(&w, s.coord, s.store(s.coord).clone(), &s.urls, 3600);
    let a = restarted.settle(&raw).await.unwrap();
    let b = q.settle(&raw).await.unwrap();
    // Whichever landed first is confirmed; the other relayer's item is superseded.
    let confirmed = [&a, &b]
        .iter()
        .filter(|o| {
            matches!(
                o,
                JobOutcome::Confirmed {
                    state: je::COMPLETED,
                    ..
                }
            )
        })
        .count();
    assert_eq!(confirmed, 1, "{a:?} {b:?}");
    assert!(
        [&a, &b].iter().any(|o| **o
            == JobOutcome::Finished {
                state: je::COMPLETED
            }),
        "{a:?} {b:?}"
    );
    assert_paid_once(&w, &s.escrow, stake0).await;
    let mut states = Vec::new();
    for i in [s.coord, peer] {
        let items = outbox_states(s.store(i), &raw).await;
        assert_eq!(items.len(), 1, "{items:?}");
        let (kind, state, attempts) = items[0];
        assert_eq!(kind, OutboxKind::Complete);
        assert_eq!(attempts, 1, "sent once");
        states.push(state);
    }
    states.sort_by_key(|s| s.as_str());
    assert_eq!(states, [OutboxState::Confirmed, OutboxState::Superseded]);
    // Both posts reached the escrow; the second was refused by the contract.
    let coord_wallet = w.net.devnet.wallets()[1 + s.coord].address.clone();
    let peer_wallet = w.net.devnet.wallets()[1 + peer].address.clone();
    let posted_by = |addr: TonAddress| {
        let w = &w;
        let escrow = s.escrow.clone();
        async move {
            w.net
                .api
                .get_transactions(&escrow, 50, None)
                .await
                .unwrap()
                .iter()
                .filter(|t| {
                    t.in_msg.as_ref().is_some_and(|m| {
                        !m.source.is_empty() && address::parse_address(&m.source).unwrap() == addr
                    })
                })
                .count()
        }
    };
    wait_until(|| async {
        posted_by(coord_wallet.clone()).await + posted_by(peer_wallet.clone()).await == 2
    })
    .await;
    assert_paid_once(&w, &s.escrow, stake0).await;
}

/// A provider accepted and never delivered: after deadline + grace the relayer expires
/// the escrow with the stored acceptance; the client is refunded and the stake slashed.
async fn accepted_job_expires_with_evidence(db: TestDb) {
    let w = World::start().await;
    let (escrow, job) = w.create(5, 30).await;
    let store = db.store().clone();
    dispatch(&w, &store, &escrow, 5, &job, None).await;
    let raw = address::to_raw(&escrow);
    let me = coordinator(&raw, 0, 3);
    let p = poster(&w, me, store.clone(), &[], 3600);
    let stake0 = w.stake_state().await;

    // Before deadline + grace: not yet, nothing sent.
    assert!(matches!(
        p.expire(&raw).await.unwrap(),
        JobOutcome::NotYet(_)
    ));
    assert!(outbox_states(&store, &raw).await.is_empty());

    w.net
        .devnet
        .advance_time(u64::from(job.deadline + GRACE + 1 - w.net.devnet.now()));
    w.net.devnet.produce_block();
    // The loop finds it by its deadline and expires it.
    let outcomes = p.run_once().await;
    assert!(
        outcomes.iter().any(|o| matches!(
            o,
            Ok(JobOutcome::Confirmed {
                state: je::EXPIRED,
                ..
            })
        )),
        "{outcomes:?}"
    );
    let s = w.state(&escrow).await;
    assert_eq!((s.state, s.slashed), (je::EXPIRED, true));
    let slash = stake0.0.min(AMOUNT * u128::from(SLASH_MULT_PCT) / 100);
    let stake1 = w.stake_state().await;
    assert_eq!(stake1.0, stake0.0 - slash, "the stake moved");
    let client = w.net.devnet.wallets()[CLIENT].address.clone();
    let to_client = (slash - FINDER_FEE.min(slash)).min(AMOUNT);
    assert_eq!(w.received(&client, &w.stake).await, to_client);
    assert!(
        w.received(&client, &escrow).await >= AMOUNT,
        "client refunded"
    );
    assert_eq!(
        outbox_states(&store, &raw).await,
        vec![(OutboxKind::Expire, OutboxState::Confirmed, 1)]
    );
    assert_eq!(
        store.job(&raw).await.unwrap().unwrap().state,
        spindle_relayer::job::JobState::Refunded
    );
    // Expiring again does nothing.
    assert!(matches!(
        p.expire(&raw).await.unwrap(),
        JobOutcome::Confirmed { .. }
    ));
    assert_eq!(w.stake_state().await, stake1);
}

/// A coordinator restarted (on a fresh connection to its store) between submit and
/// confirm resolves its submission: confirmed, sent once, paid once.
async fn restarted_poster_confirms_without_paying_twice(db: TestDb) {
    let w = World::start().await;
    let s = setup(&w, &db, 6, None, 3600).await;
    let result = signed_result(&w, &s.escrow, 6, b"crash test", &operator());
    dispatch(&w, s.store(s.coord), &s.escrow, 6, &s.job, Some(&result)).await;
    let stake0 = w.stake_state().await;
    let raw = s.raw();
    let p = poster(&w, s.coord, s.store(s.coord).clone(), &s.urls, 3600);
    assert_eq!(p.submit(&raw).await.unwrap(), None);
    p.submitter.send_pending_to(&raw).await.unwrap();
    assert_eq!(
        outbox_states(s.store(s.coord), &raw).await,
        vec![(OutboxKind::Complete, OutboxState::Submitted, 1)]
    );
    drop(p);
    let store = db.new_store().await;
    let restarted = poster(&w, s.coord, store.clone(), &s.urls, 3600);
    let outcome = restarted.settle(&raw).await.unwrap();
    assert!(
        matches!(
            outcome,
            JobOutcome::Confirmed {
                state: je::COMPLETED,
                ..
            }
        ),
        "{outcome:?}"
    );
    assert_eq!(
        outbox_states(&store, &raw).await,
        vec![(OutboxKind::Complete, OutboxState::Confirmed, 1)]
    );
    assert_paid_once(&w, &s.escrow, stake0).await;
    assert_eq!(
        store.job(&raw).await.unwrap().unwrap().state,
        spindle_relayer::job::JobState::Settled
    );
}

/// The destinations of each external message `wallet` accepted after logical time
/// `since_lt`, oldest first (one entry per wallet transaction).
async fn wallet_messages(w: &World, wallet: &TonAddress, since_lt: u64) -> Vec<Vec<TonAddress>> {
    let mut out: Vec<_> = w
        .net
        .api
        .get_transactions(wallet, 50, None)
        .await
        .unwrap()
        .into_iter()
        .filter(|t| t.transaction_id.lt > since_lt)
        .filter(|t| t.in_msg.as_ref().is_some_and(|m| m.source.is_empty()))
        .map(|t| {
            t.out_msgs
                .iter()
                .map(|m| address::parse_address(&m.destination).unwrap())
                .collect::<Vec<_>>()
        })
        .collect();
    out.reverse();
    out
}

async fn last_lt(w: &World, at: &TonAddress) -> u64 {
    w.net
        .api
        .get_transactions(at, 1, None)
        .await
        .unwrap()
        .first()
        .map_or(0, |t| t.transaction_id.lt)
}

/// The process dies between storing a submission and sending it (injected at the
/// submitter): the restarted relayer sends nothing while the stored message could still
/// land, then re-sends the item under the same id with the wallet's unused seqno; it
/// pays once.
async fn a_crash_between_storing_and_sending_resends_the_same_id(db: TestDb) {
    let w = World::start().await;
    let s = setup(&w, &db, 7, None, 3600).await;
    let result = signed_result(&w, &s.escrow, 7, b"lost in a crash", &operator());
    dispatch(&w, s.store(s.coord), &s.escrow, 7, &s.job, Some(&result)).await;
    let stake0 = w.stake_state().await;
    let raw = s.raw();
    let store = s.store(s.coord).clone();
    let crashing =
        submitter(&w, s.coord, store.clone()).with_fault(Arc::new(|_| Some(Fault::Crash)));
    let wallet = crashing.wallet_address().clone();
    let seqno0 = w.net.api.wallet_seqno(&wallet).await.unwrap();
    let p = poster_with(
        &w,
        s.coord,
        store.clone(),
        &s.urls,
        3600,
        Arc::new(crashing),
    );
    let err = p.settle(&raw).await.unwrap_err();
    assert!(err.contains("crashed"), "{err}");
    drop(p);
    assert_eq!(
        outbox_states(&store, &raw).await,
        vec![(OutboxKind::Complete, OutboxState::Submitted, 1)]
    );
    let id = store.outbox_for_target(&raw).await.unwrap()[0]
        .record()
        .id
        .clone();
    let [stored] =
        <[_; 1]>::try_from(store.wallet_submissions_pending(LEASE).await.unwrap()).unwrap();
    assert_eq!(
        (stored.seqno, stored.items.clone()),
        (seqno0, vec![id.clone()])
    );

    // Restarted on a fresh connection to its store.
    let store = db.new_store().await;
    let p = poster(&w, s.coord, store.clone(), &s.urls, 3600);
    assert!(
        matches!(p.submitter.flush().await.unwrap(), Flushed::InFlight { .. }),
        "nothing is sent while the stored message may land"
    );
    assert_eq!(w.net.api.wallet_seqno(&wallet).await.unwrap(), seqno0);
    w.net.devnet.advance_time(70);
    w.net.devnet.produce_block();
    let outcome = p.settle(&raw).await.unwrap();
    assert_eq!(
        outcome,
        JobOutcome::Confirmed {
            id: id.clone(),
            state: je::COMPLETED
        }
    );
    assert_eq!(
        outbox_states(&store, &raw).await,
        vec![(OutboxKind::Complete, OutboxState::Confirmed, 2)]
    );
    assert_eq!(
        w.net.api.wallet_seqno(&wallet).await.unwrap(),
        seqno0 + 1,
        "sent once"
    );
    assert_eq!(p.submitter.flush().await.unwrap(), Flushed::Idle);
    let subs = store.wallet_submissions_of(&id).await.unwrap();
    let resolved: Vec<_> = subs.iter().map(|s| (s.seqno, s.state)).collect();
    assert_eq!(
        resolved,
        [
            (seqno0, SubmissionState::Expired),
            (seqno0, SubmissionState::Landed)
        ]
    );
    assert_paid_once(&w, &s.escrow, stake0).await;
}

/// The wallet message is lost on the way (injected at the submitter): once its
/// `valid_until` passed unconfirmed the item is failed-retryable, and the next pass
/// re-sends it under the same id; it is confirmed and pays once.
async fn an_expired_submission_is_resent_and_confirmed(db: TestDb) {
    let w = World::start().await;
    let s = setup(&w, &db, 9, None, 3600).await;
    let result = signed_result(&w, &s.escrow, 9, b"lost on the way", &operator());
    dispatch(&w, s.store(s.coord), &s.escrow, 9, &s.job, Some(&result)).await;
    let stake0 = w.stake_state().await;
    let raw = s.raw();
    let store = s.store(s.coord).clone();
    let drops = Arc::new(AtomicUsize::new(0));
    let hook = {
        let drops = drops.clone();
        Arc::new(move |_: &WalletSubmission| {
            (drops.fetch_add(1, Ordering::SeqCst) == 0).then_some(Fault::Drop)
        })
    };
    let sub = submitter(&w, s.coord, store.clone()).with_fault(hook);
    let wallet = sub.wallet_address().clone();
    let seqno0 = w.net.api.wallet_seqno(&wallet).await.unwrap();
    let p = poster_with(&w, s.coord, store.clone(), &s.urls, 3600, Arc::new(sub));
    // The poster waits for the escrow; the chain's clock passes the message's validity.
    let (first, ()) = tokio::join!(p.settle(&raw), async {
        wait_until(|| async {
            outbox_states(&store, &raw).await == [(OutboxKind::Complete, OutboxState::Submitted, 1)]
        })
        .await;
        w.net.devnet.advance_time(70);
        w.net.devnet.produce_block();
    });
    let err = first.unwrap_err();
    assert!(err.contains("re-sent"), "{err}");
    assert_eq!(
        outbox_states(&store, &raw).await,
        vec![(OutboxKind::Complete, OutboxState::FailedRetryable, 1)]
    );
    assert_eq!(
        w.net.api.wallet_seqno(&wallet).await.unwrap(),
        seqno0,
        "nothing landed"
    );
    let outcome = p.settle(&raw).await.unwrap();
    assert!(
        matches!(
            outcome,
            JobOutcome::Confirmed {
                state: je::COMPLETED,
                ..
            }
        ),
        "{outcome:?}"
    );
    assert_eq!(
        outbox_states(&store, &raw).await,
        vec![(OutboxKind::Complete, OutboxState::Confirmed, 2)]
    );
    assert_eq!(
        drops.load(Ordering::SeqCst),
        2,
        "two submissions, the first dropped"
    );
    assert_eq!(w.net.api.wallet_seqno(&wallet).await.unwrap(), seqno0 + 1);
    assert_paid_once(&w, &s.escrow, stake0).await;
}

/// Three overdue jobs nobody completed: one pass of the relayer's loop queues an
/// `expire` for each, and they leave in one wallet message carrying three actions.
async fn overdue_jobs_expire_in_one_wallet_message(db: TestDb) {
    let w = World::start().await;
    let store = db.store().clone();
    let mut escrows = Vec::new();
    let mut deadline = 0;
    for nonce in 20..23 {
        let (escrow, job) = w.create(nonce, 30).await;
        store
            .insert_job(
                &NewJob {
                    escrow: address::to_raw(&escrow),
                    client: address::to_raw(&w.net.devnet.wallets()[CLIENT].address),
                    nonce,
                    asset: "TON".into(),
                    amount: AMOUNT as u64,
                    deadline: i64::from(job.deadline),
                    spec_hash: job.spec_hash,
                },
                i64::from(w.net.devnet.now()),
            )
            .await
            .unwrap();
        deadline = deadline.max(job.deadline);
        escrows.push(escrow);
    }
    // Rotation of 1 s: long past the deadline, any relayer of the set may expire.
    let p = poster(&w, 0, store.clone(), &[], 1);
    let wallet = p.submitter.wallet_address().clone();
    let seqno0 = w.net.api.wallet_seqno(&wallet).await.unwrap();
    let lt0 = last_lt(&w, &wallet).await;
    let client = w.net.devnet.wallets()[CLIENT].address.clone();
    w.net
        .devnet
        .advance_time(u64::from(deadline + GRACE + 10 - w.net.devnet.now()));
    w.net.devnet.produce_block();

    let outcomes = p.run_once().await;
    let expired = outcomes
        .iter()
        .filter(|o| {
            matches!(
                o,
                Ok(JobOutcome::Confirmed {
                    state: je::EXPIRED,
                    ..
                })
            )
        })
        .count();
    assert_eq!(expired, 3, "{outcomes:?}");
    assert_eq!(
        w.net.api.wallet_seqno(&wallet).await.unwrap(),
        seqno0 + 1,
        "one seqno"
    );
    let mut sent = wallet_messages(&w, &wallet, lt0).await;
    assert_eq!(sent.len(), 1, "one wallet transaction: {sent:?}");
    let mut to = sent.pop().unwrap();
    to.sort_by_key(address::to_raw);
    escrows.sort_by_key(address::to_raw);
    assert_eq!(to, escrows, "one out message per escrow");
    for escrow in &escrows {
        assert_eq!(w.state(escrow).await.state, je::EXPIRED);
        assert!(
            w.received(&client, escrow).await >= AMOUNT,
            "client refunded"
        );
        assert_eq!(
            outbox_states(&store, &address::to_raw(escrow)).await,
            vec![(OutboxKind::Expire, OutboxState::Confirmed, 1)]
        );
    }
}

/// One relayer settles a voucher and completes a job at the same moment through its one
/// wallet: both land, in one seqno sequence, each item sent once.
async fn voucher_and_job_at_once_share_one_wallet(db: TestDb) {
    let w = World::start().await;
    let s = setup(&w, &db, 11, None, 3600).await;
    let result = signed_result(&w, &s.escrow, 11, b"side by side", &operator());
    dispatch(&w, s.store(s.coord), &s.escrow, 11, &s.job, Some(&result)).await;
    let raw = s.raw();
    let store = s.store(s.coord).clone();
    let sub = Arc::new(submitter(&w, s.coord, store.clone()));
    let wallet = sub.wallet_address().clone();
    let jobs = poster_with(&w, s.coord, store.clone(), &s.urls, 3600, sub.clone());
    let (vouchers, account, _dirs) = voucher_poster(&w, s.coord, store.clone(), sub.clone()).await;
    let cost = TON / 3;
    store
        .record_charge(
            &Charge {
                request_id: "q1".into(),
                account: address::to_raw(&account),
                provider: address::to_raw(&w.owner),
                cost: cost as u64,
            },
            0,
        )
        .await
        .unwrap();
    let seqno0 = w.net.api.wallet_seqno(&wallet).await.unwrap();
    let lt0 = last_lt(&w, &wallet).await;

    let (job, voucher) = tokio::join!(jobs.settle(&raw), vouchers.settle(&account, &w.owner));
    assert!(
        matches!(
            job,
            Ok(JobOutcome::Confirmed {
                state: je::COMPLETED,
                ..
            })
        ),
        "{job:?}"
    );
    let Ok(Settled::Confirmed { id, cumulative }) = voucher else {
        panic!("{voucher:?}");
    };
    assert_eq!(cumulative, cost);
    assert_eq!(
        spindle_relayer::settle::chain::paid(&w.net.api, &account, &w.owner)
            .await
            .unwrap(),
        cost,
        "the voucher paid once"
    );
    // The job paid once (the stake's earnings also hold the voucher's, so by message).
    assert_eq!(w.state(&s.escrow).await.state, je::COMPLETED);
    let pay = u128::from(PAY);
    let fee = w.config.fee(pay);
    assert_eq!(
        w.received(&w.stake, &s.escrow).await,
        pay - fee,
        "job paid once"
    );
    assert_eq!(w.received(&w.treasury, &s.escrow).await, fee, "fee once");
    // One seqno sequence: every external the wallet accepted used the next seqno, and
    // between them they carried the two posts, each once.
    let sent = wallet_messages(&w, &wallet, lt0).await;
    let seqno1 = w.net.api.wallet_seqno(&wallet).await.unwrap();
    assert_eq!(seqno1 - seqno0, sent.len() as u32, "{sent:?}");
    let mut to: Vec<_> = sent.concat().iter().map(address::to_raw).collect();
    to.sort();
    let mut expected = vec![raw.clone(), address::to_raw(&account)];
    expected.sort();
    assert_eq!(to, expected, "each post sent once");
    assert_eq!(
        outbox_states(&store, &raw).await,
        vec![(OutboxKind::Complete, OutboxState::Confirmed, 1)]
    );
    assert_eq!(
        store
            .outbox_get(&id)
            .await
            .unwrap()
            .unwrap()
            .record()
            .attempts,
        1
    );
}

/// A compute account of the client (the relayers' set, 5 TON) and relayer `me`'s
/// voucher poster sending through `submitter`; its peers sign on their own stores.
async fn voucher_poster(
    w: &World,
    me: usize,
    store: Store,
    submitter: Arc<Submitter>,
) -> (Poster, TonAddress, Vec<TempDir>) {
    let client_addr = w.net.devnet.wallets()[CLIENT].address.clone();
    let init = ca::state_init(
        spindle_sdk::artifact!("compute_account").unwrap().code,
        &w.hub,
        &client_addr,
        9,
    )
    .unwrap();
    let account = init.address(0).unwrap();
    let params = ca::Params {
        relayers: w.set.clone(),
        settle_fee: TON / 100,
        grace: 3600,
        stake_code: w.config.stake_code.clone(),
        jetton_wallet: None,
    };
    w.send(
        CLIENT,
        vec![
            InternalMessage::new(account.clone(), 5 * TON)
                .with_state_init(init)
                .with_body(ca::init_body(&params, 1).unwrap()),
        ],
    )
    .await;
    let signer = |i: usize, store: Store| {
        Arc::new(VoucherSigner {
            store,
            key: relayer_key(i),
            set: w.set.clone(),
            api: client(&w.net.server.url),
            global_id: w.net.devnet.global_id(),
        })
    };
    let mut peers = Vec::new();
    let mut dirs = Vec::new();
    for j in (0..3).filter(|&j| j != me) {
        let (peer_store, dir) = peer_store(&format!("voucher-peer{j}")).await;
        dirs.push(dir);
        let api = Arc::new(PeerApi {
            signer: signer(j, peer_store),
            peers: (0..3)
                .filter(|&k| k != j)
                .map(|k| relayer_key(k).verifying_key())
                .collect(),
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let router = api.router();
        tokio::spawn(async move { axum::serve(listener, router).await });
        peers.push(PeerRelayer {
            url,
            key: relayer_key(j).verifying_key(),
        });
    }
    let poster = Poster {
        signer: signer(me, store),
        peers,
        http: reqwest::Client::new(),
        submitter,
        settle_value: TON / 10,
        voucher_validity_secs: 600,
    };
    (poster, account, dirs)
}

use race::{independent_relayers_race_on_one_job, replicas_race_on_one_job};

both_backends!(
    replicas_race_on_one_job,
    independent_relayers_race_on_one_job,
    a_crash_between_storing_and_sending_resends_the_same_id,
    an_expired_submission_is_resent_and_confirmed,
    overdue_jobs_expire_in_one_wallet_message,
    voucher_and_job_at_once_share_one_wallet,
    restarted_poster_confirms_without_paying_twice,
    escrow_job_settles_with_two_of_three,
    escrow_job_settles_with_one_relayer_down,
    forged_results_are_refused,
    same_proof_twice_and_restart_pay_once,
    accepted_job_expires_with_evidence,
);
