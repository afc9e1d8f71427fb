//! The toncenter client against a local server that answers like toncenter's
//! documented JSON-RPC API and injects 429s, 500s, slow responses and short pages.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};
use spindle_sdk::toncenter::{
    Cause, StackArg, StackValue, Toncenter, ToncenterConfig, TransactionId,
};
use spindle_sdk::{BigInt, CellBuilder, TonAddress, TonHash, boc};

#[derive(Clone, Copy, Debug)]
enum Fault {
    RateLimited,
    ServerError,
    Slow,
    Short(usize),
}

#[derive(Default)]
struct Chain {
    /// Newest first, as toncenter returns them.
    txs: Vec<Value>,
    faults: VecDeque<Fault>,
    /// Answer every request with this fault (after `faults` runs out).
    always: Option<Fault>,
    /// Whether the account has been deployed.
    active: bool,
    /// Refuse external messages the way a node does when the wallet throws.
    reject_sends: bool,
    requests: Vec<Value>,
    api_keys: Vec<Option<String>>,
}

type Shared = Arc<Mutex<Chain>>;

/// A toncenter transaction object whose `data` is a real `transaction$0111`
/// prefix linking to its predecessor, as the client checks.
fn tx_json(lt: u64, prev: &(u64, TonHash)) -> (Value, TonHash) {
    let mut b = CellBuilder::new();
    b.store_u8(4, 0b0111)
        .unwrap()
        .store_slice(&[7u8; 32])
        .unwrap()
        .store_u64(64, lt)
        .unwrap();
    b.store_tonhash(&prev.1)
        .unwrap()
        .store_u64(64, prev.0)
        .unwrap()
        .store_u32(32, 1_700_000_000)
        .unwrap();
    b.store_u16(15, 0).unwrap(); // out_msg_count; the rest of a real transaction is not read
    let cell = b.build().unwrap();
    let body = boc::to_boc_base64(
        &CellBuilder::new()
            .store_u64(64, lt)
            .unwrap()
            .build()
            .unwrap(),
    );
    let json = json!({
        "@type": "raw.transaction",
        "address": {"@type": "accountAddress", "account_address": "EQAr2AbJfw4ArxofwzKPp2OpJpcjyNuPrE-Tr3HbGG1ukJ-t"},
        "utime": 1_700_000_000 + lt,
        "data": boc::to_boc_base64(&cell),
        "transaction_id": {"@type": "internal.transactionId", "lt": lt.to_string(), "hash": STANDARD.encode(cell.cell_hash().as_slice())},
        "fee": "1234567", "storage_fee": "17", "other_fee": "1234550",
        "in_msg": {
            "@type": "raw.message",
            "source": "EQCBtjfY_NLG2mNZ5pYxE6EXDeeV5LcluE0eC0z9nsWM6faX",
            "destination": "EQAr2AbJfw4ArxofwzKPp2OpJpcjyNuPrE-Tr3HbGG1ukJ-t",
            "value": "1000000000", "fwd_fee": "266669", "ihr_fee": "0", "created_lt": (lt - 1).to_string(),
            "body_hash": "lqKW0iTyhcZ77pPDD4owkVfw2qNdxbh+QQt4YwoJz8c=",
            "msg_data": {"@type": "msg.dataRaw", "body": body, "init_state": ""},
            "message": ""
        },
        "out_msgs": []
    });
    (json, cell.cell_hash())
}

/// An account's history of `n` transactions with lts 1000, 2000, ..., newest first.
fn history(n: u64) -> Vec<Value> {
    let mut prev = (0, TonHash::from([0u8; 32]));
    let mut txs = Vec::new();
    for i in 1..=n {
        let (tx, hash) = tx_json(i * 1000, &prev);
        txs.push(tx);
        prev = (i * 1000, hash);
    }
    txs.reverse();
    txs
}

fn id_of(txs: &[Value], lt: u64) -> TransactionId {
    let tx = txs
        .iter()
        .find(|t| t["transaction_id"]["lt"].as_str() == Some(lt.to_string().as_str()))
        .unwrap();
    serde_json::from_value(tx["transaction_id"].clone()).unwrap()
}

fn ok(result: Value) -> Response {
    Json(json!({"ok": true, "result": result, "@extra": "1700000000.1:0:0.5", "jsonrpc": "2.0", "id": 1})).into_response()
}

fn error(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({"ok": false, "error": message, "code": status.as_u16(), "jsonrpc": "2.0", "id": 1}))).into_response()
}

async fn rpc(State(chain): State<Shared>, headers: HeaderMap, Json(req): Json<Value>) -> Response {
    let fault = {
        let mut c = chain.lock().unwrap();
        c.requests.push(req.clone());
        c.api_keys.push(
            headers
                .get("x-api-key")
                .map(|v| v.to_str().unwrap().to_owned()),
        );
        c.faults.pop_front().or(c.always)
    };
    match fault {
        Some(Fault::RateLimited) => {
            return error(StatusCode::TOO_MANY_REQUESTS, "Ratelimit exceed");
        }
        Some(Fault::ServerError) => {
            return (
                StatusCode::INTERNAL_SERVER_ERROR,
                "<html>502 Bad Gateway</html>",
            )
                .into_response();
        }
        Some(Fault::Slow) => tokio::time::sleep(Duration::from_millis(400)).await,
        _ => {}
    }
    let p = &req["params"];
    match req["method"].as_str().unwrap() {
        "getTransactions" => {
            let c = chain.lock().unwrap();
            let limit = p["limit"].as_u64().unwrap() as usize;
            let start = match p["lt"].as_str() {
                None => 0,
                Some(lt) => {
                    // toncenter takes the hash as hex or base64; the client sends hex.
                    let hash = STANDARD.encode(hex::decode(p["hash"].as_str().unwrap()).unwrap());
                    match c.txs.iter().position(|t| {
                        t["transaction_id"]["lt"] == lt && t["transaction_id"]["hash"] == hash
                    }) {
                        Some(i) => i,
                        None => {
                            return error(
                                StatusCode::from_u16(416).unwrap(),
                                "cannot locate transaction in block",
                            );
                        }
                    }
                }
            };
            let mut page: Vec<Value> = c.txs.iter().skip(start).take(limit).cloned().collect();
            if let Some(Fault::Short(n)) = fault {
                page.truncate(n);
            }
            ok(Value::Array(page))
        }
        "getMasterchainInfo" => ok(json!({
            "@type": "blocks.masterchainInfo",
            "last": {"@type": "ton.blockIdExt", "workchain": -1, "shard": "-9223372036854775808", "seqno": 41_234_567,
                     "root_hash": "Vx1MqnD6yi4vNdIzw5eJmIG5pv7TxHdrrG1Mmn4V9Yo=", "file_hash": "ahfRR/9qXTy6sa1Nbv0zBDyZGAjX1aA5JOJQ2sGmQrg="},
            "state_root_hash": "2EU6gF8F5LWMg63gk8xxojy5eFgTzgHEkfmKcf97Nz0=",
            "init": {"@type": "ton.blockIdExt", "workchain": -1, "shard": "0", "seqno": 0,
                     "root_hash": "F6OpKZKqvqeFp6CQmFomXNMfMj2EnaUSOXN+Mh+wVWk=", "file_hash": "XplPz01CXAps5qeSWUtxcyBfdAo5zVb1N979KLSKD24="}
        })),
        "getAddressInformation" => ok(json!({
            "@type": "raw.fullAccountState", "balance": "9876543210", "extra_currencies": [],
            "state": if chain.lock().unwrap().active { "active" } else { "uninitialized" },
            "code": "", "data": "",
            "last_transaction_id": {"@type": "internal.transactionId", "lt": "0", "hash": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="},
            "block_id": {"@type": "ton.blockIdExt", "workchain": -1, "shard": "-9223372036854775808", "seqno": 1, "root_hash": "", "file_hash": ""},
            "frozen_hash": "", "sync_utime": 1_700_000_123
        })),
        "getWalletInformation" => ok(json!({
            "wallet": true, "balance": "5000000000", "account_state": "active", "wallet_type": "wallet v5 r1",
            "seqno": 17, "wallet_id": 2147483409,
            "last_transaction_id": {"@type": "internal.transactionId", "lt": "47000000000003", "hash": "rC3i+ztsaC55XozPWbGPz4bkTKTlyK+mwdW8w63tR0A="}
        })),
        "sendBocReturnHash" => {
            let cell = boc::from_boc_base64(p["boc"].as_str().unwrap()).unwrap();
            ok(
                json!({"@type": "raw.extMessageInfo", "hash": STANDARD.encode(cell.cell_hash().as_slice())}),
            )
        }
        "sendBoc" if chain.lock().unwrap().reject_sends => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "LITE_SERVER_UNKNOWN: cannot apply external message to current state : External message was not accepted",
        ),
        "sendBoc" => ok(json!({"@type": "ok"})),
        "estimateFee" => ok(json!({
            "@type": "query.fees",
            "source_fees": {"@type": "fees", "in_fwd_fee": 1_000_000, "storage_fee": 12, "gas_fee": 3_308_000, "fwd_fee": 0},
            "destination_fees": []
        })),
        "runGetMethod" => {
            let cell = boc::to_boc_base64(
                &CellBuilder::new()
                    .store_u32(32, 7)
                    .unwrap()
                    .build()
                    .unwrap(),
            );
            match p["method"].as_str().unwrap() {
                "fails" => ok(
                    json!({"@type": "smc.runResult", "gas_used": 10, "stack": [], "exit_code": 11}),
                ),
                _ => ok(json!({
                    "@type": "smc.runResult", "gas_used": 2919, "exit_code": 0,
                    "stack": [
                        ["num", "0x2a"], ["num", "-0x1"],
                        ["cell", {"bytes": cell, "object": {}}],
                        ["slice", {"bytes": cell}],
                        ["null"],
                        ["tuple", {"@type": "tvm.tuple", "elements": [
                            {"@type": "tvm.stackEntryNumber", "number": {"@type": "tvm.numberDecimal", "number": "123456789012345678901234567890"}},
                            {"@type": "tvm.stackEntryCell", "cell": {"@type": "tvm.cell", "bytes": cell}},
                            {"@type": "tvm.stackEntryTuple", "tuple": {"@type": "tvm.tuple", "elements": []}}
                        ]}]
                    ],
                    "block_id": {"@type": "ton.blockIdExt", "workchain": -1, "shard": "-9223372036854775808", "seqno": 1, "root_hash": "", "file_hash": ""},
                    "last_transaction_id": {"@type": "internal.transactionId", "lt": "0", "hash": ""}
                })),
            }
        }
        other => error(StatusCode::NOT_FOUND, &format!("unknown method {other}")),
    }
}

async fn serve(chain: Chain) -> (Shared, String) {
    let shared: Shared = Arc::new(Mutex::new(chain));
    let app = Router::new()
        .route("/api/v2/jsonRPC", post(rpc))
        .with_state(shared.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/api/v2", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (shared, url)
}

fn fast_config(url: &str) -> ToncenterConfig {
    ToncenterConfig {
        requests_per_second: 0.0,
        max_retries: 4,
        timeout: Duration::from_millis(150),
        backoff: Duration::from_millis(5),
        max_backoff: Duration::from_millis(20),
        ..ToncenterConfig::new(url)
    }
}

fn account() -> TonAddress {
    TonAddress::new(0, TonHash::from([7u8; 32]))
}

fn lts(txs: &[spindle_sdk::toncenter::Transaction]) -> Vec<u64> {
    txs.iter().map(|t| t.transaction_id.lt).collect()
}

#[tokio::test]
async fn paging_through_faults_loses_and_repeats_nothing() {
    use Fault::*;
    let faults = [
        RateLimited,
        Short(3),
        ServerError,
        Slow,
        Short(1),
        RateLimited,
        Short(0),
        Short(7),
        ServerError,
        Short(2),
    ];
    let (chain, url) = serve(Chain {
        txs: history(57),
        faults: faults.into(),
        ..Chain::default()
    })
    .await;
    let client = Toncenter::new(fast_config(&url));

    let txs = client
        .transactions_since(&account(), None, 10)
        .await
        .unwrap();
    assert_eq!(lts(&txs), (1..=57).map(|i| i * 1000).collect::<Vec<_>>());
    assert_eq!(txs[0].in_msg.as_ref().unwrap().value, 1_000_000_000);
    let body = txs[5].in_msg.as_ref().unwrap().body().unwrap().unwrap();
    assert_eq!(body.parser().load_u64(64).unwrap(), 6000);
    assert!(
        chain.lock().unwrap().faults.is_empty(),
        "every fault was exercised"
    );
}

#[tokio::test]
async fn resumes_from_a_cursor_and_picks_up_new_transactions() {
    let full = history(39);
    let (chain, url) = serve(Chain {
        txs: full[9..].to_vec(),
        ..Chain::default()
    })
    .await;
    let client = Toncenter::new(fast_config(&url));

    let txs = client
        .transactions_since(&account(), Some(&id_of(&full, 12_000)), 4)
        .await
        .unwrap();
    assert_eq!(lts(&txs), (13..=30).map(|i| i * 1000).collect::<Vec<_>>());
    let cursor = txs.last().unwrap().transaction_id.clone();

    // New transactions land; short and empty pages on the way.
    {
        let mut c = chain.lock().unwrap();
        c.txs = full.clone();
        c.faults = [
            Fault::Short(1),
            Fault::Short(0),
            Fault::Short(2),
            Fault::Short(1),
        ]
        .into();
    }
    let txs = client
        .transactions_since(&account(), Some(&cursor), 4)
        .await
        .unwrap();
    assert_eq!(lts(&txs), (31..=39).map(|i| i * 1000).collect::<Vec<_>>());

    assert!(
        client
            .transactions_since(&account(), Some(&txs.last().unwrap().transaction_id), 4)
            .await
            .unwrap()
            .is_empty()
    );
    let start = TransactionId {
        lt: 0,
        hash: TonHash::from([0u8; 32]),
    };
    assert_eq!(
        client
            .transactions_since(&account(), Some(&start), 50)
            .await
            .unwrap()
            .len(),
        39
    );
}

#[tokio::test]
async fn bad_cursors_gaps_and_missing_history_are_errors() {
    let full = history(10);
    let (chain, url) = serve(Chain {
        txs: full.clone(),
        ..Chain::default()
    })
    .await;
    let client = Toncenter::new(fast_config(&url));
    for lt in [4_500, 99_000] {
        let cursor = TransactionId {
            lt,
            hash: TonHash::from([1u8; 32]),
        };
        let err = client
            .transactions_since(&account(), Some(&cursor), 3)
            .await
            .unwrap_err();
        assert!(
            matches!(err.cause, Cause::CursorNotFound { lt: l } if l == lt),
            "{err}"
        );
    }
    // Same lt, different hash: a different history, not ours.
    let forged = TransactionId {
        lt: 5_000,
        hash: TonHash::from([1u8; 32]),
    };
    assert!(
        client
            .transactions_since(&account(), Some(&forged), 3)
            .await
            .is_err()
    );

    // A server that skips a transaction is caught by the predecessor links.
    chain.lock().unwrap().txs.remove(4);
    let err = client
        .transactions_since(&account(), None, 3)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err.cause,
            Cause::Gap {
                expected: 6_000,
                got: 5_000
            }
        ),
        "{err}"
    );

    // A node without the older history keeps returning nothing.
    chain.lock().unwrap().txs = full[..5].to_vec();
    let err = client
        .transactions_since(&account(), None, 3)
        .await
        .unwrap_err();
    assert!(
        matches!(err.cause, Cause::HistoryUnavailable { lt: 5_000 }),
        "{err}"
    );
}

#[tokio::test]
async fn gives_up_after_retries_and_names_the_method() {
    let (chain, url) = serve(Chain {
        always: Some(Fault::RateLimited),
        ..Chain::default()
    })
    .await;
    let client = Toncenter::new(fast_config(&url));
    let err = client.get_masterchain_info().await.unwrap_err();
    assert_eq!(err.method, "getMasterchainInfo");
    assert_eq!(err.attempts, 5);
    assert!(matches!(err.cause, Cause::Api { code: 429, .. }), "{err}");
    assert!(err.to_string().contains("getMasterchainInfo"));

    chain.lock().unwrap().always = Some(Fault::ServerError);
    let err = client.get_masterchain_info().await.unwrap_err();
    assert!(
        matches!(err.cause, Cause::Http { status: 500, .. }),
        "{err}"
    );

    chain.lock().unwrap().always = Some(Fault::Slow);
    let err = client.get_masterchain_info().await.unwrap_err();
    assert!(matches!(err.cause, Cause::Timeout(_)), "{err}");

    // A client error (here an unknown transaction) is not retried.
    chain.lock().unwrap().always = None;
    let requests = chain.lock().unwrap().requests.len();
    let unknown = TransactionId {
        lt: 1,
        hash: TonHash::from([1u8; 32]),
    };
    let err = client
        .get_transactions(&account(), 10, Some(&unknown))
        .await
        .unwrap_err();
    assert_eq!((err.method, err.attempts), ("getTransactions", 1));
    assert!(matches!(err.cause, Cause::Api { code: 416, .. }), "{err}");
    assert_eq!(chain.lock().unwrap().requests.len(), requests + 1);
}

#[tokio::test]
async fn recovers_from_transient_faults() {
    use Fault::*;
    let (chain, url) = serve(Chain {
        faults: [Slow, RateLimited, ServerError].into(),
        ..Chain::default()
    })
    .await;
    let client = Toncenter::new(fast_config(&url));
    let info = client.get_masterchain_info().await.unwrap();
    assert_eq!(info.last.seqno, 41_234_567);
    assert_eq!(chain.lock().unwrap().requests.len(), 4);
}

#[tokio::test]
async fn rate_limit_spaces_requests_and_sends_the_key() {
    let (chain, url) = serve(Chain::default()).await;
    let config = ToncenterConfig {
        requests_per_second: 20.0,
        ..fast_config(&url)
    }
    .with_api_key("secret");
    let config = ToncenterConfig {
        requests_per_second: 20.0,
        ..config
    };
    assert!(!format!("{config:?}").contains("secret"));
    let client = Arc::new(Toncenter::new(config));
    let started = tokio::time::Instant::now();
    let calls = (0..6).map(|_| {
        let client = client.clone();
        tokio::spawn(async move { client.get_masterchain_info().await.unwrap() })
    });
    for call in calls.collect::<Vec<_>>() {
        call.await.unwrap();
    }
    // Six requests at 20/s: the last starts 5 intervals (250 ms) after the first.
    assert!(
        started.elapsed() >= Duration::from_millis(245),
        "{:?}",
        started.elapsed()
    );
    assert!(
        chain
            .lock()
            .unwrap()
            .api_keys
            .iter()
            .all(|k| k.as_deref() == Some("secret"))
    );
}

#[tokio::test]
async fn decodes_documented_responses() {
    let (chain, url) = serve(Chain::default()).await;
    let client = Toncenter::new(fast_config(&url));

    let info = client.get_address_information(&account()).await.unwrap();
    assert_eq!(
        (
            info.balance,
            info.state.as_str(),
            info.last_transaction_id.lt
        ),
        (9_876_543_210, "uninitialized", 0)
    );

    assert_eq!(client.wallet_seqno(&account()).await.unwrap(), 0);
    chain.lock().unwrap().active = true;
    assert_eq!(client.wallet_seqno(&account()).await.unwrap(), 42);
    assert_eq!(
        chain.lock().unwrap().requests.last().unwrap()["params"]["method"],
        "seqno"
    );

    let wallet = client.get_wallet_information(&account()).await.unwrap();
    assert_eq!(
        (wallet.seqno, wallet.balance, wallet.wallet_id),
        (Some(17), 5_000_000_000, Some(2147483409))
    );
    assert_eq!(wallet.last_transaction_id.lt, 47_000_000_000_003);

    let message = CellBuilder::new()
        .store_u32(32, 0xabcdef)
        .unwrap()
        .build()
        .unwrap();
    assert_eq!(
        client.send_boc_return_hash(&message).await.unwrap().hash,
        message.cell_hash()
    );
    client.send_boc(&message).await.unwrap();

    chain.lock().unwrap().reject_sends = true;
    let err = client.send_boc(&message).await.unwrap_err();
    assert!(
        matches!(err.cause, Cause::Rejected(_)) && err.attempts == 1,
        "{err}"
    );

    let fees = client
        .estimate_fee(&account(), &message, None, true)
        .await
        .unwrap();
    assert_eq!(fees.source_fees.total(), 4_308_012);

    let arg = boc::build(|b| b.store_u8(8, 1).map(drop)).unwrap();
    let result = client
        .run_get_method(
            &account(),
            "get_all",
            &[
                StackArg::Num(BigInt::from(-5)),
                StackArg::Slice(arg.clone().into()),
            ],
        )
        .await
        .unwrap();
    let sent = chain.lock().unwrap().requests.last().unwrap()["params"]["stack"].clone();
    assert_eq!(
        sent,
        json!([["num", "-5"], ["tvm.Slice", boc::to_boc_base64(&arg)]])
    );
    let s = &result.stack;
    assert_eq!(s[0].as_num(), Some(&BigInt::from(42)));
    assert_eq!(s[1].as_num(), Some(&BigInt::from(-1)));
    assert_eq!(s[2].as_cell().unwrap().parser().load_u32(32).unwrap(), 7);
    assert!(matches!(s[3], StackValue::Slice(_)));
    assert_eq!(s[4], StackValue::Null);
    let t = s[5].as_tuple().unwrap();
    assert_eq!(
        t[0].as_num().unwrap().to_string(),
        "123456789012345678901234567890"
    );
    assert_eq!(t[1].as_cell(), s[2].as_cell());
    assert_eq!(t[2], StackValue::Tuple(vec![]));
    // The stack encodes back into the same shape.
    for v in s {
        assert_eq!(&StackValue::from_json(&v.to_json()).unwrap(), v);
    }

    let err = client
        .run_get_method(&account(), "fails", &[])
        .await
        .unwrap_err();
    assert!(matches!(err.cause, Cause::ExitCode(11)), "{err}");
}
