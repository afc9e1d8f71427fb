//! `spindle client …`: what a client does on-chain — fund a one-off job in
//! its own job_escrow (then hand it to a relayer), follow it, fetch its result
//! from the relayer (a read signed with the client's key) or expire it, and
//! keep a compute account for metered OpenAI-compatible inference (open,
//! deposit, balance, withdraw after the grace period). Escrows and accounts
//! are deployed by the client's wallet directly at (hub, client, nonce)
//! (protocol rule 6) with the hub's current parameters.

use anyhow::{Context, bail};
use clap::Subcommand;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use spindle_sdk::message::InternalMessage;
use spindle_sdk::protocol::compute_account::{self as ca, op as ca_op};
use spindle_sdk::protocol::job_escrow::{self as je, Job};
use spindle_sdk::protocol::provider_stake::BASECHAIN_GAS_PRICE;
use spindle_sdk::toncenter::Toncenter;
use spindle_sdk::{TonAddress, address};

use super::amount::{Asset, parse, ton};
use super::chain::{ChainArgs, HubArg, chain_now, hub_params, parse_address};
use super::pay::{PayArgs, Wallet};
use super::provider::{check_codes, query_id};
use crate::job;
use crate::onchain::{get_ints, wait_until};

/// compute_account's rent reserve and gas budgets (compute_account.fc).
pub(crate) const CA_RESERVE: u128 = 10_000_000;
pub(crate) const CA_GAS_INIT: u128 = 12_000;
const CA_GAS_DEPOSIT: u128 = 2_600;
const CA_GAS_REQUEST: u128 = 6_000;
/// withdraw: gas(8000) + a forward fee, with a margin (returned with the balance).
const CA_WITHDRAW_VALUE: u128 = 10_000_000;

#[derive(Debug, clap::Args)]
pub struct ClientArgs {
    #[command(subcommand)]
    pub command: ClientCommand,
    #[command(flatten)]
    pub chain: ChainArgs,
}

#[derive(Debug, Subcommand)]
pub enum ClientCommand {
    /// One-off jobs paid into their own escrow.
    #[command(subcommand)]
    Job(JobCommand),
    /// A compute account: a prepaid balance for metered OpenAI-compatible requests.
    #[command(subcommand)]
    Account(AccountCommand),
}

#[derive(Debug, Subcommand)]
pub enum JobCommand {
    /// Deploy and pay a job escrow, then print what to POST to a relayer.
    ///
    /// AMOUNT (TON) is the most the job may cost; what the provider is not paid
    /// comes back at settlement. The spec is the OpenAI request body the job runs
    /// (a JSON file); the escrow holds its hash. After the deadline plus the hub's
    /// grace, an unfinished job can be expired for a full refund.
    ///
    /// Example: spindle client job create 0.5 --spec job.json --deadline 2h --key-file my.key --hub EQ…
    Create {
        /// TON to put in escrow, e.g. 0.5.
        amount: String,
        /// The job's spec: a JSON file such as {"model": "smollm2-135m", "messages": […]}.
        #[arg(long, value_name = "FILE")]
        spec: std::path::PathBuf,
        /// Time the provider has: e.g. 90s, 30m, 2h, 1d (within the hub's bounds).
        #[arg(long, default_value = "1h")]
        deadline: String,
        /// Job number, unique for your wallet (fixes the escrow's address); default: from the clock.
        #[arg(long)]
        nonce: Option<u64>,
        /// A relayer's base URL, to print the exact request to send it.
        #[arg(long, value_name = "URL")]
        relayer: Option<String>,
        #[command(flatten)]
        hub: HubArg,
        #[command(flatten)]
        pay: PayArgs,
    },
    /// Show a job escrow's state on-chain.
    ///
    /// Example: spindle client job status EQ…
    Status {
        /// The escrow's address.
        escrow: String,
    },
    /// Fetch a job's result from the relayer that ran it, signing the read with your key.
    ///
    /// Only the job's client may read its result: the relayer checks the signature
    /// against your wallet's public key on-chain. The result's hash is checked here.
    ///
    /// Example: spindle client job result EQ… --relayer http://relayer.example:8480 --key-file my.key
    Result {
        /// The escrow's address.
        escrow: String,
        /// The base URL of the relayer you submitted the job to.
        #[arg(long, value_name = "URL")]
        relayer: String,
        /// Also write the result (the OpenAI response body) to FILE.
        #[arg(long, value_name = "FILE")]
        output: Option<std::path::PathBuf>,
        #[command(flatten)]
        pay: PayArgs,
    },
    /// Expire a job after its deadline plus grace: the client gets the full refund.
    ///
    /// With --provider and --acceptance (a relayer's GET /v1/jobs/{escrow}/acceptance),
    /// the provider that accepted and did not deliver is slashed. Anyone may expire.
    ///
    /// Example: spindle client job expire EQ… --key-file my.key
    Expire {
        /// The escrow's address.
        escrow: String,
        /// The accepting provider's owner address (evidence, with --acceptance).
        #[arg(long, value_name = "ADDRESS", requires = "acceptance")]
        provider: Option<String>,
        /// The operator's acceptance signature (128 hex digits).
        #[arg(long, value_name = "HEX", requires = "provider")]
        acceptance: Option<String>,
        #[command(flatten)]
        pay: PayArgs,
    },
}

#[derive(Debug, Subcommand)]
pub enum AccountCommand {
    /// Open a compute account with a first deposit (exactly AMOUNT becomes its balance).
    ///
    /// Example: spindle client account open 2 --key-file my.key --hub EQ…
    Open {
        /// TON to deposit, e.g. 2.
        amount: String,
        /// Account number, unique for your wallet (fixes its address); default 1.
        #[arg(long, default_value_t = 1)]
        nonce: u64,
        #[command(flatten)]
        hub: HubArg,
        #[command(flatten)]
        pay: PayArgs,
    },
    /// Add TON to a compute account (exactly AMOUNT is credited; gas is added on top).
    ///
    /// Example: spindle client account deposit EQ… 1.5 --key-file my.key
    Deposit {
        /// The account's address.
        account: String,
        /// TON to add.
        amount: String,
        #[command(flatten)]
        pay: PayArgs,
    },
    /// Show a compute account's balance and withdrawal state.
    ///
    /// Example: spindle client account balance EQ…
    Balance {
        /// The account's address.
        account: String,
    },
    /// Withdraw everything: the first call requests it (relayers then have the grace
    /// period to post their last vouchers); call again after the grace period to receive it.
    ///
    /// Example: spindle client account withdraw EQ… --key-file my.key
    Withdraw {
        /// The account's address.
        account: String,
        #[command(flatten)]
        pay: PayArgs,
    },
}

/// Parses "90", "90s", "30m", "2h", "1d" into seconds.
pub fn parse_duration(s: &str) -> anyhow::Result<u32> {
    let t = s.trim();
    let (num, mult) = match t.char_indices().last() {
        Some((i, 's')) => (&t[..i], 1),
        Some((i, 'm')) => (&t[..i], 60),
        Some((i, 'h')) => (&t[..i], 3600),
        Some((i, 'd')) => (&t[..i], 86_400),
        _ => (t, 1),
    };
    let n: u32 = num
        .trim()
        .parse()
        .with_context(|| format!("duration {s:?}: write e.g. 90s, 30m, 2h or 1d"))?;
    n.checked_mul(mult)
        .with_context(|| format!("duration {s:?} is too long"))
}

const STATES: [&str; 3] = ["open", "completed", "expired"];

fn state_name(s: i8) -> &'static str {
    usize::try_from(s)
        .ok()
        .and_then(|i| STATES.get(i).copied())
        .unwrap_or("not created")
}

/// The account's `get_account_state`: (initialized, balance, epoch, withdraw_at, n_paid).
async fn account_state(
    api: &Toncenter,
    account: &TonAddress,
) -> anyhow::Result<(bool, u128, u64, u32)> {
    let info = api.get_address_information(account).await?;
    if info.state != "active" {
        bail!(
            "no compute account at {account}: check the address, or open one with `spindle client account open`"
        );
    }
    let s = get_ints(api, account, "get_account_state", &[]).await?;
    let n = |i: usize| -> u128 {
        s.get(i)
            .cloned()
            .flatten()
            .and_then(|v| u128::try_from(v).ok())
            .unwrap_or(0)
    };
    // TVM's true is -1.
    let initialized = s
        .first()
        .cloned()
        .flatten()
        .is_some_and(|v| v != spindle_sdk::BigInt::ZERO);
    Ok((initialized, n(1), n(2) as u64, n(3) as u32))
}

/// Refuses evidence the provider's stake would reject: the acceptance must
/// be signed by its operator key (current or previous) for this escrow and
/// nonce, or the slash would bounce and only cost the poster gas.
async fn check_acceptance(
    chain: &ChainArgs,
    api: &Toncenter,
    escrow: &TonAddress,
    provider: &TonAddress,
    sig: &spindle_sdk::Signature,
) -> anyhow::Result<()> {
    let ids = api.run_get_method(escrow, "get_ids", &[]).await?;
    let addr = |i: usize| -> anyhow::Result<TonAddress> {
        let c = ids
            .stack
            .get(i)
            .and_then(|v| v.as_cell())
            .context("escrow get_ids")?;
        Ok(c.parser().load_address()?)
    };
    let hub = addr(0)?;
    let nonce = get_ints(api, escrow, "get_ids", &[])
        .await?
        .get(2)
        .cloned()
        .flatten();
    let nonce = nonce
        .and_then(|n| u64::try_from(n).ok())
        .context("escrow get_ids: nonce")?;
    let stake = super::provider::read_stake(api, &hub, provider)
        .await?
        .with_context(|| {
            format!(
                "--provider {} has no stake under the escrow's hub: check the address",
                chain.wallet(provider)
            )
        })?;
    let s = get_ints(api, &stake.address, "get_stake", &[]).await?;
    let payload = je::Acceptance {
        global_id: chain.global_id,
        escrow: escrow.clone(),
        nonce,
        provider_owner: provider.clone(),
    }
    .payload()?;
    let signed_by = |i: usize| {
        let k = s
            .get(i)
            .cloned()
            .flatten()
            .and_then(|k| k.to_biguint())
            .map(|k| k.to_bytes_be());
        k.and_then(|b| {
            let mut key = [0u8; 32];
            (b.len() <= 32).then(|| key[32 - b.len()..].copy_from_slice(&b))?;
            spindle_sdk::VerifyingKey::from_bytes(&key).ok()
        })
        .is_some_and(|k| spindle_sdk::signing::verify(&k, &payload, sig).is_ok())
    };
    if !(signed_by(4) || signed_by(5)) {
        bail!(
            "--acceptance is not the provider's operator signature for this job (escrow {}, nonce {nonce}): \
             copy it from the relayer's GET /v1/jobs/<escrow>/acceptance, or expire without evidence",
            chain.contract(escrow)
        );
    }
    Ok(())
}

/// The account's client (`get_account_ids`: hub, client, nonce).
async fn account_client(api: &Toncenter, account: &TonAddress) -> anyhow::Result<TonAddress> {
    let r = api.run_get_method(account, "get_account_ids", &[]).await?;
    let cell = r
        .stack
        .get(1)
        .and_then(|v| v.as_cell())
        .context("get_account_ids returned no client")?;
    Ok(cell.parser().load_address()?)
}

pub async fn run(args: ClientArgs) -> anyhow::Result<()> {
    let chain = args.chain;
    match args.command {
        ClientCommand::Job(cmd) => run_job(&chain, cmd).await,
        ClientCommand::Account(cmd) => run_account(&chain, cmd).await,
    }
}

async fn run_job(chain: &ChainArgs, cmd: JobCommand) -> anyhow::Result<()> {
    let api = chain.api();
    let out = chain.output();
    match cmd {
        JobCommand::Create {
            amount,
            spec,
            deadline,
            nonce,
            relayer,
            hub,
            pay,
        } => {
            let wallet = pay.wallet(chain)?;
            let amount = parse(&amount, Asset::Ton)?;
            let secs = parse_duration(&deadline)?;
            let text = std::fs::read_to_string(&spec)
                .with_context(|| format!("cannot read --spec {}", spec.display()))?;
            let spec_json: Value = serde_json::from_str(&text).with_context(|| {
                format!(
                    "--spec {} is not JSON: the spec is the OpenAI request body the job runs",
                    spec.display()
                )
            })?;
            // serde_json's map is sorted and writes no whitespace: these are the
            // canonical bytes relayers hash (sorted keys, compact).
            let spec_hash: [u8; 32] = Sha256::digest(serde_json::to_vec(&spec_json)?).into();
            let hub = hub.address()?;
            let params = hub_params(&api, &hub).await?;
            if amount < params.min_job {
                bail!(
                    "job amount {} is below the hub minimum of {}: put at least {} in escrow",
                    ton(amount),
                    ton(params.min_job),
                    ton(params.min_job)
                );
            }
            if secs < params.min_deadline || secs > params.max_deadline {
                bail!(
                    "--deadline {deadline} is outside the hub's bounds: between {} s and {} s from now",
                    params.min_deadline,
                    params.max_deadline
                );
            }
            check_codes(&api, &hub).await?;
            let nonce = nonce.unwrap_or_else(|| query_id() / 1_000);
            let escrow = job::escrow_address(&hub, wallet.address(), nonce)?;
            if api.get_address_information(&escrow).await?.state == "active" {
                bail!(
                    "your job nonce {nonce} is already used (escrow {}): pick another --nonce",
                    chain.contract(&escrow)
                );
            }
            let now = chain_now(&api, &hub).await?;
            let job = Job {
                amount,
                deadline: now + secs,
                spec_hash,
            };
            let config = params.escrow_config(crate::stake::code()?);
            let init = je::state_init(job::code()?, &hub, wallet.address(), nonce)?;
            let msg = InternalMessage::new(escrow.clone(), job::create_value(&job, &config))
                .with_state_init(init)
                .with_body(je::create_body(&job, &config, nonce)?);
            wallet.check_funds(chain, &api, msg.value).await?;
            wallet.pay(chain, &api, &pay, "job create", msg).await?;
            let state = job::job_state(&api, &escrow).await?;
            if state.state != je::OPEN {
                bail!(
                    "the escrow at {} is {} instead of open",
                    chain.contract(&escrow),
                    state_name(state.state)
                );
            }
            let submit = json!({
                "escrow": chain.contract(&escrow),
                "client": chain.wallet(wallet.address()),
                "nonce": nonce,
                "spec": spec_json,
            });
            let url = format!(
                "{}/v1/jobs",
                relayer
                    .as_deref()
                    .unwrap_or("<relayer URL>")
                    .trim_end_matches('/')
            );
            out.emit(
                format!(
                    "job escrow {} holds {} until unix time {} (nonce {nonce})\nsubmit it to a relayer:\n  curl -X POST {url} -H 'content-type: application/json' -d '{}'",
                    chain.contract(&escrow),
                    ton(amount),
                    job.deadline,
                    serde_json::to_string(&submit)?
                ),
                json!({
                    "escrow": chain.contract(&escrow),
                    "escrow_raw": address::to_raw(&escrow),
                    "nonce": nonce,
                    "amount_nanoton": amount.to_string(),
                    "deadline": job.deadline,
                    "spec_hash": hex::encode(spec_hash),
                    "submit": {"url": url, "body": submit},
                }),
            );
        }
        JobCommand::Result {
            escrow,
            relayer,
            output,
            pay,
        } => {
            let Wallet::Local(client) = pay.wallet(chain)? else {
                bail!(
                    "reading a result is signed with the client's key: use --key-file, SPINDLE_MNEMONIC or --mnemonic-stdin (a wallet link cannot sign it)"
                );
            };
            let escrow = parse_address("escrow", &escrow)?;
            let r = fetch_result(chain, &client, &escrow, &relayer).await?;
            if let Some(path) = &output {
                std::fs::write(path, &r.body)
                    .with_context(|| format!("cannot write --output {}", path.display()))?;
            }
            let answer: Value = serde_json::from_str(&r.body).unwrap_or(Value::Null);
            let text = answer["choices"][0]["message"]["content"]
                .as_str()
                .or(answer["choices"][0]["text"].as_str())
                .unwrap_or(&r.body);
            out.emit(
                format!(
                    "job {}: result {} ({} prompt + {} completion tokens), signed by worker {}\n\n{text}",
                    chain.contract(&escrow),
                    r.hash,
                    r.prompt_tokens,
                    r.completion_tokens,
                    r.worker_key
                ),
                json!({
                    "escrow": chain.contract(&escrow),
                    "result_hash": r.hash,
                    "prompt_tokens": r.prompt_tokens,
                    "completion_tokens": r.completion_tokens,
                    "worker_key": r.worker_key,
                    "result": r.body,
                }),
            );
        }
        JobCommand::Status { escrow } => {
            let escrow = parse_address("escrow", &escrow)?;
            if api.get_address_information(&escrow).await?.state != "active" {
                bail!(
                    "no job escrow at {}: check the address (or the job was never created)",
                    chain.contract(&escrow)
                );
            }
            let s = job::job_state(&api, &escrow).await?;
            out.emit(
                format!(
                    "escrow     {}\nstate      {}\namount     {}\ndeadline   unix time {}\ndelivered  {}\nslashed    {}",
                    chain.contract(&escrow),
                    state_name(s.state),
                    ton(s.amount),
                    s.deadline,
                    s.delivered,
                    s.slashed
                ),
                json!({
                    "escrow": chain.contract(&escrow),
                    "state": state_name(s.state),
                    "amount_nanoton": s.amount.to_string(),
                    "deadline": s.deadline,
                    "delivered": s.delivered,
                    "slashed": s.slashed,
                    "spec_hash": hex::encode(s.spec_hash),
                }),
            );
        }
        JobCommand::Expire {
            escrow,
            provider,
            acceptance,
            pay,
        } => {
            let wallet = pay.wallet(chain)?;
            let escrow = parse_address("escrow", &escrow)?;
            if api.get_address_information(&escrow).await?.state != "active" {
                bail!(
                    "no job escrow at {}: check the address",
                    chain.contract(&escrow)
                );
            }
            let s = job::job_state(&api, &escrow).await?;
            let evidence = match (provider, acceptance) {
                (Some(p), Some(sig)) => {
                    let p = parse_address("--provider", &p)?;
                    let bytes: [u8; 64] = hex::decode(sig.trim())
                        .ok()
                        .and_then(|b| b.try_into().ok())
                        .context("--acceptance is 128 hex digits (an ed25519 signature)")?;
                    let sig = spindle_sdk::Signature::from_bytes(&bytes);
                    check_acceptance(chain, &api, &escrow, &p, &sig).await?;
                    Some((p, sig))
                }
                _ => None,
            };
            if s.state != je::OPEN && evidence.is_none() {
                bail!(
                    "the job is already {}: nothing to expire",
                    state_name(s.state)
                );
            }
            let grace = get_ints(&api, &escrow, "get_config", &[])
                .await?
                .get(2)
                .cloned()
                .flatten();
            let grace: u32 = grace
                .and_then(|g| u32::try_from(g).ok())
                .context("escrow get_config")?;
            let now = chain_now(&api, &escrow).await?;
            let opens = s.deadline + grace;
            if now <= opens {
                bail!(
                    "too early: the job can be expired after its deadline plus grace, unix time {opens} (in {} s)",
                    opens - now
                );
            }
            let value = if evidence.is_some() {
                job::EXPIRE_SLASH_VALUE
            } else {
                job::EXPIRE_VALUE
            };
            let body = je::expire_body(evidence.as_ref().map(|(p, s)| (p, s)), query_id())?;
            let msg = InternalMessage::new(escrow.clone(), value).with_body(body);
            wallet.check_funds(chain, &api, msg.value).await?;
            wallet.pay(chain, &api, &pay, "job expire", msg).await?;
            let after = job::job_state(&api, &escrow).await?;
            out.emit(
                format!(
                    "job {} expired: {} refunded to the client{}",
                    chain.contract(&escrow),
                    ton(after.amount),
                    if after.slashed { "; the provider's stake is slashed" } else { "" }
                ),
                json!({"escrow": chain.contract(&escrow), "state": state_name(after.state), "refunded_nanoton": after.amount.to_string(), "slashed": after.slashed}),
            );
        }
    }
    Ok(())
}

async fn run_account(chain: &ChainArgs, cmd: AccountCommand) -> anyhow::Result<()> {
    let api = chain.api();
    let out = chain.output();
    match cmd {
        AccountCommand::Open {
            amount,
            nonce,
            hub,
            pay,
        } => {
            let wallet = pay.wallet(chain)?;
            let amount = parse(&amount, Asset::Ton)?;
            let hub = hub.address()?;
            let params = hub_params(&api, &hub).await?;
            check_codes(&api, &hub).await?;
            let code = spindle_sdk::artifact!("compute_account")?.code;
            let init = ca::state_init(code, &hub, wallet.address(), nonce)?;
            let account = init.address(0)?;
            if api.get_address_information(&account).await?.state == "active" {
                bail!(
                    "you already have account {} with nonce {nonce}: deposit into it with `spindle client account deposit`, or pick another --nonce",
                    chain.contract(&account)
                );
            }
            let body = ca::init_body(&params.account_params(crate::stake::code()?), query_id())?;
            let value = amount + CA_RESERVE + CA_GAS_INIT * BASECHAIN_GAS_PRICE;
            let msg = InternalMessage::new(account.clone(), value)
                .with_state_init(init)
                .with_body(body);
            wallet.check_funds(chain, &api, msg.value).await?;
            wallet.pay(chain, &api, &pay, "account open", msg).await?;
            let (_, balance, _, _) = account_state(&api, &account).await?;
            out.emit(
                format!(
                    "compute account {} is open with {}; bind it to an API key at a relayer gateway",
                    chain.contract(&account),
                    ton(balance)
                ),
                json!({"account": chain.contract(&account), "account_raw": address::to_raw(&account), "nonce": nonce, "balance_nanoton": balance.to_string()}),
            );
        }
        AccountCommand::Deposit {
            account,
            amount,
            pay,
        } => {
            let wallet = pay.wallet(chain)?;
            let amount = parse(&amount, Asset::Ton)?;
            let account = parse_address("account", &account)?;
            let (init, before, _, _) = account_state(&api, &account).await?;
            if !init {
                bail!(
                    "the account at {} is not initialised: open it with `spindle client account open`",
                    chain.contract(&account)
                );
            }
            let value = amount + CA_GAS_DEPOSIT * BASECHAIN_GAS_PRICE;
            let msg = InternalMessage::new(account.clone(), value)
                .with_body(ca::simple_body(ca_op::DEPOSIT, query_id())?);
            wallet.check_funds(chain, &api, msg.value).await?;
            wallet.pay(chain, &api, &pay, "deposit", msg).await?;
            let (_, after, _, _) = account_state(&api, &account).await?;
            out.emit(
                format!("deposited {}: account {} holds {}", ton(after.saturating_sub(before)), chain.contract(&account), ton(after)),
                json!({"account": chain.contract(&account), "deposited_nanoton": after.saturating_sub(before).to_string(), "balance_nanoton": after.to_string()}),
            );
        }
        AccountCommand::Balance { account } => {
            let account = parse_address("account", &account)?;
            let (init, balance, epoch, withdraw_at) = account_state(&api, &account).await?;
            let client = account_client(&api, &account).await?;
            let withdrawal = if withdraw_at == 0 {
                "none requested".to_string()
            } else {
                format!("requested, available from unix time {withdraw_at}")
            };
            out.emit(
                format!(
                    "account     {}\nclient      {}\nbalance     {}\nepoch       {epoch}\nwithdrawal  {withdrawal}{}",
                    chain.contract(&account),
                    chain.wallet(&client),
                    ton(balance),
                    if init { "" } else { "\n(not initialised)" }
                ),
                json!({
                    "account": chain.contract(&account),
                    "client": chain.wallet(&client),
                    "initialized": init,
                    "balance_nanoton": balance.to_string(),
                    "epoch": epoch,
                    "withdraw_at": withdraw_at,
                }),
            );
        }
        AccountCommand::Withdraw { account, pay } => {
            let wallet = pay.wallet(chain)?;
            let account = parse_address("account", &account)?;
            let (_, balance, epoch, withdraw_at) = account_state(&api, &account).await?;
            let client = account_client(&api, &account).await?;
            if &client != wallet.address() {
                bail!(
                    "only the account's client {} may withdraw, and this wallet is {}: wrong key or mnemonic?",
                    chain.wallet(&client),
                    chain.wallet(wallet.address())
                );
            }
            if withdraw_at == 0 {
                let value = CA_GAS_REQUEST * BASECHAIN_GAS_PRICE;
                let msg = InternalMessage::new(account.clone(), value)
                    .with_body(ca::simple_body(ca_op::REQUEST_WITHDRAW, query_id())?);
                wallet.check_funds(chain, &api, msg.value).await?;
                wallet
                    .pay(chain, &api, &pay, "withdrawal request", msg)
                    .await?;
                let (_, _, _, at) = account_state(&api, &account).await?;
                out.emit(
                    format!(
                        "withdrawal requested: relayers may still post vouchers until unix time {at}; then run `spindle client account withdraw` again to receive the balance ({} now)",
                        ton(balance)
                    ),
                    json!({"account": chain.contract(&account), "requested": true, "withdraw_at": at, "balance_nanoton": balance.to_string()}),
                );
                return Ok(());
            }
            let now = chain_now(&api, &account).await?;
            if now < withdraw_at {
                bail!(
                    "the grace period is not over: withdraw from unix time {withdraw_at} (in {} s)",
                    withdraw_at - now
                );
            }
            let msg = InternalMessage::new(account.clone(), CA_WITHDRAW_VALUE)
                .with_body(ca::simple_body(ca_op::WITHDRAW, query_id())?);
            wallet.check_funds(chain, &api, msg.value).await?;
            wallet.pay(chain, &api, &pay, "withdraw", msg).await?;
            wait_until(|| async { Ok(account_state(&api, &account).await?.2 > epoch) }).await?;
            out.emit(
                format!("withdrew {} from {} to {}", ton(balance), chain.contract(&account), chain.wallet(wallet.address())),
                json!({"account": chain.contract(&account), "withdrawn_nanoton": balance.to_string()}),
            );
        }
    }
    Ok(())
}

/// Sends `request` to the relayer at `base` and returns its JSON body; a refusal
/// becomes an error quoting the relayer's problem+json `detail` and `hint`.
async fn relayer_json(
    request: reqwest::RequestBuilder,
    base: &str,
    hint: &str,
) -> anyhow::Result<Value> {
    let r = request
        .send()
        .await
        .with_context(|| format!("cannot reach the relayer at {base}"))?;
    let ok = r.status().is_success();
    let v: Value = r.json().await.unwrap_or(Value::Null);
    if !ok {
        bail!(
            "the relayer at {base} refused: {} ({hint})",
            v["detail"].as_str().unwrap_or("no detail")
        );
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::parse_duration;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90").unwrap(), 90);
        assert_eq!(parse_duration("90s").unwrap(), 90);
        assert_eq!(parse_duration("30m").unwrap(), 1800);
        assert_eq!(parse_duration("2h").unwrap(), 7200);
        assert_eq!(parse_duration("1d").unwrap(), 86_400);
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("-1h").is_err());
    }
}

/// A job's result as the relayer returned it (hash checked).
pub(crate) struct JobResult {
    pub body: String,
    pub hash: String,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub worker_key: String,
}

/// `GET /v1/jobs/{escrow}/result` at `relayer`, signed by `client`: the signed read
/// names the escrow, its nonce and the relayer's identity address (read from the
/// relayer), valid for a minute.
pub(crate) async fn fetch_result(
    chain: &ChainArgs,
    client: &crate::onchain::Payer,
    escrow: &TonAddress,
    relayer: &str,
) -> anyhow::Result<JobResult> {
    let base = relayer.trim_end_matches('/');
    let raw = address::to_raw(escrow);
    let http = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(30))
        .build()?;
    let hint = "is this the relayer you submitted the job to?";
    let job = relayer_json(http.get(format!("{base}/v1/jobs/{raw}")), base, hint).await?;
    let nonce = job["nonce"]
        .as_u64()
        .context("the relayer's job status has no nonce")?;
    let creator = parse_address("client", job["client"].as_str().unwrap_or(""))?;
    if creator != client.address {
        bail!(
            "job {} belongs to wallet {}, not to this key's wallet {}: only the job's client can read its result (wrong key?)",
            chain.contract(escrow),
            chain.wallet(&creator),
            chain.wallet(&client.address)
        );
    }
    let overview = relayer_json(http.get(format!("{base}/ui/api/overview")), base, hint).await?;
    let identity = parse_address(
        "relayer",
        overview["network"]["relayer"]
            .as_str()
            .context("the relayer does not say its address (GET /ui/api/overview)")?,
    )?;
    let valid_until = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs() as u32
        + 60;
    let read = je::ResultRead {
        global_id: chain.global_id,
        escrow: escrow.clone(),
        nonce,
        relayer: identity,
        valid_until,
    };
    let signature = spindle_sdk::signing::sign(&client.key, &read.payload()?);
    let v = relayer_json(
        http.get(format!("{base}/v1/jobs/{raw}/result"))
            .header("Spindle-Valid-Until", valid_until.to_string())
            .header("Spindle-Signature", hex::encode(signature.to_bytes())),
        base,
        "is --global-id the network's?",
    )
    .await?;
    let body = v["result"].as_str().unwrap_or("").to_owned();
    let hash = v["result_hash"].as_str().unwrap_or("").to_owned();
    let actual = hex::encode(Sha256::digest(body.as_bytes()));
    if actual != hash {
        bail!(
            "the relayer's result does not match its hash {hash} (got {actual}): do not trust it"
        );
    }
    Ok(JobResult {
        body,
        hash,
        prompt_tokens: v["usage"]["prompt_tokens"].as_u64().unwrap_or(0),
        completion_tokens: v["usage"]["completion_tokens"].as_u64().unwrap_or(0),
        worker_key: v["worker_key"].as_str().unwrap_or("").to_owned(),
    })
}
