//! Devnet throughput (a benchmark, not a test): transactions per second for
//! wallet v5r1 transfers (external on the sender + internal on the recipient)
//! and for internal-message contract calls, in-process, one core.
//!
//! `cargo bench -p spindle-devnet --bench throughput [-- WALLETS ROUNDS FAN]`
//! prints one JSON line per case; `devnet/bench.sh` adds the same sequence on
//! @ton/sandbox and the ratio.

use std::time::Instant;

use std::sync::Arc;

use num_bigint::BigUint;
use spindle_devnet::{Devnet, DevnetConfig, TON};
use tonlib_core::cell::{ArcCell, BagOfCells, CellBuilder};
use tonlib_core::message::{CommonMsgInfo, TonMessage, TransferMessage};

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let wallets = args.first().copied().unwrap_or(500);
    let rounds = args.get(1).copied().unwrap_or(4);
    let fan = args.get(2).copied().unwrap_or(20);

    let d = Devnet::new(DevnetConfig {
        wallets,
        wallet_balance: 1_000 * TON,
        block_interval: None,
        manual_clock: Some(1_750_000_000),
        ..DevnetConfig::default()
    })
    .expect("devnet starts");
    let ws = d.wallets();

    // Sign everything first: the client's signing cost is not the chain's.
    let valid_until = d.now() + 3600;
    let rounds_msgs: Vec<Vec<Vec<u8>>> = (0..rounds)
        .map(|r| {
            (0..wallets)
                .map(|i| {
                    let to = &ws[(i + 1) % wallets].address;
                    ws[i]
                        .sign_transfer(r as u32, valid_until, to, TON / 100, true)
                        .unwrap()
                })
                .collect()
        })
        .collect();

    let start = Instant::now();
    let mut txs = 0usize;
    for msgs in &rounds_msgs {
        for m in msgs {
            d.send_boc(m).expect("accepted");
        }
        txs += d.produce_block().transactions.len();
    }
    let secs = start.elapsed().as_secs_f64();
    assert_eq!(txs, 2 * wallets * rounds, "every transfer executed");
    println!(
        "{{\"case\":\"wallet_v5r1_transfer\",\"chain\":\"devnet\",\"transactions\":{txs},\"seconds\":{secs:.3},\"tx_per_s\":{:.0},\"transfers_per_s\":{:.0}}}",
        txs as f64 / secs,
        (wallets * rounds) as f64 / secs
    );

    // Contract calls by internal message: each wallet sends one external that
    // fans out `fan` messages with an op body to other wallets; each delivery
    // runs the recipient's recv_internal (one internal message + one TVM run,
    // what a contract op costs the chain).
    let signed: Vec<Vec<u8>> = (0..wallets)
        .map(|i| {
            let msgs: Vec<_> = (1..=fan)
                .map(|k| op_message(&ws[(i + k) % wallets].address, TON / 1000))
                .collect();
            let w = ws[i].ton_wallet();
            let ext = w
                .create_external_msg(valid_until, rounds as u32, false, msgs)
                .unwrap();
            BagOfCells::from_root(ext).serialize(false).unwrap()
        })
        .collect();
    let start = Instant::now();
    for m in &signed {
        d.send_boc(m).expect("accepted");
    }
    let block = d.produce_block();
    let secs = start.elapsed().as_secs_f64();
    let n = block.transactions.len();
    assert_eq!(n, wallets * (fan + 1), "every call executed");
    println!(
        "{{\"case\":\"internal_contract_call\",\"chain\":\"devnet\",\"transactions\":{n},\"seconds\":{secs:.3},\"tx_per_s\":{:.0}}}",
        n as f64 / secs
    );
}

/// An internal message with a 32-bit op + 64-bit query id body, built with
/// tonlib-core as any client would.
fn op_message(to: &spindle_devnet::TonAddress, value: u128) -> ArcCell {
    let mut body = CellBuilder::new();
    body.store_u32(32, 0x7e8764ef).unwrap();
    body.store_u64(64, 1).unwrap();
    let body = Arc::new(body.build().unwrap());
    let mut info = CommonMsgInfo::new_default_internal(to, &BigUint::from(value));
    if let CommonMsgInfo::InternalMessage(m) = &mut info {
        m.bounced = false;
        m.ihr_disabled = true;
    }
    Arc::new(TransferMessage::new(info, body).build().unwrap())
}
