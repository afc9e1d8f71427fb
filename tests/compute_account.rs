//! compute_account on the devnet, driven as users and relayers drive it:
//! signed wallet transfers through the toncenter API, vouchers built and
//! signed by the SDK, checked by the real contract in the devnet's TVM.

use spindle_cli::onchain::{Payer, balance, get_ints};
use spindle_cli::stake::Stake;
use spindle_e2e::Net;
use spindle_sdk::message::InternalMessage;
use spindle_sdk::protocol::compute_account::{self as ca, Params, Voucher};
use spindle_sdk::protocol::provider_stake::StakeConfig;
use spindle_sdk::protocol::relayer_set::{Proof, RelayerSet};
use spindle_sdk::toncenter::{StackArg, Toncenter};
use spindle_sdk::{BigInt, SigningKey, TonAddress, boc};

const TON: u128 = 1_000_000_000;

fn relayer_keys() -> Vec<SigningKey> {
    (1..=3u8)
        .map(|i| SigningKey::from_bytes(&[i; 32]))
        .collect()
}

fn int(v: &Option<BigInt>) -> i128 {
    v.as_ref()
        .map(|n| i128::try_from(n).expect("fits i128"))
        .expect("an integer")
}

struct Fixture {
    net: Net,
    client: Payer,
    poster: Payer,
    owner: TonAddress,
    account: TonAddress,
    stake: TonAddress,
    set: RelayerSet,
    keys: Vec<SigningKey>,
}

/// Everything the stake received from the account (payout values, before the
/// stake's own fees), from its transaction history.
async fn received(f: &Fixture) -> anyhow::Result<u128> {
    let txs = f.net.api.get_transactions(&f.stake, 100, None).await?;
    let mut sum = 0;
    for tx in txs {
        if let Some(m) = tx.in_msg.filter(|m| !m.source.is_empty()) {
            if spindle_sdk::address::parse_address(&m.source)? == f.account {
                sum += m.value;
            }
        }
    }
    Ok(sum)
}

async fn state(api: &Toncenter, account: &TonAddress) -> anyhow::Result<(i128, i128)> {
    let s = get_ints(api, account, "get_account_state", &[]).await?;
    Ok((int(&s[1]), int(&s[2]))) // balance, epoch
}

async fn paid(f: &Fixture) -> anyhow::Result<i128> {
    let owner = boc::build(|b| b.store_address(&f.owner).map(|_| ()))?;
    let r = get_ints(
        &f.net.api,
        &f.account,
        "get_paid",
        &[StackArg::Slice(owner.into())],
    )
    .await?;
    Ok(int(&r[0]))
}

/// Deploys an account for wallet 0 and a provider_stake for wallet 2, each
/// directly from its owner's wallet (rule 6).
async fn setup() -> anyhow::Result<Fixture> {
    let net = Net::start().await?;
    let client = net.payer(0, "client")?;
    let poster = net.payer(1, "relayer")?;
    let owner = net.devnet.wallets()[2].address.clone();
    let hub = net.devnet.faucet_wallet().address.clone();
    let keys = relayer_keys();
    let set = RelayerSet::new(1, 2, keys.iter().map(|k| k.verifying_key()).collect())?;
    let code = spindle_sdk::artifact!("compute_account")?.code;
    let init = ca::state_init(code, &hub, &client.address, 7)?;
    let account = init.address(0)?;
    let params = Params {
        relayers: set.clone(),
        settle_fee: TON / 100,
        grace: 3600,
        stake_code: spindle_cli::stake::code()?,
        jetton_wallet: None,
    };
    client
        .send(
            &net.api,
            vec![
                InternalMessage::new(account.clone(), 5 * TON)
                    .with_state_init(init)
                    .with_body(ca::init_body(&params, 1)?),
            ],
        )
        .await?;
    let provider = net.payer(2, "provider")?;
    let config = StakeConfig {
        escrow_code: spindle_sdk::protocol::job_escrow::code()?,
        treasury: hub.clone(),
        slash_mult_pct: 200,
        finder_fee: TON / 20,
        unbond_period: 86_400,
        min_stake: TON,
    };
    let operator = SigningKey::from_bytes(&[42; 32]).verifying_key();
    let stake = Stake::deploy(&net.api, &provider, &hub, &operator, &config, 2 * TON)
        .await?
        .address;
    Ok(Fixture {
        net,
        client,
        poster,
        owner,
        account,
        stake,
        set,
        keys,
    })
}

fn voucher(f: &Fixture, epoch: u64, cumulative: u128) -> Voucher {
    Voucher {
        global_id: f.net.devnet.global_id(),
        account: f.account.clone(),
        epoch,
        provider_owner: f.owner.clone(),
        cumulative,
        valid_until: f.net.devnet.now() + 600,
    }
}

async fn post(f: &Fixture, v: &Voucher, signers: &[usize]) -> anyhow::Result<()> {
    let keys: Vec<_> = signers.iter().map(|&i| (i, &f.keys[i])).collect();
    let proof = Proof::sign(f.set.k, &v.payload()?, &keys)?;
    let body = ca::settle_body(v, &proof, 0)?;
    f.poster
        .send(
            &f.net.api,
            vec![InternalMessage::new(f.account.clone(), TON / 10).with_body(body)],
        )
        .await
}

#[tokio::test]
async fn vouchers_pay_each_delta_once_and_the_client_withdraws_the_rest() -> anyhow::Result<()> {
    let f = setup().await?;
    let api = &f.net.api;
    let (start, epoch) = state(api, &f.account).await?;
    assert_eq!(epoch, 0);
    assert!(start > 49 * TON as i128 / 10, "deposit credited: {start}");

    // 2-of-3 voucher for 1 TON: the stake gets exactly 1 TON, the account pays 1 TON + settle fee.
    post(&f, &voucher(&f, 0, TON), &[0, 2]).await?;
    assert_eq!(paid(&f).await?, TON as i128);
    assert_eq!(received(&f).await?, TON);
    let (after1, _) = state(api, &f.account).await?;
    assert_eq!(start - after1, (TON + TON / 100) as i128);

    // The same voucher again pays nothing (rule 2: nothing settles twice).
    post(&f, &voucher(&f, 0, TON), &[0, 1]).await?;
    assert_eq!(paid(&f).await?, TON as i128);
    assert_eq!(received(&f).await?, TON);

    // A newer cumulative pays only the delta.
    post(&f, &voucher(&f, 0, 3 * TON / 2), &[1, 2]).await?;
    assert_eq!(paid(&f).await?, (3 * TON / 2) as i128);
    assert_eq!(received(&f).await?, 3 * TON / 2);

    // One signer short of k, or a key outside the set: refused, nothing moves.
    let v = voucher(&f, 0, 2 * TON);
    let one = Proof::sign(1, &v.payload()?, &[(0, &f.keys[0])])?;
    f.poster
        .send(
            api,
            vec![
                InternalMessage::new(f.account.clone(), TON / 10)
                    .with_body(ca::settle_body(&v, &one, 0)?),
            ],
        )
        .await?;
    let outsider = SigningKey::from_bytes(&[9; 32]);
    let forged = Proof::sign(2, &v.payload()?, &[(0, &f.keys[0]), (1, &outsider)])?;
    f.poster
        .send(
            api,
            vec![
                InternalMessage::new(f.account.clone(), TON / 10)
                    .with_body(ca::settle_body(&v, &forged, 0)?),
            ],
        )
        .await?;
    assert_eq!(paid(&f).await?, (3 * TON / 2) as i128);

    // Withdrawal: request, wait out the grace period, withdraw; the epoch rises.
    let (before_withdraw, _) = state(api, &f.account).await?;
    f.client
        .send(
            api,
            vec![
                InternalMessage::new(f.account.clone(), TON / 10)
                    .with_body(ca::simple_body(ca::op::REQUEST_WITHDRAW, 0)?),
            ],
        )
        .await?;
    f.net.devnet.advance_time(3601);
    f.net.devnet.produce_block(); // so the API reports the new time at once
    let client_before = balance(api, &f.client.address).await?;
    f.client
        .send(
            api,
            vec![
                InternalMessage::new(f.account.clone(), TON / 10)
                    .with_body(ca::simple_body(ca::op::WITHDRAW, 0)?),
            ],
        )
        .await?;
    let (left, epoch) = state(api, &f.account).await?;
    assert_eq!((left, epoch), (0, 1));
    let got = balance(api, &f.client.address).await? as i128 - client_before as i128;
    assert!(
        got > before_withdraw,
        "client got {got}, the account held {before_withdraw}"
    );

    // A voucher of the old epoch never pays again (rule 5).
    post(&f, &voucher(&f, 0, 4 * TON), &[0, 1]).await?;
    assert_eq!(received(&f).await?, 3 * TON / 2);

    // The provider's stake credited both payouts to its owner, less its receive gas each.
    let stake = spindle_cli::stake::Stake {
        address: f.stake.clone(),
    }
    .state(api)
    .await?;
    let ps_earned = spindle_sdk::protocol::provider_stake::earned_from_payout;
    assert_eq!(stake.earned, ps_earned(TON) + ps_earned(TON / 2));
    Ok(())
}
