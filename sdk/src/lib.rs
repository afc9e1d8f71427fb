//! Spindle SDK: the one place the Rust side speaks TON.
//!
//! Cells, BoCs and addresses are `tonlib-core` types, re-exported here so every
//! Spindle crate uses the same ones; signing uses `ed25519-dalek`. Everything
//! that parses outside input returns [`Error`] instead of panicking.
//!
//! | module | what it does |
//! |---|---|
//! | [`address`] | raw and user-friendly addresses, flags, parsing |
//! | [`boc`] | bag-of-cells encoding byte-compatible with `@ton/core` |
//! | [`message`] | internal/external messages, state init, contract addresses |
//! | [`wallet`] | wallet v5r1/v4r2 signed transfers and TON mnemonics |
//! | [`signing`] | Spindle's domain-separated signed payloads |
//! | [`toncenter`] | toncenter API v2 client with rate limit and retries |
//! | [`tonconnect`] | TonConnect `sendTransaction` requests and `ton://transfer` links |
//! | [`transaction`] | reading transaction BoCs: predecessor, fees, success |
//! | [`contracts`] | compiled contract artifacts from `contracts/build/` |
//! | [`protocol`] | typed messages and signed payloads of the Spindle contracts |
//!
//! Paying a contract from a W5 wallet:
//!
//! ```
//! use spindle_sdk::{address, boc, wallet::*, message::InternalMessage, MAINNET_GLOBAL_ID};
//!
//! let key = mnemonic_to_key(&generate_mnemonic())?;
//! let wallet = WalletV5R1::new(key.verifying_key(), 0, MAINNET_GLOBAL_ID);
//! let escrow = address::parse_address("EQAr2AbJfw4ArxofwzKPp2OpJpcjyNuPrE-Tr3HbGG1ukJ-t")?;
//! let body = boc::build(|b| b.store_u32(32, 0x1234).map(drop))?;
//! let pay = InternalMessage::new(escrow, 1_000_000_000).with_body(body);
//! let transfer = Transfer { seqno: 0, valid_until: 1_900_000_000, messages: vec![Outgoing::new(pay)] };
//! let external = wallet.external_transfer(&key, &transfer)?; // carries the state init at seqno 0
//! let for_send_boc = boc::to_boc_base64(&external);
//! # assert!(for_send_boc.starts_with("te6cc"));
//! # Ok::<(), spindle_sdk::Error>(())
//! ```

pub mod address;
pub mod boc;
pub mod contracts;
pub mod message;
pub mod protocol;
pub mod signing;
pub mod toncenter;
pub mod tonconnect;
pub mod transaction;
pub mod wallet;

pub use ed25519_dalek::{Signature, SigningKey, VerifyingKey};
pub use num_bigint::{BigInt, BigUint};
pub use tonlib_core::cell::{ArcCell, Cell, CellBuilder, CellParser, TonCellError};
pub use tonlib_core::{TonAddress, TonHash};

/// Everything that can go wrong outside the toncenter client (which has
/// [`toncenter::ToncenterError`]).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid base64: {0}")]
    Base64(String),
    #[error("invalid hex: {0}")]
    Hex(String),
    #[error("invalid BoC: {0}")]
    Boc(String),
    #[error("invalid address {input:?}: {reason}")]
    AddressFormat { input: String, reason: &'static str },
    #[error("invalid address {input:?}: checksum mismatch")]
    AddressChecksum { input: String },
    #[error("unsupported workchain {0} (only 0 and -1 exist)")]
    Workchain(i32),
    #[error("cell: {0}")]
    Cell(#[from] TonCellError),
    #[error("invalid mnemonic: {0}")]
    Mnemonic(String),
    #[error("invalid key: {0}")]
    Key(String),
    #[error("signature does not verify")]
    BadSignature,
    #[error("too many messages: {got} (at most {max} per transfer)")]
    TooManyMessages { got: usize, max: usize },
    #[error("contract artifact {path}: {reason}")]
    Artifact { path: String, reason: String },
    /// A message body that is not the op the parser reads.
    #[error("unexpected op {got:#010x} (expected {expected:#010x})")]
    UnexpectedOp { expected: u32, got: u32 },
    /// A value wider than the protocol allows (e.g. coins over 128 bits).
    #[error("{0} out of range")]
    OutOfRange(&'static str),
}

/// `global_id` of TON mainnet (in wallet ids, signed payloads and TonConnect).
pub const MAINNET_GLOBAL_ID: i32 = -239;
/// `global_id` of TON testnet.
pub const TESTNET_GLOBAL_ID: i32 = -3;

pub type Result<T, E = Error> = std::result::Result<T, E>;
