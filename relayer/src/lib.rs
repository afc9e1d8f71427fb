//! Spindle relayer: watches the chain, dispatches paid jobs to workers, collects k-of-n
//! relayer signatures and settles each job exactly once.
//!
//! [`config`] (TOML + `SPINDLE_…` environment, validated at start), [`store`] (SQLite or
//! Postgres, with the protocol's safety rules in the schema), [`job`] (the job
//! lifecycle), [`outbox`] (on-chain actions as a typed state machine), [`gateway`] (the
//! OpenAI-compatible API and worker links), [`jobs`] (the job API and scheduler),
//! [`settle`] (k-of-n vouchers and escrow completions, posted exactly once), [`watch`] (the chain watcher,
//! applying followed accounts' transactions to the store exactly once), [`ui`] (the
//! dashboard) and [`node`], which assembles them into the running relayer that
//! `spindle relayer run` starts.

pub mod config;
pub mod gateway;
pub mod job;
pub mod jobs;
pub mod node;
pub mod outbox;
pub mod settle;
pub mod store;
pub mod ui;
pub mod watch;

pub use store::Store;
