//! HTTP: toncenter's v2 API and the devnet-only API.
//!
//! - `GET /api/v2/<method>?param=…` and `POST /api/v2/<method>` (JSON body):
//!   `{"ok":true,"result":…}`, or `{"ok":false,"error":"…","code":N}` with HTTP
//!   status N, as toncenter answers.
//! - `POST /api/v2/jsonRPC` with `{"id","jsonrpc","method","params"}`: the same,
//!   plus `"id"` and `"jsonrpc"` echoed back.
//! - `/devnet/…` (devnet only): `POST faucet {"address","amount"}`,
//!   `POST produceBlock`, `POST advanceTime {"seconds"}`, `POST setTime {"now"}`,
//!   `POST sendMessage {"boc"}` (any message, internal ones from any sender),
//!   `POST setAccount {"address","shard_account"}` (clone a fixture),
//!   `POST setLibraries {"codes"}` (the public libraries), `GET wallets`,
//!   `GET info`, `GET contracts`.

mod shape;
mod toncenter;

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Map, Value, json};

use crate::error::DevnetError;
use crate::{Devnet, ServerHandle, boc};

pub(crate) use toncenter::account_info;

fn ok(result: Value, rpc_id: Option<Value>) -> Response {
    let mut body = json!({ "ok": true, "result": result });
    if let Some(id) = rpc_id {
        body["jsonrpc"] = json!("2.0");
        body["id"] = id;
    }
    (StatusCode::OK, axum::Json(body)).into_response()
}

fn err(e: DevnetError, rpc_id: Option<Value>) -> Response {
    let code = e.http_code();
    let mut body = json!({ "ok": false, "error": e.to_string(), "code": code });
    if let Some(id) = rpc_id {
        body["jsonrpc"] = json!("2.0");
        body["id"] = id;
    }
    let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, axum::Json(body)).into_response()
}

fn reply(r: Result<Value, DevnetError>, rpc_id: Option<Value>) -> Response {
    match r {
        Ok(v) => ok(v, rpc_id),
        Err(e) => err(e, rpc_id),
    }
}

/// Runs a (possibly CPU-heavy) chain call off the async workers.
async fn blocking<F>(f: F) -> Result<Value, DevnetError>
where
    F: FnOnce() -> Result<Value, DevnetError> + Send + 'static,
{
    tokio::task::spawn_blocking(f)
        .await
        .unwrap_or_else(|e| Err(DevnetError::Internal(format!("request failed: {e}"))))
}

async fn rest_get(
    State(d): State<Devnet>,
    Path(method): Path<String>,
    Query(q): Query<Vec<(String, String)>>,
) -> Response {
    let params: Map<String, Value> = q.into_iter().map(|(k, v)| (k, Value::String(v))).collect();
    reply(
        blocking(move || toncenter::call(&d, &method, &params)).await,
        None,
    )
}

async fn rest_post(State(d): State<Devnet>, Path(method): Path<String>, body: String) -> Response {
    if method == "jsonRPC" {
        return json_rpc(d, body).await;
    }
    let params = match parse_object(&body) {
        Ok(p) => p,
        Err(e) => return err(e, None),
    };
    reply(
        blocking(move || toncenter::call(&d, &method, &params)).await,
        None,
    )
}

fn parse_object(body: &str) -> Result<Map<String, Value>, DevnetError> {
    if body.trim().is_empty() {
        return Ok(Map::new());
    }
    match serde_json::from_str::<Value>(body) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(DevnetError::Invalid(
            "request body must be a JSON object".into(),
        )),
        Err(e) => Err(DevnetError::Invalid(format!("invalid JSON: {e}"))),
    }
}

async fn json_rpc(d: Devnet, body: String) -> Response {
    let req = match parse_object(&body) {
        Ok(r) => r,
        Err(e) => return err(e, Some(Value::Null)),
    };
    let id = req.get("id").cloned().unwrap_or(Value::Null);
    let Some(method) = req.get("method").and_then(Value::as_str).map(str::to_owned) else {
        return err(DevnetError::Invalid("missing method".into()), Some(id));
    };
    let params = match req.get("params") {
        Some(Value::Object(m)) => m.clone(),
        None | Some(Value::Null) => Map::new(),
        Some(_) => {
            return err(
                DevnetError::Invalid("params must be an object".into()),
                Some(id),
            );
        }
    };
    reply(
        blocking(move || toncenter::call(&d, &method, &params)).await,
        Some(id),
    )
}

// ---- devnet-only endpoints ----

fn amount_of(v: Option<&Value>) -> Result<u128, DevnetError> {
    match v {
        Some(Value::Number(n)) => n.as_u64().map(u128::from),
        Some(Value::String(s)) => s.parse().ok(),
        _ => None,
    }
    .ok_or_else(|| DevnetError::Invalid("amount (nanotons) is required".into()))
}

async fn devnet_faucet(State(d): State<Devnet>, body: String) -> Response {
    let r = (|| {
        let p = parse_object(&body)?;
        let to = boc::parse_address(p.get("address").and_then(Value::as_str).unwrap_or_default())?;
        let amount = amount_of(p.get("amount"))?;
        let hash = d.faucet(&boc::to_ton(&to), amount)?;
        Ok(json!({ "hash": shape::b64(&hash) }))
    })();
    reply(r, None)
}

async fn devnet_send_message(State(d): State<Devnet>, body: String) -> Response {
    let r = (|| {
        let p = parse_object(&body)?;
        let boc = boc::b64_decode(p.get("boc").and_then(Value::as_str).unwrap_or_default())?;
        Ok(json!({ "hash": shape::b64(&d.inject_message(&boc)?) }))
    })();
    reply(r, None)
}

async fn devnet_set_account(State(d): State<Devnet>, body: String) -> Response {
    let r = (|| {
        let p = parse_object(&body)?;
        let addr =
            boc::parse_address(p.get("address").and_then(Value::as_str).unwrap_or_default())?;
        let state = boc::b64_decode(
            p.get("shard_account")
                .and_then(Value::as_str)
                .unwrap_or_default(),
        )?;
        d.set_account(&boc::to_ton(&addr), &state)?;
        Ok(json!({}))
    })();
    reply(r, None)
}

/// `{"codes": [base64 code BoC, …]}`: the public libraries from now on (an
/// empty list unpublishes all).
async fn devnet_set_libraries(State(d): State<Devnet>, body: String) -> Response {
    let r = (|| {
        let p = parse_object(&body)?;
        let codes = p
            .get("codes")
            .and_then(Value::as_array)
            .ok_or_else(|| DevnetError::Invalid("codes (array of base64 BoCs) is required".into()))?
            .iter()
            .map(|c| boc::b64_decode(c.as_str().unwrap_or_default()))
            .collect::<Result<Vec<_>, _>>()?;
        let hashes = d.set_libraries(&codes)?;
        Ok(json!({ "libraries": hashes.iter().map(hex::encode).collect::<Vec<_>>() }))
    })();
    reply(r, None)
}

async fn devnet_set_time(State(d): State<Devnet>, body: String) -> Response {
    let r = (|| {
        let p = parse_object(&body)?;
        let now = p
            .get("now")
            .and_then(|v| v.as_u64().or_else(|| v.as_str()?.parse().ok()))
            .ok_or_else(|| DevnetError::Invalid("now (unix seconds) is required".into()))?;
        d.set_time(now.min(u32::MAX as u64) as u32);
        Ok(json!({ "now": d.now() }))
    })();
    reply(r, None)
}

async fn devnet_produce_block(State(d): State<Devnet>) -> Response {
    reply(
        blocking(move || Ok(block_json(&d.produce_block()))).await,
        None,
    )
}

pub(crate) fn block_json(b: &crate::BlockInfo) -> Value {
    json!({
        "seqno": b.seqno,
        "utime": b.utime,
        "start_lt": b.start_lt.to_string(),
        "end_lt": b.end_lt.to_string(),
        "transactions": b.transactions.iter().map(shape::transaction).collect::<Vec<_>>(),
    })
}

async fn devnet_advance_time(State(d): State<Devnet>, body: String) -> Response {
    let r = (|| {
        let p = parse_object(&body)?;
        let secs = p
            .get("seconds")
            .and_then(|v| v.as_u64().or_else(|| v.as_str()?.parse().ok()))
            .ok_or_else(|| DevnetError::Invalid("seconds is required".into()))?;
        d.advance_time(secs);
        Ok(json!({ "now": d.now() }))
    })();
    reply(r, None)
}

fn wallet_json(w: &crate::GenesisWallet) -> Value {
    json!({
        "name": w.name,
        "address": w.address.to_base64_url(),
        "raw_address": w.address.to_hex(),
        "public_key": hex::encode(w.public_key),
        "secret_key": hex::encode(w.secret_key),
        "version": "v5r1",
        "wallet_id": w.wallet_id,
        "initial_balance": w.initial_balance.to_string(),
    })
}

async fn devnet_wallets(State(d): State<Devnet>) -> Response {
    let mut list = vec![wallet_json(&d.faucet_wallet())];
    list.extend(d.wallets().iter().map(wallet_json));
    ok(Value::Array(list), None)
}

async fn devnet_info(State(d): State<Devnet>) -> Response {
    ok(
        json!({
            "global_id": d.global_id(),
            "now": d.now(),
            "last_block": d.last_block_seqno(),
            "global_version": crate::config::GLOBAL_VERSION,
            "libraries": d.libraries().iter().map(hex::encode).collect::<Vec<_>>(),
        }),
        None,
    )
}

async fn devnet_contracts(State(d): State<Devnet>) -> Response {
    let mut list = Vec::new();
    if let Some(dir) = d.config().contracts_dir
        && let Ok(entries) = std::fs::read_dir(dir)
    {
        for e in entries.flatten() {
            if e.path().extension().is_some_and(|x| x == "json")
                && let Ok(text) = std::fs::read_to_string(e.path())
                && let Ok(v) = serde_json::from_str::<Value>(&text)
            {
                list.push(v);
            }
        }
    }
    ok(Value::Array(list), None)
}

pub(crate) fn router(devnet: Devnet) -> Router {
    Router::new()
        .route("/api/v2/{method}", get(rest_get).post(rest_post))
        .route("/devnet/faucet", post(devnet_faucet))
        .route("/devnet/produceBlock", post(devnet_produce_block))
        .route("/devnet/advanceTime", post(devnet_advance_time))
        .route("/devnet/setTime", post(devnet_set_time))
        .route("/devnet/setAccount", post(devnet_set_account))
        .route("/devnet/sendMessage", post(devnet_send_message))
        .route("/devnet/setLibraries", post(devnet_set_libraries))
        .route("/devnet/wallets", get(devnet_wallets))
        .route("/devnet/info", get(devnet_info))
        .route("/devnet/contracts", get(devnet_contracts))
        .with_state(devnet)
}

pub(crate) async fn serve(devnet: Devnet, addr: SocketAddr) -> anyhow::Result<ServerHandle> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let addr = listener.local_addr()?;
    let app = router(devnet.clone());
    let mut tasks = vec![tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!("devnet HTTP server stopped: {e}");
        }
    })];
    let config = devnet.config();
    if let Some(every) = config.block_interval {
        let d = devnet.clone();
        tasks.push(tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let d = d.clone();
                let _ = tokio::task::spawn_blocking(move || d.produce_block()).await;
            }
        }));
    }
    if let Some(path) = config.state_file {
        let d = devnet.clone();
        tasks.push(tokio::spawn(async move {
            let mut saved = u32::MAX;
            loop {
                tokio::time::sleep(Duration::from_secs(2)).await;
                let seqno = d.last_block_seqno();
                if seqno != saved {
                    let (d, path) = (d.clone(), path.clone());
                    match tokio::task::spawn_blocking(move || d.save(&path)).await {
                        Ok(Ok(())) => saved = seqno,
                        Ok(Err(e)) => tracing::warn!("saving devnet state failed: {e:#}"),
                        Err(_) => {}
                    }
                }
            }
        }));
    }
    Ok(ServerHandle {
        url: format!("http://{addr}/api/v2"),
        json_rpc_url: format!("http://{addr}/api/v2/jsonRPC"),
        addr,
        tasks,
    })
}
