//! Charges in the store: a verified request's cost is a row of `charges` (account,
//! provider owner, cost), a restarted gateway still counts it against the balance, and
//! what settled on-chain is no longer counted.

use crate::failures::raw_worker;
use crate::harness::*;
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use spindle_relayer::Store;
use spindle_relayer::store::VoucherSignature;
use spindle_worker::backend::{ResultHash, Usage};
use spindle_worker::protocol::{
    ModelOffer, RelayerMessage, WorkerMessage, result_payload, sign_hex,
};
use std::sync::Arc;
use tokio_tungstenite::tungstenite::Message;

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A raw worker offering model "m".
async fn worker(relayer: &Relayer) -> Ws {
    let mut ws = raw_worker(relayer).await;
    let offer = WorkerMessage::Advertise {
        max_concurrency: 1,
        models: vec![ModelOffer {
            id: "m".into(),
            prices: PRICES,
        }],
    };
    ws.send(Message::text(serde_json::to_string(&offer).unwrap()))
        .await
        .unwrap();
    wait_models(relayer, |m| m["data"][0]["prices"] == json!(PRICES)).await;
    ws
}

/// One request for model "m" served by the raw worker; returns its cost.
async fn serve_one(relayer: &Relayer, ws: &mut Ws) -> u128 {
    let request = tokio::spawn({
        let url = relayer.url.clone();
        async move {
            post(
                &url,
                "/v1/chat/completions",
                Some(KEY),
                &chat_body("m", "Hi", 4),
            )
            .await
        }
    });
    let id = loop {
        if let Message::Text(t) = ws.next().await.unwrap().unwrap()
            && let RelayerMessage::Request { id, .. } = serde_json::from_str(&t).unwrap()
        {
            break id;
        }
    };
    let usage = Usage {
        prompt_tokens: 5,
        completion_tokens: 2,
        total_tokens: 7,
        cached_tokens: 0,
    };
    let answer = json!({"object": "chat.completion", "choices": [], "usage": {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7}}).to_string();
    let hash = ResultHash::of(answer.as_bytes());
    let payload = result_payload(DEVNET_GLOBAL_ID, &addr(RELAYER), id, &hash, &usage).unwrap();
    let done = WorkerMessage::Done {
        id,
        body: Some(answer),
        usage,
        result_hash: hash.to_string(),
        signature: sign_hex(&operator_key(1), &payload),
    };
    ws.send(Message::text(serde_json::to_string(&done).unwrap()))
        .await
        .unwrap();
    let (status, _, body) = request.await.unwrap();
    assert_eq!(status, 200, "{body}");
    let body: Value = serde_json::from_str(&body).unwrap();
    let cost = PRICES.cost(&usage);
    assert_eq!(
        body["usage"]["cost_nanoton"].as_u64().unwrap() as u128,
        cost
    );
    cost
}

#[tokio::test]
async fn charges_survive_a_restart_and_settled_ones_stop_counting() {
    let dir = std::env::temp_dir().join(format!("spindle-stored-charges-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("sqlite://{}", dir.join("store.db").display());
    let store = Store::connect(&url).await.unwrap();
    let balances = Arc::new(TestBalances::default());
    let balance = 1_000_000_000_000u128;
    balances.0.lock().unwrap().insert(addr(ACCOUNT), balance);
    let account = spindle_sdk::address::to_raw(&addr(ACCOUNT));
    let owner = spindle_sdk::address::to_raw(&addr(OWNER));

    let relayer = start_relayer_on(balances.clone(), |_| {}, Some(store.clone())).await;
    let mut ws = worker(&relayer).await;
    let first = serve_one(&relayer, &mut ws).await;
    let second = serve_one(&relayer, &mut ws).await;
    let totals = store.account_totals(&account).await.unwrap();
    assert_eq!(totals.len(), 1);
    assert_eq!(
        (totals[0].provider.as_str(), u128::from(totals[0].charged)),
        (owner.as_str(), first + second)
    );
    assert_eq!(
        relayer.gateway.accounts.unsettled(&addr(ACCOUNT)),
        0,
        "nothing held only in memory"
    );
    drop(relayer);

    // A restarted gateway on the same store still counts them: only balance − charges is left.
    let store = Store::connect(&url).await.unwrap();
    let relayer = start_relayer_on(balances.clone(), |_| {}, Some(store.clone())).await;
    assert_eq!(
        relayer
            .gateway
            .accounts
            .unsettled_total(&addr(ACCOUNT))
            .await
            .unwrap(),
        first + second
    );
    let _ws = worker(&relayer).await;
    balances
        .0
        .lock()
        .unwrap()
        .insert(addr(ACCOUNT), first + second + 10);
    let (status, _, body) = post(
        &relayer.url,
        "/v1/chat/completions",
        Some(KEY),
        &chat_body("m", "Hi", 4),
    )
    .await;
    assert_eq!(status, 402, "{body}");
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["balance_nanoton"], json!(10));

    // Once the chain paid a voucher for them, they no longer count.
    let cumulative = u64::try_from(first + second).unwrap();
    store
        .commit_voucher_signature(
            &VoucherSignature {
                account: account.clone(),
                provider: owner.clone(),
                epoch: 0,
                cumulative,
                valid_until: 1,
                payload_hash: [1; 32],
                signature: [2; 64],
            },
            0,
        )
        .await
        .unwrap();
    store
        .record_voucher_settled(&account, &owner, 0, cumulative, 0)
        .await
        .unwrap();
    assert_eq!(
        relayer
            .gateway
            .accounts
            .unsettled_total(&addr(ACCOUNT))
            .await
            .unwrap(),
        0
    );
    assert!(store.unsettled_pairs().await.unwrap().is_empty());
    drop(relayer);
    let _ = std::fs::remove_dir_all(&dir);
}
