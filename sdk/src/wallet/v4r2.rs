//! Wallet v4r2, still the most common deployed wallet.

use tonlib_core::wallet::version_helper::VersionHelper;
use tonlib_core::wallet::wallet_version::WalletVersion;

use super::{Transfer, sign_hash, wrap_external};
use crate::message::StateInit;
use crate::{ArcCell, Cell, CellBuilder, Error, Result, SigningKey, TonAddress, VerifyingKey};

const MAX_MESSAGES: usize = 4;
/// The default subwallet id; wallets add their workchain to it.
pub const DEFAULT_WALLET_ID: u32 = 698_983_191;

/// A v4r2 wallet, identified by its key, workchain and wallet id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WalletV4R2 {
    pub public_key: VerifyingKey,
    pub workchain: i32,
    pub wallet_id: u32,
}

impl WalletV4R2 {
    pub fn new(public_key: VerifyingKey, workchain: i32) -> Self {
        let wallet_id = DEFAULT_WALLET_ID.wrapping_add(workchain as u32);
        Self {
            public_key,
            workchain,
            wallet_id,
        }
    }

    pub fn code() -> Result<ArcCell> {
        Ok(VersionHelper::get_code(WalletVersion::V4R2)?.clone())
    }

    pub fn state_init(&self) -> Result<StateInit> {
        let mut data = CellBuilder::new();
        data.store_u32(32, 0)?.store_u32(32, self.wallet_id)?;
        data.store_slice(self.public_key.as_bytes())?
            .store_bit(false)?;
        Ok(StateInit::new(Self::code()?, data.build()?.into()))
    }

    pub fn address(&self) -> Result<TonAddress> {
        self.state_init()?.address(self.workchain)
    }

    /// The signed body: signature + `wallet_id valid_until seqno op:0 (mode ^msg)*`.
    pub fn transfer_body(&self, key: &SigningKey, t: &Transfer) -> Result<Cell> {
        if t.messages.len() > MAX_MESSAGES {
            return Err(Error::TooManyMessages {
                got: t.messages.len(),
                max: MAX_MESSAGES,
            });
        }
        let mut b = CellBuilder::new();
        b.store_u32(32, self.wallet_id)?
            .store_u32(32, t.valid_until)?
            .store_u32(32, t.seqno)?;
        b.store_u8(8, 0)?; // op: simple send
        for out in &t.messages {
            b.store_u8(8, out.mode)?
                .store_child(out.message.to_cell()?)?;
        }
        let unsigned = b.build()?;
        let signature = sign_hash(key, &unsigned);
        let mut signed = CellBuilder::new();
        signed.store_slice(&signature)?.store_cell(&unsigned)?;
        Ok(signed.build()?)
    }

    /// The external message to send through the API.
    pub fn external_transfer(&self, key: &SigningKey, t: &Transfer) -> Result<Cell> {
        let body = self.transfer_body(key, t)?;
        wrap_external(&self.address()?, self.state_init()?, t.seqno, &body)
    }
}
