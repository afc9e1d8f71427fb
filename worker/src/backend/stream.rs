//! A streamed completion, passed through byte-for-byte, one whole SSE event at
//! a time, while the usage, the `[DONE]` marker and errors are read on the way.
//!
//! Whole events (not network chunks) are yielded so that whoever forwards them
//! never sends half an event, and knows exactly what the client has received
//! if the stream breaks. The yielded items concatenate to the exact body.

use super::{BackendError, ResultHash, StreamSummary, Usage};
use bytes::{Bytes, BytesMut};
use futures::{Stream, StreamExt, stream::BoxStream};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::pin::Pin;
use std::task::{Context, Poll, ready};

pub struct CompletionStream {
    url: String,
    body: BoxStream<'static, reqwest::Result<Bytes>>,
    pending: BytesMut,
    hasher: Sha256,
    received: u64,
    usage: Option<Usage>,
    done: bool,
    /// Set once the stream has ended, cleanly or not; nothing is polled after.
    ended: bool,
    summary: Option<StreamSummary>,
}

impl CompletionStream {
    pub(crate) fn new(url: String, response: reqwest::Response) -> Self {
        Self {
            url,
            body: response.bytes_stream().boxed(),
            pending: BytesMut::new(),
            hasher: Sha256::new(),
            received: 0,
            usage: None,
            done: false,
            ended: false,
            summary: None,
        }
    }

    /// Usage and result hash, once the stream has ended cleanly; `None` while
    /// it runs or after it failed.
    pub fn summary(&self) -> Option<StreamSummary> {
        self.summary
    }

    /// Reads the whole stream: its exact body and summary (for batch jobs,
    /// whose results are stored and hashed rather than forwarded live).
    pub async fn read_all(mut self) -> Result<(Bytes, StreamSummary), BackendError> {
        let mut body = BytesMut::new();
        while let Some(event) = self.next().await {
            body.extend_from_slice(&event?);
        }
        let summary = self
            .summary
            .expect("a stream that ended without error has a summary");
        Ok((body.freeze(), summary))
    }

    /// Inspects one complete event: `data: [DONE]`, a chunk that may carry
    /// `usage`, or an error (llama.cpp sends `error: {...}` lines; vLLM and
    /// SGLang a `data:` object with `error` or `"object": "error"`).
    fn inspect(&mut self, event: &[u8]) -> Result<(), BackendError> {
        let text = std::str::from_utf8(event)
            .map_err(|e| self.malformed(format!("event is not UTF-8: {e}")))?;
        let mut data: Option<String> = None;
        for line in text.lines() {
            if line.starts_with("error:") {
                return Err(self.stream_error(line));
            }
            if let Some(value) = line.strip_prefix("data:") {
                let value = value.strip_prefix(' ').unwrap_or(value);
                // Per the SSE spec several data lines form one payload.
                match &mut data {
                    Some(d) => {
                        d.push('\n');
                        d.push_str(value);
                    }
                    None => data = Some(value.to_owned()),
                }
            }
        }
        let Some(data) = data else { return Ok(()) };
        if data == "[DONE]" {
            self.done = true;
            return Ok(());
        }
        let json: Value = serde_json::from_str(&data)
            .map_err(|e| self.malformed(format!("bad chunk {data:?}: {e}")))?;
        if json.get("error").is_some()
            || json.get("object").and_then(Value::as_str) == Some("error")
        {
            return Err(self.stream_error(&data));
        }
        if let Some(usage) =
            Usage::from_response(&json).map_err(|e| self.malformed(format!("bad usage: {e}")))?
        {
            self.usage = Some(usage);
        }
        Ok(())
    }

    /// The end of the body: clean only after `[DONE]` and with usage.
    fn finish(&mut self) -> Result<Option<Bytes>, BackendError> {
        if !self.done {
            return Err(self.cut("the body ended before data: [DONE]".into()));
        }
        let usage = self.usage.ok_or_else(|| BackendError::MissingUsage {
            url: self.url.clone(),
        })?;
        self.summary = Some(StreamSummary {
            usage,
            result_hash: ResultHash(self.hasher.clone().finalize().into()),
            bytes: self.received,
        });
        // Whatever trailed the last event (whitespace) is still part of the body.
        Ok((!self.pending.is_empty()).then(|| self.pending.split().freeze()))
    }

    fn cut(&self, reason: String) -> BackendError {
        BackendError::StreamCut {
            url: self.url.clone(),
            received: self.received,
            reason,
        }
    }

    fn malformed(&self, reason: String) -> BackendError {
        BackendError::Malformed {
            url: self.url.clone(),
            reason,
        }
    }

    fn stream_error(&self, event: &str) -> BackendError {
        BackendError::StreamError {
            url: self.url.clone(),
            event: event.to_owned(),
        }
    }
}

impl Stream for CompletionStream {
    type Item = Result<Bytes, BackendError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        loop {
            if this.ended {
                return Poll::Ready(None);
            }
            if let Some(len) = event_len(&this.pending) {
                let event = this.pending.split_to(len).freeze();
                let result = this.inspect(&event).map(|()| event);
                this.ended = result.is_err();
                return Poll::Ready(Some(result));
            }
            let item = match ready!(this.body.poll_next_unpin(cx)) {
                Some(Ok(chunk)) => {
                    this.received += chunk.len() as u64;
                    this.hasher.update(&chunk);
                    this.pending.extend_from_slice(&chunk);
                    continue;
                }
                Some(Err(e)) => Some(Err(this.cut(error_chain(&e)))),
                None => this.finish().transpose(),
            };
            this.ended = true;
            return Poll::Ready(item);
        }
    }
}

/// Length of the first complete event in `buf`, through the blank line that
/// ends it (`\n\n` or `\r\n\r\n`), if `buf` holds one.
fn event_len(buf: &[u8]) -> Option<usize> {
    let mut line_start = 0;
    for (i, &b) in buf.iter().enumerate() {
        if b == b'\n' {
            let line = &buf[line_start..i];
            if line.is_empty() || line == b"\r" {
                return Some(i + 1);
            }
            line_start = i + 1;
        }
    }
    None
}

/// reqwest's top-level message ("error decoding response body") hides the
/// cause; the chain says what actually happened.
pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::event_len;

    #[test]
    fn events_end_at_a_blank_line() {
        assert_eq!(event_len(b"data: {}\n\ndata: [DONE]\n\n"), Some(10));
        assert_eq!(event_len(b"data: {}\r\n\r\nrest"), Some(12));
        assert_eq!(event_len(b"data: {\"a\":1}\n"), None);
        assert_eq!(event_len(b"data: 1\ndata: 2\n\n"), Some(17));
    }
}
