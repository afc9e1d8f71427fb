//! Through Spindle, llama-server's answers are the same as when called
//! directly (temperature 0, one slot), with the same usage, plus the cost.

use crate::harness::*;
use serde_json::{Value, json};
use spindle_worker::backend::Usage;

fn usage_of(v: &Value) -> Usage {
    Usage::from_response(v).unwrap().expect("usage")
}

fn check_cost(v: &Value) -> u64 {
    let cost = v["usage"]["cost_nanoton"].as_u64().expect("cost_nanoton");
    assert_eq!(cost as u128, PRICES.cost(&usage_of(v)), "{v}");
    assert!(v["usage"]["balance_nanoton"].as_u64().is_some(), "{v}");
    cost
}

#[tokio::test]
async fn answers_equal_llama_server_and_are_charged_at_the_posted_price() {
    let s = setup().await;
    let model = s.llama.alias().to_owned();
    let direct = s.llama.base_url();
    let mut charged = 0u64;

    // /v1/models lists the model with the worker's prices.
    let (status, models) = get(&s.relayer, "/v1/models", KEY).await;
    assert_eq!(status, 200);
    assert_eq!(models["data"][0]["id"], model);
    assert_eq!(models["data"][0]["prices"], json!(PRICES));

    // Whole answers: chat, completions, embeddings.
    let cases = [
        (
            "/v1/chat/completions",
            chat_body(&model, "Name three colours.", 24),
        ),
        (
            "/v1/completions",
            json!({"model": model, "prompt": "The capital of France is", "max_tokens": 16, "temperature": 0, "cache_prompt": false}),
        ),
        (
            "/v1/embeddings",
            json!({"model": model, "input": ["hello world", "spindle"]}),
        ),
    ];
    for (path, body) in &cases {
        let (want_status, _, want) = post(&direct, path, None, body).await;
        let (status, headers, got) = post(&s.relayer.url, path, Some(KEY), body).await;
        assert_eq!((want_status, status), (200, 200), "{path}: {got}");
        assert_eq!(headers["content-type"], "application/json");
        let (want, got): (Value, Value) = (
            serde_json::from_str(&want).unwrap(),
            serde_json::from_str(&got).unwrap(),
        );
        charged += check_cost(&got);
        assert_eq!(usage_of(&got), usage_of(&want), "{path}");
        assert_eq!(normalize(got), normalize(want), "{path}");
    }

    // Streams: every event equal but ids and times, the usage event gains the
    // cost, and the stream ends with data: [DONE].
    let streams = [
        (
            "/v1/chat/completions",
            chat_body(&model, "Count from one to ten.", 20),
        ),
        (
            "/v1/completions",
            json!({"model": model, "prompt": "Once upon a time", "max_tokens": 12, "temperature": 0, "cache_prompt": false}),
        ),
    ];
    for (path, body) in &streams {
        let mut body = body.clone();
        body["stream"] = json!(true);
        body["stream_options"] = json!({"include_usage": true});
        let (_, _, want) = post(&direct, path, None, &body).await;
        let (status, headers, got) = post(&s.relayer.url, path, Some(KEY), &body).await;
        assert_eq!(status, 200, "{got}");
        assert_eq!(headers["content-type"], "text/event-stream");
        let (want, got) = (sse_data(&want), sse_data(&got));
        assert_eq!(got.len(), want.len(), "{path}: {got:#?}");
        assert_eq!(got.last().unwrap(), "[DONE]");
        for (g, w) in got.iter().zip(&want) {
            if w == "[DONE]" {
                assert_eq!(g, w);
                continue;
            }
            let (g, w): (Value, Value) = (
                serde_json::from_str(g).unwrap(),
                serde_json::from_str(w).unwrap(),
            );
            if !w["usage"].is_null() {
                charged += check_cost(&g);
            }
            assert_eq!(normalize(g), normalize(w), "{path}");
        }
    }

    // Every charge landed on the account, nothing else.
    assert_eq!(
        s.relayer.gateway.accounts.unsettled(&addr(ACCOUNT)),
        charged as u128
    );
    assert!(charged > 0);
    s.worker.drain().await;
}
