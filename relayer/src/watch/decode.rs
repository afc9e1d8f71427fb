//! What a followed account's transaction means for the store, decoded with the SDK's
//! typed messages (`spindle_sdk::protocol`). Only transactions that succeeded (compute
//! and action phases) count: a refused message changed nothing on-chain.
//!
//! | account | incoming op | event |
//! |---|---|---|
//! | job_escrow | `create` | `JobFunded` (amount, deadline, spec hash), only if the escrow is ours: `get_ids` gives (hub, client, nonce) and `state_init(job_escrow code, hub, client, nonce)` must be this very address with `hub` = our hub |
//! | job_escrow | `complete` | `JobSettled` |
//! | job_escrow | `expire` that refunded (sent the client its `refund`) | `JobRefunded`; an `expire` with late evidence on an already expired job only slashes |
//! | compute_account | `settle` | `VoucherSettled` for (account, provider owner, epoch) |
//! | hub | (its outgoing `create` / `init`) | none; the escrow or compute account it deploys is followed from then on |
//!
//! `VoucherSettled.settled` is what the account has paid the provider in the voucher's
//! epoch. The transaction alone does not say it (the contract pays min(delta, balance,
//! caps) over a total it keeps in its state), so it is read with `get_paid` when the
//! transaction is applied and capped at the voucher's cumulative amount: that is at
//! least what this transaction made it and at most what is paid now, so the store's
//! `settled` (which only rises) never claims more than the chain paid. If the account's
//! epoch has moved on since (a final withdrawal), the old epoch's total can no longer be
//! read and no event is produced; the account was emptied, so nothing more can settle
//! in that epoch.

use spindle_sdk::protocol::{compute_account as ca, job_escrow as je, op_and_query_id};
use spindle_sdk::toncenter::{StackValue, Toncenter, Transaction};
use spindle_sdk::{TonAddress, address};

use crate::settle::chain;
use crate::store::WatchKind;
use crate::store::{ChainEvent, NewJob};

/// A transaction that could not be decoded now; it is retried, never skipped.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("transaction {lt}: unreadable BoC: {reason}")]
    Boc { lt: u64, reason: String },
    #[error("transaction {lt}: reading {what} from the chain failed: {reason}")]
    Chain {
        lt: u64,
        what: &'static str,
        reason: String,
    },
}

/// The events of one transaction, accounts it shows the hub deploying (to follow from
/// now on), and a note if a Spindle message was refused as not ours.
#[derive(Debug, Default)]
pub struct Decoded {
    pub events: Vec<ChainEvent>,
    pub register: Vec<(TonAddress, WatchKind)>,
    pub refused: Option<String>,
}

/// Everything decoding needs besides the transaction.
pub struct Decoder<'a> {
    pub api: &'a Toncenter,
    pub hub: &'a TonAddress,
}

impl Decoder<'_> {
    /// The events of `tx` on `account` (followed as `kind`).
    pub async fn decode(
        &self,
        kind: WatchKind,
        account: &TonAddress,
        tx: &Transaction,
    ) -> Result<Decoded, DecodeError> {
        let lt = tx.transaction_id.lt;
        let summary = tx.summary().map_err(|e| DecodeError::Boc {
            lt,
            reason: e.to_string(),
        })?;
        if !summary.succeeded() {
            return Ok(Decoded::default());
        }
        if kind == WatchKind::Hub {
            return Ok(self.hub_children(tx));
        }
        // Only internal messages act on escrows and accounts; a bounce starts with 0xffffffff.
        let Some(body) = tx
            .in_msg
            .as_ref()
            .filter(|m| !m.source.is_empty())
            .and_then(|m| m.body().ok().flatten())
        else {
            return Ok(Decoded::default());
        };
        let Some((op, _)) = op_and_query_id(&body) else {
            return Ok(Decoded::default());
        };
        let raw = address::to_raw(account);
        let mut out = Decoded::default();
        match (kind, op) {
            (WatchKind::JobEscrow, je::op::CREATE) => match je::parse_create(&body) {
                Ok(create) => match self.our_escrow(account, lt).await? {
                    Ok((client, nonce)) => match u64::try_from(create.job.amount) {
                        Ok(amount) => out.events.push(ChainEvent::JobFunded(NewJob {
                            escrow: raw,
                            client: address::to_raw(&client),
                            nonce,
                            asset: "TON".into(),
                            amount,
                            deadline: i64::from(create.job.deadline),
                            spec_hash: create.job.spec_hash,
                        })),
                        Err(_) => {
                            out.refused = Some(format!("amount {} too large", create.job.amount))
                        }
                    },
                    Err(reason) => out.refused = Some(reason),
                },
                Err(e) => out.refused = Some(format!("create body: {e}")),
            },
            (WatchKind::JobEscrow, je::op::COMPLETE) => {
                out.events.push(ChainEvent::JobSettled { escrow: raw })
            }
            (WatchKind::JobEscrow, je::op::EXPIRE) => {
                let refunded = tx.out_msgs.iter().any(|m| {
                    m.body()
                        .ok()
                        .flatten()
                        .and_then(|b| op_and_query_id(&b))
                        .map(|(op, _)| op)
                        == Some(je::op::REFUND)
                });
                if refunded {
                    out.events.push(ChainEvent::JobRefunded { escrow: raw });
                }
            }
            (WatchKind::ComputeAccount, ca::op::SETTLE) => match ca::parse_settle(&body) {
                Ok(settle) => {
                    let v = settle.voucher;
                    let chain_err = |what| move |reason| DecodeError::Chain { lt, what, reason };
                    let state = chain::account_state(self.api, account)
                        .await
                        .map_err(chain_err("get_account_state"))?;
                    if state.is_some_and(|s| s.epoch == v.epoch) {
                        let paid = chain::paid(self.api, account, &v.provider_owner)
                            .await
                            .map_err(chain_err("get_paid"))?;
                        let settled = u64::try_from(paid.min(v.cumulative)).unwrap_or(u64::MAX);
                        out.events.push(ChainEvent::VoucherSettled {
                            account: raw,
                            provider: address::to_raw(&v.provider_owner),
                            epoch: v.epoch,
                            settled,
                        });
                    }
                }
                Err(e) => out.refused = Some(format!("settle body: {e}")),
            },
            _ => {}
        }
        Ok(out)
    }

    /// The escrows and compute accounts a hub transaction deploys: its outgoing `create`
    /// and `init` messages. Registering one is harmless if the deploy failed (nothing
    /// happens on that account) and its `JobFunded` is still checked against the hub.
    fn hub_children(&self, tx: &Transaction) -> Decoded {
        let mut out = Decoded::default();
        for m in &tx.out_msgs {
            let op = m
                .body()
                .ok()
                .flatten()
                .and_then(|b| op_and_query_id(&b))
                .map(|(op, _)| op);
            let kind = match op {
                Some(je::op::CREATE) => WatchKind::JobEscrow,
                Some(ca::op::INIT) => WatchKind::ComputeAccount,
                _ => continue,
            };
            if let Ok(child) = address::parse_address(&m.destination) {
                out.register.push((child, kind));
            }
        }
        out
    }

    /// `Ok(Ok((client, nonce)))` if `escrow` is a real job_escrow of our hub,
    /// `Ok(Err(reason))` if it is not, `Err` if the chain could not be read.
    async fn our_escrow(
        &self,
        escrow: &TonAddress,
        lt: u64,
    ) -> Result<Result<(TonAddress, u64), String>, DecodeError> {
        let r = self
            .api
            .run_get_method(escrow, "get_ids", &[])
            .await
            .map_err(|e| DecodeError::Chain {
                lt,
                what: "get_ids",
                reason: e.to_string(),
            })?;
        let addr = |i: usize| {
            r.stack
                .get(i)
                .and_then(StackValue::as_cell)
                .and_then(|c| c.parser().load_address().ok())
        };
        let nonce = r
            .stack
            .get(2)
            .and_then(StackValue::as_num)
            .and_then(|n| u64::try_from(n).ok());
        let (Some(hub), Some(client), Some(nonce)) = (addr(0), addr(1), nonce) else {
            return Ok(Err(format!("get_ids returned {:?}", r.stack)));
        };
        if hub != *self.hub {
            return Ok(Err(format!("escrow of hub {hub}, not ours")));
        }
        let derived = je::code()
            .and_then(|code| je::state_init(code, &hub, &client, nonce))
            .and_then(|init| init.address(escrow.workchain));
        match derived {
            Ok(a) if a == *escrow => Ok(Ok((client, nonce))),
            Ok(_) => Ok(Err("not deployed with the job_escrow code".into())),
            Err(e) => Ok(Err(format!("derivation: {e}"))),
        }
    }
}
