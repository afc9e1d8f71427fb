//! The commented example configuration that `spindle relayer init` writes.

use std::path::Path;

use super::validate::{
    DEFAULT_CONFIRMATION_DEPTH, DEFAULT_HEARTBEAT_SECS, DEFAULT_LEASE_SECS, DEFAULT_LISTEN,
    DEFAULT_RPS, DEFAULT_STORE_URL, DEFAULT_VOUCHER_POST,
};

/// A complete, commented relayer config for `hub`, reading its key from `key_file`.
/// It loads as is (given the key file exists with mode 0600); every line says what it
/// does and which `SPINDLE_…` variable overrides it.
pub fn example_config(hub: &str, key_file: &Path) -> String {
    let hub = toml_string(hub);
    let key_file = toml_string(&key_file.display().to_string());
    format!(
        r#"# Spindle relayer configuration.
# Every scalar setting can be overridden by an environment variable named
# SPINDLE_<SECTION>_<KEY> (shown next to each); the environment wins over this file.

[chain]
# toncenter v2 API: the local devnet, or https://toncenter.com/api/v2/ (mainnet),
# https://testnet.toncenter.com/api/v2/ (testnet).              SPINDLE_CHAIN_API_URL
api_url = "http://127.0.0.1:8081/api/v2/"
# API key, if the endpoint needs one. Prefer the environment for secrets.
# api_key = ""                                                  SPINDLE_CHAIN_API_KEY
# Requests per second the API (and key) allow.                  SPINDLE_CHAIN_RPS
rps = {DEFAULT_RPS}
# The Spindle hub contract this relayer serves.                 SPINDLE_CHAIN_HUB
hub = {hub}

[relayer]
# The relayer's ed25519 seed, 64 hex digits. Must be mode 0600; never logged.
#                                                               SPINDLE_RELAYER_KEY_FILE
key_file = {key_file}
# Where the job, worker and metrics API listens.                SPINDLE_RELAYER_LISTEN
listen = "{DEFAULT_LISTEN}"

[store]
# sqlite://path (one process, WAL) or postgres://user@host/db (several replicas
# of this relayer sharing work; exactly one posts at a time).   SPINDLE_STORE_URL
url = "{DEFAULT_STORE_URL}"

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
