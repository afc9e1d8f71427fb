//! What the dashboard reads from the chain itself (not from this relayer's store),
//! through the same toncenter API the relayer uses: the hub's parameters
//! (`get_params`, `is_paused`), provider stakes (`get_stake` and slash messages),
//! compute accounts (`get_account_state`), and an address's recent transactions
//! (the job page's links, the relayer wallet's fees per day).
//!
//! Answers are cached for a few seconds: every open page polls, and the chain
//! API's rate limit is shared with the relayer's real work.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use spindle_sdk::protocol::hub::HubParams;
use spindle_sdk::protocol::provider_stake as ps;
use spindle_sdk::toncenter::{StackValue, Toncenter};
use spindle_sdk::{ArcCell, BigInt, TonAddress, address};

/// How long a chain answer is reused.
const CACHE_FOR: Duration = Duration::from_secs(5);
/// Transactions read per address (the newest).
const TX_LIMIT: u32 = 50;
/// `op::stake_slash` (contracts/func/op-codes.fc).
const OP_STAKE_SLASH: u32 = 0x5354_0006;

/// Reads the chain for the dashboard.
pub struct ChainView {
    api: Toncenter,
    hub: TonAddress,
    stake_code: ArcCell,
    cache: Mutex<HashMap<String, (Instant, Value)>>,
}

/// Names of the ops a Spindle transaction may carry, for people.
fn op_name(op: u32) -> Option<&'static str> {
    Some(match op {
        0x4a42_0001 => "escrow create",
        0x4a42_0002 => "complete",
        0x4a42_0003 => "expire",
        0x4a42_0004 => "delivered",
        0x4a42_0005 => "refund",
        0x4a42_0006 => "settlement fee",
        0x4a42_0007 => "protocol fee",
        0x4a42_0008 => "escrow create (USDT)",
        0x5354_0001 => "stake init",
        0x5354_0002 => "stake top-up",
        0x5354_0003 => "set operator",
        0x5354_0004 => "unbond",
        0x5354_0005 => "withdraw stake",
        OP_STAKE_SLASH => "slash",
        0x5354_0007 => "deliver",
        0x4341_000a => "payout",
        0x4842_0001 => "hub create job",
        0x4341_0001 => "account init",
        0x4341_0002 => "deposit",
        0x4341_0003 => "voucher settle",
        0x4341_0004 => "request withdrawal",
        0x4341_0005 => "withdraw",
        0x7362_d09c => "jetton notification",
        _ => return None,
    })
}

fn num(s: &[StackValue], i: usize, what: &str) -> Result<BigInt, String> {
    s.get(i)
        .and_then(StackValue::as_num)
        .cloned()
        .ok_or_else(|| format!("{what}: stack entry {i} is not a number"))
}

/// A stack number as a decimal string (amounts exceed JavaScript's safe integers).
fn dec(s: &[StackValue], i: usize, what: &str) -> Result<String, String> {
    num(s, i, what).map(|n| n.to_string())
}

fn small(s: &[StackValue], i: usize, what: &str) -> Result<i64, String> {
    i64::try_from(num(s, i, what)?).map_err(|_| format!("{what}: entry {i} out of range"))
}

impl ChainView {
    pub fn new(api: Toncenter, hub: TonAddress) -> Result<Self, String> {
        let stake_code = spindle_sdk::artifact!("provider_stake")
            .map_err(|e| format!("contract artifact: {e}"))?
            .code;
        Ok(Self {
            api,
            hub,
            stake_code,
            cache: Mutex::new(HashMap::new()),
        })
    }

    /// `read`'s answer, or one at most [`CACHE_FOR`] old; a failure is shown as
    /// `{"error": ...}` (and not cached), so one unreachable contract leaves the
    /// rest of a view intact.
    async fn cached<F>(&self, key: String, read: F) -> Value
    where
        F: Future<Output = Result<Value, String>>,
    {
        if let Some((at, v)) = self.cache.lock().unwrap().get(&key)
            && at.elapsed() < CACHE_FOR
        {
            return v.clone();
        }
        match read.await {
            Ok(v) => {
                self.cache
                    .lock()
                    .unwrap()
                    .insert(key, (Instant::now(), v.clone()));
                v
            }
            Err(e) => json!({ "error": e }),
        }
    }

    async fn stack(&self, at: &TonAddress, method: &str) -> Result<Vec<StackValue>, String> {
        self.api
            .run_get_method(at, method, &[])
            .await
            .map(|r| r.stack)
            .map_err(|e| format!("{method} at {}: {e}", address::to_raw(at)))
    }

    /// The hub's parameters and pause flag.
    pub async fn hub(&self) -> Value {
        self.cached("hub".into(), async {
            let s = self.stack(&self.hub, "get_params").await?;
            let cell = s
                .first()
                .and_then(StackValue::as_cell)
                .ok_or("get_params returned no cell")?;
            let p = HubParams::from_cell(cell).map_err(|e| format!("hub parameters: {e}"))?;
            let paused = self.stack(&self.hub, "is_paused").await?;
            Ok(json!({
                "address": address::to_raw(&self.hub),
                "paused": num(&paused, 0, "is_paused")? != BigInt::from(0),
                "fee_bps": p.fee_bps,
                "min_stake": p.min_stake.to_string(),
                "unbond_period": p.unbond_period,
                "slash_mult_pct": p.slash_mult_pct,
                "finder_fee": p.finder_fee.to_string(),
                "settle_fee": p.settle_fee.to_string(),
                "min_job": p.min_job.to_string(),
                "min_deadline": p.min_deadline,
                "max_deadline": p.max_deadline,
                "grace": p.grace,
                "window": p.window,
                "account_grace": p.account_grace,
                "delay": p.delay,
                "relayer_set": {
                    "version": p.relayers.version,
                    "k": p.relayers.k,
                    "keys": p.relayers.keys.iter().map(|k| hex::encode(k.as_bytes())).collect::<Vec<_>>(),
                },
                "treasury": address::to_raw(&p.treasury),
                "jetton_master": p.jetton.as_ref().map(|j| address::to_raw(&j.master)),
            }))
        })
        .await
    }

    /// The provider stake of `owner` under this hub: its balances, unbonding,
    /// operator key and how many slash messages it took among its newest transactions.
    pub async fn stake(&self, owner: &TonAddress) -> Value {
        self.cached(format!("stake {}", address::to_raw(owner)), async {
            let at = ps::state_init(self.stake_code.clone(), &self.hub, owner)
                .and_then(|i| i.address(0))
                .map_err(|e| format!("stake address: {e}"))?;
            let s = self.stack(&at, "get_stake").await?;
            let key = num(&s, 4, "get_stake")?;
            let (_, mut key_bytes) = key.to_bytes_be();
            while key_bytes.len() < 32 {
                key_bytes.insert(0, 0);
            }
            let slashes = self
                .transactions_raw(&at)
                .await?
                .iter()
                .filter(|t| t["op"] == OP_STAKE_SLASH && t["aborted"] == false)
                .count();
            Ok(json!({
                "address": address::to_raw(&at),
                "stake": dec(&s, 0, "get_stake")?,
                "earned": dec(&s, 1, "get_stake")?,
                "unbond_at": small(&s, 2, "get_stake")?,
                "rotated_at": small(&s, 3, "get_stake")?,
                "operator_key": hex::encode(key_bytes),
                "slashes": slashes,
            }))
        })
        .await
    }

    /// A compute account's on-chain state: balance, epoch and withdrawal.
    pub async fn account(&self, account: &TonAddress) -> Value {
        self.cached(format!("account {}", address::to_raw(account)), async {
            let s = self.stack(account, "get_account_state").await?;
            Ok(json!({
                "initialized": num(&s, 0, "get_account_state")? != BigInt::from(0),
                "balance": dec(&s, 1, "get_account_state")?,
                "epoch": small(&s, 2, "get_account_state")?,
                "withdraw_at": small(&s, 3, "get_account_state")?,
            }))
        })
        .await
    }

    /// The newest transactions of `at`, newest first.
    pub async fn transactions(&self, at: &TonAddress) -> Value {
        self.cached(format!("txs {}", address::to_raw(at)), async {
            self.transactions_raw(at).await.map(Value::Array)
        })
        .await
    }

    async fn transactions_raw(&self, at: &TonAddress) -> Result<Vec<Value>, String> {
        let txs = self
            .api
            .get_transactions(at, TX_LIMIT, None)
            .await
            .map_err(|e| format!("transactions of {}: {e}", address::to_raw(at)))?;
        Ok(txs
            .iter()
            .map(|t| {
                let op = t
                    .in_msg
                    .as_ref()
                    .and_then(|m| m.body().ok().flatten())
                    .and_then(|b| b.parser().load_u32(32).ok());
                let aborted = t
                    .summary()
                    .ok()
                    .and_then(|s| s.outcome)
                    .is_none_or(|o| o.aborted);
                let fwd: u128 = t.out_msgs.iter().map(|m| m.fwd_fee).sum();
                json!({
                    "lt": t.transaction_id.lt.to_string(),
                    "hash": hex::encode(t.transaction_id.hash.as_slice()),
                    "utime": t.utime,
                    "op": op,
                    "op_name": op.and_then(op_name),
                    "from": t.in_msg.as_ref().map(|m| m.source.clone()).filter(|s| !s.is_empty()),
                    "value": t.in_msg.as_ref().map_or(0, |m| m.value).to_string(),
                    "aborted": aborted,
                    // What the account paid: the transaction's fees and its messages' forwarding.
                    "fees": (t.fee + fwd).to_string(),
                })
            })
            .collect())
    }

    /// What `wallet` paid in fees per UTC day (newest first), over its newest transactions.
    pub async fn fees_per_day(&self, wallet: &TonAddress, days: u32) -> Value {
        let txs = self.transactions(wallet).await;
        let Some(list) = txs.as_array() else {
            return txs;
        };
        let mut per_day: Vec<(u64, u128, u32)> = Vec::new();
        for t in list {
            let day = t["utime"].as_u64().unwrap_or(0) / 86_400 * 86_400;
            let fees: u128 = t["fees"].as_str().and_then(|f| f.parse().ok()).unwrap_or(0);
            match per_day.iter_mut().find(|(d, _, _)| *d == day) {
                Some(e) => {
                    e.1 += fees;
                    e.2 += 1;
                }
                None => per_day.push((day, fees, 1)),
            }
        }
        per_day.sort_by(|a, b| b.0.cmp(&a.0));
        per_day.truncate(days as usize);
        json!(
            per_day
                .iter()
                .map(|(day, fees, n)| json!({"day": day, "fees": fees.to_string(), "transactions": n}))
                .collect::<Vec<_>>()
        )
    }
}
