//! Plain summaries of transactions and messages, parsed once from the
//! transaction cell; both the Rust API and the toncenter JSON are built from them.

use tonlib_core::TonAddress;
use tycho_types::models::{
    AccountStatus, ComputePhase, IntAddr, Message, MsgInfo, Transaction, TxInfo,
};
use tycho_types::prelude::*;

use crate::boc;

/// One message, as toncenter describes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MsgSummary {
    /// Hash of the message cell.
    pub hash: [u8; 32],
    /// The whole message as a BoC.
    pub boc: Vec<u8>,
    pub kind: MsgKind,
    /// `None` for external inbound messages (and for `addr_none`).
    pub src: Option<TonAddress>,
    /// `None` for external outbound messages.
    pub dst: Option<TonAddress>,
    pub value: u128,
    pub fwd_fee: u128,
    pub ihr_fee: u128,
    pub bounce: bool,
    pub bounced: bool,
    pub created_lt: u64,
    pub created_at: u32,
    /// The body as a BoC of one cell (inline bodies become their own cell).
    pub body: Vec<u8>,
    pub body_hash: [u8; 32],
    /// State init as a BoC, when the message carries one.
    pub init: Option<Vec<u8>>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MsgKind {
    Internal,
    ExternalIn,
    ExternalOut,
}

/// One transaction with what tests and clients look at most.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TxSummary {
    pub account: TonAddress,
    pub lt: u64,
    pub hash: [u8; 32],
    pub prev_lt: u64,
    pub prev_hash: [u8; 32],
    pub now: u32,
    /// The whole `Transaction` as a BoC.
    pub boc: Vec<u8>,
    pub orig_status: &'static str,
    pub end_status: &'static str,
    pub aborted: bool,
    /// `None` when the compute phase was skipped (no code, no gas…).
    pub exit_code: Option<i32>,
    pub compute_success: bool,
    pub gas_used: u64,
    pub gas_fees: u128,
    /// Action phase result code, when it ran.
    pub action_result_code: Option<i32>,
    pub total_fees: u128,
    pub storage_fee: u128,
    pub total_fwd_fees: u128,
    /// A bounce phase ran (the inbound message was bounced back).
    pub bounced: bool,
    pub in_msg: Option<MsgSummary>,
    pub out_msgs: Vec<MsgSummary>,
}

fn status(s: AccountStatus) -> &'static str {
    match s {
        AccountStatus::Active => "active",
        AccountStatus::Frozen => "frozen",
        AccountStatus::Uninit => "uninit",
        AccountStatus::NotExists => "nonexist",
    }
}

fn addr(a: &IntAddr) -> Option<TonAddress> {
    match a {
        IntAddr::Std(a) => Some(boc::to_ton(a)),
        IntAddr::Var(_) => None,
    }
}

pub fn summarize_msg(cell: &Cell) -> anyhow::Result<MsgSummary> {
    let msg = cell.parse::<Message<'_>>()?;
    let mut b = CellBuilder::new();
    b.store_slice(msg.body)?;
    let body = b.build()?;
    let mut s = MsgSummary {
        hash: cell.repr_hash().0,
        boc: boc::encode(cell),
        kind: MsgKind::Internal,
        src: None,
        dst: None,
        value: 0,
        fwd_fee: 0,
        ihr_fee: 0,
        bounce: false,
        bounced: false,
        created_lt: 0,
        created_at: 0,
        body_hash: body.repr_hash().0,
        body: boc::encode(&body),
        init: match &msg.init {
            Some(init) => Some(boc::encode(&CellBuilder::build_from(init)?)),
            None => None,
        },
    };
    match msg.info {
        MsgInfo::Int(i) => {
            s.src = addr(&i.src);
            s.dst = addr(&i.dst);
            s.value = i.value.tokens.into_inner();
            s.fwd_fee = i.fwd_fee.into_inner();
            s.bounce = i.bounce;
            s.bounced = i.bounced;
            s.created_lt = i.created_lt;
            s.created_at = i.created_at;
        }
        MsgInfo::ExtIn(i) => {
            s.kind = MsgKind::ExternalIn;
            s.dst = addr(&i.dst);
        }
        MsgInfo::ExtOut(i) => {
            s.kind = MsgKind::ExternalOut;
            s.src = addr(&i.src);
            s.created_lt = i.created_lt;
            s.created_at = i.created_at;
        }
    }
    Ok(s)
}

pub fn summarize_tx(workchain: i8, cell: &Cell) -> anyhow::Result<TxSummary> {
    let tx = cell.parse::<Transaction>()?;
    let account = boc::to_ton(&tycho_types::models::StdAddr::new(workchain, tx.account));
    let mut s = TxSummary {
        account,
        lt: tx.lt,
        hash: cell.repr_hash().0,
        prev_lt: tx.prev_trans_lt,
        prev_hash: tx.prev_trans_hash.0,
        now: tx.now,
        boc: boc::encode(cell),
        orig_status: status(tx.orig_status),
        end_status: status(tx.end_status),
        aborted: false,
        exit_code: None,
        compute_success: false,
        gas_used: 0,
        gas_fees: 0,
        action_result_code: None,
        total_fees: tx.total_fees.tokens.into_inner(),
        storage_fee: 0,
        total_fwd_fees: 0,
        bounced: false,
        in_msg: match &tx.in_msg {
            Some(m) => Some(summarize_msg(m)?),
            None => None,
        },
        out_msgs: Vec::new(),
    };
    for m in tx.out_msgs.values() {
        s.out_msgs.push(summarize_msg(&m?)?);
    }
    if let TxInfo::Ordinary(info) = tx.load_info()? {
        s.aborted = info.aborted;
        s.bounced = info.bounce_phase.is_some();
        if let Some(sp) = &info.storage_phase {
            s.storage_fee = sp.storage_fees_collected.into_inner();
        }
        if let ComputePhase::Executed(c) = &info.compute_phase {
            s.exit_code = Some(c.exit_code);
            s.compute_success = c.success;
            s.gas_used = c.gas_used.into_inner();
            s.gas_fees = c.gas_fees.into_inner();
        }
        if let Some(a) = &info.action_phase {
            s.action_result_code = Some(a.result_code);
            s.total_fwd_fees = a.total_fwd_fees.map(|t| t.into_inner()).unwrap_or(0);
        }
    }
    Ok(s)
}
