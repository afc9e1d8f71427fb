//! Metered charges → k-of-n vouchers → on-chain settlement, exactly once.
//!
//! | module | what |
//! |---|---|
//! | [`chain`] | reads a compute_account (state, relayer set, `get_paid`) |
//! | [`signer`] | the checks before this relayer signs a voucher, and the trust rule |
//! | [`peer`] | `POST /v1/peer/voucher-sign`, authenticated by the requesting relayer's key |
//! | [`submitter`] | the one owner of the relayer's wallet: batches due outbox items into one W5 external per seqno, stores each submission before sending, re-sends expired ones |
//! | [`poster`] | the coordinator: k signatures → `settle_body` → outbox → confirmed |
//! | [`job_chain`] | reads a job_escrow (`get_job`, `get_ids`, `get_config`) and a stake's operator keys |
//! | [`job_signer`] | the checks before this relayer signs an escrow job's completion; who coordinates |
//! | [`job_peer`] | `POST /v1/peer/job-sign`, authenticated like voucher-sign |
//! | [`job_poster`] | k signatures → `complete` → outbox → confirmed; `expire` after deadline + grace |

pub mod chain;
pub mod job_chain;
pub mod job_peer;
pub mod job_poster;
pub mod job_signer;
pub mod peer;
pub mod poster;
pub mod signer;
pub mod submitter;

pub use job_peer::JobPeerApi;
pub use job_poster::{JobOutcome, JobPolicy, JobPoster};
pub use job_signer::{CompletionClaim, JobRefusal, JobSigner};
pub use peer::PeerApi;
pub use poster::{PeerRelayer, PostPolicy, Poster, Settled};
pub use signer::{Refusal, VoucherSigner};
pub use submitter::Submitter;
