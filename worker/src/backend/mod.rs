//! Typed client for the provider's local OpenAI-compatible inference server:
//! llama.cpp's `llama-server`, vLLM or SGLang.
//!
//! - `GET /health`, `GET /v1/models`, and `POST /v1/chat/completions`,
//!   `/v1/completions` (whole or streamed as SSE) and `/v1/embeddings`.
//! - Request bodies are JSON objects forwarded as given, so server-specific
//!   fields (llama.cpp's `ignore_eos`, vLLM's `guided_json`, ...) pass through.
//!   Only `stream` and `stream_options` are set by the client.
//! - Token counts come only from the backend's `usage`; a response without it
//!   is an error ([`BackendError::MissingUsage`]), never a guess.
//! - Response bytes are passed on exactly as received, and [`ResultHash`] is
//!   SHA-256 over those exact bytes (the whole body; for a stream, every SSE
//!   byte through `data: [DONE]`).
//!
//! Differences between the servers that this module absorbs:
//! - **Usage in streams.** OpenAI-style servers put `usage` in the last chunk
//!   only when asked: streaming requests always get
//!   `stream_options.include_usage = true` (other `stream_options` kept).
//!   vLLM rejects `stream_options` on non-streaming requests, so those have it
//!   removed.
//! - **Stream errors.** llama.cpp reports a failure mid-stream as a non-standard
//!   `error: {...}` SSE line; vLLM and SGLang as a `data:` object holding `error`
//!   (or `"object": "error"`). All become [`BackendError::StreamError`].
//! - **Model names.** llama.cpp serves one model and ignores the request's
//!   `model`; it names it by file path unless started with `--alias NAME`.
//!   vLLM and SGLang match `model` against `--served-model-name` (default: the
//!   model path) and answer 404 otherwise. Callers should send the `id` that
//!   [`Backend::models`] reports.
//! - **Health.** llama.cpp answers `/health` with 503 while loading the model
//!   and 200 `{"status":"ok"}` when ready; vLLM and SGLang with 200 and an
//!   empty body. Only the status is checked.
//! - **Embeddings.** llama.cpp serves `/v1/embeddings` only when started with
//!   `--embeddings`, and a chat model such as SmolLM2 also needs `--pooling
//!   mean` (else 400 "Pooling type 'none' is not OAI compatible"). The llama.cpp
//!   built by `scripts/setup-inference` then still answers chat and completions,
//!   identically (tested), so one process can serve both; its help calls the
//!   flag "for dedicated embedding models" and older builds refused completions
//!   with it, so providers may equally run two processes. vLLM (`--task embed`)
//!   and SGLang (`--is-embedding`) run an embedding model as its own server.
//! - **Cached prompt tokens** are read from
//!   `usage.prompt_tokens_details.cached_tokens` when present (llama.cpp;
//!   vLLM with `--enable-prompt-tokens-details`), else 0.

mod error;
mod stream;
mod types;

pub use error::BackendError;
pub use stream::CompletionStream;
pub use types::{BackendResponse, Endpoint, Model, ResultHash, StreamSummary, Usage};

use bytes::{Bytes, BytesMut};
use serde_json::{Map, Value, json};
use std::time::Duration;
use types::ModelList;

/// An OpenAI request body, forwarded as given apart from `stream`.
pub type Request = Map<String, Value>;

/// Client for one inference server. Cheap to clone; clones share connections.
#[derive(Debug, Clone)]
pub struct Backend {
    base_url: String,
    http: reqwest::Client,
}

impl Backend {
    /// A client for the server at `base_url`, e.g. `http://127.0.0.1:8080`.
    /// Only connecting is time-limited: a long generation is not an error.
    pub fn new(base_url: impl Into<String>) -> Self {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            // The backend is the provider's own server: an HTTP proxy set in
            // the environment (e.g. for package registries) must not catch it.
            .no_proxy()
            .build()
            .expect("a reqwest client with these settings always builds");
        Self::with_client(base_url, http)
    }

    pub fn with_client(base_url: impl Into<String>, http: reqwest::Client) -> Self {
        let base_url = base_url.into().trim_end_matches('/').to_owned();
        Self { base_url, http }
    }

    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// Ok when the server is ready to serve.
    pub async fn health(&self) -> Result<(), BackendError> {
        let url = self.url("/health");
        let response = self.http.get(&url).send().await;
        check(url, response).await.map(drop)
    }

    /// The models the server serves, as `GET /v1/models` lists them.
    pub async fn models(&self) -> Result<Vec<Model>, BackendError> {
        let url = self.url("/v1/models");
        let response = self.http.get(&url).send().await;
        let response = check(url.clone(), response).await?;
        let body = read_body(&url, response).await?;
        let list: ModelList =
            serde_json::from_slice(&body).map_err(|e| BackendError::Malformed {
                url,
                reason: e.to_string(),
            })?;
        Ok(list.data)
    }

    /// Sends a request with `stream: false` and returns the whole answer.
    pub async fn send(
        &self,
        endpoint: Endpoint,
        mut request: Request,
    ) -> Result<BackendResponse, BackendError> {
        request.insert("stream".into(), Value::Bool(false));
        request.remove("stream_options");
        let url = self.url(endpoint.path());
        let response = self.http.post(&url).json(&request).send().await;
        let response = check(url.clone(), response).await?;
        let body = read_body(&url, response).await?;
        let json: Value = serde_json::from_slice(&body).map_err(|e| BackendError::Malformed {
            url: url.clone(),
            reason: e.to_string(),
        })?;
        let usage = Usage::from_response(&json)
            .map_err(|e| BackendError::Malformed {
                url: url.clone(),
                reason: format!("bad usage: {e}"),
            })?
            .ok_or(BackendError::MissingUsage { url })?;
        let result_hash = ResultHash::of(&body);
        Ok(BackendResponse {
            body,
            json,
            usage,
            result_hash,
        })
    }

    /// Sends a request with `stream: true` and usage requested; the answer
    /// arrives as SSE events (see [`CompletionStream`]).
    pub async fn send_stream(
        &self,
        endpoint: Endpoint,
        mut request: Request,
    ) -> Result<CompletionStream, BackendError> {
        if endpoint == Endpoint::Embeddings {
            return Err(BackendError::InvalidRequest(
                "embeddings cannot be streamed",
            ));
        }
        request.insert("stream".into(), Value::Bool(true));
        let options = request.entry("stream_options").or_insert_with(|| json!({}));
        match options {
            Value::Object(options) => {
                options.insert("include_usage".into(), Value::Bool(true));
            }
            _ => {
                return Err(BackendError::InvalidRequest(
                    "stream_options must be an object",
                ));
            }
        }
        let url = self.url(endpoint.path());
        let response = self.http.post(&url).json(&request).send().await;
        let response = check(url.clone(), response).await?;
        Ok(CompletionStream::new(url, response))
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }
}

/// Maps "no response" and non-success statuses to typed errors.
async fn check(
    url: String,
    response: reqwest::Result<reqwest::Response>,
) -> Result<reqwest::Response, BackendError> {
    let response = response.map_err(|source| BackendError::Unreachable {
        url: url.clone(),
        source,
    })?;
    let status = response.status();
    if status.is_success() {
        return Ok(response);
    }
    // The status is the error; a body lost on the way only loses detail.
    let body = response.text().await.unwrap_or_default();
    Err(BackendError::Status { url, status, body })
}

/// Reads a whole body, reporting a connection lost half-way as a cut.
async fn read_body(url: &str, mut response: reqwest::Response) -> Result<Bytes, BackendError> {
    let mut body = BytesMut::new();
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => body.extend_from_slice(&chunk),
            Ok(None) => return Ok(body.freeze()),
            Err(e) => {
                return Err(BackendError::StreamCut {
                    url: url.to_owned(),
                    received: body.len() as u64,
                    reason: stream::error_chain(&e),
                });
            }
        }
    }
}
