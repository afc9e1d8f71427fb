//! The balance seam for real: [`ComputeAccountBalances`] reads a compute_account
//! deployed and funded on the devnet, through the toncenter API, and the
//! gateway's 402 and `balance_nanoton` follow the chain.

use crate::failures::raw_worker;
use crate::harness::*;
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use spindle_devnet::config::DEVNET_GLOBAL_ID as NETWORK;
use spindle_devnet::{Devnet, DevnetConfig, TON};
use spindle_relayer::gateway::{BalanceSource, ComputeAccountBalances};
use spindle_sdk::message::{InternalMessage, StateInit};
use spindle_sdk::toncenter::{Toncenter, ToncenterConfig};
use spindle_sdk::wallet::{Outgoing, Transfer, WalletV5R1};
use spindle_sdk::{ArcCell, CellBuilder, SigningKey, TonAddress};
use spindle_worker::backend::{ResultHash, Usage};
use spindle_worker::protocol::{
    ModelOffer, Prices, RelayerMessage, WorkerMessage, result_payload, sign_hex,
};
use std::sync::Arc;
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;

fn cell(f: impl FnOnce(&mut CellBuilder)) -> ArcCell {
    let mut b = CellBuilder::new();
    f(&mut b);
    Arc::new(b.build().unwrap())
}

/// compute_account's `init` body (op 0x43410001): a 1-of-1 relayer set,
/// settle fee, grace, stake code hash/depth, no jetton wallet, no caps.
fn init_body() -> ArcCell {
    let set = cell(|b| {
        b.store_u32(32, 1)
            .unwrap()
            .store_u8(8, 1)
            .unwrap()
            .store_u8(8, 1)
            .unwrap()
            .store_slice(&[5; 32])
            .unwrap();
    });
    let params = cell(|b| {
        b.store_reference(&set).unwrap();
        spindle_sdk::message::store_coins(b, TON / 20).unwrap();
        b.store_u32(32, 86_400)
            .unwrap()
            .store_slice(&[0; 32])
            .unwrap()
            .store_u16(16, 0)
            .unwrap()
            .store_u8(2, 0)
            .unwrap();
    });
    cell(|b| {
        b.store_u32(32, 0x4341_0001)
            .unwrap()
            .store_u64(64, 0)
            .unwrap()
            .store_reference(&params)
            .unwrap()
            .store_bit(false)
            .unwrap();
    })
}

#[tokio::test]
async fn balances_are_read_from_the_compute_account_on_chain() {
    let d = Devnet::new(DevnetConfig {
        block_interval: None,
        ..DevnetConfig::default()
    })
    .unwrap();
    let server = d.serve("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let toncenter = || {
        let mut cfg = ToncenterConfig::new(server.url.clone());
        cfg.requests_per_second = 0.0;
        Toncenter::new(cfg)
    };
    let client = d.wallets()[0].clone();
    let key = SigningKey::from_bytes(&client.secret_key);
    let wallet = WalletV5R1::new(key.verifying_key(), 0, NETWORK);
    let hub = d.wallets()[1].address.clone();
    let code = spindle_sdk::artifact!("compute_account").unwrap().code;
    let data = cell(|b| {
        b.store_address(&hub)
            .unwrap()
            .store_address(&client.address)
            .unwrap()
            .store_u64(64, 7)
            .unwrap();
    });
    let state_init = StateInit::new(code, data);
    let account: TonAddress = state_init.address(0).unwrap();
    let send = |seqno: u32, message: InternalMessage| {
        let t = Transfer {
            seqno,
            valid_until: d.now() + 60,
            messages: vec![Outgoing::new(message)],
        };
        d.send_boc(&spindle_sdk::boc::to_boc(
            &wallet.external_transfer(&key, &t).unwrap(),
        ))
        .unwrap();
        d.produce_block();
    };

    let balances = ComputeAccountBalances::new(toncenter(), Duration::ZERO);
    let cached = ComputeAccountBalances::new(toncenter(), Duration::from_secs(3600));
    // The client deploys and initialises its account with 3 TON, then deposits 1 TON more.
    send(
        0,
        InternalMessage::new(account.clone(), 3 * TON)
            .with_state_init(state_init)
            .with_body(init_body()),
    );
    let after_init = balances.balance(&account).await.unwrap();
    assert!(after_init > 2 * TON && after_init < 3 * TON, "{after_init}");
    assert_eq!(cached.balance(&account).await.unwrap(), after_init);
    send(1, InternalMessage::new(account.clone(), TON));
    let funded = balances.balance(&account).await.unwrap();
    assert!(
        funded > after_init + TON * 99 / 100 && funded < after_init + TON,
        "{after_init} → {funded}"
    );
    assert_eq!(
        cached.balance(&account).await.unwrap(),
        after_init,
        "cached within its ttl"
    );

    // The gateway bills that account: a raw worker serves model "m".
    let relayer = start_relayer_with(
        Arc::new(ComputeAccountBalances::new(toncenter(), Duration::ZERO)),
        |c| {
            c.api_keys[0].account = spindle_sdk::address::to_raw(&account);
        },
    )
    .await;
    let mut ws = raw_worker(&relayer).await;
    // Dear enough that 4 generated tokens could cost more than the deposit.
    let dear = Prices {
        prompt: 1_000_000,
        cached_prompt: 1_000_000,
        completion: 1_000_000 * TON as u64,
    };
    let offer = |prices| WorkerMessage::Advertise {
        max_concurrency: 1,
        models: vec![ModelOffer {
            id: "m".into(),
            prices,
        }],
    };
    ws.send(Message::text(serde_json::to_string(&offer(dear)).unwrap()))
        .await
        .unwrap();
    wait_models(&relayer, |m| m["data"][0]["prices"] == json!(dear)).await;
    let (status, _, body) = post(
        &relayer.url,
        "/v1/chat/completions",
        Some(KEY),
        &chat_body("m", "Hi", 4),
    )
    .await;
    assert_eq!(status, 402, "{body}");
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        body["balance_nanoton"].as_u64().unwrap() as u128,
        funded,
        "the on-chain balance"
    );

    // At the usual price it is served, and the remaining balance is the chain's minus the cost.
    ws.send(Message::text(
        serde_json::to_string(&offer(PRICES)).unwrap(),
    ))
    .await
    .unwrap();
    wait_models(&relayer, |m| m["data"][0]["prices"] == json!(PRICES)).await;
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
    assert_eq!(
        body["usage"]["balance_nanoton"].as_u64().unwrap() as u128,
        funded - cost
    );
}
