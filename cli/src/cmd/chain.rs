//! Where the commands talk to: the toncenter API (mainnet, testnet or a
//! devnet), the network id wallets sign for, and the Spindle hub whose
//! parameters every stake, escrow and account snapshots.

use anyhow::{Context, bail};
use spindle_sdk::protocol::hub::HubParams;
use spindle_sdk::toncenter::{StackValue, Toncenter, ToncenterConfig};
use spindle_sdk::{Error as SdkError, TESTNET_GLOBAL_ID, TonAddress, address};

/// Options every on-chain command takes.
#[derive(Debug, Clone, clap::Args)]
pub struct ChainArgs {
    /// toncenter v2 API, e.g. https://toncenter.com/api/v2 or a devnet's URL.
    #[arg(
        long,
        env = "SPINDLE_API_URL",
        default_value = "http://127.0.0.1:8081/api/v2",
        global = true
    )]
    pub api_url: String,
    /// toncenter API key (raises the rate limit).
    #[arg(long, env = "SPINDLE_API_KEY", hide_env_values = true, global = true)]
    pub api_key: Option<String>,
    /// Network id the wallet signs for: -239 mainnet, -3 testnet; `spindle devnet` prints its own.
    #[arg(long, env = "SPINDLE_GLOBAL_ID", default_value_t = spindle_sdk::MAINNET_GLOBAL_ID, allow_hyphen_values = true, global = true)]
    pub global_id: i32,
    /// Print one JSON object instead of human lines (for scripts).
    #[arg(long, global = true)]
    pub json: bool,
}

impl ChainArgs {
    pub fn api(&self) -> Toncenter {
        let mut c = ToncenterConfig::new(self.api_url.clone());
        if let Some(k) = &self.api_key {
            c = c.with_api_key(k.clone());
        }
        if self.api_url.contains("127.0.0.1") || self.api_url.contains("localhost") {
            c.requests_per_second = 1_000.0; // a local devnet has no rate limit
        }
        Toncenter::new(c)
    }

    pub fn testnet(&self) -> bool {
        self.global_id == TESTNET_GLOBAL_ID
    }

    /// A contract's address as wallets show it (bounceable).
    pub fn contract(&self, a: &TonAddress) -> String {
        address::to_user_friendly(a, true, self.testnet())
    }

    /// A wallet's address as wallets show it (non-bounceable).
    pub fn wallet(&self, a: &TonAddress) -> String {
        address::to_user_friendly(a, false, self.testnet())
    }

    pub fn output(&self) -> super::output::Output {
        super::output::Output { json: self.json }
    }
}

/// The hub a command acts under.
#[derive(Debug, Clone, clap::Args)]
pub struct HubArg {
    /// The Spindle hub's address (any form: raw 0:…, EQ…, UQ…).
    #[arg(long, env = "SPINDLE_HUB")]
    pub hub: String,
}

impl HubArg {
    pub fn address(&self) -> anyhow::Result<TonAddress> {
        parse_address("--hub", &self.hub)
    }
}

/// Parses an address in any common form, naming the flag and what to do
/// when it is wrong.
pub fn parse_address(flag: &str, s: &str) -> anyhow::Result<TonAddress> {
    match address::parse_address(s.trim()) {
        Ok(a) => Ok(a),
        Err(SdkError::AddressChecksum { .. }) => bail!(
            "{flag} {s:?}: the address checksum does not match, so it was mistyped or cut short; copy it again from your wallet or explorer"
        ),
        Err(e) => bail!(
            "{flag}: {e}; write an address as 0:<64 hex digits> or the 48-character EQ…/UQ… form"
        ),
    }
}

/// The hub's current parameters (`get_params`).
pub async fn hub_params(api: &Toncenter, hub: &TonAddress) -> anyhow::Result<HubParams> {
    let r = api
        .run_get_method(hub, "get_params", &[])
        .await
        .with_context(|| format!("could not read the hub's parameters at {hub}: is --hub / SPINDLE_HUB a Spindle hub on this network ({})?", "--api-url"))?;
    if r.exit_code != 0 {
        bail!(
            "{hub} is not a Spindle hub on this network (get_params exited {}); check --hub and --api-url",
            r.exit_code
        );
    }
    let cell = r
        .stack
        .first()
        .and_then(StackValue::as_cell)
        .context("the hub's get_params returned no cell: is --hub a Spindle hub?")?;
    Ok(HubParams::from_cell(cell).context("the hub's parameters do not parse")?)
}

/// The chain's current time as the API reports it (what contracts compare
/// deadlines and unbonding against).
pub async fn chain_now(api: &Toncenter, any: &TonAddress) -> anyhow::Result<u32> {
    Ok(api.get_address_information(any).await?.sync_utime as u32)
}
