//! What the relayer checks on-chain before it takes a job, and the client's key.
//!
//! An escrow is served only if it is the job_escrow at the address derived from
//! (our hub, client, nonce) with job_escrow's code (so its code, hub and terms are
//! what we expect: protocol rule 6), it is open (`get_job` state 0), holds at least
//! the price floor, its deadline is far enough ahead, and its `spec_hash` equals
//! [`spec_hash`](spindle_sdk::protocol::job_escrow::spec_hash) of the submitted spec,
//! and (when the config names it) it snapshotted this relayer's set.

use super::Jobs;
use crate::store::NewJob;
use spindle_sdk::protocol::job_escrow::{self as je, JobState};
use spindle_sdk::toncenter::{Cause, StackValue};
use spindle_sdk::{TonAddress, VerifyingKey, address};

/// Why an escrow is refused; each maps to one problem type.
#[derive(Debug, thiserror::Error)]
pub enum EscrowError {
    #[error(
        "{escrow} is not the job escrow of this relayer's hub for (client {client}, nonce {nonce}): \
         expected {expected}"
    )]
    AddressMismatch {
        escrow: String,
        client: String,
        nonce: u64,
        expected: String,
    },
    #[error("no job escrow is deployed at {0}")]
    NotDeployed(String),
    #[error("the escrow at {0} holds no job (it was never created)")]
    NotFunded(String),
    #[error("the escrow at {escrow} is closed (state {state}: 1 completed, 2 expired)")]
    Closed { escrow: String, state: i8 },
    #[error("the escrow holds {amount} nanoTON, below this relayer's floor of {floor}")]
    BelowFloor { amount: u128, floor: u64 },
    #[error("the escrow's deadline {deadline} is less than {lead} s ahead (now {now})")]
    DeadlineTooClose { deadline: u32, lead: u64, now: i64 },
    #[error("the spec's hash {submitted} is not the escrow's spec_hash {onchain}")]
    SpecHashMismatch { submitted: String, onchain: String },
    #[error("the escrow's relayer set {onchain} is not this relayer's set {ours}")]
    OtherRelayerSet { onchain: String, ours: String },
    #[error("the chain API failed: {0}")]
    Chain(String),
}

impl Jobs {
    /// The escrow's address for (our hub, client, nonce).
    pub fn escrow_address(&self, client: &TonAddress, nonce: u64) -> Result<TonAddress, String> {
        je::code()
            .and_then(|code| je::state_init(code, &self.config.hub, client, nonce))
            .and_then(|init| init.address(0))
            .map_err(|e| e.to_string())
    }

    /// Checks the escrow on-chain against `spec_hash`; returns the job to record.
    pub async fn check_escrow(
        &self,
        escrow: &TonAddress,
        client: &TonAddress,
        nonce: u64,
        spec_hash: [u8; 32],
        now: i64,
    ) -> Result<NewJob, EscrowError> {
        let expected = self
            .escrow_address(client, nonce)
            .map_err(EscrowError::Chain)?;
        if &expected != escrow {
            return Err(EscrowError::AddressMismatch {
                escrow: address::to_raw(escrow),
                client: address::to_raw(client),
                nonce,
                expected: address::to_raw(&expected),
            });
        }
        let info = self
            .api
            .get_address_information(escrow)
            .await
            .map_err(|e| EscrowError::Chain(e.to_string()))?;
        if info.state != "active" {
            return Err(EscrowError::NotDeployed(address::to_raw(escrow)));
        }
        let state = self
            .api
            .run_get_method(escrow, "get_job", &[])
            .await
            .map_err(|e| EscrowError::Chain(e.to_string()))?;
        let ints: Vec<_> = state.stack.iter().map(|v| v.as_num().cloned()).collect();
        let job = JobState::from_stack(&ints).map_err(|e| EscrowError::Chain(e.to_string()))?;
        if job.state < 0 {
            return Err(EscrowError::NotFunded(address::to_raw(escrow)));
        }
        if job.state != je::OPEN {
            return Err(EscrowError::Closed {
                escrow: address::to_raw(escrow),
                state: job.state,
            });
        }
        if job.amount < u128::from(self.config.min_amount) {
            return Err(EscrowError::BelowFloor {
                amount: job.amount,
                floor: self.config.min_amount,
            });
        }
        if i64::from(job.deadline) < now + self.config.min_lead_secs as i64 {
            return Err(EscrowError::DeadlineTooClose {
                deadline: job.deadline,
                lead: self.config.min_lead_secs,
                now,
            });
        }
        if let Some(set) = &self.config.relayer_set {
            let ours = set
                .to_cell()
                .map_err(|e| EscrowError::Chain(e.to_string()))?
                .cell_hash();
            let config = self
                .api
                .run_get_method(escrow, "get_config", &[])
                .await
                .map_err(|e| EscrowError::Chain(e.to_string()))?;
            let onchain = config
                .stack
                .get(6)
                .and_then(StackValue::as_cell)
                .ok_or_else(|| {
                    EscrowError::Chain("get_config: entry 6 is not the relayer set".into())
                })?
                .cell_hash();
            if onchain != ours {
                return Err(EscrowError::OtherRelayerSet {
                    onchain: hex::encode(onchain.as_slice()),
                    ours: hex::encode(ours.as_slice()),
                });
            }
        }
        if job.spec_hash != spec_hash {
            return Err(EscrowError::SpecHashMismatch {
                submitted: hex::encode(spec_hash),
                onchain: hex::encode(job.spec_hash),
            });
        }
        Ok(NewJob {
            escrow: address::to_raw(escrow),
            client: address::to_raw(client),
            nonce,
            asset: "TON".into(),
            amount: u64::try_from(job.amount).map_err(|_| {
                EscrowError::Chain(format!("get_job: amount {} is out of range", job.amount))
            })?,
            deadline: i64::from(job.deadline),
            spec_hash,
        })
    }

    /// The public key of the client's wallet, from its `get_public_key` get-method
    /// (wallet v3, v4 and v5 all have it). `Ok(None)` when the client has no such
    /// get-method (e.g. a multisig): it cannot prove itself this way.
    pub async fn client_key(&self, client: &TonAddress) -> Result<Option<VerifyingKey>, String> {
        let r = match self.api.run_get_method(client, "get_public_key", &[]).await {
            Ok(r) => r,
            Err(e) if matches!(e.cause, Cause::ExitCode(_)) => return Ok(None),
            Err(e) => return Err(format!("get_public_key: {e}")),
        };
        let n = r
            .stack
            .first()
            .and_then(StackValue::as_num)
            .ok_or("get_public_key returned no integer")?;
        let (_, bytes) = n.to_bytes_be();
        if bytes.len() > 32 {
            return Err("get_public_key: over 256 bits".into());
        }
        let mut key = [0u8; 32];
        key[32 - bytes.len()..].copy_from_slice(&bytes);
        spindle_sdk::signing::verifying_key(&key)
            .map(Some)
            .map_err(|e| e.to_string())
    }
}
