//! The OpenAI-compatible gateway end to end, all real: llama-server processes
//! (spindle_worker::testing), the relayer's HTTP server on loopback, and
//! worker agents connected to it over real WebSockets.

mod chain_balance;
mod errors;
mod failures;
mod harness;
mod load;
mod openai_client;
mod parity;
mod stored_charges;
