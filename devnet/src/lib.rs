//! Spindle devnet: a local TON chain in-process.
