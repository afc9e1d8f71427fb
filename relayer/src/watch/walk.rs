//! Gap-free paging of one account's history from its newest transaction back to the
//! watcher's cursor, through toncenter's `getTransactions` (lt/hash paging, newest
//! first, the anchor itself included).
//!
//! The walk trusts no page: it trusts only the predecessor link (`prev_trans_lt`,
//! `prev_trans_hash`) inside each transaction's BoC. A transaction is taken only if it
//! is exactly the predecessor of the oldest one taken so far, so a page that is short,
//! cut in the middle, shuffled, overlapping the previous one or repeated can cost
//! another request but never skip or duplicate a transaction. The walk ends only when
//! the predecessor link reaches the cursor (or the account's first transaction), never
//! because a page came back short. Failed requests (the SDK client has already retried
//! 429/5xx/timeouts) and pages that bring nothing new are retried with backoff, keeping
//! the progress made so far.
//!
//! `spindle_sdk::toncenter::Toncenter::transactions_since` is the strict version of this
//! walk (any disorder is an error); the watcher needs the tolerant one, since one bad
//! page out of hundreds must not throw away a long backfill.

use std::time::Duration;

use spindle_sdk::TonAddress;
use spindle_sdk::toncenter::{Toncenter, Transaction, TransactionId};

/// Why a walk gave up (nothing of it is applied; the next poll starts again at the cursor).
#[derive(Debug, thiserror::Error)]
pub enum WalkError {
    /// The account's history does not contain the cursor: the chain (or the API's view
    /// of it) forked under the watcher. Needs an operator; never skipped over.
    #[error(
        "cursor lt {lt} is not in the account's history (found lt {found} with another hash or none)"
    )]
    CursorNotFound { lt: u64, found: u64 },
    /// No progress after `attempts` requests in a row.
    #[error("no progress after {attempts} requests at lt {lt}: {last}")]
    Stalled {
        attempts: u32,
        lt: u64,
        last: String,
    },
}

/// How a walk pages and how long it keeps trying.
#[derive(Clone, Copy, Debug)]
pub struct WalkPolicy {
    /// `limit` of each `getTransactions` request.
    pub page_size: u32,
    /// Requests in a row without progress before giving up.
    pub max_stalls: u32,
    /// First wait after a stall; doubles up to `max_backoff`.
    pub backoff: Duration,
    pub max_backoff: Duration,
}

/// One transaction with its predecessor, read from its BoC.
struct Linked {
    tx: Transaction,
    prev: TransactionId,
}

fn link(account: &TonAddress, tx: Transaction) -> Option<Linked> {
    let cell = tx.cell().ok()?;
    let header = spindle_sdk::transaction::parse_header(&cell).ok()?;
    // The BoC must be this account's and carry the id the API gives (a page of another
    // account, or a damaged BoC, is as good as a short page).
    if header.account != account.hash_part
        || header.lt != tx.transaction_id.lt
        || cell.cell_hash() != tx.transaction_id.hash
    {
        return None;
    }
    let prev = TransactionId {
        lt: header.prev_lt,
        hash: header.prev_hash,
    };
    Some(Linked { tx, prev })
}

/// Every transaction of `account` newer than `cursor` (all of them if `None`), oldest
/// first. Transactions landing during the walk are newer than its first page and are
/// left to the next walk.
pub async fn since(
    api: &Toncenter,
    account: &TonAddress,
    cursor: Option<&TransactionId>,
    policy: &WalkPolicy,
) -> Result<Vec<Transaction>, WalkError> {
    let cursor = cursor.filter(|c| c.lt != 0);
    // Newest first; each one's predecessor is the next one.
    let mut chain: Vec<Transaction> = Vec::new();
    // The predecessor of the oldest transaction taken so far.
    let mut expected: Option<TransactionId> = None;
    let mut stalls = 0u32;
    let mut last_problem = String::new();
    loop {
        if let Some(exp) = &expected
            && (exp.lt == 0 || Some(exp) == cursor)
        {
            chain.reverse();
            return Ok(chain);
        }
        let anchor = chain.last().map(|t| t.transaction_id.clone());
        let before = chain.len();
        match api
            .get_transactions(account, policy.page_size, anchor.as_ref())
            .await
        {
            Err(e) => last_problem = e.to_string(),
            Ok(page) => {
                let mut page: Vec<Linked> =
                    page.into_iter().filter_map(|t| link(account, t)).collect();
                page.sort_by_key(|l| std::cmp::Reverse(l.tx.transaction_id.lt));
                page.dedup_by(|a, b| a.tx.transaction_id == b.tx.transaction_id);
                for Linked { tx, prev } in page {
                    let id = &tx.transaction_id;
                    if anchor.as_ref().is_some_and(|a| id.lt >= a.lt) {
                        continue; // the anchor itself, or an overlap with what we have
                    }
                    match &expected {
                        None => {
                            // The newest transaction the API shows.
                            if let Some(c) = cursor {
                                if id == c {
                                    return Ok(Vec::new()); // nothing new
                                }
                                if id.lt == c.lt {
                                    return Err(WalkError::CursorNotFound {
                                        lt: c.lt,
                                        found: id.lt,
                                    });
                                }
                                if id.lt < c.lt {
                                    // A node behind what we applied already: nothing new yet.
                                    return Ok(Vec::new());
                                }
                            }
                        }
                        Some(exp) => {
                            if exp.lt == 0 || Some(exp) == cursor {
                                break;
                            }
                            if id.lt > exp.lt {
                                continue; // not on the chain we follow (a page from elsewhere)
                            }
                            if id.lt < exp.lt {
                                break; // the page skipped the predecessor: ask again from here
                            }
                            if id.hash != exp.hash {
                                let lt = cursor.map_or(exp.lt, |c| c.lt);
                                return Err(WalkError::CursorNotFound { lt, found: id.lt });
                            }
                        }
                    }
                    if let Some(c) = cursor
                        && (prev.lt < c.lt || (prev.lt == c.lt && prev.hash != c.hash))
                    {
                        // The chain passes below the cursor without meeting it.
                        return Err(WalkError::CursorNotFound {
                            lt: c.lt,
                            found: prev.lt,
                        });
                    }
                    expected = Some(prev);
                    chain.push(tx);
                }
                if chain.len() == before {
                    last_problem = match &anchor {
                        Some(a) => format!("page below lt {} brought nothing new", a.lt),
                        None => "the account shows no transactions".into(),
                    };
                    if anchor.is_none() && cursor.is_none() {
                        return Ok(Vec::new()); // an account without transactions
                    }
                    if anchor.is_none() {
                        // The first page was empty but we have a cursor: a lagging node.
                        return Ok(Vec::new());
                    }
                }
            }
        }
        if chain.len() > before {
            stalls = 0;
            continue;
        }
        stalls += 1;
        if stalls >= policy.max_stalls {
            let lt = anchor.map_or(0, |a| a.lt);
            return Err(WalkError::Stalled {
                attempts: stalls,
                lt,
                last: last_problem,
            });
        }
        let exp = policy.backoff.saturating_mul(1 << (stalls - 1).min(16));
        tokio::time::sleep(exp.min(policy.max_backoff)).await;
    }
}
