//! The `spindle` command's library: what its subcommands do, reusable by the
//! end-to-end tests.

pub mod cmd;
pub mod demo;
pub mod hub;
pub mod job;
pub mod logging;
pub mod onchain;
pub mod relayer;
pub mod stake;
pub mod worker;
