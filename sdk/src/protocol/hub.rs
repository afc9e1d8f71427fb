//! hub: the root contract. Its parameters (`HubParams` in spindle.tlb) are
//! what every child snapshots; the CLI reads them with `get_params` to build
//! stakes, escrows and accounts a relayer will accept, and to check amounts
//! against the hub's minimums before sending anything.
//! See `contracts/Specification.md`, section hub.

use super::jetton::JettonCfg;
use super::job_escrow::Config as EscrowConfig;
use super::provider_stake::StakeConfig;
use super::relayer_set::RelayerSet;
use super::{arc, cell, coins};
use crate::message::StateInit;
use crate::{ArcCell, Cell, Error, Result, TonAddress};

/// Op codes (contracts/func/op-codes.fc).
pub mod op {
    pub const CREATE_JOB: u32 = 0x4842_0001;
    pub const DEPLOY_STAKE: u32 = 0x4842_0002;
    pub const CREATE_ACCOUNT: u32 = 0x4842_0003;
    pub const PROPOSE_PARAMS: u32 = 0x4842_0004;
    pub const SET_PAUSED: u32 = 0x4842_0005;
    /// A USDT escrow with the hub's `JettonCfg`.
    pub const CREATE_JOB_USDT: u32 = 0x4842_0007;
    /// A USDT compute account with the hub's `JettonCfg`.
    pub const CREATE_ACCOUNT_USDT: u32 = 0x4842_0008;
}

/// The hub's current parameters (`get_params`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HubParams {
    /// Protocol fee on a job's pay, basis points.
    pub fee_bps: u16,
    pub min_stake: u128,
    /// Seconds from an unbond request to the withdrawal.
    pub unbond_period: u32,
    pub slash_mult_pct: u16,
    pub finder_fee: u128,
    pub settle_fee: u128,
    pub min_job: u128,
    /// A job's deadline must lie in [now + min_deadline, now + max_deadline].
    pub min_deadline: u32,
    pub max_deadline: u32,
    pub grace: u32,
    pub window: u32,
    /// Seconds between a compute account's withdrawal request and the withdrawal.
    pub account_grace: u32,
    pub delay: u32,
    pub relayers: RelayerSet,
    pub treasury: TonAddress,
    /// The accepted USDT (`HubAddrs.jetton`): USDT children copy it.
    pub jetton: Option<JettonCfg>,
}

impl HubParams {
    pub fn to_cell(&self) -> Result<Cell> {
        let relayers = self.relayers.to_cell()?;
        let jetton = self.jetton.as_ref().map(JettonCfg::to_cell).transpose()?;
        let addrs = cell(|b| {
            b.store_address(&self.treasury)?;
            match jetton {
                Some(j) => b.store_bit(true)?.store_child(j)?,
                None => b.store_bit(false)?,
            };
            Ok(())
        })?;
        cell(|b| {
            b.store_u16(16, self.fee_bps)?
                .store_coins(&coins(self.min_stake))?;
            b.store_u32(32, self.unbond_period)?
                .store_u16(16, self.slash_mult_pct)?;
            b.store_coins(&coins(self.finder_fee))?
                .store_coins(&coins(self.settle_fee))?;
            b.store_coins(&coins(self.min_job))?
                .store_u32(32, self.min_deadline)?;
            b.store_u32(32, self.max_deadline)?
                .store_u32(32, self.grace)?;
            b.store_u32(32, self.window)?
                .store_u32(32, self.account_grace)?;
            b.store_u32(32, self.delay)?
                .store_child(relayers)?
                .store_child(addrs)?;
            Ok(())
        })
    }

    /// Parses the cell `get_params` returns.
    pub fn from_cell(c: &Cell) -> Result<Self> {
        let mut p = c.parser();
        let n = |v: crate::BigUint| -> Result<u128> {
            u128::try_from(v).map_err(|_| Error::Key("hub params: amount over 128 bits".into()))
        };
        let fee_bps = p.load_u16(16)?;
        let min_stake = n(p.load_coins()?)?;
        let unbond_period = p.load_u32(32)?;
        let slash_mult_pct = p.load_u16(16)?;
        let finder_fee = n(p.load_coins()?)?;
        let settle_fee = n(p.load_coins()?)?;
        let min_job = n(p.load_coins()?)?;
        let min_deadline = p.load_u32(32)?;
        let max_deadline = p.load_u32(32)?;
        let grace = p.load_u32(32)?;
        let window = p.load_u32(32)?;
        let account_grace = p.load_u32(32)?;
        let delay = p.load_u32(32)?;
        let relayers = RelayerSet::from_cell(&*p.next_reference()?)?;
        let addrs = p.next_reference()?;
        let mut a = addrs.parser();
        let treasury = a.load_address()?;
        let jetton = match a.load_maybe_cell_ref()? {
            Some(c) => Some(JettonCfg::from_cell(&c)?),
            None => None,
        };
        Ok(Self {
            fee_bps,
            min_stake,
            unbond_period,
            slash_mult_pct,
            finder_fee,
            settle_fee,
            min_job,
            min_deadline,
            max_deadline,
            grace,
            window,
            account_grace,
            delay,
            relayers,
            treasury,
            jetton,
        })
    }

    /// What a stake deployed directly by its owner snapshots (the same
    /// `StakeCfg` the hub's `deploy_stake` would give it).
    pub fn stake_config(&self, escrow_code: ArcCell) -> StakeConfig {
        StakeConfig {
            escrow_code,
            treasury: self.treasury.clone(),
            slash_mult_pct: self.slash_mult_pct,
            finder_fee: self.finder_fee,
            unbond_period: self.unbond_period,
            min_stake: self.min_stake,
        }
    }

    /// What an escrow created directly by its client snapshots (the hub's
    /// `create_job` builds the same `EscrowCfg`).
    pub fn escrow_config(&self, stake_code: ArcCell) -> EscrowConfig {
        EscrowConfig {
            settle_fee: self.settle_fee,
            fee_bps: self.fee_bps,
            grace: self.grace,
            window: self.window,
            stake_code,
            treasury: self.treasury.clone(),
            relayers: self.relayers.clone(),
        }
    }

    /// What a compute account opened directly by its client snapshots.
    pub fn account_params(&self, stake_code: ArcCell) -> super::compute_account::Params {
        super::compute_account::Params {
            relayers: self.relayers.clone(),
            settle_fee: self.settle_fee,
            grace: self.account_grace,
            stake_code,
            jetton_wallet: None, // the hub's CaInitParams: a TON account
        }
    }
}

/// `create_job_usdt` body (client → hub): the hub deploys escrow(hub, client,
/// nonce) with `create_usdt` and its own [`JettonCfg`]; `amount` in jetton
/// units, `slash_amount` in nanoTON (≥ `min_job`). Attach settle_fee + 0.002
/// reserve + gas(16000 + 11000) + the deploy's forward fee; then fund the
/// escrow with [`super::job_escrow::usdt_fund_body`].
pub fn create_job_usdt_body(
    nonce: u64,
    job: &super::job_escrow::Job,
    slash_amount: u128,
    query_id: u64,
) -> Result<Cell> {
    cell(|b| {
        b.store_u32(32, op::CREATE_JOB_USDT)?
            .store_u64(64, query_id)?;
        b.store_u64(64, nonce)?.store_coins(&coins(job.amount))?;
        b.store_u32(32, job.deadline)?.store_slice(&job.spec_hash)?;
        b.store_coins(&coins(slash_amount))?;
        Ok(())
    })
}

/// `create_account_usdt` body (client → hub), no caps: a USDT compute account
/// with the hub's [`JettonCfg`]; deposits are jetton transfers to it.
pub fn create_account_usdt_body(nonce: u64, query_id: u64) -> Result<Cell> {
    cell(|b| {
        b.store_u32(32, op::CREATE_ACCOUNT_USDT)?
            .store_u64(64, query_id)?;
        b.store_u64(64, nonce)?.store_bit(false)?;
        Ok(())
    })
}

/// The codes the hub deploys (`HubCodes`).
#[derive(Debug, Clone)]
pub struct HubCodes {
    pub escrow: ArcCell,
    pub stake: ArcCell,
    pub account: ArcCell,
}

/// The hub's data at deployment (`HubStorage`): governance, not paused,
/// `params`, nothing pending, the children's codes.
pub fn init_data(governance: &TonAddress, params: &HubParams, codes: &HubCodes) -> Result<Cell> {
    let params = params.to_cell()?;
    let codes = cell(|b| {
        b.store_reference(&codes.escrow)?
            .store_reference(&codes.stake)?;
        b.store_reference(&codes.account)?;
        Ok(())
    })?;
    cell(|b| {
        b.store_address(governance)?.store_bit(false)?;
        b.store_child(params)?
            .store_bit(false)?
            .store_child(codes)?;
        Ok(())
    })
}

/// The hub's state init (code from `contracts/build/hub.json`).
pub fn state_init(
    code: ArcCell,
    governance: &TonAddress,
    params: &HubParams,
    codes: &HubCodes,
) -> Result<StateInit> {
    Ok(StateInit::new(
        code,
        arc(init_data(governance, params, codes)?),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SigningKey;

    #[test]
    fn params_round_trip_through_their_cell() {
        let keys = (1..=4u8)
            .map(|i| SigningKey::from_bytes(&[i; 32]).verifying_key())
            .collect();
        let treasury = TonAddress::new(0, crate::TonHash::from([7u8; 32]));
        let mut p = HubParams {
            fee_bps: 250,
            min_stake: 10_000_000_000,
            unbond_period: 7 * 86_400,
            slash_mult_pct: 200,
            finder_fee: 50_000_000,
            settle_fee: 10_000_000,
            min_job: 100_000_000,
            min_deadline: 60,
            max_deadline: 86_400,
            grace: 600,
            window: 3600,
            account_grace: 3600,
            delay: 200_000,
            relayers: RelayerSet::new(3, 3, keys).unwrap(),
            treasury: treasury.clone(),
            jetton: None,
        };
        assert_eq!(HubParams::from_cell(&p.to_cell().unwrap()).unwrap(), p);
        p.jetton = Some(JettonCfg {
            master: TonAddress::new(0, crate::TonHash::from([9u8; 32])),
            layout: super::super::jetton::WalletLayout::Governed,
            wallet_code_hash: crate::TonHash::from([8u8; 32]),
            wallet_code_depth: 0,
            transfer_ton: 50_000_000,
        });
        assert_eq!(HubParams::from_cell(&p.to_cell().unwrap()).unwrap(), p);
    }

    /// Cell hashes of the same bodies built by `contracts/wrappers/Spindle.ts`
    /// (hubCreateJobUsdtBody, hubCreateAccountUsdtBody), which the sandbox tests
    /// send to the real hub.
    #[test]
    fn usdt_create_bodies_match_the_typescript_wrappers() {
        let job = super::super::job_escrow::Job {
            amount: 100_000_000,
            deadline: 1_900_000_000,
            spec_hash: [7; 32],
        };
        let hash_hex = |c: Cell| hex::encode(c.cell_hash().as_slice());
        assert_eq!(
            hash_hex(create_job_usdt_body(3, &job, 1_000_000_000, 4).unwrap()),
            "fd733b2f1a14e4ae30dcd2cdcf45303ab4dbdfe6584ea7538d6bf3a07f00d4fd"
        );
        assert_eq!(
            hash_hex(create_account_usdt_body(3, 4).unwrap()),
            "c7d12da18fa01e9dd44e5024c39a867583716b17b9286731e8342c323670113f"
        );
    }
}
