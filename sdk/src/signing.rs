//! Spindle's signed payloads: every off-chain signature the contracts check is
//! over one cell `tag:uint32 global_id:int32 target:MsgAddressInt id:uint64`
//! followed by the body's bits and references, so a signature is valid for one
//! purpose, one network, one contract and once.
//!
//! The signature is ed25519 over the cell's 32-byte representation hash, which
//! is what FunC's `check_signature(cell_hash(c), sig, key)` verifies.

use ed25519_dalek::{Signer, Verifier};

use crate::{
    Cell, CellBuilder, CellParser, Error, Result, Signature, SigningKey, TonAddress, TonCellError,
    VerifyingKey,
};

/// A 32-bit tag from four ASCII bytes, e.g. `tag(b"cmpl")`.
pub const fn tag(ascii: &[u8; 4]) -> u32 {
    u32::from_be_bytes(*ascii)
}

/// What makes a signed payload unique: its purpose, network, target contract and id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayloadHeader {
    pub tag: u32,
    /// The network's global id (-239 mainnet, -3 testnet, the devnet's own).
    pub global_id: i32,
    /// The contract that acts on the payload.
    pub target: TonAddress,
    /// A counter or unique id, so the payload is accepted once.
    pub id: u64,
}

impl PayloadHeader {
    /// The payload cell with `body`'s bits and references appended.
    pub fn cell(&self, body: &Cell) -> Result<Cell> {
        self.cell_with(|b| b.store_cell(body).map(|_| ()))
    }

    /// The payload cell with the body written by `body` after the header.
    pub fn cell_with(
        &self,
        body: impl FnOnce(&mut CellBuilder) -> Result<(), TonCellError>,
    ) -> Result<Cell> {
        let mut b = CellBuilder::new();
        b.store_u32(32, self.tag)?.store_i32(32, self.global_id)?;
        b.store_raw_address(&self.target)?.store_u64(64, self.id)?;
        body(&mut b)?;
        Ok(b.build()?)
    }

    /// Reads the header, leaving `parser` at the start of the body.
    pub fn load(parser: &mut CellParser) -> Result<Self> {
        Ok(Self {
            tag: parser.load_u32(32)?,
            global_id: parser.load_i32(32)?,
            target: parser.load_address()?,
            id: parser.load_u64(64)?,
        })
    }
}

/// Signs the payload cell's representation hash.
pub fn sign(key: &SigningKey, payload: &Cell) -> Signature {
    key.sign(payload.cell_hash().as_slice())
}

/// Checks a signature made by [`sign`].
pub fn verify(key: &VerifyingKey, payload: &Cell, signature: &Signature) -> Result<()> {
    key.verify(payload.cell_hash().as_slice(), signature)
        .map_err(|_| Error::BadSignature)
}

/// Parses a 32-byte ed25519 public key (e.g. from a get-method or config).
pub fn verifying_key(bytes: &[u8]) -> Result<VerifyingKey> {
    let bytes: [u8; 32] = bytes
        .try_into()
        .map_err(|_| Error::Key(format!("public key is {} bytes, not 32", bytes.len())))?;
    VerifyingKey::from_bytes(&bytes).map_err(|e| Error::Key(e.to_string()))
}
