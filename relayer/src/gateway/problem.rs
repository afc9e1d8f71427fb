//! Errors as RFC 9457 problem+json. Each carries a named `type`
//! (`urn:spindle:problem:<name>`) and, so stock OpenAI clients show a useful
//! message, an OpenAI-style `error` object with the same text.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

#[derive(Debug, Clone)]
pub struct Problem {
    pub status: StatusCode,
    /// The short name in the `type` URN, e.g. `unknown-model`.
    pub name: &'static str,
    pub title: &'static str,
    pub detail: String,
    pub retry_after: Option<u64>,
    /// Further members (e.g. `balance_nanoton` on 402).
    pub extra: Vec<(&'static str, Value)>,
}

impl Problem {
    pub fn new(
        status: StatusCode,
        name: &'static str,
        title: &'static str,
        detail: impl Into<String>,
    ) -> Self {
        Self {
            status,
            name,
            title,
            detail: detail.into(),
            retry_after: None,
            extra: Vec::new(),
        }
    }

    pub fn retry_after(mut self, secs: u64) -> Self {
        self.retry_after = Some(secs);
        self
    }

    pub fn with(mut self, key: &'static str, value: Value) -> Self {
        self.extra.push((key, value));
        self
    }

    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "malformed-request",
            "Malformed request",
            detail,
        )
    }

    pub fn type_uri(&self) -> String {
        format!("urn:spindle:problem:{}", self.name)
    }

    pub fn body(&self) -> Value {
        let mut body = json!({
            "type": self.type_uri(),
            "title": self.title,
            "status": self.status.as_u16(),
            "detail": self.detail,
            "error": { "message": self.detail, "type": self.name, "code": self.name },
        });
        for (k, v) in &self.extra {
            body[*k] = v.clone();
        }
        body
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let mut response = (self.status, self.body().to_string()).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if let Some(secs) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}
