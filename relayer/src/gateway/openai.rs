//! The OpenAI-compatible routes: `POST /v1/chat/completions`,
//! `/v1/completions`, `/v1/embeddings` and `GET /v1/models`.
//!
//! Each POST is checked in this order, and the first failure answers:
//! API key (401) → body size (413) → JSON shape (400) → model known (404) and
//! served now (503 + Retry-After) → balance covers the worst case (402) → relay.

use super::Gateway;
use super::accounts::BalanceError;
use super::problem::Problem;
use super::relay::{Call, no_capacity, relay, unknown_model};
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};
use spindle_sdk::TonAddress;
use spindle_worker::backend::Endpoint;
use std::sync::Arc;

pub(crate) async fn chat_completions(
    State(gw): State<Arc<Gateway>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    handle(gw, Endpoint::ChatCompletions, headers, body)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

pub(crate) async fn completions(
    State(gw): State<Arc<Gateway>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    handle(gw, Endpoint::Completions, headers, body)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

pub(crate) async fn embeddings(
    State(gw): State<Arc<Gateway>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    handle(gw, Endpoint::Embeddings, headers, body)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

pub(crate) async fn models(State(gw): State<Arc<Gateway>>, headers: HeaderMap) -> Response {
    if let Err(problem) = authenticate(&gw, &headers) {
        return problem.into_response();
    }
    let data: Vec<Value> = gw
        .pool
        .served_models()
        .into_iter()
        .map(|m| {
            json!({
                "id": m.id,
                "object": "model",
                "created": 0,
                "owned_by": "spindle",
                // nanoTON per million tokens, the cheapest worker's.
                "prices": m.prices,
                "workers": m.workers,
                "capacity": m.capacity,
            })
        })
        .collect();
    axum::Json(json!({"object": "list", "data": data})).into_response()
}

async fn handle(
    gw: Arc<Gateway>,
    endpoint: Endpoint,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, Problem> {
    let account = authenticate(&gw, &headers)?;
    let limit = gw.config.max_body_bytes;
    let bytes = axum::body::to_bytes(body, limit).await.map_err(|_| {
        Problem::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body-too-large",
            "Request body too large",
            format!("the limit is {limit} bytes"),
        )
    })?;
    let body: Map<String, Value> = serde_json::from_slice(&bytes)
        .map_err(|e| Problem::bad_request(format!("the body is not a JSON object: {e}")))?;
    let model = match body.get("model") {
        Some(Value::String(m)) if !m.is_empty() => m.clone(),
        _ => return Err(Problem::bad_request("`model` must be a non-empty string")),
    };
    let stream = match body.get("stream") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(Problem::bad_request("`stream` must be a boolean")),
    };
    let (field, ok): (&str, fn(&Value) -> bool) = match endpoint {
        Endpoint::ChatCompletions => ("messages", |v| v.as_array().is_some_and(|a| !a.is_empty())),
        Endpoint::Completions => ("prompt", |v| v.is_string() || v.is_array()),
        Endpoint::Embeddings => ("input", |v| v.is_string() || v.is_array()),
    };
    if !body.get(field).is_some_and(ok) {
        return Err(Problem::bad_request(format!(
            "`{field}` is missing or malformed"
        )));
    }
    if stream && endpoint == Endpoint::Embeddings {
        return Err(Problem::bad_request("embeddings cannot be streamed"));
    }
    let max_tokens = match body
        .get("max_completion_tokens")
        .or_else(|| body.get("max_tokens"))
    {
        None | Some(Value::Null) => gw.config.default_max_tokens,
        Some(v) => v
            .as_u64()
            .ok_or_else(|| Problem::bad_request("`max_tokens` must be a non-negative integer"))?,
    };

    let Some(prices) = gw.pool.max_prices(&model) else {
        return Err(if gw.pool.is_known(&model) {
            no_capacity(&gw, &model, "no worker serves it right now")
        } else {
            unknown_model(&model)
        });
    };
    // Worst case: every body byte a prompt token (tokens are at least a byte
    // of text), every allowed token generated, at the priciest worker's rates.
    let completion = if endpoint == Endpoint::Embeddings {
        0
    } else {
        max_tokens
    };
    let needed = prices.worst_case(bytes.len() as u64, completion);
    let reservation = gw.accounts.reserve(&account, needed).await.map_err(|e| match e {
        BalanceError::Insufficient { available, needed } => Problem::new(
            StatusCode::PAYMENT_REQUIRED,
            "insufficient-balance",
            "Insufficient balance",
            format!("the account has {available} nanoTON available; this request may cost up to {needed}"),
        )
        .with("balance_nanoton", json!(u64::try_from(available).unwrap_or(u64::MAX)))
        .with("needed_nanoton", json!(u64::try_from(needed).unwrap_or(u64::MAX))),
        BalanceError::Unavailable(reason) => Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "balance-unavailable",
            "Account balance unavailable",
            format!("could not read the account's balance: {reason}"),
        )
        .retry_after(gw.config.retry_after_secs),
    })?;
    Ok(relay(
        gw,
        Call {
            account,
            endpoint,
            model,
            body,
            stream,
        },
        reservation,
    )
    .await)
}

fn authenticate(gw: &Gateway, headers: &HeaderMap) -> Result<TonAddress, Problem> {
    let key = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    let unauthorized = |detail: &str| {
        Problem::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "Unauthorized",
            detail,
        )
    };
    let key =
        key.ok_or_else(|| unauthorized("send an API key as `Authorization: Bearer <key>`"))?;
    gw.accounts
        .authenticate(key)
        .ok_or_else(|| unauthorized("unknown API key"))
}
