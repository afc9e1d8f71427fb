//! Spindle relayer: watches the chain, dispatches paid jobs to workers, collects k-of-n
//! relayer signatures and settles each job exactly once.
//!
//! This crate so far holds the foundation that does not depend on the contracts or the
//! SDK: [`config`] (TOML + `SPINDLE_…` environment, validated at start), [`store`]
//! (SQLite or Postgres, with the protocol's safety rules in the schema), [`job`] (the
//! job lifecycle) and [`outbox`] (on-chain actions as a typed state machine), plus
//! [`watch`], the chain watcher that applies the followed accounts' transactions to the
//! store exactly once.

pub mod config;
pub mod gateway;
pub mod job;
pub mod outbox;
pub mod settle;
pub mod store;
pub mod watch;

pub use store::Store;
