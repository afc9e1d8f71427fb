//! The coordinator (the account's home gateway): collects k voucher signatures (its own
//! and its peers'), builds `settle_body` and posts it through the outbox state machine
//! and the relayer's [`Submitter`] (the one owner of its wallet), exactly once:
//!
//! - the outbox row (prepared) and which voucher it carries are stored before anything
//!   is sent; the submitter stores the submission (wallet seqno, `valid_until`) before
//!   the external message leaves and re-sends it under the same id if it expires;
//! - confirmed = the account's `get_paid` for the provider reached the cumulative (the
//!   target's state changed), not merely that the wallet transaction landed;
//! - a restarted poster first resolves its submitted items (confirm, or fail once the
//!   message can no longer land) before it prepares a new one. The contract's cumulative
//!   rule is the final guard: a second post of the same voucher pays nothing.

use std::time::Duration;

use spindle_sdk::protocol::compute_account::{self as ca, Voucher};
use spindle_sdk::protocol::relayer_set::Proof;
use spindle_sdk::toncenter::Toncenter;
use spindle_sdk::{Cell, TonAddress, VerifyingKey, address, boc};

use super::chain;
use super::peer::request_signature;
use super::signer::VoucherSigner;
use super::submitter::Submitter;
use crate::outbox::{
    AnyOutboxEntry, Failure, NewOutboxItem, OutboxEntry, OutboxId, OutboxKind, Submitted,
    TargetStateChanged,
};
use crate::store::{StoreError, VoucherPost};
use std::sync::Arc;

/// A peer relayer of the set.
#[derive(Clone, Debug)]
pub struct PeerRelayer {
    pub url: String,
    pub key: VerifyingKey,
}

impl PeerRelayer {
    /// The config's `[[peers]]` (keys already checked to be distinct and not our own).
    pub fn from_config(peers: &[crate::config::Peer]) -> Result<Vec<Self>, String> {
        peers
            .iter()
            .map(|p| {
                Ok(Self {
                    url: p.url.as_str().trim_end_matches('/').to_owned(),
                    key: VerifyingKey::from_bytes(&p.pubkey)
                        .map_err(|e| format!("peer {}: {e}", p.url))?,
                })
            })
            .collect()
    }
}

/// What a settle call achieved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Settled {
    /// Nothing was owed beyond what the chain already paid.
    Nothing { paid: u128 },
    /// A voucher for `cumulative` is confirmed on-chain by outbox item `id`.
    Confirmed { id: OutboxId, cumulative: u128 },
}

/// Posts vouchers for the accounts this relayer is home gateway of.
pub struct Poster {
    pub signer: Arc<VoucherSigner>,
    pub peers: Vec<PeerRelayer>,
    pub http: reqwest::Client,
    /// Sends the posts from the relayer's wallet (shared with the job poster).
    pub submitter: Arc<Submitter>,
    /// TON attached to each settle (≥ the account's `get_fees` minimum; the rest returns).
    pub settle_value: u128,
    /// How long a signed voucher stays valid.
    pub voucher_validity_secs: u32,
}

impl Poster {
    fn api(&self) -> &Toncenter {
        &self.signer.api
    }

    /// Collects k signatures for (account, provider)'s charges and returns the voucher
    /// and its `settle` body, or `None` if the chain already paid them.
    pub async fn signed_settle(
        &self,
        account: &TonAddress,
        provider: &TonAddress,
    ) -> Result<Option<(Voucher, Cell)>, String> {
        let store = &self.signer.store;
        let (raw_a, raw_p) = (address::to_raw(account), address::to_raw(provider));
        let charged = store
            .charged(&raw_a, &raw_p)
            .await
            .map_err(|e| e.to_string())?;
        let paid = chain::paid(self.api(), account, provider).await?;
        if u128::from(charged) <= paid {
            return Ok(None);
        }
        let state = chain::account_state(self.api(), account)
            .await?
            .ok_or("the account is not initialised")?;
        let now = chain::chain_time(self.api(), account).await?;
        let v = Voucher {
            global_id: self.signer.global_id,
            account: account.clone(),
            epoch: state.epoch,
            provider_owner: provider.clone(),
            cumulative: u128::from(charged),
            valid_until: (now + u64::from(self.voucher_validity_secs)) as u32,
        };
        let mut sigs = Vec::new();
        let own = self
            .signer
            .sign(&v)
            .await
            .map_err(|e| format!("own signature: {e}"))?;
        sigs.push((
            self.signer
                .index()
                .ok_or("this relayer is not in the set")?,
            own,
        ));
        let k = usize::from(self.signer.set.k);
        // Ask every peer at once; k-1 answers suffice (a peer that is down is skipped).
        let vr = &v;
        let asks = self.peers.iter().map(|p| async move {
            let r = request_signature(&self.http, &p.url, &p.key, &self.signer.key, vr).await;
            (p, r)
        });
        for (peer, result) in futures::future::join_all(asks).await {
            match (result, self.signer.set.index_of(&peer.key)) {
                (Ok(sig), Some(i)) => sigs.push((i, sig)),
                (Ok(_), None) => {
                    tracing::warn!(peer = %peer.url, "peer is not in the account's set")
                }
                (Err(e), _) => tracing::warn!(peer = %peer.url, error = %e, "peer did not sign"),
            }
        }
        if sigs.len() < k {
            return Err(format!("only {} of the {k} signatures needed", sigs.len()));
        }
        let proof = Proof::from_signatures(self.signer.set.k, sigs).map_err(|e| e.to_string())?;
        let body = ca::settle_body(&v, &proof, 0).map_err(|e| e.to_string())?;
        Ok(Some((v, body)))
    }

    /// Settles (account, provider): resolves earlier submissions, then signs, posts and
    /// confirms a voucher for all charges not yet paid.
    pub async fn settle(
        &self,
        account: &TonAddress,
        provider: &TonAddress,
    ) -> Result<Settled, String> {
        if let Some(done) = self.resolve_submitted(account, provider).await? {
            // An earlier post confirmed; more charges may have arrived since.
            if let Some(id) = self.submit(account, provider).await? {
                return self.await_confirmation(account, &id).await;
            }
            return Ok(done);
        }
        match self.submit(account, provider).await? {
            Some(id) => self.await_confirmation(account, &id).await,
            None => Ok(Settled::Nothing {
                paid: chain::paid(self.api(), account, provider).await?,
            }),
        }
    }

    /// Prepares and submits a voucher post, without waiting for it (returns its id).
    pub async fn submit(
        &self,
        account: &TonAddress,
        provider: &TonAddress,
    ) -> Result<Option<OutboxId>, String> {
        let store = &self.signer.store;
        if let Some(id) = self.retry_failed(account, provider).await? {
            return Ok(Some(id));
        }
        let Some((v, body)) = self.signed_settle(account, provider).await? else {
            return Ok(None);
        };
        let raw_a = address::to_raw(account);
        let mut key = v.epoch.to_be_bytes().to_vec();
        key.extend_from_slice(&v.cumulative.to_be_bytes());
        key.extend_from_slice(&v.valid_until.to_be_bytes());
        key.extend_from_slice(address::to_raw(provider).as_bytes());
        let now = chain::chain_time(self.api(), account).await? as i64;
        let item = NewOutboxItem {
            kind: OutboxKind::Voucher,
            target: raw_a.clone(),
            key,
            payload: boc::to_boc(&body),
            value: self.settle_value,
            not_before: now,
        };
        let id = item.id();
        store
            .outbox_prepare(&item, now)
            .await
            .map_err(|e| e.to_string())?;
        store
            .record_voucher_post(&VoucherPost {
                outbox_id: id.clone(),
                account: raw_a.clone(),
                provider: address::to_raw(provider),
                epoch: v.epoch,
                cumulative: u64::try_from(v.cumulative).map_err(|_| "cumulative out of range")?,
            })
            .await
            .map_err(|e| e.to_string())?;
        // Sent with whatever else is due (the job poster's items too), one seqno at a time.
        self.submitter
            .send_pending_to(&raw_a)
            .await
            .map_err(|e| format!("sending the voucher: {e}"))?;
        Ok(Some(id))
    }

    /// Re-sends this pair's failed-retryable voucher post, if any, under its own id with
    /// its own payload (the same signed voucher), while that voucher can still pay: a
    /// freshly signed voucher would be a second post for the pair (the failed one stays
    /// due and goes out too). A failed post whose voucher expires before a re-send can
    /// land is superseded instead, and a fresh voucher signed by the caller.
    async fn retry_failed(
        &self,
        account: &TonAddress,
        provider: &TonAddress,
    ) -> Result<Option<OutboxId>, String> {
        let store = &self.signer.store;
        let (raw_a, raw_p) = (address::to_raw(account), address::to_raw(provider));
        let mut retry = None;
        for entry in store
            .outbox_for_target(&raw_a)
            .await
            .map_err(|e| e.to_string())?
        {
            let AnyOutboxEntry::FailedRetryable(entry) = entry else {
                continue;
            };
            match store.voucher_post(&entry.id).await {
                Ok(Some(post)) if post.provider == raw_p => {}
                Ok(_) => continue,
                Err(e) => return Err(e.to_string()),
            }
            let valid_until = boc::from_boc(&entry.payload)
                .ok()
                .and_then(|body| ca::parse_settle(&body).ok())
                .map_or(0, |s| u64::from(s.voucher.valid_until));
            let now = chain::chain_time(self.api(), account).await?;
            if valid_until > now + self.submitter.validity_secs {
                retry = Some(entry.id.clone());
                continue;
            }
            let (lt, hash) = chain::last_transaction(self.api(), account).await?;
            let change = TargetStateChanged {
                target: entry.target.clone(),
                lt,
                hash,
            };
            tracing::warn!(id = %entry.id, "a failed voucher post expired unpaid; signing a fresh one");
            match store.outbox_supersede(entry, &change, now as i64).await {
                Ok(_) | Err(StoreError::OutboxStale { .. }) => {}
                Err(e) => return Err(e.to_string()),
            }
        }
        if let Some(id) = &retry {
            self.submitter
                .send_pending_to(&raw_a)
                .await
                .map_err(|e| format!("re-sending the voucher: {e}"))?;
            tracing::info!(id = %id, "re-sent a failed voucher post under its id");
        }
        Ok(retry)
    }

    /// Resolves this pair's submitted items: confirms those the chain paid, fails those
    /// that can no longer land. Returns the last confirmation, if any.
    pub async fn resolve_submitted(
        &self,
        account: &TonAddress,
        provider: &TonAddress,
    ) -> Result<Option<Settled>, String> {
        let store = &self.signer.store;
        let raw_p = address::to_raw(provider);
        let mut done = None;
        for entry in store
            .outbox_submitted_to(&address::to_raw(account))
            .await
            .map_err(|e| e.to_string())?
        {
            let Some(post) = store
                .voucher_post(&entry.id)
                .await
                .map_err(|e| e.to_string())?
            else {
                continue;
            };
            if post.provider != raw_p {
                continue;
            }
            done = Some(
                self.confirm_or_fail(account, provider, entry, &post)
                    .await?,
            );
        }
        Ok(done.flatten())
    }

    async fn await_confirmation(
        &self,
        account: &TonAddress,
        id: &OutboxId,
    ) -> Result<Settled, String> {
        let store = &self.signer.store;
        let post = store
            .voucher_post(id)
            .await
            .map_err(|e| e.to_string())?
            .ok_or("voucher post not recorded")?;
        let provider = address::parse_address(&post.provider).map_err(|e| e.to_string())?;
        match store.outbox_get(id).await.map_err(|e| e.to_string())? {
            Some(AnyOutboxEntry::Submitted(entry)) => self
                .confirm_or_fail(account, &provider, entry, &post)
                .await?
                .ok_or_else(|| "the voucher post expired unpaid; it will be re-sent".to_owned()),
            Some(AnyOutboxEntry::Confirmed(_)) => Ok(Settled::Confirmed {
                id: id.clone(),
                cumulative: post.cumulative.into(),
            }),
            Some(other) => Err(format!("voucher post is {}", other.state())),
            None => Err("voucher post vanished".into()),
        }
    }

    /// Waits until the account paid the post's cumulative (confirm) or the external
    /// message's `valid_until` passed without it (fail, retryable).
    async fn confirm_or_fail(
        &self,
        account: &TonAddress,
        provider: &TonAddress,
        entry: OutboxEntry<Submitted>,
        post: &VoucherPost,
    ) -> Result<Option<Settled>, String> {
        let store = &self.signer.store;
        let deadline = entry
            .submission
            .as_ref()
            .and_then(|s| s.valid_until)
            .unwrap_or(0);
        loop {
            let paid = chain::paid(self.api(), account, provider).await?;
            let now = chain::chain_time(self.api(), account).await? as i64;
            if paid >= u128::from(post.cumulative) {
                let (lt, hash) = chain::last_transaction(self.api(), account).await?;
                let change = TargetStateChanged {
                    target: entry.target.clone(),
                    lt,
                    hash,
                };
                let id = entry.id.clone();
                store
                    .outbox_confirm(entry, &change, now)
                    .await
                    .map_err(|e| e.to_string())?;
                let settled = u64::try_from(paid).unwrap_or(u64::MAX);
                store
                    .record_voucher_settled(&post.account, &post.provider, post.epoch, settled, now)
                    .await
                    .map_err(|e| e.to_string())?;
                return Ok(Some(Settled::Confirmed {
                    id,
                    cumulative: post.cumulative.into(),
                }));
            }
            if now > deadline {
                // The wallet message landed without paying, or never will: retry. The
                // submitter may have failed it first (its seqno unused).
                match store.outbox_fail(entry, Failure::Expired, now, now).await {
                    Ok(_) | Err(StoreError::OutboxStale { .. }) => return Ok(None),
                    Err(e) => return Err(e.to_string()),
                }
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// One pass of the poster loop: settles every pair whose unsettled charges reach
    /// `threshold`, or any unsettled amount when `drain` (shutdown) or when the account's
    /// withdrawal is due within `grace_margin_secs` (before the grace period ends).
    pub async fn run_once(
        &self,
        threshold: u64,
        grace_margin_secs: u64,
        drain: bool,
    ) -> Vec<Result<Settled, String>> {
        let pairs = match self.signer.store.unsettled_pairs().await {
            Ok(p) => p,
            Err(e) => return vec![Err(e.to_string())],
        };
        let mut out = Vec::new();
        for pair in pairs {
            let (Ok(account), Ok(provider)) = (
                address::parse_address(&pair.account),
                address::parse_address(&pair.provider),
            ) else {
                continue;
            };
            let mut due = drain || pair.unsettled() >= threshold;
            if !due
                && let Ok(Some(state)) = chain::account_state(self.api(), &account).await
                && state.withdraw_at > 0
            {
                let now = chain::chain_time(self.api(), &account).await.unwrap_or(0);
                due = state.withdraw_at <= now + grace_margin_secs;
            }
            if due {
                out.push(self.settle(&account, &provider).await);
            }
        }
        out
    }
}

/// When the poster loop posts (config `thresholds.voucher_post` is the threshold).
#[derive(Clone, Copy, Debug)]
pub struct PostPolicy {
    /// Post a pair once its unsettled amount reaches this.
    pub threshold: u64,
    /// How often the loop looks.
    pub interval: Duration,
    /// Post every unsettled amount at least this often, however small.
    pub max_delay: Duration,
    /// Post when the account's withdrawal is due within this many seconds (the
    /// relayers' last vouchers must land inside the client's grace period).
    pub grace_margin_secs: u64,
}

impl Poster {
    /// The poster loop: on every tick, pairs past the threshold or near a withdrawal;
    /// every `max_delay`, all unsettled pairs; on `shutdown`, a final drain of all.
    pub async fn run(&self, policy: PostPolicy, shutdown: impl std::future::Future<Output = ()>) {
        let mut shutdown = std::pin::pin!(shutdown);
        let mut last_flush = tokio::time::Instant::now();
        loop {
            tokio::select! {
                _ = tokio::time::sleep(policy.interval) => {
                    let flush = last_flush.elapsed() >= policy.max_delay;
                    if flush {
                        last_flush = tokio::time::Instant::now();
                    }
                    for r in self.run_once(policy.threshold, policy.grace_margin_secs, flush).await {
                        if let Err(e) = r {
                            tracing::warn!(error = %e, "voucher settlement will be retried");
                        }
                    }
                }
                _ = &mut shutdown => {
                    for r in self.run_once(0, 0, true).await {
                        if let Err(e) = r {
                            tracing::error!(error = %e, "shutdown drain: a voucher did not settle");
                        }
                    }
                    return;
                }
            }
        }
    }
}

/// The poster's futures can run on a multi-threaded runtime (`tokio::spawn`).
#[allow(dead_code)]
fn assert_send(p: &Poster, a: &TonAddress) {
    fn is_send<T: Send>(_: T) {}
    is_send(p.settle(a, a));
    is_send(p.run_once(0, 0, false));
    is_send(p.run(
        PostPolicy {
            threshold: 0,
            interval: Duration::ZERO,
            max_delay: Duration::ZERO,
            grace_margin_secs: 0,
        },
        async {},
    ));
}
