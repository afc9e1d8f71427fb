//! The `/ui` dashboard in a real headless Chromium (Debian's `chromium`, which
//! `scripts/test.d/50-browser.sh` installs), over a relayer store that settled
//! real vouchers on the devnet: every page loads without console errors, the
//! money page shows what the chain paid, the account's balance and the provider's
//! stake earnings as the test reads them from the chain, and a screenshot of each
//! page (desktop and phone size) is saved under `target/ui-screenshots/` for review.

use super::*;
use serde_json::json;
use spindle_relayer::ui::browser::Browser;
use spindle_relayer::ui::chain::ChainView;
use spindle_relayer::ui::{Live, NetworkInfo, Ui};
use std::path::Path;

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_shows_what_the_chain_settled() {
    let browser =
        Browser::new(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/ui-screenshots"));
    let w = world().await;
    let a = Store::connect(&sqlite_store_url("ui-a")).await.unwrap();
    let b = Store::connect(&sqlite_store_url("ui-b")).await.unwrap();
    let b_url = w.serve_peer(1, b).await;
    let poster = w.poster(a.clone(), &b_url, "http://127.0.0.1:1");
    w.charge(&a, "ui-1", TON / 10).await;
    w.charge(&a, "ui-2", TON / 20 + 3).await;
    let outcome = poster.settle(&w.account, &w.owner).await.unwrap();
    assert!(matches!(outcome, Settled::Confirmed { .. }), "{outcome:?}");
    let paid = w.paid().await;
    assert_eq!(paid, TON / 10 + TON / 20 + 3);
    w.charge(&a, "ui-3", TON / 100).await;

    let ui = Arc::new(Ui {
        store: a,
        info: NetworkInfo {
            network: "devnet".into(),
            global_id: w.net.devnet.global_id(),
            hub: None,
            relayer: address::to_raw(&w.net.devnet.wallets()[1].address),
            k: 2,
            n: 3,
            explorer: None,
        },
        gateway: None,
        health: Some(Arc::new(|| json!({"chain_lag_secs": 0, "api_errors": 0}))),
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}/ui", listener.local_addr().unwrap());
    let hub = w.net.devnet.faucet_wallet().address;
    let live = Live {
        chain: Some(Arc::new(
            ChainView::new(client(&w.net._server.url), hub.clone()).unwrap(),
        )),
        members: Vec::new(),
        wallet: Some(w.net.wallet(1).1.address().unwrap()),
        history: None,
    };
    tokio::spawn(async move { axum::serve(listener, ui.router_with(live)).await });

    // The account's balance and the stake's earnings, read from the chain here.
    let int = |r: spindle_sdk::toncenter::GetMethodResult, i: usize| {
        u128::try_from(r.stack[i].as_num().unwrap().clone()).unwrap()
    };
    let state = w
        .net
        .api
        .run_get_method(&w.account, "get_account_state", &[])
        .await
        .unwrap();
    let balance = int(state, 1);
    let stake = ps::state_init(
        spindle_sdk::artifact!("provider_stake").unwrap().code,
        &hub,
        &w.owner,
    )
    .unwrap()
    .address(0)
    .unwrap();
    let earned = int(
        w.net
            .api
            .run_get_method(&stake, "get_stake", &[])
            .await
            .unwrap(),
        1,
    );
    assert!(earned > 0, "the voucher paid the stake");

    let (account, provider) = w.raw();
    let pages: [(&str, &str, Vec<String>); 4] = [
        (
            "network",
            "#/",
            vec!["2 of 3".into(), "devnet".into(), "Jobs by state".into()],
        ),
        (
            "jobs",
            "#/jobs",
            vec!["Newest jobs".into(), "none yet".into()],
        ),
        (
            "money",
            "#/money",
            // Settled is what the chain paid; unsettled is the charge since.
            vec![
                account,
                provider,
                ton(paid),
                ton(paid + TON / 100),
                ton(TON / 100),
                ton(balance),
                ton(earned),
                "none requested".into(),
                "epoch 0".into(),
            ],
        ),
        (
            "health",
            "#/health",
            vec!["chain_lag_secs".into(), "Outbox backlog".into()],
        ),
    ];
    let dom_of = |url: String| {
        let browser = &browser;
        tokio::task::block_in_place(move || browser.dom(&url))
    };
    for (name, route, expected) in pages {
        let url = format!("{base}{route}");
        let dom = dom_of(url.clone());
        for text in expected {
            assert!(dom.contains(&text), "{name} page lacks {text:?}:\n{dom}");
        }
        tokio::task::block_in_place(|| browser.screenshot(&url, name));
    }

    // Bad input on the views is problem+json, not a broken page.
    let http = reqwest::Client::new();
    let r = http
        .get(format!("{base}/api/jobs?state=nope"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let r = http
        .get(format!("{base}/api/jobs/not-an-address"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let unknown = format!("0:{}", "ab".repeat(32));
    let r = http
        .get(format!("{base}/api/jobs/{unknown}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(
        r.headers()["content-type"],
        "application/problem+json",
        "errors are problem+json"
    );
}
