//! The relayer's OpenAI-compatible gateway and the worker API it serves from.
//!
//! | route | what |
//! |---|---|
//! | `GET /v1/worker/connect` | WebSocket workers dial out to (`worker_api`) |
//! | `POST /v1/chat/completions`, `/v1/completions` | whole or `stream: true` (SSE) |
//! | `POST /v1/embeddings` | |
//! | `GET /v1/models` | models served now, with the cheapest prices |
//!
//! Clients authenticate with an API key bound to a compute account
//! ([`accounts`]); requests go to the cheapest worker with capacity through a
//! per-account fair queue ([`pool`]); results are verified against the
//! worker's signature before the account is charged (`relay`, `verify`).
//! Errors are problem+json ([`problem`]).

pub mod accounts;
pub mod config;
mod openai;
pub mod pool;
pub mod problem;
pub mod providers;
mod relay;
mod verify;
mod worker_api;

pub use accounts::{Accounts, BalanceSource, ComputeAccountBalances};
pub use config::{AllowedProvider, ApiKeyEntry, GatewayConfig};
pub use providers::{ConfiguredProviders, ProviderCheck};

use axum::Router;
use axum::routing::{get, post};
use spindle_sdk::TonAddress;
use std::sync::Arc;

/// The gateway's shared state.
pub struct Gateway {
    pub config: GatewayConfig,
    /// This relayer's address, the target of workers' signatures.
    pub identity: TonAddress,
    pub pool: Arc<pool::Pool>,
    pub accounts: Arc<Accounts>,
    pub providers: Arc<dyn ProviderCheck>,
}

impl Gateway {
    /// A gateway whose providers are the config's allow-list and whose
    /// balances come from `balances`.
    pub fn new(
        config: GatewayConfig,
        balances: Arc<dyn BalanceSource>,
    ) -> Result<Arc<Self>, String> {
        let providers = Arc::new(ConfiguredProviders::from_config(&config.providers)?);
        Self::with_providers(config, balances, providers)
    }

    pub fn with_providers(
        config: GatewayConfig,
        balances: Arc<dyn BalanceSource>,
        providers: Arc<dyn ProviderCheck>,
    ) -> Result<Arc<Self>, String> {
        Self::build(config, balances, providers, None)
    }

    /// Like [`with_providers`](Self::with_providers), with charges kept in `store`
    /// (they survive restarts and are what the voucher poster settles).
    pub fn with_store(
        config: GatewayConfig,
        balances: Arc<dyn BalanceSource>,
        providers: Arc<dyn ProviderCheck>,
        store: crate::Store,
    ) -> Result<Arc<Self>, String> {
        Self::build(config, balances, providers, Some(store))
    }

    fn build(
        config: GatewayConfig,
        balances: Arc<dyn BalanceSource>,
        providers: Arc<dyn ProviderCheck>,
        store: Option<crate::Store>,
    ) -> Result<Arc<Self>, String> {
        let identity = spindle_sdk::address::parse_address(&config.relayer_address)
            .map_err(|e| format!("relayer_address: {e}"))?;
        let keys = config
            .api_keys
            .iter()
            .map(|k| {
                spindle_sdk::address::parse_address(&k.account)
                    .map(|a| (k.key.clone(), a))
                    .map_err(|e| format!("api_keys.account: {e}"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Arc::new(Self {
            identity,
            pool: Arc::default(),
            accounts: Arc::new(match store {
                Some(store) => Accounts::new(keys, balances).with_store(store),
                None => Accounts::new(keys, balances),
            }),
            providers,
            config,
        }))
    }

    /// The gateway's and worker API's routes.
    pub fn router(self: &Arc<Self>) -> Router {
        Router::new()
            .route(
                spindle_worker::protocol::CONNECT_PATH,
                get(worker_api::connect),
            )
            .route("/v1/chat/completions", post(openai::chat_completions))
            .route("/v1/completions", post(openai::completions))
            .route("/v1/embeddings", post(openai::embeddings))
            .route("/v1/models", get(openai::models))
            .with_state(self.clone())
    }

    /// Serves [`router`](Self::router) on `listener` until the task is dropped.
    pub async fn serve(self: Arc<Self>, listener: tokio::net::TcpListener) -> std::io::Result<()> {
        axum::serve(with_nodelay(listener), self.router()).await
    }
}

/// `listener` with TCP_NODELAY on every accepted connection: streamed tokens and
/// worker frames are small writes that Nagle's algorithm would hold back until the
/// previous one is acknowledged (tens of milliseconds per chunk).
pub fn with_nodelay(
    listener: tokio::net::TcpListener,
) -> impl axum::serve::Listener<Io = tokio::net::TcpStream, Addr = std::net::SocketAddr> {
    use axum::serve::ListenerExt;
    listener.tap_io(|tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "could not set TCP_NODELAY");
        }
    })
}
