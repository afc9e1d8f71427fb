//! The audit after the kills: every escrow read back from the chain (its state, every
//! message it sent) and compared with the stake's history and with each relayer's
//! store. What it asserts is the protocol's promise to both sides, nothing weaker:
//!
//! - no double payment: an escrow pays the stake at most once (counted from the
//!   escrow's own out-messages and again from the stake's in-messages);
//! - no paid job lost: every escrow ends completed (paid once, exactly the price the
//!   relayers signed for the stored result, less the fee) or expired with the client
//!   refunded and nothing paid to the stake;
//! - stores agree with the chain: no store calls a job settled that the chain
//!   refunded or the reverse, every relayer that knows a job sees its final state, no
//!   store confirmed both a `complete` and an `expire`, and the relayers that signed a
//!   job signed one and the same proof;
//! - the stake earned exactly the sum over completed jobs of their price less the fee
//!   (and its payout gas).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use spindle_relayer::Store;
use spindle_relayer::job::JobState;
use spindle_relayer::outbox::{OutboxKind, OutboxState};
use spindle_relayer::store::OwnJobSignature;
use spindle_sdk::protocol::compute_account::op::PAYOUT;
use spindle_sdk::protocol::job_escrow::{self as je, op};
use spindle_sdk::protocol::op_and_query_id;
use spindle_sdk::protocol::provider_stake as ps;
use spindle_sdk::toncenter::{RawMessage, Toncenter, Transaction};
use spindle_sdk::{TonAddress, address};

use crate::cluster::{Cluster, JOB_AMOUNT, PRICES};

/// A job the load funded and submitted.
#[derive(Clone, Debug)]
pub struct Job {
    pub nonce: u64,
    pub escrow: TonAddress,
    /// The relayer it was submitted to.
    pub coordinator: usize,
    /// Kills done before it was submitted.
    pub kills_before: usize,
}

/// How a job ended, as the chain and the stores tell it.
#[derive(Debug)]
pub struct JobReport {
    pub job: Job,
    /// The escrow's `get_job` state.
    pub state: i8,
    /// Values of the escrow's payouts to the stake, and of the stake's payouts
    /// received from the escrow (the two sides of the same messages).
    pub paid: Vec<u128>,
    pub received: Vec<u128>,
    /// Refund messages to the client.
    pub refunds: Vec<u128>,
    /// Each relayer's state for the job (None: it never heard of it).
    pub stores: Vec<Option<JobState>>,
    /// The relayers that signed a proof for it.
    pub signers: Vec<usize>,
}

/// Everything the audit found.
#[derive(Debug, Default)]
pub struct Audit {
    pub jobs: Vec<JobReport>,
    pub earned: u128,
    pub expected_earned: u128,
    pub violations: Vec<String>,
}

impl Audit {
    pub fn count(&self, state: i8) -> usize {
        self.jobs.iter().filter(|j| j.state == state).count()
    }

    pub fn double_payments(&self) -> usize {
        self.jobs
            .iter()
            .filter(|j| j.paid.len() > 1 || j.received.len() > 1)
            .count()
    }

    /// Jobs neither completed nor expired-and-refunded.
    pub fn lost(&self) -> usize {
        self.jobs
            .iter()
            .filter(|j| {
                !(j.state == je::COMPLETED && j.paid.len() == 1
                    || j.state == je::EXPIRED && j.paid.is_empty() && !j.refunds.is_empty())
            })
            .count()
    }
}

/// Reads the SQLite store of relayer `i` (the relayer may be running).
pub async fn store(c: &Cluster, i: usize) -> Store {
    Store::connect_without_migrating(&format!(
        "sqlite://{}",
        c.env.dir.join(format!("relayer{i}.db")).display()
    ))
    .await
    .unwrap_or_else(|e| panic!("open relayer {i}'s store: {e}"))
}

/// Every transaction of `account`, oldest first (gap-checked paging).
async fn history(api: &Toncenter, account: &TonAddress) -> Vec<Transaction> {
    api.transactions_since(account, None, 100)
        .await
        .unwrap_or_else(|e| panic!("history of {}: {e}", address::to_raw(account)))
}

fn op_of(m: &RawMessage) -> Option<u32> {
    let body = m.body().ok()??;
    op_and_query_id(&body).map(|(op, _)| op)
}

fn to(m: &RawMessage, a: &TonAddress) -> bool {
    address::parse_address(&m.destination).is_ok_and(|d| d == *a)
}

fn name(state: i8) -> &'static str {
    match state {
        je::OPEN => "open",
        je::COMPLETED => "completed",
        je::EXPIRED => "expired",
        _ => "not created",
    }
}

/// What a relayer's store must say once it has seen the chain's final state.
fn terminal_for(chain: i8) -> Option<JobState> {
    match chain {
        je::COMPLETED => Some(JobState::Settled),
        je::EXPIRED => Some(JobState::Refunded),
        _ => None,
    }
}

pub async fn run(c: &Cluster, jobs: &[Job], earned_before: u128) -> Audit {
    let api = &c.env.api;
    let client = c.env.payer(0).unwrap().address;
    let fee_bps = u128::from(c.env.params().unwrap().fee_bps);
    let mut stores = Vec::new();
    for i in 0..3 {
        stores.push(store(c, i).await);
    }
    let mut audit = Audit::default();
    let mut v = Vec::new();

    // The stake's side: every payout it received, by sender.
    let mut stake_in: BTreeMap<String, Vec<u128>> = BTreeMap::new();
    for tx in history(api, &c.stake.address).await {
        if let Some(m) = tx.in_msg.as_ref().filter(|m| !m.source.is_empty())
            && op_of(m) == Some(PAYOUT)
            && let Ok(src) = address::parse_address(&m.source)
        {
            stake_in
                .entry(address::to_raw(&src))
                .or_default()
                .push(m.value);
        }
    }
    let escrows: std::collections::BTreeSet<String> =
        jobs.iter().map(|j| address::to_raw(&j.escrow)).collect();
    for (src, values) in &stake_in {
        if !escrows.contains(src) {
            v.push(format!(
                "the stake received {} payout(s) from {src}, which is none of the run's escrows",
                values.len()
            ));
        }
    }

    // Each store must reach the chain's final state for every job it knows.
    let finals: Vec<i8> = {
        let mut s = Vec::new();
        for j in jobs {
            s.push(
                spindle_cli::job::job_state(api, &j.escrow)
                    .await
                    .unwrap()
                    .state,
            );
        }
        s
    };
    let until = Instant::now() + Duration::from_secs(120);
    loop {
        let mut behind = false;
        for (j, &chain) in jobs.iter().zip(&finals) {
            let raw = address::to_raw(&j.escrow);
            for s in &stores {
                if let Ok(Some(job)) = s.job(&raw).await {
                    behind |= terminal_for(chain).is_some_and(|t| job.state != t);
                }
            }
        }
        if !behind || Instant::now() > until {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    for (j, &state) in jobs.iter().zip(&finals) {
        let raw = address::to_raw(&j.escrow);
        let tag = format!("job {} ({raw})", j.nonce);
        let mut paid = Vec::new();
        let mut complete = None;
        let mut refunds = Vec::new();
        for tx in history(api, &j.escrow).await {
            for m in &tx.out_msgs {
                if to(m, &c.stake.address) && op_of(m) == Some(PAYOUT) {
                    paid.push(m.value);
                    complete = tx
                        .in_msg
                        .as_ref()
                        .and_then(|i| i.body().ok().flatten())
                        .and_then(|b| je::parse_complete(&b).ok());
                }
                if to(m, &client) && op_of(m) == Some(op::REFUND) {
                    refunds.push(m.value);
                }
            }
        }
        let received = stake_in.get(&raw).cloned().unwrap_or_default();

        // Chain: paid once or refunded, never both, never neither.
        if paid.len() > 1 || received.len() > 1 {
            v.push(format!(
                "{tag}: DOUBLE PAYMENT: the escrow sent {} payouts, the stake received {}",
                paid.len(),
                received.len()
            ));
        }
        if paid != received {
            v.push(format!(
                "{tag}: the escrow's payouts {paid:?} differ from what the stake received {received:?}"
            ));
        }
        match state {
            je::COMPLETED if paid.len() == 1 => {}
            je::COMPLETED => v.push(format!("{tag}: completed but paid {} times", paid.len())),
            je::EXPIRED if !paid.is_empty() => v.push(format!(
                "{tag}: expired (refunded) AND paid the stake {paid:?}"
            )),
            je::EXPIRED if refunds.is_empty() => {
                v.push(format!("{tag}: expired but the client got no refund"))
            }
            je::EXPIRED => {}
            s => v.push(format!("{tag}: LOST: the escrow is {} at the end", name(s))),
        }

        // Stores: the state each relayer ended with, and the proof each signed.
        let mut store_states = Vec::new();
        let mut signatures: Vec<(usize, OwnJobSignature)> = Vec::new();
        let mut results = Vec::new();
        for (i, s) in stores.iter().enumerate() {
            let job = s.job(&raw).await.unwrap().map(|job| job.state);
            match (job, terminal_for(state)) {
                (Some(JobState::Settled), _) if state != je::COMPLETED => v.push(format!(
                    "{tag}: relayer {i}'s store says settled, the chain says {}",
                    name(state)
                )),
                (Some(JobState::Refunded), _) if state != je::EXPIRED => v.push(format!(
                    "{tag}: relayer {i}'s store says refunded, the chain says {}",
                    name(state)
                )),
                (Some(got), Some(want)) if got != want => v.push(format!(
                    "{tag}: relayer {i}'s store is still {got:?} while the chain says {}",
                    name(state)
                )),
                _ => {}
            }
            store_states.push(job);
            let confirmed =
                |kind: OutboxKind, entries: &[spindle_relayer::outbox::AnyOutboxEntry]| {
                    entries
                        .iter()
                        .filter(|e| e.state() == OutboxState::Confirmed && e.record().kind == kind)
                        .count()
                };
            let outbox = s.outbox_for_target(&raw).await.unwrap();
            if confirmed(OutboxKind::Complete, &outbox) > 0
                && confirmed(OutboxKind::Expire, &outbox) > 0
            {
                v.push(format!(
                    "{tag}: relayer {i}'s outbox confirmed both a complete and an expire"
                ));
            }
            if let Some(sig) = s.own_job_signature(&raw).await.unwrap() {
                signatures.push((i, sig));
            }
            results.extend(s.results_of(&raw).await.unwrap());
        }
        if let Some((_, first)) = signatures.first()
            && signatures
                .iter()
                .any(|(_, s)| s.proof.payload_hash != first.proof.payload_hash)
        {
            v.push(format!(
                "{tag}: the relayers signed different proofs: {:?}",
                signatures
                    .iter()
                    .map(|(i, s)| (i, hex::encode(s.proof.result_hash), s.proof.amount))
                    .collect::<Vec<_>>()
            ));
        }

        // A completion: what landed is what the relayers signed, for a stored result,
        // at that result's price; the stake got the price less the fee.
        if state == je::COMPLETED && paid.len() == 1 {
            match (&complete, signatures.first()) {
                (Some(done), Some((_, sig))) => {
                    if signatures.len() < 2 {
                        v.push(format!(
                            "{tag}: completed with only {} stored signature(s) (k = 2)",
                            signatures.len()
                        ));
                    }
                    if done.result_hash != sig.proof.result_hash
                        || u128::from(done.pay) != u128::from(sig.proof.amount)
                    {
                        v.push(format!(
                            "{tag}: the chain completed result {} for {}, the relayers signed {} for {}",
                            hex::encode(done.result_hash),
                            done.pay,
                            hex::encode(sig.proof.result_hash),
                            sig.proof.amount
                        ));
                    }
                    match results
                        .iter()
                        .find(|r| r.result.result_hash == done.result_hash)
                    {
                        Some(r) => {
                            let usage = spindle_worker::backend::Usage {
                                prompt_tokens: r.result.usage.input_tokens,
                                completion_tokens: r.result.usage.output_tokens,
                                total_tokens: r.result.usage.input_tokens
                                    + r.result.usage.output_tokens,
                                cached_tokens: 0,
                            };
                            let price = PRICES.cost(&usage).min(JOB_AMOUNT);
                            if u128::from(done.pay) != price {
                                v.push(format!(
                                    "{tag}: paid {} for a result whose price is {price}",
                                    done.pay
                                ));
                            }
                        }
                        None => v.push(format!(
                            "{tag}: no store holds the completed result {}",
                            hex::encode(done.result_hash)
                        )),
                    }
                    let pay = u128::from(done.pay);
                    let due = pay - pay * fee_bps / 10_000;
                    if paid[0] != due {
                        v.push(format!(
                            "{tag}: the stake was sent {} for pay {pay} (expected {due} after the fee)",
                            paid[0]
                        ));
                    }
                    audit.expected_earned += ps::earned_from_payout(due);
                }
                (None, _) => v.push(format!("{tag}: a payout without a complete")),
                (_, None) => v.push(format!(
                    "{tag}: completed, but no relayer's store holds a signature for it"
                )),
            }
        }
        audit.jobs.push(JobReport {
            job: j.clone(),
            state,
            paid,
            received,
            refunds,
            stores: store_states,
            signers: signatures.iter().map(|(i, _)| *i).collect(),
        });
    }

    audit.earned = c.earned().await - earned_before;
    if audit.earned != audit.expected_earned {
        v.push(format!(
            "the stake earned {} over the run; its completed jobs' prices less fees come to {}",
            audit.earned, audit.expected_earned
        ));
    }
    for s in stores {
        s.close().await;
    }
    audit.violations = v;
    audit
}
