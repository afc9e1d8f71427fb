//! toncenter's transaction JSON (what the watcher pages through), then what the
//! watcher does with it before any chain call: the summary, and the in/out message
//! bodies' ops.
//!
//! Property: a transaction that deserializes serializes back to JSON that
//! deserializes to an equal value.
#![no_main]

use libfuzzer_sys::fuzz_target;
use spindle_sdk::protocol::op_and_query_id;
use spindle_sdk::toncenter::Transaction;

fuzz_target!(|data: &[u8]| {
    let Ok(txs) = serde_json::from_slice::<Vec<Transaction>>(data) else {
        return;
    };
    let json = serde_json::to_vec(&txs).expect("serializes");
    let again: Vec<Transaction> = serde_json::from_slice(&json).expect("our own JSON reads");
    assert_eq!(again, txs);
    for tx in &txs {
        let _ = tx.summary().map(|s| s.succeeded());
        for msg in tx.in_msg.iter().chain(&tx.out_msgs) {
            if let Ok(Some(body)) = msg.body() {
                let _ = op_and_query_id(&body);
            }
        }
    }
});
