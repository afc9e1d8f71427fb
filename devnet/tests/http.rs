//! The toncenter v2 API over HTTP: REST GET, POST and JSON-RPC shapes, error
//! shapes and codes, and the devnet-only endpoints.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};
use spindle_devnet::{Devnet, DevnetConfig, TON};

async fn start() -> (Devnet, spindle_devnet::ServerHandle, reqwest::Client) {
    let d = Devnet::new(DevnetConfig {
        block_interval: None,
        ..DevnetConfig::default()
    })
    .unwrap();
    let s = d.serve("127.0.0.1:0".parse().unwrap()).await.unwrap();
    (d, s, reqwest::Client::new())
}

async fn get(c: &reqwest::Client, url: String) -> (u16, Value) {
    let r = c.get(url).send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

async fn rpc(
    c: &reqwest::Client,
    s: &spindle_devnet::ServerHandle,
    method: &str,
    params: Value,
) -> (u16, Value) {
    let r = c
        .post(&s.json_rpc_url)
        .json(&json!({ "id": "7", "jsonrpc": "2.0", "method": method, "params": params }))
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

#[tokio::test]
async fn rest_and_json_rpc_speak_toncenter() {
    let (d, s, c) = start().await;
    let w = d.wallets()[0].clone();
    let addr = w.address.to_base64_url();

    let (st, v) = get(&c, format!("{}/getMasterchainInfo", s.url)).await;
    assert_eq!(st, 200);
    assert_eq!(v["ok"], true);
    assert_eq!(v["result"]["last"]["@type"], "ton.blockIdExt");
    assert_eq!(v["result"]["last"]["workchain"], -1);
    assert_eq!(v["result"]["last"]["seqno"], 1);

    let (_, v) = get(
        &c,
        format!("{}/getAddressInformation?address={addr}", s.url),
    )
    .await;
    let r = &v["result"];
    assert_eq!(r["state"], "active");
    assert!(r["balance"].as_str().unwrap().parse::<u128>().unwrap() > 999 * TON);
    assert_eq!(r["last_transaction_id"]["@type"], "internal.transactionId");
    assert!(!r["code"].as_str().unwrap().is_empty());

    // Raw form of the address works too.
    let (_, v) = get(
        &c,
        format!("{}/getAddressBalance?address={}", s.url, w.address.to_hex()),
    )
    .await;
    assert!(v["result"].as_str().unwrap().parse::<u128>().unwrap() > 0);

    let (_, v) = rpc(&c, &s, "getWalletInformation", json!({ "address": addr })).await;
    assert_eq!(
        (v["id"].clone(), v["jsonrpc"].clone()),
        (json!("7"), json!("2.0"))
    );
    assert_eq!(v["result"]["wallet"], true);
    assert_eq!(v["result"]["wallet_type"], "wallet v5 r1");
    assert_eq!(v["result"]["seqno"], 0);

    let (_, v) = rpc(
        &c,
        &s,
        "runGetMethod",
        json!({ "address": addr, "method": "seqno", "stack": [] }),
    )
    .await;
    assert_eq!(v["result"]["exit_code"], 0);
    assert_eq!(v["result"]["stack"], json!([["num", "0x0"]]));

    // Send a transfer through sendBocReturnHash, produce a block, read it back.
    let to = d.wallets()[1].address.clone();
    let boc = STANDARD.encode(w.sign_transfer(0, d.now() + 60, &to, TON, true).unwrap());
    let (st, v) = rpc(&c, &s, "sendBocReturnHash", json!({ "boc": boc })).await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["result"]["@type"], "raw.extMessageInfo");
    let r = c
        .get(format!("http://{}/devnet/produceBlock", s.addr))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 405, "produceBlock is POST-only");
    let v: Value = c
        .post(format!("http://{}/devnet/produceBlock", s.addr))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["result"]["transactions"].as_array().unwrap().len(), 2);

    let (_, v) = get(
        &c,
        format!("{}/getTransactions?address={addr}&limit=1", s.url),
    )
    .await;
    let txs = v["result"].as_array().unwrap();
    assert_eq!(txs.len(), 1);
    let t = &txs[0];
    assert_eq!(t["@type"], "raw.transaction");
    assert_eq!(t["in_msg"]["source"], "");
    assert_eq!(t["out_msgs"][0]["destination"], to.to_base64_url());
    assert_eq!(t["out_msgs"][0]["value"], TON.to_string());
    // Paging: from that transaction (inclusive) back, with a hex or base64 hash.
    let (lt, hash) = (
        t["transaction_id"]["lt"].as_str().unwrap(),
        t["transaction_id"]["hash"].as_str().unwrap(),
    );
    let hex_hash = hex::encode(STANDARD.decode(hash).unwrap());
    let (_, v) = get(
        &c,
        format!(
            "{}/getTransactions?address={addr}&lt={lt}&hash={hex_hash}&limit=10",
            s.url
        ),
    )
    .await;
    assert_eq!(v["result"].as_array().unwrap().len(), 2);
    let (_, v) = get(
        &c,
        format!("{}/getTransactions?address={addr}&to_lt={lt}", s.url),
    )
    .await;
    assert_eq!(v["result"].as_array().unwrap().len(), 0);

    // tryLocateResultTx finds the recipient's transaction for that message.
    let created_lt = t["out_msgs"][0]["created_lt"].as_str().unwrap();
    let (st, v) = rpc(
        &c,
        &s,
        "tryLocateResultTx",
        json!({ "source": addr, "destination": to.to_base64_url(), "created_lt": created_lt }),
    )
    .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(
        v["result"]["address"]["account_address"],
        to.to_base64_url()
    );

    // estimateFee with ignore_chksig.
    let (st, v) = rpc(
        &c,
        &s,
        "estimateFee",
        json!({ "address": addr, "body": body_of(&w, &d, &to), "ignore_chksig": true }),
    )
    .await;
    assert_eq!(st, 200, "{v}");
    assert!(v["result"]["source_fees"]["gas_fee"].as_u64().unwrap() > 0);
}

/// The signed body of a transfer (what `estimateFee` takes), built with tonlib-core.
fn body_of(
    w: &spindle_devnet::GenesisWallet,
    d: &Devnet,
    to: &spindle_devnet::TonAddress,
) -> String {
    use tonlib_core::cell::{BagOfCells, Cell};
    use tonlib_core::message::{CommonMsgInfo, TonMessage, TransferMessage};
    let info = CommonMsgInfo::new_default_internal(to, &num_bigint::BigUint::from(TON));
    let out = TransferMessage::new(info, std::sync::Arc::new(Cell::default()))
        .build()
        .unwrap();
    let wallet = w.ton_wallet();
    let body = wallet
        .create_external_body(d.now() + 60, 1, [std::sync::Arc::new(out)])
        .unwrap();
    let signed = wallet.sign_external_body(&body).unwrap();
    STANDARD.encode(BagOfCells::from_root(signed).serialize(false).unwrap())
}

#[tokio::test]
async fn errors_have_toncenter_shape() {
    let (d, s, c) = start().await;
    let (st, v) = get(
        &c,
        format!("{}/getAddressInformation?address=garbage", s.url),
    )
    .await;
    assert_eq!(st, 422);
    assert_eq!(v["ok"], false);
    assert_eq!(v["code"], 422);
    assert!(v["error"].as_str().unwrap().contains("address"));

    let (st, v) = rpc(&c, &s, "sendBoc", json!({ "boc": "bm90IGEgYm9j" })).await;
    assert_eq!(
        (st, v["code"].clone(), v["id"].clone()),
        (500, json!(500), json!("7"))
    );

    let w = d.wallets()[0].clone();
    let stale = STANDARD.encode(
        w.sign_transfer(9, d.now() + 60, &w.address, TON, true)
            .unwrap(),
    );
    let (st, v) = rpc(&c, &s, "sendBoc", json!({ "boc": stale })).await;
    assert_eq!(st, 500);
    assert!(
        v["error"]
            .as_str()
            .unwrap()
            .contains("External message was not accepted"),
        "{v}"
    );

    let (st, v) = rpc(&c, &s, "noSuchMethod", json!({})).await;
    assert_eq!((st, v["ok"].clone()), (404, json!(false)));

    let (st, v) = rpc(
        &c,
        &s,
        "runGetMethod",
        json!({ "address": w.address.to_base64_url(), "method": "nope", "stack": [] }),
    )
    .await;
    assert_eq!(st, 200);
    assert_eq!(v["result"]["exit_code"], 11);
}

#[tokio::test]
async fn devnet_endpoints_fund_and_move_time() {
    let (d, s, c) = start().await;
    let fresh = spindle_devnet::GenesisWallet::derive("http-fresh", 0);
    let r = c
        .post(format!("http://{}/devnet/faucet", s.addr))
        .json(&json!({ "address": fresh.address.to_base64_url(), "amount": "2500000000" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    c.post(format!("http://{}/devnet/produceBlock", s.addr))
        .send()
        .await
        .unwrap();
    assert_eq!(d.balance(&fresh.address), 2_500_000_000);

    let before = d.now();
    let v: Value = c
        .post(format!("http://{}/devnet/advanceTime", s.addr))
        .json(&json!({ "seconds": 3600 }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(v["result"]["now"].as_u64().unwrap() >= before as u64 + 3600);

    let (_, v) = get(&c, format!("http://{}/devnet/wallets", s.addr)).await;
    assert_eq!(v["result"].as_array().unwrap().len(), 5);
    assert_eq!(v["result"][0]["name"], "faucet");
    let (_, v) = get(&c, format!("http://{}/devnet/info", s.addr)).await;
    assert_eq!(
        v["result"]["global_id"],
        spindle_devnet::config::DEVNET_GLOBAL_ID
    );
}

#[tokio::test]
async fn blocks_come_on_a_timer() {
    let d = Devnet::new(DevnetConfig {
        block_interval: Some(std::time::Duration::from_millis(50)),
        ..DevnetConfig::default()
    })
    .unwrap();
    let _s = d.serve("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let start = d.last_block_seqno();
    for _ in 0..100 {
        if d.last_block_seqno() >= start + 3 {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("no blocks produced by the timer");
}
