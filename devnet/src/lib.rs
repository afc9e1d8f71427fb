//! Spindle devnet: a local TON chain in-process.
//!
//! Contracts run on `tycho-vm` / `tycho-executor` with TON mainnet's gas,
//! forwarding and storage prices ([`config`]); the chain model (`chain`) gives
//! logical time, per-account transaction chains, ordered internal delivery,
//! bounces, deploys by state init and blocks on a timer or on demand. The
//! [`api`] module serves toncenter's v2 HTTP API, so the relayer, the CLI and
//! stock TON clients talk to the devnet exactly as to toncenter.
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! let devnet = spindle_devnet::Devnet::new(spindle_devnet::DevnetConfig::default())?;
//! let server = devnet.serve("127.0.0.1:0".parse()?).await?;
//! println!("toncenter API at {}", server.url); // e.g. http://127.0.0.1:40123/api/v2
//! # Ok(()) }
//! ```
//!
//! The public surface speaks BoC bytes and tonlib-core's `TonAddress`; tycho's
//! cell types never leave the crate.

pub mod api;
mod boc;
mod chain;
pub mod config;
mod error;
mod getter;
pub mod libraries;
mod store;
mod tx;
mod wallet;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

pub use error::DevnetError;
pub use getter::{GetMethodResult, StackItem};
pub use num_bigint::BigInt;
pub use tonlib_core::TonAddress;
pub use tx::{MsgKind, MsgSummary, TxSummary};
pub use wallet::GenesisWallet;

use chain::{Chain, Clock};

/// One TON in nanotons.
pub const TON: u128 = 1_000_000_000;

/// How a devnet starts.
#[derive(Clone, Debug)]
pub struct DevnetConfig {
    /// Number of funded wallet v5r1 test wallets (besides the faucet).
    pub wallets: usize,
    /// Balance of each test wallet, in nanotons.
    pub wallet_balance: u128,
    /// Balance of the faucet wallet, in nanotons.
    pub faucet_balance: u128,
    /// Produce a block this often when serving; `None` = only on demand.
    pub block_interval: Option<Duration>,
    /// Network id (config param 19).
    pub global_id: i32,
    /// `Some(t)`: the clock starts at unix time `t` and moves only with
    /// `advance_time` (deterministic tests). `None`: wall-clock time.
    pub manual_clock: Option<u32>,
    /// Persist the chain here (loaded at start if present, saved while serving
    /// and by [`Devnet::save`]).
    pub state_file: Option<PathBuf>,
    /// Directory with compiled contracts (`<name>.json` with `codeBoc`),
    /// listed by `GET /devnet/contracts`.
    pub contracts_dir: Option<PathBuf>,
    /// Code BoCs published as public masterchain libraries at start (see
    /// [`libraries`]). Default: Spindle's escrow code ([`libraries::spindle`]).
    pub libraries: Vec<Vec<u8>>,
}

impl Default for DevnetConfig {
    fn default() -> Self {
        Self {
            wallets: 4,
            wallet_balance: 1_000 * TON,
            faucet_balance: 1_000_000_000 * TON,
            block_interval: Some(Duration::from_millis(400)),
            global_id: config::DEVNET_GLOBAL_ID,
            manual_clock: None,
            state_file: None,
            contracts_dir: None,
            libraries: libraries::spindle(),
        }
    }
}

/// A produced block.
#[derive(Clone, Debug)]
pub struct BlockInfo {
    pub seqno: u32,
    pub utime: u32,
    pub start_lt: u64,
    pub end_lt: u64,
    pub transactions: Vec<TxSummary>,
}

/// Account state as toncenter's `getAddressInformation` reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccountInfo {
    /// "active", "uninitialized" (also for never-seen addresses) or "frozen".
    pub state: &'static str,
    pub balance: u128,
    pub code: Option<Vec<u8>>,
    pub data: Option<Vec<u8>>,
    pub frozen_hash: Option<[u8; 32]>,
    pub last_tx_lt: u64,
    pub last_tx_hash: [u8; 32],
}

struct Inner {
    chain: Chain,
    faucet: GenesisWallet,
    wallets: Vec<GenesisWallet>,
    /// Faucet transfers signed since the last block (their seqnos follow the
    /// faucet's on-chain seqno).
    faucet_pending: u32,
    config: DevnetConfig,
}

/// A running devnet. Cheap to clone; all clones share one chain.
#[derive(Clone)]
pub struct Devnet {
    inner: Arc<Mutex<Inner>>,
}

impl Devnet {
    /// Starts a chain: loads `state_file` if it exists, else creates genesis
    /// (the faucet and the test wallets, deployed and funded in block 1).
    pub fn new(config: DevnetConfig) -> anyhow::Result<Devnet> {
        let gid = config.global_id;
        let faucet = GenesisWallet::derive_for("faucet", config.faucet_balance, gid);
        let wallets: Vec<_> = (0..config.wallets)
            .map(|i| GenesisWallet::derive_for(&format!("wallet-{i}"), config.wallet_balance, gid))
            .collect();
        let clock = match config.manual_clock {
            Some(now) => Clock::Manual { now },
            None => Clock::System { offset: 0 },
        };
        let mut chain = match &config.state_file {
            Some(path) if path.exists() => store::load(path, clock)?,
            _ => {
                let mut chain = Chain::new(config.global_id, clock)?;
                for w in std::iter::once(&faucet).chain(&wallets) {
                    let now = chain.now();
                    let msg = chain::system_message(
                        &w.std_address(),
                        w.initial_balance,
                        Some(w.state_init()?),
                        now,
                        chain.lt,
                    )?;
                    chain.enqueue_internal(w.std_address(), msg);
                }
                chain.produce_block();
                chain
            }
        };
        chain.libraries = libraries::dict(&config.libraries)?;
        Ok(Devnet {
            inner: Arc::new(Mutex::new(Inner {
                chain,
                faucet,
                wallets,
                faucet_pending: 0,
                config,
            })),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave the chain half-updated
        // (blocks commit account by account), so a poisoned lock is still usable.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The network id (config param 19).
    pub fn global_id(&self) -> i32 {
        self.lock().chain.global_id
    }

    /// The funded test wallets, with their keys.
    pub fn wallets(&self) -> Vec<GenesisWallet> {
        self.lock().wallets.clone()
    }

    /// The faucet wallet (also a wallet v5r1), with its key.
    pub fn faucet_wallet(&self) -> GenesisWallet {
        self.lock().faucet.clone()
    }

    /// Current devnet time (unix seconds).
    pub fn now(&self) -> u32 {
        self.lock().chain.now()
    }

    /// Replaces the public libraries with these code BoCs (devnet only: a
    /// librarian publishing or dropping code). Returns their hashes.
    pub fn set_libraries(&self, codes: &[Vec<u8>]) -> Result<Vec<[u8; 32]>, DevnetError> {
        let libs = libraries::dict(codes)?;
        let hashes = libraries::hashes(&libs);
        self.lock().chain.libraries = libs;
        Ok(hashes)
    }

    /// Hashes of the published libraries.
    pub fn libraries(&self) -> Vec<[u8; 32]> {
        libraries::hashes(&self.lock().chain.libraries)
    }

    /// Moves the clock forward (deadlines, unbonding, storage fees).
    pub fn advance_time(&self, secs: u64) {
        self.lock().chain.advance_time(secs)
    }

    /// Sends an external message (a BoC), like toncenter's `sendBoc`: refused
    /// with toncenter's error if the contract would not accept it now;
    /// otherwise executed in the next block. Returns the message hash.
    pub fn send_boc(&self, boc: &[u8]) -> Result<[u8; 32], DevnetError> {
        let cell = boc::decode(boc)?;
        Ok(self.lock().chain.submit_external(cell)?.0)
    }

    /// Devnet only: delivers any message BoC. An internal message is queued as
    /// given (any sender, no source transaction, like @ton/sandbox's
    /// `sendMessage`); an external one goes through [`Self::send_boc`]'s check.
    /// Executed in the next block. Returns the message hash.
    pub fn inject_message(&self, boc: &[u8]) -> Result<[u8; 32], DevnetError> {
        let cell = boc::decode(boc)?;
        let mut inner = self.lock();
        let external = matches!(
            cell.parse::<tycho_types::models::MsgInfo>(),
            Ok(tycho_types::models::MsgInfo::ExtIn(_))
        );
        Ok(if external {
            inner.chain.submit_external(cell)?
        } else {
            inner.chain.inject_internal(cell)?
        }
        .0)
    }

    /// Devnet only: sets an account's whole state from a `ShardAccount` BoC
    /// (no transaction), e.g. to clone a test fixture.
    pub fn set_account(
        &self,
        addr: &TonAddress,
        shard_account_boc: &[u8],
    ) -> Result<(), DevnetError> {
        let cell = boc::decode(shard_account_boc)?;
        self.lock().chain.set_account(boc::to_std(addr), cell)
    }

    /// Sets the clock to `now` (unix seconds); never moves it backwards.
    pub fn set_time(&self, now: u32) {
        self.lock().chain.set_time(now)
    }

    /// Sends `amount` nanotons from the faucet wallet to `to` (non-bounceable,
    /// so it can fund an address before its contract is deployed). The
    /// transfer is a real signed wallet transaction in the next block.
    pub fn faucet(&self, to: &TonAddress, amount: u128) -> Result<[u8; 32], DevnetError> {
        let mut inner = self.lock();
        let faucet_addr = inner.faucet.std_address();
        let seqno = match getter::run(&inner.chain, &faucet_addr, "seqno", &[])?
            .stack
            .first()
        {
            Some(StackItem::Int(n)) => u32::try_from(n.clone()).unwrap_or(0),
            _ => 0,
        } + inner.faucet_pending;
        let valid_until = inner.chain.now() + 600;
        let msg =
            inner
                .faucet
                .transfer(seqno, valid_until, &boc::to_std(to), amount, false, false)?;
        inner.faucet_pending += 1;
        Ok(inner.chain.submit_external_unchecked(faucet_addr, msg).0)
    }

    /// Produces a block now: runs pending externals and delivers every queued
    /// internal message. Returns the block with its transactions.
    pub fn produce_block(&self) -> BlockInfo {
        let mut inner = self.lock();
        inner.faucet_pending = 0;
        let block = inner.chain.produce_block().clone();
        let transactions = block
            .txs
            .iter()
            .filter_map(|(addr, _, hash)| {
                let (_, rec) = inner.chain.tx_by_hash(hash)?;
                tx::summarize_tx(addr.workchain, &rec.cell).ok()
            })
            .collect();
        BlockInfo {
            seqno: block.seqno,
            utime: block.utime,
            start_lt: block.start_lt,
            end_lt: block.end_lt,
            transactions,
        }
    }

    /// Balance in nanotons (0 for unknown addresses).
    pub fn balance(&self, addr: &TonAddress) -> u128 {
        self.account(addr).map(|a| a.balance).unwrap_or(0)
    }

    /// Account state, as `getAddressInformation` reports it.
    pub fn account(&self, addr: &TonAddress) -> Result<AccountInfo, DevnetError> {
        api::account_info(&self.lock().chain, &boc::to_std(addr))
    }

    /// Runs a get-method by name (or numeric id) on the current state.
    pub fn run_get_method(
        &self,
        addr: &TonAddress,
        method: &str,
        stack: &[StackItem],
    ) -> Result<GetMethodResult, DevnetError> {
        getter::run(&self.lock().chain, &boc::to_std(addr), method, stack)
    }

    /// The newest `limit` transactions of an account, newest first.
    pub fn transactions(&self, addr: &TonAddress, limit: usize) -> Vec<TxSummary> {
        let inner = self.lock();
        let a = boc::to_std(addr);
        inner
            .chain
            .account_txs(&a)
            .iter()
            .rev()
            .take(limit)
            .filter_map(|r| tx::summarize_tx(a.workchain, &r.cell).ok())
            .collect()
    }

    /// Number of the last produced block.
    pub fn last_block_seqno(&self) -> u32 {
        self.lock().chain.last_block().seqno
    }

    /// Writes the whole chain to `path` (see `--state`).
    pub fn save(&self, path: &std::path::Path) -> anyhow::Result<()> {
        store::save(&self.lock().chain, path)
    }

    /// Serves the toncenter v2 API (`/api/v2/…`, `/api/v2/jsonRPC`) and the
    /// devnet API (`/devnet/…`) on `addr` (port 0 picks a free port), and
    /// produces blocks on the configured interval. Runs until the handle is
    /// dropped or [`ServerHandle::shutdown`] is called.
    pub async fn serve(&self, addr: SocketAddr) -> anyhow::Result<ServerHandle> {
        api::serve(self.clone(), addr).await
    }

    pub(crate) fn with_chain<R>(&self, f: impl FnOnce(&mut Chain) -> R) -> R {
        f(&mut self.lock().chain)
    }

    pub(crate) fn config(&self) -> DevnetConfig {
        self.lock().config.clone()
    }
}

/// A running HTTP server (and block timer).
pub struct ServerHandle {
    /// Base URL of the toncenter API, e.g. `http://127.0.0.1:40123/api/v2`
    /// (methods are `{url}/getMasterchainInfo`…; `spindle_sdk`'s `ToncenterConfig::new(url)`).
    pub url: String,
    /// JSON-RPC endpoint, e.g. `http://127.0.0.1:40123/api/v2/jsonRPC`.
    pub json_rpc_url: String,
    /// The address bound.
    pub addr: SocketAddr,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl ServerHandle {
    pub fn shutdown(self) {}
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// Options of `spindle devnet` / the `spindle-devnet` binary.
#[derive(Clone, Debug, clap::Args)]
pub struct RunArgs {
    /// Address to serve the API on.
    #[arg(long, default_value = "127.0.0.1:8081", env = "SPINDLE_DEVNET_LISTEN")]
    pub listen: SocketAddr,
    /// Persist the chain in this file (loaded at start, saved while running).
    #[arg(long)]
    pub state: Option<PathBuf>,
    /// Block interval in milliseconds (0 = blocks only on demand).
    #[arg(long, default_value_t = 400)]
    pub block_ms: u64,
    /// Number of funded test wallets.
    #[arg(long, default_value_t = 4)]
    pub wallets: usize,
    /// Directory of compiled contracts to list at /devnet/contracts.
    #[arg(long, default_value = "contracts/build")]
    pub contracts: PathBuf,
    /// Network id (config param 19). Default: the devnet's own, -1313.
    #[arg(long, default_value_t = config::DEVNET_GLOBAL_ID, allow_hyphen_values = true)]
    pub global_id: i32,
    /// Start a manual clock at this unix time: time then moves only with
    /// `POST /devnet/advanceTime` (deterministic runs). Default: wall clock.
    #[arg(long)]
    pub clock: Option<u32>,
}

/// Prints a line to stdout, ignoring a closed stdout (a devnet must not die
/// because whoever started it stopped reading).
macro_rules! say {
    ($($t:tt)*) => {{
        use std::io::Write;
        let _ = writeln!(std::io::stdout(), $($t)*);
    }};
}

/// Resolves on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

/// Runs a devnet until Ctrl-C: what `spindle devnet` calls. Prints the API
/// URL and the test wallets' addresses and keys.
pub async fn run(args: RunArgs) -> anyhow::Result<()> {
    let config = DevnetConfig {
        wallets: args.wallets,
        block_interval: (args.block_ms > 0).then(|| Duration::from_millis(args.block_ms)),
        state_file: args.state.clone(),
        contracts_dir: Some(args.contracts.clone()),
        manual_clock: args.clock,
        global_id: args.global_id,
        ..DevnetConfig::default()
    };
    let devnet = Devnet::new(config)?;
    let server = devnet.serve(args.listen).await?;
    say!("spindle devnet (global id {})", devnet.global_id());
    say!("  toncenter API: {}", server.url);
    say!("  JSON-RPC:      {}", server.json_rpc_url);
    say!(
        "  devnet API:    http://{}/devnet/ (faucet, produceBlock, advanceTime, wallets)",
        server.addr
    );
    let f = devnet.faucet_wallet();
    say!(
        "  faucet   {}  secret {}",
        f.address.to_base64_url(),
        hex::encode(f.secret_key)
    );
    for w in devnet.wallets() {
        say!(
            "  {:8} {}  secret {}",
            w.name,
            w.address.to_base64_url(),
            hex::encode(w.secret_key)
        );
    }
    shutdown_signal().await;
    if let Some(path) = &args.state {
        devnet.save(path)?;
        say!("state saved to {}", path.display());
    }
    drop(server);
    Ok(())
}
