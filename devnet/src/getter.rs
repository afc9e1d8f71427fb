//! Get-methods: run a contract's getter on its current state with the TVM, and
//! convert stacks between plain values and the VM's.

use num_bigint::BigInt;
use tycho_types::models::{AccountState, StdAddr};
use tycho_types::prelude::*;
use tycho_vm::{
    GasParams, OwnedCellSlice, RcStackValue, SafeRc, Stack, StackValueType, VmCaller, VmGetterArgs,
};

use crate::boc;
use crate::chain::Chain;
use crate::error::DevnetError;

/// A TVM stack value, with cells as BoC bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StackItem {
    Null,
    Int(BigInt),
    /// `NaN` integers.
    Nan,
    Cell(Vec<u8>),
    Slice(Vec<u8>),
    Builder(Vec<u8>),
    Tuple(Vec<StackItem>),
    /// Continuations and other values toncenter cannot render.
    Unsupported,
}

/// Result of a get-method, as toncenter's `runGetMethod` reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GetMethodResult {
    /// 0 (or 1) on success; 11 for an unknown method; -13 when the account
    /// has no code (toncenter's value for uninit / missing accounts).
    pub exit_code: i32,
    pub gas_used: u64,
    pub stack: Vec<StackItem>,
}

/// Exit code toncenter returns for a get-method on an account without code.
pub const EXIT_NO_CODE: i32 = -13;

pub fn run(
    chain: &Chain,
    addr: &StdAddr,
    method: &str,
    stack: &[StackItem],
) -> Result<GetMethodResult, DevnetError> {
    let account = chain.shard_account(addr).load_account()?;
    let Some(account) = account.filter(|a| matches!(a.state, AccountState::Active(_))) else {
        return Ok(GetMethodResult {
            exit_code: EXIT_NO_CODE,
            gas_used: 0,
            stack: vec![],
        });
    };
    let mut items = Vec::with_capacity(stack.len());
    for item in stack {
        items.push(to_vm(item)?);
    }
    let caller = VmCaller {
        libraries: chain.libraries.clone(),
        behaviour_modifiers: Default::default(),
        config: chain.config.raw.params.clone(),
    };
    let mut args = VmGetterArgs::default();
    args.now = chain.now();
    args.gas_params = GasParams::getter();
    let method = method.trim();
    let out = match method.parse::<i64>() {
        Ok(id) => caller.call_getter_ext(&account, id as u32, items, &args, None),
        Err(_) => caller.call_getter_ext(&account, method, items, &args, None),
    }
    .map_err(|e| DevnetError::Internal(format!("get-method failed: {e:?}")))?;
    Ok(GetMethodResult {
        exit_code: out.exit_code,
        gas_used: out.gas_used,
        stack: out.stack.iter().map(|v| from_vm(v.as_ref())).collect(),
    })
}

fn to_vm(item: &StackItem) -> Result<RcStackValue, DevnetError> {
    Ok(match item {
        StackItem::Null => Stack::make_null(),
        StackItem::Nan => Stack::make_nan(),
        StackItem::Int(i) => SafeRc::new_dyn_value(i.clone()),
        StackItem::Cell(b) => SafeRc::new_dyn_value(boc::decode(b)?),
        StackItem::Slice(b) => {
            SafeRc::new_dyn_value(OwnedCellSlice::new_allow_exotic(boc::decode(b)?))
        }
        StackItem::Builder(b) => {
            let cell = boc::decode(b)?;
            let mut builder = CellBuilder::new();
            builder.store_slice(cell.as_slice_allow_exotic())?;
            SafeRc::new_dyn_value(builder)
        }
        StackItem::Tuple(items) => {
            let t: Result<Vec<_>, _> = items.iter().map(to_vm).collect();
            SafeRc::new_dyn_value(t?)
        }
        StackItem::Unsupported => {
            return Err(DevnetError::Invalid("unsupported stack entry".into()));
        }
    })
}

fn from_vm(v: &dyn tycho_vm::StackValue) -> StackItem {
    let ty = v.raw_ty();
    if ty == StackValueType::Null as u8 {
        StackItem::Null
    } else if ty == StackValueType::Int as u8 {
        v.as_int()
            .map(|i| StackItem::Int(i.clone()))
            .unwrap_or(StackItem::Nan)
    } else if ty == StackValueType::Cell as u8 {
        v.as_cell()
            .map(|c| StackItem::Cell(boc::encode(c)))
            .unwrap_or(StackItem::Unsupported)
    } else if ty == StackValueType::Slice as u8 {
        v.as_cell_slice()
            .and_then(|s| {
                let mut b = CellBuilder::new();
                b.store_slice(s.apply()).ok()?;
                b.build().ok()
            })
            .map(|c| StackItem::Slice(boc::encode(&c)))
            .unwrap_or(StackItem::Unsupported)
    } else if ty == StackValueType::Builder as u8 {
        v.as_cell_builder()
            .and_then(|b| b.clone().build().ok())
            .map(|c| StackItem::Builder(boc::encode(&c)))
            .unwrap_or(StackItem::Unsupported)
    } else if ty == StackValueType::Tuple as u8 {
        v.as_tuple()
            .map(|t| StackItem::Tuple(t.iter().map(|x| from_vm(x.as_ref())).collect()))
            .unwrap_or(StackItem::Unsupported)
    } else {
        StackItem::Unsupported
    }
}
