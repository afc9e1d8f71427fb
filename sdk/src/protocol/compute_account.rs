//! compute_account messages: one account per (hub, client, nonce) holds a
//! client's deposit for metered inference; relayers sign cumulative vouchers
//! per provider and anyone may post the newest to pay the delta.
//! See `contracts/Specification.md`, section compute_account.

use super::jetton::JettonCfg;
use super::relayer_set::{Proof, RelayerSet};
use super::{arc, cell, coins, expect_op, load_coins_u128};
use crate::message::StateInit;
use crate::signing::{PayloadHeader, tag};
use crate::{ArcCell, Cell, Result, TonAddress};

/// Op codes (contracts/func/op-codes.fc).
pub mod op {
    pub const INIT: u32 = 0x4341_0001;
    pub const DEPOSIT: u32 = 0x4341_0002;
    pub const SETTLE: u32 = 0x4341_0003;
    pub const REQUEST_WITHDRAW: u32 = 0x4341_0004;
    pub const WITHDRAW: u32 = 0x4341_0005;
    pub const REFRESH_RELAYERS: u32 = 0x4341_0006;
    pub const SET_CAPS: u32 = 0x4341_0007;
    pub const SETTLE_EXCESS: u32 = 0x4341_0008;
    pub const WITHDRAWN: u32 = 0x4341_0009;
    pub const PAYOUT: u32 = 0x4341_000a;
}

/// The voucher tag, "VCHR".
pub const VOUCHER_TAG: u32 = tag(b"VCHR");

/// The account's initial data, which fixes its address (protocol rule 6).
pub fn init_data(hub: &TonAddress, client: &TonAddress, nonce: u64) -> Result<Cell> {
    cell(|b| {
        b.store_address(hub)?
            .store_address(client)?
            .store_u64(64, nonce)?;
        Ok(())
    })
}

/// The account's state init (code from `contracts/build/compute_account.json`).
pub fn state_init(
    code: ArcCell,
    hub: &TonAddress,
    client: &TonAddress,
    nonce: u64,
) -> Result<StateInit> {
    Ok(StateInit::new(code, arc(init_data(hub, client, nonce)?)))
}

/// What the account snapshots at init.
#[derive(Debug, Clone)]
pub struct Params {
    pub relayers: RelayerSet,
    /// Paid to whoever posts a voucher (protocol rule 11), nanotons.
    pub settle_fee: u128,
    /// Seconds between a withdrawal request and the withdrawal.
    pub grace: u32,
    /// provider_stake's code: payouts go to the stake derived from (hub, owner).
    pub stake_code: ArcCell,
    pub jetton_wallet: Option<TonAddress>,
}

/// `init` body: sent with the state init by the hub or the client itself.
pub fn init_body(params: &Params, query_id: u64) -> Result<Cell> {
    init_body_with(params, None, query_id)
}

/// `init` body of a USDT account (protocol rule 7): `CaInitParams` with the
/// `JettonCfg` as a second ref; the account computes its own jetton wallet
/// from it and keeps every amount in jetton units. Deposits are then jetton
/// transfers to the account ([`super::jetton::transfer_body`]).
pub fn init_body_usdt(params: &Params, jetton: &JettonCfg, query_id: u64) -> Result<Cell> {
    init_body_with(params, Some(jetton.to_cell()?), query_id)
}

fn init_body_with(params: &Params, jetton: Option<Cell>, query_id: u64) -> Result<Cell> {
    let p = cell(|b| {
        b.store_child(params.relayers.to_cell().map_err(to_cell_err)?)?;
        b.store_coins(&coins(params.settle_fee))?;
        b.store_u32(32, params.grace)?;
        b.store_tonhash(&params.stake_code.cell_hash())?;
        b.store_u16(16, params.stake_code.cell_depth())?;
        match &params.jetton_wallet {
            Some(a) => b.store_address(a)?,
            None => b.store_u8(2, 0)?,
        };
        if let Some(j) = jetton {
            b.store_child(j)?;
        }
        Ok(())
    })?;
    cell(|b| {
        b.store_u32(32, op::INIT)?.store_u64(64, query_id)?;
        b.store_child(p)?.store_bit(false)?; // no caps
        Ok(())
    })
}

/// A body of just `op query_id` (deposit, request_withdraw, withdraw, refresh).
pub fn simple_body(op: u32, query_id: u64) -> Result<Cell> {
    cell(|b| {
        b.store_u32(32, op)?.store_u64(64, query_id)?;
        Ok(())
    })
}

/// A voucher: the cumulative amount the account owes `provider_owner`'s stake
/// in `epoch`, valid until `valid_until` (unix time).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Voucher {
    pub global_id: i32,
    pub account: TonAddress,
    pub epoch: u64,
    pub provider_owner: TonAddress,
    pub cumulative: u128,
    pub valid_until: u32,
}

impl Voucher {
    /// The signed cell.
    pub fn payload(&self) -> Result<Cell> {
        let header = PayloadHeader {
            tag: VOUCHER_TAG,
            global_id: self.global_id,
            target: self.account.clone(),
            id: self.epoch,
        };
        header.cell_with(|b| {
            b.store_address(&self.provider_owner)?;
            b.store_coins(&coins(self.cumulative))?
                .store_u32(32, self.valid_until)?;
            Ok(())
        })
    }
}

/// `settle` body: a voucher with its k-of-n proof.
pub fn settle_body(voucher: &Voucher, proof: &Proof, query_id: u64) -> Result<Cell> {
    let payload = voucher.payload()?;
    let mut b = crate::CellBuilder::new();
    b.store_u32(32, op::SETTLE)?.store_u64(64, query_id)?;
    proof.store(&mut b, &payload)?;
    Ok(b.build()?)
}

impl Voucher {
    /// Reads a signed voucher cell (the inverse of [`Voucher::payload`]).
    pub fn parse(payload: &Cell) -> Result<Self> {
        let mut p = payload.parser();
        let header = PayloadHeader::load(&mut p)?;
        if header.tag != VOUCHER_TAG {
            return Err(crate::Error::UnexpectedOp {
                expected: VOUCHER_TAG,
                got: header.tag,
            });
        }
        Ok(Self {
            global_id: header.global_id,
            account: header.target,
            epoch: header.id,
            provider_owner: p.load_address()?,
            cumulative: load_coins_u128(&mut p, "voucher cumulative")?,
            valid_until: p.load_u32(32)?,
        })
    }
}

/// A parsed `settle` body: the voucher and the signer bitmap (the account checked
/// the signatures).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settle {
    pub query_id: u64,
    pub signers: u16,
    pub voucher: Voucher,
}

/// Reads a `settle` body (what the watcher decodes from an account's settlement).
pub fn parse_settle(body: &Cell) -> Result<Settle> {
    let mut p = body.parser();
    let query_id = expect_op(&mut p, op::SETTLE)?;
    let signers = p.load_u16(16)?;
    let voucher = Voucher::parse(&*p.next_reference()?)?;
    Ok(Settle {
        query_id,
        signers,
        voucher,
    })
}

/// Reads the account's payout to a provider stake: `(query_id, amount)`.
pub fn parse_payout(body: &Cell) -> Result<(u64, u128)> {
    let mut p = body.parser();
    let query_id = expect_op(&mut p, op::PAYOUT)?;
    Ok((query_id, load_coins_u128(&mut p, "payout amount")?))
}

fn to_cell_err(e: crate::Error) -> crate::TonCellError {
    match e {
        crate::Error::Cell(c) => c,
        other => crate::TonCellError::CellBuilderError(other.to_string()),
    }
}

#[cfg(test)]
mod parse_tests {
    use super::*;

    fn addr(b: u8) -> TonAddress {
        TonAddress::new(0, crate::TonHash::from([b; 32]))
    }

    #[test]
    fn settle_round_trips() {
        let keys: Vec<_> = (1..=3u8)
            .map(|i| crate::SigningKey::from_bytes(&[i; 32]))
            .collect();
        let v = Voucher {
            global_id: -3,
            account: addr(1),
            epoch: 2,
            provider_owner: addr(3),
            cumulative: 5_000_000_001,
            valid_until: 1_900_000_000,
        };
        let proof = Proof::sign(2, &v.payload().unwrap(), &[(1, &keys[1]), (2, &keys[2])]).unwrap();
        let parsed = parse_settle(&settle_body(&v, &proof, 77).unwrap()).unwrap();
        assert_eq!(
            parsed,
            Settle {
                query_id: 77,
                signers: proof.signers,
                voucher: v
            }
        );
    }

    #[test]
    fn payout_and_wrong_ops() {
        let body = cell(|b| {
            b.store_u32(32, op::PAYOUT)?
                .store_u64(64, 9)?
                .store_coins(&coins(1234))?;
            Ok(())
        })
        .unwrap();
        assert_eq!(parse_payout(&body).unwrap(), (9, 1234));
        let deposit = simple_body(op::DEPOSIT, 1).unwrap();
        assert!(matches!(
            parse_settle(&deposit),
            Err(crate::Error::UnexpectedOp {
                expected: op::SETTLE,
                ..
            })
        ));
        assert!(matches!(
            parse_payout(&deposit),
            Err(crate::Error::UnexpectedOp { .. })
        ));
        assert!(parse_settle(&Cell::default()).is_err());
    }
}
