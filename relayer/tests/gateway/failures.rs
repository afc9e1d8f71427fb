//! Workers and backends failing: mid-stream deaths are reported and not
//! charged, dead backends withdraw capacity (503), failures before any byte
//! was sent are retried on another worker, draining finishes in-flight work,
//! and only signed, allowed operator keys may connect.

use crate::harness::*;
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use spindle_worker::protocol::{Prices, RelayerMessage, WorkerMessage, auth_payload, sign_hex};
use tokio_tungstenite::tungstenite::Message;

fn stream_body(model: &str, max_tokens: u64) -> Value {
    let mut body = chat_body(
        model,
        "Write a long story about a lighthouse keeper.",
        max_tokens,
    );
    body["stream"] = json!(true);
    body
}

fn assert_no_capacity(status: u16, headers: &reqwest::header::HeaderMap, body: &str) {
    assert_eq!(status, 503, "{body}");
    assert_eq!(headers["retry-after"], "7");
    let body: Value = serde_json::from_str(body).unwrap();
    assert_eq!(body["type"], "urn:spindle:problem:no-capacity", "{body}");
}

#[tokio::test]
async fn worker_killed_mid_stream_gives_an_error_event_and_no_charge() {
    let s = setup().await;
    let model = s.llama.alias().to_owned();
    let response = http()
        .post(format!("{}/v1/chat/completions", s.relayer.url))
        .bearer_auth(KEY)
        .json(&stream_body(&model, 400))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let mut bytes = response.bytes_stream();
    let mut body = String::from_utf8(bytes.next().await.unwrap().unwrap().to_vec()).unwrap();
    assert!(body.starts_with("data: {"), "{body}");
    s.worker.kill();
    while let Some(chunk) = bytes.next().await {
        body.push_str(std::str::from_utf8(&chunk.unwrap()).unwrap());
    }
    let events = sse_data(&body);
    let last: Value = serde_json::from_str(events.last().unwrap()).unwrap();
    assert_eq!(last["error"]["type"], "worker-failed", "{body}");
    assert!(!events.iter().any(|e| e == "[DONE]"), "{body}");
    assert_eq!(
        s.relayer.gateway.accounts.unsettled(&addr(ACCOUNT)),
        0,
        "nothing charged"
    );

    // The only worker is gone: the model is known, so 503 with Retry-After.
    wait_models(&s.relayer, |m| served(m).is_empty()).await;
    let (st, h, b) = post(
        &s.relayer.url,
        "/v1/chat/completions",
        Some(KEY),
        &chat_body(&model, "Hi", 4),
    )
    .await;
    assert_no_capacity(st, &h, &b);
}

#[tokio::test]
async fn a_dead_backend_withdraws_the_worker_and_requests_get_503() {
    let mut s = setup().await;
    let model = s.llama.alias().to_owned();
    s.llama.kill();
    wait_models(&s.relayer, |m| served(m).is_empty()).await;
    assert!(
        !s.worker.task.is_finished(),
        "the worker stays connected, with no capacity"
    );
    for stream in [false, true] {
        let mut body = chat_body(&model, "Hi", 4);
        body["stream"] = json!(stream);
        let (st, h, b) = post(&s.relayer.url, "/v1/chat/completions", Some(KEY), &body).await;
        assert_no_capacity(st, &h, &b);
    }
    s.worker.drain().await;
}

/// A backend that looks healthy and lists the model but fails every request.
async fn failing_backend(model: String) -> (String, tokio::task::JoinHandle<()>) {
    use axum::routing::{get, post};
    let app =
        axum::Router::new()
            .route("/health", get(|| async { "{\"status\":\"ok\"}" }))
            .route(
                "/v1/models",
                get(move || async move {
                    axum::Json(json!({"object": "list", "data": [{"id": model}]}))
                }),
            )
            .route(
                "/v1/chat/completions",
                post(|| async {
                    (
                        axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                        "{\"error\":{\"message\":\"GPU fell off\"}}",
                    )
                }),
            );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    (
        url,
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() }),
    )
}

#[tokio::test]
async fn a_worker_failing_before_answering_is_retried_on_the_next_cheapest() {
    let s = setup().await;
    let model = s.llama.alias().to_owned();
    let (bad_url, _bad) = failing_backend(model.clone()).await;
    let cheap = Prices {
        prompt: 1,
        cached_prompt: 1,
        completion: 1,
    };
    let dir = TempDir::new("cheap");
    let cheap_worker = start_worker(worker_config(&s.relayer, &bad_url, 2, cheap, &dir), dir);
    wait_models(&s.relayer, |m| m["data"][0]["workers"] == 2).await;
    let (_, models) = get(&s.relayer, "/v1/models", KEY).await;
    assert_eq!(
        models["data"][0]["prices"],
        json!(cheap),
        "the cheapest price is listed"
    );

    for stream in [false, true] {
        let before = s.relayer.gateway.accounts.unsettled(&addr(ACCOUNT));
        let mut body = chat_body(&model, "Hi", 6);
        body["stream"] = json!(stream);
        body["stream_options"] = json!({"include_usage": true});
        let (st, _, b) = post(&s.relayer.url, "/v1/chat/completions", Some(KEY), &body).await;
        assert_eq!(st, 200, "{b}");
        let usage_event = if stream {
            let events = sse_data(&b);
            assert_eq!(events.last().unwrap(), "[DONE]");
            serde_json::from_str::<Value>(&events[events.len() - 2]).unwrap()
        } else {
            serde_json::from_str::<Value>(&b).unwrap()
        };
        let cost = usage_event["usage"]["cost_nanoton"].as_u64().unwrap();
        let usage = spindle_worker::backend::Usage::from_response(&usage_event)
            .unwrap()
            .unwrap();
        // Served (and charged) by the real worker, at its price.
        assert_eq!(cost as u128, PRICES.cost(&usage));
        assert_eq!(
            s.relayer.gateway.accounts.unsettled(&addr(ACCOUNT)) - before,
            cost as u128
        );
    }
    cheap_worker.drain().await;
}

#[tokio::test]
async fn draining_finishes_in_flight_streams_then_withdraws() {
    let s = setup().await;
    let model = s.llama.alias().to_owned();
    let response = http()
        .post(format!("{}/v1/chat/completions", s.relayer.url))
        .bearer_auth(KEY)
        .json(&stream_body(&model, 60))
        .send()
        .await
        .unwrap();
    let mut bytes = response.bytes_stream();
    let mut body = String::from_utf8(bytes.next().await.unwrap().unwrap().to_vec()).unwrap();
    let drained = tokio::spawn(s.worker.drain());
    while let Some(chunk) = bytes.next().await {
        body.push_str(std::str::from_utf8(&chunk.unwrap()).unwrap());
    }
    assert_eq!(sse_data(&body).last().unwrap(), "[DONE]", "{body}");
    drained.await.unwrap();
    wait_models(&s.relayer, |m| served(m).is_empty()).await;
    assert!(
        s.relayer.gateway.accounts.unsettled(&addr(ACCOUNT)) > 0,
        "the finished stream was charged"
    );
}

/// Speaks the worker protocol by hand: bad signatures and unknown operator keys are refused.
#[tokio::test]
async fn only_signed_allowed_operator_keys_may_connect() {
    let relayer = start_relayer(|_| {}).await;
    let url = format!(
        "{}{}",
        relayer.url.replace("http://", "ws://"),
        spindle_worker::protocol::CONNECT_PATH
    );
    // (key that signs, key claimed, expect accepted)
    let cases = [(1u8, 1u8, true), (1, 2, false), (9, 9, false)];
    for (signer, claimed, accepted) in cases {
        let (mut ws, _) = tokio_tungstenite::connect_async(url.as_str())
            .await
            .unwrap();
        let Some(Ok(Message::Text(text))) = ws.next().await else {
            panic!("no challenge")
        };
        let RelayerMessage::Challenge {
            relayer: target,
            global_id,
            challenge,
        } = serde_json::from_str(&text).unwrap()
        else {
            panic!("not a challenge: {text}")
        };
        assert_eq!(addr(&target), addr(RELAYER));
        assert_eq!(global_id, DEVNET_GLOBAL_ID);
        let challenge: [u8; 32] = hex::decode(challenge).unwrap().try_into().unwrap();
        let payload = auth_payload(global_id, &addr(RELAYER), &challenge, &addr(OWNER)).unwrap();
        let hello = WorkerMessage::Hello {
            operator_key: hex::encode(operator_key(claimed).verifying_key().as_bytes()),
            owner: OWNER.into(),
            signature: sign_hex(&operator_key(signer), &payload),
        };
        ws.send(Message::text(serde_json::to_string(&hello).unwrap()))
            .await
            .unwrap();
        match ws.next().await {
            Some(Ok(Message::Text(text))) => {
                assert!(accepted, "accepted {signer}/{claimed}: {text}");
                assert!(matches!(
                    serde_json::from_str(&text).unwrap(),
                    RelayerMessage::Welcome { .. }
                ));
            }
            Some(Ok(Message::Close(Some(frame)))) => {
                assert!(!accepted, "refused {signer}/{claimed}: {}", frame.reason);
                assert_eq!(u16::from(frame.code), 4001);
            }
            other => panic!("unexpected {other:?}"),
        }
    }
}

/// A backend whose health and model list follow a switch.
async fn switchable_backend(
    model: String,
    up: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> (String, tokio::task::JoinHandle<()>) {
    use axum::http::StatusCode;
    use axum::routing::get;
    use std::sync::atomic::Ordering;
    let status = move |up: &std::sync::atomic::AtomicBool| {
        if up.load(Ordering::SeqCst) {
            StatusCode::OK
        } else {
            StatusCode::SERVICE_UNAVAILABLE
        }
    };
    let (up1, up2) = (up.clone(), up);
    let app = axum::Router::new()
        .route("/health", get(move || async move { (status(&up1), "{}") }))
        .route(
            "/v1/models",
            get(move || async move {
                (
                    status(&up2),
                    axum::Json(json!({"object": "list", "data": [{"id": model}]})),
                )
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    (
        url,
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() }),
    )
}

#[tokio::test]
async fn a_worker_withdraws_while_its_backend_is_down_and_comes_back_with_it() {
    use std::sync::atomic::{AtomicBool, Ordering};
    let relayer = start_relayer(|_| {}).await;
    let up = std::sync::Arc::new(AtomicBool::new(true));
    let (url, _backend) = switchable_backend("flaky".into(), up.clone()).await;
    let dir = TempDir::new("flaky");
    let worker = start_worker(worker_config(&relayer, &url, 1, PRICES, &dir), dir);
    for state in [true, false, true, false] {
        up.store(state, Ordering::SeqCst);
        let want: Vec<String> = if state { vec!["flaky".into()] } else { vec![] };
        wait_models(&relayer, |m| served(m) == want).await;
        assert!(!worker.task.is_finished());
    }
    let (st, h, b) = post(
        &relayer.url,
        "/v1/chat/completions",
        Some(KEY),
        &chat_body("flaky", "Hi", 4),
    )
    .await;
    assert_no_capacity(st, &h, &b);
    worker.drain().await;
}

/// Connects by hand as operator key 1 and returns the socket after `welcome`.
pub async fn raw_worker(
    relayer: &Relayer,
) -> tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>> {
    let url = format!(
        "{}{}",
        relayer.url.replace("http://", "ws://"),
        spindle_worker::protocol::CONNECT_PATH
    );
    let (mut ws, _) = tokio_tungstenite::connect_async(url.as_str())
        .await
        .unwrap();
    let Some(Ok(Message::Text(text))) = ws.next().await else {
        panic!("no challenge")
    };
    let RelayerMessage::Challenge {
        challenge,
        global_id,
        ..
    } = serde_json::from_str(&text).unwrap()
    else {
        panic!("{text}")
    };
    let challenge: [u8; 32] = hex::decode(challenge).unwrap().try_into().unwrap();
    let payload = auth_payload(global_id, &addr(RELAYER), &challenge, &addr(OWNER)).unwrap();
    let hello = WorkerMessage::Hello {
        operator_key: hex::encode(operator_key(1).verifying_key().as_bytes()),
        owner: OWNER.into(),
        signature: sign_hex(&operator_key(1), &payload),
    };
    ws.send(Message::text(serde_json::to_string(&hello).unwrap()))
        .await
        .unwrap();
    let Some(Ok(Message::Text(_welcome))) = ws.next().await else {
        panic!("no welcome")
    };
    ws
}

#[tokio::test]
async fn a_result_with_a_bad_signature_or_hash_is_refused_and_not_charged() {
    use spindle_worker::backend::{ResultHash, Usage};
    use spindle_worker::protocol::{ModelOffer, result_payload};
    let relayer = start_relayer(|_| {}).await;
    let mut ws = raw_worker(&relayer).await;
    let advertise = WorkerMessage::Advertise {
        max_concurrency: 1,
        models: vec![ModelOffer {
            id: "m".into(),
            prices: PRICES,
        }],
    };
    ws.send(Message::text(serde_json::to_string(&advertise).unwrap()))
        .await
        .unwrap();
    wait_models(&relayer, |m| served(m) == ["m"]).await;
    let usage = Usage {
        prompt_tokens: 5,
        completion_tokens: 2,
        total_tokens: 7,
        cached_tokens: 0,
    };
    let answer = json!({"object": "chat.completion", "choices": [], "usage": {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7}}).to_string();
    let hash = ResultHash::of(answer.as_bytes());
    // (how the worker lies, expected status)
    for lie in [
        "signature by another key",
        "hash of other bytes",
        "usage not the answer's",
        "honest",
    ] {
        let client = tokio::spawn({
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
        let request = loop {
            match ws.next().await.unwrap().unwrap() {
                Message::Text(t) => break serde_json::from_str::<RelayerMessage>(&t).unwrap(),
                _ => continue,
            }
        };
        let RelayerMessage::Request { id, .. } = request else {
            panic!("{request:?}")
        };
        let (signer, signed_hash, claimed_usage) = match lie {
            "signature by another key" => (operator_key(2), hash, usage),
            "hash of other bytes" => (operator_key(1), ResultHash([0; 32]), usage),
            "usage not the answer's" => (
                operator_key(1),
                hash,
                Usage {
                    completion_tokens: 1,
                    total_tokens: 6,
                    ..usage
                },
            ),
            _ => (operator_key(1), hash, usage),
        };
        let payload = result_payload(
            DEVNET_GLOBAL_ID,
            &addr(RELAYER),
            id,
            &signed_hash,
            &claimed_usage,
        )
        .unwrap();
        let done = WorkerMessage::Done {
            id,
            body: Some(answer.clone()),
            usage: claimed_usage,
            result_hash: signed_hash.to_string(),
            signature: sign_hex(&signer, &payload),
        };
        ws.send(Message::text(serde_json::to_string(&done).unwrap()))
            .await
            .unwrap();
        let (status, _, body) = client.await.unwrap();
        let charged = relayer.gateway.accounts.unsettled(&addr(ACCOUNT));
        if lie == "honest" {
            assert_eq!(status, 200, "{body}");
            assert_eq!(charged, PRICES.cost(&usage));
        } else {
            assert_eq!(status, 502, "{lie}: {body}");
            assert!(body.contains("bad-worker-result"), "{body}");
            assert_eq!(charged, 0, "{lie}: nothing charged");
        }
    }
}

#[tokio::test]
async fn a_worker_that_never_answers_is_cancelled_after_the_first_byte_timeout() {
    let relayer = start_relayer(|c| c.first_byte_timeout_secs = 1).await;
    let mut ws = raw_worker(&relayer).await;
    let offer = WorkerMessage::Advertise {
        max_concurrency: 1,
        models: vec![spindle_worker::protocol::ModelOffer {
            id: "m".into(),
            prices: PRICES,
        }],
    };
    ws.send(Message::text(serde_json::to_string(&offer).unwrap()))
        .await
        .unwrap();
    wait_models(&relayer, |m| served(m) == ["m"]).await;
    let started = std::time::Instant::now();
    let client = tokio::spawn({
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
    let mut seen = Vec::new();
    while seen.len() < 2 {
        if let Message::Text(t) = ws.next().await.unwrap().unwrap() {
            seen.push(serde_json::from_str::<RelayerMessage>(&t).unwrap());
        }
    }
    let (RelayerMessage::Request { id, .. }, RelayerMessage::Cancel { id: cancelled }) =
        (&seen[0], &seen[1])
    else {
        panic!("{seen:?}")
    };
    assert_eq!(id, cancelled);
    let (status, headers, body) = client.await.unwrap();
    assert!(started.elapsed() >= std::time::Duration::from_secs(1));
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("urn:spindle:problem:worker-failed"), "{body}");
    assert_eq!(headers["retry-after"], "7");
    assert_eq!(relayer.gateway.accounts.unsettled(&addr(ACCOUNT)), 0);
}
