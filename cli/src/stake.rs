//! A provider's stake: the provider_stake contract at the address the paying
//! contracts derive from (hub, owner), deployed and funded by the owner.

use spindle_sdk::message::InternalMessage;
use spindle_sdk::protocol::provider_stake::{self as ps, StakeConfig};
use spindle_sdk::toncenter::Toncenter;
use spindle_sdk::{ArcCell, TonAddress, VerifyingKey};

use crate::onchain::{Payer, get_ints};

/// provider_stake's compiled code.
pub fn code() -> anyhow::Result<ArcCell> {
    Ok(spindle_sdk::artifact!("provider_stake")?.code)
}

/// What `get_stake` reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StakeState {
    pub stake: u128,
    pub earned: u128,
    pub unbond_at: u32,
}

pub struct Stake {
    pub address: TonAddress,
}

impl Stake {
    /// The owner deploys its stake directly (protocol rule 6) with `amount`,
    /// naming the hot operator key its workers sign with.
    pub async fn deploy(
        api: &Toncenter,
        owner: &Payer,
        hub: &TonAddress,
        operator: &VerifyingKey,
        config: &StakeConfig,
        amount: u128,
    ) -> anyhow::Result<Self> {
        let init = ps::state_init(code()?, hub, &owner.address)?;
        let address = init.address(0)?;
        owner
            .send(api, vec![InternalMessage::new(address.clone(), amount)
                .with_state_init(init)
                .with_body(ps::init_body(operator, config, 0)?)])
            .await?;
        Ok(Self { address })
    }

    pub async fn state(&self, api: &Toncenter) -> anyhow::Result<StakeState> {
        let s = get_ints(api, &self.address, "get_stake", &[]).await?;
        let n = |i: usize| -> u128 {
            s.get(i).cloned().flatten().and_then(|v| u128::try_from(v).ok()).unwrap_or(0)
        };
        Ok(StakeState { stake: n(0), earned: n(1), unbond_at: n(2) as u32 })
    }
}
