//! Relayer foundation tests. Every store test body runs twice, on a fresh SQLite file
//! and on a fresh PostgreSQL database (see `common`), so both backends obey the same rules.

mod common;
mod fixtures;

mod chain;
mod config;
mod group_commit;
mod harness;
mod job_settle;
mod jobs;
mod leases;
mod migrations;
mod node;
mod outbox;
mod signing;
mod specs;
mod ui;
