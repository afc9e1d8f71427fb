//! The BoC boundary: tycho's cells stay inside the crate; callers speak BoC
//! bytes / base64 and tonlib-core's `TonAddress`.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE};
use tonlib_core::TonAddress;
use tonlib_core::cell::{ArcCell, BagOfCells};
use tycho_types::models::StdAddr;
use tycho_types::prelude::*;

use crate::error::DevnetError;

pub fn decode(bytes: &[u8]) -> Result<Cell, DevnetError> {
    if bytes.is_empty() {
        return Err(DevnetError::Invalid("empty boc".into()));
    }
    Boc::decode(bytes).map_err(|e| DevnetError::BadBoc(e.to_string()))
}

/// Decodes base64 (standard or URL-safe alphabet) and then the BoC.
pub fn decode_b64(s: &str) -> Result<Cell, DevnetError> {
    decode(&b64_decode(s)?)
}

pub fn b64_decode(s: &str) -> Result<Vec<u8>, DevnetError> {
    let s = s.trim();
    STANDARD
        .decode(s)
        .or_else(|_| URL_SAFE.decode(s))
        .map_err(|e| DevnetError::BadBoc(format!("invalid base64: {e}")))
}

pub fn encode(cell: &Cell) -> Vec<u8> {
    Boc::encode(cell)
}

pub fn encode_b64(cell: &Cell) -> String {
    STANDARD.encode(Boc::encode(cell))
}

pub fn to_std(addr: &TonAddress) -> StdAddr {
    StdAddr::new(
        addr.workchain as i8,
        HashBytes(
            *addr
                .hash_part
                .as_slice()
                .first_chunk::<32>()
                .expect("32-byte hash"),
        ),
    )
}

pub fn to_ton(addr: &StdAddr) -> TonAddress {
    TonAddress::new(addr.workchain as i32, addr.address.0.into())
}

/// Parses any address form toncenter accepts (raw `wc:hex`, base64 std/url).
pub fn parse_address(s: &str) -> Result<StdAddr, DevnetError> {
    s.trim()
        .parse::<TonAddress>()
        .map(|a| to_std(&a))
        .map_err(|_| DevnetError::Invalid(format!("failed to parse address: {s}")))
}

/// Bounceable URL-safe form, as toncenter prints addresses.
pub fn friendly(addr: &StdAddr) -> String {
    to_ton(addr).to_base64_url()
}

pub fn to_tonlib(cell: &Cell) -> anyhow::Result<ArcCell> {
    Ok(BagOfCells::parse(&encode(cell))?.single_root()?)
}

pub fn from_tonlib(cell: &tonlib_core::cell::Cell) -> anyhow::Result<Cell> {
    let bytes = BagOfCells::from_root(cell.clone()).serialize(false)?;
    Ok(Boc::decode(bytes)?)
}
