//! Typed failures of the backend client. Each variant tells the worker what to
//! do: withdraw capacity (the backend is down), pass a refusal on (HTTP status),
//! or report a broken result that must not be charged (cut or malformed).

use reqwest::StatusCode;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum BackendError {
    /// No HTTP response at all: connection refused or reset, timeout before
    /// the response headers.
    #[error("inference backend at {url} is unreachable: {source}")]
    Unreachable {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    /// The backend answered with a non-success status; `body` is its answer
    /// verbatim (OpenAI-style error JSON on all three servers).
    #[error("inference backend answered {status} at {url}: {body}")]
    Status {
        url: String,
        status: StatusCode,
        body: String,
    },
    /// A body (or a stream event) that is not the JSON the API promises.
    #[error("malformed response from inference backend at {url}: {reason}")]
    Malformed { url: String, reason: String },
    /// A completed response without `usage`: tokens cannot be metered, so the
    /// result must not be billed.
    #[error("response from inference backend at {url} carries no usage")]
    MissingUsage { url: String },
    /// The body ended or broke before it was complete (for a stream: before
    /// `data: [DONE]`), e.g. the backend died mid-generation.
    #[error("response from inference backend at {url} cut after {received} bytes: {reason}")]
    StreamCut {
        url: String,
        received: u64,
        reason: String,
    },
    /// The backend reported an error inside an otherwise successful stream.
    #[error("inference backend at {url} failed mid-stream: {event}")]
    StreamError { url: String, event: String },
    /// The request cannot be forwarded as given (e.g. a streamed embedding).
    #[error("invalid backend request: {0}")]
    InvalidRequest(&'static str),
}

impl BackendError {
    /// True when the backend cannot serve anything right now (unreachable, or
    /// 503 as llama.cpp answers while loading the model): the worker should
    /// withdraw its capacity rather than blame the request.
    pub fn is_unavailable(&self) -> bool {
        match self {
            Self::Unreachable { .. } => true,
            Self::Status { status, .. } => *status == StatusCode::SERVICE_UNAVAILABLE,
            _ => false,
        }
    }
}
