//! job_escrow on the devnet, driven as clients, relayers and posters drive it:
//! the client deploys and pays the escrow from its W5 wallet, relayers sign
//! the JCMP completion with the SDK, the operator signs a JACC acceptance, and
//! the real contracts (job_escrow + provider_stake) check them in the devnet's TVM.

use spindle_cli::job::{self, COMPLETE_VALUE, EXPIRE_SLASH_VALUE, FWD_LUMP};
use spindle_cli::onchain::{Payer, balance};
use spindle_cli::stake::{Stake, StakeState};
use spindle_devnet::{Devnet, MsgKind, TxSummary};
use spindle_e2e::Net;
use spindle_sdk::boc;
use spindle_sdk::message::InternalMessage;
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
/// Budget of a whole escrow job on the devnet (create + complete, every
/// transaction's fees, the client's and poster's W5 wallets included):
/// 18,407,576 nanoton measured. The 0.015 TON compares with
/// @ton/sandbox's figure (0.015256 TON, senders are sandbox treasuries, not
/// W5 wallets: Specification.md, "Escrow code as a masterchain library cell").
const LIFECYCLE_BUDGET: u128 = 18_500_000;

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

// ---- The escrow code as a masterchain library cell ----
//
// Every escrow's StateInit carries the library reference of the escrow code
// (`je::code()`), which the devnet publishes at genesis as a librarian would
// (`spindle_devnet::libraries`). The tests above already run complete and
// expire + slash on such escrows; these check what the reference changes.

/// The transaction of `from` (a wallet) whose outgoing messages include one to `to`, newest first.
fn wallet_tx_to(devnet: &Devnet, from: &TonAddress, to: &TonAddress) -> anyhow::Result<TxSummary> {
    devnet
        .transactions(from, 50)
        .into_iter()
        .find(|t| t.out_msgs.iter().any(|m| m.dst.as_ref() == Some(to)))
        .ok_or_else(|| anyhow::anyhow!("no transaction of {from} sending to {to}"))
}

/// `root` and every transaction its messages caused, transitively: one flow.
fn flow(devnet: &Devnet, root: TxSummary) -> Vec<TxSummary> {
    let (mut done, mut todo) = (Vec::new(), vec![root]);
    while let Some(tx) = todo.pop() {
        for m in tx.out_msgs.iter().filter(|m| m.kind == MsgKind::Internal) {
            let Some(dst) = &m.dst else { continue };
            let caused = devnet
                .transactions(dst, 200)
                .into_iter()
                .find(|t| t.in_msg.as_ref().is_some_and(|i| i.hash == m.hash));
            todo.extend(caused);
        }
        done.push(tx);
    }
    done
}

/// What the sandbox's `feesOf` sums: every transaction's total fees.
fn fees(flow: &[TxSummary]) -> u128 {
    flow.iter().map(|t| t.total_fees).sum()
}

/// The lifecycle figure of the issue: create + complete, every transaction
/// of both flows (the client's and the poster's wallets included), for a job
/// whose escrow is deployed with the library reference.
#[tokio::test]
async fn a_library_escrow_lifecycle_costs_within_its_budget_on_the_devnet() -> anyhow::Result<()> {
    let f = setup().await?;
    let (api, devnet) = (&f.net.api, &f.net.devnet);
    let reference = je::code()?;
    assert!(reference.is_exotic() && reference.bit_len() == 264);
    assert_eq!(
        devnet.libraries(),
        vec![<[u8; 32]>::try_from(
            je::library_code()?.cell_hash().as_slice()
        )?],
        "the devnet publishes the escrow code at genesis"
    );

    // Both wallets have sent before (a first send carries the wallet's own
    // state init, a one-time cost that is not the job's).
    for w in [&f.client, &f.poster] {
        w.send(api, vec![InternalMessage::new(f.treasury.clone(), 1)])
            .await?;
    }
    let (escrow, _) = f.create(31).await?;
    let create = flow(devnet, wallet_tx_to(devnet, &f.client.address, &escrow)?);
    // The create message carries the 33-byte reference, not the 3.6 kB code,
    // and the escrow's code on-chain is that reference.
    let sent = &create[0].out_msgs[0];
    let init = sent.init.as_ref().expect("the create carries a state init");
    assert!(init.len() < 200, "state init of {} bytes", init.len());
    let code = devnet.account(&escrow)?.code.expect("active");
    assert_eq!(boc::from_boc(&code)?.cell_hash(), reference.cell_hash());

    let completion = Completion {
        global_id: devnet.global_id(),
        escrow: escrow.clone(),
        nonce: 31,
        provider_owner: f.owner.clone(),
        pay: (AMOUNT / 2) as u64,
        result_hash: [3; 32],
    };
    let proof = job::sign_completion(2, &completion, &[(0, &f.keys[0]), (1, &f.keys[1])])?;
    job::complete_job(api, &f.poster, &completion, &proof).await?;
    assert_eq!(job::job_state(api, &escrow).await?.state, je::COMPLETED);
    let complete = flow(devnet, wallet_tx_to(devnet, &f.poster.address, &escrow)?);
    // poster wallet, escrow, stake, treasury, poster (settle fee), client (refund)
    assert_eq!(complete.len(), 6, "{complete:#?}");
    assert!(complete.iter().all(|t| !t.aborted));

    let (c, p) = (fees(&create), fees(&complete));
    let wallets = create[0].total_fees + complete[0].total_fees;
    let in_transit: u128 = create
        .iter()
        .chain(&complete)
        .flat_map(|t| &t.out_msgs)
        .map(|m| m.fwd_fee)
        .sum();
    eprintln!(
        "devnet lifecycle with the library escrow: create {c} + complete {p} = {} nanoton \
         ({} transactions' fees, of which the two W5 sends {wallets}; forward fees in transit \
         to them: {in_transit})",
        c + p,
        create.len() + complete.len()
    );
    assert!(
        c + p <= LIFECYCLE_BUDGET,
        "lifecycle {} nanoton above the budget {LIFECYCLE_BUDGET}",
        c + p
    );
    Ok(())
}

/// An escrow deployed with the code itself in its StateInit runs the same
/// code but sits at another address: the stake, deriving escrow addresses
/// from the reference, refuses its slash request (exit 140, nothing moves),
/// while the genuine escrow's identical request slashes.
#[tokio::test]
async fn a_stake_refuses_a_slash_from_an_escrow_not_deployed_with_the_reference()
-> anyhow::Result<()> {
    let f = setup().await?;
    let (api, devnet) = (&f.net.api, &f.net.devnet);
    let job = Job {
        amount: AMOUNT,
        deadline: devnet.now() + 600,
        spec_hash: [7; 32],
    };
    let inline = je::state_init(je::library_code()?, &f.hub, &f.client.address, 41)?;
    let fake = inline.address(0)?;
    assert_ne!(fake, job::escrow_address(&f.hub, &f.client.address, 41)?);
    f.client
        .send(
            api,
            vec![
                InternalMessage::new(fake.clone(), job::create_value(&job, &f.config))
                    .with_state_init(inline)
                    .with_body(je::create_body(&job, &f.config, 41)?),
            ],
        )
        .await?;
    assert_eq!(job::job_state(api, &fake).await?.state, je::OPEN);
    let genuine = job::create_job(api, &f.client, &f.hub, 42, &job, &f.config).await?;
    let accept = |escrow: &TonAddress, nonce| {
        job::sign_acceptance(
            &f.operator,
            &Acceptance {
                global_id: devnet.global_id(),
                escrow: escrow.clone(),
                nonce,
                provider_owner: f.owner.clone(),
            },
        )
    };
    let (fake_sig, genuine_sig) = (accept(&fake, 41)?, accept(&genuine, 42)?);
    devnet.advance_time(u64::from(job.deadline + GRACE + 1 - devnet.now()));
    devnet.produce_block();

    let stake0 = f.stake().await?;
    job::expire_job(api, &f.poster, &fake, Some((&f.owner, &fake_sig))).await?;
    assert_eq!(f.stake().await?, stake0, "a fake escrow's evidence slashed");
    let refused = devnet
        .transactions(&f.stake.address, 50)
        .into_iter()
        .find(|t| t.in_msg.as_ref().and_then(|m| m.src.as_ref()) == Some(&fake))
        .expect("the fake escrow's slash request reached the stake");
    assert_eq!((refused.exit_code, refused.aborted), (Some(140), true));

    job::expire_job(api, &f.poster, &genuine, Some((&f.owner, &genuine_sig))).await?;
    let stake1 = f.stake().await?;
    assert_eq!(
        stake1.stake,
        stake0.stake - stake0.stake.min(AMOUNT * u128::from(SLASH_MULT_PCT) / 100)
    );
    Ok(())
}

/// With the library unpublished, escrows fail cleanly: a create bounces the
/// client's payment back (nothing deployed), an existing escrow refuses
/// `complete` (the poster's value bounces, the escrow keeps the job's money)
/// and its get-methods fail; once published again, both work.
#[tokio::test]
async fn an_unpublished_escrow_library_fails_cleanly_until_published_again() -> anyhow::Result<()> {
    let f = setup().await?;
    let (api, devnet) = (&f.net.api, &f.net.devnet);
    let (open, _) = f.create(51).await?;
    let held = balance(api, &open).await?;
    devnet.set_libraries(&[])?;
    assert!(devnet.libraries().is_empty());

    // A create: the escrow cannot run, the payment bounces back to the client.
    let (missing, job) = f.create(52).await?;
    let tx = &devnet.transactions(&missing, 10)[0];
    assert!(tx.aborted && tx.bounced, "{tx:#?}");
    // (exit 9: the reference cannot be resolved, as in @ton/sandbox; the
    // mirror of JobEscrow.spec.ts checks this case transaction for transaction)
    assert_eq!(tx.exit_code, Some(9));
    assert!(job::job_state(api, &missing).await.is_err());
    let back = devnet.transactions(&f.client.address, 5)[0].clone();
    let bounce = back.in_msg.expect("the bounce");
    assert!(bounce.bounced && bounce.src.as_ref() == Some(&missing));
    let value = job::create_value(&job, &f.config);
    assert!(
        bounce.value < value && bounce.value > value - TON / 100,
        "bounced {} of {value}",
        bounce.value
    );

    // An existing escrow: get-methods fail, a complete bounces, the money stays.
    assert!(job::job_state(api, &open).await.is_err());
    let completion = Completion {
        global_id: devnet.global_id(),
        escrow: open.clone(),
        nonce: 51,
        provider_owner: f.owner.clone(),
        pay: (AMOUNT / 2) as u64,
        result_hash: [5; 32],
    };
    let proof = job::sign_completion(2, &completion, &[(0, &f.keys[0]), (2, &f.keys[2])])?;
    job::complete_job(api, &f.poster, &completion, &proof).await?;
    let refused = &devnet.transactions(&open, 1)[0];
    assert!(refused.aborted && refused.bounced, "{refused:#?}");
    assert_eq!(balance(api, &open).await?, held - refused.storage_fee);

    // Published again: the same escrow completes, and the client can create.
    let code = je::library_code()?;
    devnet.set_libraries(&[boc::to_boc(&code)])?;
    job::complete_job(api, &f.poster, &completion, &proof).await?;
    assert_eq!(job::job_state(api, &open).await?.state, je::COMPLETED);
    f.create(53).await?;
    assert_eq!(
        job::job_state(api, &job::escrow_address(&f.hub, &f.client.address, 53)?)
            .await?
            .state,
        je::OPEN
    );
    Ok(())
}
