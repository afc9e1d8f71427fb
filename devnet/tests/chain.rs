//! The chain model end to end, in-process: genesis, wallet v5r1 transfers,
//! bounces, deploy by state init, lt chains, time, get-methods and bad input.

use spindle_devnet::{
    AccountInfo, Devnet, DevnetConfig, DevnetError, GenesisWallet, MsgKind, StackItem, TON,
    TonAddress,
};

const T0: u32 = 1_750_000_000;

fn devnet() -> Devnet {
    Devnet::new(DevnetConfig {
        block_interval: None,
        manual_clock: Some(T0),
        ..DevnetConfig::default()
    })
    .unwrap()
}

fn seqno(d: &Devnet, a: &TonAddress) -> u32 {
    match d.run_get_method(a, "seqno", &[]).unwrap().stack.first() {
        Some(StackItem::Int(n)) => u32::try_from(n.clone()).unwrap(),
        other => panic!("seqno: {other:?}"),
    }
}

fn snapshot(d: &Devnet, addrs: &[&TonAddress]) -> Vec<AccountInfo> {
    addrs.iter().map(|a| d.account(a).unwrap()).collect()
}

#[test]
fn genesis_wallets_are_deployed_and_funded() {
    let d = devnet();
    assert_eq!(d.global_id(), spindle_devnet::config::DEVNET_GLOBAL_ID);
    let ws = d.wallets();
    assert_eq!(ws.len(), 4);
    for w in ws.iter().chain([&d.faucet_wallet()]) {
        let a = d.account(&w.address).unwrap();
        assert_eq!(a.state, "active", "{}", w.name);
        // The deploying message paid for the wallet's first compute phase.
        assert!(a.balance > w.initial_balance - TON / 100 && a.balance <= w.initial_balance);
        assert_eq!(seqno(&d, &w.address), 0);
    }
    // Same keys, same addresses as a stock library derives (tonlib-core).
    let w0 = &ws[0];
    let again = GenesisWallet::derive("wallet-0", 0);
    assert_eq!(again.address, w0.address);
}

#[test]
fn wallet_v5r1_transfer_moves_value_and_links_transactions() {
    let d = devnet();
    let ws = d.wallets();
    let (a, b) = (&ws[0], &ws[1]);
    let (a0, b0) = (d.balance(&a.address), d.balance(&b.address));

    let amount = 3 * TON;
    let msg = a
        .sign_transfer(0, d.now() + 60, &b.address, amount, true)
        .unwrap();
    let hash = d.send_boc(&msg).unwrap();
    assert_ne!(hash, [0; 32]);
    // Nothing executes before the block.
    assert_eq!(d.balance(&a.address), a0);

    let block = d.produce_block();
    assert_eq!(block.transactions.len(), 2);
    let (ta, tb) = (&block.transactions[0], &block.transactions[1]);
    assert_eq!(ta.account, a.address);
    assert_eq!(ta.exit_code, Some(0));
    assert_eq!(ta.action_result_code, Some(0));
    assert_eq!(ta.in_msg.as_ref().unwrap().kind, MsgKind::ExternalIn);
    assert_eq!(ta.out_msgs.len(), 1);
    let out = &ta.out_msgs[0];
    assert_eq!(
        (out.value, out.bounce, out.dst.as_ref()),
        (amount, true, Some(&b.address))
    );
    // Recipient's transaction consumes exactly that message, at a later lt.
    assert_eq!(tb.account, b.address);
    assert_eq!(tb.in_msg.as_ref().unwrap().hash, out.hash);
    assert!(tb.lt > out.created_lt && out.created_lt > ta.lt);
    assert!(ta.gas_used > 0 && ta.total_fees > 0);

    // Money is conserved: sender pays amount + its fees + forwarding fee.
    let (a1, b1) = (d.balance(&a.address), d.balance(&b.address));
    assert_eq!(a0 - a1, amount + ta.total_fees + out.fwd_fee);
    assert_eq!(b1 - b0, amount - tb.total_fees);
    assert_eq!(seqno(&d, &a.address), 1);

    // Per-account transaction chain: prev lt / hash point at the previous one.
    let txs = d.transactions(&a.address, 10);
    assert_eq!(txs.len(), 2); // genesis deploy + transfer
    assert_eq!(txs[0].hash, ta.hash);
    assert_eq!((txs[0].prev_lt, txs[0].prev_hash), (txs[1].lt, txs[1].hash));
    let info = d.account(&a.address).unwrap();
    assert_eq!((info.last_tx_lt, info.last_tx_hash), (ta.lt, ta.hash));
}

#[test]
fn bounceable_transfer_to_missing_account_bounces_back() {
    let d = devnet();
    let a = &d.wallets()[0];
    let nobody = GenesisWallet::derive("nobody", 0).address;
    let before = d.balance(&a.address);
    let msg = a
        .sign_transfer(0, d.now() + 60, &nobody, TON, true)
        .unwrap();
    d.send_boc(&msg).unwrap();
    let block = d.produce_block();
    // wallet → nobody (bounce phase) → wallet receives the bounced message.
    assert_eq!(block.transactions.len(), 3);
    let on_nobody = &block.transactions[1];
    assert_eq!(on_nobody.account, nobody);
    assert!(on_nobody.bounced);
    assert_eq!(on_nobody.orig_status, "nonexist");
    assert_eq!(on_nobody.end_status, "nonexist");
    let back = &block.transactions[2];
    assert_eq!(back.account, a.address);
    assert!(back.in_msg.as_ref().unwrap().bounced);
    assert_eq!(d.account(&nobody).unwrap().state, "uninitialized");
    let lost = before - d.balance(&a.address);
    assert!(lost > 0 && lost < TON / 50, "only fees are lost: {lost}");
}

#[test]
fn faucet_funds_and_external_with_state_init_deploys() {
    let d = devnet();
    let fresh = GenesisWallet::derive("fresh", 0);
    d.faucet(&fresh.address, 5 * TON).unwrap();
    d.faucet(&fresh.address, 2 * TON).unwrap(); // two faucet calls in one block
    let block = d.produce_block();
    assert_eq!(block.transactions.len(), 4);
    assert_eq!(d.balance(&fresh.address), 7 * TON);
    assert_eq!(d.account(&fresh.address).unwrap().state, "uninitialized");

    // Without state init the uninit wallet cannot accept the message.
    let b = d.wallets()[1].address.clone();
    let plain = fresh.sign_transfer(0, d.now() + 60, &b, TON, true).unwrap();
    assert!(matches!(
        d.send_boc(&plain),
        Err(DevnetError::Rejected { .. })
    ));

    let deploy = fresh
        .sign_deploy_transfer(d.now() + 60, &b, TON, true)
        .unwrap();
    d.send_boc(&deploy).unwrap();
    let block = d.produce_block();
    assert_eq!(block.transactions[0].orig_status, "uninit");
    assert_eq!(block.transactions[0].end_status, "active");
    assert_eq!(d.account(&fresh.address).unwrap().state, "active");
    assert_eq!(seqno(&d, &fresh.address), 1);
}

#[test]
fn bad_input_gets_an_error_and_changes_nothing() {
    let d = devnet();
    let ws = d.wallets();
    let (a, b) = (&ws[0], &ws[1]);
    let watch = [&a.address, &b.address];
    let before = snapshot(&d, &watch);

    // Malformed BoC.
    let e = d.send_boc(b"definitely not a boc").unwrap_err();
    assert!(matches!(e, DevnetError::BadBoc(_)), "{e}");
    assert_eq!(e.http_code(), 500);
    assert_eq!(d.send_boc(&[]).unwrap_err().http_code(), 422);
    // Wrong seqno.
    let e = d
        .send_boc(
            &a.sign_transfer(5, d.now() + 60, &b.address, TON, true)
                .unwrap(),
        )
        .unwrap_err();
    assert!(
        matches!(e, DevnetError::Rejected { exit_code: Some(c), .. } if c != 0),
        "{e}"
    );
    assert!(e.to_string().contains("External message was not accepted"));
    // Expired valid_until.
    let e = d
        .send_boc(
            &a.sign_transfer(0, d.now() - 1, &b.address, TON, true)
                .unwrap(),
        )
        .unwrap_err();
    assert!(matches!(e, DevnetError::Rejected { .. }), "{e}");
    // Invalid signature: flip one bit of a correctly signed message.
    let mut msg = a
        .sign_transfer(0, d.now() + 60, &b.address, TON, true)
        .unwrap();
    let n = msg.len();
    msg[n - 40] ^= 1;
    assert!(d.send_boc(&msg).is_err());
    // Missing account, no state init.
    let ghost = GenesisWallet::derive("ghost", 0);
    let e = d
        .send_boc(
            &ghost
                .sign_transfer(0, d.now() + 60, &b.address, TON, true)
                .unwrap(),
        )
        .unwrap_err();
    assert!(
        matches!(
            e,
            DevnetError::Rejected {
                exit_code: None,
                ..
            }
        ),
        "{e}"
    );
    // Unknown get-method: TVM exit code 11, as toncenter reports it.
    assert_eq!(
        d.run_get_method(&a.address, "no_such_method", &[])
            .unwrap()
            .exit_code,
        11
    );
    assert_eq!(
        d.run_get_method(&ghost.address, "seqno", &[])
            .unwrap()
            .exit_code,
        -13
    );

    assert!(d.produce_block().transactions.is_empty());
    assert_eq!(snapshot(&d, &watch), before);
}

#[test]
fn time_advances_and_storage_fees_accrue() {
    let d = devnet();
    let a = &d.wallets()[0];
    let t = d.now();
    d.advance_time(365 * 24 * 3600);
    assert_eq!(d.now(), t + 365 * 24 * 3600);
    let msg = a
        .sign_transfer(0, d.now() + 60, &d.wallets()[1].address, TON, true)
        .unwrap();
    d.send_boc(&msg).unwrap();
    let block = d.produce_block();
    assert_eq!(block.utime, t + 365 * 24 * 3600);
    assert!(
        block.transactions[0].storage_fee > 0,
        "a year of storage costs something"
    );
}

#[test]
fn get_method_reads_public_key_as_int() {
    let d = devnet();
    let a = &d.wallets()[0];
    let r = d.run_get_method(&a.address, "get_public_key", &[]).unwrap();
    assert_eq!(r.exit_code, 0);
    let Some(StackItem::Int(k)) = r.stack.first() else {
        panic!("{r:?}")
    };
    assert_eq!(k.to_bytes_be().1, a.public_key.to_vec());
}

#[test]
fn state_file_round_trips() {
    let dir = std::env::temp_dir().join(format!("spindle-devnet-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("state.json");
    let _ = std::fs::remove_file(&path);
    let config = DevnetConfig {
        block_interval: None,
        manual_clock: Some(T0),
        state_file: Some(path.clone()),
        ..DevnetConfig::default()
    };
    let d = Devnet::new(config.clone()).unwrap();
    let a = d.wallets()[0].clone();
    d.send_boc(
        &a.sign_transfer(0, d.now() + 60, &d.wallets()[1].address, TON, true)
            .unwrap(),
    )
    .unwrap();
    d.produce_block();
    d.save(&path).unwrap();
    let txs = d.transactions(&a.address, 10);

    let again = Devnet::new(config).unwrap();
    assert_eq!(again.last_block_seqno(), d.last_block_seqno());
    assert_eq!(
        again.account(&a.address).unwrap(),
        d.account(&a.address).unwrap()
    );
    assert_eq!(again.transactions(&a.address, 10), txs);
    // The restored chain keeps working: seqno 1 is next.
    again
        .send_boc(
            &a.sign_transfer(1, again.now() + 60, &d.wallets()[1].address, TON, true)
                .unwrap(),
        )
        .unwrap();
    assert_eq!(again.produce_block().transactions.len(), 2);
    std::fs::remove_dir_all(&dir).ok();
}
