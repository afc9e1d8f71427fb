//! What a relayer checks before it signs the completion proof (JCMP) of an escrow job,
//! for itself (as the job's coordinator) or for a peer (`POST /v1/peer/job-sign`), and
//! who coordinates a job.
//!
//! Every relayer verifies independently, against the chain and its own store:
//!
//! 1. the escrow is genuine: its address derives from (this hub, client, nonce) with the
//!    real job_escrow code, and it checks this relayer set's signatures;
//! 2. it is open (not completed, not expired) and `complete` can still land
//!    (chain time ≤ deadline + grace);
//! 3. the pay is at most the escrowed amount (the job's budget);
//! 4. the result is what the worker signed: SHA-256 of the body is the result hash, and
//!    the JRES signature over (escrow, nonce, provider, hash, usage) verifies with the
//!    operator key the provider's stake names on-chain (current or previous);
//! 5. a peer signs only for the job's coordinator of the current round (below);
//! 6. the result is stored before the signature leaves, and the store keeps one proof
//!    signature per job forever: never two different results for one job.
//!
//! Coordinator: relayer `(H(escrow) + r) mod n` coordinates in round `r`; round `r`
//! starts `r × rotation_secs` after this relayer first saw the job, so a coordinator that
//! is down is replaced by the next one, and after `n − 1` rotations any relayer may act.

use sha2::{Digest, Sha256};
use spindle_sdk::protocol::job_escrow::{self as je, Completion, JobResult};
use spindle_sdk::protocol::provider_stake as ps;
use spindle_sdk::protocol::relayer_set::RelayerSet;
use spindle_sdk::toncenter::Toncenter;
use spindle_sdk::{ArcCell, Signature, SigningKey, TonAddress, address, signing};

use super::{chain, job_chain};
use crate::store::{JobProof, NewJob, Store, StoreError, StoredResult};

/// A proof a coordinator asks to be signed: the completion and the result it pays for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CompletionClaim {
    pub completion: Completion,
    /// The coordinator's lease that produced the result.
    pub lease_seq: u64,
    pub result: StoredResult,
}

/// Why a completion is not signed.
#[derive(Debug, thiserror::Error)]
pub enum JobRefusal {
    #[error("wrong network id {0}")]
    WrongNetwork(i32),
    #[error("the escrow is not a job_escrow of this hub: {0}")]
    NotOurEscrow(String),
    #[error("the escrow is not open (state {state}): already settled or expired")]
    NotOpen { state: i8 },
    #[error("too late: chain time {now} is past deadline {deadline} + grace {grace}")]
    TooLate { now: u64, deadline: u32, grace: u32 },
    #[error("the escrow checks another relayer set")]
    OtherRelayerSet,
    #[error("pay {pay} exceeds the escrowed amount {amount}")]
    OverBudget { pay: u64, amount: u128 },
    #[error("the result body does not hash to the result hash")]
    ResultHashMismatch,
    #[error("the worker's result signature does not verify")]
    BadWorkerSignature,
    #[error("the worker key is not the provider stake's operator key")]
    NotOperator,
    #[error("relayer {from} is not the coordinator of this job now")]
    NotCoordinator { from: usize },
    #[error("{0}")]
    DifferentResult(StoreError),
    #[error("{0}")]
    ConflictingProof(StoreError),
    #[error("chain unavailable: {0}")]
    Chain(String),
    #[error("store: {0}")]
    Store(StoreError),
}

impl From<StoreError> for JobRefusal {
    fn from(e: StoreError) -> Self {
        match e {
            e @ StoreError::DifferentResult { .. } => JobRefusal::DifferentResult(e),
            e @ (StoreError::ConflictingProof { .. } | StoreError::ResultTermsDiffer { .. }) => {
                JobRefusal::ConflictingProof(e)
            }
            e => JobRefusal::Store(e),
        }
    }
}

impl JobRefusal {
    /// True when asking again later may succeed (chain or store trouble).
    pub fn is_transient(&self) -> bool {
        matches!(self, JobRefusal::Chain(_) | JobRefusal::Store(_))
    }

    /// A stable name for the refusal (the `refusal` member of the problem+json).
    pub fn code(&self) -> &'static str {
        match self {
            JobRefusal::WrongNetwork(_) => "wrong-network",
            JobRefusal::NotOurEscrow(_) => "not-our-escrow",
            JobRefusal::NotOpen { .. } => "escrow-not-open",
            JobRefusal::TooLate { .. } => "too-late",
            JobRefusal::OtherRelayerSet => "other-relayer-set",
            JobRefusal::OverBudget { .. } => "over-budget",
            JobRefusal::ResultHashMismatch => "result-hash-mismatch",
            JobRefusal::BadWorkerSignature => "bad-worker-signature",
            JobRefusal::NotOperator => "not-operator",
            JobRefusal::NotCoordinator { .. } => "not-coordinator",
            JobRefusal::DifferentResult(_) => "different-result",
            JobRefusal::ConflictingProof(_) => "conflicting-proof",
            JobRefusal::Chain(_) => "chain-unavailable",
            JobRefusal::Store(_) => "store-unavailable",
        }
    }
}

/// Signs completions under the rules above with this relayer's key.
pub struct JobSigner {
    pub store: Store,
    pub key: SigningKey,
    pub set: RelayerSet,
    pub api: Toncenter,
    pub global_id: i32,
    /// The hub whose escrows and stakes this relayer serves.
    pub hub: TonAddress,
    /// provider_stake's code (stake addresses derive from it; escrow addresses
    /// from [`je::code`]).
    pub stake_code: ArcCell,
    /// How long a coordinator has before the next relayer of the set takes over.
    pub rotation_secs: i64,
}

/// The relayer (set index) coordinating `escrow` (raw address) in `round`.
pub fn coordinator(escrow: &str, round: u64, n: usize) -> usize {
    let h = Sha256::digest(escrow.as_bytes());
    let base = u64::from_be_bytes(h[..8].try_into().expect("8 bytes"));
    ((base % n as u64 + round % n as u64) % n as u64) as usize
}

/// Whether relayer `index` may coordinate `escrow` at `now`, rounds counted from `since`.
pub fn may_coordinate(
    index: usize,
    escrow: &str,
    n: usize,
    since: i64,
    now: i64,
    rotation_secs: i64,
) -> bool {
    let round = if now <= since {
        0
    } else {
        ((now - since) / rotation_secs.max(1)) as u64
    };
    (0..=round.min(n as u64)).any(|r| coordinator(escrow, r, n) == index)
}

impl JobSigner {
    /// Position of this relayer in the set.
    pub fn index(&self) -> Option<usize> {
        self.set.index_of(&self.key.verifying_key())
    }

    /// The provider stake of `owner` under this hub.
    pub fn stake_address(&self, owner: &TonAddress) -> Result<TonAddress, String> {
        ps::state_init(self.stake_code.clone(), &self.hub, owner)
            .and_then(|i| i.address(0))
            .map_err(|e| e.to_string())
    }

    /// Checks `claim` and, if it passes, stores the result and this relayer's signature
    /// and returns the signature. `requester` is the peer's set index (None: ourselves,
    /// the coordinator).
    pub async fn sign(
        &self,
        claim: &CompletionClaim,
        requester: Option<usize>,
    ) -> Result<Signature, JobRefusal> {
        let c = &claim.completion;
        if c.global_id != self.global_id {
            return Err(JobRefusal::WrongNetwork(c.global_id));
        }
        let chain_err = JobRefusal::Chain;
        // 1. A genuine escrow of this hub, checking this relayer set.
        let (hub, client, nonce) = job_chain::escrow_ids(&self.api, &c.escrow)
            .await
            .map_err(chain_err)?;
        let derived = je::code()
            .and_then(|code| je::state_init(code, &hub, &client, nonce))
            .and_then(|i| i.address(0))
            .map_err(|e| JobRefusal::Chain(e.to_string()))?;
        if hub != self.hub || nonce != c.nonce || derived != c.escrow {
            return Err(JobRefusal::NotOurEscrow(address::to_raw(&c.escrow)));
        }
        let config = job_chain::escrow_config(&self.api, &c.escrow)
            .await
            .map_err(chain_err)?;
        let set_hash = self
            .set
            .to_cell()
            .map_err(|e| JobRefusal::Chain(e.to_string()))?
            .cell_hash();
        if config.relayer_set != set_hash {
            return Err(JobRefusal::OtherRelayerSet);
        }
        // 2. Open, and `complete` can still land.
        let state = job_chain::job_state(&self.api, &c.escrow)
            .await
            .map_err(chain_err)?;
        if state.state != je::OPEN {
            return Err(JobRefusal::NotOpen { state: state.state });
        }
        let now = chain::chain_time(&self.api, &c.escrow)
            .await
            .map_err(chain_err)?;
        if now > u64::from(state.deadline) + u64::from(config.grace) {
            return Err(JobRefusal::TooLate {
                now,
                deadline: state.deadline,
                grace: config.grace,
            });
        }
        // 3. Within the budget.
        if u128::from(c.pay) > state.amount {
            return Err(JobRefusal::OverBudget {
                pay: c.pay,
                amount: state.amount,
            });
        }
        // 4. The worker's signed result, by the stake's operator key.
        let r = &claim.result;
        if <[u8; 32]>::from(Sha256::digest(&r.body)) != r.result_hash
            || r.result_hash != c.result_hash
        {
            return Err(JobRefusal::ResultHashMismatch);
        }
        let signed = JobResult {
            global_id: self.global_id,
            escrow: c.escrow.clone(),
            nonce: c.nonce,
            provider_owner: c.provider_owner.clone(),
            result_hash: r.result_hash,
            input_tokens: r.usage.input_tokens,
            output_tokens: r.usage.output_tokens,
        }
        .payload()
        .map_err(|e| JobRefusal::Chain(e.to_string()))?;
        let worker =
            signing::verifying_key(&r.worker_pubkey).map_err(|_| JobRefusal::BadWorkerSignature)?;
        signing::verify(
            &worker,
            &signed,
            &Signature::from_bytes(&r.worker_signature),
        )
        .map_err(|_| JobRefusal::BadWorkerSignature)?;
        let stake = self
            .stake_address(&c.provider_owner)
            .map_err(JobRefusal::Chain)?;
        let keys = job_chain::operator_keys(&self.api, &stake)
            .await
            .map_err(chain_err)?;
        if !keys.contains(&worker) {
            return Err(JobRefusal::NotOperator);
        }
        // 5. The job in our store (the watcher may not have seen it yet), and the
        // requester coordinates it now.
        let escrow = address::to_raw(&c.escrow);
        let now = now as i64;
        let job = match self.store.job(&escrow).await? {
            Some(job) => job,
            None => {
                let new = NewJob {
                    escrow: escrow.clone(),
                    client: address::to_raw(&client),
                    nonce,
                    asset: "TON".into(),
                    amount: u64::try_from(state.amount).map_err(|_| JobRefusal::OverBudget {
                        pay: c.pay,
                        amount: state.amount,
                    })?,
                    deadline: i64::from(state.deadline),
                    spec_hash: state.spec_hash,
                };
                match self.store.insert_job(&new, now).await {
                    Ok(()) | Err(StoreError::JobExists(_)) => {}
                    Err(e) => return Err(e.into()),
                }
                self.store
                    .job(&escrow)
                    .await?
                    .ok_or_else(|| JobRefusal::Store(StoreError::JobNotFound(escrow.clone())))?
            }
        };
        if let Some(from) = requester
            && !may_coordinate(
                from,
                &escrow,
                self.set.keys.len(),
                job.created_at,
                now,
                self.rotation_secs,
            )
        {
            return Err(JobRefusal::NotCoordinator { from });
        }
        // 6. Store the result, then commit the one signature of this job.
        let provider = address::to_raw(&c.provider_owner);
        self.store
            .store_peer_result(&escrow, claim.lease_seq, r, &provider, c.pay, now)
            .await?;
        self.store
            .set_result_settlement(&escrow, &r.result_hash, &provider, c.pay)
            .await?;
        let payload = c.payload().map_err(|e| JobRefusal::Chain(e.to_string()))?;
        let signature = signing::sign(&self.key, &payload);
        let proof = JobProof {
            escrow,
            result_hash: c.result_hash,
            provider,
            amount: c.pay,
            payload_hash: payload
                .cell_hash()
                .as_slice()
                .try_into()
                .expect("32-byte hash"),
        };
        let outcome = self
            .store
            .commit_job_signature(&proof, &signature.to_bytes(), now)
            .await?;
        Ok(Signature::from_bytes(&outcome.signature()))
    }
}

#[cfg(test)]
mod tests {
    use super::{coordinator, may_coordinate};

    #[test]
    fn coordinators_rotate_through_the_set() {
        let escrow = "0:00000000000000000000000000000000000000000000000000000000000000e5";
        let first = coordinator(escrow, 0, 3);
        assert_eq!(coordinator(escrow, 1, 3), (first + 1) % 3);
        assert_eq!(coordinator(escrow, 3, 3), first);
        // Escrows spread over the set.
        let seen: std::collections::HashSet<_> = (0..30)
            .map(|i| coordinator(&format!("0:{i:064x}"), 0, 3))
            .collect();
        assert_eq!(seen.len(), 3);
    }

    #[test]
    fn only_the_current_rounds_coordinators_may_act() {
        let escrow = "0:00000000000000000000000000000000000000000000000000000000000000e5";
        let (c0, c1, c2) = (
            coordinator(escrow, 0, 3),
            coordinator(escrow, 1, 3),
            coordinator(escrow, 2, 3),
        );
        // Round 0 (before the first timeout): only the first coordinator.
        assert!(may_coordinate(c0, escrow, 3, 1_000, 1_000, 60));
        assert!(!may_coordinate(c1, escrow, 3, 1_000, 1_059, 60));
        assert!(!may_coordinate(c2, escrow, 3, 1_000, 1_059, 60));
        // Round 1: the next one too; round 2: everyone. Earlier coordinators stay valid.
        assert!(may_coordinate(c1, escrow, 3, 1_000, 1_060, 60));
        assert!(!may_coordinate(c2, escrow, 3, 1_000, 1_119, 60));
        assert!(may_coordinate(c2, escrow, 3, 1_000, 1_120, 60));
        assert!(may_coordinate(c0, escrow, 3, 1_000, 9_999, 60));
        // A clock behind the job's first sighting counts as round 0.
        assert!(!may_coordinate(c1, escrow, 3, 1_000, 10, 60));
    }
}
