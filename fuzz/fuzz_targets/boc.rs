//! BoC decoding (every cell from the chain, toncenter and TonConnect goes through it),
//! and transaction parsing of whatever cell decodes.
//!
//! Property: a decoded BoC re-encodes to bytes that decode to the same cell, and
//! encoding is canonical (re-encoding that again gives the same bytes).
#![no_main]

use libfuzzer_sys::fuzz_target;
use spindle_sdk::{boc, transaction};

fuzz_target!(|data: &[u8]| {
    let Ok(root) = boc::from_boc(data) else {
        return;
    };
    let bytes = boc::to_boc(&root);
    let again = boc::from_boc(&bytes).expect("our own encoding decodes");
    assert_eq!(
        again.cell_hash(),
        root.cell_hash(),
        "round trip changed the cell"
    );
    assert_eq!(boc::to_boc(&again), bytes, "encoding is not canonical");
    // The transaction reader must refuse, not panic, on any cell; where it reads one,
    // its cheap header read agrees with the full read.
    if let Ok(summary) = transaction::parse(&root) {
        let header = transaction::parse_header(&root).expect("parse read the header");
        assert_eq!(header, summary.header);
    }
});
