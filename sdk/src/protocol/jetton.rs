//! USDT (TEP-74 jettons) on Spindle's side: the `JettonCfg` a USDT escrow or
//! account snapshots (which master, which wallet layout and code, TON per
//! transfer), the wallet address each child computes for itself, the
//! `transfer` a payer sends to its own jetton wallet to fund a child, and the
//! `transfer_notification` the child receives. See `contracts/Specification.md`,
//! section "USDT (jettons)", and `contracts/func/jetton.fc`.

use super::{cell, coins, expect_op, load_coins_u128};
use crate::{Cell, CellParser, Error, Result, TonAddress, TonHash};
use sha2::{Digest, Sha256};

/// Op codes (TEP-74).
pub mod op {
    pub const TRANSFER: u32 = 0x0f8a_7ea5;
    pub const NOTIFICATION: u32 = 0x7362_d09c;
    pub const EXCESSES: u32 = 0xd532_76db;
}

/// How a jetton wallet's initial data is laid out, which decides its address
/// (`JettonCfg.wallet_layout`, `jt::wallet_hash`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WalletLayout {
    /// TEP-74 reference wallet (token-contract): `balance owner master code:^Cell`.
    Reference = 0,
    /// Governed stablecoin wallet (stablecoin-contract, the mainnet USDT):
    /// `status:uint4 balance owner master`, code kept as a library cell.
    Governed = 1,
}

impl WalletLayout {
    fn from_u8(v: u8) -> Result<Self> {
        match v {
            0 => Ok(Self::Reference),
            1 => Ok(Self::Governed),
            _ => Err(Error::OutOfRange("jetton wallet layout")),
        }
    }
}

/// `JettonCfg`: what a USDT child needs to compute its own jetton wallet and
/// pay through it. The hub's `HubAddrs.jetton` is the accepted one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JettonCfg {
    pub master: TonAddress,
    pub layout: WalletLayout,
    /// Hash and depth of the wallets' StateInit code cell (for a library cell:
    /// the library cell's own hash, depth 0).
    pub wallet_code_hash: TonHash,
    pub wallet_code_depth: u16,
    /// TON the child attaches to each jetton transfer it sends, nanotons.
    pub transfer_ton: u128,
}

impl JettonCfg {
    pub(crate) fn store(&self, b: &mut crate::CellBuilder) -> Result<(), crate::TonCellError> {
        b.store_address(&self.master)?
            .store_u8(4, self.layout as u8)?;
        b.store_tonhash(&self.wallet_code_hash)?
            .store_u16(16, self.wallet_code_depth)?;
        b.store_coins(&coins(self.transfer_ton))?;
        Ok(())
    }

    /// The `JettonCfg` cell (a USDT account's init carries it as a second ref).
    pub fn to_cell(&self) -> Result<Cell> {
        cell(|b| self.store(b))
    }

    /// `EscrowJettonCfg` = this + `slash_amount` (nanoTON the provider's stake
    /// is slashed against, since a jetton amount cannot be compared with TON).
    pub fn escrow_cell(&self, slash_amount: u128) -> Result<Cell> {
        cell(|b| {
            self.store(b)?;
            b.store_coins(&coins(slash_amount))?;
            Ok(())
        })
    }

    pub(crate) fn load(p: &mut CellParser) -> Result<Self> {
        let master = p.load_address()?;
        let layout = WalletLayout::from_u8(p.load_u8(4)?)?;
        let wallet_code_hash = p.load_tonhash()?;
        let wallet_code_depth = p.load_u16(16)?;
        let transfer_ton = load_coins_u128(p, "jetton transfer_ton")?;
        Ok(Self {
            master,
            layout,
            wallet_code_hash,
            wallet_code_depth,
            transfer_ton,
        })
    }

    pub fn from_cell(c: &Cell) -> Result<Self> {
        Self::load(&mut c.parser())
    }

    /// The jetton wallet `master` deploys for `owner` (workchain 0), the same
    /// computation as the contracts' `jt::wallet_hash`: StateInit{code, data}
    /// hashed from the code's (hash, depth) without the code cell.
    pub fn wallet_address(&self, owner: &TonAddress) -> Result<TonAddress> {
        let (depth, hash) = (self.wallet_code_depth, &self.wallet_code_hash);
        let (data_depth, data) = match self.layout {
            // d1 = 1, d2 = 135, 4 zero bits (balance), owner, master, tag "100000", code ref depth + hash
            WalletLayout::Reference => (
                depth + 1,
                cell(|b| {
                    b.store_u16(16, 0x0187)?.store_u8(4, 0)?;
                    b.store_address(owner)?.store_address(&self.master)?;
                    b.store_u8(6, 0x20)?.store_u16(16, depth)?;
                    b.store_tonhash(hash)?;
                    Ok(())
                })?,
            ),
            // d1 = 0, d2 = 135, 8 zero bits (status, balance), owner, master, tag "10"
            WalletLayout::Governed => (
                0,
                cell(|b| {
                    b.store_u16(16, 0x0087)?.store_u8(8, 0)?;
                    b.store_address(owner)?.store_address(&self.master)?;
                    b.store_u8(2, 2)?;
                    Ok(())
                })?,
            ),
        };
        let data_hash: [u8; 32] = Sha256::digest(data.data()).into();
        let init = cell(|b| {
            b.store_u32(24, 0x02_0134)?.store_u16(16, depth)?;
            b.store_u16(16, data_depth)?.store_tonhash(hash)?;
            b.store_slice(&data_hash)?;
            Ok(())
        })?;
        let h: [u8; 32] = Sha256::digest(init.data()).into();
        Ok(TonAddress::new(0, TonHash::from(h)))
    }
}

/// TEP-74 `transfer`, sent by a wallet's owner to its own jetton wallet: move
/// `amount` to `destination`, excess TON to `response`, and notify the
/// destination with `forward_ton` (must be > 0 to fund a Spindle child: no
/// notification, no credit; see `Specification.md` for how much).
pub fn transfer_body(
    amount: u128,
    destination: &TonAddress,
    response: &TonAddress,
    forward_ton: u128,
    forward_payload: Option<Cell>,
    query_id: u64,
) -> Result<Cell> {
    cell(|b| {
        b.store_u32(32, op::TRANSFER)?.store_u64(64, query_id)?;
        b.store_coins(&coins(amount))?.store_address(destination)?;
        b.store_address(response)?.store_bit(false)?; // no custom payload
        b.store_coins(&coins(forward_ton))?;
        match forward_payload {
            Some(p) => b.store_bit(true)?.store_child(p)?,
            None => b.store_bit(false)?,
        };
        Ok(())
    })
}

/// A received `transfer_notification` (what a USDT child's wallet sends it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    pub query_id: u64,
    pub amount: u128,
    /// The payer (owner of the sending wallet).
    pub from: TonAddress,
}

/// Reads a `transfer_notification` body (the forward payload is not read).
pub fn parse_notification(body: &Cell) -> Result<Notification> {
    let mut p = body.parser();
    let query_id = expect_op(&mut p, op::NOTIFICATION)?;
    let amount = load_coins_u128(&mut p, "jetton amount")?;
    let from = p.load_address()?;
    Ok(Notification {
        query_id,
        amount,
        from,
    })
}

/// Reads a jetton `transfer` body a USDT child sent to its wallet (payout,
/// fee, refund): (query_id, amount, destination, forward_ton).
pub fn parse_transfer(body: &Cell) -> Result<(u64, u128, TonAddress, u128)> {
    let mut p = body.parser();
    let query_id = expect_op(&mut p, op::TRANSFER)?;
    let amount = load_coins_u128(&mut p, "jetton amount")?;
    let dest = p.load_address()?;
    p.load_address()?;
    if p.load_bit()? {
        p.next_reference()?;
    }
    let forward_ton = load_coins_u128(&mut p, "jetton forward_ton")?;
    Ok((query_id, amount, dest, forward_ton))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::StateInit;
    use std::sync::Arc;

    fn addr(b: u8) -> TonAddress {
        TonAddress::new(0, TonHash::from([b; 32]))
    }

    /// The address formula against a real StateInit cell, for both layouts.
    #[test]
    fn wallet_address_matches_a_real_state_init() {
        let inner = cell(|c| {
            c.store_u8(8, 7)?;
            Ok(())
        })
        .unwrap();
        let code = Arc::new(
            cell(|b| {
                b.store_u32(32, 0xdead_beef)?.store_child(inner)?;
                Ok(())
            })
            .unwrap(),
        );
        let (master, owner) = (addr(1), addr(2));
        let mut cfg = JettonCfg {
            master: master.clone(),
            layout: WalletLayout::Reference,
            wallet_code_hash: code.cell_hash(),
            wallet_code_depth: code.cell_depth(),
            transfer_ton: 50_000_000,
        };
        let data = cell(|b| {
            b.store_coins(&coins(0))?.store_address(&owner)?;
            b.store_address(&master)?.store_reference(&code)?;
            Ok(())
        })
        .unwrap();
        let real = StateInit::new(code.clone(), Arc::new(data))
            .address(0)
            .unwrap();
        assert_eq!(cfg.wallet_address(&owner).unwrap(), real);

        // governed: a depth-0 code cell stands for the library cell (hash + depth 0)
        let leaf = Arc::new(
            cell(|b| {
                b.store_u32(32, 0x1234_5678)?;
                Ok(())
            })
            .unwrap(),
        );
        cfg.layout = WalletLayout::Governed;
        cfg.wallet_code_hash = leaf.cell_hash();
        cfg.wallet_code_depth = 0;
        let data = cell(|b| {
            b.store_u8(4, 0)?.store_coins(&coins(0))?;
            b.store_address(&owner)?.store_address(&master)?;
            Ok(())
        })
        .unwrap();
        let real = StateInit::new(leaf, Arc::new(data)).address(0).unwrap();
        assert_eq!(cfg.wallet_address(&owner).unwrap(), real);
        assert_ne!(cfg.wallet_address(&addr(3)).unwrap(), real);
    }

    /// A governed wallet whose StateInit code is a real library cell (hash
    /// 909f…, depth 0, the library of hash [6; 32]), address computed by @ton/core
    /// `contractAddress` (the same as `wrappers/Jetton.ts governedWalletAddress`).
    #[test]
    fn governed_wallet_address_with_a_library_cell_matches_ton_core() {
        let cfg = JettonCfg {
            master: addr(1),
            layout: WalletLayout::Governed,
            wallet_code_hash: TonHash::from(
                <[u8; 32]>::try_from(
                    hex::decode("909fcc22fe91713a10ff0aa38444e776c8cae427ff5b04d7cedaf4aba13ef2cd")
                        .unwrap(),
                )
                .unwrap(),
            ),
            wallet_code_depth: 0,
            transfer_ton: 1,
        };
        assert_eq!(
            crate::address::to_raw(&cfg.wallet_address(&addr(2)).unwrap()),
            "0:e137eb4517954c70bfc00e96b399a4e42d72639f2df7249176f07276f96b12ea"
        );
    }

    #[test]
    fn cfg_round_trips_and_refuses_unknown_layouts() {
        let cfg = JettonCfg {
            master: addr(5),
            layout: WalletLayout::Governed,
            wallet_code_hash: TonHash::from([6u8; 32]),
            wallet_code_depth: 0,
            transfer_ton: 50_000_000,
        };
        assert_eq!(JettonCfg::from_cell(&cfg.to_cell().unwrap()).unwrap(), cfg);
        let escrow = cfg.escrow_cell(7).unwrap();
        let mut p = escrow.parser();
        assert_eq!(JettonCfg::load(&mut p).unwrap(), cfg);
        assert_eq!(load_coins_u128(&mut p, "slash").unwrap(), 7);
        let bad = cell(|b| {
            b.store_address(&addr(5))?.store_u8(4, 2)?;
            b.store_tonhash(&TonHash::from([6u8; 32]))?
                .store_u16(16, 0)?;
            b.store_coins(&coins(1))?;
            Ok(())
        })
        .unwrap();
        assert!(JettonCfg::from_cell(&bad).is_err());
    }

    /// Cell hashes of the same values built by the contracts' TypeScript
    /// wrappers (`wrappers/Jetton.ts` accountJettonCfg / escrowJettonCfg /
    /// transferBody), which the sandbox tests run against the real contracts.
    #[test]
    fn cells_match_the_typescript_wrappers() {
        let cfg = JettonCfg {
            master: addr(5),
            layout: WalletLayout::Governed,
            wallet_code_hash: TonHash::from([6u8; 32]),
            wallet_code_depth: 0,
            transfer_ton: 50_000_000,
        };
        let hash_hex = |c: Cell| hex::encode(c.cell_hash().as_slice());
        assert_eq!(
            hash_hex(cfg.to_cell().unwrap()),
            "66fdfc9557105d428cd8a69abaa93dfb17b7d0e58c31f883a6807ca3edfa667d"
        );
        assert_eq!(
            hash_hex(cfg.escrow_cell(7).unwrap()),
            "b6b974dba330b271645e58d3543e1bb75909f205ff1fdfb828575bfc494836c3"
        );
        assert_eq!(
            hash_hex(transfer_body(100, &addr(1), &addr(2), 60_000_000, None, 9).unwrap()),
            "6804404e04cac686867686c6ae77129fe06dfd3355f8281385f27556eb0c7d0e"
        );
    }

    #[test]
    fn transfer_and_notification_layouts() {
        let body = transfer_body(100, &addr(1), &addr(2), 60_000_000, None, 9).unwrap();
        assert_eq!(
            parse_transfer(&body).unwrap(),
            (9, 100, addr(1), 60_000_000)
        );
        let n = cell(|b| {
            b.store_u32(32, op::NOTIFICATION)?.store_u64(64, 3)?;
            b.store_coins(&coins(42))?.store_address(&addr(4))?;
            b.store_bit(false)?;
            Ok(())
        })
        .unwrap();
        let got = parse_notification(&n).unwrap();
        assert_eq!((got.query_id, got.amount, got.from), (3, 42, addr(4)));
        assert!(parse_notification(&body).is_err());
    }
}
