//! One relayer process, assembled from its [`Config`]: what `spindle relayer run` starts.
//!
//! [`Node::start`] opens the store, builds every component, serves all HTTP routes on
//! `relayer.listen` and spawns the background tasks; [`Node::shutdown`] (on SIGTERM or
//! Ctrl-C in [`Node::run`]) stops taking requests, lets each task finish (the voucher
//! poster drains: it posts every unsettled voucher) and closes the store.
//!
//! To add a component, add one line to `routers()` (its HTTP routes) and/or one to
//! the `BACKGROUND TASKS` list in [`Node::start`] (a future that returns once the
//! `stopping` signal fires). Both lists are marked in the code.
//!
//! | module | what |
//! |---|---|
//! | [`health`] | `/healthz`, `/readyz`, `/metrics` |
//! | [`metrics`] | Prometheus exposition; the chain-lag hook for the watcher |
//! | `http` | request ids, spans, access log and request counts |

pub mod health;
mod http;
pub mod metrics;

use std::future::{Future, IntoFuture};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use spindle_sdk::toncenter::{Toncenter, ToncenterConfig};
use spindle_sdk::{SigningKey, VerifyingKey};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::Store;
use crate::config::{ChainConfig, Config};
use crate::gateway::{ComputeAccountBalances, ConfiguredProviders, Gateway};
use crate::jobs::{Jobs, JobsConfig};
use crate::settle::{
    JobPeerApi, JobPolicy, JobPoster, JobSigner, PeerApi, PeerRelayer, PostPolicy, Poster,
    Submitter, VoucherSigner,
};
use crate::store::WatchKind;
use crate::ui::{Live, NetworkInfo, Ui};
use crate::watch::{WatchConfig, Watcher};

pub use health::Ops;
pub use http::REQUEST_ID;
pub use metrics::Metrics;

/// How often the voucher poster looks for pairs past the threshold.
const POST_INTERVAL: Duration = Duration::from_secs(10);
/// Every unsettled amount is posted at least this often, however small.
const POST_MAX_DELAY: Duration = Duration::from_secs(6 * 3600);
/// Vouchers are posted when an account's withdrawal is due within this window.
const GRACE_MARGIN_SECS: u64 = 600;
/// TON attached to each voucher post (the account returns what its gas did not use).
const SETTLE_VALUE: u128 = 100_000_000;
const VOUCHER_VALIDITY_SECS: u32 = 600;
/// How often the job settlement loop looks for results to settle and jobs to expire.
const JOB_SETTLE_INTERVAL: Duration = Duration::from_secs(5);
/// How long a job's coordinator has before the next relayer of the set takes over.
const COORDINATOR_ROTATION_SECS: i64 = 120;
/// Longest the HTTP server waits for open requests (and worker sockets) on shutdown.
const HTTP_DRAIN: Duration = Duration::from_secs(10);
/// Longest a background task may take to finish on shutdown (the voucher drain
/// waits for on-chain confirmation).
const TASK_DRAIN: Duration = Duration::from_secs(120);

/// Why a node did not start.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    #[error("cannot open the store {url}: {source}")]
    Store {
        url: String,
        source: crate::store::StoreError,
    },
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("{0}")]
    Setup(String),
}

/// The pieces of a running relayer that routes and tasks share.
pub struct Parts {
    pub store: Store,
    pub gateway: Arc<Gateway>,
    pub signer: Arc<VoucherSigner>,
    pub peer_api: Arc<PeerApi>,
    pub jobs: Arc<Jobs>,
    pub job_peer_api: Arc<JobPeerApi>,
    pub ui: Arc<Ui>,
    /// The dashboard's chain reader and relayer-set members.
    pub ui_live: Live,
    pub ops: Arc<Ops>,
    pub metrics: Arc<Metrics>,
}

/// ROUTERS: every component's HTTP routes, one line each.
fn routers(parts: &Parts) -> Router {
    Router::new()
        .merge(parts.gateway.router()) // OpenAI-compatible API + worker WebSocket API
        .merge(parts.peer_api.router()) // peers ask for voucher signatures
        .merge(crate::jobs::api::router(parts.jobs.clone())) // job API: submit, status, evidence, result
        .merge(parts.job_peer_api.router()) // peers ask for completion-proof signatures
        .merge(parts.ui.clone().router_with(parts.ui_live.clone())) // /ui dashboard
        .merge(parts.ops.router()) // /healthz, /readyz, /metrics
}

/// A running relayer.
pub struct Node {
    /// The address actually bound (the configured one, with port 0 resolved).
    pub addr: SocketAddr,
    pub parts: Arc<Parts>,
    stopping: watch::Sender<bool>,
    server: JoinHandle<std::io::Result<()>>,
    tasks: Vec<(&'static str, JoinHandle<()>)>,
}

/// A toncenter client for `chain`, allowed `share` of its requests per second.
fn toncenter(chain: &ChainConfig, share: f64) -> Toncenter {
    let mut c = ToncenterConfig::new(chain.api_url.as_str().trim_end_matches('/'));
    if let Some(key) = &chain.api_key {
        c = c.with_api_key(key.expose().clone());
    }
    c.requests_per_second = f64::from(chain.rps) * share;
    Toncenter::new(c)
}

/// Keeps `spindle_chain_lag_seconds` current: how old the store's view of the chain
/// is (since the watcher's last finished poll, plus how long that poll took).
async fn report_chain_lag(watcher: &Watcher, metrics: &Metrics, stop: impl Future<Output = ()>) {
    let mut stop = std::pin::pin!(stop);
    loop {
        let stats = watcher.stats();
        if stats.last_poll_at > 0 {
            let since = (crate::jobs::unix_now() - stats.last_poll_at).max(0) as f64;
            metrics.set_chain_lag(since + stats.last_poll_lag.as_secs_f64());
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            _ = &mut stop => return,
        }
    }
}

/// Resolves once `stopping` turns true.
fn stopped(mut stopping: watch::Receiver<bool>) -> impl Future<Output = ()> + Send + 'static {
    async move {
        let _ = stopping.wait_for(|s| *s).await;
    }
}

impl Node {
    /// Opens the store, builds the components and starts serving and working.
    /// Nothing here needs the chain: a chain API that is down shows in `/readyz`.
    pub async fn start(config: Config) -> Result<Node, NodeError> {
        let store = Store::connect(config.store_url.expose())
            .await
            .map_err(|source| NodeError::Store {
                url: config.store_url.to_string(),
                source,
            })?;
        let key = SigningKey::from_bytes(config.key.seed());
        let set = config.relayer_set.to_set().map_err(|e| {
            NodeError::Setup(format!(
                "relayer_set / peers: {e} (is every pubkey a real ed25519 public key?)"
            ))
        })?;
        let holder = format!(
            "{}-{}-{}",
            hostname(),
            std::process::id(),
            &hex::encode(key.verifying_key().as_bytes())[..8]
        );
        let metrics = Arc::new(Metrics::default());

        // The chain API's rate is shared in fifths: balances, voucher signing/posting, job
        // checks, job signing/posting, and the watcher.
        // Shares of the chain API's rps (sum 1): the submitter needs two reads per flush.
        let balances = Arc::new(ComputeAccountBalances::new(
            toncenter(&config.chain, 0.1),
            Duration::from_secs(2),
        ));
        let providers = Arc::new(
            ConfiguredProviders::from_config(&config.gateway.providers)
                .map_err(NodeError::Setup)?,
        );
        let gateway =
            Gateway::with_store(config.gateway.clone(), balances, providers, store.clone())
                .map_err(NodeError::Setup)?;
        let signer = Arc::new(VoucherSigner {
            store: store.clone(),
            key: key.clone(),
            set,
            api: toncenter(&config.chain, 0.2),
            global_id: config.chain.global_id,
        });
        let peers = PeerRelayer::from_config(&config.peers).map_err(NodeError::Setup)?;
        let hub = spindle_sdk::address::parse_address(&config.chain.hub_raw)
            .map_err(|e| NodeError::Setup(format!("chain.hub: {e}")))?;
        let jobs = Jobs::new(
            JobsConfig {
                lease_secs: config.thresholds.lease_duration.as_secs() as i64,
                relayer_set: Some(signer.set.clone()),
                ..JobsConfig::new(hub.clone(), config.chain.global_id)
            },
            store.clone(),
            toncenter(&config.chain, 0.2),
            &gateway,
        )
        .map_err(NodeError::Setup)?;
        let artifact_error =
            |e: spindle_sdk::Error| NodeError::Setup(format!("contract artifact: {e}"));
        let job_signer = Arc::new(JobSigner {
            store: store.clone(),
            key: key.clone(),
            set: signer.set.clone(),
            api: toncenter(&config.chain, 0.2),
            global_id: config.chain.global_id,
            hub: hub.clone(),
            stake_code: spindle_sdk::artifact!("provider_stake")
                .map_err(artifact_error)?
                .code,
            rotation_secs: COORDINATOR_ROTATION_SECS,
        });
        let job_peer_api = Arc::new(JobPeerApi {
            signer: job_signer.clone(),
            peers: peers.iter().map(|p| p.key).collect(),
        });
        // The watcher follows the hub (and the escrows and accounts it deploys), every
        // escrow submitted to the job API, and the compute accounts of the API keys.
        let watcher = Arc::new(
            Watcher::new(
                Arc::new(toncenter(&config.chain, 0.2)),
                store.clone(),
                WatchConfig::new(hub.clone(), config.thresholds.confirmation_depth),
            )
            .map_err(|e| NodeError::Setup(format!("watcher: {e}")))?,
        );
        let now = crate::jobs::unix_now();
        let follow = std::iter::once((config.chain.hub_raw.clone(), WatchKind::Hub)).chain(
            config
                .gateway
                .api_keys
                .iter()
                .map(|k| (k.account.clone(), WatchKind::ComputeAccount)),
        );
        for (account, kind) in follow {
            let raw = spindle_sdk::address::parse_address(&account)
                .map(|a| spindle_sdk::address::to_raw(&a))
                .map_err(|e| NodeError::Setup(format!("{account}: {e}")))?;
            store
                .watch(&raw, kind, now)
                .await
                .map_err(|source| NodeError::Store {
                    url: config.store_url.to_string(),
                    source,
                })?;
        }
        let ui = Arc::new(Ui {
            store: store.clone(),
            info: NetworkInfo {
                network: match config.chain.global_id {
                    -239 => "mainnet",
                    -3 => "testnet",
                    _ => "devnet",
                }
                .into(),
                global_id: config.chain.global_id,
                hub: Some(config.chain.hub.clone()),
                relayer: config.gateway.relayer_address.clone(),
                k: signer.set.k,
                n: signer.set.keys.len() as u8,
                explorer: config.chain.explorer.clone(),
            },
            gateway: Some(gateway.clone()),
            health: Some({
                let metrics = metrics.clone();
                Arc::new(move || metrics.health_summary())
            }),
        });
        // The dashboard reads the chain with a small share of the API's rate (it caches).
        let ui_history = Arc::new(crate::ui::history::History::default());
        let ui_live = Live {
            chain: Some(Arc::new(
                crate::ui::chain::ChainView::new(toncenter(&config.chain, 0.1), hub.clone())
                    .map_err(NodeError::Setup)?,
            )),
            members: signer
                .set
                .keys
                .iter()
                .map(|k| crate::ui::peers::Member {
                    pubkey: *k.as_bytes(),
                    url: config
                        .peers
                        .iter()
                        .find(|p| p.pubkey == *k.as_bytes())
                        .map(|p| p.url.clone()),
                    me: *k == key.verifying_key(),
                })
                .collect(),
            wallet: config.wallet().address().ok(),
            history: Some(ui_history.clone()),
        };
        let peer_api = Arc::new(PeerApi {
            signer: signer.clone(),
            peers: peers.iter().map(|p| p.key).collect::<Vec<VerifyingKey>>(),
        });
        let mut probe = ToncenterConfig::new(config.chain.api_url.as_str().trim_end_matches('/'));
        if let Some(k) = &config.chain.api_key {
            probe = probe.with_api_key(k.expose().clone());
        }
        probe.max_retries = 0;
        probe.requests_per_second = 0.0;
        probe.timeout = Duration::from_secs(3);
        let ops = Arc::new(Ops {
            store: store.clone(),
            probe: Toncenter::new(probe),
            pool: gateway.pool.clone(),
            metrics: metrics.clone(),
            holder: holder.clone(),
        });
        // Both posters send through one submitter, the only user of the relayer's wallet:
        // one seqno sequence, their items batched into one external message.
        let submitter = Arc::new(
            Submitter::new(
                toncenter(&config.chain, 0.1),
                store.clone(),
                SigningKey::from_bytes(config.wallet_key.seed()),
                config.wallet(),
                holder.clone(),
            )
            .map_err(NodeError::Setup)?,
        );
        let job_poster = JobPoster {
            signer: job_signer,
            peers: peers.clone(),
            http: reqwest::Client::new(),
            submitter: submitter.clone(),
        };
        let poster = Poster {
            signer: signer.clone(),
            peers,
            http: reqwest::Client::new(),
            submitter,
            settle_value: SETTLE_VALUE,
            voucher_validity_secs: VOUCHER_VALIDITY_SECS,
        };
        let parts = Arc::new(Parts {
            store,
            gateway,
            signer,
            peer_api,
            jobs: jobs.clone(),
            job_peer_api,
            ui,
            ui_live,
            ops,
            metrics: metrics.clone(),
        });

        let app = http::instrument(routers(&parts), metrics.clone());
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .map_err(|source| NodeError::Listen {
                addr: config.listen,
                source,
            })?;
        let addr = listener
            .local_addr()
            .map_err(|e| NodeError::Setup(e.to_string()))?;
        let (stopping, rx) = watch::channel(false);
        let server = tokio::spawn(
            axum::serve(crate::gateway::with_nodelay(listener), app)
                .with_graceful_shutdown(stopped(rx.clone()))
                .into_future(),
        );

        // BACKGROUND TASKS: one line each; every future returns once `stopped` fires.
        let policy = PostPolicy {
            threshold: config.thresholds.voucher_post,
            interval: POST_INTERVAL,
            max_delay: POST_MAX_DELAY,
            grace_margin_secs: GRACE_MARGIN_SECS,
        };
        let job_policy = JobPolicy {
            interval: JOB_SETTLE_INTERVAL,
        };
        let tasks: Vec<(&'static str, JoinHandle<()>)> = vec![
            (
                "voucher-poster",
                tokio::spawn({
                    let stop = stopped(rx.clone());
                    async move { poster.run(policy, stop).await }
                }),
            ),
            (
                "watcher",
                tokio::spawn({
                    let stop = stopped(rx.clone());
                    let watcher = watcher.clone();
                    async move { watcher.run(stop).await }
                }),
            ),
            (
                "chain-lag",
                tokio::spawn({
                    let stop = stopped(rx.clone());
                    let metrics = metrics.clone();
                    async move { report_chain_lag(&watcher, &metrics, stop).await }
                }),
            ),
            (
                "job-scheduler",
                tokio::spawn(jobs.run_scheduler(stopped(rx.clone()))),
            ),
            (
                "ui-history",
                tokio::spawn({
                    let stop = stopped(rx.clone());
                    let ui = parts.ui.clone();
                    let every = crate::ui::history::SAMPLE_EVERY;
                    async move { ui_history.run(&ui, every, stop).await }
                }),
            ),
            (
                "job-poster",
                tokio::spawn({
                    let stop = stopped(rx.clone());
                    async move { job_poster.run(job_policy, stop).await }
                }),
            ),
        ];

        tracing::info!(
            %addr,
            relayer = %hex::encode(key.verifying_key().as_bytes()),
            store = %config.store_url,
            chain = %config.chain.api_url,
            "relayer started"
        );
        Ok(Node {
            addr,
            parts,
            stopping,
            server,
            tasks,
        })
    }

    /// Serves until SIGTERM or Ctrl-C, then shuts down gracefully.
    pub async fn run(self) -> std::io::Result<()> {
        shutdown_signal().await;
        self.shutdown().await
    }

    /// Stops taking requests, lets the background tasks finish (the voucher poster's
    /// drain), then closes the store. Bounded: a task or connection that does not end
    /// in time is cut off (the outbox makes an interrupted post safe to resume).
    pub async fn shutdown(self) -> std::io::Result<()> {
        tracing::info!("shutting down: draining");
        let _ = self.stopping.send(true);
        for (name, task) in self.tasks {
            let abort = task.abort_handle();
            match tokio::time::timeout(TASK_DRAIN, task).await {
                Ok(_) => tracing::info!(task = name, "stopped"),
                Err(_) => {
                    tracing::error!(task = name, "did not finish draining in time; stopped");
                    abort.abort();
                }
            }
        }
        let abort = self.server.abort_handle();
        let served = match tokio::time::timeout(HTTP_DRAIN, self.server).await {
            Ok(Ok(r)) => r,
            Ok(Err(_)) => Ok(()),
            Err(_) => {
                // Worker WebSockets stay open until the workers hang up: cut them.
                abort.abort();
                Ok(())
            }
        };
        release_posting_lease(&self.parts).await;
        self.parts.store.close().await;
        tracing::info!("stopped");
        served
    }
}

/// Gives the voucher-posting lease up if this replica holds it, so a restarted or
/// other replica posts at once instead of waiting out the lease. Renewing with a
/// zero lifetime returns the lease (and its fencing token) only if it is ours or
/// free; another replica's live lease is left alone.
async fn release_posting_lease(parts: &Parts) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let lease = crate::settle::submitter::LEASE;
    if let Ok(Some(held)) = parts
        .store
        .acquire_posting_lease(lease, &parts.ops.holder, now, 0)
        .await
    {
        let _ = parts.store.release_posting_lease(&held).await;
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "relayer".into())
}

/// SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
