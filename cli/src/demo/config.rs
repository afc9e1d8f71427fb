//! What the demo configures: the hub's parameters, and each relayer's config
//! file, as an operator would write it after `spindle relayer init`.

use std::path::Path;

use spindle_sdk::protocol::hub::HubParams;
use spindle_sdk::protocol::relayer_set::RelayerSet;
use spindle_sdk::{TonAddress, address};

use super::TON;
use super::setup::{API_KEY, Provider};

/// The hub's parameters: a 5% protocol fee, 10 TON minimum stake, jobs from
/// 0.1 TON with deadlines from 60 s, a 60 s grace and a 10 min evidence window.
pub fn hub_params(relayers: RelayerSet, treasury: TonAddress) -> HubParams {
    HubParams {
        fee_bps: 500,
        min_stake: 10 * TON,
        unbond_period: 7 * 24 * 3600,
        slash_mult_pct: 200,
        finder_fee: TON / 20,
        settle_fee: TON / 100,
        min_job: TON / 10,
        min_deadline: 60,
        max_deadline: 86_400,
        grace: 60,
        window: 600,
        account_grace: 600,
        delay: 90_000,
        relayers,
        treasury,
        jetton: None,
    }
}

pub struct RelayerToml<'a> {
    pub i: usize,
    pub dir: &'a Path,
    pub api_url: &'a str,
    pub hub: &'a TonAddress,
    pub global_id: i32,
    pub ports: &'a [u16],
    pub keys: &'a RelayerSet,
    pub key_file: &'a Path,
    pub providers: &'a [Provider],
    pub account: Option<&'a TonAddress>,
}

/// What `spindle relayer init` would write, filled in for this relayer.
pub fn relayer_toml(t: &RelayerToml) -> String {
    let hexkey = |k: &spindle_sdk::VerifyingKey| hex::encode(k.as_bytes());
    let members: Vec<String> = t
        .keys
        .keys
        .iter()
        .map(|k| format!("\"{}\"", hexkey(k)))
        .collect();
    let peers: String = (0..t.ports.len())
        .filter(|&j| j != t.i)
        .map(|j| {
            format!(
                "[[peers]]\nurl = \"http://127.0.0.1:{}\"\npubkey = \"{}\"\n",
                t.ports[j],
                hexkey(&t.keys.keys[j])
            )
        })
        .collect();
    let providers: String = t
        .providers
        .iter()
        .map(|p| {
            format!(
                "[[gateway.providers]]\noperator_key = \"{}\"\nowner = \"{}\"\n",
                hexkey(&p.operator.verifying_key()),
                address::to_raw(&p.owner.address)
            )
        })
        .collect();
    let api_keys = t.account.map_or(String::new(), |a| {
        format!(
            "[[gateway.api_keys]]\nkey = \"{API_KEY}\"\naccount = \"{}\"\n",
            address::to_raw(a)
        )
    });
    format!(
        r#"[chain]
api_url = "{api}"
rps = 1000
hub = "{hub}"
global_id = {global_id}

[relayer]
key_file = "{key}"
listen = "127.0.0.1:{port}"

[store]
url = "sqlite://{store}?mode=rwc"

[relayer_set]
version = {version}
k = {k}
members = [{members}]

{peers}
[gateway]
heartbeat_secs = 1
queue_timeout_ms = 2000

{providers}
{api_keys}
[thresholds]
# Post every voucher at the poster's next pass (every 10 s), however small.
voucher_post = 1
confirmation_depth = 0
lease_duration_secs = 6
heartbeat_interval_secs = 2
"#,
        api = t.api_url,
        hub = address::to_raw(t.hub),
        global_id = t.global_id,
        key = t.key_file.display(),
        port = t.ports[t.i],
        store = t.dir.join(format!("relayer-{}.db", t.i + 1)).display(),
        version = t.keys.version,
        k = t.keys.k,
        members = members.join(", "),
    )
}
