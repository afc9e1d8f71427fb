//! `spindle provider …`: a provider's stake under a hub — stake (deploy or top
//! up), rotate the operator key, unbond, withdraw after the unbonding period,
//! and status. The stake lives at the address derived from (hub, owner
//! wallet); the owner is the wallet that signs these commands.

use anyhow::{Context, bail};
use clap::Subcommand;
use serde_json::json;
use spindle_sdk::message::InternalMessage;
use spindle_sdk::protocol::provider_stake::{self as ps, BASECHAIN_GAS_PRICE, op};
use spindle_sdk::toncenter::{StackValue, Toncenter};
use spindle_sdk::{TonAddress, VerifyingKey, address};

use super::amount::{Asset, parse, ton};
use super::chain::{ChainArgs, HubArg, chain_now, hub_params, parse_address};
use super::pay::{PayArgs, Wallet};
use crate::onchain::get_ints;

/// The stake's rent reserve (`ps::reserve`), never part of the stake.
pub(crate) const RESERVE: u128 = 10_000_000;
/// Gas budgets (provider_stake.fc) the stake charges from the value.
pub(crate) const GAS_INIT: u128 = 8_000;
const GAS_TOP_UP: u128 = 7_000;
/// What an owner op (set_operator, unbond, withdraw) needs: gas(7000) + a
/// forward lump, with a margin; the unused part returns with withdraw.
const OWNER_OP_VALUE: u128 = 10_000_000;

#[derive(Debug, clap::Args)]
pub struct ProviderArgs {
    #[command(subcommand)]
    pub command: ProviderCommand,
    #[command(flatten)]
    pub chain: ChainArgs,
}

#[derive(Debug, Subcommand)]
pub enum ProviderCommand {
    /// Stake TON under the hub (deploys your stake, or tops it up).
    ///
    /// The first stake must be at least the hub's minimum and names the operator
    /// key (ed25519 public key, 64 hex digits) your workers sign with; keep the
    /// owner key cold. Exactly AMOUNT becomes the stake; the rent reserve and gas
    /// are added on top.
    ///
    /// Example: SPINDLE_MNEMONIC="word1 … word24" spindle provider stake 10 --operator-key 3b6a…e1 --hub EQ…
    Stake {
        /// TON to stake, e.g. 10 or 12.5.
        amount: String,
        /// The operator's public key (64 hex digits); needed for the first stake.
        #[arg(long, value_name = "HEX")]
        operator_key: Option<String>,
        #[command(flatten)]
        hub: HubArg,
        #[command(flatten)]
        pay: PayArgs,
    },
    /// Replace the operator key (once per unbonding period; the old key stays valid as evidence).
    ///
    /// Example: spindle provider set-operator 9f1c…07 --key-file owner.key --hub EQ…
    SetOperator {
        /// The new operator public key (64 hex digits).
        #[arg(value_name = "HEX")]
        operator_key: String,
        #[command(flatten)]
        hub: HubArg,
        #[command(flatten)]
        pay: PayArgs,
    },
    /// Request unbonding: no new jobs from now; withdraw after the unbonding period.
    ///
    /// Example: spindle provider unbond --key-file owner.key --hub EQ…
    Unbond {
        #[command(flatten)]
        hub: HubArg,
        #[command(flatten)]
        pay: PayArgs,
    },
    /// Withdraw the stake and earnings to the owner wallet, once the unbonding period is over.
    ///
    /// Example: spindle provider withdraw --key-file owner.key --hub EQ…
    Withdraw {
        #[command(flatten)]
        hub: HubArg,
        #[command(flatten)]
        pay: PayArgs,
    },
    /// Show a stake: amount, earnings, unbonding, operator key.
    ///
    /// Example: spindle provider status --owner UQ… --hub EQ…
    Status {
        /// The provider's owner wallet.
        #[arg(long, value_name = "ADDRESS")]
        owner: String,
        #[command(flatten)]
        hub: HubArg,
    },
}

/// What `get_stake` reports, plus the stake's own unbonding period.
#[derive(Debug, Clone)]
pub struct StakeInfo {
    pub address: TonAddress,
    pub stake: u128,
    pub earned: u128,
    pub unbond_at: u32,
    pub rotated_at: u32,
    pub operator_key: String,
    pub unbond_period: u32,
}

fn stake_address(hub: &TonAddress, owner: &TonAddress) -> anyhow::Result<TonAddress> {
    Ok(ps::state_init(crate::stake::code()?, hub, owner)?.address(0)?)
}

/// Reads the stake of `owner` under `hub`; `None` if it is not deployed.
pub async fn read_stake(
    api: &Toncenter,
    hub: &TonAddress,
    owner: &TonAddress,
) -> anyhow::Result<Option<StakeInfo>> {
    let address = stake_address(hub, owner)?;
    let info = api.get_address_information(&address).await?;
    if info.state != "active" {
        return Ok(None);
    }
    let r = api.run_get_method(&address, "get_stake", &[]).await;
    let Ok(r) = r else { return Ok(None) };
    if r.exit_code != 0 {
        return Ok(None);
    }
    let s = get_ints(api, &address, "get_stake", &[]).await?;
    let n = |i: usize| -> u128 {
        s.get(i)
            .cloned()
            .flatten()
            .and_then(|v| u128::try_from(v).ok())
            .unwrap_or(0)
    };
    let cfg = api.run_get_method(&address, "get_config", &[]).await?;
    let cell = cfg
        .stack
        .first()
        .and_then(StackValue::as_cell)
        .context("stake get_config returned no cell")?;
    let mut p = cell.parser();
    p.skip_bits(256 + 16)?;
    p.load_address()?;
    p.skip_bits(16)?;
    p.load_coins()?;
    let unbond_period = p.load_u32(32)?;
    Ok(Some(StakeInfo {
        address,
        stake: n(0),
        earned: n(1),
        unbond_at: n(2) as u32,
        rotated_at: n(3) as u32,
        operator_key: format!("{:064x}", s.get(4).cloned().flatten().unwrap_or_default()),
        unbond_period,
    }))
}

fn operator_key(s: &str) -> anyhow::Result<VerifyingKey> {
    let bytes: [u8; 32] = hex::decode(s.trim())
        .ok()
        .and_then(|b| b.try_into().ok())
        .with_context(|| {
            format!("operator key {s:?} is not 64 hex digits (an ed25519 public key)")
        })?;
    VerifyingKey::from_bytes(&bytes)
        .map_err(|e| anyhow::anyhow!("operator key {s:?} is not a valid ed25519 public key: {e}"))
}

fn in_secs(secs: u32) -> String {
    match secs {
        s if s >= 86_400 => format!("{}d {}h", s / 86_400, s % 86_400 / 3600),
        s if s >= 3600 => format!("{}h {}m", s / 3600, s % 3600 / 60),
        s if s >= 60 => format!("{}m {}s", s / 60, s % 60),
        s => format!("{s}s"),
    }
}

/// The owner's stake, or an error saying how to create it; also checks that
/// the signing wallet is the owner.
async fn owned_stake(
    chain: &ChainArgs,
    api: &Toncenter,
    hub: &TonAddress,
    wallet: &Wallet,
) -> anyhow::Result<StakeInfo> {
    read_stake(api, hub, wallet.address()).await?.with_context(|| {
        format!(
            "wallet {} has no stake under hub {}: wrong key or mnemonic, or stake first with `spindle provider stake`",
            chain.wallet(wallet.address()),
            chain.contract(hub)
        )
    })
}

pub async fn run(args: ProviderArgs) -> anyhow::Result<()> {
    let chain = args.chain;
    let api = chain.api();
    let out = chain.output();
    match args.command {
        ProviderCommand::Stake {
            amount,
            operator_key: op_key,
            hub,
            pay,
        } => {
            let wallet = pay.wallet(&chain)?;
            let amount = parse(&amount, Asset::Ton)?;
            let hub = hub.address()?;
            let params = hub_params(&api, &hub).await?;
            let existing = read_stake(&api, &hub, wallet.address()).await?;
            let (message, what) = match &existing {
                None => {
                    if amount < params.min_stake {
                        bail!(
                            "stake {} is below the hub minimum of {}: stake at least {}",
                            ton(amount),
                            ton(params.min_stake),
                            ton(params.min_stake)
                        );
                    }
                    let key = operator_key(op_key.as_deref().context(
                        "the first stake names the operator key your workers sign with: add --operator-key HEX (its public key)",
                    )?)?;
                    check_codes(&api, &hub).await?;
                    let escrow_code = crate::job::code()?;
                    let init = ps::state_init(crate::stake::code()?, &hub, wallet.address())?;
                    let value = amount + RESERVE + GAS_INIT * BASECHAIN_GAS_PRICE;
                    let body = ps::init_body(&key, &params.stake_config(escrow_code), query_id())?;
                    (
                        InternalMessage::new(init.address(0)?, value)
                            .with_state_init(init)
                            .with_body(body),
                        "stake",
                    )
                }
                Some(s) => {
                    if s.unbond_at != 0 {
                        bail!(
                            "the stake at {} is unbonding, so it takes no top-ups; withdraw it first",
                            chain.contract(&s.address)
                        );
                    }
                    let value = amount + GAS_TOP_UP * BASECHAIN_GAS_PRICE;
                    let body = ps::simple_body(op::TOP_UP, query_id())?;
                    (
                        InternalMessage::new(s.address.clone(), value).with_body(body),
                        "top-up",
                    )
                }
            };
            wallet.check_funds(&chain, &api, message.value).await?;
            let before = existing.as_ref().map_or(0, |s| s.stake);
            wallet.pay(&chain, &api, &pay, what, message).await?;
            // pay() returns once the stake's transaction is on-chain, so this reads its effect.
            let s = read_stake(&api, &hub, wallet.address())
                .await?
                .context("the stake is not on-chain")?;
            if s.stake <= before {
                bail!(
                    "the stake at {} did not grow (holds {})",
                    chain.contract(&s.address),
                    ton(s.stake)
                );
            }
            out.emit(
                format!("staked {}: stake {} now holds {}", ton(s.stake - before), chain.contract(&s.address), ton(s.stake)),
                json!({"stake_address": chain.contract(&s.address), "staked_nanoton": (s.stake - before).to_string(), "stake_nanoton": s.stake.to_string()}),
            );
        }
        ProviderCommand::SetOperator {
            operator_key: key,
            hub,
            pay,
        } => {
            let wallet = pay.wallet(&chain)?;
            let key = operator_key(&key)?;
            let hub = hub.address()?;
            let s = owned_stake(&chain, &api, &hub, &wallet).await?;
            let now = chain_now(&api, &s.address).await?;
            if now < s.rotated_at + s.unbond_period {
                bail!(
                    "the operator key was set or rotated less than one unbonding period ago (one rotation per period); the next is possible in {}",
                    in_secs(s.rotated_at + s.unbond_period - now)
                );
            }
            let body = ps::set_operator_body(&key, query_id())?;
            let msg = InternalMessage::new(s.address.clone(), OWNER_OP_VALUE).with_body(body);
            wallet.check_funds(&chain, &api, msg.value).await?;
            wallet.pay(&chain, &api, &pay, "set-operator", msg).await?;
            let s = owned_stake(&chain, &api, &hub, &wallet).await?;
            out.emit(
                format!("operator key of {} is now {}", chain.contract(&s.address), s.operator_key),
                json!({"stake_address": chain.contract(&s.address), "operator_key": s.operator_key}),
            );
        }
        ProviderCommand::Unbond { hub, pay } => {
            let wallet = pay.wallet(&chain)?;
            let hub = hub.address()?;
            let s = owned_stake(&chain, &api, &hub, &wallet).await?;
            if s.unbond_at != 0 {
                bail!(
                    "the stake is already unbonding (since unix time {}); withdraw from unix time {}",
                    s.unbond_at,
                    s.unbond_at + s.unbond_period
                );
            }
            let msg = InternalMessage::new(s.address.clone(), OWNER_OP_VALUE)
                .with_body(ps::simple_body(op::UNBOND, query_id())?);
            wallet.check_funds(&chain, &api, msg.value).await?;
            wallet.pay(&chain, &api, &pay, "unbond", msg).await?;
            let s = owned_stake(&chain, &api, &hub, &wallet).await?;
            let at = s.unbond_at + s.unbond_period;
            out.emit(
                format!(
                    "unbonding {} from {}: no new jobs; withdraw with `spindle provider withdraw` from unix time {at} (in {})",
                    ton(s.stake),
                    chain.contract(&s.address),
                    in_secs(s.unbond_period)
                ),
                json!({"stake_address": chain.contract(&s.address), "unbond_at": s.unbond_at, "withdraw_from": at}),
            );
        }
        ProviderCommand::Withdraw { hub, pay } => {
            let wallet = pay.wallet(&chain)?;
            let hub = hub.address()?;
            let s = owned_stake(&chain, &api, &hub, &wallet).await?;
            if s.unbond_at == 0 {
                bail!(
                    "no unbond request: run `spindle provider unbond` first, then withdraw after the unbonding period ({})",
                    in_secs(s.unbond_period)
                );
            }
            let now = chain_now(&api, &s.address).await?;
            let at = s.unbond_at + s.unbond_period;
            if now < at {
                bail!(
                    "the unbonding period is not over: withdraw from unix time {at}, in {}",
                    in_secs(at - now)
                );
            }
            let total = s.stake + s.earned;
            let msg = InternalMessage::new(s.address.clone(), OWNER_OP_VALUE)
                .with_body(ps::simple_body(op::WITHDRAW, query_id())?);
            wallet.check_funds(&chain, &api, msg.value).await?;
            wallet.pay(&chain, &api, &pay, "withdraw", msg).await?;
            out.emit(
                format!("withdrew {} (stake and earnings) from {} to {}", ton(total), chain.contract(&s.address), chain.wallet(wallet.address())),
                json!({"stake_address": chain.contract(&s.address), "withdrawn_nanoton": total.to_string()}),
            );
        }
        ProviderCommand::Status { owner, hub } => {
            let hub = hub.address()?;
            let owner = parse_address("--owner", &owner)?;
            let Some(s) = read_stake(&api, &hub, &owner).await? else {
                bail!(
                    "{} has no stake under hub {} (expected at {}); stake with `spindle provider stake`",
                    chain.wallet(&owner),
                    chain.contract(&hub),
                    chain.contract(&stake_address(&hub, &owner)?)
                );
            };
            let unbonding = if s.unbond_at == 0 {
                "no (serving jobs)".to_string()
            } else {
                format!(
                    "since unix time {}, withdraw from {}",
                    s.unbond_at,
                    s.unbond_at + s.unbond_period
                )
            };
            out.emit(
                format!(
                    "stake        {}\nowner        {}\nstaked       {}\nearned       {}\nunbonding    {unbonding}\noperator key {}",
                    chain.contract(&s.address),
                    chain.wallet(&owner),
                    ton(s.stake),
                    ton(s.earned),
                    s.operator_key
                ),
                json!({
                    "stake_address": chain.contract(&s.address),
                    "stake_address_raw": address::to_raw(&s.address),
                    "owner": chain.wallet(&owner),
                    "stake_nanoton": s.stake.to_string(),
                    "earned_nanoton": s.earned.to_string(),
                    "unbond_at": s.unbond_at,
                    "unbond_period": s.unbond_period,
                    "operator_key": s.operator_key,
                }),
            );
        }
    }
    Ok(())
}

/// A query id unique enough that each call's message is recognisable on-chain.
pub fn query_id() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

/// Refuses to deploy children whose code differs from the hub's: a relayer
/// would not serve them, and slashing evidence would not be accepted.
pub async fn check_codes(api: &Toncenter, hub: &TonAddress) -> anyhow::Result<()> {
    let h = get_ints(api, hub, "get_code_hashes", &[]).await?;
    let ours = [
        crate::job::code()?.cell_hash(),
        crate::stake::code()?.cell_hash(),
        spindle_sdk::artifact!("compute_account")?.code.cell_hash(),
    ];
    for (i, (theirs, ours)) in h.iter().zip(ours).enumerate() {
        let ours = spindle_sdk::BigUint::from_bytes_be(ours.as_slice());
        if theirs.as_ref().and_then(|t| t.to_biguint()) != Some(ours) {
            bail!(
                "the hub's {} code differs from this spindle's: update spindle to the hub's release",
                ["escrow", "stake", "account"][i]
            );
        }
    }
    Ok(())
}
