//! Deploying a Spindle hub with given parameters: what a local network (the
//! CLI tests, a devnet) needs before providers and clients can act under it.

use spindle_sdk::TonAddress;
use spindle_sdk::message::InternalMessage;
use spindle_sdk::protocol::hub::{self, HubCodes, HubParams};
use spindle_sdk::toncenter::Toncenter;

use crate::onchain::{Payer, wait_until};

/// The codes this build deploys children with.
pub fn codes() -> anyhow::Result<HubCodes> {
    Ok(HubCodes {
        escrow: crate::job::code()?,
        stake: spindle_sdk::artifact!("provider_stake")?.code,
        account: spindle_sdk::artifact!("compute_account")?.code,
    })
}

/// `governance` deploys a hub holding `params` (with 1 TON for rent) and
/// waits until it is active; returns its address.
pub async fn deploy(
    api: &Toncenter,
    governance: &Payer,
    params: &HubParams,
) -> anyhow::Result<TonAddress> {
    let init = hub::state_init(
        spindle_sdk::artifact!("hub")?.code,
        &governance.address,
        params,
        &codes()?,
    )?;
    let address = init.address(0)?;
    governance
        .send(
            api,
            vec![InternalMessage::new(address.clone(), 1_000_000_000).with_state_init(init)],
        )
        .await?;
    wait_until(|| async { Ok(api.get_address_information(&address).await?.state == "active") })
        .await?;
    Ok(address)
}
