//! Shared set-up for the end-to-end tests: a devnet served over HTTP, a
//! toncenter client pointed at it, and the genesis wallets as payers.

use std::time::Duration;

use spindle_cli::onchain::Payer;
use spindle_devnet::{Devnet, DevnetConfig, ServerHandle};
use spindle_sdk::SigningKey;
use spindle_sdk::toncenter::{Toncenter, ToncenterConfig};

/// A running devnet and a client for its API.
pub struct Net {
    pub devnet: Devnet,
    pub api: Toncenter,
    _server: ServerHandle,
}

impl Net {
    /// A devnet producing a block every 50 ms, served on a free loopback port.
    pub async fn start() -> anyhow::Result<Net> {
        let devnet = Devnet::new(DevnetConfig {
            block_interval: Some(Duration::from_millis(50)),
            ..DevnetConfig::default()
        })?;
        let server = devnet.serve("127.0.0.1:0".parse()?).await?;
        let mut config = ToncenterConfig::new(server.url.clone());
        config.requests_per_second = 10_000.0; // a local chain: no rate limit to respect
        let api = Toncenter::new(config);
        Ok(Net {
            devnet,
            api,
            _server: server,
        })
    }

    /// Genesis wallet `i` as a payer (checked to be the wallet the devnet funded).
    pub fn payer(&self, i: usize, name: &str) -> anyhow::Result<Payer> {
        let w = &self.devnet.wallets()[i];
        let payer = Payer::new(
            name,
            SigningKey::from_bytes(&w.secret_key),
            self.devnet.global_id(),
        )?;
        anyhow::ensure!(
            payer.address == w.address,
            "SDK and devnet derive different W5 addresses"
        );
        Ok(payer)
    }
}
