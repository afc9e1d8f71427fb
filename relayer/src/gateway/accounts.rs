//! Clients: API key → compute account, and the balance check before dispatch.
//!
//! - Keys are looked up by their SHA-256, so the table holds no key in clear
//!   and lookup time does not depend on how much of a guess matched.
//! - [`BalanceSource`] is THE seam for an account's on-chain deposit;
//!   [`ComputeAccountBalances`] reads it from the compute_account contract's
//!   `get_account_state` through toncenter (the devnet or a real network).
//! - Each request in flight reserves its worst case in memory; its actual cost
//!   is then charged. With a [`Store`] (the relayer's normal set-up) every charge
//!   is a row of `charges`, written before the client sees its `usage`, so a
//!   restart forgets nothing; unsettled = charged − what the chain paid
//!   (`vouchers.settled`, raised by the poster from the account's `get_paid`).
//!   The on-chain balance already excludes what was paid, so until the poster
//!   records a payment it is counted twice: conservative, never overspending.
//!   Without a store (tests, tools) charges stay in memory.

use futures::future::BoxFuture;
use sha2::{Digest, Sha256};
use spindle_sdk::TonAddress;
use spindle_sdk::toncenter::Toncenter;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::store::{Charge, Store};

/// Where an account's deposit is read from.
pub trait BalanceSource: Send + Sync {
    /// The account's deposit in nanoTON, before this relayer's unsettled charges.
    fn balance<'a>(&'a self, account: &'a TonAddress) -> BoxFuture<'a, Result<u128, String>>;
}

/// Reads `get_account_state` (`initialized, balance, epoch, withdraw_at, n_paid`)
/// of the compute_account contract; an account not yet initialised has nothing.
///
/// Answers are cached for `ttl`: toncenter keys allow few requests per second,
/// and a deposit seen a moment late costs nothing (charges are counted here,
/// not re-read from the chain).
pub struct ComputeAccountBalances {
    client: Toncenter,
    ttl: Duration,
    cache: Mutex<HashMap<TonAddress, (Instant, u128)>>,
}

impl ComputeAccountBalances {
    pub fn new(client: Toncenter, ttl: Duration) -> Self {
        Self {
            client,
            ttl,
            cache: Mutex::default(),
        }
    }

    async fn read(&self, account: &TonAddress) -> Result<u128, String> {
        let result = self
            .client
            .run_get_method(account, "get_account_state", &[])
            .await
            .map_err(|e| e.to_string())?;
        let num = |i: usize| {
            result
                .stack
                .get(i)
                .and_then(|v| v.as_num())
                .ok_or_else(|| format!("get_account_state: stack entry {i} is not a number"))
        };
        if *num(0)? == spindle_sdk::BigInt::from(0) {
            return Ok(0);
        }
        u128::try_from(num(1)?).map_err(|_| "get_account_state: balance out of range".to_owned())
    }
}

impl BalanceSource for ComputeAccountBalances {
    fn balance<'a>(&'a self, account: &'a TonAddress) -> BoxFuture<'a, Result<u128, String>> {
        Box::pin(async move {
            if let Some((at, balance)) = self.cache.lock().unwrap().get(account)
                && at.elapsed() < self.ttl
            {
                return Ok(*balance);
            }
            let balance = self.read(account).await?;
            self.cache
                .lock()
                .unwrap()
                .insert(account.clone(), (Instant::now(), balance));
            Ok(balance)
        })
    }
}

/// Why a request may not be dispatched for an account.
#[derive(Debug)]
pub enum BalanceError {
    Insufficient { available: u128, needed: u128 },
    Unavailable(String),
}

#[derive(Default)]
struct Ledger {
    /// Charged for completed requests, not yet settled on-chain.
    charged: u128,
    /// Worst cases of requests in flight.
    reserved: u128,
}

pub struct Accounts {
    by_key_hash: HashMap<[u8; 32], TonAddress>,
    source: Arc<dyn BalanceSource>,
    ledgers: Mutex<HashMap<TonAddress, Ledger>>,
    store: Option<Store>,
}

impl Accounts {
    pub fn new(
        keys: impl IntoIterator<Item = (String, TonAddress)>,
        source: Arc<dyn BalanceSource>,
    ) -> Self {
        let by_key_hash = keys.into_iter().map(|(k, a)| (key_hash(&k), a)).collect();
        Self {
            by_key_hash,
            source,
            ledgers: Mutex::new(HashMap::new()),
            store: None,
        }
    }

    /// Keeps charges in `store` (they survive restarts and feed the voucher poster).
    pub fn with_store(mut self, store: Store) -> Self {
        self.store = Some(store);
        self
    }

    /// Charged and not yet settled, from the store (plus any charge the store could
    /// not take, held in memory).
    async fn stored_unsettled(&self, account: &TonAddress) -> Result<u128, String> {
        let Some(store) = &self.store else {
            return Ok(0);
        };
        let totals = store
            .account_totals(&spindle_sdk::address::to_raw(account))
            .await
            .map_err(|e| e.to_string())?;
        Ok(totals.iter().map(|t| u128::from(t.unsettled())).sum())
    }

    /// The account an API key bills, if the key is known.
    pub fn authenticate(&self, key: &str) -> Option<TonAddress> {
        self.by_key_hash.get(&key_hash(key)).cloned()
    }

    /// Charges held in memory only (without a store: all unsettled charges; with one,
    /// only those the store could not take).
    pub fn unsettled(&self, account: &TonAddress) -> u128 {
        self.ledgers
            .lock()
            .unwrap()
            .get(account)
            .map_or(0, |l| l.charged)
    }

    /// What this relayer has charged `account` and not yet settled, store included.
    pub async fn unsettled_total(&self, account: &TonAddress) -> Result<u128, String> {
        Ok(self.unsettled(account) + self.stored_unsettled(account).await?)
    }

    /// Reserves `needed` of the account's balance for one request.
    pub async fn reserve(
        self: &Arc<Self>,
        account: &TonAddress,
        needed: u128,
    ) -> Result<Reservation, BalanceError> {
        let balance = self
            .source
            .balance(account)
            .await
            .map_err(BalanceError::Unavailable)?;
        let stored = self
            .stored_unsettled(account)
            .await
            .map_err(BalanceError::Unavailable)?;
        let mut ledgers = self.ledgers.lock().unwrap();
        let ledger = ledgers.entry(account.clone()).or_default();
        let available = balance.saturating_sub(stored + ledger.charged + ledger.reserved);
        if available < needed {
            return Err(BalanceError::Insufficient { available, needed });
        }
        ledger.reserved += needed;
        Ok(Reservation {
            accounts: self.clone(),
            account: account.clone(),
            amount: needed,
            balance,
            done: false,
        })
    }
}

/// A request's hold on an account's balance: [`commit`](Self::commit) charges
/// the actual cost; dropping it uncommitted charges nothing.
pub struct Reservation {
    accounts: Arc<Accounts>,
    account: TonAddress,
    amount: u128,
    balance: u128,
    done: bool,
}

impl Reservation {
    /// Charges `cost` for a request served by `provider` (its owner address) and
    /// returns the balance left after all unsettled charges so far.
    pub async fn commit(mut self, cost: u128, provider: &TonAddress) -> u128 {
        self.done = true;
        let mut in_memory = cost;
        if let Some(store) = &self.accounts.store {
            let charge = Charge {
                request_id: hex::encode(rand::random::<[u8; 16]>()),
                account: spindle_sdk::address::to_raw(&self.account),
                provider: spindle_sdk::address::to_raw(provider),
                cost: u64::try_from(cost).unwrap_or(u64::MAX),
            };
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs() as i64);
            match store.record_charge(&charge, now).await {
                Ok(_) => in_memory = 0,
                // Still counted (in memory) so the account cannot overspend; only a
                // restart before the store recovers would forget it.
                Err(e) => tracing::error!(error = %e, "could not store a charge"),
            }
        }
        let stored = self
            .accounts
            .stored_unsettled(&self.account)
            .await
            .unwrap_or(0);
        let mut ledgers = self.accounts.ledgers.lock().unwrap();
        let ledger = ledgers.entry(self.account.clone()).or_default();
        ledger.reserved -= self.amount;
        ledger.charged += in_memory;
        self.balance.saturating_sub(stored + ledger.charged)
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        if !self.done {
            let mut ledgers = self.accounts.ledgers.lock().unwrap();
            if let Some(ledger) = ledgers.get_mut(&self.account) {
                ledger.reserved -= self.amount;
            }
        }
    }
}

fn key_hash(key: &str) -> [u8; 32] {
    Sha256::digest(key.as_bytes()).into()
}
