//! Paying from any wallet: TonConnect 2 `sendTransaction` requests and
//! `ton://transfer/<address>?amount=…&bin=…&init=…` links for a message.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;

use crate::message::InternalMessage;
use crate::{Result, address, boc};

/// The `params[0]` object of a TonConnect `sendTransaction` request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SendTransaction {
    /// Unix time after which the wallet must not send it.
    pub valid_until: u64,
    /// `"-239"` mainnet, `"-3"` testnet; omitted to let the wallet choose.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub network: Option<String>,
    pub messages: Vec<TonConnectMessage>,
}

/// One message in a [`SendTransaction`]: amounts in nanotons as decimal strings,
/// payload and state init as standard base64 BoCs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TonConnectMessage {
    pub address: String,
    pub amount: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payload: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state_init: Option<String>,
}

impl TonConnectMessage {
    /// The address is written user-friendly so the wallet honours the
    /// message's bounce flag.
    pub fn from_message(m: &InternalMessage, testnet: bool) -> Result<Self> {
        Ok(Self {
            address: address::to_user_friendly(&m.to, m.bounce, testnet),
            amount: m.value.to_string(),
            payload: m.body.as_deref().map(boc::to_boc_base64),
            state_init: m
                .state_init
                .as_ref()
                .map(|s| s.to_cell().map(|c| boc::to_boc_base64(&c)))
                .transpose()?,
        })
    }
}

impl SendTransaction {
    pub fn new(
        messages: &[InternalMessage],
        valid_until: u64,
        network_global_id: Option<i32>,
    ) -> Result<Self> {
        let testnet = network_global_id == Some(crate::TESTNET_GLOBAL_ID);
        Ok(Self {
            valid_until,
            network: network_global_id.map(|id| id.to_string()),
            messages: messages
                .iter()
                .map(|m| TonConnectMessage::from_message(m, testnet))
                .collect::<Result<_>>()?,
        })
    }

    /// The JSON-RPC request a dApp sends to the wallet over the bridge.
    pub fn to_request_json(&self, id: u64) -> serde_json::Value {
        serde_json::json!({
            "method": "sendTransaction",
            "params": [serde_json::to_string(self).expect("plain data serializes")],
            "id": id.to_string(),
        })
    }
}

/// A `ton://transfer` deep link (Tonkeeper and most wallets open it); BoCs are
/// URL-safe base64 so the link needs no escaping.
pub fn transfer_link(m: &InternalMessage, testnet: bool) -> Result<String> {
    let mut link = format!(
        "ton://transfer/{}?amount={}",
        address::to_user_friendly(&m.to, m.bounce, testnet),
        m.value
    );
    if let Some(body) = &m.body {
        link += &format!("&bin={}", URL_SAFE_NO_PAD.encode(boc::to_boc(body)));
    }
    if let Some(init) = &m.state_init {
        link += &format!(
            "&init={}",
            URL_SAFE_NO_PAD.encode(boc::to_boc(&init.to_cell()?))
        );
    }
    Ok(link)
}
