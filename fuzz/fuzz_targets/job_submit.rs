//! The job API's `POST /v1/jobs` body: addresses, the spec's shape check, and the
//! canonical spec whose hash the escrow commits to.
//!
//! Properties: canonicalization is idempotent (the canonical bytes re-read give the
//! same bytes and hash), and a parsed address survives both printed forms.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use spindle_relayer::jobs::scheduler::spec_shape;
use spindle_sdk::address;
use spindle_sdk::protocol::job_escrow as je;

fuzz_target!(|data: &[u8]| {
    let Ok(body) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    for field in ["escrow", "client"] {
        if let Some(Ok(addr)) = body
            .get(field)
            .and_then(Value::as_str)
            .map(address::parse_address)
        {
            assert_eq!(
                address::parse_raw(&address::to_raw(&addr)).expect("raw"),
                addr
            );
            for (bounceable, testnet) in [(true, false), (false, true)] {
                let friendly = address::to_user_friendly(&addr, bounceable, testnet);
                assert_eq!(address::parse_address(&friendly).expect("friendly"), addr);
            }
        }
    }
    let Some(spec) = body.get("spec") else {
        return;
    };
    let _ = spec_shape(spec);
    let canonical = je::canonical_spec(spec);
    let reread: Value = serde_json::from_slice(&canonical).expect("canonical spec is JSON");
    assert_eq!(
        je::canonical_spec(&reread),
        canonical,
        "canonicalization is not idempotent"
    );
    assert_eq!(je::spec_hash(&reread), je::spec_hash(spec));
});
