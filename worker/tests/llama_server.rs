//! The backend client against a real `llama-server` (started through
//! `spindle_worker::testing`; run `scripts/setup-inference` first).

use bytes::Bytes;
use futures::StreamExt;
use serde_json::{Value, json};
use spindle_worker::backend::{
    Backend, BackendError, BackendResponse, Endpoint, Request, ResultHash,
};
use spindle_worker::testing::{LlamaServer, LlamaServerConfig};

async fn start(embeddings: bool) -> LlamaServer {
    let config = LlamaServerConfig::from_env().unwrap_or_else(|e| panic!("{e}"));
    let config = LlamaServerConfig {
        embeddings,
        ..config
    };
    config.start().await.unwrap_or_else(|e| panic!("{e}"))
}

fn request(value: Value) -> Request {
    match value {
        Value::Object(map) => map,
        other => panic!("not a JSON object: {other}"),
    }
}

fn chat(server: &LlamaServer) -> Request {
    request(json!({
        "model": server.alias(),
        "messages": [{"role": "user", "content": "Name three colors."}],
        "max_tokens": 24,
        "temperature": 0,
    }))
}

fn completion(server: &LlamaServer) -> Request {
    request(
        json!({"model": server.alias(), "prompt": "Once upon a time", "max_tokens": 24, "temperature": 0}),
    )
}

fn chat_text(json: &Value) -> String {
    let choice = &json["choices"][0];
    let text = choice["message"]["content"]
        .as_str()
        .or(choice["delta"]["content"].as_str());
    text.unwrap_or_default().to_owned()
}

fn completion_text(json: &Value) -> String {
    json["choices"][0]["text"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// Two identical requests give the same text and token counts; the streamed
/// answer's text concatenates to the same, its events to its exact body, and
/// its final usage equals the non-streaming one (both with a warm prompt cache).
async fn check_deterministic_and_streaming(
    backend: &Backend,
    endpoint: Endpoint,
    request: Request,
    text: fn(&Value) -> String,
) {
    let first = backend.send(endpoint, request.clone()).await.unwrap();
    let second = backend.send(endpoint, request.clone()).await.unwrap();
    for response in [&first, &second] {
        assert_eq!(response.result_hash, ResultHash::of(&response.body));
        assert_eq!(
            response.usage.total_tokens,
            response.usage.prompt_tokens + response.usage.completion_tokens
        );
    }
    assert!(
        !text(&first.json).is_empty(),
        "empty answer: {}",
        first.json
    );
    assert_eq!(text(&first.json), text(&second.json));
    let counts = |r: &BackendResponse| {
        (
            r.usage.prompt_tokens,
            r.usage.completion_tokens,
            r.usage.total_tokens,
        )
    };
    assert_eq!(counts(&first), counts(&second));
    assert_eq!(
        first.usage.cached_tokens, 0,
        "a fresh server has nothing cached"
    );

    let mut stream = backend.send_stream(endpoint, request).await.unwrap();
    let mut events: Vec<Bytes> = Vec::new();
    while let Some(event) = stream.next().await {
        events.push(event.unwrap());
    }
    let summary = stream.summary().expect("a finished stream has a summary");
    let body: Vec<u8> = events.concat();
    assert_eq!(summary.result_hash, ResultHash::of(&body));
    assert_eq!(summary.bytes, body.len() as u64);
    assert!(
        events.iter().all(|e| e.ends_with(b"\n\n")),
        "events are yielded whole"
    );
    assert_eq!(events.last().unwrap().as_ref(), b"data: [DONE]\n\n");
    let streamed: String = events[..events.len() - 1]
        .iter()
        .map(|e| {
            let data = std::str::from_utf8(e)
                .unwrap()
                .trim()
                .strip_prefix("data: ")
                .unwrap();
            text(&serde_json::from_str(data).unwrap())
        })
        .collect();
    assert_eq!(streamed, text(&second.json));
    assert_eq!(summary.usage, second.usage);
}

#[tokio::test]
async fn models_name_the_alias() {
    let server = start(false).await;
    let backend = server.backend();
    backend.health().await.unwrap();
    let models = backend.models().await.unwrap();
    assert_eq!(models.len(), 1);
    assert_eq!(models[0].id, "smollm2-135m");
    assert_eq!(
        models[0].extra["meta"]["n_embd"], 576,
        "SmolLM2-135M's width"
    );
}

#[tokio::test]
async fn chat_is_deterministic_and_streams_the_same() {
    let server = start(false).await;
    check_deterministic_and_streaming(
        &server.backend(),
        Endpoint::ChatCompletions,
        chat(&server),
        chat_text,
    )
    .await;
}

#[tokio::test]
async fn completions_are_deterministic_and_stream_the_same() {
    let server = start(false).await;
    let request = completion(&server);
    check_deterministic_and_streaming(
        &server.backend(),
        Endpoint::Completions,
        request,
        completion_text,
    )
    .await;
}

#[tokio::test]
async fn embeddings_have_the_model_dimension() {
    let server = start(true).await;
    let backend = server.backend();
    let n_embd = backend.models().await.unwrap()[0].extra["meta"]["n_embd"]
        .as_u64()
        .unwrap();
    let input = request(json!({"model": server.alias(), "input": ["red", "green light"]}));
    let first = backend
        .send(Endpoint::Embeddings, input.clone())
        .await
        .unwrap();
    let data = first.json["data"].as_array().unwrap();
    assert_eq!(data.len(), 2);
    for item in data {
        assert_eq!(item["embedding"].as_array().unwrap().len() as u64, n_embd);
    }
    assert!(first.usage.prompt_tokens >= 2);
    assert_eq!(first.usage.completion_tokens, 0);
    assert_eq!(first.usage.total_tokens, first.usage.prompt_tokens);
    let second = backend
        .send(Endpoint::Embeddings, input.clone())
        .await
        .unwrap();
    assert_eq!(first.json["data"], second.json["data"]);
    let streamed = backend.send_stream(Endpoint::Embeddings, input).await;
    assert!(matches!(streamed, Err(BackendError::InvalidRequest(_))));
}

/// In this llama.cpp build one `--embeddings` process also serves chat, with
/// the same answers as a chat-only server.
#[tokio::test]
async fn an_embeddings_server_also_chats_identically() {
    let (plain, embedding) = (start(false).await, start(true).await);
    let expected = plain
        .backend()
        .send(Endpoint::ChatCompletions, chat(&plain))
        .await
        .unwrap();
    let shared = embedding
        .backend()
        .send(Endpoint::ChatCompletions, chat(&embedding))
        .await
        .unwrap();
    assert_eq!(chat_text(&shared.json), chat_text(&expected.json));
    assert_eq!(shared.usage, expected.usage);
}

#[tokio::test]
async fn an_http_error_carries_status_and_body() {
    let server = start(false).await;
    let bad = request(json!({"model": server.alias(), "messages": "not a list"}));
    match server.backend().send(Endpoint::ChatCompletions, bad).await {
        Err(BackendError::Status { status, body, .. }) => {
            assert!(status.is_client_error(), "{status}: {body}");
            assert!(body.contains("error"), "{body}");
        }
        other => panic!("expected an HTTP status error, got {other:?}"),
    }
}

#[tokio::test]
async fn a_stopped_backend_is_unreachable() {
    let mut server = start(false).await;
    let backend = server.backend();
    server.kill();
    let error = backend.health().await.unwrap_err();
    assert!(
        matches!(error, BackendError::Unreachable { .. }),
        "{error:?}"
    );
    assert!(error.is_unavailable());
    let error = backend
        .send(Endpoint::ChatCompletions, chat(&server))
        .await
        .unwrap_err();
    assert!(
        matches!(error, BackendError::Unreachable { .. }),
        "{error:?}"
    );
}

#[tokio::test]
async fn a_server_killed_mid_stream_cuts_the_stream() {
    let mut server = start(false).await;
    // llama.cpp's `ignore_eos` passes through and keeps it generating ~20 s.
    let mut long = chat(&server);
    long.insert("max_tokens".into(), json!(2000));
    long.insert("ignore_eos".into(), json!(true));
    let mut stream = server
        .backend()
        .send_stream(Endpoint::ChatCompletions, long)
        .await
        .unwrap();
    stream.next().await.unwrap().unwrap();
    server.kill();
    let error = loop {
        match stream.next().await {
            Some(Ok(_)) => continue, // events already on the way
            Some(Err(error)) => break error,
            None => panic!("the stream ended cleanly after the server was killed"),
        }
    };
    assert!(
        matches!(error, BackendError::StreamCut { received, .. } if received > 0),
        "{error:?}"
    );
    assert!(stream.summary().is_none());
}
