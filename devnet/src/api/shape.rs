//! toncenter v2's JSON shapes: block ids, transaction ids, transactions,
//! messages and TVM stack entries.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use num_bigint::{BigInt, Sign};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::chain::Block;
use crate::error::DevnetError;
use crate::getter::StackItem;
use crate::tx::{MsgKind, MsgSummary, TxSummary};

pub fn b64(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

/// Masterchain block id of a devnet block (the devnet has one chain of blocks;
/// each stands for both the masterchain and the basechain block).
pub fn block_id(block: &Block, workchain: i32) -> Value {
    let file_hash: [u8; 32] = Sha256::digest(block.root_hash.as_slice()).into();
    json!({
        "@type": "ton.blockIdExt",
        "workchain": workchain,
        "shard": "-9223372036854775808",
        "seqno": block.seqno,
        "root_hash": b64(block.root_hash.as_slice()),
        "file_hash": b64(&file_hash),
    })
}

pub fn tx_id(lt: u64, hash: &[u8; 32]) -> Value {
    json!({ "@type": "internal.transactionId", "lt": lt.to_string(), "hash": b64(hash) })
}

fn addr_str(a: &Option<tonlib_core::TonAddress>) -> String {
    a.as_ref().map(|a| a.to_base64_url()).unwrap_or_default()
}

pub fn message(m: &MsgSummary) -> Value {
    json!({
        "@type": "raw.message",
        "hash": b64(&m.hash),
        "source": addr_str(&m.src),
        "destination": addr_str(&m.dst),
        "value": m.value.to_string(),
        "extra_currencies": [],
        "fwd_fee": m.fwd_fee.to_string(),
        "ihr_fee": m.ihr_fee.to_string(),
        "created_lt": m.created_lt.to_string(),
        "body_hash": b64(&m.body_hash),
        "msg_data": {
            "@type": "msg.dataRaw",
            "body": b64(&m.body),
            "init_state": m.init.as_deref().map(b64).unwrap_or_default(),
        },
        "message": "",
    })
}

pub fn transaction(t: &TxSummary) -> Value {
    let mut v = json!({
        "@type": "raw.transaction",
        "address": { "@type": "accountAddress", "account_address": t.account.to_base64_url() },
        "utime": t.now,
        "data": b64(&t.boc),
        "transaction_id": tx_id(t.lt, &t.hash),
        "fee": t.total_fees.to_string(),
        "storage_fee": t.storage_fee.to_string(),
        "other_fee": t.total_fees.saturating_sub(t.storage_fee).to_string(),
        "out_msgs": t.out_msgs.iter().map(message).collect::<Vec<_>>(),
    });
    // toncenter reports an external inbound message with an empty source and
    // zero value, which `message` already produces.
    if let Some(m) = &t.in_msg {
        debug_assert!(m.kind != MsgKind::ExternalOut);
        v["in_msg"] = message(m);
    }
    v
}

fn int_hex(i: &BigInt) -> String {
    let (sign, mag) = (i.sign(), i.magnitude());
    let s = format!("0x{}", mag.to_str_radix(16));
    if sign == Sign::Minus {
        format!("-{s}")
    } else {
        s
    }
}

/// Top-level stack entry in toncenter's legacy form (`["num","0x…"]`).
pub fn stack_entry(item: &StackItem) -> Value {
    match item {
        StackItem::Null => json!(["null", null]),
        StackItem::Int(i) => json!(["num", int_hex(i)]),
        StackItem::Nan => json!(["num", "NaN"]),
        StackItem::Cell(b) | StackItem::Slice(b) | StackItem::Builder(b) => {
            json!(["cell", { "bytes": b64(b), "object": {} }])
        }
        StackItem::Tuple(items) => json!(["tuple", {
            "@type": "tvm.tuple",
            "elements": items.iter().map(tvm_entry).collect::<Vec<_>>(),
        }]),
        StackItem::Unsupported => json!(["unsupported", null]),
    }
}

/// Nested entry (inside tuples), in tonlib's typed form.
fn tvm_entry(item: &StackItem) -> Value {
    match item {
        StackItem::Int(i) => json!({
            "@type": "tvm.stackEntryNumber",
            "number": { "@type": "tvm.numberDecimal", "number": i.to_string() },
        }),
        StackItem::Cell(b) => {
            json!({ "@type": "tvm.stackEntryCell", "cell": { "@type": "tvm.cell", "bytes": b64(b) } })
        }
        StackItem::Slice(b) | StackItem::Builder(b) => {
            json!({ "@type": "tvm.stackEntrySlice", "slice": { "@type": "tvm.slice", "bytes": b64(b) } })
        }
        StackItem::Tuple(items) => json!({
            "@type": "tvm.stackEntryTuple",
            "tuple": { "@type": "tvm.tuple", "elements": items.iter().map(tvm_entry).collect::<Vec<_>>() },
        }),
        StackItem::Null | StackItem::Nan | StackItem::Unsupported => json!({
            "@type": "tvm.stackEntryList",
            "list": { "@type": "tvm.list", "elements": [] },
        }),
    }
}

fn parse_int(v: &Value) -> Result<BigInt, DevnetError> {
    let bad = || DevnetError::Invalid(format!("invalid number in stack: {v}"));
    match v {
        Value::Number(n) => n.to_string().parse().map_err(|_| bad()),
        Value::String(s) => {
            let s = s.trim();
            let (neg, s) = match s.strip_prefix('-') {
                Some(rest) => (true, rest),
                None => (false, s),
            };
            let n = match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
                Some(hex) => BigInt::parse_bytes(hex.as_bytes(), 16),
                None => BigInt::parse_bytes(s.as_bytes(), 10),
            }
            .ok_or_else(bad)?;
            Ok(if neg { -n } else { n })
        }
        _ => Err(bad()),
    }
}

fn bytes_of(v: &Value) -> Result<Vec<u8>, DevnetError> {
    let s = match v {
        Value::String(s) => s.as_str(),
        Value::Object(o) => o.get("bytes").and_then(Value::as_str).unwrap_or_default(),
        _ => "",
    };
    crate::boc::b64_decode(s)
}

/// Parses a request stack: `[["num","0x2a"], ["tvm.Cell","<boc>"], ["tvm.Slice","<boc>"], …]`.
pub fn parse_stack(v: Option<&Value>) -> Result<Vec<StackItem>, DevnetError> {
    let Some(v) = v else { return Ok(vec![]) };
    let v = match v {
        Value::String(s) if s.trim().is_empty() => return Ok(vec![]),
        Value::String(s) => serde_json::from_str(s)
            .map_err(|e| DevnetError::Invalid(format!("invalid stack: {e}")))?,
        other => other.clone(),
    };
    let Value::Array(entries) = v else {
        return Err(DevnetError::Invalid("stack must be a list".into()));
    };
    entries
        .iter()
        .map(|e| {
            let (ty, val) = match e.as_array().map(Vec::as_slice) {
                Some([ty, val]) => (ty.as_str().unwrap_or_default(), val),
                _ => return Err(DevnetError::Invalid(format!("invalid stack entry: {e}"))),
            };
            Ok(match ty {
                "num" | "number" | "int" => StackItem::Int(parse_int(val)?),
                "tvm.Cell" | "cell" => StackItem::Cell(bytes_of(val)?),
                "tvm.Slice" | "slice" => StackItem::Slice(bytes_of(val)?),
                "tvm.Builder" | "builder" => StackItem::Builder(bytes_of(val)?),
                "null" => StackItem::Null,
                other => {
                    return Err(DevnetError::Invalid(format!(
                        "unsupported stack entry type: {other}"
                    )));
                }
            })
        })
        .collect()
}
