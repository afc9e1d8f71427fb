//! The chain watcher: follows a persisted set of accounts (the hub plus every escrow
//! and compute account registered with [`Store::watch`]) through toncenter's v2 API and
//! applies what their transactions mean to the store, exactly once and without gaps.
//!
//! Per account and poll:
//! 1. [`walk::since`] pages `getTransactions` from the newest transaction back to the
//!    account's persisted cursor (`chain_cursors`), following each transaction's
//!    predecessor link, so short, shuffled, overlapping or repeated pages never skip one.
//! 2. Oldest first, each transaction old enough (below) is decoded ([`decode`]) and
//!    applied with [`Store::apply_chain_tx`], which records it as seen in the same
//!    database transaction as its events (a re-seen one is a no-op), and the cursor is
//!    advanced to it. A transaction that cannot be decoded or applied stops that account
//!    for this poll: the cursor stays before it and the next poll tries again.
//!
//! **Confirmation.** The v2 API does not say which masterchain block holds a
//! transaction, but it only returns transactions of blocks already applied on the
//! masterchain. So each transaction gets the masterchain seqno read right *after* the
//! page that first showed it (an upper bound of its block), kept in memory, and is acted
//! on once the masterchain is `confirmation_depth` blocks past that. The estimate is
//! never younger than the truth; after a restart it starts again (later, never earlier).
//! Depth 0 acts on what the API shows.
//!
//! Errors of the API (429, 5xx, timeouts) are retried by the SDK client; a page that
//! still fails is retried by the walk with backoff, keeping what it has. One account's
//! failure does not hold up the others.

pub mod decode;
pub mod walk;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use spindle_sdk::toncenter::{Toncenter, Transaction, TransactionId};
use spindle_sdk::{TonAddress, TonHash, address};

use crate::store::{Applied, ChainTx, Cursor, Store, StoreError, WatchKind, Watched};
use decode::{DecodeError, Decoder};
use walk::{WalkError, WalkPolicy};

/// How the watcher polls.
#[derive(Clone, Debug)]
pub struct WatchConfig {
    /// The hub whose escrows count (escrows of another hub are refused).
    pub hub: TonAddress,
    /// Masterchain blocks a transaction must be behind the head before it is acted on.
    pub confirmation_depth: u32,
    /// Time between polls in [`Watcher::run`].
    pub poll_interval: Duration,
    /// Paging and retry policy of each walk.
    pub walk: WalkPolicy,
}

impl WatchConfig {
    /// From the relayer's validated config: its hub and `thresholds.confirmation_depth`.
    pub fn from_config(config: &crate::config::Config) -> Result<Self, spindle_sdk::Error> {
        let hub = address::parse_address(&config.chain.hub_raw)?;
        Ok(Self::new(hub, config.thresholds.confirmation_depth))
    }

    /// Pages of 100 (toncenter's maximum), a poll every 2 s, up to 20 fruitless
    /// requests in a row (with backoff up to 5 s) before a walk gives up until the next poll.
    pub fn new(hub: TonAddress, confirmation_depth: u32) -> Self {
        Self {
            hub,
            confirmation_depth,
            poll_interval: Duration::from_secs(2),
            walk: WalkPolicy {
                page_size: 100,
                max_stalls: 20,
                backoff: Duration::from_millis(100),
                max_backoff: Duration::from_secs(5),
            },
        }
    }
}

/// Counters for the operator (exported as Prometheus metrics elsewhere).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WatchStats {
    /// Accounts in the followed set at the last poll.
    pub accounts_followed: u64,
    /// Transactions applied (new to the store) since start.
    pub transactions_applied: u64,
    /// Transactions the store had applied already (another replica, a restart).
    pub transactions_already_seen: u64,
    /// Events applied since start (funded, settled, refunded, voucher settled).
    pub events_applied: u64,
    /// Spindle messages refused as not ours (e.g. an escrow of another hub).
    pub refused: u64,
    /// Transactions seen but not yet `confirmation_depth` deep, at the last poll.
    pub pending_confirmation: u64,
    /// Polls finished, and account-polls that failed (retried next poll).
    pub polls: u64,
    pub account_errors: u64,
    /// The masterchain seqno at the last poll.
    pub masterchain_seqno: u32,
    /// Unix time the last poll finished, and how long it took: the store's view of the
    /// chain is at most this old plus the poll interval.
    pub last_poll_at: i64,
    pub last_poll_lag: Duration,
}

/// What one account-poll did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AccountReport {
    pub applied: u64,
    pub already_seen: u64,
    pub events: u64,
    pub pending: u64,
}

/// Why polling an account stopped early (it is retried at the next poll).
#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    #[error("store: {0}")]
    Store(#[from] StoreError),
    #[error("toncenter: {0}")]
    Api(#[from] spindle_sdk::toncenter::ToncenterError),
    #[error("{account}: {source}")]
    Walk { account: String, source: WalkError },
    #[error("{account}: {source}")]
    Decode {
        account: String,
        source: DecodeError,
    },
    #[error("watched account {0:?} is not an address")]
    BadAddress(String),
}

/// The chain watcher; share it behind an `Arc`.
pub struct Watcher {
    api: Arc<Toncenter>,
    store: Store,
    config: WatchConfig,
    /// (account, lt) → masterchain seqno when first seen, until applied.
    first_seen: Mutex<HashMap<(String, u64), u32>>,
    stats: Mutex<WatchStats>,
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

impl Watcher {
    pub fn new(
        api: Arc<Toncenter>,
        store: Store,
        config: WatchConfig,
    ) -> Result<Self, spindle_sdk::Error> {
        Ok(Self {
            api,
            store,
            config,
            first_seen: Mutex::new(HashMap::new()),
            stats: Mutex::new(WatchStats::default()),
        })
    }

    /// Follows `account` as `kind` from now on (persisted; idempotent).
    pub async fn watch(&self, account: &TonAddress, kind: WatchKind) -> Result<bool, StoreError> {
        self.store
            .watch(&address::to_raw(account), kind, unix_now())
            .await
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> WatchStats {
        self.stats.lock().expect("stats lock").clone()
    }

    /// Polls every followed account once. Returns each account's outcome; a failed
    /// account is retried by the next poll from its cursor.
    pub async fn poll_once(
        &self,
    ) -> Result<Vec<(Watched, Result<AccountReport, WatchError>)>, WatchError> {
        let started = Instant::now();
        let watched = self.store.watched().await?;
        let mut out = Vec::with_capacity(watched.len());
        for w in watched {
            let r = self.poll_account(&w).await;
            if let Err(e) = &r {
                tracing::warn!(account = %w.account, error = %e, "watcher: account poll failed, retrying next poll");
            }
            out.push((w, r));
        }
        let mc = self
            .api
            .get_masterchain_info()
            .await
            .map(|i| i.last.seqno)
            .ok();
        let mut stats = self.stats.lock().expect("stats lock");
        stats.accounts_followed = out.len() as u64;
        stats.polls += 1;
        stats.account_errors += out.iter().filter(|(_, r)| r.is_err()).count() as u64;
        stats.pending_confirmation = out
            .iter()
            .map(|(_, r)| r.as_ref().map_or(0, |r| r.pending))
            .sum();
        if let Some(mc) = mc {
            stats.masterchain_seqno = mc;
        }
        stats.last_poll_at = unix_now();
        stats.last_poll_lag = started.elapsed();
        Ok(out)
    }

    /// Polls until `shutdown` resolves, every `poll_interval`.
    pub async fn run(&self, shutdown: impl std::future::Future<Output = ()>) {
        let mut shutdown = std::pin::pin!(shutdown);
        loop {
            if let Err(e) = self.poll_once().await {
                tracing::warn!(error = %e, "watcher poll failed");
            }
            tokio::select! {
                _ = tokio::time::sleep(self.config.poll_interval) => {}
                _ = &mut shutdown => return,
            }
        }
    }

    /// Walks one account back to its cursor and applies what is confirmed, oldest first.
    pub async fn poll_account(&self, w: &Watched) -> Result<AccountReport, WatchError> {
        let account = address::parse_address(&w.account)
            .map_err(|_| WatchError::BadAddress(w.account.clone()))?;
        let cursor = self.store.cursor(&w.account).await?;
        let since = cursor.as_ref().map(|c| TransactionId {
            lt: c.lt,
            hash: TonHash::from(c.hash),
        });
        let txs = walk::since(&self.api, &account, since.as_ref(), &self.config.walk)
            .await
            .map_err(|source| WatchError::Walk {
                account: w.account.clone(),
                source,
            })?;
        // Read after the walk: an upper bound of the block of everything it saw.
        let mc = self.api.get_masterchain_info().await?.last.seqno;
        let mut report = AccountReport::default();
        let confirmed = self.confirmed_prefix(&w.account, &txs, mc);
        report.pending = (txs.len() - confirmed) as u64;
        let decoder = Decoder {
            api: &self.api,
            hub: &self.config.hub,
        };
        for tx in &txs[..confirmed] {
            self.apply(&decoder, w, &account, tx, &mut report).await?;
        }
        Ok(report)
    }

    /// How many of `txs` (oldest first) are `confirmation_depth` deep at masterchain `mc`,
    /// stamping the ones seen for the first time with `mc`.
    fn confirmed_prefix(&self, account: &str, txs: &[Transaction], mc: u32) -> usize {
        let mut seen = self.first_seen.lock().expect("first_seen lock");
        let mut confirmed = txs.len();
        for (i, tx) in txs.iter().enumerate() {
            let at = *seen
                .entry((account.to_owned(), tx.transaction_id.lt))
                .or_insert(mc);
            if confirmed == txs.len() && mc < at.saturating_add(self.config.confirmation_depth) {
                confirmed = i;
            }
        }
        confirmed
    }

    async fn apply(
        &self,
        decoder: &Decoder<'_>,
        w: &Watched,
        account: &TonAddress,
        tx: &Transaction,
        report: &mut AccountReport,
    ) -> Result<(), WatchError> {
        let id = &tx.transaction_id;
        let hash: [u8; 32] = *id.hash.as_slice().first_chunk().expect("32-byte hash");
        let chain_tx = ChainTx {
            account: w.account.clone(),
            lt: id.lt,
            hash,
        };
        let now = unix_now();
        // A transaction the store has already applied needs no chain reads to decode.
        let (applied, events) = if self.store.is_seen(&w.account, id.lt).await? {
            (self.store.apply_chain_tx(&chain_tx, &[], now).await?, 0)
        } else {
            let decoded = decoder
                .decode(w.kind, account, tx)
                .await
                .map_err(|source| WatchError::Decode {
                    account: w.account.clone(),
                    source,
                })?;
            // Follow what the hub deploys before its transaction counts as applied, so a
            // crash in between registers it again (idempotent) rather than never.
            for (child, kind) in &decoded.register {
                match self.store.watch(&address::to_raw(child), *kind, now).await {
                    Ok(_) => {}
                    Err(e @ StoreError::WatchKindConflict { .. }) => {
                        tracing::warn!(account = %w.account, error = %e, "watcher: hub child not followed");
                        self.stats.lock().expect("stats lock").refused += 1;
                    }
                    Err(e) => return Err(e.into()),
                }
            }
            if let Some(reason) = &decoded.refused {
                tracing::warn!(account = %w.account, lt = id.lt, %reason, "watcher: Spindle message refused");
                self.stats.lock().expect("stats lock").refused += 1;
            }
            let applied = self
                .store
                .apply_chain_tx(&chain_tx, &decoded.events, now)
                .await?;
            (applied, decoded.events.len() as u64)
        };
        self.store
            .advance_cursor(&w.account, &Cursor { lt: id.lt, hash }, now)
            .await?;
        self.first_seen
            .lock()
            .expect("first_seen lock")
            .remove(&(w.account.clone(), id.lt));
        let mut stats = self.stats.lock().expect("stats lock");
        match applied {
            Applied::New => {
                report.applied += 1;
                report.events += events;
                stats.transactions_applied += 1;
                stats.events_applied += events;
            }
            Applied::AlreadySeen => {
                report.already_seen += 1;
                stats.transactions_already_seen += 1;
            }
        }
        Ok(())
    }
}
