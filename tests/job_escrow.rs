//! job_escrow on the devnet, driven as clients, relayers and posters drive it:
//! the client deploys and pays the escrow from its W5 wallet, relayers sign
//! the JCMP completion with the SDK, the operator signs a JACC acceptance, and
//! the real contracts (job_escrow + provider_stake) check them in the devnet's TVM.

use spindle_cli::job::{self, COMPLETE_VALUE, EXPIRE_SLASH_VALUE, FWD_LUMP};
use spindle_cli::onchain::{Payer, balance};
use spindle_cli::stake::{Stake, StakeState};
use spindle_e2e::Net;
use spindle_sdk::protocol::job_escrow::{self as je, Acceptance, Completion, Config, Job};
use spindle_sdk::protocol::provider_stake::{
    BASECHAIN_GAS_PRICE as GAS, StakeConfig, earned_from_payout,
};
use spindle_sdk::protocol::relayer_set::RelayerSet;
use spindle_sdk::toncenter::{Toncenter, Transaction};
use spindle_sdk::{SigningKey, TonAddress};

const TON: u128 = 1_000_000_000;
const AMOUNT: u128 = TON / 2;
const SETTLE_FEE: u128 = TON / 100;
const FEE_BPS: u16 = 500;
const GRACE: u32 = 60;
const SLASH_MULT_PCT: u16 = 200;
const FINDER_FEE: u128 = TON / 20;

struct Fixture {
    net: Net,
    client: Payer,
    poster: Payer,
    hub: TonAddress,
    owner: TonAddress,
    treasury: TonAddress,
    stake: Stake,
    operator: SigningKey,
    keys: Vec<SigningKey>,
    config: Config,
}

/// Wallet 0 is the client, 1 the poster, 2 the provider (its stake deployed
/// from its own wallet), 3 the treasury; the faucet's address stands for the hub.
async fn setup() -> anyhow::Result<Fixture> {
    let net = Net::start().await?;
    let client = net.payer(0, "client")?;
    let poster = net.payer(1, "poster")?;
    let provider = net.payer(2, "provider")?;
    let treasury = net.devnet.wallets()[3].address.clone();
    let hub = net.devnet.faucet_wallet().address.clone();
    let keys: Vec<SigningKey> = (1..=3u8)
        .map(|i| SigningKey::from_bytes(&[i; 32]))
        .collect();
    let relayers = RelayerSet::new(1, 2, keys.iter().map(|k| k.verifying_key()).collect())?;
    let operator = SigningKey::from_bytes(&[42; 32]);
    let stake_config = StakeConfig {
        escrow_code: job::code()?,
        treasury: treasury.clone(),
        slash_mult_pct: SLASH_MULT_PCT,
        finder_fee: FINDER_FEE,
        unbond_period: 86_400,
        min_stake: TON,
    };
    let stake = Stake::deploy(
        &net.api,
        &provider,
        &hub,
        &operator.verifying_key(),
        &stake_config,
        2 * TON,
    )
    .await?;
    let config = Config {
        settle_fee: SETTLE_FEE,
        fee_bps: FEE_BPS,
        grace: GRACE,
        window: 3600,
        stake_code: spindle_cli::stake::code()?,
        treasury: treasury.clone(),
        relayers,
    };
    Ok(Fixture {
        net,
        client,
        poster,
        hub,
        owner: provider.address.clone(),
        treasury,
        stake,
        operator,
        keys,
        config,
    })
}

impl Fixture {
    async fn create(&self, nonce: u64) -> anyhow::Result<(TonAddress, Job)> {
        let job = Job {
            amount: AMOUNT,
            deadline: self.net.devnet.now() + 600,
            spec_hash: [7; 32],
        };
        let escrow = job::create_job(
            &self.net.api,
            &self.client,
            &self.hub,
            nonce,
            &job,
            &self.config,
        )
        .await?;
        anyhow::ensure!(escrow == job::escrow_address(&self.hub, &self.client.address, nonce)?);
        Ok((escrow, job))
    }

    async fn stake(&self) -> anyhow::Result<StakeState> {
        self.stake.state(&self.net.api).await
    }
}

/// The sum of the message values `at` received from `from` (its transaction
/// history), and how many messages `from` bounced back to it (refused posts).
async fn received(
    api: &Toncenter,
    at: &TonAddress,
    from: &TonAddress,
) -> anyhow::Result<(u128, u32)> {
    let (mut sum, mut bounces) = (0, 0);
    for tx in api.get_transactions(at, 100, None).await? {
        if let Some(m) = tx.in_msg.filter(|m| !m.source.is_empty()) {
            if spindle_sdk::address::parse_address(&m.source)? == *from {
                let body = m.body()?;
                let op = body.as_ref().and_then(|b| b.parser().load_u32(32).ok());
                if op == Some(0xffff_ffff) {
                    bounces += 1;
                } else {
                    sum += m.value;
                }
            }
        }
    }
    Ok((sum, bounces))
}

/// The newest transaction of `at` caused by a message from `from`.
async fn last_tx_from(
    api: &Toncenter,
    at: &TonAddress,
    from: &TonAddress,
) -> anyhow::Result<Transaction> {
    for tx in api.get_transactions(at, 20, None).await? {
        if let Some(m) = tx.in_msg.as_ref().filter(|m| !m.source.is_empty()) {
            if spindle_sdk::address::parse_address(&m.source)? == *from {
                return Ok(tx);
            }
        }
    }
    anyhow::bail!("no transaction of {at} from {from}")
}

/// The rent `at` paid in its transactions after `after` (refused posts still
/// pay storage): all a refused post may take from the escrow.
async fn rent_since(api: &Toncenter, at: &TonAddress, after: &Transaction) -> anyhow::Result<u128> {
    let txs = api.get_transactions(at, 100, None).await?;
    Ok(txs
        .iter()
        .filter(|t| t.transaction_id.lt > after.transaction_id.lt)
        .map(|t| t.storage_fee)
        .sum())
}

/// The value of `tx`'s outgoing message to `to` (0 if none).
fn out_to(tx: &Transaction, to: &TonAddress) -> anyhow::Result<u128> {
    let mut sum = 0;
    for m in &tx.out_msgs {
        if spindle_sdk::address::parse_address(&m.destination)? == *to {
            sum += m.value;
        }
    }
    Ok(sum)
}

/// What each party has received from the escrow and from the stake.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Flows {
    stake_from_escrow: u128,
    treasury_from_escrow: u128,
    poster_from_escrow: u128,
    client_from_escrow: u128,
    treasury_from_stake: u128,
    poster_from_stake: u128,
    client_from_stake: u128,
    /// Refused posts: messages the escrow bounced back to the poster.
    bounced_to_poster: u32,
}

async fn flows(f: &Fixture, escrow: &TonAddress) -> anyhow::Result<Flows> {
    let api = &f.net.api;
    let s = &f.stake.address;
    let (poster_from_escrow, bounced_to_poster) = received(api, &f.poster.address, escrow).await?;
    Ok(Flows {
        stake_from_escrow: received(api, s, escrow).await?.0,
        treasury_from_escrow: received(api, &f.treasury, escrow).await?.0,
        poster_from_escrow,
        client_from_escrow: received(api, &f.client.address, escrow).await?.0,
        treasury_from_stake: received(api, &f.treasury, s).await?.0,
        poster_from_stake: received(api, &f.poster.address, s).await?.0,
        client_from_stake: received(api, &f.client.address, s).await?.0,
        bounced_to_poster,
    })
}

const NOTHING: Flows = Flows {
    stake_from_escrow: 0,
    treasury_from_escrow: 0,
    poster_from_escrow: 0,
    client_from_escrow: 0,
    treasury_from_stake: 0,
    poster_from_stake: 0,
    client_from_stake: 0,
    bounced_to_poster: 0,
};

#[tokio::test]
async fn two_of_three_relayers_complete_a_job_and_the_pay_splits_once() -> anyhow::Result<()> {
    let f = setup().await?;
    let api = &f.net.api;
    let (escrow, job) = f.create(1).await?;
    let s = job::job_state(api, &escrow).await?;
    assert_eq!(
        (
            s.state,
            s.delivered,
            s.slashed,
            s.amount,
            s.deadline,
            s.spec_hash
        ),
        (je::OPEN, false, false, AMOUNT, job.deadline, job.spec_hash)
    );
    let stake0 = f.stake().await?;
    let pay = 3 * TON / 10;
    let completion = Completion {
        global_id: f.net.devnet.global_id(),
        escrow: escrow.clone(),
        nonce: 1,
        provider_owner: f.owner.clone(),
        pay: pay as u64,
        result_hash: [9; 32],
    };

    // One signature short of k, or one by a key outside the set: refused, nothing moves.
    let one = job::sign_completion(1, &completion, &[(0, &f.keys[0])])?;
    job::complete_job(api, &f.poster, &completion, &one).await?;
    let outsider = SigningKey::from_bytes(&[9; 32]);
    let forged = job::sign_completion(2, &completion, &[(0, &f.keys[0]), (1, &outsider)])?;
    job::complete_job(api, &f.poster, &completion, &forged).await?;
    // A genuine 2-of-3 proof for a different pay does not verify either.
    let mut inflated = completion.clone();
    inflated.pay = AMOUNT as u64;
    let wrong = job::sign_completion(2, &completion, &[(0, &f.keys[0]), (2, &f.keys[2])])?;
    job::complete_job(api, &f.poster, &inflated, &wrong).await?;
    assert_eq!(job::job_state(api, &escrow).await?.state, je::OPEN);
    assert_eq!(
        flows(&f, &escrow).await?,
        Flows {
            bounced_to_poster: 3,
            ..NOTHING
        }
    );
    assert_eq!(f.stake().await?, stake0);

    // 2-of-3 (relayers 0 and 2): the escrow pays out and keeps only its reserve.
    let proof = job::sign_completion(2, &completion, &[(2, &f.keys[2]), (0, &f.keys[0])])?;
    let escrow_before = balance(api, &escrow).await?;
    job::complete_job(api, &f.poster, &completion, &proof).await?;
    assert_eq!(job::job_state(api, &escrow).await?.state, je::COMPLETED);
    let fee = f.config.fee(pay);
    assert_eq!(fee, pay * 5 / 100);
    let got = flows(&f, &escrow).await?;
    let tx = last_tx_from(api, &escrow, &f.poster.address).await?;
    // The poster gets the settle fee and its value less the transaction's
    // actual gas (mode 64) and its own message's forward fee. The gas fee is
    // the total fee less rent and the first fractions of the four one-cell
    // messages' forward fees (one lump each; `fwd` is what they still carry).
    let fwd: u128 = tx.out_msgs.iter().map(|m| m.fwd_fee).sum();
    let gas_fee = tx.fee - tx.storage_fee - (4 * FWD_LUMP - fwd);
    assert!(
        gas_fee <= je::GAS_COMPLETE * GAS,
        "complete used {gas_fee} of gas fees"
    );
    let expected = Flows {
        stake_from_escrow: pay - fee,
        treasury_from_escrow: fee,
        poster_from_escrow: SETTLE_FEE + COMPLETE_VALUE - gas_fee - FWD_LUMP,
        // everything else above the reserve: amount - pay and the unspent create margin
        client_from_escrow: out_to(&tx, &f.client.address)?,
        bounced_to_poster: 3,
        ..NOTHING
    };
    assert_eq!(got, expected);
    let escrow_after = balance(api, &escrow).await?;
    assert_eq!(escrow_after, je::RESERVE);
    // The client's share is the escrow's whole balance less the other payouts,
    // the transaction's fees and the forward fees, down to the reserve.
    assert_eq!(
        got.client_from_escrow,
        escrow_before + COMPLETE_VALUE
            - tx.fee
            - fwd
            - got.stake_from_escrow
            - got.treasury_from_escrow
            - got.poster_from_escrow
            - je::RESERVE
    );
    assert!(
        got.client_from_escrow >= AMOUNT - pay,
        "client got {}",
        got.client_from_escrow
    );
    let stake1 = f.stake().await?;
    assert_eq!(stake1.earned, stake0.earned + earned_from_payout(pay - fee));
    assert_eq!(stake1.stake, stake0.stake);
    eprintln!(
        "complete: stake earned {} (payout {}), treasury {}, poster {}, client {}, escrow {} -> {}, tx fee {}, fwd {}",
        stake1.earned - stake0.earned,
        got.stake_from_escrow,
        got.treasury_from_escrow,
        got.poster_from_escrow,
        got.client_from_escrow,
        escrow_before,
        escrow_after,
        tx.fee,
        fwd
    );

    // The same proof again pays nothing (rule 2).
    job::complete_job(api, &f.poster, &completion, &proof).await?;
    assert_eq!(
        flows(&f, &escrow).await?,
        Flows {
            bounced_to_poster: 4,
            ..got
        }
    );
    assert_eq!(f.stake().await?, stake1);
    assert_eq!(
        balance(api, &escrow).await?,
        je::RESERVE - rent_since(api, &escrow, &tx).await?
    );
    Ok(())
}

#[tokio::test]
async fn an_accepted_job_left_undelivered_expires_refunds_the_client_and_slashes_the_stake()
-> anyhow::Result<()> {
    let f = setup().await?;
    let api = &f.net.api;
    let (escrow, job) = f.create(2).await?;
    let acceptance = Acceptance {
        global_id: f.net.devnet.global_id(),
        escrow: escrow.clone(),
        nonce: 2,
        provider_owner: f.owner.clone(),
    };
    let sig = job::sign_acceptance(&f.operator, &acceptance)?;
    let stake0 = f.stake().await?;

    // Before deadline + grace, expire is refused.
    job::expire_job(api, &f.poster, &escrow, Some((&f.owner, &sig))).await?;
    assert_eq!(job::job_state(api, &escrow).await?.state, je::OPEN);
    assert_eq!(
        flows(&f, &escrow).await?,
        Flows {
            bounced_to_poster: 1,
            ..NOTHING
        }
    );

    // Nothing delivered; the clock passes deadline + grace.
    let now = f.net.devnet.now();
    f.net
        .devnet
        .advance_time(u64::from(job.deadline + GRACE + 1 - now));
    f.net.devnet.produce_block();

    // Anyone posts the operator's acceptance as evidence.
    let escrow_before = balance(api, &escrow).await?;
    job::expire_job(api, &f.poster, &escrow, Some((&f.owner, &sig))).await?;
    let s = job::job_state(api, &escrow).await?;
    assert_eq!(
        (s.state, s.delivered, s.slashed),
        (je::EXPIRED, false, true)
    );

    let slash = stake0.stake.min(AMOUNT * u128::from(SLASH_MULT_PCT) / 100);
    let to_finder = FINDER_FEE.min(slash);
    let to_client = (slash - to_finder).min(AMOUNT);
    let to_treasury = slash - to_finder - to_client;
    // the slash request carries what the poster attached less the escrow's gas
    // budget and three forward lumps; the stake returns what its handler leaves
    let request = EXPIRE_SLASH_VALUE - je::GAS_EXPIRE_SLASH * GAS - 3 * FWD_LUMP;
    let tx = last_tx_from(api, &escrow, &f.poster.address).await?;
    let got = flows(&f, &escrow).await?;
    let expected = Flows {
        stake_from_escrow: request,
        poster_from_escrow: SETTLE_FEE,
        client_from_escrow: out_to(&tx, &f.client.address)?,
        treasury_from_stake: to_treasury,
        poster_from_stake: to_finder + request - je::GAS_STAKE_SLASH * GAS - 2 * FWD_LUMP,
        client_from_stake: to_client,
        bounced_to_poster: 1,
        ..NOTHING
    };
    assert_eq!(got, expected);
    // The refund is the escrow's whole balance above the reserve, less fees.
    assert_eq!(balance(api, &escrow).await?, je::RESERVE);
    let fwd: u128 = tx.out_msgs.iter().map(|m| m.fwd_fee).sum();
    assert_eq!(
        got.client_from_escrow,
        escrow_before + EXPIRE_SLASH_VALUE
            - tx.fee
            - fwd
            - got.stake_from_escrow
            - got.poster_from_escrow
            - je::RESERVE
    );
    assert!(
        got.client_from_escrow >= AMOUNT,
        "refund {} < amount",
        got.client_from_escrow
    );
    let stake1 = f.stake().await?;
    assert_eq!(stake1.stake, stake0.stake - slash);
    assert_eq!(stake1.earned, stake0.earned);
    eprintln!(
        "expire: stake {} -> {} (slash {slash}), finder {} , client refund {} + slash share {}, treasury {}, poster settle fee {}, escrow {} -> {}",
        stake0.stake,
        stake1.stake,
        got.poster_from_stake,
        got.client_from_escrow,
        got.client_from_stake,
        got.treasury_from_stake,
        got.poster_from_escrow,
        escrow_before,
        balance(api, &escrow).await?
    );

    // A second expire (with or without evidence) changes nothing.
    job::expire_job(api, &f.poster, &escrow, Some((&f.owner, &sig))).await?;
    job::expire_job(api, &f.poster, &escrow, None).await?;
    assert_eq!(
        flows(&f, &escrow).await?,
        Flows {
            bounced_to_poster: 3,
            ..got
        }
    );
    assert_eq!(f.stake().await?, stake1);
    assert_eq!(
        balance(api, &escrow).await?,
        je::RESERVE - rent_since(api, &escrow, &tx).await?
    );
    Ok(())
}
