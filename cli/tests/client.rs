//! `spindle client …` end to end: job escrows and compute accounts paid from
//! a wallet by the real binary against a devnet with a deployed hub, each
//! step checked on-chain; refusals change nothing.

mod support;

use spindle_cli::job::job_state;
use spindle_cli::onchain::get_ints;
use spindle_sdk::address;
use spindle_sdk::protocol::job_escrow as je;
use support::{ACCOUNT_GRACE, Env, JOB_GRACE, TON, pay_as_wallet};

const SPEC: &str = r#"{"model": "smollm2-135m", "messages": [{"role": "user", "content": "What is TON?"}], "max_tokens": 32}"#;

/// (initialized, balance, epoch, withdraw_at) of an account.
async fn account(env: &Env, a: &spindle_sdk::TonAddress) -> (bool, u128, u128, u128) {
    let s = get_ints(&env.api, a, "get_account_state", &[])
        .await
        .unwrap();
    let n = |i: usize| u128::try_from(s[i].clone().unwrap()).unwrap();
    (
        s[0].clone().unwrap() != spindle_sdk::BigInt::ZERO,
        n(1),
        n(2),
        n(3),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn client_funds_a_job_follows_it_and_expires_it() {
    let env = Env::start().await.unwrap();
    let client = env.payer(0).unwrap();
    let key = env.key_file(0);
    let spec = env.write("job.json", SPEC);

    env.run(&[
        "client",
        "job",
        "create",
        "0.05",
        "--spec",
        &spec,
        "--key-file",
        &key,
    ])
    .await
    .fails_with("job amount 0.05 TON is below the hub minimum of 0.1 TON");
    env.run(&[
        "client",
        "job",
        "create",
        "0.5",
        "--spec",
        &spec,
        "--deadline",
        "2d",
        "--key-file",
        &key,
    ])
    .await
    .fails_with("outside the hub's bounds");

    let out = env
        .run(&[
            "client",
            "job",
            "create",
            "0.5",
            "--spec",
            &spec,
            "--deadline",
            "2m",
            "--nonce",
            "7",
            "--relayer",
            "http://r1:8080",
            "--key-file",
            &key,
            "--json",
        ])
        .await
        .json();
    let escrow = address::parse_address(out["escrow"].as_str().unwrap()).unwrap();
    assert_eq!(
        escrow,
        spindle_cli::job::escrow_address(&env.hub, &client.address, 7).unwrap(),
        "the escrow is at (hub, client, nonce)"
    );
    let s = job_state(&env.api, &escrow).await.unwrap();
    assert_eq!(
        (s.state, s.amount),
        (je::OPEN, TON / 2),
        "open with exactly the amount"
    );
    // What to send a relayer: its job API's submission, whose spec hashes to the escrow's.
    assert_eq!(out["submit"]["url"], "http://r1:8080/v1/jobs");
    assert_eq!(out["submit"]["body"]["nonce"], 7);
    assert_eq!(
        out["submit"]["body"]["spec"],
        serde_json::from_str::<serde_json::Value>(SPEC).unwrap()
    );
    assert_eq!(out["spec_hash"], hex::encode(s.spec_hash));
    env.run(&[
        "client",
        "job",
        "create",
        "0.5",
        "--spec",
        &spec,
        "--nonce",
        "7",
        "--key-file",
        &key,
    ])
    .await
    .fails_with("nonce 7 is already used");

    let status = env
        .run(&[
            "client",
            "job",
            "status",
            out["escrow_raw"].as_str().unwrap(),
            "--json",
        ])
        .await
        .json();
    assert_eq!(status["state"], "open");
    assert_eq!(status["amount_nanoton"], (TON / 2).to_string());

    let escrow_str = out["escrow"].as_str().unwrap().to_owned();
    env.run(&["client", "job", "expire", &escrow_str, "--key-file", &key])
        .await
        .fails_with("too early");
    assert_eq!(job_state(&env.api, &escrow).await.unwrap().state, je::OPEN);

    env.advance(120 + JOB_GRACE + 1);
    let before = env.balance(&client.address).await;
    let out = env
        .run(&[
            "client",
            "job",
            "expire",
            &escrow_str,
            "--key-file",
            &key,
            "--json",
        ])
        .await
        .json();
    assert_eq!(out["state"], "expired");
    assert_eq!(
        job_state(&env.api, &escrow).await.unwrap().state,
        je::EXPIRED
    );
    let after = env.balance(&client.address).await;
    assert!(
        after > before + TON / 2 - TON / 50,
        "the client got the amount back: {before} -> {after}"
    );
    env.run(&["client", "job", "expire", &escrow_str, "--key-file", &key])
        .await
        .fails_with("already expired");
}

#[tokio::test(flavor = "multi_thread")]
async fn client_opens_deposits_and_withdraws_a_compute_account() {
    let env = Env::start().await.unwrap();
    let client = env.payer(1).unwrap();
    let key = env.key_file(1);

    let out = env
        .run(&[
            "client",
            "account",
            "open",
            "2",
            "--key-file",
            &key,
            "--json",
        ])
        .await
        .json();
    let acc = address::parse_address(out["account"].as_str().unwrap()).unwrap();
    assert_eq!(
        account(&env, &acc).await,
        (true, 2 * TON, 0, 0),
        "initialised with exactly 2 TON"
    );
    env.run(&["client", "account", "open", "2", "--key-file", &key])
        .await
        .fails_with("you already have account");

    let acc_str = out["account"].as_str().unwrap().to_owned();
    let out = env
        .run(&[
            "client",
            "account",
            "deposit",
            &acc_str,
            "0.5",
            "--key-file",
            &key,
            "--json",
        ])
        .await
        .json();
    assert_eq!(out["deposited_nanoton"], (TON / 2).to_string());
    assert_eq!(account(&env, &acc).await.1, 2 * TON + TON / 2);
    env.run(&[
        "client",
        "account",
        "deposit",
        &acc_str,
        "0.0000000001",
        "--key-file",
        &key,
    ])
    .await
    .fails_with("has 10 decimals");
    env.run(&[
        "client",
        "account",
        "deposit",
        &acc_str,
        "5000",
        "--key-file",
        &key,
    ])
    .await
    .fails_with("insufficient funds");
    assert_eq!(
        account(&env, &acc).await.1,
        2 * TON + TON / 2,
        "refusals moved nothing"
    );

    let bal = env
        .run(&["client", "account", "balance", &acc_str])
        .await
        .ok();
    assert!(bal.contains("2.5 TON"), "{bal}");

    // Someone else's key cannot withdraw.
    let other = env.key_file(2);
    env.run(&[
        "client",
        "account",
        "withdraw",
        &acc_str,
        "--key-file",
        &other,
    ])
    .await
    .fails_with("only the account's client");

    let out = env
        .run(&[
            "client",
            "account",
            "withdraw",
            &acc_str,
            "--key-file",
            &key,
            "--json",
        ])
        .await
        .json();
    assert_eq!(out["requested"], true);
    let (_, _, _, withdraw_at) = account(&env, &acc).await;
    assert!(withdraw_at > 0, "withdrawal requested on-chain");
    env.run(&[
        "client",
        "account",
        "withdraw",
        &acc_str,
        "--key-file",
        &key,
    ])
    .await
    .fails_with("the grace period is not over");
    assert_eq!(account(&env, &acc).await.1, 2 * TON + TON / 2);

    env.advance(ACCOUNT_GRACE + 1);
    let before = env.balance(&client.address).await;
    let out = env
        .run(&[
            "client",
            "account",
            "withdraw",
            &acc_str,
            "--key-file",
            &key,
            "--json",
        ])
        .await
        .json();
    assert_eq!(out["withdrawn_nanoton"], (2 * TON + TON / 2).to_string());
    let (_, balance, epoch, withdraw_at) = account(&env, &acc).await;
    assert_eq!(
        (balance, epoch, withdraw_at),
        (0, 1, 0),
        "emptied, in a new epoch"
    );
    let after = env.balance(&client.address).await;
    assert!(
        after > before + 2 * TON + TON / 2 - TON / 50,
        "the client got the balance: {before} -> {after}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn client_deposits_from_a_wallet_link() {
    let env = Env::start().await.unwrap();
    let wallet = env.payer(2).unwrap();
    let from = address::to_user_friendly(&wallet.address, false, false);
    let child = env.spawn(&[
        "client",
        "account",
        "open",
        "1",
        "--wallet-link",
        "--from",
        &from,
        "--timeout",
        "60",
        "--json",
    ]);
    let (run, _) = pay_as_wallet(&env, child, &wallet).await;
    let out = run.ok();
    let last: serde_json::Value = serde_json::from_str(out.lines().last().unwrap_or(""))
        .unwrap_or_else(|_| {
            // --json prints the request object first, then the result (pretty); take the last object.
            let i = out.rfind("\n{").map(|i| i + 1).unwrap_or(0);
            serde_json::from_str(&out[i..]).expect("the result is JSON")
        });
    let acc_str = last["account"]
        .as_str()
        .expect("account in the result")
        .to_owned();
    let acc = address::parse_address(&acc_str).unwrap();
    assert_eq!(account(&env, &acc).await.1, TON);

    let child = env.spawn(&[
        "client",
        "account",
        "deposit",
        &acc_str,
        "0.25",
        "--wallet-link",
        "--from",
        &from,
        "--timeout",
        "60",
    ]);
    let (run, request) = pay_as_wallet(&env, child, &wallet).await;
    let out = run.ok();
    assert!(out.contains("ton://transfer/"), "{out}");
    assert!(
        out.contains('█') || out.contains('▀') || out.contains('▄'),
        "a QR code is printed:\n{out}"
    );
    assert_eq!(
        request["messages"][0]["amount"],
        (TON / 4 + 2600 * 400).to_string(),
        "the deposit plus exactly its gas"
    );
    assert_eq!(account(&env, &acc).await.1, TON + TON / 4);

    // --wallet-link needs to know the paying wallet.
    env.run(&[
        "client",
        "account",
        "deposit",
        &acc_str,
        "1",
        "--wallet-link",
    ])
    .await
    .fails_with("--wallet-link needs --from");
}

#[tokio::test(flavor = "multi_thread")]
async fn expiring_with_the_acceptance_slashes_the_provider() {
    let env = Env::start().await.unwrap();
    let client = env.payer(0).unwrap();
    let provider = env.payer(2).unwrap();
    let operator = spindle_sdk::SigningKey::from_bytes(&[5; 32]);
    let op_hex = hex::encode(operator.verifying_key().as_bytes());
    env.run(&[
        "provider",
        "stake",
        "10",
        "--operator-key",
        &op_hex,
        "--key-file",
        &env.key_file(2),
    ])
    .await
    .ok();
    let spec = env.write("job.json", SPEC);
    let key = env.key_file(0);
    let out = env
        .run(&[
            "client",
            "job",
            "create",
            "0.5",
            "--spec",
            &spec,
            "--deadline",
            "2m",
            "--nonce",
            "9",
            "--key-file",
            &key,
            "--json",
        ])
        .await
        .json();
    let escrow = address::parse_address(out["escrow"].as_str().unwrap()).unwrap();
    let escrow_str = out["escrow"].as_str().unwrap().to_owned();
    let acceptance = |key: &spindle_sdk::SigningKey| {
        let a = je::Acceptance {
            global_id: env.devnet.global_id(),
            escrow: escrow.clone(),
            nonce: 9,
            provider_owner: provider.address.clone(),
        };
        hex::encode(
            spindle_cli::job::sign_acceptance(key, &a)
                .unwrap()
                .to_bytes(),
        )
    };
    let owner = address::to_user_friendly(&provider.address, false, false);
    env.advance(120 + JOB_GRACE + 1);

    // A signature by any other key is refused before anything is sent.
    let forged = acceptance(&spindle_sdk::SigningKey::from_bytes(&[6; 32]));
    env.run(&[
        "client",
        "job",
        "expire",
        &escrow_str,
        "--provider",
        &owner,
        "--acceptance",
        &forged,
        "--key-file",
        &key,
    ])
    .await
    .fails_with("not the provider's operator signature");
    assert_eq!(job_state(&env.api, &escrow).await.unwrap().state, je::OPEN);

    let stake_before =
        spindle_cli::cmd::provider::read_stake(&env.api, &env.hub, &provider.address)
            .await
            .unwrap()
            .unwrap()
            .stake;
    let before = env.balance(&client.address).await;
    let out = env
        .run(&[
            "client",
            "job",
            "expire",
            &escrow_str,
            "--provider",
            &owner,
            "--acceptance",
            &acceptance(&operator),
            "--key-file",
            &key,
            "--json",
        ])
        .await
        .json();
    assert_eq!(out["state"], "expired");
    let slashed = |s: &je::JobState| s.slashed;
    spindle_cli::onchain::wait_until(|| async {
        let st = spindle_cli::cmd::provider::read_stake(&env.api, &env.hub, &provider.address)
            .await?
            .unwrap();
        Ok(st.stake < stake_before)
    })
    .await
    .expect("the stake is slashed on-chain");
    assert!(slashed(&job_state(&env.api, &escrow).await.unwrap()));
    let stake_after = spindle_cli::cmd::provider::read_stake(&env.api, &env.hub, &provider.address)
        .await
        .unwrap()
        .unwrap()
        .stake;
    assert_eq!(
        stake_before - stake_after,
        TON,
        "slash = min(stake, 200% of 0.5 TON)"
    );
    let after = env.balance(&client.address).await;
    assert!(
        after > before + TON / 2,
        "refund plus slash proceeds reach the client: {before} -> {after}"
    );
}

/// `client job result` refuses what cannot work before asking anyone: a wallet
/// link cannot sign the read, and an unreachable relayer is named. (Reading a
/// real result, and the relayer refusing another wallet's key, is tested with
/// three relayer nodes in relayers.rs.)
#[tokio::test(flavor = "multi_thread")]
async fn job_result_needs_the_clients_key_and_a_relayer() {
    let env = Env::start().await.unwrap();
    let client = address::to_raw(&env.payer(0).unwrap().address);
    let escrow = address::to_raw(
        &spindle_cli::job::escrow_address(&env.hub, &env.payer(0).unwrap().address, 1).unwrap(),
    );
    // Nothing listens on the discard port.
    let relayer = "http://127.0.0.1:9";
    env.run(&[
        "client",
        "job",
        "result",
        &escrow,
        "--relayer",
        relayer,
        "--wallet-link",
        "--from",
        &client,
    ])
    .await
    .fails_with("signed with the client's key");
    env.run(&[
        "client",
        "job",
        "result",
        &escrow,
        "--relayer",
        relayer,
        "--key-file",
        &env.key_file(0),
    ])
    .await
    .fails_with("cannot reach the relayer at http://127.0.0.1:9");
}
