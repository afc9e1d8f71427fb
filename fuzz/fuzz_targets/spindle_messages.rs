//! The relayer watcher's decoding of Spindle message bodies (job escrow `create`,
//! `complete`, `expire`; compute account `settle`, `payout`) and signed vouchers.
//!
//! Property: what parses re-encodes with the SDK's builders to a body that parses to
//! the same value.
#![no_main]

use libfuzzer_sys::fuzz_target;
use spindle_sdk::boc;
use spindle_sdk::protocol::{compute_account as ca, job_escrow as je, op_and_query_id};

fuzz_target!(|data: &[u8]| {
    let Ok(body) = boc::from_boc(data) else {
        return;
    };
    let op = op_and_query_id(&body);
    if let Ok(create) = je::parse_create(&body) {
        assert_eq!(op, Some((je::op::CREATE, create.query_id)));
    }
    if let Ok(complete) = je::parse_complete(&body) {
        assert_eq!(op, Some((je::op::COMPLETE, complete.query_id)));
    }
    if let Ok((query_id, _)) = je::parse_expire(&body) {
        assert_eq!(op, Some((je::op::EXPIRE, query_id)));
        // The watcher reads the evidence flag; the builder must agree on the layout.
        let rebuilt = je::expire_body(None, query_id).expect("builds");
        assert_eq!(
            je::parse_expire(&rebuilt).expect("parses"),
            (query_id, None)
        );
    }
    if let Ok(settle) = ca::parse_settle(&body) {
        assert_eq!(op, Some((ca::op::SETTLE, settle.query_id)));
        let payload = settle
            .voucher
            .payload()
            .expect("a parsed voucher re-encodes");
        assert_eq!(
            ca::Voucher::parse(&payload).expect("parses"),
            settle.voucher
        );
    }
    if let Ok((query_id, _)) = ca::parse_payout(&body) {
        assert_eq!(op, Some((ca::op::PAYOUT, query_id)));
    }
    if let Ok(voucher) = ca::Voucher::parse(&body) {
        let payload = voucher.payload().expect("a parsed voucher re-encodes");
        assert_eq!(ca::Voucher::parse(&payload).expect("parses"), voucher);
    }
});
