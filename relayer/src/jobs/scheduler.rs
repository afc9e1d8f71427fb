//! The scheduler: turns funded jobs with a submitted spec into leases on connected
//! workers and worker answers into stored evidence.
//!
//! Every `dispatch_interval`, and at once when a job is submitted here, it reads the
//! dispatchable jobs (funded, or whose lease ran out, deadline ahead) and starts one
//! dispatch per job not already dispatching here.
//! A dispatch:
//!
//! 1. waits (briefly) for a slot on the cheapest worker that serves the spec's model,
//!    whose worst-case price (prompt ≤ the spec's bytes, `max_tokens` generated) is
//!    within the escrow's amount, with free capacity; slots are handed out per client in
//!    turn (the pool's fair queue, keyed by the job's client);
//! 2. claims the job in the store for that worker (a compare-and-set; on Postgres
//!    `SKIP LOCKED` keeps replicas apart), with `lease_secs` to live;
//! 3. sends the offer; the worker's acceptance must verify against its operator key as
//!    the SDK's `Acceptance` {global_id, escrow, nonce, the worker's owner}, then is
//!    stored (job `running`); its result must hash to `result_hash` and verify as
//!    [`job_result_payload`], then is stored (job `result_stored`) with the provider's
//!    owner and its pay: the worker's posted price for the usage, at most the escrow;
//! 4. meanwhile extends the lease every `lease_secs / 3` while the worker is connected.
//!    A worker that disconnects or falls silent (the worker API drops it after three
//!    missed heartbeats) stops the heartbeats, so its lease lapses and the next round
//!    re-dispatches the job to another worker, while the deadline allows.
//!
//! A worker that declines, fails, or answers with anything that does not verify gets
//! its lease released (the job is `funded` again), a `cancel {id}`, and is not offered
//! the job again by this dispatch (the next round may). Nothing it sent is stored.

use super::{Jobs, unix_now};
use crate::gateway::pool::Slot;
use crate::store::{Acceptance, DispatchableJob, Lease, StoreError, StoredResult, Usage};
use rand::Rng;
use serde_json::{Map, Value};
use spindle_sdk::protocol::job_escrow as je;
use spindle_sdk::{TonAddress, address};
use spindle_worker::backend::{Endpoint, ResultHash};
use spindle_worker::protocol::{RelayerMessage, WorkerMessage, job_result_payload, verify_hex};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tracing::Instrument;

/// How many times one dispatch offers the job before leaving it to the next round.
const OFFERS_PER_ROUND: usize = 3;

/// What a spec asks for, as the scheduler needs it.
pub struct SpecShape {
    pub model: String,
    pub endpoint: Endpoint,
    pub max_tokens: u64,
    pub body: Map<String, Value>,
}

/// Reads the fields the scheduler dispatches on: `model`, `messages` (chat) or
/// `prompt` (completions), and `max_tokens` (the budget's bound). Streaming jobs are
/// refused: the result is one stored body.
pub fn spec_shape(spec: &Value) -> Result<SpecShape, String> {
    let body = spec.as_object().ok_or("the spec must be a JSON object")?;
    let model = body
        .get("model")
        .and_then(Value::as_str)
        .filter(|m| !m.is_empty())
        .ok_or("the spec needs a model (a non-empty string)")?;
    let endpoint = match (body.get("messages"), body.get("prompt")) {
        (Some(Value::Array(m)), None) if !m.is_empty() => Endpoint::ChatCompletions,
        (None, Some(Value::String(_) | Value::Array(_))) => Endpoint::Completions,
        _ => return Err("the spec needs either messages (a non-empty array) or prompt".into()),
    };
    let max_tokens = body
        .get("max_tokens")
        .and_then(Value::as_u64)
        .filter(|n| (1..=1_000_000).contains(n))
        .ok_or("the spec needs max_tokens (1 to 1000000): it bounds the job's cost")?;
    if body.get("stream").and_then(Value::as_bool) == Some(true) {
        return Err("jobs are not streamed: leave out stream or set it false".into());
    }
    Ok(SpecShape {
        model: model.to_owned(),
        endpoint,
        max_tokens,
        body: body.clone(),
    })
}

impl Jobs {
    /// Asks the scheduler for a round now rather than at its next tick (a submission
    /// calls it, so a paid job waits for no timer). Wakes that come while a round runs
    /// make one more round after it.
    pub fn wake_scheduler(&self) {
        self.wake.notify_one();
    }

    /// Runs the scheduler until `shutdown` completes.
    pub async fn run_scheduler(self: Arc<Self>, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        let mut tick = tokio::time::interval(self.config.dispatch_interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = &mut shutdown => return,
                _ = tick.tick() => {}
                _ = self.wake.notified() => {}
            }
            if let Err(e) = self.dispatch_round().await {
                tracing::warn!(error = %e, "scheduler round failed");
            }
        }
    }

    /// One round: starts a dispatch for every dispatchable job not already dispatching.
    pub async fn dispatch_round(self: &Arc<Self>) -> Result<(), StoreError> {
        let now = unix_now();
        for job in self.store.dispatchable_jobs(now, 256).await? {
            let escrow = job.job.job.escrow.clone();
            if !self.dispatching.lock().unwrap().insert(escrow.clone()) {
                continue;
            }
            let this = self.clone();
            let span = tracing::info_span!("job", %escrow);
            tokio::spawn(
                async move {
                    this.dispatch(job).await;
                    this.dispatching.lock().unwrap().remove(&escrow);
                }
                .instrument(span),
            );
        }
        Ok(())
    }

    async fn dispatch(&self, job: DispatchableJob) {
        let escrow = job.job.job.escrow.clone();
        let spec: Value = match serde_json::from_str(&job.spec) {
            Ok(v) => v,
            Err(e) => return tracing::error!(error = %e, "stored spec is not JSON"),
        };
        let shape = match spec_shape(&spec) {
            Ok(s) => s,
            Err(e) => return tracing::error!(error = %e, "stored spec is not dispatchable"),
        };
        let (Ok(escrow_addr), Ok(client)) = (
            address::parse_address(&escrow),
            address::parse_address(&job.job.job.client),
        ) else {
            return tracing::error!("stored job has unparsable addresses");
        };
        let budget = u128::from(job.job.job.amount);
        let prompt_bound = job.spec.len() as u64;
        let mut exclude: Vec<u64> = Vec::new();
        for _ in 0..OFFERS_PER_ROUND {
            let too_dear = self
                .pool
                .offers(&shape.model)
                .into_iter()
                .filter(|(_, p)| p.worst_case(prompt_bound, shape.max_tokens) > budget)
                .map(|(id, _)| id);
            let mut skip = exclude.clone();
            skip.extend(too_dear);
            let slot = match self
                .pool
                .acquire(&client, &shape.model, &skip, self.config.queue_timeout)
                .await
            {
                Ok(slot) => slot,
                Err(why) => {
                    tracing::debug!(?why, "no eligible worker this round");
                    return;
                }
            };
            let worker = hex::encode(slot.link.operator_key.as_bytes());
            let lease = match self
                .store
                .claim_job(&escrow, &worker, unix_now(), self.config.lease_secs)
                .await
            {
                Ok(Some(lease)) => lease,
                Ok(None) => return, // leased elsewhere, finished, or past its deadline
                Err(e) => return tracing::warn!(error = %e, "claim failed"),
            };
            tracing::info!(worker = slot.link.id, seq = lease.seq, "job leased");
            match self
                .run_lease(&slot, &lease, &escrow_addr, &job, &shape)
                .await
            {
                LeaseEnd::Done | LeaseEnd::Gone | LeaseEnd::Lost => return,
                LeaseEnd::Refused(reason) => {
                    tracing::warn!(worker = slot.link.id, %reason, "worker refused or misbehaved; offering elsewhere");
                    if let Err(e) = self.store.release_lease(&lease, unix_now()).await {
                        tracing::warn!(error = %e, "release failed");
                        return;
                    }
                    exclude.push(slot.link.id);
                }
            }
        }
    }

    /// Offers the job on the leased worker and follows it to a stored result.
    async fn run_lease(
        &self,
        slot: &Slot,
        lease: &Lease,
        escrow: &TonAddress,
        job: &DispatchableJob,
        shape: &SpecShape,
    ) -> LeaseEnd {
        let link = &slot.link;
        let nonce = job.job.job.nonce;
        let id: u64 = rand::thread_rng().r#gen();
        let mut rx: mpsc::UnboundedReceiver<WorkerMessage> = link.start(
            id,
            RelayerMessage::JobOffer {
                id,
                escrow: job.job.job.escrow.clone(),
                nonce,
                deadline: u32::try_from(job.job.job.deadline).unwrap_or(u32::MAX),
                endpoint: shape.endpoint,
                body: shape.body.clone(),
            },
        );
        let beat = Duration::from_secs((self.config.lease_secs.max(3) / 3) as u64);
        let mut heartbeat = tokio::time::interval(beat);
        heartbeat.tick().await;
        let accept_by = tokio::time::sleep(self.config.accept_timeout);
        tokio::pin!(accept_by);
        let mut lease = lease.clone();
        let mut accepted = false;
        let end = loop {
            tokio::select! {
                message = rx.recv() => match message {
                    // The worker disconnected (or was dropped as silent): stop
                    // heartbeating; the lease lapses and the job is re-dispatched.
                    None => break LeaseEnd::Gone,
                    Some(WorkerMessage::JobAccepted { signature, .. }) if !accepted => {
                        let acceptance = je::Acceptance {
                            global_id: self.config.global_id,
                            escrow: escrow.clone(),
                            nonce,
                            provider_owner: link.owner.clone(),
                        };
                        let Ok(payload) = acceptance.payload() else {
                            break LeaseEnd::Refused("acceptance payload".into());
                        };
                        if let Err(e) = verify_hex(&link.operator_key, &payload, &signature) {
                            break LeaseEnd::Refused(format!("bad acceptance signature: {e}"));
                        }
                        let stored = Acceptance {
                            operator_pubkey: link.operator_key.to_bytes(),
                            payload: spindle_sdk::boc::to_boc(&payload),
                            signature: decode_sig(&signature).expect("verified above"),
                        };
                        match self.store.record_acceptance(&lease, &stored, unix_now()).await {
                            Ok(()) => {
                                accepted = true;
                                tracing::info!(seq = lease.seq, "acceptance stored");
                            }
                            Err(e) => break lease_error(e),
                        }
                    }
                    Some(WorkerMessage::JobResult { body, usage, result_hash, signature, .. }) if accepted => {
                        let hash = ResultHash::of(body.as_bytes());
                        if hash.to_string() != result_hash.to_ascii_lowercase() {
                            break LeaseEnd::Refused("result_hash is not the SHA-256 of the body".into());
                        }
                        let Ok(payload) = job_result_payload(self.config.global_id, escrow, nonce, &link.owner, &hash, &usage) else {
                            break LeaseEnd::Refused("result payload".into());
                        };
                        if let Err(e) = verify_hex(&link.operator_key, &payload, &signature) {
                            break LeaseEnd::Refused(format!("bad result signature: {e}"));
                        }
                        let result = StoredResult {
                            result_hash: hash.0,
                            body: body.into_bytes(),
                            usage: Usage { input_tokens: usage.prompt_tokens, output_tokens: usage.completion_tokens },
                            worker_pubkey: link.operator_key.to_bytes(),
                            worker_signature: decode_sig(&signature).expect("verified above"),
                        };
                        // The provider is paid its posted price for the usage, never more
                        // than the escrow holds; the completion the relayers sign names both.
                        // The price is over the token counts the worker signed and the store
                        // keeps (input, output): prompt-cache hits are not part of them, so
                        // every relayer can recompute the pay from what it signs.
                        let signed = spindle_worker::backend::Usage { cached_tokens: 0, ..usage };
                        let pay = slot.prices.cost(&signed).min(u128::from(job.job.job.amount));
                        let pay = u64::try_from(pay).expect("at most the escrowed amount");
                        let owner = address::to_raw(&link.owner);
                        let stored = match self.store.store_result(&lease, &result, unix_now()).await {
                            Ok(()) => self.store.set_result_settlement(&job.job.job.escrow, &hash.0, &owner, pay).await,
                            Err(e) => Err(e),
                        };
                        match stored {
                            Ok(()) => {
                                tracing::info!(seq = lease.seq, result = %hash, pay, "result stored");
                                break LeaseEnd::Done;
                            }
                            Err(e) => break lease_error(e),
                        }
                    }
                    Some(WorkerMessage::JobFailed { message, .. }) => break LeaseEnd::Refused(message),
                    Some(other) => break LeaseEnd::Refused(format!("unexpected message {other:?}")),
                },
                _ = heartbeat.tick() => {
                    match self.store.heartbeat(&lease, unix_now(), self.config.lease_secs).await {
                        Ok(renewed) => lease = renewed,
                        Err(e) => break lease_error(e),
                    }
                }
                _ = &mut accept_by, if !accepted => break LeaseEnd::Refused("no acceptance in time".into()),
            }
        };
        link.finish(id, false);
        if !matches!(end, LeaseEnd::Done) {
            // Also after a refused result (the worker considers the offer done): the
            // cancel tells it the relayer dropped the offer and stored nothing of it.
            let _ = link.tx.send(RelayerMessage::Cancel { id });
        }
        end
    }
}

enum LeaseEnd {
    /// The result is stored.
    Done,
    /// The worker is gone: the lease lapses on its own.
    Gone,
    /// The store says the lease is no longer ours (lapsed, re-leased, job finished).
    Lost,
    /// The worker declined, failed or sent something that does not verify.
    Refused(String),
}

fn lease_error(e: StoreError) -> LeaseEnd {
    match e {
        StoreError::LeaseLost { .. } | StoreError::IllegalTransition { .. } => {
            tracing::warn!(error = %e, "lease lost");
            LeaseEnd::Lost
        }
        e => {
            tracing::warn!(error = %e, "store failed; the lease will lapse");
            LeaseEnd::Gone
        }
    }
}

fn decode_sig(hex_sig: &str) -> Option<[u8; 64]> {
    hex::decode(hex_sig).ok()?.try_into().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn spec_shape_picks_the_endpoint_and_needs_a_bound() {
        let chat =
            json!({"model": "m", "max_tokens": 8, "messages": [{"role": "user", "content": "hi"}]});
        let shape = spec_shape(&chat).unwrap();
        assert_eq!(
            (shape.endpoint, shape.max_tokens),
            (Endpoint::ChatCompletions, 8)
        );
        let completion = json!({"model": "m", "max_tokens": 8, "prompt": "hi"});
        assert_eq!(
            spec_shape(&completion).unwrap().endpoint,
            Endpoint::Completions
        );
        for bad in [
            json!([1]),
            json!({"max_tokens": 8, "prompt": "hi"}),
            json!({"model": "", "max_tokens": 8, "prompt": "hi"}),
            json!({"model": "m", "prompt": "hi"}),
            json!({"model": "m", "max_tokens": 0, "prompt": "hi"}),
            json!({"model": "m", "max_tokens": 8}),
            json!({"model": "m", "max_tokens": 8, "messages": []}),
            json!({"model": "m", "max_tokens": 8, "prompt": "a", "messages": [{"role": "user"}]}),
            json!({"model": "m", "max_tokens": 8, "prompt": "hi", "stream": true}),
        ] {
            assert!(spec_shape(&bad).is_err(), "{bad}");
        }
    }
}
