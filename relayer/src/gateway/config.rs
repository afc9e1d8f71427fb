//! The gateway's and worker API's settings (TOML, e.g. a `[gateway]` table).

use serde::Deserialize;
use std::time::Duration;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GatewayConfig {
    /// This relayer's address: the target of every payload workers sign for it.
    pub relayer_address: String,
    /// The network's global id (-239 mainnet, -3 testnet, the devnet's own).
    pub global_id: i32,
    /// Client API keys and the compute account each one bills.
    #[serde(default)]
    pub api_keys: Vec<ApiKeyEntry>,
    /// Providers allowed to connect workers, until the on-chain stake check
    /// replaces this list (see [`super::providers`]).
    #[serde(default)]
    pub providers: Vec<AllowedProvider>,
    /// How often workers must heartbeat; three missed beats drop the worker.
    #[serde(default = "d_heartbeat")]
    pub heartbeat_secs: u64,
    /// Longest a request waits in the fair queue for a free worker before 503.
    #[serde(default = "d_queue_ms")]
    pub queue_timeout_ms: u64,
    /// The `Retry-After` of 503 answers.
    #[serde(default = "d_retry_after")]
    pub retry_after_secs: u64,
    /// Largest request body accepted (413 beyond).
    #[serde(default = "d_body")]
    pub max_body_bytes: usize,
    /// Completion tokens assumed for the balance check when a request sets no
    /// `max_tokens`.
    #[serde(default = "d_max_tokens")]
    pub default_max_tokens: u64,
    /// Workers tried for one request when they fail before answering.
    #[serde(default = "d_attempts")]
    pub max_attempts: u32,
    /// Longest wait for a worker's first answer (a chunk, or the whole
    /// response) before the request is cancelled there and tried elsewhere.
    #[serde(default = "d_first_byte")]
    pub first_byte_timeout_secs: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiKeyEntry {
    pub key: String,
    /// The compute account (contract address) the key bills.
    pub account: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AllowedProvider {
    /// The operator public key, 64 hex digits.
    pub operator_key: String,
    /// The provider's owner address.
    pub owner: String,
}

fn d_heartbeat() -> u64 {
    10
}
fn d_queue_ms() -> u64 {
    30_000
}
fn d_retry_after() -> u64 {
    5
}
fn d_body() -> usize {
    4 << 20
}
fn d_max_tokens() -> u64 {
    4096
}
fn d_attempts() -> u32 {
    3
}
fn d_first_byte() -> u64 {
    // Long prompts on CPU backends take minutes before the first token.
    300
}

impl GatewayConfig {
    /// A config with every optional setting at its default.
    pub fn new(relayer_address: impl Into<String>, global_id: i32) -> Self {
        Self {
            relayer_address: relayer_address.into(),
            global_id,
            api_keys: Vec::new(),
            providers: Vec::new(),
            heartbeat_secs: d_heartbeat(),
            queue_timeout_ms: d_queue_ms(),
            retry_after_secs: d_retry_after(),
            max_body_bytes: d_body(),
            default_max_tokens: d_max_tokens(),
            max_attempts: d_attempts(),
            first_byte_timeout_secs: d_first_byte(),
        }
    }

    pub(crate) fn queue_timeout(&self) -> Duration {
        Duration::from_millis(self.queue_timeout_ms)
    }
}
