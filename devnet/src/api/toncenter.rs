//! toncenter v2 methods. Each takes the request's parameters (from the query
//! string, a JSON body or JSON-RPC `params`) and returns toncenter's `result`.

use std::collections::HashSet;

use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use tonlib_core::wallet::version_helper::VersionHelper;
use tonlib_core::wallet::wallet_version::WalletVersion;
use tycho_types::cell::CellTreeStats;
use tycho_types::models::{
    AccountState, ExtInMsgInfo, IntAddr, MsgInfo, OwnedMessage, StateInit, StdAddr,
};
use tycho_types::num::Tokens;
use tycho_types::prelude::*;

use super::shape;
use crate::boc;
use crate::chain::Chain;
use crate::error::DevnetError;
use crate::getter::{self, StackItem};
use crate::tx;
use crate::{AccountInfo, Devnet};

type Params = Map<String, Value>;

fn param<'a>(p: &'a Params, name: &str) -> Option<&'a Value> {
    p.get(name).filter(|v| !v.is_null())
}

fn str_param(p: &Params, name: &str) -> Result<String, DevnetError> {
    match param(p, name) {
        Some(Value::String(s)) => Ok(s.clone()),
        Some(Value::Number(n)) => Ok(n.to_string()),
        _ => Err(DevnetError::Invalid(format!(
            "missing required parameter: {name}"
        ))),
    }
}

fn opt_u64(p: &Params, name: &str) -> Result<Option<u64>, DevnetError> {
    match param(p, name) {
        None => Ok(None),
        Some(Value::Number(n)) => n
            .as_u64()
            .map(Some)
            .ok_or_else(|| DevnetError::Invalid(format!("invalid {name}"))),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(Value::String(s)) => s
            .parse()
            .map(Some)
            .map_err(|_| DevnetError::Invalid(format!("invalid {name}: {s}"))),
        Some(v) => Err(DevnetError::Invalid(format!("invalid {name}: {v}"))),
    }
}

fn bool_param(p: &Params, name: &str) -> bool {
    match param(p, name) {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => s == "true" || s == "1",
        Some(Value::Number(n)) => n.as_u64() == Some(1),
        _ => false,
    }
}

fn address(p: &Params, name: &str) -> Result<StdAddr, DevnetError> {
    boc::parse_address(&str_param(p, name)?)
}

/// A hash given as hex (64 chars) or base64.
fn parse_hash(s: &str) -> Result<[u8; 32], DevnetError> {
    let bytes = if s.len() == 64 && s.chars().all(|c| c.is_ascii_hexdigit()) {
        hex::decode(s).ok()
    } else {
        boc::b64_decode(s).ok()
    };
    bytes
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| DevnetError::Invalid(format!("invalid hash: {s}")))
}

/// Dispatches one toncenter method.
pub fn call(devnet: &Devnet, method: &str, p: &Params) -> Result<Value, DevnetError> {
    match method {
        "getMasterchainInfo" => devnet.with_chain(|c| Ok(masterchain_info(c))),
        "getAddressInformation" => {
            let a = address(p, "address")?;
            devnet.with_chain(|c| address_information(c, &a))
        }
        "getExtendedAddressInformation" => {
            let a = address(p, "address")?;
            devnet.with_chain(|c| extended_address_information(c, &a))
        }
        "getWalletInformation" => {
            let a = address(p, "address")?;
            devnet.with_chain(|c| wallet_information(c, &a))
        }
        "getAddressBalance" => {
            let a = address(p, "address")?;
            devnet.with_chain(|c| Ok(json!(account_info(c, &a)?.balance.to_string())))
        }
        "getAddressState" => {
            let a = address(p, "address")?;
            devnet.with_chain(|c| Ok(json!(account_info(c, &a)?.state)))
        }
        "getTransactions" => get_transactions(devnet, p),
        "sendBoc" => {
            devnet.send_boc(&boc::b64_decode(&str_param(p, "boc")?)?)?;
            Ok(json!({ "@type": "ok" }))
        }
        "sendBocReturnHash" => {
            let bytes = boc::b64_decode(&str_param(p, "boc")?)?;
            let cell = boc::decode(&bytes)?;
            let norm = normalized_hash(&cell);
            let hash = devnet.send_boc(&bytes)?;
            Ok(
                json!({ "@type": "raw.extMessageInfo", "hash": shape::b64(&hash), "hash_norm": shape::b64(&norm) }),
            )
        }
        "runGetMethod" => {
            let a = address(p, "address")?;
            let m = str_param(p, "method")?;
            let stack = shape::parse_stack(param(p, "stack"))?;
            devnet.with_chain(|c| run_get_method(c, &a, &m, &stack))
        }
        "estimateFee" => devnet.with_chain(|c| estimate_fee(c, p)),
        "tryLocateTx" | "tryLocateResultTx" => locate_tx(devnet, p, true),
        "tryLocateSourceTx" => locate_tx(devnet, p, false),
        "shards" => {
            let seqno = opt_u64(p, "seqno")?.unwrap_or(0) as u32;
            devnet.with_chain(|c| {
                let b = c
                    .blocks
                    .get(seqno as usize)
                    .ok_or_else(|| not_found("block"))?;
                Ok(json!({ "@type": "blocks.shards", "shards": [shape::block_id(b, 0)] }))
            })
        }
        "getBlockTransactions" => block_transactions(devnet, p),
        "getConfigParam" => {
            let id = opt_u64(p, "config_id")?.ok_or_else(|| {
                DevnetError::Invalid("missing required parameter: config_id".into())
            })?;
            devnet.with_chain(|c| {
                let cell = c.config.raw.params.get_raw_cell(id as u32)?.ok_or_else(|| not_found("config param"))?;
                Ok(json!({ "@type": "configInfo", "config": { "@type": "tvm.cell", "bytes": boc::encode_b64(&cell) } }))
            })
        }
        _ => Err(DevnetError::NotFound(format!("method not found: {method}"))),
    }
}

fn not_found(what: &str) -> DevnetError {
    DevnetError::NotFound(format!("{what} not found"))
}

fn masterchain_info(c: &Chain) -> Value {
    let last = c.last_block();
    json!({
        "@type": "blocks.masterchainInfo",
        "last": shape::block_id(last, -1),
        "state_root_hash": shape::b64(Sha256::digest(last.root_hash.as_slice()).as_slice()),
        "init": shape::block_id(&c.blocks[0], -1),
    })
}

/// Account state in the terms `getAddressInformation` uses.
pub fn account_info(c: &Chain, a: &StdAddr) -> Result<AccountInfo, DevnetError> {
    let sa = c.shard_account(a);
    let mut info = AccountInfo {
        state: "uninitialized",
        balance: 0,
        code: None,
        data: None,
        frozen_hash: None,
        last_tx_lt: sa.last_trans_lt,
        last_tx_hash: sa.last_trans_hash.0,
    };
    if let Some(acc) = sa.load_account()? {
        info.balance = acc.balance.tokens.into_inner();
        match acc.state {
            AccountState::Active(s) => {
                info.state = "active";
                info.code = s.code.as_ref().map(boc::encode);
                info.data = s.data.as_ref().map(boc::encode);
            }
            AccountState::Frozen(h) => {
                info.state = "frozen";
                info.frozen_hash = Some(h.0);
            }
            AccountState::Uninit => {}
        }
    }
    Ok(info)
}

fn address_information(c: &Chain, a: &StdAddr) -> Result<Value, DevnetError> {
    let i = account_info(c, a)?;
    Ok(json!({
        "@type": "raw.fullAccountState",
        "balance": i.balance.to_string(),
        "extra_currencies": [],
        "code": i.code.as_deref().map(shape::b64).unwrap_or_default(),
        "data": i.data.as_deref().map(shape::b64).unwrap_or_default(),
        "last_transaction_id": shape::tx_id(i.last_tx_lt, &i.last_tx_hash),
        "block_id": shape::block_id(c.last_block(), -1),
        "frozen_hash": i.frozen_hash.map(|h| shape::b64(&h)).unwrap_or_default(),
        "sync_utime": c.last_block().utime,
        "state": i.state,
    }))
}

fn extended_address_information(c: &Chain, a: &StdAddr) -> Result<Value, DevnetError> {
    let i = account_info(c, a)?;
    let account_state = match i.state {
        "active" => json!({
            "@type": "raw.accountState",
            "code": i.code.as_deref().map(shape::b64).unwrap_or_default(),
            "data": i.data.as_deref().map(shape::b64).unwrap_or_default(),
            "frozen_hash": "",
        }),
        _ => json!({
            "@type": "uninited.accountState",
            "frozen_hash": i.frozen_hash.map(|h| shape::b64(&h)).unwrap_or_default(),
        }),
    };
    Ok(json!({
        "@type": "fullAccountState",
        "address": { "@type": "accountAddress", "account_address": boc::friendly(a) },
        "balance": i.balance.to_string(),
        "extra_currencies": [],
        "last_transaction_id": shape::tx_id(i.last_tx_lt, &i.last_tx_hash),
        "block_id": shape::block_id(c.last_block(), -1),
        "sync_utime": c.last_block().utime,
        "account_state": account_state,
        "revision": 0,
    }))
}

/// toncenter's names for the wallet contracts it recognises by code hash.
fn wallet_type(code: &[u8]) -> Option<&'static str> {
    let hash = boc::decode(code).ok()?.repr_hash().0;
    [
        (WalletVersion::V3R2, "wallet v3 r2"),
        (WalletVersion::V4R2, "wallet v4 r2"),
        (WalletVersion::V5R1, "wallet v5 r1"),
    ]
    .into_iter()
    .find(|(v, _)| {
        VersionHelper::get_code(*v)
            .map(|c| c.cell_hash().as_slice() == hash)
            .unwrap_or(false)
    })
    .map(|(_, name)| name)
}

fn wallet_information(c: &Chain, a: &StdAddr) -> Result<Value, DevnetError> {
    let i = account_info(c, a)?;
    let mut v = json!({
        "wallet": false,
        "balance": i.balance.to_string(),
        "extra_currencies": [],
        "account_state": i.state,
        "last_transaction_id": shape::tx_id(i.last_tx_lt, &i.last_tx_hash),
    });
    if let Some(ty) = i.code.as_deref().and_then(wallet_type) {
        v["wallet"] = json!(true);
        v["wallet_type"] = json!(ty);
        let int_of = |m: &str| match getter::run(c, a, m, &[]).ok()?.stack.first() {
            Some(StackItem::Int(n)) => i64::try_from(n.clone()).ok(),
            _ => None,
        };
        if let Some(seqno) = int_of("seqno") {
            v["seqno"] = json!(seqno);
        }
        if let Some(id) = int_of("get_subwallet_id") {
            v["wallet_id"] = json!(id);
        }
    }
    Ok(v)
}

fn get_transactions(devnet: &Devnet, p: &Params) -> Result<Value, DevnetError> {
    let a = address(p, "address")?;
    let limit = opt_u64(p, "limit")?.unwrap_or(10).clamp(1, 1000) as usize;
    let lt = opt_u64(p, "lt")?;
    let hash = match param(p, "hash")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
    {
        Some(h) => Some(parse_hash(h)?),
        None => None,
    };
    let to_lt = opt_u64(p, "to_lt")?.unwrap_or(0);
    devnet.with_chain(|c| {
        let txs = c.account_txs(&a);
        // Start at the given (lt, hash) inclusive, else at the newest; walk back.
        let start = match (lt, hash) {
            (Some(lt), h) => match txs
                .iter()
                .rposition(|t| t.lt == lt && h.is_none_or(|h| t.hash.0 == h))
            {
                Some(i) => i + 1,
                None => return Ok(json!([])),
            },
            (None, Some(h)) => match txs.iter().rposition(|t| t.hash.0 == h) {
                Some(i) => i + 1,
                None => return Ok(json!([])),
            },
            (None, None) => txs.len(),
        };
        let out: Result<Vec<Value>, DevnetError> = txs[..start]
            .iter()
            .rev()
            .take_while(|t| to_lt == 0 || t.lt > to_lt)
            .take(limit)
            .map(|t| Ok(shape::transaction(&tx::summarize_tx(a.workchain, &t.cell)?)))
            .collect();
        Ok(Value::Array(out?))
    })
}

/// Finds the transaction that received (`result`) or sent (`source`) the
/// message from `source` to `destination` created at `created_lt`.
fn locate_tx(devnet: &Devnet, p: &Params, result: bool) -> Result<Value, DevnetError> {
    let src = address(p, "source")?;
    let dst = address(p, "destination")?;
    let created_lt = opt_u64(p, "created_lt")?
        .ok_or_else(|| DevnetError::Invalid("missing required parameter: created_lt".into()))?;
    let (src_t, dst_t) = (boc::to_ton(&src), boc::to_ton(&dst));
    let on = if result { &dst } else { &src };
    devnet.with_chain(|c| {
        for t in c.account_txs(on) {
            let s = tx::summarize_tx(on.workchain, &t.cell)?;
            let matches = |m: &crate::MsgSummary| {
                m.created_lt == created_lt
                    && m.src.as_ref() == Some(&src_t)
                    && m.dst.as_ref() == Some(&dst_t)
            };
            let hit = if result {
                s.in_msg.as_ref().is_some_and(matches)
            } else {
                s.out_msgs.iter().any(matches)
            };
            if hit {
                return Ok(shape::transaction(&s));
            }
        }
        Err(DevnetError::NotFound("transaction not found".into()))
    })
}

fn block_transactions(devnet: &Devnet, p: &Params) -> Result<Value, DevnetError> {
    let seqno = opt_u64(p, "seqno")?
        .ok_or_else(|| DevnetError::Invalid("missing required parameter: seqno".into()))?
        as usize;
    let workchain = match param(p, "workchain") {
        Some(v) => v
            .as_i64()
            .or_else(|| v.as_str()?.parse().ok())
            .unwrap_or(-1),
        None => -1,
    };
    let count = opt_u64(p, "count")?.unwrap_or(40) as usize;
    devnet.with_chain(|c| {
        let b = c.blocks.get(seqno).ok_or_else(|| not_found("block"))?;
        let txs: Vec<Value> = b
            .txs
            .iter()
            .filter(|(a, _, _)| workchain == -1 || a.workchain as i64 == workchain)
            .take(count)
            .map(|(a, lt, h)| {
                json!({
                    "@type": "blocks.shortTxId",
                    "mode": 135,
                    "account": a.to_string(),
                    "lt": lt.to_string(),
                    "hash": shape::b64(h.as_slice()),
                })
            })
            .collect();
        Ok(json!({
            "@type": "blocks.transactions",
            "id": shape::block_id(b, workchain as i32),
            "req_count": count,
            "incomplete": false,
            "transactions": txs,
        }))
    })
}

fn run_get_method(
    c: &Chain,
    a: &StdAddr,
    method: &str,
    stack: &[StackItem],
) -> Result<Value, DevnetError> {
    let r = getter::run(c, a, method, stack)?;
    let sa = c.shard_account(a);
    Ok(json!({
        "@type": "smc.runResult",
        "gas_used": r.gas_used,
        "stack": r.stack.iter().map(shape::stack_entry).collect::<Vec<_>>(),
        "exit_code": r.exit_code,
        "block_id": shape::block_id(c.last_block(), -1),
        "last_transaction_id": shape::tx_id(sa.last_trans_lt, &sa.last_trans_hash.0),
    }))
}

/// Counts distinct cells and bits below the root (forwarding fees do not
/// charge the root cell).
fn tree_stats(root: &Cell) -> CellTreeStats {
    let mut seen = HashSet::new();
    let mut stats = CellTreeStats {
        bit_count: 0,
        cell_count: 0,
    };
    let mut stack: Vec<Cell> = root.references().cloned().collect();
    while let Some(cell) = stack.pop() {
        if seen.insert(*cell.repr_hash()) {
            stats.bit_count += cell.bit_len() as u64;
            stats.cell_count += 1;
            stack.extend(cell.references().cloned());
        }
    }
    stats
}

fn estimate_fee(c: &Chain, p: &Params) -> Result<Value, DevnetError> {
    let dst = address(p, "address")?;
    let body = boc::decode_b64(&str_param(p, "body")?)?;
    let code = str_param(p, "init_code").ok().filter(|s| !s.is_empty());
    let data = str_param(p, "init_data").ok().filter(|s| !s.is_empty());
    let init = match (code, data) {
        (None, None) => None,
        (code, data) => Some(StateInit {
            split_depth: None,
            special: None,
            code: code.map(|s| boc::decode_b64(&s)).transpose()?,
            data: data.map(|s| boc::decode_b64(&s)).transpose()?,
            libraries: Dict::new(),
        }),
    };
    let msg = CellBuilder::build_from(OwnedMessage {
        info: MsgInfo::ExtIn(ExtInMsgInfo {
            src: None,
            dst: IntAddr::Std(dst.clone()),
            import_fee: Tokens::ZERO,
        }),
        init,
        body: (CellSliceRange::full(body.as_ref()), body.clone()),
        layout: None,
    })?;
    let in_fwd_fee = c
        .config
        .fwd_prices(dst.is_masterchain())
        .compute_fwd_fee(tree_stats(&msg));
    let out = c
        .dry_run_external(&dst, &msg, bool_param(p, "ignore_chksig"))
        .map_err(|r| DevnetError::Rejected {
            address: dst.clone(),
            exit_code: r.exit_code,
            gas_used: r.gas_used,
        })?;
    let s = tx::summarize_tx(dst.workchain, out.transaction.inner())?;
    Ok(json!({
        "@type": "query.fees",
        "source_fees": {
            "@type": "fees",
            "in_fwd_fee": in_fwd_fee.into_inner() as u64,
            "storage_fee": s.storage_fee as u64,
            "gas_fee": s.gas_fees as u64,
            "fwd_fee": s.total_fwd_fees as u64,
        },
        "destination_fees": [],
    }))
}

/// TEP-467 normalized hash of an external message: source `addr_none`,
/// import fee 0, no state init, body in a reference.
fn normalized_hash(msg: &Cell) -> [u8; 32] {
    let norm = (|| -> Option<Cell> {
        let m = msg.parse::<OwnedMessage>().ok()?;
        let MsgInfo::ExtIn(info) = m.info else {
            return None;
        };
        let mut body = CellBuilder::new();
        body.store_slice(m.body.0.apply_allow_exotic(&m.body.1))
            .ok()?;
        let body = body.build().ok()?;
        let ctx = Cell::empty_context();
        let mut b = CellBuilder::new();
        b.store_small_uint(0b10, 2).ok()?; // ext_in_msg_info$10
        b.store_small_uint(0, 2).ok()?; // src: addr_none
        info.dst.store_into(&mut b, ctx).ok()?;
        Tokens::ZERO.store_into(&mut b, ctx).ok()?;
        b.store_bit_zero().ok()?; // no init
        b.store_bit_one().ok()?; // body in a reference
        b.store_reference(body).ok()?;
        b.build().ok()
    })();
    norm.map(|c| c.repr_hash().0)
        .unwrap_or_else(|| msg.repr_hash().0)
}
