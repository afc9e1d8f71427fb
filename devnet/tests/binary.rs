//! The `spindle-devnet` binary with `--state`: funds survive a restart.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

/// Starts the binary and returns it with its JSON-RPC URL.
fn start(state: &std::path::Path) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_spindle-devnet"))
        .args(["--listen", "127.0.0.1:0", "--block-ms", "50", "--state"])
        .arg(state)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    for line in lines.by_ref() {
        let line = line.unwrap();
        if let Some(url) = line.trim().strip_prefix("JSON-RPC:") {
            // Keep draining stdout so the devnet never writes to a full pipe.
            std::thread::spawn(move || lines.for_each(drop));
            return (child, url.trim().to_string());
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("devnet printed no URL");
}

fn stop(mut child: Child) {
    // SIGTERM, so the devnet saves its state on the way out.
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    child.wait().unwrap();
}

async fn balance(c: &reqwest::Client, rpc: &str, addr: &str) -> String {
    let v: Value = c
        .post(rpc)
        .json(&json!({ "id": 1, "jsonrpc": "2.0", "method": "getAddressBalance", "params": { "address": addr } }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    v["result"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn state_file_survives_a_restart() {
    let dir = std::env::temp_dir().join(format!("spindle-devnet-bin-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let state = dir.join("chain.json");
    let c = reqwest::Client::new();
    let fresh = spindle_devnet::GenesisWallet::derive("binary-test", 0)
        .address
        .to_base64_url();

    let (child, rpc) = start(&state);
    let base = rpc.trim_end_matches("/api/v2/jsonRPC").to_string();
    let r = c
        .post(format!("{base}/devnet/faucet"))
        .json(&json!({ "address": fresh, "amount": "4200000000" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    for _ in 0..100 {
        if balance(&c, &rpc, &fresh).await == "4200000000" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(balance(&c, &rpc, &fresh).await, "4200000000");
    stop(child);
    assert!(state.exists());

    let (child, rpc) = start(&state);
    assert_eq!(balance(&c, &rpc, &fresh).await, "4200000000");
    stop(child);
    std::fs::remove_dir_all(&dir).ok();
}
