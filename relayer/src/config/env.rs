//! Environment overrides: every scalar setting can be set as `SPINDLE_<SECTION>_<KEY>`
//! (upper case), which wins over the file. Peers are one variable; prices are file-only.
//!
//! | variable | setting | example |
//! |---|---|---|
//! | `SPINDLE_CHAIN_API_URL` | `chain.api_url` | `https://toncenter.com/api/v2/` |
//! | `SPINDLE_CHAIN_API_KEY` | `chain.api_key` | (secret) |
//! | `SPINDLE_CHAIN_RPS` | `chain.rps` | `10` |
//! | `SPINDLE_CHAIN_HUB` | `chain.hub` | `EQ…` |
//! | `SPINDLE_CHAIN_GLOBAL_ID` | `chain.global_id` | `-239` |
//! | `SPINDLE_CHAIN_EXPLORER` | `chain.explorer` | `https://testnet.tonviewer.com/` |
//! | `SPINDLE_RELAYER_KEY_FILE` | `relayer.key_file` | `/etc/spindle/relayer.key` |
//! | `SPINDLE_RELAYER_LISTEN` | `relayer.listen` | `0.0.0.0:8480` |
//! | `SPINDLE_RELAYER_WALLET_KEY_FILE` | `relayer.wallet_key_file` | `/etc/spindle/wallet.key` |
//! | `SPINDLE_RELAYER_SET_K` | `relayer_set.k` | `2` |
//! | `SPINDLE_RELAYER_SET_VERSION` | `relayer_set.version` | `1` |
//! | `SPINDLE_STORE_URL` | `store.url` | `postgres://spindle@db/spindle` |
//! | `SPINDLE_PEERS` | `[[peers]]` (replaces all) | `<pubkey hex>@https://r2:8480,<pubkey hex>@https://r3:8480` |
//! | `SPINDLE_THRESHOLDS_VOUCHER_POST` | `thresholds.voucher_post` | `1000000000` |
//! | `SPINDLE_THRESHOLDS_LEASE_DURATION_SECS` | `thresholds.lease_duration_secs` | `60` |
//! | `SPINDLE_THRESHOLDS_HEARTBEAT_INTERVAL_SECS` | `thresholds.heartbeat_interval_secs` | `10` |
//! | `SPINDLE_THRESHOLDS_CONFIRMATION_DEPTH` | `thresholds.confirmation_depth` | `1` |
//!
//! Other `SPINDLE_…` variables belong to other components and are ignored here.

use toml::{Table, Value};

use super::Problem;

#[derive(Clone, Copy)]
enum Kind {
    Text,
    Integer,
}

/// One environment override: variable name, (section, key) in the file, value type.
pub struct EnvVar {
    pub name: &'static str,
    pub section: &'static str,
    pub key: &'static str,
    kind: Kind,
}

const fn var(name: &'static str, section: &'static str, key: &'static str, kind: Kind) -> EnvVar {
    EnvVar {
        name,
        section,
        key,
        kind,
    }
}

/// Every scalar override (see the module docs); `SPINDLE_PEERS` is handled apart.
pub const ENV_VARS: &[EnvVar] = &[
    var("SPINDLE_CHAIN_API_URL", "chain", "api_url", Kind::Text),
    var("SPINDLE_CHAIN_API_KEY", "chain", "api_key", Kind::Text),
    var("SPINDLE_CHAIN_RPS", "chain", "rps", Kind::Integer),
    var("SPINDLE_CHAIN_HUB", "chain", "hub", Kind::Text),
    var(
        "SPINDLE_CHAIN_GLOBAL_ID",
        "chain",
        "global_id",
        Kind::Integer,
    ),
    var("SPINDLE_CHAIN_EXPLORER", "chain", "explorer", Kind::Text),
    var(
        "SPINDLE_RELAYER_KEY_FILE",
        "relayer",
        "key_file",
        Kind::Text,
    ),
    var("SPINDLE_RELAYER_LISTEN", "relayer", "listen", Kind::Text),
    var(
        "SPINDLE_RELAYER_WALLET_KEY_FILE",
        "relayer",
        "wallet_key_file",
        Kind::Text,
    ),
    var("SPINDLE_RELAYER_SET_K", "relayer_set", "k", Kind::Integer),
    var(
        "SPINDLE_RELAYER_SET_VERSION",
        "relayer_set",
        "version",
        Kind::Integer,
    ),
    var("SPINDLE_STORE_URL", "store", "url", Kind::Text),
    var(
        "SPINDLE_THRESHOLDS_VOUCHER_POST",
        "thresholds",
        "voucher_post",
        Kind::Integer,
    ),
    var(
        "SPINDLE_THRESHOLDS_LEASE_DURATION_SECS",
        "thresholds",
        "lease_duration_secs",
        Kind::Integer,
    ),
    var(
        "SPINDLE_THRESHOLDS_HEARTBEAT_INTERVAL_SECS",
        "thresholds",
        "heartbeat_interval_secs",
        Kind::Integer,
    ),
    var(
        "SPINDLE_THRESHOLDS_CONFIRMATION_DEPTH",
        "thresholds",
        "confirmation_depth",
        Kind::Integer,
    ),
];

/// The variable that replaces the peer list: comma-separated `pubkey@url`.
pub const PEERS_VAR: &str = "SPINDLE_PEERS";

/// Writes the overrides found in `env` into the parsed file `table`.
pub(crate) fn apply(table: &mut Table, env: &[(String, String)], problems: &mut Vec<Problem>) {
    for (name, value) in env {
        if name == PEERS_VAR {
            match parse_peers(value) {
                Ok(peers) => {
                    table.insert("peers".into(), Value::Array(peers));
                }
                Err(problem) => problems.push(problem),
            }
            continue;
        }
        let Some(var) = ENV_VARS.iter().find(|v| v.name == name) else {
            continue;
        };
        let value = match var.kind {
            Kind::Text => Value::String(value.clone()),
            Kind::Integer => match value.trim().parse::<i64>() {
                Ok(n) => Value::Integer(n),
                Err(_) => {
                    problems.push(Problem::new(
                        var.name,
                        format!("{value:?} is not a whole number"),
                        format!(
                            "set {} to a non-negative integer, or unset it to use the file",
                            var.name
                        ),
                    ));
                    continue;
                }
            },
        };
        let section = table
            .entry(var.section)
            .or_insert_with(|| Value::Table(Table::new()));
        match section {
            Value::Table(section) => {
                section.insert(var.key.into(), value);
            }
            _ => problems.push(Problem::new(
                var.section,
                "is not a table in the config file".into(),
                format!("write it as a [{}] section", var.section),
            )),
        }
    }
}

fn parse_peers(value: &str) -> Result<Vec<Value>, Problem> {
    value
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|entry| {
            let (pubkey, url) = entry.split_once('@').ok_or_else(|| {
                Problem::new(
                    PEERS_VAR,
                    format!("entry {entry:?} is not pubkey@url"),
                    "write each peer as <64 hex digits of its ed25519 public key>@<its URL>, comma-separated".into(),
                )
            })?;
            let mut peer = Table::new();
            peer.insert("pubkey".into(), Value::String(pubkey.trim().into()));
            peer.insert("url".into(), Value::String(url.trim().into()));
            Ok(Value::Table(peer))
        })
        .collect()
}
