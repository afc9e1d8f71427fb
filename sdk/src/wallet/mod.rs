//! Wallets: signed external transfers for wallet v5r1 (W5, what Tonkeeper
//! creates today) and v4r2, several messages per transfer, and TON mnemonics.
//!
//! A transfer is valid once: it carries the wallet's current `seqno` and a
//! `valid_until` after which the wallet rejects it, so re-sending the same
//! signed message is always safe.

mod mnemonic;
mod v4r2;
mod v5r1;

pub use mnemonic::{generate_mnemonic, mnemonic_to_key};
pub use v4r2::WalletV4R2;
pub use v5r1::WalletV5R1;

use ed25519_dalek::Signer;

use crate::message::{InternalMessage, StateInit, external_message};
use crate::{Cell, Result, SigningKey, TonAddress};

/// Send-mode flags of an outgoing message (`SENDRAWMSG` modes).
pub mod send_mode {
    /// Pay forwarding fees from the wallet balance, not from the value.
    pub const PAY_GAS_SEPARATELY: u8 = 1;
    /// Skip the message instead of failing the whole action phase.
    pub const IGNORE_ERRORS: u8 = 2;
    /// Destroy the wallet if its balance reaches zero.
    pub const DESTROY_IF_ZERO: u8 = 32;
    /// Send the whole remaining balance.
    pub const CARRY_ALL_BALANCE: u8 = 128;
}

/// One message of a transfer and its send mode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    pub message: InternalMessage,
    pub mode: u8,
}

impl Outgoing {
    /// The usual mode: fees paid separately, errors ignored.
    pub fn new(message: InternalMessage) -> Self {
        Self {
            message,
            mode: send_mode::PAY_GAS_SEPARATELY | send_mode::IGNORE_ERRORS,
        }
    }
}

/// What a signed transfer authorises.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transfer {
    /// The wallet's current seqno (0 before deployment).
    pub seqno: u32,
    /// Unix time after which the wallet refuses the transfer.
    pub valid_until: u32,
    pub messages: Vec<Outgoing>,
}

/// Either supported wallet, for code that takes the version from configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Wallet {
    V4R2(WalletV4R2),
    V5R1(WalletV5R1),
}

impl Wallet {
    pub fn address(&self) -> Result<TonAddress> {
        match self {
            Wallet::V4R2(w) => w.address(),
            Wallet::V5R1(w) => w.address(),
        }
    }

    pub fn state_init(&self) -> Result<StateInit> {
        match self {
            Wallet::V4R2(w) => w.state_init(),
            Wallet::V5R1(w) => w.state_init(),
        }
    }

    pub fn external_transfer(&self, key: &SigningKey, transfer: &Transfer) -> Result<Cell> {
        match self {
            Wallet::V4R2(w) => w.external_transfer(key, transfer),
            Wallet::V5R1(w) => w.external_transfer(key, transfer),
        }
    }
}

/// Wraps a signed body into the external message; a wallet at seqno 0 is not
/// deployed yet, so its state init rides along.
fn wrap_external(address: &TonAddress, init: StateInit, seqno: u32, body: &Cell) -> Result<Cell> {
    external_message(address, (seqno == 0).then_some(&init), body)
}

fn sign_hash(key: &SigningKey, cell: &Cell) -> [u8; 64] {
    key.sign(cell.cell_hash().as_slice()).to_bytes()
}
