//! Spindle's on-chain protocol from the Rust side: typed messages for each
//! contract op, the payloads relayers sign, and the k-of-n proof layout the
//! contracts verify. Layouts are those of `contracts/spindle.tlb`; the
//! contracts' own wrappers (`contracts/wrappers/*.ts`) build the same cells.

pub mod compute_account;
pub mod hub;
pub mod jetton;
pub mod job_escrow;
pub mod provider_stake;
pub mod relayer_set;

use crate::{ArcCell, BigUint, Cell, CellBuilder, CellParser, Error, Result, TonCellError};

/// Builds one cell with `f` (the protocol modules' small shorthand).
pub(crate) fn cell(f: impl FnOnce(&mut CellBuilder) -> Result<(), TonCellError>) -> Result<Cell> {
    let mut b = CellBuilder::new();
    f(&mut b)?;
    Ok(b.build()?)
}

/// Converts a built cell to the shared form refs take.
pub(crate) fn arc(c: Cell) -> ArcCell {
    std::sync::Arc::new(c)
}

pub(crate) fn coins(n: u128) -> BigUint {
    BigUint::from(n)
}

/// A body's `op query_id` prefix, or `None` if it is shorter (a plain transfer,
/// a bounce's truncated body is still 64+ bits).
pub fn op_and_query_id(body: &Cell) -> Option<(u32, u64)> {
    let mut p = body.parser();
    let op = p.load_u32(32).ok()?;
    let query_id = p.load_u64(64).ok()?;
    Some((op, query_id))
}

/// Reads `op query_id` and requires `op` to be `expected`.
pub(crate) fn expect_op(p: &mut CellParser, expected: u32) -> Result<u64> {
    let got = p.load_u32(32)?;
    if got != expected {
        return Err(Error::UnexpectedOp { expected, got });
    }
    Ok(p.load_u64(64)?)
}

/// Coins as `u128` (every TON or jetton amount fits).
pub(crate) fn load_coins_u128(p: &mut CellParser, what: &'static str) -> Result<u128> {
    u128::try_from(p.load_coins()?).map_err(|_| Error::OutOfRange(what))
}
