//! The worker agent behind `spindle worker run`.
//!
//! One task watches the backend's health and models (`health`); one task per
//! configured relayer keeps a session open (`session`), reconnecting with
//! jittered exponential backoff, and serves the requests it receives through
//! the backend (`serve`). The worker never listens on a port.
//!
//! Shutdown (SIGTERM or Ctrl-C in [`run`]; any future in [`run_until`]) drains:
//! every session advertises no capacity, finishes what is in flight (up to
//! `drain_timeout_secs`), then closes.

mod config;
mod health;
mod serve;
mod session;

pub use config::{RelayerEndpoint, WorkerConfig};

use crate::backend::Backend;
use crate::protocol::ModelOffer;
use rand::Rng;
use spindle_sdk::{SigningKey, TonAddress};
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{Notify, watch};

/// What every session shares.
pub(crate) struct Shared {
    pub config: Arc<WorkerConfig>,
    pub key: SigningKey,
    pub owner: TonAddress,
    pub backend: Backend,
    pub offers: watch::Receiver<Vec<ModelOffer>>,
    pub draining: watch::Receiver<bool>,
    pub recheck: Arc<Notify>,
}

/// Runs the worker until SIGTERM or Ctrl-C, then drains and returns.
pub async fn run(config: WorkerConfig) -> anyhow::Result<()> {
    run_until(config, shutdown_signal()).await
}

/// Runs the worker until `shutdown` completes, then drains and returns.
pub async fn run_until(
    config: WorkerConfig,
    shutdown: impl Future<Output = ()> + Send,
) -> anyhow::Result<()> {
    config.validate()?;
    let key = config.operator_key()?;
    let owner = config.owner_address()?;
    let config = Arc::new(config);
    let backend = Backend::new(config.backend_url.clone());
    let (offers_tx, offers) = watch::channel(Vec::new());
    let (drain_tx, draining) = watch::channel(false);
    let recheck = Arc::new(Notify::new());
    let health = tokio::spawn(health::watch_backend(
        config.clone(),
        backend.clone(),
        offers_tx,
        recheck.clone(),
    ));
    let shared = Arc::new(Shared {
        config: config.clone(),
        key,
        owner,
        backend,
        offers,
        draining,
        recheck,
    });
    let mut sessions = tokio::task::JoinSet::new();
    for endpoint in config.relayers.clone() {
        sessions.spawn(keep_connected(shared.clone(), endpoint));
    }
    shutdown.await;
    tracing::info!("shutting down: draining");
    let _ = drain_tx.send(true);
    while sessions.join_next().await.is_some() {}
    health.abort();
    Ok(())
}

/// Keeps one relayer session up until the worker drains.
async fn keep_connected(shared: Arc<Shared>, endpoint: RelayerEndpoint) {
    let base = Duration::from_millis(250);
    let max = Duration::from_millis(shared.config.max_backoff_ms.max(250));
    let mut backoff = base;
    let mut draining = shared.draining.clone();
    loop {
        if *draining.borrow() {
            return;
        }
        let started = Instant::now();
        match session::run_session(&shared, &endpoint).await {
            Ok(session::Ended::Drained) => return,
            Ok(session::Ended::Closed) => {
                tracing::warn!(url = %endpoint.url, "relayer closed the connection")
            }
            Err(e) => {
                tracing::warn!(url = %endpoint.url, error = format!("{e:#}"), "relayer session failed")
            }
        }
        // A session that lasted is a healthy relayer: start the backoff over.
        if started.elapsed() > Duration::from_secs(30) {
            backoff = base;
        }
        // Full jitter, so workers cut off together do not reconnect together.
        let wait = rand::thread_rng().gen_range(Duration::ZERO..=backoff);
        backoff = (backoff * 2).min(max);
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = draining.wait_for(|d| *d) => return,
        }
    }
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
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
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
