//! The `/ui` dashboard in a real headless Chromium (Debian's `chromium`, which
//! `scripts/test.d/50-browser.sh` installs) following one escrow job on the devnet,
//! under a real hub contract: the client funds the escrow, the coordinator's store
//! records it (the jobs page shows it funded), the provider's worker accepts and
//! answers, two of three relayers sign and the coordinator posts `complete` (the job
//! page shows it settled, with its signatures and on-chain transactions). The
//! network, money and health pages show what the test reads from the chain itself,
//! every page loads without console output, and each page's screenshot (desktop
//! and phone) is saved under `target/ui-screenshots/` for review.

use std::path::Path;

use axum::routing::get;
use spindle_relayer::node::Metrics;
use spindle_relayer::ui::browser::Browser;
use spindle_relayer::ui::chain::ChainView;
use spindle_relayer::ui::history::History;
use spindle_relayer::ui::peers::Member;
use spindle_relayer::ui::{Live, NetworkInfo, Ui};
use spindle_sdk::protocol::hub::{self, HubCodes, HubParams};

use super::*;

/// nanoTON as the dashboard shows them: all decimals, trailing zeros trimmed.
fn ton(nano: u128) -> String {
    let frac = format!("{:09}", nano % TON);
    let frac = frac.trim_end_matches('0');
    if frac.is_empty() {
        format!("{} TON", nano / TON)
    } else {
        format!("{}.{frac} TON", nano / TON)
    }
}

const EXPLORER: &str = "https://explorer.invalid/";
const GOVERNANCE: usize = 5;

/// [`World::start`], but under a real hub contract (deployed by wallet 5, also the
/// treasury), so the dashboard has hub parameters to read.
async fn world_with_hub() -> World {
    let net = Net::start().await;
    let keys = (0..3).map(|i| relayer_key(i).verifying_key()).collect();
    let set = RelayerSet::new(1, 2, keys).unwrap();
    let treasury = net.devnet.wallets()[GOVERNANCE].address.clone();
    let owner = net.devnet.wallets()[PROVIDER].address.clone();
    let stake_code = spindle_sdk::artifact!("provider_stake").unwrap().code;
    let escrow_code = spindle_sdk::protocol::job_escrow::code().unwrap();
    let params = HubParams {
        fee_bps: FEE_BPS,
        min_stake: TON,
        unbond_period: 3 * 86_400,
        slash_mult_pct: SLASH_MULT_PCT,
        finder_fee: FINDER_FEE,
        settle_fee: SETTLE_FEE,
        min_job: TON / 10,
        min_deadline: 60,
        max_deadline: 86_400,
        grace: GRACE,
        window: 3600,
        account_grace: 3600,
        delay: 2 * 86_400,
        relayers: set.clone(),
        treasury: treasury.clone(),
        jetton: None,
    };
    let codes = HubCodes {
        escrow: escrow_code.clone(),
        stake: stake_code.clone(),
        account: spindle_sdk::artifact!("compute_account").unwrap().code,
    };
    let hub_init = hub::state_init(
        spindle_sdk::artifact!("hub").unwrap().code,
        &treasury,
        &params,
        &codes,
    )
    .unwrap();
    let hub = hub_init.address(0).unwrap();
    let stake_config = params.stake_config(escrow_code);
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
        hub: hub.clone(),
        treasury,
        owner,
        stake,
    };
    w.send(
        GOVERNANCE,
        vec![InternalMessage::new(hub.clone(), TON).with_state_init(hub_init)],
    )
    .await;
    let api = &w.net.api;
    wait_until(|| async { api.get_address_information(&hub).await.unwrap().state == "active" })
        .await;
    w.send(
        PROVIDER,
        vec![
            InternalMessage::new(w.stake.clone(), 2 * TON)
                .with_state_init(sinit)
                .with_body(ps::init_body(&operator().verifying_key(), &stake_config, 0).unwrap()),
        ],
    )
    .await;
    w
}

/// A stand-in for a peer's operational routes: answers `/healthz`.
async fn healthy_peer() -> url::Url {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    let app = axum::Router::new().route("/healthz", get(|| async { "alive" }));
    tokio::spawn(async move { axum::serve(listener, app).await });
    url.parse().unwrap()
}

/// The newest transaction of `at` that ran `op` without aborting: its hash (hex).
async fn chain_tx(w: &World, at: &TonAddress, op: u32) -> String {
    for tx in w.net.api.get_transactions(at, 50, None).await.unwrap() {
        let ran = tx
            .in_msg
            .as_ref()
            .and_then(|m| m.body().unwrap())
            .and_then(|b| b.parser().load_u32(32).ok());
        let ok = tx.summary().unwrap().outcome.is_some_and(|o| !o.aborted);
        if ran == Some(op) && ok {
            return hex::encode(tx.transaction_id.hash.as_slice());
        }
    }
    panic!("no transaction with op {op:#x} at {at}");
}

fn has(dom: &str, page: &str, texts: &[&str]) {
    for t in texts {
        assert!(dom.contains(t), "{page} page lacks {t:?}:\n{dom}");
    }
}

async fn dashboard_follows_a_job_to_settled(db: TestDb) {
    let browser =
        Browser::new(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/ui-screenshots"));
    let w = world_with_hub().await;
    let s = setup(&w, &db, 1, None, 3600).await;
    let store = s.store(s.coord).clone();
    let raw = s.raw();
    let (_, wallet) = w.wallet(1 + s.coord);
    let wallet = wallet.address().unwrap();

    // Relayer set as the coordinator sees it: one peer answers /healthz, one is down.
    let healthy = (s.coord + 1) % 3;
    let healthy_url = healthy_peer().await;
    let members = (0..3)
        .map(|i| Member {
            pubkey: relayer_key(i).verifying_key().to_bytes(),
            url: (i != s.coord).then(|| {
                if i == healthy {
                    healthy_url.clone()
                } else {
                    "http://127.0.0.1:1/".parse().unwrap()
                }
            }),
            me: i == s.coord,
        })
        .collect();
    let metrics = Arc::new(Metrics::default());
    metrics.set_chain_lag(0.5);
    metrics.record_request("/v1/jobs", 200);
    let ui = Arc::new(Ui {
        store: store.clone(),
        info: NetworkInfo {
            network: "devnet".into(),
            global_id: w.net.devnet.global_id(),
            hub: Some(address::to_raw(&w.hub)),
            relayer: address::to_raw(&wallet),
            k: 2,
            n: 3,
            explorer: Some(EXPLORER.into()),
        },
        gateway: None,
        health: Some(Arc::new(move || metrics.health_summary())),
    });
    // Health samples, taken here at the steps below (the node takes one every 10 s).
    let history = Arc::new(History::default());
    let live = Live {
        chain: Some(Arc::new(
            ChainView::new(client(&w.net.server.url), w.hub.clone()).unwrap(),
        )),
        members,
        wallet: Some(wallet.clone()),
        history: Some(history.clone()),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}/ui", listener.local_addr().unwrap());
    let router = ui.clone().router_with(live);
    tokio::spawn(async move { axum::serve(listener, router).await });
    let dom = |route: &str| {
        let url = format!("{base}{route}");
        let browser = &browser;
        tokio::task::block_in_place(move || browser.dom(&url))
    };

    // The funded escrow, as the watcher records it: the jobs page lists it as funded.
    let now = i64::from(w.net.devnet.now());
    let client_raw = address::to_raw(&w.net.devnet.wallets()[CLIENT].address);
    store
        .insert_job(
            &NewJob {
                escrow: raw.clone(),
                client: client_raw,
                nonce: 1,
                asset: "TON".into(),
                amount: AMOUNT as u64,
                deadline: i64::from(s.job.deadline),
                spec_hash: s.job.spec_hash,
            },
            now,
        )
        .await
        .unwrap();
    history.sample(&ui, now as u64).await;
    let jobs = dom("#/jobs");
    has(&jobs, "jobs", &[&raw, "state-funded", &ton(AMOUNT)]);

    // The provider's worker takes the lease, accepts and answers; two of three sign and
    // the coordinator posts `complete`.
    let worker = hex::encode(operator().verifying_key().as_bytes());
    let lease = store
        .claim_job(&raw, &worker, now, 600)
        .await
        .unwrap()
        .unwrap();
    let acceptance = Acceptance {
        global_id: w.net.devnet.global_id(),
        escrow: s.escrow.clone(),
        nonce: 1,
        provider_owner: w.owner.clone(),
    }
    .payload()
    .unwrap();
    let acceptance_sig = signing::sign(&operator(), &acceptance).to_bytes();
    store
        .record_acceptance(
            &lease,
            &StoredAcceptance {
                operator_pubkey: operator().verifying_key().to_bytes(),
                payload: boc::to_boc(&acceptance),
                signature: acceptance_sig,
            },
            now,
        )
        .await
        .unwrap();
    let result = signed_result(&w, &s.escrow, 1, b"dashboard answer", &operator());
    store.store_result(&lease, &result, now).await.unwrap();
    store
        .set_result_settlement(&raw, &result.result_hash, &address::to_raw(&w.owner), PAY)
        .await
        .unwrap();
    let outcome = poster(&w, s.coord, store.clone(), &s.urls, 3600)
        .settle(&raw)
        .await
        .unwrap();
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

    history.sample(&ui, now as u64 + 10).await;
    let samples = history.list();
    assert_eq!(samples.len(), 2);
    assert_eq!(
        (&samples[0]["jobs_settled"], &samples[1]["jobs_settled"]),
        (&serde_json::json!(0), &serde_json::json!(1))
    );
    assert_eq!(samples[1]["lease_latency_secs"], 0.0);

    // What the test reads from the chain itself.
    let complete_tx = chain_tx(&w, &s.escrow, 0x4a42_0002).await;
    let fee = w.received(&w.treasury, &s.escrow).await;
    assert_eq!(fee, w.config.fee(u128::from(PAY)));
    let (stake, earned) = w.stake_state().await;
    let r = w
        .net
        .api
        .run_get_method(&w.hub, "get_params", &[])
        .await
        .unwrap();
    let params = HubParams::from_cell(r.stack[0].as_cell().unwrap()).unwrap();
    let wallet_fees: u128 = w
        .net
        .api
        .get_transactions(&wallet, 50, None)
        .await
        .unwrap()
        .iter()
        .map(|t| t.fee + t.out_msgs.iter().map(|m| m.fwd_fee).sum::<u128>())
        .sum();
    assert!(wallet_fees > 0, "the relayer wallet paid to post");

    let settled = dom("#/jobs?state=settled");
    has(&settled, "settled jobs", &[&raw, "state-settled"]);
    let job = dom(&format!("#/job/{raw}"));
    has(
        &job,
        "job",
        &[
            "state-settled",
            "accepted",
            "acceptance",
            &hex::encode(acceptance_sig),
            &hex::encode(result.worker_signature),
            "own proof",
            "relayer #",
            "complete",
            &format!("{EXPLORER}transaction/{complete_tx}"),
            &format!("{EXPLORER}{raw}"),
        ],
    );
    let network = dom("#/");
    has(
        &network,
        "network",
        &[
            "2 of 3, 2 online",
            "offline",
            "Hub parameters",
            &format!("{} %", f64::from(params.fee_bps) / 100.0),
            &ton(params.min_stake),
            &ton(params.settle_fee),
            "version 1: 2 of 3",
            &address::to_raw(&w.owner),
            &ton(stake),
            &ton(earned),
            "bonded",
            "100.0 % of 1",
        ],
    );
    let money = dom("#/money");
    has(
        &money,
        "money",
        &[
            "Provider earnings",
            &ton(u128::from(PAY)),
            &ton(fee),
            &ton(wallet_fees),
            "Relayer fees per day",
        ],
    );
    let health = dom("#/health");
    has(
        &health,
        "health",
        &[
            "Chain lag",
            "0.5 s",
            "lease latency",
            "Outbox backlog",
            "the relayer's samples over the last 10 s, one every 10 s",
            "Jobs settled (now 1, max 1)",
        ],
    );

    for (name, route) in [
        ("job-network", "#/".to_owned()),
        ("job-jobs", "#/jobs".to_owned()),
        ("job-page", format!("#/job/{raw}")),
        ("job-money", "#/money".to_owned()),
        ("job-health", "#/health".to_owned()),
    ] {
        let url = format!("{base}{route}");
        tokio::task::block_in_place(|| browser.screenshot(&url, name));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_follows_a_job_to_settled_on_sqlite() {
    common::run(
        common::Kind::Sqlite,
        "dashboard_follows_a_job",
        dashboard_follows_a_job_to_settled,
    )
    .await;
}
