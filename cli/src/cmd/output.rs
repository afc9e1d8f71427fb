//! What commands print: human lines by default, one JSON object with
//! `--json` (for scripts; amounts as strings in the smallest unit, addresses
//! in the raw and user-friendly forms).

use serde_json::Value;

/// The output mode a command was given.
#[derive(Debug, Clone, Copy)]
pub struct Output {
    pub json: bool,
}

impl Output {
    /// Prints `json` with `--json`, otherwise `human`.
    pub fn emit(&self, human: impl AsRef<str>, json: Value) {
        if self.json {
            println!(
                "{}",
                serde_json::to_string_pretty(&json).expect("JSON values serialize")
            );
        } else {
            println!("{}", human.as_ref());
        }
    }

    /// Progress on stderr (never mixed into `--json` stdout).
    pub fn progress(&self, line: impl AsRef<str>) {
        eprintln!("{}", line.as_ref());
    }
}
