//! Watches the backend: what it can serve right now, as the offers to
//! advertise. Down (unreachable, 503 while loading, `/v1/models` failing) means
//! no offers, which withdraws the worker's capacity from every relayer; back up
//! means the models are read again and re-advertised.

use super::config::WorkerConfig;
use crate::backend::Backend;
use crate::protocol::ModelOffer;
use std::sync::Arc;
use tokio::sync::{Notify, watch};

/// Re-checks at the configured interval, or at once when `recheck` is notified
/// (a request just found the backend unavailable). Runs until `offers` has no
/// receivers left.
pub(crate) async fn watch_backend(
    config: Arc<WorkerConfig>,
    backend: Backend,
    offers: watch::Sender<Vec<ModelOffer>>,
    recheck: Arc<Notify>,
) {
    loop {
        let now = current_offers(&config, &backend).await;
        offers.send_if_modified(|old| {
            if *old == now {
                return false;
            }
            if now.is_empty() {
                tracing::warn!("backend is down: withdrawing capacity");
            } else {
                tracing::info!(models = ?now.iter().map(|o| &o.id).collect::<Vec<_>>(), "backend is up: advertising");
            }
            *old = now;
            true
        });
        tokio::select! {
            _ = tokio::time::sleep(config.health_interval()) => {}
            _ = recheck.notified() => {}
            _ = offers.closed() => return,
        }
    }
}

async fn current_offers(config: &WorkerConfig, backend: &Backend) -> Vec<ModelOffer> {
    if backend.health().await.is_err() {
        return Vec::new();
    }
    match backend.models().await {
        Ok(models) => models
            .into_iter()
            .filter_map(|m| {
                let prices = config.price_of(&m.id)?;
                Some(ModelOffer { id: m.id, prices })
            })
            .collect(),
        Err(e) => {
            tracing::warn!(error = %e, "backend lists no models");
            Vec::new()
        }
    }
}
