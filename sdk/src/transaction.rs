//! Reading transactions: the fields of a transaction BoC the relayer acts on
//! (predecessor link, fees, whether the contract accepted the message and
//! whether its actions went through), as toncenter's `data` field carries it.

use crate::{Cell, CellParser, Error, Result, TonCellError, TonHash};

/// The fixed prefix of every transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub account: TonHash,
    pub lt: u64,
    /// The account's previous transaction (lt 0 for its first).
    pub prev_hash: TonHash,
    pub prev_lt: u64,
    pub now: u32,
    pub out_msg_count: u16,
}

/// Header plus what happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    pub header: Header,
    /// Total fees in nanotons.
    pub total_fees: u128,
    /// `None` for tick-tock, storage, split and merge transactions.
    pub outcome: Option<Outcome>,
}

/// The phases of an ordinary transaction that decide whether it "worked".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub aborted: bool,
    pub compute: Compute,
    pub action: Option<Action>,
    pub destroyed: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compute {
    /// The VM did not run: no state, bad state, no gas or suspended.
    Skipped,
    Vm {
        success: bool,
        exit_code: i32,
        gas_used: u64,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Action {
    pub success: bool,
    pub result_code: i32,
    pub messages_created: u16,
}

impl Summary {
    /// The contract ran, did not throw, and all its actions were performed.
    pub fn succeeded(&self) -> bool {
        self.outcome.as_ref().is_some_and(|o| {
            !o.aborted
                && matches!(o.compute, Compute::Vm { success: true, .. })
                && o.action.is_none_or(|a| a.success)
        })
    }
}

/// Reads only the fixed prefix (cheap; enough to follow the predecessor chain).
pub fn parse_header(tx: &Cell) -> Result<Header> {
    header(&mut tx.parser())
}

/// Reads the header, the fees and, for ordinary transactions, the outcome.
pub fn parse(tx: &Cell) -> Result<Summary> {
    let mut p = tx.parser();
    let header = header(&mut p)?;
    p.skip_bits(2 + 2)?; // orig_status, end_status
    let total_fees = coins(&mut p)?;
    let description = tx.reference(2)?;
    Ok(Summary {
        header,
        total_fees,
        outcome: outcome(&mut description.parser())?,
    })
}

fn header(p: &mut CellParser) -> Result<Header> {
    if p.load_u8(4)? != 0b0111 {
        return Err(Error::Boc("not a transaction".into()));
    }
    Ok(Header {
        account: p.load_tonhash()?,
        lt: p.load_u64(64)?,
        prev_hash: p.load_tonhash()?,
        prev_lt: p.load_u64(64)?,
        now: p.load_u32(32)?,
        out_msg_count: p.load_u16(15)?,
    })
}

/// `trans_ord$0000 credit_first storage_ph:(Maybe ..) credit_ph:(Maybe ..)
/// compute_ph action:(Maybe ^..) aborted bounce:(Maybe ..) destroyed`.
fn outcome(p: &mut CellParser) -> Result<Option<Outcome>> {
    if p.load_u8(4)? != 0 {
        return Ok(None);
    }
    p.skip_bits(1)?; // credit_first
    if p.load_bit()? {
        // tr_phase_storage: collected:Grams due:(Maybe Grams) status_change
        coins(p)?;
        if p.load_bit()? {
            coins(p)?;
        }
        if p.load_bit()? {
            p.skip_bits(1)?;
        }
    }
    if p.load_bit()? {
        // tr_phase_credit: due_fees_collected:(Maybe Grams) credit:CurrencyCollection
        if p.load_bit()? {
            coins(p)?;
        }
        coins(p)?;
        if p.load_bit()? {
            p.next_reference()?; // extra currencies
        }
    }
    let compute = if p.load_bit()? {
        let success = p.load_bit()?;
        p.skip_bits(2)?; // msg_state_used, account_activated
        coins(p)?; // gas_fees
        let details = p.next_reference()?;
        let mut d = details.parser();
        let gas_used = var_uint(&mut d, 3)? as u64;
        var_uint(&mut d, 3)?; // gas_limit
        if d.load_bit()? {
            var_uint(&mut d, 2)?; // gas_credit
        }
        d.skip_bits(8)?; // mode
        Compute::Vm {
            success,
            exit_code: d.load_i32(32)?,
            gas_used,
        }
    } else {
        // cskip_no_state$00 | cskip_bad_state$01 | cskip_no_gas$10 | cskip_suspended$110
        if p.load_u8(2)? == 0b11 {
            p.skip_bits(1)?;
        }
        Compute::Skipped
    };
    let action = if p.load_bit()? {
        let cell = p.next_reference()?;
        let mut a = cell.parser();
        let success = a.load_bit()?;
        a.skip_bits(2)?; // valid, no_funds
        if a.load_bit()? {
            a.skip_bits(1)?; // status change
        }
        for _ in 0..2 {
            if a.load_bit()? {
                coins(&mut a)?; // total_fwd_fees, total_action_fees
            }
        }
        let result_code = a.load_i32(32)?;
        if a.load_bit()? {
            a.skip_bits(32)?; // result_arg
        }
        a.skip_bits(16 * 3)?; // tot_actions, spec_actions, skipped_actions
        Some(Action {
            success,
            result_code,
            messages_created: a.load_u16(16)?,
        })
    } else {
        None
    };
    let aborted = p.load_bit()?;
    if p.load_bit()? {
        skip_bounce_phase(p)?;
    }
    Ok(Some(Outcome {
        aborted,
        compute,
        action,
        destroyed: p.load_bit()?,
    }))
}

/// `tr_phase_bounce_negfunds$00 | tr_phase_bounce_nofunds$01 msg_size req_fwd_fees:Grams
/// | tr_phase_bounce_ok$1 msg_size msg_fees:Grams fwd_fees:Grams`.
fn skip_bounce_phase(p: &mut CellParser) -> Result<()> {
    let storage_used = |p: &mut CellParser| -> Result<()> {
        var_uint(p, 3)?;
        var_uint(p, 3)?;
        Ok(())
    };
    if p.load_bit()? {
        storage_used(p)?;
        coins(p)?;
        coins(p)?;
    } else if p.load_bit()? {
        storage_used(p)?;
        coins(p)?;
    }
    Ok(())
}

/// `VarUInteger n` with a `len_bits`-bit length prefix.
fn var_uint(p: &mut CellParser, len_bits: usize) -> Result<u128, TonCellError> {
    let len = p.load_u8(len_bits)? as usize;
    if len > 16 {
        return Err(TonCellError::CellParserError(format!("{len}-byte integer")));
    }
    Ok(p.load_bytes(len)?
        .iter()
        .fold(0u128, |acc, &b| (acc << 8) | u128::from(b)))
}

fn coins(p: &mut CellParser) -> Result<u128, TonCellError> {
    var_uint(p, 4)
}
