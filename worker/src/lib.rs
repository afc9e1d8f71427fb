//! Spindle worker: runs beside an OpenAI-compatible inference server
//! (llama.cpp, vLLM, SGLang), serves requests leased by relayers, meters tokens
//! from the server's own `usage` and signs results.
//!
//! - [`backend`]: the typed client for the local inference server.
//! - [`protocol`]: the messages and signed payloads between worker and relayer.
//! - [`agent`]: `spindle worker run`: connects out to relayers, advertises,
//!   serves requests through the backend, signs results, drains on SIGTERM.
//! - `testing` (cargo feature `testing`): starts a real `llama-server` for
//!   tests, shared with the relayer's and the end-to-end suites.

pub mod agent;
pub mod backend;
pub mod protocol;
#[cfg(feature = "testing")]
pub mod testing;
