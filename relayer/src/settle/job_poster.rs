//! Posting escrow-job settlements exactly once: `complete` with a k-of-n proof, and
//! `expire` (with the provider's acceptance as evidence when one is stored) after
//! deadline + grace.
//!
//! - The job's coordinator ([`super::job_signer::coordinator`]) signs its stored result,
//!   asks its peers over `POST /v1/peer/job-sign`, and keeps every signature it gets in
//!   `proof_signatures`. With k of them it builds `complete_body` and puts it in the
//!   outbox (id from the completion payload's hash, so a re-run finds the same item; an
//!   item already there is re-sent with its stored body, never rebuilt).
//! - Items leave through the relayer's [`Submitter`] (the one owner of its wallet, shared
//!   with the voucher poster), batched: one pass of [`JobPoster::run_once`] queues every
//!   `complete` and `expire` it has, and they go out together in one wallet message. The
//!   submission (wallet seqno, `valid_until`) is stored before the message leaves; once
//!   its `valid_until` passed with the escrow still open the item is failed-retryable and
//!   re-sent with the same id.
//! - Confirmed = the escrow's `get_job` state changed: completed for `complete`, expired
//!   for `expire`, by our post (the escrow transaction that ran the op came from our
//!   wallet). If another post did it, our items are superseded (a submitted one is first
//!   failed: the escrow refuses it on arrival). The escrow refuses a second
//!   `complete` or `expire` itself, the final guard against paying twice.
//! - Relayers that are not the coordinator act only after the rotation timeout (they
//!   hold the result and their signature from the coordinator's request and collect the
//!   rest of the proof the same way), so a proof that has not landed still lands.

use std::sync::Arc;
use std::time::Duration;

use spindle_sdk::protocol::job_escrow::{self as je, Acceptance, Completion};
use spindle_sdk::protocol::provider_stake::BASECHAIN_GAS_PRICE;
use spindle_sdk::protocol::relayer_set::Proof;
use spindle_sdk::signing::PayloadHeader;
use spindle_sdk::toncenter::Toncenter;
use spindle_sdk::{Signature, TonAddress, address, boc, signing};

use super::job_peer::request_job_signature;
use super::job_signer::{CompletionClaim, JobSigner, may_coordinate};
use super::poster::PeerRelayer;
use super::submitter::Submitter;
use super::{chain, job_chain};
use crate::job::JobState as LocalState;
use crate::outbox::{
    AnyOutboxEntry, Failure, NewOutboxItem, OutboxEntry, OutboxId, OutboxKind, Submitted,
    TargetStateChanged,
};
use crate::store::{ProofSignature, StoreError};

/// The basechain forward-fee lump (config param 25), nanotons (as `spindle_cli::job`).
pub const FWD_LUMP: u128 = 400_000;
/// Extra value above what the escrow requires; it returns what it does not spend.
pub const MARGIN: u128 = 10_000_000;
/// Attached to `complete` (the poster gets the unspent part and the settlement fee).
pub const COMPLETE_VALUE: u128 = je::GAS_COMPLETE * BASECHAIN_GAS_PRICE + 4 * FWD_LUMP + MARGIN;
/// Attached to `expire` with acceptance evidence (escrow → stake → payouts).
pub const EXPIRE_SLASH_VALUE: u128 =
    (je::GAS_EXPIRE_SLASH + je::GAS_STAKE_SLASH) * BASECHAIN_GAS_PRICE + 7 * FWD_LUMP + MARGIN;
/// Attached to `expire` without evidence.
pub const EXPIRE_VALUE: u128 = je::GAS_EXPIRE * BASECHAIN_GAS_PRICE + 2 * FWD_LUMP + MARGIN;

/// What a settle or expire call achieved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum JobOutcome {
    /// Our outbox item `id` changed the escrow (completed, or expired).
    Confirmed { id: OutboxId, state: i8 },
    /// The escrow reached its final state without our post (another relayer's, or the
    /// client's); our items, if any, are superseded.
    Finished { state: i8 },
    /// Nothing to do yet, and why (not our turn, no result, deadline not passed).
    NotYet(String),
}

/// Settles the escrow jobs this relayer holds results for, and expires overdue ones.
pub struct JobPoster {
    pub signer: Arc<JobSigner>,
    pub peers: Vec<PeerRelayer>,
    pub http: reqwest::Client,
    /// Sends the posts from the relayer's wallet (shared with the voucher poster).
    pub submitter: Arc<Submitter>,
}

/// The settlement loop's pacing.
#[derive(Clone, Copy, Debug)]
pub struct JobPolicy {
    /// How often the loop looks for jobs to settle or expire.
    pub interval: Duration,
}

fn final_state_of(kind: OutboxKind) -> i8 {
    match kind {
        OutboxKind::Expire => je::EXPIRED,
        _ => je::COMPLETED,
    }
}

impl JobPoster {
    fn api(&self) -> &Toncenter {
        &self.signer.api
    }

    fn store(&self) -> &crate::Store {
        &self.signer.store
    }

    async fn now(&self, at: &TonAddress) -> Result<i64, String> {
        Ok(chain::chain_time(self.api(), at).await? as i64)
    }

    /// Settles one job (raw escrow address): resolves what is under way, else signs,
    /// collects k signatures, posts `complete` and waits for the escrow to change.
    pub async fn settle(&self, escrow_raw: &str) -> Result<JobOutcome, String> {
        if let Some(done) = self.submit(escrow_raw).await? {
            return Ok(done);
        }
        self.send_and_await(escrow_raw, OutboxKind::Complete).await
    }

    /// Sends what is queued for the escrow (with everything else due, in one wallet
    /// message) and waits for the escrow to change.
    async fn send_and_await(
        &self,
        escrow_raw: &str,
        kind: OutboxKind,
    ) -> Result<JobOutcome, String> {
        self.submitter
            .send_pending_to(escrow_raw)
            .await
            .map_err(|e| format!("sending {}: {e}", kind.as_str()))?;
        let escrow = address::parse_address(escrow_raw).map_err(|e| e.to_string())?;
        self.await_outcome(&escrow, kind).await
    }

    /// Everything [`Self::settle`] does short of sending and waiting: returns `None` once
    /// a `complete` is queued or submitted (now or before), else what stops it.
    pub async fn submit(&self, escrow_raw: &str) -> Result<Option<JobOutcome>, String> {
        let escrow = address::parse_address(escrow_raw).map_err(|e| e.to_string())?;
        let state = job_chain::job_state(self.api(), &escrow).await?;
        if state.state != je::OPEN {
            return self.finish(&escrow, state.state).await.map(Some);
        }
        if !self.submitted(escrow_raw).await?.is_empty() {
            return Ok(None);
        }
        let Some(claim) = self.claim(escrow_raw, &escrow).await? else {
            return Ok(Some(JobOutcome::NotYet(
                "no stored result with its provider and pay".into(),
            )));
        };
        let job = self
            .store()
            .job(escrow_raw)
            .await
            .map_err(|e| e.to_string())?
            .ok_or("the job is not in the store")?;
        let me = self
            .signer
            .index()
            .ok_or("this relayer is not in the set")?;
        let now = self.now(&escrow).await?;
        let n = self.signer.set.keys.len();
        if !may_coordinate(
            me,
            escrow_raw,
            n,
            job.created_at,
            now,
            self.signer.rotation_secs,
        ) {
            return Ok(Some(JobOutcome::NotYet(
                "another relayer coordinates this job".into(),
            )));
        }
        self.prepare_complete(&claim, job.state, now).await?;
        Ok(None)
    }

    /// The completion to post: the one this relayer signed (never another), else the
    /// newest stored result with its provider and pay.
    pub async fn claim(
        &self,
        escrow_raw: &str,
        escrow: &TonAddress,
    ) -> Result<Option<CompletionClaim>, String> {
        let store = self.store();
        let Some(job) = store.job(escrow_raw).await.map_err(|e| e.to_string())? else {
            return Ok(None);
        };
        let results = store
            .results_of(escrow_raw)
            .await
            .map_err(|e| e.to_string())?;
        let own = store
            .own_job_signature(escrow_raw)
            .await
            .map_err(|e| e.to_string())?;
        let picked = match &own {
            Some(own) => results
                .into_iter()
                .find(|r| r.result.result_hash == own.proof.result_hash)
                .map(|r| (r, own.proof.provider.clone(), own.proof.amount)),
            None => results.into_iter().find_map(|r| {
                let (p, pay) = (r.provider.clone()?, r.pay?);
                Some((r, p, pay))
            }),
        };
        let Some((record, provider, pay)) = picked else {
            return Ok(None);
        };
        Ok(Some(CompletionClaim {
            completion: Completion {
                global_id: self.signer.global_id,
                escrow: escrow.clone(),
                nonce: job.job.nonce,
                provider_owner: address::parse_address(&provider).map_err(|e| e.to_string())?,
                pay,
                result_hash: record.result.result_hash,
            },
            lease_seq: record.lease_seq,
            result: record.result,
        }))
    }

    /// Signs `claim`, collects peers' signatures up to k and puts the `complete` in the
    /// outbox (or finds it there). Returns the item in whatever state it is.
    pub async fn prepare_complete(
        &self,
        claim: &CompletionClaim,
        local: LocalState,
        now: i64,
    ) -> Result<AnyOutboxEntry, String> {
        let store = self.store();
        let escrow_raw = address::to_raw(&claim.completion.escrow);
        let payload = claim.completion.payload().map_err(|e| e.to_string())?;
        let payload_hash: [u8; 32] = payload.cell_hash().as_slice().try_into().expect("32 bytes");
        let item_id = OutboxId::derive(OutboxKind::Complete, &escrow_raw, &payload_hash);
        if let Some(entry) = store
            .outbox_get(&item_id)
            .await
            .map_err(|e| e.to_string())?
        {
            return Ok(entry);
        }
        let me = self
            .signer
            .index()
            .ok_or("this relayer is not in the set")?;
        let own = self
            .signer
            .sign(claim, None)
            .await
            .map_err(|e| format!("own signature: {e}"))?;
        let record = |i: usize, key: [u8; 32], sig: Signature| ProofSignature {
            escrow: escrow_raw.clone(),
            payload_hash,
            signer_index: i as u8,
            signer_pubkey: key,
            signature: sig.to_bytes(),
        };
        let own_key = self.signer.key.verifying_key().to_bytes();
        store
            .add_proof_signature(&record(me, own_key, own), now)
            .await
            .map_err(|e| e.to_string())?;
        let k = usize::from(self.signer.set.k);
        let have = store
            .proof_signatures(&escrow_raw, &payload_hash)
            .await
            .map_err(|e| e.to_string())?;
        if have.len() < k {
            let asked: Vec<_> = self
                .peers
                .iter()
                .filter(|p| !have.iter().any(|s| s.signer_pubkey == p.key.to_bytes()))
                .collect();
            let asks = asked.iter().map(|p| async move {
                let r = request_job_signature(&self.http, &p.url, &p.key, &self.signer.key, claim)
                    .await;
                (*p, r)
            });
            for (peer, result) in futures::future::join_all(asks).await {
                match (result, self.signer.set.index_of(&peer.key)) {
                    (Ok(sig), Some(i)) => {
                        store
                            .add_proof_signature(&record(i, peer.key.to_bytes(), sig), now)
                            .await
                            .map_err(|e| e.to_string())?;
                    }
                    (Ok(_), None) => tracing::warn!(peer = %peer.url, "peer is not in the set"),
                    (Err(e), _) => {
                        tracing::warn!(peer = %peer.url, escrow = %escrow_raw, error = %e, "peer did not sign")
                    }
                }
            }
        }
        let sigs = store
            .proof_signatures(&escrow_raw, &payload_hash)
            .await
            .map_err(|e| e.to_string())?;
        if sigs.len() < k {
            return Err(format!("only {} of the {k} signatures needed", sigs.len()));
        }
        let proof = Proof::from_signatures(
            self.signer.set.k,
            sigs.iter()
                .map(|s| {
                    (
                        usize::from(s.signer_index),
                        Signature::from_bytes(&s.signature),
                    )
                })
                .collect(),
        )
        .map_err(|e| e.to_string())?;
        let body = je::complete_body(&claim.completion, &proof, claim.completion.nonce)
            .map_err(|e| e.to_string())?;
        let item = NewOutboxItem {
            kind: OutboxKind::Complete,
            target: escrow_raw.clone(),
            key: payload_hash.to_vec(),
            payload: boc::to_boc(&body),
            value: COMPLETE_VALUE,
            not_before: now,
        };
        // The coordinator's job is `signed` (its own result): queue and mark it posted in
        // one transaction. A relayer that signed a peer's result only holds the item.
        match local {
            LocalState::Signed | LocalState::Posted => store.queue_completion(&item, now).await,
            _ => store.outbox_prepare(&item, now).await,
        }
        .map_err(|e| e.to_string())
    }

    async fn submitted(&self, escrow_raw: &str) -> Result<Vec<OutboxEntry<Submitted>>, String> {
        self.store()
            .outbox_submitted_to(escrow_raw)
            .await
            .map_err(|e| e.to_string())
    }

    /// Waits until the escrow leaves `open` (then [`Self::finish`]) or every submission
    /// to it can no longer land (then they are failed-retryable and re-sent next time).
    async fn await_outcome(
        &self,
        escrow: &TonAddress,
        kind: OutboxKind,
    ) -> Result<JobOutcome, String> {
        let raw = address::to_raw(escrow);
        loop {
            let state = job_chain::job_state(self.api(), escrow).await?;
            if state.state != je::OPEN {
                return self.finish(escrow, state.state).await;
            }
            let now = self.now(escrow).await?;
            let submitted = self.submitted(&raw).await?;
            let live = submitted.iter().any(|e| {
                e.submission
                    .as_ref()
                    .and_then(|s| s.valid_until)
                    .is_none_or(|v| now <= v + 5)
            });
            if !live {
                for entry in submitted {
                    // The submitter may have failed it first (its seqno never used).
                    match self
                        .store()
                        .outbox_fail(entry, Failure::Expired, now, now)
                        .await
                    {
                        Ok(_) | Err(StoreError::OutboxStale { .. }) => {}
                        Err(e) => return Err(e.to_string()),
                    }
                }
                return Err(format!(
                    "the {} post expired before the escrow changed; it will be re-sent",
                    kind.as_str()
                ));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// The escrow is final (`state`): confirms our submitted item that did it, supersedes
    /// the rest (waiting for a submission that could still land), and records the end
    /// of the job in the store.
    async fn finish(&self, escrow: &TonAddress, state: i8) -> Result<JobOutcome, String> {
        let store = self.store();
        let raw = address::to_raw(escrow);
        let op = if state == je::COMPLETED {
            je::op::COMPLETE
        } else {
            je::op::EXPIRE
        };
        // Whose post changed the escrow: ours is confirmed; if another's did (another
        // relayer's proof, the client's expire), our items are superseded. Unknown (the
        // transaction is out of reach): a submitted item of the right kind is confirmed.
        let wallet = self.submitter.wallet_address().clone();
        let (ours, lt, hash) = match job_chain::acting_transaction(self.api(), escrow, op).await? {
            Some((sender, lt, hash)) => (Some(sender == wallet), lt, hash),
            None => {
                let (lt, hash) = chain::last_transaction(self.api(), escrow).await?;
                (None, lt, hash)
            }
        };
        let change = TargetStateChanged {
            target: raw.clone(),
            lt,
            hash,
        };
        let mut outcome = JobOutcome::Finished { state };
        loop {
            let now = self.now(escrow).await?;
            let mut waiting = false;
            for entry in store
                .outbox_for_target(&raw)
                .await
                .map_err(|e| e.to_string())?
            {
                let stepped = match entry {
                    AnyOutboxEntry::Submitted(e)
                        if final_state_of(e.kind) == state && ours != Some(false) =>
                    {
                        let id = e.id.clone();
                        let r = store.outbox_confirm(e, &change, now).await.map(|_| ());
                        if r.is_ok() {
                            outcome = JobOutcome::Confirmed { id, state };
                        }
                        r
                    }
                    AnyOutboxEntry::Submitted(e) => {
                        let may_land = e
                            .submission
                            .as_ref()
                            .and_then(|s| s.valid_until)
                            .is_none_or(|v| now <= v);
                        let failure = if ours == Some(false) && final_state_of(e.kind) == state {
                            // Another post did what ours would: ours is refused on arrival.
                            Failure::Rejected("another post changed the escrow first".into())
                        } else if may_land {
                            waiting = true;
                            continue;
                        } else {
                            Failure::Expired
                        };
                        match store.outbox_fail(e, failure, now, now).await {
                            Ok(failed) => store
                                .outbox_supersede(failed, &change, now)
                                .await
                                .map(|_| ()),
                            Err(e) => Err(e),
                        }
                    }
                    AnyOutboxEntry::Prepared(e) => {
                        store.outbox_supersede(e, &change, now).await.map(|_| ())
                    }
                    AnyOutboxEntry::FailedRetryable(e) => {
                        store.outbox_supersede(e, &change, now).await.map(|_| ())
                    }
                    AnyOutboxEntry::Confirmed(e) => {
                        if final_state_of(e.kind) == state {
                            outcome = JobOutcome::Confirmed {
                                id: e.id.clone(),
                                state,
                            };
                        }
                        Ok(())
                    }
                    AnyOutboxEntry::Superseded(_) => Ok(()),
                };
                match stepped {
                    Ok(()) => {}
                    // Someone else (the watcher, another replica) stepped it first: look again.
                    Err(StoreError::OutboxStale { .. }) => waiting = true,
                    Err(e) => return Err(e.to_string()),
                }
            }
            if !waiting {
                break;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        let to = if state == je::COMPLETED {
            LocalState::Settled
        } else {
            LocalState::Refunded
        };
        let now = self.now(escrow).await?;
        match store.transition_job(&raw, to, now).await {
            Ok(_) | Err(StoreError::IllegalTransition { .. }) | Err(StoreError::JobNotFound(_)) => {
            }
            Err(e) => return Err(e.to_string()),
        }
        Ok(outcome)
    }

    /// Expires one job after deadline + grace, with a verified stored acceptance as
    /// evidence when there is one (inside the evidence window).
    pub async fn expire(&self, escrow_raw: &str) -> Result<JobOutcome, String> {
        if let Some(done) = self.queue_expire(escrow_raw).await? {
            return Ok(done);
        }
        self.send_and_await(escrow_raw, OutboxKind::Expire).await
    }

    /// Everything [`Self::expire`] does short of sending and waiting: returns `None` once
    /// an `expire` is queued or submitted, else what stops it.
    pub async fn queue_expire(&self, escrow_raw: &str) -> Result<Option<JobOutcome>, String> {
        let escrow = address::parse_address(escrow_raw).map_err(|e| e.to_string())?;
        let state = job_chain::job_state(self.api(), &escrow).await?;
        if state.state != je::OPEN {
            return self.finish(&escrow, state.state).await.map(Some);
        }
        let config = job_chain::escrow_config(self.api(), &escrow).await?;
        let now = self.now(&escrow).await?;
        let due = i64::from(state.deadline) + i64::from(config.grace);
        if now <= due {
            return Ok(Some(JobOutcome::NotYet(format!(
                "expire is possible after {due}"
            ))));
        }
        if !self.submitted(escrow_raw).await?.is_empty() {
            return Ok(None);
        }
        let evidence = if now <= due + i64::from(config.window) {
            self.evidence(escrow_raw, &escrow).await?
        } else {
            None
        };
        // Only the relayer that dispatched the job holds the evidence: it expires at once;
        // without evidence the relayers take turns, as for completions.
        let me = self
            .signer
            .index()
            .ok_or("this relayer is not in the set")?;
        let n = self.signer.set.keys.len();
        if evidence.is_none()
            && !may_coordinate(me, escrow_raw, n, due, now, self.signer.rotation_secs)
        {
            return Ok(Some(JobOutcome::NotYet(
                "another relayer expires this job".into(),
            )));
        }
        let body = je::expire_body(evidence.as_ref().map(|(p, s)| (p, s)), 0)
            .map_err(|e| e.to_string())?;
        let mut key = b"expire".to_vec();
        if let Some((provider, _)) = &evidence {
            key.extend_from_slice(address::to_raw(provider).as_bytes());
        }
        let item = NewOutboxItem {
            kind: OutboxKind::Expire,
            target: escrow_raw.to_owned(),
            key,
            payload: boc::to_boc(&body),
            // With evidence it carries the slash chain (escrow → stake → payouts).
            value: if evidence.is_some() {
                EXPIRE_SLASH_VALUE
            } else {
                EXPIRE_VALUE
            },
            not_before: now,
        };
        self.store()
            .outbox_prepare(&item, now)
            .await
            .map_err(|e| e.to_string())?;
        Ok(None)
    }

    /// The first stored acceptance that is valid evidence: the JACC payload for this
    /// escrow, signed by an operator key of the named provider's stake.
    async fn evidence(
        &self,
        escrow_raw: &str,
        escrow: &TonAddress,
    ) -> Result<Option<(TonAddress, Signature)>, String> {
        let acceptances = self
            .store()
            .acceptances(escrow_raw)
            .await
            .map_err(|e| e.to_string())?;
        for (_, acc) in acceptances.iter().rev() {
            let Ok(cell) = boc::from_boc(&acc.payload) else {
                continue;
            };
            let mut parser = cell.parser();
            let (Ok(header), Ok(owner)) = (PayloadHeader::load(&mut parser), parser.load_address())
            else {
                continue;
            };
            let expected = Acceptance {
                global_id: self.signer.global_id,
                escrow: escrow.clone(),
                nonce: header.id,
                provider_owner: owner.clone(),
            }
            .payload()
            .map_err(|e| e.to_string())?;
            if expected.cell_hash() != cell.cell_hash() {
                continue;
            }
            let (Ok(key), sig) = (
                signing::verifying_key(&acc.operator_pubkey),
                Signature::from_bytes(&acc.signature),
            ) else {
                continue;
            };
            if signing::verify(&key, &expected, &sig).is_err() {
                continue;
            }
            let stake = self.signer.stake_address(&owner)?;
            if job_chain::operator_keys(self.api(), &stake)
                .await?
                .contains(&key)
            {
                return Ok(Some((owner, sig)));
            }
        }
        Ok(None)
    }

    /// One pass: settle every job with a stored result, expire every overdue one. Every
    /// post is queued first, so they leave together in one wallet message.
    pub async fn run_once(&self) -> Vec<Result<JobOutcome, String>> {
        let mut out = Vec::new();
        let mut queued = Vec::new();
        match self.store().jobs_with_results(100).await {
            Ok(escrows) => {
                for e in escrows {
                    match self.submit(&e).await {
                        Ok(None) => queued.push((e, OutboxKind::Complete)),
                        Ok(Some(done)) => out.push(Ok(done)),
                        Err(err) => out.push(Err(err)),
                    }
                }
            }
            Err(e) => out.push(Err(e.to_string())),
        }
        match self.submitter.now().await {
            Ok(now) => match self.store().jobs_past_deadline(now, 100).await {
                Ok(escrows) => {
                    for e in escrows {
                        match self.queue_expire(&e).await {
                            Ok(None) => queued.push((e, OutboxKind::Expire)),
                            Ok(Some(done)) => out.push(Ok(done)),
                            Err(err) => out.push(Err(err)),
                        }
                    }
                }
                Err(e) => out.push(Err(e.to_string())),
            },
            Err(e) => out.push(Err(e.to_string())),
        }
        // The first send takes every queued item (up to a wallet message's 255 actions).
        for (e, kind) in queued {
            out.push(self.send_and_await(&e, kind).await);
        }
        out
    }

    /// The settlement loop: a pass every `interval` until `shutdown`.
    pub async fn run(&self, policy: JobPolicy, shutdown: impl std::future::Future<Output = ()>) {
        let mut shutdown = std::pin::pin!(shutdown);
        loop {
            tokio::select! {
                _ = tokio::time::sleep(policy.interval) => {
                    for r in self.run_once().await {
                        if let Err(e) = r {
                            tracing::warn!(error = %e, "job settlement will be retried");
                        }
                    }
                }
                _ = &mut shutdown => return,
            }
        }
    }
}

/// The poster's futures can run on a multi-threaded runtime (`tokio::spawn`).
#[allow(dead_code)]
fn assert_send(p: &JobPoster) {
    fn is_send<T: Send>(_: T) {}
    is_send(p.settle(""));
    is_send(p.expire(""));
    is_send(p.run(
        JobPolicy {
            interval: Duration::ZERO,
        },
        async {},
    ));
}
