//! Relayer configuration: a TOML file plus `SPINDLE_…` environment overrides (see
//! [`env`](mod@env) for the mapping), validated once at start. Every problem found is reported
//! together, each saying which setting is wrong and what to do about it, so an operator
//! fixes a config in one pass. [`example::example_config`] writes a commented file.
//!
//! Secrets (the relayer key, the chain API key, a store password) are held in types
//! whose `Debug` output is redacted, so printing a [`Config`] never leaks them.

pub mod env;
pub mod example;
mod secret;
mod validate;

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use example::{ExampleSettings, example_config, example_config_with};
pub use secret::{RelayerKey, Secret};

/// A validated relayer configuration.
#[derive(Debug)]
pub struct Config {
    pub chain: ChainConfig,
    /// Path of the key file (checked: a regular file, mode 0600 or stricter).
    pub key_file: PathBuf,
    /// The relayer's signing key, read from `key_file`.
    pub key: RelayerKey,
    /// Address the relayer's HTTP API listens on.
    pub listen: SocketAddr,
    pub store_url: StoreUrl,
    /// The other relayers of the set (this one excluded).
    pub peers: Vec<Peer>,
    pub prices: Vec<Price>,
    pub thresholds: Thresholds,
    /// The relayer set this relayer signs in, as the contracts snapshot it.
    pub relayer_set: RelayerSetConfig,
    /// The key of the W5 wallet that posts vouchers and proofs (by default the relayer
    /// key itself: one key file to guard). Its wallet address is the relayer's address.
    pub wallet_key: RelayerKey,
    /// The OpenAI-compatible gateway and worker API (`[gateway]`); its
    /// `relayer_address` and `global_id` are derived, not configured.
    pub gateway: crate::gateway::GatewayConfig,
}

/// The relayer set (`[relayer_set]`): its version, threshold and members in on-chain
/// order. Every member of a set must configure the same set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RelayerSetConfig {
    pub version: u32,
    pub k: u8,
    /// ed25519 public keys in the set's order (this relayer's and its peers').
    pub members: Vec<[u8; 32]>,
}

impl RelayerSetConfig {
    /// The set as the SDK builds and checks it.
    pub fn to_set(&self) -> Result<spindle_sdk::protocol::relayer_set::RelayerSet, String> {
        let keys = self
            .members
            .iter()
            .map(|k| spindle_sdk::VerifyingKey::from_bytes(k).map_err(|e| e.to_string()))
            .collect::<Result<Vec<_>, _>>()?;
        spindle_sdk::protocol::relayer_set::RelayerSet::new(self.version, self.k, keys)
            .map_err(|e| e.to_string())
    }
}

impl Config {
    /// The W5 wallet (workchain 0) that posts on-chain for this relayer.
    pub fn wallet(&self) -> spindle_sdk::wallet::WalletV5R1 {
        wallet_of(&self.wallet_key, self.chain.global_id)
    }
}

pub(crate) fn wallet_of(key: &RelayerKey, global_id: i32) -> spindle_sdk::wallet::WalletV5R1 {
    let public = spindle_sdk::SigningKey::from_bytes(key.seed()).verifying_key();
    spindle_sdk::wallet::WalletV5R1::new(public, 0, global_id)
}

/// How to reach the chain.
#[derive(Debug)]
pub struct ChainConfig {
    /// toncenter v2 API base (devnet, testnet or mainnet).
    pub api_url: url::Url,
    pub api_key: Option<Secret<String>>,
    /// Requests per second the API key allows.
    pub rps: u32,
    /// The hub contract's address, as written in the config.
    pub hub: String,
    /// The same address in raw `workchain:hex` form, as the store keys addresses.
    pub hub_raw: String,
    /// The network's global id (-239 mainnet, -3 testnet, -1313 the devnet): part of
    /// every signed payload and of the wallet's id.
    pub global_id: i32,
    /// Base URL the dashboard appends `<address>` or `transaction/<hash>` to for
    /// explorer links (tonviewer's layout); defaults to tonviewer on mainnet and
    /// testnet, none on a devnet.
    pub explorer: Option<String>,
}

/// Where the store lives; `Debug` and `Display` hide a password.
#[derive(Clone, PartialEq, Eq)]
pub struct StoreUrl(String);

impl StoreUrl {
    /// The full URL, password included: pass it to [`crate::Store::connect`] only.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_postgres(&self) -> bool {
        self.0.starts_with("postgres")
    }
}

impl fmt::Debug for StoreUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StoreUrl({:?})", crate::store::redact_url(&self.0))
    }
}

impl fmt::Display for StoreUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&crate::store::redact_url(&self.0))
    }
}

/// Another relayer of the set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Peer {
    pub url: url::Url,
    pub pubkey: [u8; 32],
}

/// This relayer's price for a model in an asset (smallest units of the asset).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Price {
    /// `TON` or `USDT`.
    pub asset: String,
    pub model: String,
    pub per_million_tokens: u64,
    /// Smallest job accepted (covers settlement gas).
    pub min_job: u64,
}

/// Timing and amount thresholds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Thresholds {
    /// Post a voucher once its unsettled amount passes this (smallest units).
    pub voucher_post: u64,
    pub lease_duration: Duration,
    pub heartbeat_interval: Duration,
    /// Masterchain blocks a transaction must be under before the relayer acts on it.
    pub confirmation_depth: u32,
}

/// One thing wrong with the configuration, and how to fix it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// The setting (`chain.api_url`) or variable (`SPINDLE_CHAIN_RPS`).
    pub setting: String,
    pub problem: String,
    pub fix: String,
}

impl Problem {
    pub fn new(setting: impl Into<String>, problem: String, fix: String) -> Self {
        Problem {
            setting: setting.into(),
            problem,
            fix,
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {} — {}", self.setting, self.problem, self.fix)
    }
}

/// Why the configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error(
        "cannot read config file {path}: {source} — check the path, or run `spindle relayer init` to write one"
    )]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config {origin} is not valid: {message}")]
    Parse { origin: String, message: String },
    #[error("invalid relayer configuration:\n{}", render(.0))]
    Invalid(Vec<Problem>),
}

impl ConfigError {
    /// The individual problems (empty unless `Invalid`).
    pub fn problems(&self) -> &[Problem] {
        match self {
            ConfigError::Invalid(p) => p,
            _ => &[],
        }
    }
}

fn render(problems: &[Problem]) -> String {
    problems
        .iter()
        .map(|p| format!("  - {p}"))
        .collect::<Vec<_>>()
        .join("\n")
}

impl Config {
    /// Loads `path` (if any) with overrides from the process environment.
    pub fn load(path: Option<&Path>) -> Result<Config, ConfigError> {
        Self::load_with_env(path, std::env::vars())
    }

    /// Loads `path` (if any) with overrides from `env` (for tests and embedding).
    pub fn load_with_env(
        path: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, ConfigError> {
        let (text, origin) = match path {
            Some(path) => (
                std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                    path: path.to_owned(),
                    source,
                })?,
                path.display().to_string(),
            ),
            None => (String::new(), "(environment only)".to_owned()),
        };
        Self::from_toml_str(&text, &origin, env)
    }

    /// Parses and validates config text; `origin` names it in errors.
    pub fn from_toml_str(
        text: &str,
        origin: &str,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, ConfigError> {
        let mut table: toml::Table =
            text.parse()
                .map_err(|e: toml::de::Error| ConfigError::Parse {
                    origin: origin.into(),
                    message: e.to_string(),
                })?;
        let env: Vec<(String, String)> = env
            .into_iter()
            .filter(|(k, _)| k.starts_with("SPINDLE_"))
            .collect();
        let mut problems = Vec::new();
        env::apply(&mut table, &env, &mut problems);
        if !problems.is_empty() {
            return Err(ConfigError::Invalid(problems));
        }
        let raw: validate::RawConfig =
            toml::Value::Table(table)
                .try_into()
                .map_err(|e: toml::de::Error| ConfigError::Parse {
                    origin: origin.into(),
                    message: e.to_string(),
                })?;
        validate::validate(raw)
    }
}
