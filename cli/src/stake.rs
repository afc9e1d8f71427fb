//! The provider's stake as the demo uses it: the contract at the address the
//! paying contracts derive from (hub, owner).
//!
//! provider_stake.fc is still being written (issue 4), so for now the code at
//! that address is a minimal one that keeps what it receives; earnings are the
//! balance it gained. When provider_stake lands, `code` becomes its artifact
//! and `deploy`/`earnings` its stake op and get-method.
use crate::onchain::Payer;
use spindle_sdk::message::{InternalMessage, StateInit};
use spindle_sdk::toncenter::Toncenter;
use spindle_sdk::{ArcCell, Cell, TonAddress, boc};

pub fn code() -> anyhow::Result<ArcCell> {
    Ok(std::sync::Arc::new(Cell::default()))
}

pub struct Stake {
    pub address: TonAddress,
}

impl Stake {
    pub async fn deploy(api: &Toncenter, owner: &Payer, hub: &TonAddress, amount: u128) -> anyhow::Result<Self> {
        let data = boc::build(|b| {
            b.store_address(hub)?.store_address(&owner.address)?;
            Ok(())
        })?;
        let init = StateInit::new(code()?, data.into());
        let address = init.address(0)?;
        owner.send(api, vec![InternalMessage::new(address.clone(), amount).with_state_init(init)]).await?;
        Ok(Self { address })
    }

    /// What the stake received from `payer` (payout values, before the
    /// stake's own fees), from its transaction history.
    pub async fn received_from(&self, api: &Toncenter, payer: &TonAddress) -> anyhow::Result<u128> {
        let mut sum = 0;
        for tx in api.get_transactions(&self.address, 100, None).await? {
            if let Some(m) = tx.in_msg.filter(|m| !m.source.is_empty()) {
                if spindle_sdk::address::parse_address(&m.source)? == *payer {
                    sum += m.value;
                }
            }
        }
        Ok(sum)
    }
}
