//! One-off escrow jobs, from a paid job_escrow to a stored, worker-signed result.
//!
//! | part | what |
//! |---|---|
//! | [`api`] | `POST /v1/jobs` (submit the spec of a funded escrow), `GET /v1/jobs/{escrow}`, `…/acceptance`, `…/result` (client only) |
//! | [`escrow`] | what the relayer checks on-chain before it takes a job: address, state, amount, deadline, spec hash |
//! | [`scheduler`] | leases funded jobs to eligible connected workers, heartbeats the lease, verifies and stores acceptance and result, re-dispatches lost leases |
//!
//! Jobs and escrows are named by the escrow's raw address (`0:<hex>`) everywhere
//! (store, API paths, lease rows); clients too.

pub mod api;
pub mod escrow;
pub mod scheduler;

use crate::Store;
use crate::gateway::Gateway;
use crate::gateway::pool::Pool;
use spindle_sdk::TonAddress;
use spindle_sdk::protocol::relayer_set::RelayerSet;
use spindle_sdk::toncenter::Toncenter;
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Settings of the job API and scheduler.
#[derive(Debug, Clone)]
pub struct JobsConfig {
    /// The hub whose escrows this relayer serves (escrows are at the address derived
    /// from (hub, client, nonce) with job_escrow's code).
    pub hub: TonAddress,
    pub global_id: i32,
    /// The price floor: escrows holding less are refused, nanoTON.
    pub min_amount: u64,
    /// A job's deadline must be at least this far ahead when it is submitted.
    pub min_lead_secs: u64,
    /// How long a lease lasts without a heartbeat.
    pub lease_secs: i64,
    /// Largest `POST /v1/jobs` body.
    pub max_body_bytes: usize,
    /// A result read's `valid_until` may be at most this far ahead.
    pub read_validity_secs: u32,
    /// How often the scheduler looks for dispatchable jobs (a job submitted to this
    /// relayer wakes it at once; the interval finds lapsed leases and other replicas' jobs).
    pub dispatch_interval: Duration,
    /// How long a worker may take to accept an offer before it goes to another.
    pub accept_timeout: Duration,
    /// How long to wait for a free eligible worker per round.
    pub queue_timeout: Duration,
    /// The relayer set this relayer belongs to: when set, an escrow that snapshotted
    /// another set (`get_config`) is refused, since this set could never complete it.
    pub relayer_set: Option<RelayerSet>,
}

impl JobsConfig {
    pub fn new(hub: TonAddress, global_id: i32) -> Self {
        Self {
            hub,
            global_id,
            min_amount: 1_000_000,
            min_lead_secs: 60,
            lease_secs: 30,
            max_body_bytes: 256 << 10,
            read_validity_secs: 300,
            dispatch_interval: Duration::from_millis(250),
            accept_timeout: Duration::from_secs(10),
            queue_timeout: Duration::from_secs(2),
            relayer_set: None,
        }
    }
}

/// The job API's and scheduler's shared state.
pub struct Jobs {
    pub config: JobsConfig,
    pub store: Store,
    pub api: Toncenter,
    /// This relayer's address (result reads name it) and the worker pool, the gateway's.
    pub identity: TonAddress,
    pub pool: Arc<Pool>,
    /// Escrows with a dispatch running in this process.
    dispatching: Mutex<HashSet<String>>,
    /// Wakes the scheduler before its next tick: a job was just submitted here.
    wake: tokio::sync::Notify,
}

impl Jobs {
    /// Jobs served from `gateway`'s connected workers.
    pub fn new(
        config: JobsConfig,
        store: Store,
        api: Toncenter,
        gateway: &Gateway,
    ) -> Result<Arc<Self>, String> {
        // Fail at start, not at the first job, if the escrow artifact is bad.
        spindle_sdk::protocol::job_escrow::code()
            .map_err(|e| format!("job_escrow artifact: {e}"))?;
        Ok(Arc::new(Self {
            config,
            store,
            api,
            identity: gateway.identity.clone(),
            pool: gateway.pool.clone(),
            dispatching: Mutex::default(),
            wake: tokio::sync::Notify::new(),
        }))
    }
}

/// Unix seconds now.
pub(crate) fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}
