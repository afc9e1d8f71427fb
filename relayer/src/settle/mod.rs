//! Metered charges → k-of-n vouchers → on-chain settlement, exactly once.
//!
//! | module | what |
//! |---|---|
//! | [`chain`] | reads a compute_account (state, relayer set, `get_paid`) |
//! | [`signer`] | the checks before this relayer signs a voucher, and the trust rule |
//! | [`peer`] | `POST /v1/peer/voucher-sign`, authenticated by the requesting relayer's key |
//! | [`poster`] | the coordinator: k signatures → `settle_body` → outbox → confirmed |

pub mod chain;
pub mod peer;
pub mod poster;
pub mod signer;

pub use peer::PeerApi;
pub use poster::{PeerRelayer, PostPolicy, Poster, Settled};
pub use signer::{Refusal, VoucherSigner};
