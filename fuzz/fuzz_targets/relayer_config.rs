//! The relayer's TOML config (written by operators, overridable from `SPINDLE_*`).
//!
//! Property: a refusal as invalid always names at least one problem, each with a fix.
#![no_main]

use libfuzzer_sys::fuzz_target;
use spindle_relayer::config::{Config, ConfigError};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Err(e @ ConfigError::Invalid(_)) = Config::from_toml_str(text, "fuzz", Vec::new()) {
        assert!(!e.problems().is_empty(), "invalid without a problem");
        for p in e.problems() {
            assert!(!p.fix.is_empty(), "{p:?} says no fix");
        }
    }
});
