//! `spindle provider …` end to end: the real binary against a devnet with a
//! deployed hub; every happy path is checked on-chain, every refusal leaves
//! the chain as it was.

mod support;

use spindle_cli::cmd::provider::read_stake;
use spindle_sdk::{SigningKey, address};
use support::{Env, MIN_STAKE, TON, UNBOND_PERIOD, pay_as_wallet};

fn op_key(seed: u8) -> String {
    hex::encode(
        SigningKey::from_bytes(&[seed; 32])
            .verifying_key()
            .as_bytes(),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn provider_stakes_rotates_unbonds_and_withdraws() {
    let env = Env::start().await.unwrap();
    let owner = env.payer(0).unwrap();
    let key = env.key_file(0);
    let owner_str = address::to_user_friendly(&owner.address, false, false);

    // Below the hub's minimum: refused before anything is sent.
    env.run(&[
        "provider",
        "stake",
        "5",
        "--operator-key",
        &op_key(7),
        "--key-file",
        &key,
    ])
    .await
    .fails_with("stake 5 TON is below the hub minimum of 10 TON");
    assert!(
        read_stake(&env.api, &env.hub, &owner.address)
            .await
            .unwrap()
            .is_none()
    );

    let out = env
        .run(&[
            "provider",
            "stake",
            "10",
            "--operator-key",
            &op_key(7),
            "--key-file",
            &key,
            "--json",
        ])
        .await
        .json();
    assert_eq!(out["stake_nanoton"], (10 * TON).to_string());
    let s = read_stake(&env.api, &env.hub, &owner.address)
        .await
        .unwrap()
        .expect("stake deployed");
    assert_eq!(s.stake, MIN_STAKE, "exactly the amount is staked");
    assert_eq!(s.operator_key, op_key(7));
    assert_eq!(
        s.unbond_period, UNBOND_PERIOD,
        "the stake snapshots the hub's unbonding period"
    );

    // A second stake tops up.
    env.run(&["provider", "stake", "2.5", "--key-file", &key])
        .await
        .ok();
    assert_eq!(
        read_stake(&env.api, &env.hub, &owner.address)
            .await
            .unwrap()
            .unwrap()
            .stake,
        12 * TON + TON / 2
    );

    let status = env
        .run(&["provider", "status", "--owner", &owner_str, "--json"])
        .await
        .json();
    assert_eq!(status["stake_nanoton"], (12 * TON + TON / 2).to_string());
    assert_eq!(status["unbond_at"], 0);
    let human = env
        .run(&[
            "provider",
            "status",
            "--owner",
            &address::to_raw(&owner.address),
        ])
        .await
        .ok();
    assert!(human.contains("12.5 TON"), "{human}");

    // One key rotation per unbonding period, counted from the stake's init.
    env.run(&["provider", "set-operator", &op_key(8), "--key-file", &key])
        .await
        .fails_with("one rotation per period");
    env.advance(UNBOND_PERIOD);
    env.run(&["provider", "set-operator", &op_key(8), "--key-file", &key])
        .await
        .ok();
    assert_eq!(
        read_stake(&env.api, &env.hub, &owner.address)
            .await
            .unwrap()
            .unwrap()
            .operator_key,
        op_key(8)
    );
    env.run(&["provider", "set-operator", &op_key(9), "--key-file", &key])
        .await
        .fails_with("one rotation per period");
    assert_eq!(
        read_stake(&env.api, &env.hub, &owner.address)
            .await
            .unwrap()
            .unwrap()
            .operator_key,
        op_key(8)
    );

    env.run(&["provider", "withdraw", "--key-file", &key])
        .await
        .fails_with("no unbond request");
    env.run(&["provider", "unbond", "--key-file", &key])
        .await
        .ok();
    let s = read_stake(&env.api, &env.hub, &owner.address)
        .await
        .unwrap()
        .unwrap();
    assert!(s.unbond_at > 0, "unbonding on-chain");
    env.run(&["provider", "unbond", "--key-file", &key])
        .await
        .fails_with("already unbonding");

    // Withdrawing before the period is over is refused, and nothing moves.
    env.run(&["provider", "withdraw", "--key-file", &key])
        .await
        .fails_with("the unbonding period is not over");
    assert_eq!(
        read_stake(&env.api, &env.hub, &owner.address)
            .await
            .unwrap()
            .unwrap()
            .stake,
        12 * TON + TON / 2
    );

    env.advance(UNBOND_PERIOD + 1);
    let before = env.balance(&owner.address).await;
    let out = env
        .run(&["provider", "withdraw", "--key-file", &key, "--json"])
        .await
        .json();
    assert_eq!(out["withdrawn_nanoton"], (12 * TON + TON / 2).to_string());
    let after = env.balance(&owner.address).await;
    assert!(
        after > before + 12 * TON + TON / 2 - TON / 20,
        "owner got the stake back: {before} -> {after}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn provider_errors_name_the_problem_and_change_nothing() {
    let env = Env::start().await.unwrap();
    let key = env.key_file(1);
    let stake = |args: &[&str]| {
        let mut v = vec!["provider", "stake"];
        v.extend_from_slice(args);
        v.iter().map(|s| s.to_string()).collect::<Vec<_>>()
    };
    let run = |v: Vec<String>| {
        let env = &env;
        async move {
            env.run(&v.iter().map(String::as_str).collect::<Vec<_>>())
                .await
        }
    };
    let k = op_key(7);

    run(stake(&[
        "10.0000000001",
        "--operator-key",
        &k,
        "--key-file",
        &key,
    ]))
    .await
    .fails_with("has 10 decimals but TON has 9");
    // One character of the hub's address changed: the checksum catches it.
    let mut hub = env.hub_str();
    let last = hub.pop().unwrap();
    hub.push(if last == 'A' { 'B' } else { 'A' });
    run(stake(&[
        "10",
        "--operator-key",
        &k,
        "--key-file",
        &key,
        "--hub",
        &hub,
    ]))
    .await
    .fails_with("checksum does not match");
    run(stake(&["10000", "--operator-key", &k, "--key-file", &key]))
        .await
        .fails_with("insufficient funds");

    // A mnemonic on argv is refused outright.
    let phrase = spindle_sdk::wallet::generate_mnemonic();
    let mut argv = stake(&["10", "--operator-key", &k, "--mnemonic"]);
    argv.extend(phrase.split(' ').map(str::to_owned));
    run(argv)
        .await
        .fails_with("refusing a mnemonic on the command line");

    // A mnemonic whose wallet holds nothing: the wrong one.
    env.run_stdin(
        &[
            "provider",
            "stake",
            "10",
            "--operator-key",
            &k,
            "--mnemonic-stdin",
        ],
        &phrase,
    )
    .await
    .fails_with("wrong key or mnemonic");
    // A broken mnemonic.
    env.run_env(
        &["provider", "stake", "10", "--operator-key", &k],
        &[("SPINDLE_MNEMONIC", "abandon abandon")],
    )
    .await
    .fails_with("24 words");
    // The right mnemonic, once its wallet is funded, stakes (from stdin and from the env).
    let mkey = spindle_sdk::wallet::mnemonic_to_key(&phrase).unwrap();
    let mwallet = spindle_cli::onchain::Payer::new("m", mkey, env.devnet.global_id()).unwrap();
    env.devnet.faucet(&mwallet.address, 100 * TON).unwrap();
    spindle_cli::onchain::wait_until(|| async { Ok(env.balance(&mwallet.address).await > 0) })
        .await
        .unwrap();
    env.run_stdin(
        &[
            "provider",
            "stake",
            "10",
            "--operator-key",
            &k,
            "--mnemonic-stdin",
        ],
        &phrase,
    )
    .await
    .ok();
    assert_eq!(
        read_stake(&env.api, &env.hub, &mwallet.address)
            .await
            .unwrap()
            .unwrap()
            .stake,
        10 * TON
    );
    env.run_env(&["provider", "unbond"], &[("SPINDLE_MNEMONIC", &phrase)])
        .await
        .ok();

    // Owner-only commands with someone else's key: that wallet has no stake.
    env.run(&["provider", "unbond", "--key-file", &key])
        .await
        .fails_with("has no stake under hub");
    // Nothing above deployed a stake for wallet 1.
    assert!(
        read_stake(&env.api, &env.hub, &env.payer(1).unwrap().address)
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn provider_stakes_from_a_wallet_link() {
    let env = Env::start().await.unwrap();
    let wallet = env.payer(2).unwrap();
    let from = address::to_user_friendly(&wallet.address, false, false);
    let child = env.spawn(&[
        "provider",
        "stake",
        "10",
        "--operator-key",
        &op_key(5),
        "--wallet-link",
        "--from",
        &from,
        "--timeout",
        "60",
    ]);
    let (run, request) = pay_as_wallet(&env, child, &wallet).await;
    let out = run.ok();
    assert!(
        out.contains("ton://transfer/"),
        "a transfer link is printed:\n{out}"
    );
    assert!(
        out.contains("too long for a QR code"),
        "a deploy's code does not fit a QR code, and it says so:\n{out}"
    );
    assert!(out.contains("staked 10 TON"), "{out}");
    assert_eq!(request["network"], env.devnet.global_id().to_string());
    assert_eq!(
        read_stake(&env.api, &env.hub, &wallet.address)
            .await
            .unwrap()
            .unwrap()
            .stake,
        10 * TON
    );

    // A small message (no code) comes with a QR code.
    let child = env.spawn(&[
        "provider",
        "unbond",
        "--wallet-link",
        "--from",
        &from,
        "--timeout",
        "60",
    ]);
    let (run, _) = pay_as_wallet(&env, child, &wallet).await;
    let out = run.ok();
    assert!(
        out.contains('█') || out.contains('▀') || out.contains('▄'),
        "a QR code is printed:\n{out}"
    );
    assert!(
        read_stake(&env.api, &env.hub, &wallet.address)
            .await
            .unwrap()
            .unwrap()
            .unbond_at
            > 0
    );
}
