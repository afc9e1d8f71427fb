//! Client errors are problem+json with a named type, and change nothing.

use crate::harness::*;
use serde_json::{Value, json};

fn problem(
    status: u16,
    headers: &reqwest::header::HeaderMap,
    body: &str,
    want_status: u16,
    want_type: &str,
) -> Value {
    assert_eq!(status, want_status, "{body}");
    assert_eq!(
        headers["content-type"], "application/problem+json",
        "{body}"
    );
    let body: Value = serde_json::from_str(body).unwrap();
    assert_eq!(
        body["type"],
        format!("urn:spindle:problem:{want_type}"),
        "{body}"
    );
    assert_eq!(body["status"], want_status);
    body
}

#[tokio::test]
async fn bad_requests_get_named_problems() {
    let s = setup().await;
    let model = s.llama.alias().to_owned();
    let url = &s.relayer.url;
    let chat = "/v1/chat/completions";
    let good = chat_body(&model, "Hi", 4);

    // 401: no key, unknown key, on every route.
    for key in [None, Some("sk-wrong")] {
        for path in [chat, "/v1/completions", "/v1/embeddings"] {
            let (st, h, b) = post(url, path, key, &good).await;
            problem(st, &h, &b, 401, "unauthorized");
        }
    }
    assert_eq!(get(&s.relayer, "/v1/models", "sk-wrong").await.0, 401);

    // 400: not JSON, not an object, no model, no messages, bad stream/max_tokens, streamed embeddings.
    for body in ["{not json", "[1,2]", "\"x\""] {
        let (st, h, b) = post_raw(url, chat, Some(KEY), body.into()).await;
        problem(st, &h, &b, 400, "malformed-request");
    }
    for body in [
        json!({"messages": [{"role": "user", "content": "x"}]}),
        json!({"model": model}),
        json!({"model": model, "messages": []}),
        json!({"model": model, "messages": [{"role": "user", "content": "x"}], "stream": "yes"}),
        json!({"model": model, "messages": [{"role": "user", "content": "x"}], "max_tokens": -1}),
    ] {
        let (st, h, b) = post(url, chat, Some(KEY), &body).await;
        problem(st, &h, &b, 400, "malformed-request");
    }
    let (st, h, b) = post(
        url,
        "/v1/embeddings",
        Some(KEY),
        &json!({"model": model, "input": "x", "stream": true}),
    )
    .await;
    problem(st, &h, &b, 400, "malformed-request");

    // 413 beyond the body limit (64 KiB in these tests).
    let big = chat_body(&model, &"a".repeat(70 << 10), 4);
    let (st, h, b) = post(url, chat, Some(KEY), &big).await;
    problem(st, &h, &b, 413, "body-too-large");

    // 404: a model nobody serves.
    let (st, h, b) = post(url, chat, Some(KEY), &chat_body("gpt-nonexistent", "Hi", 4)).await;
    let body = problem(st, &h, &b, 404, "unknown-model");
    assert_eq!(
        body["error"]["code"], "unknown-model",
        "OpenAI-style error object for stock clients"
    );

    // 402: the poor account (10 nanoTON) cannot cover the worst case; says both.
    let (st, h, b) = post(url, chat, Some(POOR_KEY), &good).await;
    let body = problem(st, &h, &b, 402, "insufficient-balance");
    assert_eq!(body["balance_nanoton"], 10);
    let needed = body["needed_nanoton"].as_u64().unwrap();
    let bytes = good.to_string().len() as u64;
    assert_eq!(needed as u128, PRICES.worst_case(bytes, 4));

    // None of it charged anything, and the gateway still serves.
    assert_eq!(s.relayer.gateway.accounts.unsettled(&addr(ACCOUNT)), 0);
    assert_eq!(s.relayer.gateway.accounts.unsettled(&addr(POOR_ACCOUNT)), 0);
    let (st, _, b) = post(url, chat, Some(KEY), &good).await;
    assert_eq!(st, 200, "{b}");
}
