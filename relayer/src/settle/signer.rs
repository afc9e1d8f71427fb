//! What a relayer checks before it signs a cumulative voucher, for itself (as the
//! coordinator) or for a peer (`POST /v1/peer/voucher-sign`).
//!
//! Trust rule for metered usage: each account has one home gateway (protocol rule 5),
//! the coordinator of its vouchers. Peers cannot re-meter requests they never saw, so
//! they trust the home gateway's metering, bounded by what the chain can lose:
//!
//! (a) the cumulative is ≥ what this relayer itself charged the (account, provider), and
//!     never lower than it signed before (the store's voucher guard refuses that);
//! (b) the account is initialised on-chain, in the voucher's epoch, with this relayer set
//!     (same set cell), so the signature counts nowhere else;
//! (c) the unpaid part (cumulative − the account's `get_paid` for the provider) is at most
//!     the account's on-chain balance: a colluding or buggy home gateway can overcharge
//!     one account by at most its balance, never beyond it, and never twice (cumulative).
//!
//! The signature is stored (as the newest voucher for the pair) before it leaves.

use spindle_sdk::protocol::compute_account::Voucher;
use spindle_sdk::protocol::relayer_set::RelayerSet;
use spindle_sdk::toncenter::Toncenter;
use spindle_sdk::{Signature, SigningKey, address, signing};

use super::chain;
use crate::store::{Store, StoreError, VoucherSignature};

/// Longest `valid_until` ahead of the chain's time a relayer signs.
pub const MAX_VALIDITY_SECS: u64 = 3600;

/// Why a voucher is not signed.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    #[error("cumulative {cumulative} is below the {charged} this relayer charged the pair")]
    BelowOwnCharges { cumulative: u128, charged: u64 },
    #[error("cumulative {cumulative} is below a voucher this relayer signed: {0}", cumulative = .1)]
    Lower(StoreError, u128),
    #[error("the account is not initialised on-chain")]
    NoAccount,
    #[error("the account is in epoch {onchain}, the voucher names {voucher}")]
    WrongEpoch { onchain: u64, voucher: u64 },
    #[error("the account's relayer set is not this relayer's set")]
    OtherRelayerSet,
    #[error("unjustified: {unpaid} unpaid exceeds the account's balance {balance}")]
    Unjustified { unpaid: u128, balance: u128 },
    #[error("valid_until {valid_until} is not within (now, now + {MAX_VALIDITY_SECS}]")]
    BadValidity { valid_until: u32 },
    #[error("wrong network id {0}")]
    WrongNetwork(i32),
    #[error("cumulative {0} does not fit the store's 64 bits")]
    TooLarge(u128),
    #[error("chain unavailable: {0}")]
    Chain(String),
    #[error("store: {0}")]
    Store(#[from] StoreError),
}

impl Refusal {
    /// True when asking again later may succeed (chain or store trouble).
    pub fn is_transient(&self) -> bool {
        matches!(self, Refusal::Chain(_) | Refusal::Store(_))
    }
}

/// Signs vouchers under the rules above with this relayer's key.
pub struct VoucherSigner {
    pub store: Store,
    pub key: SigningKey,
    pub set: RelayerSet,
    pub api: Toncenter,
    pub global_id: i32,
}

impl VoucherSigner {
    /// Position of this relayer in the set.
    pub fn index(&self) -> Option<usize> {
        self.set.index_of(&self.key.verifying_key())
    }

    /// Checks `v` and, if it passes, stores and returns this relayer's signature.
    pub async fn sign(&self, v: &Voucher) -> Result<Signature, Refusal> {
        if v.global_id != self.global_id {
            return Err(Refusal::WrongNetwork(v.global_id));
        }
        let account = address::to_raw(&v.account);
        let provider = address::to_raw(&v.provider_owner);
        let charged = self.store.charged(&account, &provider).await?;
        if v.cumulative < u128::from(charged) {
            return Err(Refusal::BelowOwnCharges {
                cumulative: v.cumulative,
                charged,
            });
        }
        let state = chain::account_state(&self.api, &v.account)
            .await
            .map_err(Refusal::Chain)?
            .ok_or(Refusal::NoAccount)?;
        if state.epoch != v.epoch {
            return Err(Refusal::WrongEpoch {
                onchain: state.epoch,
                voucher: v.epoch,
            });
        }
        let set_cell = self
            .set
            .to_cell()
            .map_err(|e| Refusal::Chain(e.to_string()))?;
        let onchain_set = chain::relayer_set_hash(&self.api, &v.account)
            .await
            .map_err(Refusal::Chain)?;
        if onchain_set != set_cell.cell_hash() {
            return Err(Refusal::OtherRelayerSet);
        }
        let now = chain::chain_time(&self.api, &v.account)
            .await
            .map_err(Refusal::Chain)?;
        let vu = u64::from(v.valid_until);
        if vu <= now || vu > now + MAX_VALIDITY_SECS {
            return Err(Refusal::BadValidity {
                valid_until: v.valid_until,
            });
        }
        let paid = chain::paid(&self.api, &v.account, &v.provider_owner)
            .await
            .map_err(Refusal::Chain)?;
        let unpaid = v.cumulative.saturating_sub(paid);
        if unpaid > state.balance {
            return Err(Refusal::Unjustified {
                unpaid,
                balance: state.balance,
            });
        }
        self.sign_checked(v, now).await
    }

    /// Signs `v`, which passed the checks of [`VoucherSigner::sign`] at chain time `now`,
    /// and commits the signature (group-committed with concurrent ones): the signature
    /// is returned only once it is durable, and refused if it would be lower than one
    /// signed before. The hot half of signing, without the chain reads.
    pub async fn sign_checked(&self, v: &Voucher, now: u64) -> Result<Signature, Refusal> {
        let cumulative =
            u64::try_from(v.cumulative).map_err(|_| Refusal::TooLarge(v.cumulative))?;
        let payload = v.payload().map_err(|e| Refusal::Chain(e.to_string()))?;
        let signature = signing::sign(&self.key, &payload);
        let record = VoucherSignature {
            account: address::to_raw(&v.account),
            provider: address::to_raw(&v.provider_owner),
            epoch: v.epoch,
            cumulative,
            valid_until: i64::from(v.valid_until),
            payload_hash: payload
                .cell_hash()
                .as_slice()
                .try_into()
                .expect("32-byte hash"),
            signature: signature.to_bytes(),
        };
        match self
            .store
            .commit_voucher_signature(&record, now as i64)
            .await
        {
            Ok(_) => Ok(signature),
            Err(e @ StoreError::VoucherNotMonotonic { .. }) => Err(Refusal::Lower(e, v.cumulative)),
            Err(e) => Err(e.into()),
        }
    }
}
