//! Escrow jobs end to end, all real: job_escrow contracts on the devnet over its
//! toncenter HTTP API, the relayer's job API and scheduler on a SQLite or PostgreSQL
//! store, worker agents over real WebSockets and a real llama-server.
//!
//! - `job_runs_to_a_stored_result`: a client creates an escrow from its wallet, submits
//!   the spec; a worker leases, accepts and runs it; the acceptance is served as
//!   evidence, the result only to the client (another key gets 403).
//! - `lost_lease_is_redispatched`: the worker vanishes after accepting; its lease lapses
//!   and a second worker completes the job before the deadline.
//! - `silent_worker_loses_the_lease`: a worker that accepts, then stays connected but
//!   sends nothing, is dropped after three missed heartbeats; the job goes to another.
//! - `bad_input_changes_nothing`: malformed / oversized bodies, unknown escrows, an
//!   escrow below the floor, a spec that is not the escrow's, escrows of another hub or
//!   relayer set, and
//!   a (raw-protocol) worker's acceptance or result with a bad signature or for another
//!   job: each refused with a named problem (4xx) or a cancel, and nothing stored.
//! - `submission_wakes_the_scheduler`: a submitted job is offered to a free worker
//!   without waiting for the scheduler's next tick.

#[path = "../relayer/common.rs"]
#[allow(dead_code)]
mod common;
#[path = "../gateway/harness.rs"]
#[allow(dead_code)]
mod harness;

use common::{TestDb, both_backends};
use futures::{SinkExt, StreamExt};
use harness::{OWNER, PRICES, RELAYER, Relayer, TempDir, addr, operator_key};
use serde_json::{Value, json};
use spindle_devnet::{Devnet, DevnetConfig, ServerHandle, TON};
use spindle_relayer::Store;
use spindle_relayer::jobs::{Jobs, JobsConfig, api};
use spindle_sdk::message::InternalMessage;
use spindle_sdk::protocol::job_escrow::{self as je, Job, ResultRead};
use spindle_sdk::protocol::provider_stake::BASECHAIN_GAS_PRICE;
use spindle_sdk::protocol::relayer_set::RelayerSet;
use spindle_sdk::toncenter::{Toncenter, ToncenterConfig};
use spindle_sdk::wallet::{Outgoing, Transfer, WalletV5R1};
use spindle_sdk::{SigningKey, TonAddress, address};
use spindle_worker::backend::{ResultHash, Usage};
use spindle_worker::protocol::{
    CONNECT_PATH, ModelOffer, RelayerMessage, WorkerMessage, auth_payload, job_result_payload,
    sign_hex,
};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;

const MODEL: &str = "smollm2-135m";

struct Net {
    devnet: Devnet,
    api: Toncenter,
    server: ServerHandle,
}

fn client(url: &str) -> Toncenter {
    let mut config = ToncenterConfig::new(url.to_owned());
    config.requests_per_second = 10_000.0;
    Toncenter::new(config)
}

async fn wait_for<T, F, Fut>(what: &str, secs: u64, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let started = Instant::now();
    loop {
        if let Some(v) = probe().await {
            return v;
        }
        assert!(
            started.elapsed() < Duration::from_secs(secs),
            "timed out after {secs} s waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

impl Net {
    async fn start() -> Arc<Net> {
        let devnet = Devnet::new(DevnetConfig {
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

    fn hub(&self) -> TonAddress {
        self.devnet.faucet_wallet().address.clone()
    }

    fn client_key(&self) -> SigningKey {
        SigningKey::from_bytes(&self.devnet.wallets()[0].secret_key)
    }

    fn client_address(&self) -> TonAddress {
        self.devnet.wallets()[0].address.clone()
    }

    /// Genesis wallet `i` sends `messages`; returns once the transfer landed.
    async fn send(&self, i: usize, messages: Vec<InternalMessage>) {
        let w = &self.devnet.wallets()[i];
        let key = SigningKey::from_bytes(&w.secret_key);
        let wallet = WalletV5R1::new(key.verifying_key(), 0, self.devnet.global_id());
        let seqno = self.api.wallet_seqno(&w.address).await.unwrap();
        let t = Transfer {
            seqno,
            valid_until: self.devnet.now() + 120,
            messages: messages.into_iter().map(Outgoing::new).collect(),
        };
        self.api
            .send_boc(&wallet.external_transfer(&key, &t).unwrap())
            .await
            .unwrap();
        wait_for("the transfer", 30, || async {
            (self.api.wallet_seqno(&w.address).await.unwrap() > seqno).then_some(())
        })
        .await;
    }

    /// The client (wallet 0) creates and pays escrow `nonce` under `hub`.
    async fn create_escrow(
        &self,
        hub: &TonAddress,
        nonce: u64,
        amount: u128,
        spec: &Value,
    ) -> TonAddress {
        self.create_escrow_for(hub, nonce, amount, spec, relayer_set())
            .await
    }

    async fn create_escrow_for(
        &self,
        hub: &TonAddress,
        nonce: u64,
        amount: u128,
        spec: &Value,
        relayers: RelayerSet,
    ) -> TonAddress {
        let config = je::Config {
            settle_fee: TON / 100,
            fee_bps: 500,
            grace: 60,
            window: 3600,
            stake_code: spindle_sdk::artifact!("provider_stake").unwrap().code,
            treasury: self.devnet.wallets()[3].address.clone(),
            relayers,
        };
        let job = Job {
            amount,
            deadline: self.devnet.now() + 600,
            spec_hash: je::spec_hash(spec),
        };
        let code = je::code().unwrap();
        let init = je::state_init(code, hub, &self.client_address(), nonce).unwrap();
        let escrow = init.address(0).unwrap();
        let value = amount
            + config.settle_fee
            + je::RESERVE
            + je::GAS_CREATE * BASECHAIN_GAS_PRICE
            + 10_000_000;
        self.send(
            0,
            vec![
                InternalMessage::new(escrow.clone(), value)
                    .with_state_init(init)
                    .with_body(je::create_body(&job, &config, nonce).unwrap()),
            ],
        )
        .await;
        escrow
    }
}

/// The relayer set the test relayer belongs to (2 of 3).
fn relayer_set() -> RelayerSet {
    let keys = (1..=3u8)
        .map(|i| SigningKey::from_bytes(&[100 + i; 32]).verifying_key())
        .collect();
    RelayerSet::new(1, 2, keys).unwrap()
}

/// A relayer: the gateway (worker API) and the job API with its scheduler.
struct Stack {
    relayer: Relayer,
    jobs: Arc<Jobs>,
    url: String,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for Stack {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

async fn stack(net: &Net, store: Store, tweak: impl FnOnce(&mut JobsConfig)) -> Stack {
    let global_id = net.devnet.global_id();
    let relayer = harness::start_relayer(|c| c.global_id = global_id).await;
    let mut config = JobsConfig::new(net.hub(), global_id);
    config.lease_secs = 3;
    config.max_body_bytes = 16 << 10;
    config.relayer_set = Some(relayer_set());
    tweak(&mut config);
    let jobs = Jobs::new(config, store, client(&net.server.url), &relayer.gateway).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let router = api::router(jobs.clone());
    let server = tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    let scheduler = tokio::spawn(jobs.clone().run_scheduler(std::future::pending::<()>()));
    Stack {
        relayer,
        jobs,
        url,
        tasks: vec![server, scheduler],
    }
}

fn spec(content: &str, max_tokens: u64) -> Value {
    json!({"model": MODEL, "temperature": 0, "max_tokens": max_tokens, "cache_prompt": false,
           "messages": [{"role": "user", "content": content}]})
}

fn submission(escrow: &TonAddress, client: &TonAddress, nonce: u64, spec: &Value) -> Value {
    json!({"escrow": address::to_raw(escrow), "client": address::to_raw(client), "nonce": nonce, "spec": spec})
}

async fn post_job(stack: &Stack, body: String) -> (u16, String, Value) {
    let (status, headers, text) = harness::post_raw(&stack.url, "/v1/jobs", None, body).await;
    let content_type = headers
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (
        status,
        content_type,
        serde_json::from_str(&text).unwrap_or(Value::Null),
    )
}

async fn get_json(url: String, headers: &[(&str, String)]) -> (u16, Value) {
    let mut request = harness::http().get(url);
    for (k, v) in headers {
        request = request.header(*k, v);
    }
    let r = request.send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn job_state(stack: &Stack, escrow: &TonAddress) -> String {
    let (status, body) = get_json(
        format!("{}/v1/jobs/{}", stack.url, address::to_raw(escrow)),
        &[],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    body["state"].as_str().unwrap().to_owned()
}

async fn wait_state(stack: &Stack, escrow: &TonAddress, state: &str, secs: u64) {
    wait_for(state, secs, || async {
        (job_state(stack, escrow).await == state).then_some(())
    })
    .await;
}

/// The client's signed read headers for `escrow`'s result.
fn read_headers(
    net: &Net,
    key: &SigningKey,
    escrow: &TonAddress,
    nonce: u64,
) -> Vec<(&'static str, String)> {
    let valid_until = net.devnet.now() + 60;
    let payload = ResultRead {
        global_id: net.devnet.global_id(),
        escrow: escrow.clone(),
        nonce,
        relayer: addr(RELAYER),
        valid_until,
    }
    .payload()
    .unwrap();
    vec![
        ("spindle-valid-until", valid_until.to_string()),
        (
            "spindle-signature",
            hex::encode(spindle_sdk::signing::sign(key, &payload).to_bytes()),
        ),
    ]
}

fn start_worker(stack: &Stack, backend_url: &str, key: u8) -> harness::Worker {
    let dir = TempDir::new("jobs-worker");
    let config = harness::worker_config(&stack.relayer, backend_url, key, PRICES, &dir);
    harness::start_worker(config, dir)
}

async fn job_runs_to_a_stored_result(db: TestDb) {
    let net = Net::start().await;
    let stack = stack(&net, db.store().clone(), |_| {}).await;
    let llama = harness::start_llama().await;
    let _worker = start_worker(&stack, &llama.base_url(), 1);

    let spec = spec("Name one planet.", 16);
    let escrow = net.create_escrow(&net.hub(), 1, TON / 2, &spec).await;
    let body = submission(&escrow, &net.client_address(), 1, &spec).to_string();
    let (status, _, job) = post_job(&stack, body.clone()).await;
    assert_eq!(status, 202, "{job}");
    assert_eq!(job["amount"], (TON / 2).to_string());
    // Submitting again is idempotent.
    let (status, _, _) = post_job(&stack, body).await;
    assert_eq!(status, 202);

    wait_state(&stack, &escrow, "result_stored", 120).await;
    let raw = address::to_raw(&escrow);

    // The acceptance verifies as the SDK's Acceptance under the worker's operator key.
    let (status, evidence) = get_json(format!("{}/v1/jobs/{raw}/acceptance", stack.url), &[]).await;
    assert_eq!(status, 200, "{evidence}");
    let first = &evidence["acceptances"][0];
    assert_eq!(first["provider_owner"], OWNER);
    let acceptance = je::Acceptance {
        global_id: net.devnet.global_id(),
        escrow: escrow.clone(),
        nonce: 1,
        provider_owner: addr(OWNER),
    };
    let sig: [u8; 64] = hex::decode(first["signature"].as_str().unwrap())
        .unwrap()
        .try_into()
        .unwrap();
    spindle_sdk::signing::verify(
        &operator_key(1).verifying_key(),
        &acceptance.payload().unwrap(),
        &spindle_sdk::Signature::from_bytes(&sig),
    )
    .expect("the acceptance is the operator's signature over the SDK payload");

    // The result: to the client only.
    let url = format!("{}/v1/jobs/{raw}/result", stack.url);
    let (status, problem) = get_json(url.clone(), &[]).await;
    assert_eq!(
        (status, problem["type"].as_str()),
        (401, Some("urn:spindle:problem:unauthenticated"))
    );
    let stranger = SigningKey::from_bytes(&[77; 32]);
    let (status, problem) = get_json(url.clone(), &read_headers(&net, &stranger, &escrow, 1)).await;
    assert_eq!(
        (status, problem["type"].as_str()),
        (403, Some("urn:spindle:problem:not-the-client"))
    );
    let (status, result) = get_json(url, &read_headers(&net, &net.client_key(), &escrow, 1)).await;
    assert_eq!(status, 200, "{result}");
    let text = result["result"].as_str().unwrap();
    assert_eq!(
        result["result_hash"],
        ResultHash::of(text.as_bytes()).to_string()
    );
    let answer: Value = serde_json::from_str(text).unwrap();
    assert!(
        answer["choices"][0]["message"]["content"]
            .as_str()
            .is_some(),
        "{answer}"
    );
    assert_eq!(
        result["worker_key"],
        hex::encode(operator_key(1).verifying_key().as_bytes())
    );
    // The stored result carries the worker's signature over (job, result hash, usage).
    let usage = Usage {
        prompt_tokens: answer["usage"]["prompt_tokens"].as_u64().unwrap(),
        completion_tokens: answer["usage"]["completion_tokens"].as_u64().unwrap(),
        total_tokens: answer["usage"]["total_tokens"].as_u64().unwrap(),
        cached_tokens: 0,
    };
    let payload = job_result_payload(
        net.devnet.global_id(),
        &escrow,
        1,
        &addr(OWNER),
        &ResultHash::of(text.as_bytes()),
        &usage,
    )
    .unwrap();
    spindle_worker::protocol::verify_hex(
        &operator_key(1).verifying_key(),
        &payload,
        result["worker_signature"].as_str().unwrap(),
    )
    .expect("the worker signed the stored result");
}

async fn lost_lease_is_redispatched(db: TestDb) {
    let net = Net::start().await;
    let stack = stack(&net, db.store().clone(), |_| {}).await;
    let llama = harness::start_llama().await;
    let first = start_worker(&stack, &llama.base_url(), 1);

    // Long enough (ignore_eos) that the worker is still running when it vanishes.
    let mut spec = spec("Count to one hundred.", 120);
    spec["ignore_eos"] = json!(true);
    let escrow = net.create_escrow(&net.hub(), 2, TON / 2, &spec).await;
    let (status, _, body) = post_job(
        &stack,
        submission(&escrow, &net.client_address(), 2, &spec).to_string(),
    )
    .await;
    assert_eq!(status, 202, "{body}");
    wait_state(&stack, &escrow, "running", 60).await;
    first.kill();

    let raw = address::to_raw(&escrow);
    let store = db.store();
    let job = store.job(&raw).await.unwrap().unwrap();
    assert_eq!(
        (job.state.as_str(), job.lease_seq),
        ("running", 1),
        "worker 1 held the lease when it vanished"
    );
    let _second = start_worker(&stack, &llama.base_url(), 2);
    wait_state(&stack, &escrow, "result_stored", 180).await;

    let job = store.job(&raw).await.unwrap().unwrap();
    assert!(job.lease_seq >= 2, "re-leased after the first lease lapsed");
    let acceptances = store.acceptances(&raw).await.unwrap();
    assert_eq!(
        acceptances[0].1.operator_pubkey,
        operator_key(1).verifying_key().to_bytes()
    );
    assert_eq!(
        acceptances.last().unwrap().1.operator_pubkey,
        operator_key(2).verifying_key().to_bytes(),
        "the second worker accepted"
    );
    let (seq, result) = store.latest_result(&raw).await.unwrap().unwrap();
    assert_eq!(seq, job.lease_seq);
    assert_eq!(
        result.worker_pubkey,
        operator_key(2).verifying_key().to_bytes()
    );
    assert!(
        i64::from(net.devnet.now()) < job.job.deadline,
        "done before the deadline"
    );
}

/// A worker speaking the protocol by hand, to send what a real worker never would.
struct RawWorker {
    out: tokio::sync::mpsc::UnboundedSender<WorkerMessage>,
    incoming: tokio::sync::mpsc::UnboundedReceiver<RelayerMessage>,
    global_id: i32,
    key: SigningKey,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for RawWorker {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

impl RawWorker {
    async fn connect(relayer: &Relayer, key: SigningKey) -> RawWorker {
        let url = format!("{}{CONNECT_PATH}", relayer.url.replace("http://", "ws://"));
        let (ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
        let (mut sink, mut stream) = ws.split();
        let text = match stream.next().await.unwrap().unwrap() {
            Message::Text(t) => t,
            other => panic!("expected the challenge, got {other:?}"),
        };
        let RelayerMessage::Challenge {
            relayer: r,
            global_id,
            challenge,
        } = serde_json::from_str(&text).unwrap()
        else {
            panic!("expected the challenge")
        };
        let challenge: [u8; 32] = hex::decode(challenge).unwrap().try_into().unwrap();
        let payload = auth_payload(global_id, &addr(&r), &challenge, &addr(OWNER)).unwrap();
        let hello = WorkerMessage::Hello {
            operator_key: hex::encode(key.verifying_key().as_bytes()),
            owner: OWNER.into(),
            signature: sign_hex(&key, &payload),
        };
        sink.send(Message::text(serde_json::to_string(&hello).unwrap()))
            .await
            .unwrap();
        let (out, mut out_rx) = tokio::sync::mpsc::unbounded_channel::<WorkerMessage>();
        let (in_tx, incoming) = tokio::sync::mpsc::unbounded_channel();
        let writer = tokio::spawn(async move {
            let mut beat = tokio::time::interval(Duration::from_millis(300));
            loop {
                let message = tokio::select! {
                    m = out_rx.recv() => match m { Some(m) => m, None => return },
                    _ = beat.tick() => WorkerMessage::Heartbeat,
                };
                if sink
                    .send(Message::text(serde_json::to_string(&message).unwrap()))
                    .await
                    .is_err()
                {
                    return;
                }
            }
        });
        let reader = tokio::spawn(async move {
            while let Some(Ok(frame)) = stream.next().await {
                if let Message::Text(t) = frame {
                    let _ = in_tx.send(serde_json::from_str(&t).unwrap());
                }
            }
        });
        let mut worker = RawWorker {
            out,
            incoming,
            global_id,
            key,
            tasks: vec![writer, reader],
        };
        assert!(matches!(
            worker.next().await,
            RelayerMessage::Welcome { .. }
        ));
        worker.send(WorkerMessage::Advertise {
            max_concurrency: 1,
            models: vec![ModelOffer {
                id: MODEL.into(),
                prices: PRICES,
            }],
        });
        worker
    }

    /// Stops writing (heartbeats included) but keeps the connection open: a hung worker.
    fn fall_silent(&self) {
        self.tasks[0].abort();
    }

    fn send(&self, m: WorkerMessage) {
        self.out.send(m).unwrap();
    }

    async fn next(&mut self) -> RelayerMessage {
        tokio::time::timeout(Duration::from_secs(30), self.incoming.recv())
            .await
            .expect("a message from the relayer within 30 s")
            .expect("the relayer connection is open")
    }

    /// Waits for a job offer; returns (id, escrow, nonce).
    async fn offer(&mut self) -> (u64, TonAddress, u64) {
        loop {
            if let RelayerMessage::JobOffer {
                id, escrow, nonce, ..
            } = self.next().await
            {
                return (id, addr(&escrow), nonce);
            }
        }
    }

    async fn cancelled(&mut self, offer: u64) {
        loop {
            if let RelayerMessage::Cancel { id } = self.next().await {
                assert_eq!(id, offer);
                return;
            }
        }
    }

    fn accept(&self, id: u64, escrow: &TonAddress, nonce: u64, key: &SigningKey) {
        let payload = je::Acceptance {
            global_id: self.global_id,
            escrow: escrow.clone(),
            nonce,
            provider_owner: addr(OWNER),
        }
        .payload()
        .unwrap();
        self.send(WorkerMessage::JobAccepted {
            id,
            signature: sign_hex(key, &payload),
        });
    }

    fn result(&self, id: u64, body: &str, signed_for: (&TonAddress, u64), key: &SigningKey) {
        let usage = Usage {
            prompt_tokens: 5,
            completion_tokens: 3,
            total_tokens: 8,
            cached_tokens: 0,
        };
        let hash = ResultHash::of(body.as_bytes());
        let payload = job_result_payload(
            self.global_id,
            signed_for.0,
            signed_for.1,
            &addr(OWNER),
            &hash,
            &usage,
        )
        .unwrap();
        self.send(WorkerMessage::JobResult {
            id,
            body: body.into(),
            usage,
            result_hash: hash.to_string(),
            signature: sign_hex(key, &payload),
        });
    }
}

fn problem_name(content_type: &str, body: &Value) -> String {
    assert_eq!(content_type, "application/problem+json", "{body}");
    body["type"]
        .as_str()
        .unwrap()
        .trim_start_matches("urn:spindle:problem:")
        .to_owned()
}

async fn bad_input_changes_nothing(db: TestDb) {
    let net = Net::start().await;
    let stack = stack(&net, db.store().clone(), |c| {
        c.min_amount = (TON / 10) as u64
    })
    .await;
    let store = db.store();
    let me = net.client_address();
    let spec = spec("Say hi.", 8);
    let escrow = net.create_escrow(&net.hub(), 3, TON / 2, &spec).await;
    let raw = address::to_raw(&escrow);

    let cases: Vec<(&str, String, u16, &str)> = vec![
        ("malformed JSON", "{\"escrow\": ".into(), 400, "malformed-request"),
        ("unknown field", json!({"escrow": raw, "client": address::to_raw(&me), "nonce": 3, "spec": spec, "x": 1}).to_string(), 400, "malformed-request"),
        ("oversized body", submission(&escrow, &me, 3, &json!({"model": MODEL, "max_tokens": 8, "prompt": "x".repeat(20_000)})).to_string(), 413, "body-too-large"),
        ("no max_tokens", submission(&escrow, &me, 3, &json!({"model": MODEL, "prompt": "hi"})).to_string(), 422, "bad-spec"),
        ("spec hash mismatch", submission(&escrow, &me, 3, &spec_with(&spec, "max_tokens", json!(9))).to_string(), 422, "spec-hash-mismatch"),
        ("another client's nonce", submission(&escrow, &me, 4, &spec).to_string(), 422, "escrow-mismatch"),
    ];
    for (what, body, status, name) in cases {
        let (got, content_type, problem) = post_job(&stack, body).await;
        assert_eq!(got, status, "{what}: {problem}");
        assert_eq!(problem_name(&content_type, &problem), name, "{what}");
    }
    // Unknown escrow: the address for a nonce never created.
    let unknown = stack.jobs.escrow_address(&me, 99).unwrap();
    let (got, ct, problem) =
        post_job(&stack, submission(&unknown, &me, 99, &spec).to_string()).await;
    assert_eq!(
        (got, problem_name(&ct, &problem).as_str()),
        (404, "unknown-escrow"),
        "{problem}"
    );
    // Below the floor.
    let cheap = net.create_escrow(&net.hub(), 5, TON / 20, &spec).await;
    let (got, ct, problem) = post_job(&stack, submission(&cheap, &me, 5, &spec).to_string()).await;
    assert_eq!(
        (got, problem_name(&ct, &problem).as_str()),
        (402, "below-price-floor"),
        "{problem}"
    );
    // An escrow of another hub: a real, funded escrow, but not at our hub's address.
    let other_hub = net.devnet.wallets()[2].address.clone();
    let foreign = net.create_escrow(&other_hub, 6, TON / 2, &spec).await;
    let (got, ct, problem) =
        post_job(&stack, submission(&foreign, &me, 6, &spec).to_string()).await;
    assert_eq!(
        (got, problem_name(&ct, &problem).as_str()),
        (422, "escrow-mismatch"),
        "{problem}"
    );
    // An escrow that snapshotted another relayer set: this set could never complete it.
    let mut others = relayer_set();
    others.k = 3;
    let elsewhere = net
        .create_escrow_for(&net.hub(), 8, TON / 2, &spec, others)
        .await;
    let (got, ct, problem) =
        post_job(&stack, submission(&elsewhere, &me, 8, &spec).to_string()).await;
    assert_eq!(
        (got, problem_name(&ct, &problem).as_str()),
        (422, "escrow-relayer-set"),
        "{problem}"
    );
    for e in [&escrow, &unknown, &cheap, &foreign, &elsewhere] {
        assert_eq!(
            store.job(&address::to_raw(e)).await.unwrap(),
            None,
            "nothing recorded"
        );
    }
    let (got, _) = get_json(format!("{}/v1/jobs/{raw}", stack.url), &[]).await;
    assert_eq!(got, 404, "unknown job");

    // A worker that answers with bad signatures or for another job: refused, nothing stored.
    let mut worker = RawWorker::connect(&stack.relayer, operator_key(3)).await;
    let (status, _, body) = post_job(&stack, submission(&escrow, &me, 3, &spec).to_string()).await;
    assert_eq!(status, 202, "{body}");
    let key = worker.key.clone();
    let stranger = SigningKey::from_bytes(&[66; 32]);

    let (id, e, nonce) = worker.offer().await;
    assert_eq!((e.clone(), nonce), (escrow.clone(), 3));
    worker.accept(id, &e, nonce, &stranger);
    worker.cancelled(id).await;
    assert!(
        store.acceptances(&raw).await.unwrap().is_empty(),
        "a forged acceptance is not stored"
    );

    let (id, e, nonce) = worker.offer().await;
    worker.accept(id, &e, nonce, &key);
    worker.result(id, "{\"answer\": 1}", (&e, nonce), &stranger);
    worker.cancelled(id).await;
    let (id, e, nonce) = worker.offer().await;
    worker.accept(id, &e, nonce, &key);
    worker.result(id, "{\"answer\": 2}", (&cheap, nonce), &key);
    worker.cancelled(id).await;
    assert_eq!(
        store.latest_result(&raw).await.unwrap(),
        None,
        "no refused result is stored"
    );
    assert_eq!(
        store.acceptances(&raw).await.unwrap().len(),
        2,
        "only the valid acceptances"
    );

    // The same worker answering correctly is stored: the refusals above were the signatures.
    let (id, e, nonce) = worker.offer().await;
    worker.accept(id, &e, nonce, &key);
    worker.result(id, "{\"answer\": 3}", (&e, nonce), &key);
    wait_state(&stack, &escrow, "result_stored", 30).await;
    let (_, stored) = store.latest_result(&raw).await.unwrap().unwrap();
    assert_eq!(stored.body, b"{\"answer\": 3}");
}

async fn silent_worker_loses_the_lease(db: TestDb) {
    let net = Net::start().await;
    let stack = stack(&net, db.store().clone(), |_| {}).await;
    let store = db.store();
    let spec = spec("Say hi.", 8);
    let escrow = net.create_escrow(&net.hub(), 7, TON / 2, &spec).await;
    let raw = address::to_raw(&escrow);
    let mut hung = RawWorker::connect(&stack.relayer, operator_key(1)).await;
    let (status, _, body) = post_job(
        &stack,
        submission(&escrow, &net.client_address(), 7, &spec).to_string(),
    )
    .await;
    assert_eq!(status, 202, "{body}");
    let (id, e, nonce) = hung.offer().await;
    hung.accept(id, &e, nonce, &operator_key(1));
    wait_state(&stack, &escrow, "running", 30).await;
    // Connected but silent: no heartbeats, no result.
    hung.fall_silent();
    let mut second = RawWorker::connect(&stack.relayer, operator_key(2)).await;
    let (id, e, nonce) = second.offer().await;
    assert_eq!(e, escrow);
    let job = store.job(&raw).await.unwrap().unwrap();
    assert_eq!(job.lease_seq, 2, "offered again on a new lease");
    second.accept(id, &e, nonce, &operator_key(2));
    second.result(id, "{\"answer\": 42}", (&e, nonce), &operator_key(2));
    wait_state(&stack, &escrow, "result_stored", 30).await;
    let (seq, result) = store.latest_result(&raw).await.unwrap().unwrap();
    assert_eq!(seq, 2);
    assert_eq!(
        result.worker_pubkey,
        operator_key(2).verifying_key().to_bytes()
    );
    let acceptances = store.acceptances(&raw).await.unwrap();
    assert_eq!(
        acceptances.len(),
        2,
        "both acceptances are kept as evidence"
    );
}

/// A job submitted to a relayer with a free worker is offered at once, not at the
/// scheduler's next tick (an hour away here): the submission wakes the scheduler.
async fn submission_wakes_the_scheduler(db: TestDb) {
    let net = Net::start().await;
    let stack = stack(&net, db.store().clone(), |c| {
        c.dispatch_interval = Duration::from_secs(3600)
    })
    .await;
    let spec = spec("Say hi.", 8);
    let escrow = net.create_escrow(&net.hub(), 9, TON / 2, &spec).await;
    let mut worker = RawWorker::connect(&stack.relayer, operator_key(1)).await;
    let pool = stack.relayer.gateway.pool.clone();
    wait_for("the worker's advert", 30, || async {
        (!pool.offers(MODEL).is_empty()).then_some(())
    })
    .await;
    // The scheduler's first tick has passed (it found nothing); the next is an hour off.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (status, _, body) = post_job(
        &stack,
        submission(&escrow, &net.client_address(), 9, &spec).to_string(),
    )
    .await;
    assert_eq!(status, 202, "{body}");
    let (_, offered, nonce) = worker.offer().await;
    assert_eq!((offered, nonce), (escrow.clone(), 9));
    assert_eq!(job_state(&stack, &escrow).await, "leased");
}

fn spec_with(spec: &Value, key: &str, value: Value) -> Value {
    let mut s = spec.clone();
    s[key] = value;
    s
}

both_backends!(
    job_runs_to_a_stored_result,
    lost_lease_is_redispatched,
    silent_worker_loses_the_lease,
    bad_input_changes_nothing,
    submission_wakes_the_scheduler
);
