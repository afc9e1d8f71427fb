//! A paid escrow job through three relayer nodes (k = 2), end to end: the
//! provider stakes and the client funds the escrow with the real `spindle`
//! commands; three `Node`s (what `spindle relayer run` starts), each with its
//! own key, SQLite store and wallet, serve the hub's relayer set; a real worker
//! in front of a real llama-server connects to all three. The client submits
//! the spec to the job's coordinator, whose scheduler leases it to the worker;
//! the worker accepts and returns a signed result; the coordinator collects a
//! peer's signature and posts `complete`, which pays the provider's stake its
//! price for the tokens (less the protocol fee), the treasury the fee and the
//! client the rest. The watcher of every node then sees the escrow settled.

mod support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use spindle_cli::job::job_state;
use spindle_relayer::config::Config;
use spindle_relayer::job::JobState;
use spindle_relayer::node::Node;
use spindle_relayer::settle::job_signer::coordinator;
use spindle_sdk::message::InternalMessage;
use spindle_sdk::protocol::job_escrow as je;
use spindle_sdk::protocol::provider_stake as ps;
use spindle_sdk::{SigningKey, TonAddress, address};
use spindle_worker::agent::{RelayerEndpoint, WorkerConfig};
use spindle_worker::protocol::Prices;
use spindle_worker::testing::{LlamaServerConfig, MODEL_ALIAS};
use support::{Env, TON};

/// nanoTON per million tokens: high enough that the pay is well above the stake's
/// payout gas (a pay below it earns the owner nothing), within the job's 0.5 TON.
const PRICES: Prices = Prices {
    prompt: 1_000_000_000_000,
    cached_prompt: 500_000_000_000,
    completion: 3_000_000_000_000,
};

/// A free loopback port (the relayers must know each other's URLs before they start).
fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

fn key_file(env: &Env, name: &str, key: &SigningKey) -> String {
    let path = env.write(name, &hex::encode(key.to_bytes()));
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    path
}

async fn wait_for<F, Fut>(what: &str, timeout: Duration, mut done: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let until = Instant::now() + timeout;
    while !done().await {
        assert!(Instant::now() < until, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn escrow_job_settles_through_three_relayer_nodes() {
    // The nodes' logs explain a failure (`RUST_LOG=spindle_relayer=debug` for more).
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "warn,spindle_relayer=info".into()),
        )
        .with_test_writer()
        .try_init();
    let env = Env::start().await.unwrap();
    let params = env.params().unwrap();
    let global_id = env.devnet.global_id();

    // The provider (genesis wallet 2) stakes with a hot operator key for its worker.
    let operator = SigningKey::from_bytes(&[42; 32]);
    let owner = env.payer(2).unwrap().address;
    env.run(&[
        "provider",
        "stake",
        "12",
        "--operator-key",
        &hex::encode(operator.verifying_key().as_bytes()),
        "--key-file",
        &env.key_file(2),
    ])
    .await
    .ok();
    let stake = ps::state_init(spindle_cli::stake::code().unwrap(), &env.hub, &owner)
        .unwrap()
        .address(0)
        .unwrap();
    let stake = spindle_cli::stake::Stake { address: stake };
    let earned_before = stake.state(&env.api).await.unwrap().earned;

    // Three relayers: the hub's set is keys [1;32], [2;32], [3;32] with k = 2.
    let keys: Vec<SigningKey> = (1..=3u8)
        .map(|i| SigningKey::from_bytes(&[i; 32]))
        .collect();
    let ports: Vec<u16> = (0..3).map(|_| free_port()).collect();
    let mut nodes = Vec::new();
    for i in 0..3 {
        let key = key_file(&env, &format!("relayer{i}.key"), &keys[i]);
        // Each relayer's W5 wallet pays the gas of what it posts.
        let wallet = spindle_cli::onchain::Payer::new("r", keys[i].clone(), global_id).unwrap();
        env.payer(3)
            .unwrap()
            .send(
                &env.api,
                vec![InternalMessage::new(wallet.address.clone(), 5 * TON).with_bounce(false)],
            )
            .await
            .unwrap();
        let peers: String = (0..3)
            .filter(|&j| j != i)
            .map(|j| {
                format!(
                    "[[peers]]\nurl = \"http://127.0.0.1:{}\"\npubkey = \"{}\"\n",
                    ports[j],
                    hex::encode(keys[j].verifying_key().as_bytes())
                )
            })
            .collect();
        let members: Vec<String> = keys
            .iter()
            .map(|k| format!("\"{}\"", hex::encode(k.verifying_key().as_bytes())))
            .collect();
        let toml = format!(
            r#"
[chain]
api_url = "{api}"
rps = 1000
hub = "{hub}"
global_id = {global_id}

[relayer]
key_file = "{key}"
listen = "127.0.0.1:{port}"

[store]
url = "sqlite://{store}?mode=rwc"

[relayer_set]
version = 1
k = 2
members = [{members}]

{peers}
[gateway]
heartbeat_secs = 1
queue_timeout_ms = 2000

[[gateway.providers]]
operator_key = "{operator}"
owner = "{owner}"

[thresholds]
confirmation_depth = 0
"#,
            api = env.url,
            hub = address::to_raw(&env.hub),
            store = env.dir.join(format!("relayer{i}.db")).display(),
            port = ports[i],
            members = members.join(", "),
            operator = hex::encode(operator.verifying_key().as_bytes()),
            owner = address::to_raw(&owner),
        );
        let config = Config::from_toml_str(&toml, "test", Vec::new())
            .unwrap_or_else(|e| panic!("relayer {i} config: {e}"));
        nodes.push(Node::start(config).await.unwrap());
    }
    let url = |i: usize| format!("http://{}", nodes[i].addr);

    // The provider's worker, in front of a real llama-server, dials all three.
    let llama = LlamaServerConfig::from_env()
        .unwrap()
        .start()
        .await
        .unwrap();
    let operator_file = key_file(&env, "operator.key", &operator);
    let worker = WorkerConfig {
        backend_url: llama.base_url(),
        operator_key_file: operator_file.into(),
        owner: address::to_raw(&owner),
        max_concurrency: 1,
        relayers: (0..3)
            .map(|i| RelayerEndpoint {
                url: format!(
                    "{}{}",
                    url(i).replace("http://", "ws://"),
                    spindle_worker::protocol::CONNECT_PATH
                ),
                address: Some(nodes[i].parts.gateway.config.relayer_address.clone()),
            })
            .collect(),
        prices: BTreeMap::from([("*".to_owned(), PRICES)]),
        health_interval_ms: 500,
        drain_timeout_secs: 30,
        max_backoff_ms: 500,
    };
    tokio::spawn(spindle_worker::agent::run(worker));
    for node in &nodes {
        let pool = node.parts.gateway.pool.clone();
        wait_for("the worker to connect", Duration::from_secs(60), || {
            let pool = pool.clone();
            async move { !pool.served_models().is_empty() }
        })
        .await;
    }

    // The client (genesis wallet 0) funds the escrow with `spindle client job create`.
    let spec = json!({
        "model": MODEL_ALIAS,
        "messages": [{"role": "user", "content": "Name a color."}],
        "max_tokens": 8,
        "temperature": 0,
    });
    let spec_file = env.write("spec.json", &spec.to_string());
    let created = env
        .run(&[
            "client",
            "job",
            "create",
            "0.5",
            "--spec",
            &spec_file,
            "--deadline",
            "1h",
            "--nonce",
            "1",
            "--key-file",
            &env.key_file(0),
            "--json",
        ])
        .await
        .json();
    let escrow: TonAddress = address::parse_address(created["escrow"].as_str().unwrap()).unwrap();
    let escrow_raw = address::to_raw(&escrow);
    let client = env.payer(0).unwrap().address;
    let client_before = env.balance(&client).await;

    // Submitted to the job's coordinator, which leases it to the worker.
    let c = coordinator(&escrow_raw, 0, 3);
    let http = reqwest::Client::new();
    let r = http
        .post(format!("{}/v1/jobs", url(c)))
        .json(&created["submit"]["body"])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202, "{}", r.text().await.unwrap());

    // Settled on-chain by 2 of the 3 relayers.
    wait_for("the escrow to complete", Duration::from_secs(240), || {
        let api = &env.api;
        let escrow = &escrow;
        async move {
            job_state(api, escrow)
                .await
                .is_ok_and(|s| s.state == je::COMPLETED)
        }
    })
    .await;
    let status: Value = http
        .get(format!("{}/v1/jobs/{escrow_raw}", url(c)))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    // The coordinator stored the worker's result and what it pays.
    let (_, result) = nodes[c]
        .parts
        .store
        .latest_result(&escrow_raw)
        .await
        .unwrap()
        .expect("a stored result");
    let usage = spindle_worker::backend::Usage {
        prompt_tokens: result.usage.input_tokens,
        completion_tokens: result.usage.output_tokens,
        total_tokens: result.usage.input_tokens + result.usage.output_tokens,
        cached_tokens: 0,
    };
    let pay = PRICES.cost(&usage).min(TON / 2);
    assert!(pay > 0, "the job used tokens");
    let config = je::Config {
        settle_fee: params.settle_fee,
        fee_bps: params.fee_bps,
        grace: params.grace,
        window: params.window,
        stake_code: spindle_cli::stake::code().unwrap(),
        treasury: params.treasury.clone(),
        relayers: params.relayers.clone(),
    };
    let fee = config.fee(pay);
    let earned = stake.state(&env.api).await.unwrap().earned - earned_before;
    assert!(earned > 0, "the provider earned something; status {status}");
    assert_eq!(
        earned,
        ps::earned_from_payout(pay - fee),
        "the stake is credited the price less the fee (and its payout gas); status {status}"
    );
    // The client got back the rest of the job's amount (and the unspent margins).
    let client_after = env.balance(&client).await;
    assert!(
        client_after >= client_before + (TON / 2 - pay),
        "client refunded the unspent amount: {client_before} -> {client_after}"
    );
    // Every node's watcher sees the escrow settled, whoever posted.
    for (i, node) in nodes.iter().enumerate() {
        let store = node.parts.store.clone();
        let escrow_raw = escrow_raw.clone();
        wait_for(&format!("relayer {i} to see the settlement"), Duration::from_secs(60), || {
            let store = store.clone();
            let escrow_raw = escrow_raw.clone();
            async move {
                matches!(store.job(&escrow_raw).await, Ok(Some(j)) if j.state == JobState::Settled)
                    // A relayer that never had the job has nothing to settle.
                    || matches!(store.job(&escrow_raw).await, Ok(None))
            }
        })
        .await;
    }
    assert_eq!(
        nodes[c]
            .parts
            .store
            .job(&escrow_raw)
            .await
            .unwrap()
            .unwrap()
            .state,
        JobState::Settled,
        "the coordinator's watcher saw the completion"
    );
    for node in nodes {
        node.shutdown().await.unwrap();
    }
}
