//! Results and signatures: what this relayer is willing to sign, enforced in the database.
//!
//! Rules (DESIGN.md, relayer side): a relayer stores a result before signing it, never
//! signs two different proofs for one job, and never signs a lower cumulative voucher
//! (nor an older epoch). The caller signs in memory, then commits here; only if the
//! commit succeeds may the signature leave the process. Keys, foreign keys and triggers
//! back each rule, so even a buggy caller or a raw `UPDATE` cannot break it.

use super::group_commit::Request;
use super::jobs::{load_job, set_job_state};
use super::leases::{Lease, check_current};
use super::row::RowExt;
use super::{Store, StoreError, from_db, to_db, with_pool, with_tx};
use crate::job::JobState;

/// Tokens the worker reports (the gateway caps them with its own count).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    pub input_tokens: u64,
    pub output_tokens: u64,
}

/// A worker's result with its signature over (job, result hash, usage).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredResult {
    pub result_hash: [u8; 32],
    pub body: Vec<u8>,
    pub usage: Usage,
    pub worker_pubkey: [u8; 32],
    pub worker_signature: [u8; 64],
}

/// The completion proof this relayer signs for a job.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JobProof {
    pub escrow: String,
    pub result_hash: [u8; 32],
    /// The provider (its stake contract is paid).
    pub provider: String,
    pub amount: u64,
    /// Hash of the exact signed payload; two proofs are the same iff these are equal.
    pub payload_hash: [u8; 32],
}

/// What a signature commit decided. Hand out the signature it carries, not your own.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SignOutcome {
    /// Nothing was signed before: this signature is now the one.
    New([u8; 64]),
    /// The same payload was signed before: here is that signature again.
    Existing([u8; 64]),
}

impl SignOutcome {
    pub fn signature(&self) -> [u8; 64] {
        match self {
            SignOutcome::New(s) | SignOutcome::Existing(s) => *s,
        }
    }
}

/// One relayer's signature over a proof payload, as collected for the quorum.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProofSignature {
    pub escrow: String,
    pub payload_hash: [u8; 32],
    /// Position in the relayer set (0..10); the on-chain bitmap is built from these.
    pub signer_index: u8,
    pub signer_pubkey: [u8; 32],
    pub signature: [u8; 64],
}

/// A cumulative voucher this relayer signs for (compute account, provider).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VoucherSignature {
    pub account: String,
    pub provider: String,
    pub epoch: u64,
    pub cumulative: u64,
    pub valid_until: i64,
    pub payload_hash: [u8; 32],
    pub signature: [u8; 64],
}

/// The newest voucher signed for (account, provider), and how much of it settled on-chain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VoucherRecord {
    pub voucher: VoucherSignature,
    pub settled: u64,
}

impl Store {
    /// Stores the result of the worker holding `lease` (signature already verified) and
    /// marks the job `result_stored`. Only the current lease of a running job may do so;
    /// the same result sent again by that lease (a retried request) changes nothing.
    pub async fn store_result(
        &self,
        lease: &Lease,
        result: &StoredResult,
        now: i64,
    ) -> Result<(), StoreError> {
        with_tx!(self, tx, pg => {
            let job = load_job!(&mut *tx, &lease.escrow, pg);
            if !job.state.is_leased() && job.lease_seq == lease.seq {
                // A retried request: fine if this very lease already stored this result.
                let prior = sqlx::query("SELECT lease_seq FROM results WHERE escrow = $1 AND result_hash = $2")
                    .bind(&lease.escrow)
                    .bind(&result.result_hash[..])
                    .fetch_optional(&mut *tx)
                    .await?;
                if let Some(row) = prior
                    && from_db("lease_seq", row.int("lease_seq")?)? == lease.seq
                {
                    return Ok(());
                }
            }
            check_current(&job, lease)?;
            if job.state != JobState::Running {
                return Err(StoreError::IllegalTransition {
                    escrow: lease.escrow.clone(),
                    from: job.state,
                    to: JobState::ResultStored,
                });
            }
            sqlx::query(
                "INSERT INTO results (escrow, result_hash, lease_seq, body, input_tokens, output_tokens, \
                 worker_pubkey, worker_signature, stored_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
                 ON CONFLICT DO NOTHING",
            )
            .bind(&lease.escrow)
            .bind(&result.result_hash[..])
            .bind(to_db("lease_seq", lease.seq)?)
            .bind(&result.body)
            .bind(to_db("input_tokens", result.usage.input_tokens)?)
            .bind(to_db("output_tokens", result.usage.output_tokens)?)
            .bind(&result.worker_pubkey[..])
            .bind(&result.worker_signature[..])
            .bind(now)
            .execute(&mut *tx)
            .await?;
            set_job_state!(tx, &job, JobState::ResultStored, now);
        });
        Ok(())
    }

    /// A stored result of a job by its hash.
    pub async fn result(
        &self,
        escrow: &str,
        result_hash: &[u8; 32],
    ) -> Result<Option<StoredResult>, StoreError> {
        with_pool!(self, pool => {
            let row = sqlx::query(
                "SELECT result_hash, body, input_tokens, output_tokens, worker_pubkey, worker_signature \
                 FROM results WHERE escrow = $1 AND result_hash = $2",
            )
            .bind(escrow)
            .bind(&result_hash[..])
            .fetch_optional(pool)
            .await?;
            row.map(|row| {
                Ok(StoredResult {
                    result_hash: row.array("result_hash")?,
                    body: row.bytes("body")?,
                    usage: Usage {
                        input_tokens: from_db("input_tokens", row.int("input_tokens")?)?,
                        output_tokens: from_db("output_tokens", row.int("output_tokens")?)?,
                    },
                    worker_pubkey: row.array("worker_pubkey")?,
                    worker_signature: row.array("worker_signature")?,
                })
            })
            .transpose()
        })
    }

    /// Commits this relayer's signature over `proof`. Refuses ([`StoreError::ConflictingProof`])
    /// if a different proof was signed for the job before, and
    /// ([`StoreError::ResultNotStored`]) if the result is not stored. A job in
    /// `result_stored` moves to `signed`. Group-committed with concurrent signatures
    /// (see `group_commit`): returns once the row is durable.
    pub async fn commit_job_signature(
        &self,
        proof: &JobProof,
        signature: &[u8; 64],
        now: i64,
    ) -> Result<SignOutcome, StoreError> {
        self.commit_signature(Request::Job(proof.clone(), *signature, now))
            .await
    }

    /// Records a relayer's signature for a proof; returns false if it was already there.
    pub async fn add_proof_signature(
        &self,
        sig: &ProofSignature,
        now: i64,
    ) -> Result<bool, StoreError> {
        with_pool!(self, pool => {
            let done = sqlx::query(
                "INSERT INTO proof_signatures (escrow, payload_hash, signer_index, signer_pubkey, signature, \
                 received_at) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
            )
            .bind(&sig.escrow)
            .bind(&sig.payload_hash[..])
            .bind(i64::from(sig.signer_index))
            .bind(&sig.signer_pubkey[..])
            .bind(&sig.signature[..])
            .bind(now)
            .execute(pool)
            .await?;
            Ok(done.rows_affected() == 1)
        })
    }

    /// The signatures collected for one proof payload, by ascending signer index.
    pub async fn proof_signatures(
        &self,
        escrow: &str,
        payload_hash: &[u8; 32],
    ) -> Result<Vec<ProofSignature>, StoreError> {
        with_pool!(self, pool => {
            let rows = sqlx::query(
                "SELECT signer_index, signer_pubkey, signature FROM proof_signatures \
                 WHERE escrow = $1 AND payload_hash = $2 ORDER BY signer_index",
            )
            .bind(escrow)
            .bind(&payload_hash[..])
            .fetch_all(pool)
            .await?;
            rows.iter()
                .map(|row| {
                    let index = row.int("signer_index")?;
                    Ok(ProofSignature {
                        escrow: escrow.to_owned(),
                        payload_hash: *payload_hash,
                        signer_index: u8::try_from(index)
                            .map_err(|_| StoreError::Corrupt(format!("signer index {index}")))?,
                        signer_pubkey: row.array("signer_pubkey")?,
                        signature: row.array("signature")?,
                    })
                })
                .collect()
        })
    }

    /// Commits this relayer's signature over a cumulative voucher. Refuses
    /// ([`StoreError::VoucherNotMonotonic`]) an older epoch or, in the same epoch, a lower
    /// cumulative amount than already signed; an equal amount may be re-signed (e.g. with
    /// a later `valid_until`), since the contract pays only the delta. Group-committed
    /// with concurrent signatures: returns once the row is durable.
    pub async fn commit_voucher_signature(
        &self,
        v: &VoucherSignature,
        now: i64,
    ) -> Result<SignOutcome, StoreError> {
        self.commit_signature(Request::Voucher(v.clone(), now))
            .await
    }

    /// The newest voucher signed for (account, provider).
    pub async fn voucher(
        &self,
        account: &str,
        provider: &str,
    ) -> Result<Option<VoucherRecord>, StoreError> {
        with_pool!(self, pool => {
            let row = sqlx::query(
                "SELECT epoch, cumulative, settled, valid_until, payload_hash, signature FROM vouchers \
                 WHERE account = $1 AND provider = $2",
            )
            .bind(account)
            .bind(provider)
            .fetch_optional(pool)
            .await?;
            row.map(|row| {
                Ok(VoucherRecord {
                    voucher: VoucherSignature {
                        account: account.to_owned(),
                        provider: provider.to_owned(),
                        epoch: from_db("epoch", row.int("epoch")?)?,
                        cumulative: from_db("cumulative", row.int("cumulative")?)?,
                        valid_until: row.int("valid_until")?,
                        payload_hash: row.array("payload_hash")?,
                        signature: row.array("signature")?,
                    },
                    settled: from_db("settled", row.int("settled")?)?,
                })
            })
            .transpose()
        })
    }

    /// Records that the chain paid up to `settled` of the voucher in `epoch` (only rises).
    pub async fn record_voucher_settled(
        &self,
        account: &str,
        provider: &str,
        epoch: u64,
        settled: u64,
        now: i64,
    ) -> Result<bool, StoreError> {
        with_pool!(self, pool => {
            let done = sqlx::query(
                "UPDATE vouchers SET settled = $1, updated_at = $2 \
                 WHERE account = $3 AND provider = $4 AND epoch = $5 AND settled < $1",
            )
            .bind(to_db("settled", settled)?)
            .bind(now)
            .bind(account)
            .bind(provider)
            .bind(to_db("epoch", epoch)?)
            .execute(pool)
            .await?;
            Ok(done.rows_affected() == 1)
        })
    }
}
