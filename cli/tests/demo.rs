//! `spindle demo` end to end, as a new user runs it: the real binary, the
//! real inference server, the devnet. The demo itself exits non-zero unless
//! every settlement it expects is on-chain; this test also checks that its
//! summary agrees with itself and that money actually moved.

use std::process::Command;

#[test]
fn demo_settles_what_the_gateway_charged() {
    let out = Command::new(env!("CARGO_BIN_EXE_spindle"))
        .args(["demo", "--json", "--requests", "2"])
        .env("RUST_BACKTRACE", "0")
        .output()
        .expect("run spindle demo");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "spindle demo failed:\n{stderr}");
    let s: serde_json::Value = serde_json::from_slice(&out.stdout).expect("--json prints JSON");
    let n = |k: &str| s[k].as_str().and_then(|v| v.parse::<u128>().ok()).unwrap_or_else(|| panic!("{k} in {s}"));
    let charged = n("charged_nanoton");
    assert!(charged > 0, "nothing was charged: {s}");
    assert_eq!(n("voucher_paid_nanoton"), charged);
    let earned = n("provider_stake_earnings_nanoton");
    assert_eq!(earned, spindle_sdk::protocol::provider_stake::earned_from_payout(charged));
    assert_eq!(s["requests"], 2);
    assert!(s["completion_tokens"].as_u64().unwrap() > 0);
    // The escrow job paid the provider and the treasury; the expired one slashed.
    let job = |k: &str| s["escrow_job"][k].as_str().and_then(|v| v.parse::<u128>().ok()).unwrap_or_else(|| panic!("escrow_job.{k} in {s}"));
    assert!(job("provider_earned") > 0 && job("treasury_fee") > 0, "{s}");
    let exp = |k: &str| s["expired_job"][k].as_str().and_then(|v| v.parse::<u128>().ok()).unwrap_or_else(|| panic!("expired_job.{k} in {s}"));
    assert!(exp("client_refunded") >= exp("amount"), "{s}");
    assert!(exp("stake_slashed") > 0, "{s}");
    for step in ["[1/9]", "[9/9]"] {
        assert!(stderr.contains(step), "progress line {step} missing:\n{stderr}");
    }
}
