//! From the file's raw shape to a [`Config`], collecting every problem on the way.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::{
    ChainConfig, Config, ConfigError, Peer, Price, Problem, RelayerKey, RelayerSetConfig, Secret,
    StoreUrl, Thresholds,
};

pub const DEFAULT_RPS: u32 = 10;
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8480";
pub const DEFAULT_STORE_URL: &str = "sqlite://spindle-relayer.db";
pub const DEFAULT_VOUCHER_POST: u64 = 1_000_000_000;
pub const DEFAULT_LEASE_SECS: u64 = 60;
pub const DEFAULT_HEARTBEAT_SECS: u64 = 10;
pub const DEFAULT_CONFIRMATION_DEPTH: u32 = 1;
/// TON mainnet's global id.
pub const DEFAULT_GLOBAL_ID: i32 = -239;
/// n ≤ 10 relayers in a set (protocol rule 10), so at most 9 peers.
const MAX_PEERS: usize = 9;

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct RawConfig {
    chain: RawChain,
    relayer: RawRelayer,
    store: RawStore,
    peers: Vec<RawPeer>,
    prices: Vec<RawPrice>,
    thresholds: RawThresholds,
    relayer_set: RawSet,
    /// Checked by deserialising into [`crate::gateway::GatewayConfig`].
    gateway: Option<toml::Table>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct RawSet {
    version: Option<i64>,
    k: Option<i64>,
    members: Option<Vec<String>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct RawChain {
    api_url: Option<String>,
    api_key: Option<String>,
    rps: Option<i64>,
    hub: Option<String>,
    global_id: Option<i64>,
    explorer: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct RawRelayer {
    key_file: Option<String>,
    listen: Option<String>,
    wallet_key_file: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct RawStore {
    url: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPeer {
    url: String,
    pubkey: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPrice {
    asset: String,
    model: String,
    per_million_tokens: i64,
    #[serde(default)]
    min_job: i64,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct RawThresholds {
    voucher_post: Option<i64>,
    lease_duration_secs: Option<i64>,
    heartbeat_interval_secs: Option<i64>,
    confirmation_depth: Option<i64>,
}

/// Names a setting together with its environment variable, if it has one.
fn setting(path: &str) -> String {
    let (section, key) = path.split_once('.').unwrap_or((path, ""));
    match super::env::ENV_VARS
        .iter()
        .find(|v| v.section == section && v.key == key)
    {
        Some(v) => format!("{path} ({})", v.name),
        None => path.to_owned(),
    }
}

struct Checker(Vec<Problem>);

impl Checker {
    fn fail(&mut self, path: &str, problem: impl Into<String>, fix: impl Into<String>) {
        self.0
            .push(Problem::new(setting(path), problem.into(), fix.into()));
    }

    fn required(&mut self, path: &str, value: Option<String>, fix: &str) -> Option<String> {
        match value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty()) {
            Some(v) => Some(v),
            None => {
                self.fail(path, "is missing", fix);
                None
            }
        }
    }

    fn range(&mut self, path: &str, value: Option<i64>, default: u64, min: u64, max: u64) -> u64 {
        let v = value.unwrap_or(default as i64);
        if v < min as i64 || v > max as i64 {
            self.fail(
                path,
                format!("is {v}"),
                format!("set it between {min} and {max} (default {default})"),
            );
            return default;
        }
        v as u64
    }

    fn http_url(&mut self, path: &str, text: &str) -> Option<url::Url> {
        match url::Url::parse(text) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => Some(u),
            Ok(_) => {
                self.fail(
                    path,
                    format!("{text:?} is not an http(s) URL"),
                    "write it as http://host:port/… or https://…",
                );
                None
            }
            Err(e) => {
                self.fail(
                    path,
                    format!("{text:?} is not a URL ({e})"),
                    "write it as http://host:port/… or https://…",
                );
                None
            }
        }
    }
}

pub(crate) fn validate(raw: RawConfig) -> Result<Config, ConfigError> {
    let mut c = Checker(Vec::new());

    // chain
    let api_url = c
        .required(
            "chain.api_url",
            raw.chain.api_url,
            "set the toncenter v2 API URL (the devnet's, or https://toncenter.com/api/v2/)",
        )
        .and_then(|u| c.http_url("chain.api_url", &u));
    let api_key = raw
        .chain
        .api_key
        .filter(|k| !k.trim().is_empty())
        .map(Secret::new);
    let rps = c.range("chain.rps", raw.chain.rps, DEFAULT_RPS as u64, 1, 10_000) as u32;
    let hub = c.required(
        "chain.hub",
        raw.chain.hub,
        "set the hub contract's address (shown by `spindle devnet` or the deployment)",
    );
    let hub_raw = hub
        .as_deref()
        .and_then(|h| match spindle_sdk::address::parse_address(h) {
            Ok(address) => Some(spindle_sdk::address::to_raw(&address)),
            Err(e) => {
                c.fail(
                    "chain.hub",
                    format!("{h:?} is not a TON address ({e})"),
                    "paste the hub address in raw (0:…) or user-friendly (EQ…) form",
                );
                None
            }
        });

    let global_id = match raw.chain.global_id.unwrap_or(DEFAULT_GLOBAL_ID as i64) {
        id if i32::try_from(id).is_ok() => id as i32,
        id => {
            c.fail(
                "chain.global_id",
                format!("is {id}"),
                "set the network's global id: -239 mainnet, -3 testnet, -1313 the local devnet",
            );
            DEFAULT_GLOBAL_ID
        }
    };

    // Explorer links on the dashboard: tonviewer for mainnet and testnet unless set;
    // none on a devnet unless one is set. "" turns links off.
    let explorer = match raw.chain.explorer.as_deref().map(str::trim) {
        Some("") => None,
        Some(e) => c
            .http_url("chain.explorer", e)
            .map(|u| u.to_string().trim_end_matches('/').to_owned() + "/"),
        None => match global_id {
            -239 => Some("https://tonviewer.com/".to_owned()),
            -3 => Some("https://testnet.tonviewer.com/".to_owned()),
            _ => None,
        },
    };

    // relayer key
    let key_file = c
        .required(
            "relayer.key_file",
            raw.relayer.key_file,
            "point it at the relayer's key file (`spindle relayer init` writes one)",
        )
        .map(PathBuf::from);
    let key = key_file
        .as_ref()
        .and_then(|path| check_key_file(&mut c, "relayer.key_file", path));

    let wallet_key = match raw.relayer.wallet_key_file.filter(|p| !p.trim().is_empty()) {
        Some(path) => check_key_file(&mut c, "relayer.wallet_key_file", &PathBuf::from(path)),
        None => key.as_ref().map(|k| RelayerKey::from_seed(*k.seed())),
    };

    let listen_text = raw
        .relayer
        .listen
        .unwrap_or_else(|| DEFAULT_LISTEN.to_owned());
    let listen = match listen_text.parse::<SocketAddr>() {
        Ok(a) => Some(a),
        Err(_) => {
            c.fail(
                "relayer.listen",
                format!("{listen_text:?} is not ip:port"),
                format!("write it like {DEFAULT_LISTEN} or 0.0.0.0:8480"),
            );
            None
        }
    };

    // store
    let store_url = raw
        .store
        .url
        .unwrap_or_else(|| DEFAULT_STORE_URL.to_owned());
    let store_ok = store_url.starts_with("sqlite:")
        || store_url.starts_with("postgres://")
        || store_url.starts_with("postgresql://");
    if !store_ok {
        c.fail(
            "store.url",
            format!(
                "{:?} is neither SQLite nor PostgreSQL",
                crate::store::redact_url(&store_url)
            ),
            "use sqlite://path/to/relayer.db (one process) or postgres://user@host/db (replicas)",
        );
    }

    // peers
    let mut peers = Vec::new();
    let mut seen = HashSet::new();
    if raw.peers.len() > MAX_PEERS {
        c.fail(
            "peers",
            format!("lists {} relayers", raw.peers.len()),
            format!("a relayer set has at most 10 members: list at most {MAX_PEERS} peers"),
        );
    }
    for (i, peer) in raw.peers.into_iter().enumerate() {
        let path = format!("peers[{i}]");
        let url = c.http_url(&format!("{path}.url"), &peer.url);
        let mut pubkey = [0u8; 32];
        let key_ok = hex::decode_to_slice(peer.pubkey.trim(), &mut pubkey).is_ok();
        if !key_ok {
            c.fail(
                &format!("{path}.pubkey"),
                "is not 64 hex digits",
                "paste the peer's ed25519 public key in hex (it prints it at start)",
            );
        } else if !seen.insert(pubkey) {
            c.fail(
                &format!("{path}.pubkey"),
                "repeats another peer's key",
                "list each relayer once",
            );
        }
        if let (Some(url), true) = (url, key_ok) {
            peers.push(Peer { url, pubkey });
        }
    }
    if let Some(own) = key.as_ref().map(RelayerKey::public_key)
        && peers.iter().any(|p| p.pubkey == own)
    {
        c.fail(
            "peers",
            format!("list this relayer's own key ({}…)", &hex::encode(own)[..16]),
            "list only the other relayers of the set",
        );
    }

    // prices
    let mut prices = Vec::new();
    let mut priced = HashSet::new();
    for (i, p) in raw.prices.into_iter().enumerate() {
        let path = format!("prices[{i}]");
        if !matches!(p.asset.as_str(), "TON" | "USDT") {
            c.fail(
                &format!("{path}.asset"),
                format!("{:?} is not a supported asset", p.asset),
                "use \"TON\" or \"USDT\"",
            );
        }
        if p.model.trim().is_empty() {
            c.fail(
                &format!("{path}.model"),
                "is empty",
                "name the model as workers advertise it",
            );
        }
        if p.per_million_tokens <= 0 {
            c.fail(
                &format!("{path}.per_million_tokens"),
                format!("is {}", p.per_million_tokens),
                "set a positive price in the asset's smallest unit",
            );
        }
        if p.min_job < 0 {
            c.fail(
                &format!("{path}.min_job"),
                format!("is {}", p.min_job),
                "set 0 or a positive amount",
            );
        }
        if !priced.insert((p.asset.clone(), p.model.clone())) {
            c.fail(
                &path,
                format!("prices {} / {} twice", p.asset, p.model),
                "keep one entry per (asset, model)",
            );
        }
        prices.push(Price {
            asset: p.asset,
            model: p.model,
            per_million_tokens: p.per_million_tokens.max(0) as u64,
            min_job: p.min_job.max(0) as u64,
        });
    }

    // thresholds
    let t = raw.thresholds;
    let voucher_post = c.range(
        "thresholds.voucher_post",
        t.voucher_post,
        DEFAULT_VOUCHER_POST,
        1,
        i64::MAX as u64,
    );
    let lease = c.range(
        "thresholds.lease_duration_secs",
        t.lease_duration_secs,
        DEFAULT_LEASE_SECS,
        5,
        86_400,
    );
    let heartbeat = c.range(
        "thresholds.heartbeat_interval_secs",
        t.heartbeat_interval_secs,
        DEFAULT_HEARTBEAT_SECS,
        1,
        3_600,
    );
    if heartbeat * 2 > lease {
        c.fail(
            "thresholds.heartbeat_interval_secs",
            format!("is {heartbeat}s, more than half the {lease}s lease"),
            "make it at most half of thresholds.lease_duration_secs, so one late heartbeat does not lose the lease",
        );
    }
    let depth = c.range(
        "thresholds.confirmation_depth",
        t.confirmation_depth,
        DEFAULT_CONFIRMATION_DEPTH as u64,
        0,
        100,
    ) as u32;

    let own = key.as_ref().map(RelayerKey::public_key);
    let relayer_set = relayer_set(&mut c, raw.relayer_set, own, &peers);
    let gateway = wallet_key
        .as_ref()
        .and_then(|w| gateway(&mut c, raw.gateway, w, global_id));

    match (
        c.0.is_empty(),
        (api_url, hub, hub_raw, key_file, key, listen),
        (wallet_key, relayer_set, gateway),
    ) {
        (
            true,
            (Some(api_url), Some(hub), Some(hub_raw), Some(key_file), Some(key), Some(listen)),
            (Some(wallet_key), Some(relayer_set), Some(gateway)),
        ) => Ok(Config {
            chain: ChainConfig {
                api_url,
                api_key,
                rps,
                hub,
                hub_raw,
                global_id,
                explorer,
            },
            key_file,
            key,
            listen,
            store_url: StoreUrl(store_url),
            peers,
            prices,
            thresholds: Thresholds {
                voucher_post,
                lease_duration: Duration::from_secs(lease),
                heartbeat_interval: Duration::from_secs(heartbeat),
                confirmation_depth: depth,
            },
            relayer_set,
            wallet_key,
            gateway,
        }),
        _ => Err(ConfigError::Invalid(c.0)),
    }
}

/// The key file must be a regular file that only its owner can read; its content is
/// parsed but never echoed.
fn check_key_file(c: &mut Checker, setting: &str, path: &PathBuf) -> Option<RelayerKey> {
    use std::os::unix::fs::PermissionsExt;
    let shown = path.display();
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) => {
            c.fail(
                setting,
                format!("{shown} cannot be opened ({e})"),
                "check the path, or create a key with `spindle relayer init`",
            );
            return None;
        }
    };
    if !meta.is_file() {
        c.fail(
            setting,
            format!("{shown} is not a regular file"),
            "point it at the key file itself",
        );
        return None;
    }
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        c.fail(
            setting,
            format!("{shown} has mode {mode:04o}, so other users can read the relayer key"),
            format!("run `chmod 600 {shown}`"),
        );
        return None;
    }
    match RelayerKey::read(path) {
        Ok(key) => Some(key),
        Err(why) => {
            c.fail(
                setting,
                format!("{shown} {why}"),
                "write the key as 64 hex digits, or create one with `spindle relayer init`",
            );
            None
        }
    }
}

/// The set: `members` in on-chain order if given (they must be exactly this relayer and
/// its peers), else this relayer and its peers ordered by key, so every member of a set
/// configured with the same peers derives the same set. `k` defaults to a majority.
fn relayer_set(
    c: &mut Checker,
    raw: RawSet,
    own: Option<[u8; 32]>,
    peers: &[super::Peer],
) -> Option<RelayerSetConfig> {
    let own = own?;
    let mut expected: Vec<[u8; 32]> = peers.iter().map(|p| p.pubkey).collect();
    expected.push(own);
    let members = match raw.members {
        None => {
            expected.sort();
            expected
        }
        Some(list) => {
            let mut members = Vec::new();
            for (i, text) in list.iter().enumerate() {
                let mut key = [0u8; 32];
                if hex::decode_to_slice(text.trim(), &mut key).is_err() {
                    c.fail(
                        &format!("relayer_set.members[{i}]"),
                        "is not 64 hex digits",
                        "list each member's ed25519 public key in hex, in the set's on-chain order",
                    );
                    return None;
                }
                members.push(key);
            }
            let mut a = members.clone();
            let mut b = expected.clone();
            a.sort();
            b.sort();
            if a != b {
                c.fail(
                    "relayer_set.members",
                    format!(
                        "lists {} keys that are not exactly this relayer ({}…) and its {} peers",
                        members.len(),
                        &hex::encode(own)[..16],
                        peers.len()
                    ),
                    "list this relayer's key and every [[peers]] key once, in the hub's order",
                );
                return None;
            }
            members
        }
    };
    let n = members.len() as u64;
    let k = c.range("relayer_set.k", raw.k, n / 2 + 1, 1, n) as u8;
    let version = c.range("relayer_set.version", raw.version, 1, 0, u32::MAX as u64) as u32;
    Some(RelayerSetConfig {
        version,
        k,
        members,
    })
}

/// The `[gateway]` table as a [`GatewayConfig`], its identity filled in from the wallet.
fn gateway(
    c: &mut Checker,
    table: Option<toml::Table>,
    wallet_key: &RelayerKey,
    global_id: i32,
) -> Option<crate::gateway::GatewayConfig> {
    let mut table = table.unwrap_or_default();
    for derived in ["relayer_address", "global_id"] {
        if table.contains_key(derived) {
            c.fail(
                &format!("gateway.{derived}"),
                "is derived, not configured",
                "remove it: the address is the relayer wallet's, the id is chain.global_id",
            );
            return None;
        }
    }
    let address = match super::wallet_of(wallet_key, global_id).address() {
        Ok(a) => spindle_sdk::address::to_raw(&a),
        Err(e) => {
            c.fail(
                "relayer.wallet_key_file",
                format!("gives no wallet address ({e})"),
                "use a valid ed25519 seed",
            );
            return None;
        }
    };
    table.insert("relayer_address".into(), toml::Value::String(address));
    table.insert("global_id".into(), toml::Value::Integer(global_id.into()));
    let config: crate::gateway::GatewayConfig = match toml::Value::Table(table).try_into() {
        Ok(g) => g,
        Err(e) => {
            c.fail(
                "gateway",
                format!("is not valid ({})", e.to_string().trim()),
                "see `spindle relayer init`'s example for the [gateway] settings",
            );
            return None;
        }
    };
    if let Err(e) = crate::gateway::ConfiguredProviders::from_config(&config.providers) {
        c.fail(
            "gateway.providers",
            e,
            "list each provider's operator key (64 hex digits) and owner address",
        );
        return None;
    }
    for (i, k) in config.api_keys.iter().enumerate() {
        if let Err(e) = spindle_sdk::address::parse_address(&k.account) {
            c.fail(
                &format!("gateway.api_keys[{i}].account"),
                format!("is not a TON address ({e})"),
                "write the compute account's address",
            );
        }
    }
    Some(config)
}
