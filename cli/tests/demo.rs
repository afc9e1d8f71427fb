//! `spindle demo` end to end, as a new user runs it: the real binary, the real
//! inference server, the devnet, three relayer nodes. The demo runs in its fast
//! mode (one escrow job, one API request) with `--keep-running`, so that once it
//! prints its summary this test reads the chain itself through the demo's
//! toncenter API and checks every figure of the table against it; then it stops
//! the demo with Ctrl-C and expects a clean exit 0.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use serde_json::Value;
use spindle_sdk::protocol::job_escrow as je;
use spindle_sdk::protocol::provider_stake::earned_from_payout;
use spindle_sdk::toncenter::{StackArg, Toncenter, ToncenterConfig};
use spindle_sdk::{TonAddress, address, boc};

/// Stops the demo if the test fails half-way.
struct Demo(Child);

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn n(v: &Value) -> u128 {
    v.as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not a nanoton string: {v}"))
}

fn addr(v: &Value) -> TonAddress {
    address::parse_address(v.as_str().expect("an address string")).expect("an address")
}

async fn ints(api: &Toncenter, a: &TonAddress, method: &str, args: &[StackArg]) -> Vec<u128> {
    spindle_cli::onchain::get_ints(api, a, method, args)
        .await
        .unwrap()
        .into_iter()
        .map(|v| v.and_then(|n| u128::try_from(n).ok()).unwrap_or(0))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_table_matches_the_chain() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_spindle"))
        .args([
            "demo",
            "--json",
            "--keep-running",
            "--jobs",
            "1",
            "--requests",
            "1",
        ])
        .env("RUST_BACKTRACE", "0")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run spindle demo");
    // Progress goes to stderr: keep it for the failure message.
    let stderr = child.stderr.take().unwrap();
    let progress = std::thread::spawn(move || {
        BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
            .collect::<Vec<_>>()
            .join("\n")
    });
    let stdout = child.stdout.take().unwrap();
    let mut demo = Demo(child);
    let line = tokio::task::block_in_place(|| BufReader::new(stdout).lines().next());
    let Some(Ok(line)) = line else {
        let _ = demo.0.kill();
        panic!("the demo printed no summary:\n{}", progress.join().unwrap());
    };
    let s: Value = serde_json::from_str(&line).expect("--json prints one JSON line");
    for c in s["checks"].as_array().expect("checks") {
        assert_eq!(c["ok"], true, "the demo's own check failed: {c}");
    }

    let api = Toncenter::new(ToncenterConfig {
        requests_per_second: 1000.0,
        ..ToncenterConfig::new(s["urls"]["toncenter API"].as_str().unwrap().to_owned())
    });

    // Every wallet holds what the table says, and its change is after − before.
    let parties = s["parties"].as_array().unwrap();
    assert_eq!(
        parties.len(),
        7,
        "client, 2 providers, 3 relayers, treasury"
    );
    for p in parties {
        let on_chain = api
            .get_address_information(&addr(&p["address"]))
            .await
            .unwrap()
            .balance;
        assert_eq!(on_chain, n(&p["after_nanoton"]), "{}'s balance", p["name"]);
        let change: i128 = p["change_nanoton"].as_str().unwrap().parse().unwrap();
        assert_eq!(
            change,
            n(&p["after_nanoton"]) as i128 - n(&p["before_nanoton"]) as i128
        );
    }
    // So do the stakes and the compute account.
    let contracts = s["contracts"].as_array().unwrap();
    assert_eq!(contracts.len(), 3, "two stakes and the account");
    for c in contracts {
        let on_chain = api
            .get_address_information(&addr(&c["address"]))
            .await
            .unwrap()
            .balance;
        assert_eq!(on_chain, n(&c["after_nanoton"]), "{}'s balance", c["name"]);
    }
    let party = |name: &str| parties.iter().find(|p| p["name"] == name).unwrap();
    // The treasury only receives: protocol fees and the slash's remainder, less
    // the fees of its receiving transactions.
    let treasury = party("treasury");
    let fee: u128 = s["escrow_jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| n(&j["treasury_fee_nanoton"]))
        .sum();
    assert!(fee > 0, "the escrow job paid a protocol fee: {s}");
    assert_eq!(
        treasury["change_nanoton"]
            .as_str()
            .unwrap()
            .parse::<i128>()
            .unwrap()
            + n(&treasury["fees_nanoton"]) as i128,
        (fee + n(&s["expired_job"]["slash_to_treasury_nanoton"])) as i128,
        "the treasury's change is the fees plus the slash's remainder"
    );

    // The escrow job completed, and its payout is A's stake's only income from it.
    let jobs = s["escrow_jobs"].as_array().unwrap();
    assert_eq!(jobs.len(), 1);
    let mut a_income = Vec::new();
    let a_stake = addr(&s["providers"][0]["stake"]);
    for j in jobs {
        let escrow = addr(&j["escrow"]);
        let st = spindle_cli::job::job_state(&api, &escrow).await.unwrap();
        assert_eq!(st.state, je::COMPLETED);
        assert!(j["completion_tokens"].as_u64().unwrap() > 0, "{j}");
        let got = spindle_cli::onchain::incoming_from(&api, &a_stake, &escrow)
            .await
            .unwrap();
        assert_eq!(got, vec![n(&j["provider_paid_nanoton"])]);
        a_income.extend(got);
    }

    // The compute account paid exactly what the gateway charged, to A's stake.
    let m = &s["metered"];
    let account = addr(&m["account"]);
    let owner = boc::build(|b| b.store_address(&addr(&m["provider_owner"])).map(|_| ())).unwrap();
    let paid = ints(&api, &account, "get_paid", &[StackArg::Slice(owner.into())]).await[0];
    assert!(n(&m["charged_nanoton"]) > 0);
    assert_eq!(
        paid,
        n(&m["charged_nanoton"]),
        "the voucher paid what was charged"
    );
    assert_eq!(paid, n(&m["voucher_paid_nanoton"]));
    let vouchers = spindle_cli::onchain::incoming_from(&api, &a_stake, &account)
        .await
        .unwrap();
    assert_eq!(vouchers.iter().sum::<u128>(), paid);
    a_income.extend(vouchers);
    // A's stake earned each payout less its receive gas.
    let earned = ints(&api, &a_stake, "get_stake", &[]).await[1];
    let expected: u128 = a_income.iter().map(|&v| earned_from_payout(v)).sum();
    assert_eq!(
        earned - n(&s["providers"][0]["earned_before_nanoton"]),
        expected
    );
    assert_eq!(n(&s["provider_a_earned_nanoton"]), expected);

    // The expired job: refunded, and B's stake slashed by 2 × the job.
    let x = &s["expired_job"];
    let escrow = addr(&x["escrow"]);
    let st = spindle_cli::job::job_state(&api, &escrow).await.unwrap();
    assert!(st.state == je::EXPIRED && st.slashed, "{x}");
    let b_stake = addr(&s["providers"][1]["stake"]);
    let stake_b = ints(&api, &b_stake, "get_stake", &[]).await[0];
    let slashed = n(&s["providers"][1]["stake_before_nanoton"]) - stake_b;
    assert_eq!(slashed, n(&x["stake_slashed_nanoton"]));
    assert_eq!(slashed, 2 * n(&x["amount_nanoton"]));
    let client = party("client");
    let refund: u128 =
        spindle_cli::onchain::incoming_from(&api, &addr(&client["address"]), &escrow)
            .await
            .unwrap()
            .iter()
            .sum();
    assert_eq!(refund, n(&x["client_refunded_nanoton"]));
    assert!(refund >= n(&x["amount_nanoton"]));

    // Ctrl-C ends a kept-running demo cleanly.
    let pid = demo.0.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-INT", &pid])
            .status()
            .unwrap()
            .success()
    );
    let status = tokio::task::block_in_place(|| demo.0.wait()).unwrap();
    let log = progress.join().unwrap();
    assert!(status.success(), "spindle demo failed:\n{log}");
    for step in ["[1/10]", "[10/10]"] {
        assert!(log.contains(step), "progress line {step} missing:\n{log}");
    }
}
