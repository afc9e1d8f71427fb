//! A client for toncenter's HTTP API v2 (and the devnet, which serves the same
//! API), with an API key, a client-side rate limit, retries with jittered
//! backoff, and errors that name the method and the cause.
//!
//! Transport: every call is a JSON-RPC POST to `<endpoint>/jsonRPC`
//! (`{"jsonrpc":"2.0","id":1,"method":..,"params":{..}}`), answered with
//! `{"ok":true,"result":..}` or `{"ok":false,"error":"..","code":N}`. One
//! transport keeps parameter encoding in one place. Retrying `sendBoc` is safe:
//! wallets drop a second copy of an external message (seqno, `valid_until`).

mod stack;
mod types;

use std::sync::Mutex;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use rand::Rng;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use tokio::time::Instant;

pub use stack::{StackArg, StackValue};
pub use types::*;

use crate::message::StateInit;
use crate::{Cell, TonAddress, address, boc};

/// Where and how fast to talk.
#[derive(Clone)]
pub struct ToncenterConfig {
    /// Base URL, e.g. `https://toncenter.com/api/v2`.
    pub endpoint: String,
    /// Sent as `X-API-Key`.
    pub api_key: Option<String>,
    /// Client-side limit; toncenter allows 1 without a key, 10 with a free one. 0 = unlimited.
    pub requests_per_second: f64,
    /// Retries after the first attempt on 429, 5xx, timeouts and connection errors.
    pub max_retries: u32,
    /// Per-request timeout.
    pub timeout: Duration,
    /// First backoff; doubles per retry up to `max_backoff`, jittered to 50–100%.
    pub backoff: Duration,
    pub max_backoff: Duration,
}

/// Keeps the API key out of logs.
impl std::fmt::Debug for ToncenterConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ToncenterConfig")
            .field("endpoint", &self.endpoint)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("requests_per_second", &self.requests_per_second)
            .field("max_retries", &self.max_retries)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl ToncenterConfig {
    pub fn new(endpoint: impl Into<String>) -> Self {
        Self {
            endpoint: endpoint.into(),
            api_key: None,
            requests_per_second: 1.0,
            max_retries: 5,
            timeout: Duration::from_secs(10),
            backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(10),
        }
    }

    pub fn mainnet() -> Self {
        Self::new("https://toncenter.com/api/v2")
    }

    pub fn testnet() -> Self {
        Self::new("https://testnet.toncenter.com/api/v2")
    }

    /// Sets the key and raises the rate to the free key's 10 requests/s.
    pub fn with_api_key(mut self, key: impl Into<String>) -> Self {
        self.api_key = Some(key.into());
        self.requests_per_second = 10.0;
        self
    }
}

/// A failed call: which method, after how many attempts, and why.
#[derive(Debug, thiserror::Error)]
#[error("toncenter {method} failed after {attempts} attempt(s): {cause}")]
pub struct ToncenterError {
    pub method: &'static str,
    pub attempts: u32,
    pub cause: Cause,
}

#[derive(Debug, thiserror::Error)]
pub enum Cause {
    /// The API answered `{"ok": false}`; `code` is toncenter's (often the HTTP status).
    #[error("API error {code}: {message}")]
    Api { code: i64, message: String },
    /// The node refused an external message (the contract did not accept it,
    /// e.g. a stale seqno or an expired `valid_until`); sending it again cannot help.
    #[error("message rejected: {0}")]
    Rejected(String),
    /// A non-JSON error response.
    #[error("HTTP {status}: {body}")]
    Http { status: u16, body: String },
    #[error("no response within {0:?}")]
    Timeout(Duration),
    #[error("connection: {0}")]
    Transport(String),
    #[error("unexpected response: {0}")]
    Decode(String),
    /// A get-method ran but threw.
    #[error("get-method exit code {0}")]
    ExitCode(i32),
    /// Paging reached transactions older than the cursor without meeting it:
    /// the cursor is not in this account's history.
    #[error("cursor lt {lt} not found in the account's history")]
    CursorNotFound { lt: u64 },
    /// The API skipped a transaction: the next older one was not the predecessor.
    #[error("transaction history skips from lt {expected} to lt {got}")]
    Gap { expected: u64, got: u64 },
    /// The API returns nothing older than `lt` although the chain has more
    /// (a lagging or non-archival node).
    #[error("no history older than lt {lt} available")]
    HistoryUnavailable { lt: u64 },
}

impl Cause {
    fn retryable(&self) -> bool {
        match self {
            Cause::Api { code, .. } => *code == 429 || *code >= 500,
            Cause::Http { status, .. } => *status == 429 || *status >= 500,
            Cause::Timeout(_) | Cause::Transport(_) => true,
            _ => false,
        }
    }
}

pub type ToncenterResult<T> = Result<T, ToncenterError>;

/// Result of `runGetMethod`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GetMethodResult {
    pub gas_used: u64,
    pub exit_code: i32,
    pub stack: Vec<StackValue>,
}

/// The toncenter v2 client; cheap to share behind an `Arc`.
#[derive(Debug)]
pub struct Toncenter {
    http: reqwest::Client,
    url: String,
    config: ToncenterConfig,
    /// Earliest start of the next request: spaces requests evenly, FIFO.
    next_slot: Mutex<Instant>,
}

impl Toncenter {
    pub fn new(config: ToncenterConfig) -> Self {
        Self {
            http: reqwest::Client::new(),
            url: format!("{}/jsonRPC", config.endpoint.trim_end_matches('/')),
            config,
            next_slot: Mutex::new(Instant::now()),
        }
    }

    pub async fn get_masterchain_info(&self) -> ToncenterResult<MasterchainInfo> {
        self.call("getMasterchainInfo", json!({})).await
    }

    pub async fn get_address_information(
        &self,
        address: &TonAddress,
    ) -> ToncenterResult<AddressInformation> {
        self.call(
            "getAddressInformation",
            json!({ "address": address::to_raw(address) }),
        )
        .await
    }

    pub async fn get_wallet_information(
        &self,
        address: &TonAddress,
    ) -> ToncenterResult<WalletInformation> {
        self.call(
            "getWalletInformation",
            json!({ "address": address::to_raw(address) }),
        )
        .await
    }

    /// A wallet's current seqno: 0 until it is deployed, else its `seqno` get-method.
    pub async fn wallet_seqno(&self, address: &TonAddress) -> ToncenterResult<u32> {
        if self.get_address_information(address).await?.state != "active" {
            return Ok(0);
        }
        let result = self.run_get_method(address, "seqno", &[]).await?;
        let seqno = result
            .stack
            .first()
            .and_then(StackValue::as_num)
            .and_then(|n| u32::try_from(n).ok());
        seqno.ok_or_else(|| ToncenterError {
            method: "runGetMethod",
            attempts: 1,
            cause: Cause::Decode(format!("seqno returned {:?}", result.stack.first())),
        })
    }

    /// Up to `limit` transactions, newest first, starting at `from` (inclusive)
    /// or at the newest. Pages may come back shorter than `limit`.
    pub async fn get_transactions(
        &self,
        address: &TonAddress,
        limit: u32,
        from: Option<&TransactionId>,
    ) -> ToncenterResult<Vec<Transaction>> {
        let mut params =
            json!({ "address": address::to_raw(address), "limit": limit, "archival": true });
        if let Some(from) = from {
            params["lt"] = json!(from.lt.to_string());
            params["hash"] = json!(hex::encode(from.hash.as_slice()));
        }
        self.call("getTransactions", params).await
    }

    /// Every transaction newer than `since` (all of them if `None` or if its lt
    /// is 0, an account's "no transaction yet"), oldest first, fetched
    /// newest-to-oldest in pages of `page_size`.
    ///
    /// Gap-free by construction rather than by trusting page sizes: each
    /// transaction names its predecessor (`prev_trans_lt`/`prev_trans_hash` in
    /// its BoC), and the walk requires every next older transaction to be
    /// exactly that one. It stops at `since` or at the account's first
    /// transaction; short pages just cost another request, empty ones are
    /// retried like failed calls. Transactions that land during the walk are
    /// newer than its first page and belong to the next call.
    pub async fn transactions_since(
        &self,
        address: &TonAddress,
        since: Option<&TransactionId>,
        page_size: u32,
    ) -> ToncenterResult<Vec<Transaction>> {
        const METHOD: &str = "getTransactions";
        let fail = |cause| ToncenterError {
            method: METHOD,
            attempts: 1,
            cause,
        };
        let since = since.filter(|s| s.lt != 0);
        let mut newest_first: Vec<Transaction> = Vec::new();
        // The predecessor of the oldest transaction collected so far.
        let mut expected: Option<TransactionId> = None;
        let mut empty_pages = 0;
        loop {
            if let Some(exp) = &expected
                && (exp.lt == 0 || Some(exp) == since)
            {
                return Ok(reversed(newest_first));
            }
            let anchor = newest_first.last().map(|t| t.transaction_id.clone());
            let page = self
                .get_transactions(address, page_size, anchor.as_ref())
                .await?;
            let before = newest_first.len();
            for tx in page {
                let id = &tx.transaction_id;
                if anchor.as_ref().is_some_and(|a| id.lt >= a.lt) {
                    continue; // the inclusive anchor
                }
                if let Some(exp) = &expected {
                    if exp.lt == 0 || Some(exp) == since {
                        break;
                    }
                    if id != exp {
                        return Err(fail(Cause::Gap {
                            expected: exp.lt,
                            got: id.lt,
                        }));
                    }
                }
                if let Some(s) = since {
                    if id == s {
                        return Ok(reversed(newest_first));
                    }
                    if id.lt <= s.lt {
                        return Err(fail(Cause::CursorNotFound { lt: s.lt }));
                    }
                }
                expected = Some(previous(&tx).map_err(|e| fail(Cause::Decode(e.to_string())))?);
                newest_first.push(tx);
            }
            if newest_first.len() > before {
                empty_pages = 0;
                continue;
            }
            match (&expected, since) {
                // An account without transactions.
                (None, None) => return Ok(Vec::new()),
                (None, Some(s)) => return Err(fail(Cause::CursorNotFound { lt: s.lt })),
                // The chain says there is more; the server has not caught up.
                (Some(exp), _) => {
                    empty_pages += 1;
                    if empty_pages > self.config.max_retries {
                        return Err(fail(Cause::HistoryUnavailable { lt: exp.lt }));
                    }
                    tokio::time::sleep(self.backoff(empty_pages)).await;
                }
            }
        }
    }

    /// Broadcasts a message (normally a wallet's external message).
    pub async fn send_boc(&self, message: &Cell) -> ToncenterResult<()> {
        self.call::<Value>("sendBoc", json!({ "boc": boc::to_boc_base64(message) }))
            .await
            .map(drop)
    }

    /// Broadcasts and returns the message hash to look the transaction up by.
    pub async fn send_boc_return_hash(&self, message: &Cell) -> ToncenterResult<SentMessage> {
        self.call(
            "sendBocReturnHash",
            json!({ "boc": boc::to_boc_base64(message) }),
        )
        .await
    }

    /// Runs a get-method; a non-zero exit code (other than 1, also success) is an error.
    pub async fn run_get_method(
        &self,
        address: &TonAddress,
        method: &str,
        stack: &[StackArg],
    ) -> ToncenterResult<GetMethodResult> {
        #[derive(Deserialize)]
        struct Raw {
            gas_used: u64,
            exit_code: i32,
            stack: Vec<Value>,
        }
        const METHOD: &str = "runGetMethod";
        let fail = |attempts, cause| ToncenterError {
            method: METHOD,
            attempts,
            cause,
        };
        let params = json!({
            "address": address::to_raw(address),
            "method": method,
            "stack": stack.iter().map(StackArg::to_json).collect::<Vec<_>>(),
        });
        let raw: Raw = self.call(METHOD, params).await?;
        if raw.exit_code != 0 && raw.exit_code != 1 {
            return Err(fail(1, Cause::ExitCode(raw.exit_code)));
        }
        let stack = raw
            .stack
            .iter()
            .map(StackValue::from_json)
            .collect::<Result<_, _>>();
        let stack = stack.map_err(|e| fail(1, Cause::Decode(e)))?;
        Ok(GetMethodResult {
            gas_used: raw.gas_used,
            exit_code: raw.exit_code,
            stack,
        })
    }

    /// Fees for delivering `body` to `address` (with `init` if it deploys it).
    pub async fn estimate_fee(
        &self,
        address: &TonAddress,
        body: &Cell,
        init: Option<&StateInit>,
        ignore_chksig: bool,
    ) -> ToncenterResult<FeeEstimate> {
        let encode = |c: &Cell| STANDARD.encode(boc::to_boc(c));
        let params = json!({
            "address": address::to_raw(address),
            "body": encode(body),
            "init_code": init.map(|i| encode(&i.code)).unwrap_or_default(),
            "init_data": init.map(|i| encode(&i.data)).unwrap_or_default(),
            "ignore_chksig": ignore_chksig,
        });
        self.call("estimateFee", params).await
    }

    /// One JSON-RPC call with rate limiting and retries.
    async fn call<T: DeserializeOwned>(
        &self,
        method: &'static str,
        params: Value,
    ) -> ToncenterResult<T> {
        let body = json!({ "jsonrpc": "2.0", "id": 1, "method": method, "params": params });
        let mut attempts = 0;
        loop {
            attempts += 1;
            self.wait_for_slot().await;
            let cause = match self.call_once(&body).await {
                Ok(result) => match serde_json::from_value(result) {
                    Ok(v) => return Ok(v),
                    Err(e) => Cause::Decode(e.to_string()),
                },
                Err(cause) => cause,
            };
            if !cause.retryable() || attempts > self.config.max_retries {
                return Err(ToncenterError {
                    method,
                    attempts,
                    cause,
                });
            }
            let delay = self.backoff(attempts);
            tracing::debug!(method, attempts, ?delay, %cause, "toncenter call failed, retrying");
            tokio::time::sleep(delay).await;
        }
    }

    async fn call_once(&self, body: &Value) -> Result<Value, Cause> {
        #[derive(Deserialize)]
        struct Envelope {
            ok: bool,
            #[serde(default)]
            result: Value,
            #[serde(default)]
            error: Option<String>,
            #[serde(default)]
            code: Option<i64>,
        }
        let timeout = self.config.timeout;
        let transport = |e: reqwest::Error| {
            if e.is_timeout() {
                Cause::Timeout(timeout)
            } else {
                Cause::Transport(e.to_string())
            }
        };
        let mut request = self.http.post(&self.url).json(body).timeout(timeout);
        if let Some(key) = &self.config.api_key {
            request = request.header("X-API-Key", key);
        }
        let response = request.send().await.map_err(transport)?;
        let status = response.status().as_u16();
        let text = response.text().await.map_err(transport)?;
        match serde_json::from_str::<Envelope>(&text) {
            Ok(env) if env.ok && status == 200 => Ok(env.result),
            Ok(env) => {
                let message = env.error.unwrap_or_default();
                // toncenter reports this as a 500, though it is final.
                if message.contains("cannot apply external message") {
                    return Err(Cause::Rejected(message));
                }
                Err(Cause::Api {
                    code: env.code.unwrap_or(i64::from(status)),
                    message,
                })
            }
            Err(_) if status != 200 => Err(Cause::Http {
                status,
                body: text.chars().take(200).collect(),
            }),
            Err(e) => Err(Cause::Decode(e.to_string())),
        }
    }

    async fn wait_for_slot(&self) {
        if self.config.requests_per_second <= 0.0 {
            return;
        }
        let interval = Duration::from_secs_f64(1.0 / self.config.requests_per_second);
        let slot = {
            let mut next = self.next_slot.lock().expect("rate limiter lock");
            let slot = (*next).max(Instant::now());
            *next = slot + interval;
            slot
        };
        tokio::time::sleep_until(slot).await;
    }

    fn backoff(&self, attempt: u32) -> Duration {
        let exp = self
            .config
            .backoff
            .saturating_mul(1 << (attempt - 1).min(16));
        let cap = exp.min(self.config.max_backoff);
        cap.mul_f64(rand::thread_rng().gen_range(0.5..=1.0))
    }
}

/// A transaction's predecessor, from its BoC.
fn previous(tx: &Transaction) -> crate::Result<TransactionId> {
    let header = crate::transaction::parse_header(&*tx.cell()?)?;
    Ok(TransactionId {
        lt: header.prev_lt,
        hash: header.prev_hash,
    })
}

fn reversed(mut v: Vec<Transaction>) -> Vec<Transaction> {
    v.reverse();
    v
}
