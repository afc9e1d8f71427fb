//! Spindle SDK: the one place the Rust side speaks TON.
