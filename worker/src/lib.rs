//! Spindle worker: runs beside an OpenAI-compatible inference server
//! (llama.cpp, vLLM, SGLang), serves requests leased by relayers, meters tokens
//! from the server's own `usage` and signs results.
//!
//! - [`backend`]: the typed client for the local inference server.
//! - `testing` (cargo feature `testing`): starts a real `llama-server` for
//!   tests, shared with the relayer's and the end-to-end suites.

pub mod backend;
#[cfg(feature = "testing")]
pub mod testing;
