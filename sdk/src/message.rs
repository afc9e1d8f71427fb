//! Messages: internal messages (what wallets send to contracts), external-in
//! messages (what we send to wallets through the API), `StateInit`, and the
//! address a contract gets from its (code, data).
//!
//! Layouts, including when the state init and body go inline or into a
//! reference, follow `@ton/core`'s `storeMessageRelaxed` / `storeMessage`, so
//! cells and their hashes match the TypeScript side exactly.

use std::sync::Arc;

use crate::{ArcCell, BigUint, Cell, CellBuilder, Result, TonAddress, TonCellError};

/// `StateInit` with code and data (no split depth, special flags or libraries).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateInit {
    pub code: ArcCell,
    pub data: ArcCell,
}

impl StateInit {
    pub fn new(code: ArcCell, data: ArcCell) -> Self {
        Self { code, data }
    }

    /// `split_depth:0 special:0 code:1^ data:1^ library:0`.
    pub fn to_cell(&self) -> Result<Cell> {
        let mut b = CellBuilder::new();
        b.store_u8(2, 0)?
            .store_bit(true)?
            .store_reference(&self.code)?;
        b.store_bit(true)?
            .store_reference(&self.data)?
            .store_bit(false)?;
        Ok(b.build()?)
    }

    /// The address of the contract this state init deploys.
    pub fn address(&self, workchain: i32) -> Result<TonAddress> {
        Ok(TonAddress::new(workchain, self.to_cell()?.cell_hash()))
    }
}

/// The address of a contract with this code and initial data.
pub fn contract_address(workchain: i32, code: ArcCell, data: ArcCell) -> Result<TonAddress> {
    StateInit::new(code, data).address(workchain)
}

/// An internal message as a wallet sends it: `src` is left empty for the
/// validator to fill, IHR is disabled, fees and timestamps are zero.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InternalMessage {
    pub to: TonAddress,
    /// Value in nanotons.
    pub value: u128,
    /// Send bounceable so a failing or absent receiver returns the money.
    pub bounce: bool,
    pub body: Option<ArcCell>,
    pub state_init: Option<StateInit>,
}

impl InternalMessage {
    /// A bounceable message without body or state init.
    pub fn new(to: TonAddress, value: u128) -> Self {
        Self {
            to,
            value,
            bounce: true,
            body: None,
            state_init: None,
        }
    }

    pub fn with_body(mut self, body: impl Into<ArcCell>) -> Self {
        self.body = Some(body.into());
        self
    }

    pub fn with_state_init(mut self, state_init: StateInit) -> Self {
        self.state_init = Some(state_init);
        self
    }

    pub fn with_bounce(mut self, bounce: bool) -> Self {
        self.bounce = bounce;
        self
    }

    /// `MessageRelaxed` cell: `int_msg_info$0 ihr_disabled:1 bounce bounced:0 src:addr_none dest value ...`.
    pub fn to_cell(&self) -> Result<Cell> {
        let mut b = CellBuilder::new();
        b.store_bit(false)?
            .store_bit(true)?
            .store_bit(self.bounce)?
            .store_bit(false)?;
        b.store_u8(2, 0)?.store_raw_address(&self.to)?;
        store_coins(&mut b, self.value)?;
        b.store_bit(false)?; // no extra currencies
        b.store_u8(4, 0)?.store_u8(4, 0)?; // ihr_fee, fwd_fee
        b.store_u64(64, 0)?.store_u32(32, 0)?; // created_lt, created_at
        finish(
            b,
            self.state_init.as_ref(),
            self.body.as_deref(),
            Rule::Relaxed,
        )
    }
}

/// An external-in message to `to` (usually a wallet) carrying `body`; attach the
/// state init when the contract is not deployed yet.
pub fn external_message(
    to: &TonAddress,
    state_init: Option<&StateInit>,
    body: &Cell,
) -> Result<Cell> {
    let mut b = CellBuilder::new();
    b.store_u8(2, 0b10)?.store_u8(2, 0)?.store_raw_address(to)?; // ext_in_msg_info$10 src:addr_none
    store_coins(&mut b, 0)?; // import_fee
    finish(b, state_init, Some(body), Rule::Strict)
}

/// Stores `Grams` (`VarUInteger 16`).
pub fn store_coins(b: &mut CellBuilder, nanotons: u128) -> Result<(), TonCellError> {
    b.store_coins(&BigUint::from(nanotons))?;
    Ok(())
}

/// `@ton/core` has two slightly different inline/ref rules: `storeMessageRelaxed`
/// (internal messages) and `storeMessage` (external ones).
#[derive(Clone, Copy)]
enum Rule {
    Relaxed,
    Strict,
}

fn finish(
    mut b: CellBuilder,
    init: Option<&StateInit>,
    body: Option<&Cell>,
    rule: Rule,
) -> Result<Cell> {
    let empty = Cell::default();
    let body = body.unwrap_or(&empty);
    let mut refs_used = 0;
    match init {
        None => {
            b.store_bit(false)?;
        }
        Some(init) => {
            let init = init.to_cell()?;
            let needed = match rule {
                Rule::Relaxed => init.bit_len(),
                Rule::Strict => init.bit_len() + body.bit_len(),
            };
            b.store_bit(true)?;
            if b.remaining_bits() >= needed + 2 {
                b.store_bit(false)?.store_cell(&init)?;
                refs_used = init.references().len();
            } else {
                b.store_bit(true)?.store_child(init)?;
                refs_used = 1;
            }
        }
    }
    let fits = b.remaining_bits() > body.bit_len()
        && refs_used + body.references().len() <= 4
        && !(matches!(rule, Rule::Relaxed) && body.is_exotic());
    if fits {
        b.store_bit(false)?.store_cell(body)?;
    } else {
        b.store_bit(true)?
            .store_reference(&Arc::new(body.clone()))?;
    }
    Ok(b.build()?)
}
