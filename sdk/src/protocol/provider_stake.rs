//! provider_stake messages: one stake per (hub, owner) holds the provider's
//! bonded TON (slashable only on checked evidence) and the earnings escrows and
//! compute accounts pay it. See `contracts/Specification.md`, provider_stake.

use super::{arc, cell, coins};
use crate::message::StateInit;
use crate::{ArcCell, Cell, Result, TonAddress, VerifyingKey};

/// Op codes (contracts/func/op-codes.fc).
pub mod op {
    pub const INIT: u32 = 0x5354_0001;
    pub const TOP_UP: u32 = 0x5354_0002;
    pub const SET_OPERATOR: u32 = 0x5354_0003;
    pub const UNBOND: u32 = 0x5354_0004;
    pub const WITHDRAW: u32 = 0x5354_0005;
    pub const COLLECT: u32 = 0x5354_0008;
}

/// Gas the stake charges to receive a payout (`ps::gas_payout`): the owner
/// earns the payout less this gas at the basechain price.
pub const PAYOUT_GAS: u128 = 3500;

/// The basechain gas price, nanotons per gas unit (config param 21 on mainnet,
/// testnet and the devnet).
pub const BASECHAIN_GAS_PRICE: u128 = 400;

/// What the owner earns from a payout of `value`.
pub fn earned_from_payout(value: u128) -> u128 {
    value.saturating_sub(PAYOUT_GAS * BASECHAIN_GAS_PRICE)
}

/// The stake's initial data, which fixes its address: (hub, owner).
pub fn init_data(hub: &TonAddress, owner: &TonAddress) -> Result<Cell> {
    cell(|b| {
        b.store_address(hub)?.store_address(owner)?;
        Ok(())
    })
}

/// The stake's state init (code from `contracts/build/provider_stake.json`).
pub fn state_init(code: ArcCell, hub: &TonAddress, owner: &TonAddress) -> Result<StateInit> {
    Ok(StateInit::new(code, arc(init_data(hub, owner)?)))
}

/// What a stake snapshots from the hub at init (`StakeCfg` in spindle.tlb).
#[derive(Debug, Clone)]
pub struct StakeConfig {
    /// Only escrows with this code can present slashing evidence.
    pub escrow_code: ArcCell,
    pub treasury: TonAddress,
    /// Slash = min(stake, pct/100 × job amount).
    pub slash_mult_pct: u16,
    pub finder_fee: u128,
    /// Seconds from an unbond request to the withdrawal.
    pub unbond_period: u32,
    pub min_stake: u128,
}

impl StakeConfig {
    pub fn to_cell(&self) -> Result<Cell> {
        cell(|b| {
            b.store_tonhash(&self.escrow_code.cell_hash())?;
            b.store_u16(16, self.escrow_code.cell_depth())?;
            b.store_address(&self.treasury)?
                .store_u16(16, self.slash_mult_pct)?;
            b.store_coins(&coins(self.finder_fee))?
                .store_u32(32, self.unbond_period)?;
            b.store_coins(&coins(self.min_stake))?;
            Ok(())
        })
    }
}

/// `init` body: the operator key and the config; the value sent with it
/// (less the reserve and gas) becomes the stake.
pub fn init_body(operator: &VerifyingKey, config: &StakeConfig, query_id: u64) -> Result<Cell> {
    let cfg = config.to_cell()?;
    cell(|b| {
        b.store_u32(32, op::INIT)?.store_u64(64, query_id)?;
        b.store_slice(operator.as_bytes())?.store_child(cfg)?;
        Ok(())
    })
}
