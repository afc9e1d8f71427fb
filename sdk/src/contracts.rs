//! Compiled contract artifacts: `contracts/build/<name>.json` files of the form
//! `{"name", "codeBoc": base64, "codeHash": hex}` written by the contracts build,
//! loaded at run time ([`Artifact::load`]) or embedded ([`artifact!`](crate::artifact)).
//! A contract deployed as a masterchain library (job_escrow) also has
//! `"libraryRef"` (BoC of its [`library_ref`] cell) and `"libraryHash"`.

use std::path::Path;

use serde::Deserialize;

use crate::{ArcCell, Cell, Error, Result, boc};

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
    /// The library reference cell of `code`, when the build marks the contract
    /// as deployed through a masterchain library (checked to be exactly
    /// [`library_ref`]`(code)`).
    pub library_ref: Option<ArcCell>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Json {
    name: String,
    code_boc: String,
    code_hash: String,
    library_ref: Option<String>,
    library_hash: Option<String>,
}

/// Tag of a library reference cell (exotic cell type 2).
pub const LIBRARY_CELL_TAG: u8 = 2;

/// The library reference cell of `code`: an exotic cell of 264 bits, the tag
/// 0x02 then `code`'s hash, no references, depth 0. Put in a StateInit instead
/// of the code, it makes the TVM load the code from the masterchain's public
/// libraries (where a librarian published it), so a deploy message carries 33
/// bytes instead of the code; the account's address derives from this cell.
pub fn library_ref(code: &Cell) -> Result<Cell> {
    let mut data = Vec::with_capacity(33);
    data.push(LIBRARY_CELL_TAG);
    data.extend_from_slice(code.cell_hash().as_slice());
    Ok(Cell::new(data, 8 + 256, vec![], true)?)
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
        let library_ref = match (j.library_ref, j.library_hash) {
            (None, None) => None,
            (Some(boc), Some(hash)) => {
                let got = boc::from_boc_base64(&boc).map_err(|e| bad(e.to_string()))?;
                let want = library_ref(&code)?;
                if got.cell_hash() != want.cell_hash() {
                    return Err(bad("libraryRef is not the library cell of the code".into()));
                }
                if !got.cell_hash().to_hex().eq_ignore_ascii_case(&hash) {
                    return Err(bad(format!(
                        "libraryHash {hash} but libraryRef hashes to {}",
                        got.cell_hash().to_hex()
                    )));
                }
                Some(got)
            }
            _ => return Err(bad("libraryRef and libraryHash come together".into())),
        };
        Ok(Self {
            name: j.name,
            code,
            library_ref,
        })
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

#[cfg(test)]
mod tests {
    use super::*;

    /// `@ton/core`'s `beginCell().storeUint(2, 8).storeBuffer(code.hash(), 32)
    /// .endCell({ exotic: true })` for `code` = one cell holding the u32 0xc0de:
    /// its BoC (`toBoc()`), hash and depth 0.
    #[test]
    fn library_ref_matches_ton_core() {
        let code = boc::build(|b| b.store_u32(32, 0xc0de).map(drop)).unwrap();
        let lib = library_ref(&code).unwrap();
        assert!(lib.is_exotic());
        assert_eq!(
            (lib.bit_len(), lib.references().len(), lib.cell_depth()),
            (264, 0, 0)
        );
        assert_eq!(
            hex::encode(boc::to_boc(&lib)),
            "b5ee9c72410101010023000842026dc587ecc4684dd4ea6ef77e0a30afb4a7995c361701f85f2744baa41bd758a888940ca3"
        );
        assert_eq!(
            lib.cell_hash().to_hex(),
            "acd265ecb5588d21d091340aa4050212ccec4678c9ab0d010b9654d6fb9ab78f"
        );
        // and it parses back as the same exotic cell
        let back = boc::from_boc(&boc::to_boc(&lib)).unwrap();
        assert_eq!(back.cell_hash(), lib.cell_hash());
        assert!(back.is_exotic());
    }

    /// The escrow artifact's `libraryRef` (written by @ton/core in the contracts
    /// build) is the SDK's own reference of its code, and a tampered one is refused.
    #[test]
    fn escrow_artifact_carries_its_library_ref() {
        let a = crate::artifact!("job_escrow").unwrap();
        let lib = a.library_ref.expect("job_escrow is a library");
        assert_eq!(lib.cell_hash(), library_ref(&a.code).unwrap().cell_hash());
        assert!(crate::artifact!("hub").unwrap().library_ref.is_none());

        let json = include_str!("../../contracts/build/job_escrow.json");
        let j: serde_json::Value = serde_json::from_str(json).unwrap();
        let other = library_ref(&boc::build(|b| b.store_u8(8, 1).map(drop)).unwrap()).unwrap();
        for (field, value) in [
            ("libraryRef", boc::to_boc_base64(&other)),
            ("libraryHash", "00".repeat(32)),
        ] {
            let mut bad = j.clone();
            bad[field] = value.into();
            assert!(matches!(
                Artifact::from_json(&bad.to_string(), "job_escrow.json"),
                Err(Error::Artifact { .. })
            ));
        }
        let mut half = j.clone();
        half.as_object_mut().unwrap().remove("libraryHash");
        assert!(Artifact::from_json(&half.to_string(), "x").is_err());
    }
}
