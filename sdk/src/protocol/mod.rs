//! Spindle's on-chain protocol from the Rust side: typed messages for each
//! contract op, the payloads relayers sign, and the k-of-n proof layout the
//! contracts verify. Layouts are those of `contracts/spindle.tlb`; the
//! contracts' own wrappers (`contracts/wrappers/*.ts`) build the same cells.

pub mod compute_account;
pub mod hub;
pub mod job_escrow;
pub mod provider_stake;
pub mod relayer_set;

use crate::{ArcCell, BigUint, Cell, CellBuilder, Result, TonCellError};

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
