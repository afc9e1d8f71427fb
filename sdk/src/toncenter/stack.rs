//! Get-method stacks in toncenter's encoding: arguments go as `["num", "123"]`,
//! `["tvm.Cell", boc]`, `["tvm.Slice", boc]`; results come back as
//! `["num", "0x7b"]`, `["cell", {"bytes": boc}]`, `["tuple", {"elements": [...]}]`, ...

use std::str::FromStr;

use serde_json::{Value, json};

use crate::{ArcCell, BigInt, boc};

/// A get-method argument.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StackArg {
    Num(BigInt),
    Cell(ArcCell),
    Slice(ArcCell),
}

impl StackArg {
    pub fn to_json(&self) -> Value {
        match self {
            StackArg::Num(n) => json!(["num", n.to_string()]),
            StackArg::Cell(c) => json!(["tvm.Cell", boc::to_boc_base64(c)]),
            StackArg::Slice(c) => json!(["tvm.Slice", boc::to_boc_base64(c)]),
        }
    }
}

/// A value a get-method returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StackValue {
    Num(BigInt),
    Cell(ArcCell),
    Slice(ArcCell),
    Builder(ArcCell),
    Tuple(Vec<StackValue>),
    List(Vec<StackValue>),
    Null,
}

impl StackValue {
    pub fn as_num(&self) -> Option<&BigInt> {
        match self {
            StackValue::Num(n) => Some(n),
            _ => None,
        }
    }

    /// The cell of a cell, slice or builder entry.
    pub fn as_cell(&self) -> Option<&ArcCell> {
        match self {
            StackValue::Cell(c) | StackValue::Slice(c) | StackValue::Builder(c) => Some(c),
            _ => None,
        }
    }

    pub fn as_tuple(&self) -> Option<&[StackValue]> {
        match self {
            StackValue::Tuple(v) | StackValue::List(v) => Some(v),
            _ => None,
        }
    }

    /// Parses one top-level entry, e.g. `["num", "-0x1"]`.
    pub fn from_json(v: &Value) -> Result<Self, String> {
        let kind = v
            .get(0)
            .and_then(Value::as_str)
            .ok_or_else(|| format!("bad stack entry {v}"))?;
        let payload = v.get(1).unwrap_or(&Value::Null);
        let bytes = || cell(payload.get("bytes"));
        Ok(match kind {
            "num" => StackValue::Num(parse_num(payload.as_str().ok_or("num without value")?)?),
            "cell" => StackValue::Cell(bytes()?),
            "slice" => StackValue::Slice(bytes()?),
            "builder" => StackValue::Builder(bytes()?),
            "null" => StackValue::Null,
            "tuple" => StackValue::Tuple(elements(payload)?),
            "list" => StackValue::List(elements(payload)?),
            other => return Err(format!("unsupported stack entry type {other:?}")),
        })
    }

    /// The top-level form [`from_json`](Self::from_json) reads.
    pub fn to_json(&self) -> Value {
        let bytes = |c: &ArcCell| json!({ "bytes": boc::to_boc_base64(c) });
        let elements = |v: &[StackValue]| json!({ "elements": v.iter().map(StackValue::to_tonlib).collect::<Vec<_>>() });
        match self {
            StackValue::Num(n) => json!(["num", hex_num(n)]),
            StackValue::Cell(c) => json!(["cell", bytes(c)]),
            StackValue::Slice(c) => json!(["slice", bytes(c)]),
            StackValue::Builder(c) => json!(["builder", bytes(c)]),
            StackValue::Tuple(v) => json!(["tuple", elements(v)]),
            StackValue::List(v) => json!(["list", elements(v)]),
            StackValue::Null => json!(["null"]),
        }
    }

    /// Nested entries use tonlib's typed objects (`tvm.stackEntryNumber`, ...).
    fn from_tonlib(v: &Value) -> Result<Self, String> {
        let t = v.get("@type").and_then(Value::as_str).unwrap_or_default();
        Ok(match t {
            "tvm.stackEntryNumber" => {
                let n = v
                    .pointer("/number/number")
                    .and_then(Value::as_str)
                    .ok_or("number without value")?;
                StackValue::Num(BigInt::from_str(n).map_err(|e| e.to_string())?)
            }
            "tvm.stackEntryCell" => StackValue::Cell(cell(v.pointer("/cell/bytes"))?),
            "tvm.stackEntrySlice" => StackValue::Slice(cell(v.pointer("/slice/bytes"))?),
            "tvm.stackEntryTuple" => StackValue::Tuple(elements(&v["tuple"])?),
            "tvm.stackEntryList" => StackValue::List(elements(&v["list"])?),
            "tvm.stackEntryNull" => StackValue::Null,
            other => return Err(format!("unsupported nested stack entry {other:?}")),
        })
    }

    fn to_tonlib(&self) -> Value {
        let bytes = |c: &ArcCell| json!({ "bytes": boc::to_boc_base64(c) });
        let elements = |v: &[StackValue]| json!({ "elements": v.iter().map(StackValue::to_tonlib).collect::<Vec<_>>() });
        match self {
            StackValue::Num(n) => {
                json!({"@type": "tvm.stackEntryNumber", "number": {"number": n.to_string()}})
            }
            StackValue::Cell(c) | StackValue::Builder(c) => {
                json!({"@type": "tvm.stackEntryCell", "cell": bytes(c)})
            }
            StackValue::Slice(c) => json!({"@type": "tvm.stackEntrySlice", "slice": bytes(c)}),
            StackValue::Tuple(v) => json!({"@type": "tvm.stackEntryTuple", "tuple": elements(v)}),
            StackValue::List(v) => json!({"@type": "tvm.stackEntryList", "list": elements(v)}),
            StackValue::Null => json!({"@type": "tvm.stackEntryNull"}),
        }
    }
}

fn cell(bytes: Option<&Value>) -> Result<ArcCell, String> {
    let b64 = bytes.and_then(Value::as_str).ok_or("cell without bytes")?;
    boc::from_boc_base64(b64).map_err(|e| e.to_string())
}

fn elements(v: &Value) -> Result<Vec<StackValue>, String> {
    let items = v
        .get("elements")
        .and_then(Value::as_array)
        .ok_or("tuple without elements")?;
    items.iter().map(StackValue::from_tonlib).collect()
}

/// `"0x1f"`, `"-0x1f"`, or plain decimal.
fn parse_num(s: &str) -> Result<BigInt, String> {
    let (neg, digits) = s.strip_prefix('-').map_or((false, s), |d| (true, d));
    let n = match digits.strip_prefix("0x") {
        Some(hex) => BigInt::parse_bytes(hex.as_bytes(), 16),
        None => BigInt::parse_bytes(digits.as_bytes(), 10),
    }
    .ok_or_else(|| format!("bad number {s:?}"))?;
    Ok(if neg { -n } else { n })
}

fn hex_num(n: &BigInt) -> String {
    let sign = if n.sign() == num_bigint::Sign::Minus {
        "-"
    } else {
        ""
    };
    format!("{sign}0x{}", n.magnitude().to_str_radix(16))
}
