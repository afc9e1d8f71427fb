//! The commented example configuration that `spindle relayer init` writes.

use std::path::Path;

use super::validate::{
    DEFAULT_CONFIRMATION_DEPTH, DEFAULT_GLOBAL_ID, DEFAULT_HEARTBEAT_SECS, DEFAULT_LEASE_SECS,
    DEFAULT_LISTEN, DEFAULT_RPS, DEFAULT_STORE_URL, DEFAULT_VOUCHER_POST,
};

/// What `spindle relayer init` fills into the example.
#[derive(Clone, Debug)]
pub struct ExampleSettings {
    pub hub: String,
    pub key_file: std::path::PathBuf,
    pub api_url: String,
    pub global_id: i32,
    pub store_url: String,
    pub listen: String,
}

impl ExampleSettings {
    /// The defaults: the local devnet's API, mainnet's id, SQLite in the working directory.
    pub fn new(hub: &str, key_file: &Path) -> Self {
        Self {
            hub: hub.to_owned(),
            key_file: key_file.to_owned(),
            api_url: "http://127.0.0.1:8081/api/v2/".into(),
            global_id: DEFAULT_GLOBAL_ID,
            store_url: DEFAULT_STORE_URL.into(),
            listen: DEFAULT_LISTEN.into(),
        }
    }
}

/// A complete, commented relayer config for `hub`, reading its key from `key_file`.
/// It loads as is (given the key file exists with mode 0600); every line says what it
/// does and which `SPINDLE_…` variable overrides it.
pub fn example_config(hub: &str, key_file: &Path) -> String {
    example_config_with(&ExampleSettings::new(hub, key_file))
}

/// [`example_config`] with every filled-in value chosen by the caller.
pub fn example_config_with(s: &ExampleSettings) -> String {
    let hub = toml_string(&s.hub);
    let key_file = toml_string(&s.key_file.display().to_string());
    let api_url = toml_string(&s.api_url);
    let store_url = toml_string(&s.store_url);
    let listen = toml_string(&s.listen);
    let global_id = s.global_id;
    format!(
        r#"# Spindle relayer configuration.
# Every scalar setting can be overridden by an environment variable named
# SPINDLE_<SECTION>_<KEY> (shown next to each); the environment wins over this file.

[chain]
# toncenter v2 API: the local devnet, or https://toncenter.com/api/v2/ (mainnet),
# https://testnet.toncenter.com/api/v2/ (testnet).              SPINDLE_CHAIN_API_URL
api_url = {api_url}
# API key, if the endpoint needs one. Prefer the environment for secrets.
# api_key = ""                                                  SPINDLE_CHAIN_API_KEY
# Requests per second the API (and key) allow.                  SPINDLE_CHAIN_RPS
rps = {DEFAULT_RPS}
# The Spindle hub contract this relayer serves.                 SPINDLE_CHAIN_HUB
hub = {hub}
# The network's global id: -239 mainnet, -3 testnet, -1313 the local devnet.
#                                                               SPINDLE_CHAIN_GLOBAL_ID
global_id = {global_id}
# Explorer for the dashboard's links (tonviewer layout: <base><address>,
# <base>transaction/<hash>). Default: tonviewer on mainnet and testnet, none on a
# devnet; "" turns links off.                                   SPINDLE_CHAIN_EXPLORER
# explorer = "https://testnet.tonviewer.com/"

[relayer]
# The relayer's ed25519 seed, 64 hex digits. Must be mode 0600; never logged.
#                                                               SPINDLE_RELAYER_KEY_FILE
key_file = {key_file}
# Where the job, worker and metrics API listens.                SPINDLE_RELAYER_LISTEN
listen = {listen}
# The key of the W5 wallet that posts vouchers and proofs (fund its address, which
# `spindle relayer init` prints). Default: the relayer key itself.
# wallet_key_file = "/etc/spindle/wallet.key"                  SPINDLE_RELAYER_WALLET_KEY_FILE

[store]
# sqlite://path (one process, WAL) or postgres://user@host/db (several replicas
# of this relayer sharing work; exactly one posts at a time).   SPINDLE_STORE_URL
url = {store_url}

# The relayer set this relayer signs in, as the hub holds it. Members default to
# this relayer and its peers ordered by key; list them when the hub's order differs.
[relayer_set]
# Signatures needed (default: a majority of the members).       SPINDLE_RELAYER_SET_K
# k = 2
# The set's version in the hub.                                 SPINDLE_RELAYER_SET_VERSION
version = 1
# members = ["<64 hex digits>", "<64 hex digits>", "<64 hex digits>"]

# The other relayers of the set (at most 9): their API URL and ed25519 public key.
# Environment: SPINDLE_PEERS="<pubkey>@<url>,<pubkey>@<url>" replaces the list.
# [[peers]]
# url = "https://relayer-2.example.org:8480"
# pubkey = "<64 hex digits>"

# Prices per (asset, model), in the asset's smallest unit (nanoton; USDT has 6
# decimals). min_job is the smallest job accepted. File only.
[[prices]]
asset = "TON"
model = "llama-3.1-8b-instruct"
per_million_tokens = 200000000
min_job = 10000000

# The OpenAI-compatible gateway and the worker API. File only.
[gateway]
# How often workers heartbeat; three missed beats drop a worker.
heartbeat_secs = 10
# Longest a request waits for a free worker before 503.
queue_timeout_ms = 30000
# Largest request body accepted (413 beyond).
max_body_bytes = 4194304
# Client API keys and the compute account each bills:
# [[gateway.api_keys]]
# key = "sk-..."
# account = "EQ..."
# Providers whose workers may connect (operator key hex, owner address):
# [[gateway.providers]]
# operator_key = "<64 hex digits>"
# owner = "EQ..."

[thresholds]
# Post a voucher once its unsettled amount passes this (smallest units).
#                                                               SPINDLE_THRESHOLDS_VOUCHER_POST
voucher_post = {DEFAULT_VOUCHER_POST}
# A worker's lease on a job lasts this long unless a heartbeat extends it.
#                                                               SPINDLE_THRESHOLDS_LEASE_DURATION_SECS
lease_duration_secs = {DEFAULT_LEASE_SECS}
# How often workers heartbeat; at most half the lease.          SPINDLE_THRESHOLDS_HEARTBEAT_INTERVAL_SECS
heartbeat_interval_secs = {DEFAULT_HEARTBEAT_SECS}
# Masterchain blocks a transaction must be under before the relayer acts on it.
#                                                               SPINDLE_THRESHOLDS_CONFIRMATION_DEPTH
confirmation_depth = {DEFAULT_CONFIRMATION_DEPTH}
"#
    )
}

/// A TOML basic string (escapes quotes and backslashes).
fn toml_string(s: &str) -> String {
    toml::Value::String(s.to_owned()).to_string()
}
