//! Faults a real llama-server does not produce on demand, served by a one-shot
//! raw HTTP responder: malformed JSON, a missing `usage`, a stream without
//! `[DONE]`, and llama.cpp's mid-stream `error:` line.

use futures::StreamExt;
use serde_json::{Value, json};
use spindle_worker::backend::{Backend, BackendError, Endpoint, Request};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// Answers one request with `response` (status line, headers and body) and
/// closes the connection; returns the responder's base URL and a handle to the
/// JSON body it received.
async fn serve_once(response: String) -> (String, JoinHandle<Value>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let request = tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        // Read the whole request first: closing on an unread body resets the
        // connection before the client sees the answer.
        let mut request = Vec::new();
        let mut buf = [0u8; 4096];
        let body_start = loop {
            let n = socket.read(&mut buf).await.unwrap();
            request.extend_from_slice(&buf[..n]);
            let text = String::from_utf8_lossy(&request);
            if let Some(end) = text.find("\r\n\r\n") {
                let length = text[..end]
                    .lines()
                    .find_map(|l| {
                        l.to_ascii_lowercase()
                            .strip_prefix("content-length:")
                            .map(|v| v.trim().to_owned())
                    })
                    .map_or(0, |v| v.parse::<usize>().unwrap());
                if request.len() >= end + 4 + length {
                    break end + 4;
                }
            }
            assert!(n > 0, "client closed early");
        };
        socket.write_all(response.as_bytes()).await.unwrap();
        socket.shutdown().await.unwrap();
        serde_json::from_slice(&request[body_start..]).unwrap()
    });
    (url, request)
}

fn ok(content_type: &str, body: &str) -> String {
    format!(
        "HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

fn chat() -> Request {
    let body = json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]});
    body.as_object().unwrap().clone()
}

#[tokio::test]
async fn send_turns_streaming_off() {
    let body = r#"{"usage":{"prompt_tokens":1,"total_tokens":1}}"#;
    let (url, received) = serve_once(ok("application/json", body)).await;
    let mut request = chat();
    request.insert("stream".into(), json!(true));
    request.insert("stream_options".into(), json!({"include_usage": true}));
    let response = Backend::new(url)
        .send(Endpoint::ChatCompletions, request)
        .await
        .unwrap();
    assert_eq!(response.body, body.as_bytes());
    let received = received.await.unwrap();
    assert_eq!(received["stream"], false);
    assert!(
        received.get("stream_options").is_none(),
        "vLLM refuses stream_options without stream"
    );
    assert_eq!(
        received["messages"],
        chat()["messages"],
        "the rest passes through"
    );
}

#[tokio::test]
async fn send_stream_asks_for_usage_and_keeps_other_options() {
    let events = "data: {\"usage\":{\"prompt_tokens\":1,\"total_tokens\":1}}\n\ndata: [DONE]\n\n";
    let (url, received) = serve_once(ok("text/event-stream", events)).await;
    let mut request = chat();
    request.insert(
        "stream_options".into(),
        json!({"continuous_usage_stats": true}),
    );
    let stream = Backend::new(url)
        .send_stream(Endpoint::ChatCompletions, request)
        .await
        .unwrap();
    stream.read_all().await.unwrap();
    let received = received.await.unwrap();
    assert_eq!(received["stream"], true);
    assert_eq!(
        received["stream_options"],
        json!({"continuous_usage_stats": true, "include_usage": true})
    );
}

#[tokio::test]
async fn a_non_json_body_is_malformed() {
    let backend = Backend::new(serve_once(ok("application/json", "not json")).await.0);
    let error = backend
        .send(Endpoint::ChatCompletions, chat())
        .await
        .unwrap_err();
    assert!(matches!(error, BackendError::Malformed { .. }), "{error:?}");
}

#[tokio::test]
async fn a_response_without_usage_is_refused() {
    let body = r#"{"choices":[{"message":{"content":"hi"}}]}"#;
    let backend = Backend::new(serve_once(ok("application/json", body)).await.0);
    let error = backend
        .send(Endpoint::ChatCompletions, chat())
        .await
        .unwrap_err();
    assert!(
        matches!(error, BackendError::MissingUsage { .. }),
        "{error:?}"
    );
}

#[tokio::test]
async fn a_body_shorter_than_announced_is_cut() {
    let response = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"usage\"";
    let backend = Backend::new(serve_once(response.into()).await.0);
    let error = backend
        .send(Endpoint::ChatCompletions, chat())
        .await
        .unwrap_err();
    assert!(
        matches!(error, BackendError::StreamCut { received: 8, .. }),
        "{error:?}"
    );
}

#[tokio::test]
async fn a_stream_without_done_is_cut() {
    let events = "data: {\"choices\":[{\"delta\":{\"content\":\"hi\"}}]}\n\n";
    let backend = Backend::new(serve_once(ok("text/event-stream", events)).await.0);
    let mut stream = backend
        .send_stream(Endpoint::ChatCompletions, chat())
        .await
        .unwrap();
    assert_eq!(stream.next().await.unwrap().unwrap(), events.as_bytes());
    let error = stream.next().await.unwrap().unwrap_err();
    assert!(matches!(error, BackendError::StreamCut { .. }), "{error:?}");
    assert!(stream.next().await.is_none(), "a failed stream ends");
}

#[tokio::test]
async fn a_stream_without_usage_is_refused() {
    let events = "data: {\"choices\":[]}\n\ndata: [DONE]\n\n";
    let backend = Backend::new(serve_once(ok("text/event-stream", events)).await.0);
    let stream = backend
        .send_stream(Endpoint::ChatCompletions, chat())
        .await
        .unwrap();
    let error = stream.read_all().await.unwrap_err();
    assert!(
        matches!(error, BackendError::MissingUsage { .. }),
        "{error:?}"
    );
}

#[tokio::test]
async fn llama_cpp_error_lines_end_the_stream() {
    let events = "error: {\"error\":{\"code\":500,\"message\":\"boom\"}}\n\n";
    let backend = Backend::new(serve_once(ok("text/event-stream", events)).await.0);
    let stream = backend
        .send_stream(Endpoint::ChatCompletions, chat())
        .await
        .unwrap();
    let error = stream.read_all().await.unwrap_err();
    assert!(
        matches!(&error, BackendError::StreamError { event, .. } if event.contains("boom")),
        "{error:?}"
    );
}

#[tokio::test]
async fn a_clean_stream_reads_whole_with_usage() {
    let events = concat!(
        "data: {\"choices\":[{\"delta\":{\"content\":\"hi\"}}]}\r\n\r\n",
        "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":1,\"total_tokens\":4}}\n\n",
        "data: [DONE]\n\n",
    );
    let backend = Backend::new(serve_once(ok("text/event-stream", events)).await.0);
    let stream = backend
        .send_stream(Endpoint::ChatCompletions, chat())
        .await
        .unwrap();
    let (body, summary) = stream.read_all().await.unwrap();
    assert_eq!(body, events.as_bytes());
    assert_eq!(
        (summary.usage.prompt_tokens, summary.usage.completion_tokens),
        (3, 1)
    );
}
