//! Public masterchain libraries: code cells published under their hash, which
//! the TVM loads when it meets a library reference cell (exotic type 2: tag
//! 0x02 + the code hash), e.g. as an account's code.
//!
//! On TON a librarian contract in the masterchain publishes a library by
//! keeping it (public) in its state, paying masterchain rent. The devnet has
//! no separate masterchain, so it keeps the set itself, as a genesis librarian
//! would have published it: the libraries of [`crate::DevnetConfig`] are
//! published at every start (they are not part of the saved state), and
//! `POST /devnet/setLibraries` replaces the set (the sandbox mirror's
//! `blockchain.libs`). The executor ([`tycho_executor::ExecutorParams`]) and
//! the get-method runner ([`tycho_vm::VmCaller`]) both read it.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use tycho_types::models::LibDescr;
use tycho_types::prelude::*;

use crate::boc;
use crate::error::DevnetError;

/// The publisher every devnet library is listed under: the masterchain
/// address `-1:` followed by 32 bytes `0x11` (a stand-in for a librarian).
pub const LIBRARIAN: HashBytes = HashBytes([0x11; 32]);

/// Spindle's escrow code (`contracts/build/job_escrow.json`, embedded at
/// compile time): what the devnet publishes by default, so escrows whose
/// StateInit holds the code's library reference run from block 1.
pub fn spindle() -> Vec<Vec<u8>> {
    let json = include_str!("../../contracts/build/job_escrow.json");
    let code = serde_json::from_str::<serde_json::Value>(json)
        .ok()
        .and_then(|v| v["codeBoc"].as_str().map(str::to_owned))
        .and_then(|b64| STANDARD.decode(b64).ok());
    code.into_iter().collect()
}

/// The executor's library set for these code BoCs, each under its hash.
pub(crate) fn dict(codes: &[Vec<u8>]) -> Result<Dict<HashBytes, LibDescr>, DevnetError> {
    let mut publishers = Dict::<HashBytes, ()>::new();
    publishers
        .set(LIBRARIAN, ())
        .map_err(|e| DevnetError::Internal(e.to_string()))?;
    let mut libs = Dict::new();
    for code in codes {
        let lib = boc::decode(code)?;
        let descr = LibDescr {
            lib: lib.clone(),
            publishers: publishers.clone(),
        };
        libs.set(*lib.repr_hash(), descr)
            .map_err(|e| DevnetError::Internal(e.to_string()))?;
    }
    Ok(libs)
}

/// The hashes of a library set, for `GET /devnet/info`.
pub(crate) fn hashes(libs: &Dict<HashBytes, LibDescr>) -> Vec<[u8; 32]> {
    libs.keys().filter_map(|k| k.ok()).map(|k| k.0).collect()
}
