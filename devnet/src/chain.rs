//! The chain model: accounts, the message queue, logical time, blocks and the
//! clock. Every transaction is executed by `tycho-executor` with the config from
//! [`crate::config`]; this module only decides *what* runs *when*, as TON does:
//!
//! - an external message is checked against the current state when it is sent
//!   (a message the contract would not accept is refused, as a liteserver does)
//!   and executed in the next block;
//! - internal messages are delivered in order of their `created_lt`, so a
//!   contract sees its messages in the order they were sent;
//! - logical time is global and strictly increasing; each block starts at a
//!   multiple of 1 000 000, like TON's block lt alignment; each account keeps a
//!   chain of transactions linked by (prev lt, prev hash);
//! - a block runs the pending externals, then drains the internal queue (up to
//!   [`MAX_TXS_PER_BLOCK`]), so after `produce_block` a message chain has settled.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet};

use sha2::{Digest, Sha256};
use tycho_executor::{Executor, ExecutorInspector, ExecutorParams, ParsedConfig, TxError};
use tycho_types::cell::Lazy;
use tycho_types::models::{
    CurrencyCollection, IntAddr, IntMsgInfo, LibDescr, MsgInfo, OptionalAccount, OwnedMessage,
    ShardAccount, StateInit, StdAddr,
};
use tycho_types::num::Tokens;
use tycho_types::prelude::*;

use crate::error::DevnetError;

/// A block stops draining the internal queue after this many transactions
/// (the rest carries over), so a contract that loops messages forever cannot
/// stall the devnet.
pub const MAX_TXS_PER_BLOCK: usize = 100_000;
/// Block logical times start at multiples of this, as on TON.
const BLOCK_LT_ALIGN: u64 = 1_000_000;

/// One executed transaction, as stored in an account's history.
#[derive(Clone, Debug)]
pub struct TxRecord {
    pub lt: u64,
    pub hash: HashBytes,
    /// Root cell of the `Transaction`.
    pub cell: Cell,
    pub block: u32,
}

/// A produced block: which transactions it holds.
#[derive(Clone, Debug)]
pub struct Block {
    pub seqno: u32,
    pub utime: u32,
    pub start_lt: u64,
    pub end_lt: u64,
    /// `sha256(prev root hash, seqno, transaction hashes)`, standing in for
    /// TON's block hashes so clients get stable, unique ids.
    pub root_hash: HashBytes,
    pub txs: Vec<(StdAddr, u64, HashBytes)>,
}

/// An internal message waiting for delivery, ordered by creation lt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Queued {
    pub created_lt: u64,
    pub seq: u64,
    pub dst: StdAddr,
    pub msg: Cell,
}

impl Ord for Queued {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.created_lt, self.seq).cmp(&(other.created_lt, other.seq))
    }
}
impl PartialOrd for Queued {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

/// The clock: real time plus an offset, or a manual clock that moves only when
/// told to (deterministic tests and the fidelity comparison).
#[derive(Clone, Debug)]
pub enum Clock {
    System { offset: u64 },
    Manual { now: u32 },
}

/// What a rejected external message looked like, for toncenter's error text.
#[derive(Debug)]
pub struct Rejection {
    pub exit_code: Option<i32>,
    pub gas_used: u64,
}

pub struct Chain {
    pub global_id: i32,
    pub config: ParsedConfig,
    pub accounts: HashMap<StdAddr, ShardAccount>,
    pub history: HashMap<StdAddr, Vec<TxRecord>>,
    pub tx_index: HashMap<HashBytes, (StdAddr, usize)>,
    pub queue: BinaryHeap<Reverse<Queued>>,
    pub pending_ext: Vec<(StdAddr, Cell)>,
    pending_hashes: HashSet<HashBytes>,
    /// Next free logical time.
    pub lt: u64,
    pub blocks: Vec<Block>,
    pub clock: Clock,
    /// Public libraries (hash → code), see [`crate::libraries`].
    pub libraries: Dict<HashBytes, LibDescr>,
    seq: u64,
}

impl Chain {
    pub fn new(global_id: i32, clock: Clock) -> anyhow::Result<Self> {
        let mut chain = Self {
            global_id,
            config: crate::config::parsed_config(global_id)?,
            accounts: HashMap::new(),
            history: HashMap::new(),
            tx_index: HashMap::new(),
            queue: BinaryHeap::new(),
            pending_ext: Vec::new(),
            pending_hashes: HashSet::new(),
            lt: BLOCK_LT_ALIGN,
            blocks: Vec::new(),
            clock,
            libraries: Dict::new(),
            seq: 0,
        };
        // Block 0: the zerostate, empty.
        let utime = chain.now();
        chain.blocks.push(Block {
            seqno: 0,
            utime,
            start_lt: 0,
            end_lt: 0,
            root_hash: HashBytes(Sha256::digest(b"spindle-devnet zerostate").into()),
            txs: Vec::new(),
        });
        Ok(chain)
    }

    /// Current unix time on the devnet; never goes back.
    pub fn now(&self) -> u32 {
        let t = match self.clock {
            Clock::System { offset } => {
                let sys = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_secs())
                    .unwrap_or(0);
                (sys + offset).min(u32::MAX as u64) as u32
            }
            Clock::Manual { now } => now,
        };
        t.max(self.blocks.last().map(|b| b.utime).unwrap_or(0))
    }

    pub fn advance_time(&mut self, secs: u64) {
        match &mut self.clock {
            Clock::System { offset } => *offset += secs,
            Clock::Manual { now } => *now = now.saturating_add(secs as u32),
        }
    }

    /// Sets the clock to `now` (never backwards).
    pub fn set_time(&mut self, now: u32) {
        let current = self.now();
        if now > current {
            self.advance_time((now - current) as u64);
        }
    }

    pub fn last_block(&self) -> &Block {
        self.blocks.last().expect("block 0 always exists")
    }

    /// The account's shard state; a never-seen address is "nonexistent".
    pub fn shard_account(&self, addr: &StdAddr) -> ShardAccount {
        self.accounts
            .get(addr)
            .cloned()
            .unwrap_or_else(empty_shard_account)
    }

    /// Executor parameters for a block at `utime` starting at `block_lt`.
    fn params(&self, seqno: u32, utime: u32, block_lt: u64) -> ExecutorParams {
        let mut h = Sha256::new();
        h.update(b"spindle-devnet rand seed");
        h.update(seqno.to_be_bytes());
        h.update(self.last_block().root_hash.as_slice());
        ExecutorParams {
            rand_seed: HashBytes(h.finalize().into()),
            block_unixtime: utime,
            block_lt,
            libraries: self.libraries.clone(),
            ..Default::default()
        }
    }

    /// Checks an external message against the current state the way a
    /// liteserver does before broadcasting it, then queues it for the next
    /// block. Returns the message hash.
    pub fn submit_external(&mut self, msg: Cell) -> Result<HashBytes, DevnetError> {
        let hash = *msg.repr_hash();
        let info = msg
            .parse::<MsgInfo>()
            .map_err(|e| DevnetError::BadMessage(format!("cannot parse message: {e}")))?;
        let MsgInfo::ExtIn(info) = info else {
            return Err(DevnetError::BadMessage(
                "only external inbound messages can be sent".into(),
            ));
        };
        let IntAddr::Std(dst) = info.dst else {
            return Err(DevnetError::BadMessage(
                "unsupported destination address".into(),
            ));
        };
        if self.pending_hashes.contains(&hash) {
            return Ok(hash); // the same message again: already queued, as on TON
        }
        self.check_external(&dst, &msg)
            .map_err(|r| DevnetError::Rejected {
                address: dst.clone(),
                exit_code: r.exit_code,
                gas_used: r.gas_used,
            })?;
        self.pending_hashes.insert(hash);
        self.pending_ext.push((dst, msg));
        Ok(hash)
    }

    /// Queues an external without the acceptance check (the devnet's own faucet
    /// messages, whose seqnos follow each other within one block).
    pub fn submit_external_unchecked(&mut self, dst: StdAddr, msg: Cell) -> HashBytes {
        let hash = *msg.repr_hash();
        self.pending_hashes.insert(hash);
        self.pending_ext.push((dst, msg));
        hash
    }

    /// Would the contract accept this external now? Runs the compute phase up
    /// to `ACCEPT` only, as a liteserver's pre-broadcast check does.
    fn check_external(&self, dst: &StdAddr, msg: &Cell) -> Result<(), Rejection> {
        let seqno = self.last_block().seqno + 1;
        let params = self.params(seqno, self.now(), self.lt);
        let state = self.shard_account(dst);
        let mut inspector = ExecutorInspector::default();
        Executor::new(&params, &self.config)
            .with_min_lt(self.lt)
            .check_ordinary_ext(dst, msg.clone(), &state, Some(&mut inspector))
            .map_err(|_| Rejection {
                exit_code: inspector.exit_code,
                gas_used: inspector.total_gas_used,
            })
    }

    /// Runs an external message on the current state without committing.
    /// `ignore_chksig` makes signature checks pass (toncenter's estimateFee).
    pub fn dry_run_external(
        &self,
        dst: &StdAddr,
        msg: &Cell,
        ignore_chksig: bool,
    ) -> Result<tycho_executor::ExecutorOutput, Rejection> {
        let seqno = self.last_block().seqno + 1;
        let mut params = self.params(seqno, self.now(), self.lt);
        params.vm_modifiers.chksig_always_succeed = ignore_chksig;
        let state = self.shard_account(dst);
        let mut inspector = ExecutorInspector::default();
        let res = Executor::new(&params, &self.config)
            .with_min_lt(self.lt)
            .begin_ordinary_ext(dst, true, msg.clone(), &state, Some(&mut inspector))
            .and_then(|tx| tx.commit().map_err(TxError::Fatal));
        res.map_err(|_| Rejection {
            exit_code: inspector.exit_code,
            gas_used: inspector.total_gas_used,
        })
    }

    /// Queues any internal message as given (its cell, hence its hash, is kept),
    /// as if it arrived from another shard: the devnet-only way to drive a
    /// contract from an arbitrary sender, like @ton/sandbox's `sendMessage`.
    pub fn inject_internal(&mut self, msg: Cell) -> Result<HashBytes, DevnetError> {
        let hash = *msg.repr_hash();
        match msg.parse::<MsgInfo>() {
            Ok(MsgInfo::Int(IntMsgInfo {
                dst: IntAddr::Std(dst),
                ..
            })) => {
                self.enqueue_internal(dst, msg);
                Ok(hash)
            }
            Ok(_) => Err(DevnetError::BadMessage(
                "not an internal message to a standard address".into(),
            )),
            Err(e) => Err(DevnetError::BadMessage(format!(
                "cannot parse message: {e}"
            ))),
        }
    }

    /// Replaces an account's state outright (devnet only: cloning fixtures such
    /// as @ton/sandbox's treasuries). The cell is a `ShardAccount`.
    pub fn set_account(&mut self, addr: StdAddr, shard_account: Cell) -> Result<(), DevnetError> {
        let sa: ShardAccount = shard_account
            .parse()
            .map_err(|e| DevnetError::Invalid(format!("not a ShardAccount: {e}")))?;
        self.accounts.insert(addr, sa);
        Ok(())
    }

    /// Puts an internal message straight into the queue (genesis deploys).
    pub fn enqueue_internal(&mut self, dst: StdAddr, msg: Cell) {
        let created_lt = self.lt;
        self.lt += 1;
        self.push_queue(created_lt, dst, msg);
    }

    fn push_queue(&mut self, created_lt: u64, dst: StdAddr, msg: Cell) {
        self.seq += 1;
        self.queue.push(Reverse(Queued {
            created_lt,
            seq: self.seq,
            dst,
            msg,
        }));
    }

    /// Produces one block: runs pending externals, then delivers internal
    /// messages in lt order until the queue is empty (or the block is full).
    pub fn produce_block(&mut self) -> &Block {
        let seqno = self.last_block().seqno + 1;
        let utime = self.now();
        let start_lt = self.lt.div_ceil(BLOCK_LT_ALIGN) * BLOCK_LT_ALIGN;
        self.lt = start_lt;
        let params = self.params(seqno, utime, start_lt);
        let mut txs = Vec::new();

        let externals = std::mem::take(&mut self.pending_ext);
        self.pending_hashes.clear();
        for (dst, msg) in externals {
            // A message that is no longer accepted (its seqno was used by an
            // earlier one) is dropped, as a validator drops it.
            if let Some(id) = self.execute(&params, seqno, &dst, true, msg) {
                txs.push(id);
            }
        }
        while let Some(Reverse(q)) = self.queue.pop() {
            if txs.len() >= MAX_TXS_PER_BLOCK {
                self.queue.push(Reverse(q));
                break;
            }
            if let Some(id) = self.execute(&params, seqno, &q.dst, false, q.msg) {
                txs.push(id);
            }
        }

        let mut h = Sha256::new();
        h.update(self.last_block().root_hash.as_slice());
        h.update(seqno.to_be_bytes());
        for (_, _, hash) in &txs {
            h.update(hash.as_slice());
        }
        self.blocks.push(Block {
            seqno,
            utime,
            start_lt,
            end_lt: self.lt,
            root_hash: HashBytes(h.finalize().into()),
            txs,
        });
        self.last_block()
    }

    /// Executes one message on one account and commits the result.
    fn execute(
        &mut self,
        params: &ExecutorParams,
        seqno: u32,
        addr: &StdAddr,
        is_external: bool,
        msg: Cell,
    ) -> Option<(StdAddr, u64, HashBytes)> {
        let state = self.shard_account(addr);
        let result = Executor::new(params, &self.config)
            .with_min_lt(self.lt)
            .begin_ordinary(addr, is_external, msg, &state)
            .and_then(|tx| tx.commit().map_err(TxError::Fatal));
        let out = match result {
            Ok(out) => out,
            Err(TxError::Skipped) => return None,
            Err(TxError::Fatal(e)) => {
                // Only a malformed message or state gets here; the message is
                // dropped and the chain carries on.
                tracing::warn!(%addr, "transaction failed to execute: {e:#}");
                return None;
            }
        };
        let tx_cell = out.transaction.inner().clone();
        let hash = *tx_cell.repr_hash();
        let lt = out.new_state.last_trans_lt;
        self.lt = self.lt.max(out.transaction_meta.next_lt);
        self.accounts.insert(addr.clone(), out.new_state);
        let history = self.history.entry(addr.clone()).or_default();
        self.tx_index.insert(hash, (addr.clone(), history.len()));
        history.push(TxRecord {
            lt,
            hash,
            cell: tx_cell,
            block: seqno,
        });

        for out_msg in out.transaction_meta.out_msgs {
            let cell = out_msg.into_inner();
            if let Ok(MsgInfo::Int(IntMsgInfo {
                dst: IntAddr::Std(dst),
                created_lt,
                ..
            })) = cell.parse::<MsgInfo>()
            {
                self.push_queue(created_lt, dst, cell);
            }
            // External outbound messages (logs) stay in the transaction only.
        }
        Some((addr.clone(), lt, hash))
    }

    /// Transactions of an account, oldest first.
    pub fn account_txs(&self, addr: &StdAddr) -> &[TxRecord] {
        self.history.get(addr).map(Vec::as_slice).unwrap_or(&[])
    }

    pub fn tx_by_hash(&self, hash: &HashBytes) -> Option<(&StdAddr, &TxRecord)> {
        let (addr, i) = self.tx_index.get(hash)?;
        Some((addr, &self.history.get(addr)?[*i]))
    }
}

pub fn empty_shard_account() -> ShardAccount {
    ShardAccount {
        account: Lazy::new(&OptionalAccount::EMPTY).expect("empty account serializes"),
        last_trans_hash: HashBytes::ZERO,
        last_trans_lt: 0,
    }
}

/// An internal message, as a system transfer from the masterchain zero address
/// (genesis funding).
pub fn system_message(
    dst: &StdAddr,
    amount: u128,
    init: Option<StateInit>,
    now: u32,
    lt: u64,
) -> anyhow::Result<Cell> {
    let msg = OwnedMessage {
        info: MsgInfo::Int(IntMsgInfo {
            ihr_disabled: true,
            bounce: false,
            bounced: false,
            src: IntAddr::Std(StdAddr::new(-1, HashBytes::ZERO)),
            dst: IntAddr::Std(dst.clone()),
            value: CurrencyCollection::new(amount),
            extra_flags: Default::default(),
            fwd_fee: Tokens::ZERO,
            created_lt: lt,
            created_at: now,
        }),
        init,
        body: Default::default(),
        layout: None,
    };
    Ok(CellBuilder::build_from(msg)?)
}
