//! Values the backend client hands back: metered usage, the result hash, the
//! exact response body and the served models.

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use std::fmt;

/// The OpenAI endpoints the worker forwards (named in snake case on the
/// relayer connection: `chat_completions`, `completions`, `embeddings`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Endpoint {
    ChatCompletions,
    Completions,
    Embeddings,
}

impl Endpoint {
    pub fn path(self) -> &'static str {
        match self {
            Self::ChatCompletions => "/v1/chat/completions",
            Self::Completions => "/v1/completions",
            Self::Embeddings => "/v1/embeddings",
        }
    }
}

/// Token counts as the backend reported them; the only source for billing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Usage {
    pub prompt_tokens: u64,
    /// Zero for embeddings, which generate nothing.
    pub completion_tokens: u64,
    pub total_tokens: u64,
    /// Prompt tokens served from the backend's prompt cache
    /// (`usage.prompt_tokens_details.cached_tokens`); 0 when not reported.
    pub cached_tokens: u64,
}

/// `usage` as it appears on the wire: embeddings omit `completion_tokens`, and
/// `prompt_tokens_details` is absent or `null` unless the server reports caching.
#[derive(Deserialize)]
struct WireUsage {
    prompt_tokens: u64,
    #[serde(default)]
    completion_tokens: u64,
    total_tokens: u64,
    #[serde(default)]
    prompt_tokens_details: Option<WireDetails>,
}

#[derive(Deserialize)]
struct WireDetails {
    #[serde(default)]
    cached_tokens: Option<u64>,
}

impl Usage {
    /// Reads the `usage` member of a response or stream chunk; `Ok(None)` when
    /// it is absent or `null` (streams carry it only in their last chunk).
    pub fn from_response(json: &Value) -> Result<Option<Usage>, serde_json::Error> {
        match json.get("usage") {
            None | Some(Value::Null) => Ok(None),
            Some(usage) => {
                let wire = WireUsage::deserialize(usage)?;
                Ok(Some(Usage {
                    prompt_tokens: wire.prompt_tokens,
                    completion_tokens: wire.completion_tokens,
                    total_tokens: wire.total_tokens,
                    cached_tokens: wire
                        .prompt_tokens_details
                        .and_then(|d| d.cached_tokens)
                        .unwrap_or(0),
                }))
            }
        }
    }
}

/// SHA-256 over the exact bytes of a response body as the backend sent it
/// (for a stream: every SSE byte up to and including `data: [DONE]`). It binds
/// the delivered bytes, not the content: two identical generations still hash
/// differently because responses carry a fresh `id` and `created` time.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ResultHash(pub [u8; 32]);

impl ResultHash {
    pub fn of(bytes: &[u8]) -> Self {
        Self(Sha256::digest(bytes).into())
    }
}

impl fmt::Display for ResultHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for ResultHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ResultHash({self})")
    }
}

/// A complete non-streaming answer.
#[derive(Debug, Clone)]
pub struct BackendResponse {
    /// The body byte-for-byte, to pass on to the client unchanged.
    pub body: Bytes,
    /// The same body, parsed.
    pub json: Value,
    pub usage: Usage,
    pub result_hash: ResultHash,
}

/// How a stream ended cleanly: its final usage and the hash of all its bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamSummary {
    pub usage: Usage,
    pub result_hash: ResultHash,
    pub bytes: u64,
}

/// One entry of `GET /v1/models`.
#[derive(Debug, Clone, Deserialize)]
pub struct Model {
    /// The name requests must use: llama.cpp's `--alias`, vLLM's and SGLang's
    /// `--served-model-name` (by default the model path).
    pub id: String,
    #[serde(default)]
    pub owned_by: Option<String>,
    /// Server-specific fields, kept as sent: llama.cpp's `meta` (`n_embd`,
    /// `n_ctx_train`, ...), vLLM's `max_model_len` and `root`.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Deserialize)]
pub(crate) struct ModelList {
    pub data: Vec<Model>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn usage_reads_chat_embedding_and_absent_forms() {
        let chat = json!({"usage": {"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10,
                                    "prompt_tokens_details": {"cached_tokens": 6}}});
        let embedding = json!({"usage": {"prompt_tokens": 4, "total_tokens": 4}});
        let vllm = json!({"usage": {"prompt_tokens": 4, "completion_tokens": 0, "total_tokens": 4,
                                    "prompt_tokens_details": null}});
        assert_eq!(
            Usage::from_response(&chat).unwrap(),
            Some(Usage {
                prompt_tokens: 7,
                completion_tokens: 3,
                total_tokens: 10,
                cached_tokens: 6
            })
        );
        let four = Some(Usage {
            prompt_tokens: 4,
            completion_tokens: 0,
            total_tokens: 4,
            cached_tokens: 0,
        });
        assert_eq!(Usage::from_response(&embedding).unwrap(), four);
        assert_eq!(Usage::from_response(&vllm).unwrap(), four);
        assert_eq!(Usage::from_response(&json!({"usage": null})).unwrap(), None);
        assert!(Usage::from_response(&json!({"usage": {"total_tokens": 1}})).is_err());
    }

    #[test]
    fn result_hash_is_sha256_of_the_bytes() {
        assert_eq!(
            ResultHash::of(b"abc").to_string(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
