//! `--state FILE`: the whole chain as one JSON file (cells as base64 BoCs),
//! written atomically (temp file + rename) so a crash never leaves half a file.

use std::collections::BinaryHeap;
use std::path::Path;

use serde::{Deserialize, Serialize};
use tycho_types::models::{ShardAccount, StdAddr};
use tycho_types::prelude::*;

use crate::boc;
use crate::chain::{Block, Chain, Clock, Queued, TxRecord};

#[derive(Serialize, Deserialize)]
struct Snapshot {
    global_id: i32,
    lt: u64,
    /// Seconds the clock was ahead of wall time (system clock only).
    time_offset: u64,
    accounts: Vec<(String, String)>,
    /// Per account: (transaction BoC, block seqno), oldest first.
    history: Vec<(String, Vec<(String, u32)>)>,
    blocks: Vec<SavedBlock>,
    queue: Vec<(u64, u64, String, String)>,
    pending_ext: Vec<(String, String)>,
}

#[derive(Serialize, Deserialize)]
struct SavedBlock {
    seqno: u32,
    utime: u32,
    start_lt: u64,
    end_lt: u64,
    root_hash: String,
    txs: Vec<(String, u64, String)>,
}

fn addr_key(a: &StdAddr) -> String {
    a.to_string()
}

fn parse_addr(s: &str) -> anyhow::Result<StdAddr> {
    Ok(boc::parse_address(s)?)
}

fn hash_hex(h: &HashBytes) -> String {
    hex::encode(h.as_slice())
}

fn parse_hash(s: &str) -> anyhow::Result<HashBytes> {
    let v = hex::decode(s)?;
    Ok(HashBytes(
        v.try_into()
            .map_err(|_| anyhow::anyhow!("bad hash length"))?,
    ))
}

pub fn save(chain: &Chain, path: &Path) -> anyhow::Result<()> {
    let mut accounts = Vec::new();
    for (a, sa) in &chain.accounts {
        accounts.push((addr_key(a), boc::encode_b64(&CellBuilder::build_from(sa)?)));
    }
    let history = chain
        .history
        .iter()
        .map(|(a, txs)| {
            (
                addr_key(a),
                txs.iter()
                    .map(|t| (boc::encode_b64(&t.cell), t.block))
                    .collect(),
            )
        })
        .collect();
    let blocks = chain
        .blocks
        .iter()
        .map(|b| SavedBlock {
            seqno: b.seqno,
            utime: b.utime,
            start_lt: b.start_lt,
            end_lt: b.end_lt,
            root_hash: hash_hex(&b.root_hash),
            txs: b
                .txs
                .iter()
                .map(|(a, lt, h)| (addr_key(a), *lt, hash_hex(h)))
                .collect(),
        })
        .collect();
    let queue = chain
        .queue
        .iter()
        .map(|q| {
            (
                q.0.created_lt,
                q.0.seq,
                addr_key(&q.0.dst),
                boc::encode_b64(&q.0.msg),
            )
        })
        .collect();
    let pending_ext = chain
        .pending_ext
        .iter()
        .map(|(a, m)| (addr_key(a), boc::encode_b64(m)))
        .collect();
    let time_offset = match chain.clock {
        Clock::System { offset } => offset,
        Clock::Manual { .. } => 0,
    };
    let snap = Snapshot {
        global_id: chain.global_id,
        lt: chain.lt,
        time_offset,
        accounts,
        history,
        blocks,
        queue,
        pending_ext,
    };
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, serde_json::to_vec(&snap)?)?;
    std::fs::rename(&tmp, path)?;
    Ok(())
}

pub fn load(path: &Path, clock: Clock) -> anyhow::Result<Chain> {
    let snap: Snapshot = serde_json::from_slice(&std::fs::read(path)?)?;
    let clock = match clock {
        Clock::System { .. } => Clock::System {
            offset: snap.time_offset,
        },
        manual => manual,
    };
    let mut chain = Chain::new(snap.global_id, clock)?;
    chain.lt = snap.lt;
    for (a, sa) in snap.accounts {
        let sa: ShardAccount = boc::decode_b64(&sa)?.parse()?;
        chain.accounts.insert(parse_addr(&a)?, sa);
    }
    for (a, txs) in snap.history {
        let addr = parse_addr(&a)?;
        let mut recs = Vec::new();
        for (i, (b64, block)) in txs.into_iter().enumerate() {
            let cell = boc::decode_b64(&b64)?;
            let tx = cell.parse::<tycho_types::models::Transaction>()?;
            let hash = *cell.repr_hash();
            chain.tx_index.insert(hash, (addr.clone(), i));
            recs.push(TxRecord {
                lt: tx.lt,
                hash,
                cell,
                block,
            });
        }
        chain.history.insert(addr, recs);
    }
    chain.blocks = snap
        .blocks
        .into_iter()
        .map(|b| {
            Ok(Block {
                seqno: b.seqno,
                utime: b.utime,
                start_lt: b.start_lt,
                end_lt: b.end_lt,
                root_hash: parse_hash(&b.root_hash)?,
                txs: b
                    .txs
                    .into_iter()
                    .map(|(a, lt, h)| Ok((parse_addr(&a)?, lt, parse_hash(&h)?)))
                    .collect::<anyhow::Result<_>>()?,
            })
        })
        .collect::<anyhow::Result<_>>()?;
    let mut queue = BinaryHeap::new();
    for (created_lt, seq, dst, msg) in snap.queue {
        queue.push(std::cmp::Reverse(Queued {
            created_lt,
            seq,
            dst: parse_addr(&dst)?,
            msg: boc::decode_b64(&msg)?,
        }));
    }
    chain.queue = queue;
    for (a, m) in snap.pending_ext {
        chain.submit_external_unchecked(parse_addr(&a)?, boc::decode_b64(&m)?);
    }
    Ok(chain)
}
