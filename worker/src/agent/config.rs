//! `spindle worker run`'s configuration (TOML).
//!
//! ```toml
//! backend_url = "http://127.0.0.1:8080"
//! operator_key_file = "/etc/spindle/operator.key"   # 64 hex digits (ed25519 seed), mode 0600
//! owner = "EQ..."                                    # the provider's owner address
//! max_concurrency = 4
//!
//! [[relayers]]
//! url = "wss://relayer-1.example.org/v1/worker/connect"
//! address = "0:..."          # optional: refuse to authenticate to any other relayer
//!
//! [prices."smollm2-135m"]    # nanoTON per million tokens; "*" applies to unlisted models
//! prompt = 100000
//! cached_prompt = 10000
//! completion = 400000
//! ```

use crate::protocol::Prices;
use anyhow::{Context, bail};
use serde::Deserialize;
use spindle_sdk::{SigningKey, TonAddress};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkerConfig {
    /// The local OpenAI-compatible server (llama.cpp, vLLM, SGLang).
    pub backend_url: String,
    /// File holding the provider's operator key: the ed25519 seed as 64 hex digits.
    pub operator_key_file: PathBuf,
    /// The provider's owner address (any form `spindle_sdk::address` parses).
    pub owner: String,
    /// Requests served at once, per relayer connection.
    #[serde(default = "default_concurrency")]
    pub max_concurrency: u32,
    pub relayers: Vec<RelayerEndpoint>,
    /// Prices per model id; the key `"*"` prices every model not listed.
    /// Models without a price are not advertised.
    pub prices: BTreeMap<String, Prices>,
    /// How often the backend's health is checked.
    #[serde(default = "default_health_ms")]
    pub health_interval_ms: u64,
    /// Longest wait for in-flight requests on SIGTERM before closing anyway.
    #[serde(default = "default_drain_secs")]
    pub drain_timeout_secs: u64,
    /// Ceiling of the jittered reconnect backoff.
    #[serde(default = "default_backoff_ms")]
    pub max_backoff_ms: u64,
}

/// One relayer to serve.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RelayerEndpoint {
    /// `ws://` or `wss://` URL of the relayer's worker endpoint.
    pub url: String,
    /// The relayer's address; when set, a challenge naming any other target is refused.
    #[serde(default)]
    pub address: Option<String>,
}

fn default_concurrency() -> u32 {
    1
}
fn default_health_ms() -> u64 {
    2_000
}
fn default_drain_secs() -> u64 {
    300
}
fn default_backoff_ms() -> u64 {
    30_000
}

impl WorkerConfig {
    pub fn from_toml(text: &str) -> anyhow::Result<Self> {
        let config: Self = toml::from_str(text).context("invalid worker config")?;
        config.validate()?;
        Ok(config)
    }

    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read worker config {}", path.display()))?;
        Self::from_toml(&text).with_context(|| format!("in {}", path.display()))
    }

    pub fn validate(&self) -> anyhow::Result<()> {
        if self.relayers.is_empty() {
            bail!("relayers: at least one relayer is needed");
        }
        if self.max_concurrency == 0 {
            bail!("max_concurrency must be at least 1");
        }
        if self.prices.is_empty() {
            bail!("prices: no model is priced, so nothing would be advertised");
        }
        for r in &self.relayers {
            let url =
                url::Url::parse(&r.url).with_context(|| format!("relayer url {:?}", r.url))?;
            if !matches!(url.scheme(), "ws" | "wss") {
                bail!("relayer url {:?} must be ws:// or wss://", r.url);
            }
        }
        self.owner_address()?;
        Ok(())
    }

    pub fn owner_address(&self) -> anyhow::Result<TonAddress> {
        spindle_sdk::address::parse_address(&self.owner).context("owner is not an address")
    }

    /// Reads the operator key file (64 hex digits, surrounding whitespace ignored).
    pub fn operator_key(&self) -> anyhow::Result<SigningKey> {
        let text = std::fs::read_to_string(&self.operator_key_file).with_context(|| {
            format!(
                "cannot read operator key {}",
                self.operator_key_file.display()
            )
        })?;
        let bytes = hex::decode(text.trim()).context("operator key is not hex")?;
        let seed: [u8; 32] = bytes
            .try_into()
            .map_err(|_| anyhow::anyhow!("operator key must be 32 bytes (64 hex digits)"))?;
        Ok(SigningKey::from_bytes(&seed))
    }

    /// The price of `model`, if it is to be advertised.
    pub fn price_of(&self, model: &str) -> Option<Prices> {
        self.prices
            .get(model)
            .or_else(|| self.prices.get("*"))
            .copied()
    }

    pub(crate) fn health_interval(&self) -> Duration {
        Duration::from_millis(self.health_interval_ms.max(50))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = r#"
        backend_url = "http://127.0.0.1:8080"
        operator_key_file = "/nonexistent/operator.key"
        owner = "0:0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e"
        max_concurrency = 4

        [[relayers]]
        url = "wss://relayer-1.example.org/v1/worker/connect"

        [prices."smollm2-135m"]
        prompt = 100000
        cached_prompt = 10000
        completion = 400000

        [prices."*"]
        prompt = 1
        cached_prompt = 1
        completion = 1
    "#;

    #[test]
    fn example_parses_and_prices_fall_back_to_star() {
        let c = WorkerConfig::from_toml(EXAMPLE).unwrap();
        assert_eq!(c.max_concurrency, 4);
        assert_eq!(c.health_interval_ms, 2_000);
        assert_eq!(c.price_of("smollm2-135m").unwrap().completion, 400_000);
        assert_eq!(c.price_of("other").unwrap().completion, 1);
        assert!(
            c.operator_key()
                .unwrap_err()
                .to_string()
                .contains("operator key")
        );
    }

    #[test]
    fn bad_configs_are_refused_with_the_reason() {
        let bad = [
            (EXAMPLE.replace("wss://", "https://"), "ws:// or wss://"),
            (
                EXAMPLE.replace("max_concurrency = 4", "max_concurrency = 0"),
                "max_concurrency",
            ),
            (EXAMPLE.replace("owner = \"0:", "owner = \"x:"), "owner"),
            (
                EXAMPLE.replace("max_concurrency", "max_concurency"),
                "unknown field",
            ),
        ];
        for (text, why) in bad {
            let e = format!("{:#}", WorkerConfig::from_toml(&text).unwrap_err());
            assert!(e.contains(why), "{why}: {e}");
        }
    }
}
