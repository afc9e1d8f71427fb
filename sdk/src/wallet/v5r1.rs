//! Wallet v5r1 (W5).

use tonlib_core::wallet::version_helper::VersionHelper;
use tonlib_core::wallet::wallet_version::WalletVersion;

use super::{Transfer, send_mode, sign_hash, wrap_external};
use crate::message::StateInit;
use crate::{ArcCell, Cell, CellBuilder, Error, Result, SigningKey, TonAddress, VerifyingKey};

const OP_SIGNED_EXTERNAL: u32 = 0x7369_676e; // "sign"
const ACTION_SEND_MSG: u32 = 0x0ec3_c86d;
const MAX_ACTIONS: usize = 255;

/// A v5r1 wallet, identified by its key, workchain and network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WalletV5R1 {
    pub public_key: VerifyingKey,
    pub workchain: i32,
    /// Mixed into the wallet id so a transfer signed for one network is invalid
    /// on another: -239 mainnet, -3 testnet.
    pub network_global_id: i32,
    /// Lets one key own several wallets (15 bits, usually 0).
    pub subwallet: u16,
}

impl WalletV5R1 {
    pub fn new(public_key: VerifyingKey, workchain: i32, network_global_id: i32) -> Self {
        Self {
            public_key,
            workchain,
            network_global_id,
            subwallet: 0,
        }
    }

    pub fn code() -> Result<ArcCell> {
        Ok(VersionHelper::get_code(WalletVersion::V5R1)?.clone())
    }

    /// `network_global_id XOR (1:1 workchain:8 version:8 subwallet:15)`.
    pub fn wallet_id(&self) -> u32 {
        let context = (1u32 << 31)
            | ((self.workchain as u8 as u32) << 23)
            | (u32::from(self.subwallet) & 0x7fff);
        (self.network_global_id as u32) ^ context
    }

    pub fn state_init(&self) -> Result<StateInit> {
        let mut data = CellBuilder::new();
        data.store_bit(true)?
            .store_u32(32, 0)?
            .store_u32(32, self.wallet_id())?;
        data.store_slice(self.public_key.as_bytes())?
            .store_bit(false)?;
        Ok(StateInit::new(Self::code()?, data.build()?.into()))
    }

    pub fn address(&self) -> Result<TonAddress> {
        self.state_init()?.address(self.workchain)
    }

    /// The signed request body: `"sign" wallet_id valid_until seqno out_actions` + signature.
    pub fn transfer_body(&self, key: &SigningKey, t: &Transfer) -> Result<Cell> {
        if t.messages.len() > MAX_ACTIONS {
            return Err(Error::TooManyMessages {
                got: t.messages.len(),
                max: MAX_ACTIONS,
            });
        }
        let mut b = CellBuilder::new();
        b.store_u32(32, OP_SIGNED_EXTERNAL)?
            .store_u32(32, self.wallet_id())?;
        b.store_u32(32, t.valid_until)?.store_u32(32, t.seqno)?;
        if t.messages.is_empty() {
            b.store_bit(false)?;
        } else {
            // OutList is a linked list whose head is the last action.
            let mut list = Cell::default();
            for out in &t.messages {
                let mut a = CellBuilder::new();
                a.store_child(list)?.store_u32(32, ACTION_SEND_MSG)?;
                // The wallet rejects external requests whose messages could fail the action phase.
                a.store_u8(8, out.mode | send_mode::IGNORE_ERRORS)?;
                a.store_child(out.message.to_cell()?)?;
                list = a.build()?;
            }
            b.store_bit(true)?.store_child(list)?;
        }
        b.store_bit(false)?; // no extended actions
        let unsigned = b.build()?;
        let signature = sign_hash(key, &unsigned);
        let mut signed = CellBuilder::new();
        signed.store_cell(&unsigned)?.store_slice(&signature)?;
        Ok(signed.build()?)
    }

    /// The external message to send through the API.
    pub fn external_transfer(&self, key: &SigningKey, t: &Transfer) -> Result<Cell> {
        let body = self.transfer_body(key, t)?;
        wrap_external(&self.address()?, self.state_init()?, t.seqno, &body)
    }
}
