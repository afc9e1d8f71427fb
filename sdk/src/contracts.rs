//! Compiled contract artifacts: `contracts/build/<name>.json` files of the form
//! `{"name", "codeBoc": base64, "codeHash": hex}` written by the contracts build,
//! loaded at run time ([`Artifact::load`]) or embedded ([`artifact!`](crate::artifact)).

use std::path::Path;

use serde::Deserialize;

use crate::{ArcCell, Error, Result, boc};

/// Embeds `contracts/build/<name>.json` into the binary at compile time and
/// parses it (once per call), e.g. `spindle_sdk::artifact!("hub")`. The path is
/// resolved from the calling crate, so call it from a crate of this workspace.
#[macro_export]
macro_rules! artifact {
    ($name:literal) => {
        $crate::contracts::Artifact::from_json(
            include_str!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../contracts/build/",
                $name,
                ".json"
            )),
            concat!("contracts/build/", $name, ".json"),
        )
    };
}

/// A compiled contract: its name and code cell (hash already checked).
#[derive(Debug, Clone)]
pub struct Artifact {
    pub name: String,
    pub code: ArcCell,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Json {
    name: String,
    code_boc: String,
    code_hash: String,
}

impl Artifact {
    /// Parses an artifact's JSON; `origin` names it in errors.
    pub fn from_json(json: &str, origin: &str) -> Result<Self> {
        let bad = |reason: String| Error::Artifact {
            path: origin.to_owned(),
            reason,
        };
        let j: Json = serde_json::from_str(json).map_err(|e| bad(e.to_string()))?;
        let code = boc::from_boc_base64(&j.code_boc).map_err(|e| bad(e.to_string()))?;
        let hash = code.cell_hash().to_hex();
        if !hash.eq_ignore_ascii_case(&j.code_hash) {
            return Err(bad(format!(
                "codeHash {} but the code hashes to {hash}",
                j.code_hash
            )));
        }
        Ok(Self { name: j.name, code })
    }

    /// Loads `<dir>/<name>.json`, e.g. `load("contracts/build", "hub")`.
    pub fn load(dir: impl AsRef<Path>, name: &str) -> Result<Self> {
        let path = dir.as_ref().join(format!("{name}.json"));
        let origin = path.display().to_string();
        let json = std::fs::read_to_string(&path).map_err(|e| Error::Artifact {
            path: origin.clone(),
            reason: e.to_string(),
        })?;
        Self::from_json(&json, &origin)
    }
}
