//! Scenario (b): metered inference. The client opens a compute account from its
//! wallet and calls relayer 1's OpenAI-compatible API with an API key bound to
//! it; relayer 1 (the account's home gateway) meters every request, and its
//! voucher poster collects a 2-of-3 voucher from its peers and posts it, which
//! pays provider A's stake on-chain.

use anyhow::{Context, ensure};
use serde_json::{Value, json};
use spindle_sdk::message::InternalMessage;
use spindle_sdk::protocol::compute_account as ca;
use spindle_sdk::protocol::provider_stake::BASECHAIN_GAS_PRICE;
use spindle_sdk::toncenter::{StackArg, Toncenter};
use spindle_sdk::{TonAddress, address, boc};

use super::setup::{ACCOUNT_NONCE, API_KEY, World};
use super::{Progress, TON, ton, wait_for};
use crate::cmd::client::{CA_GAS_INIT, CA_RESERVE};
use crate::onchain::get_ints;

/// The client's first deposit.
pub const DEPOSIT: u128 = 2 * TON;

/// What the metered scenario did, as the client and the gateway saw it.
pub struct MeteredRun {
    pub requests: usize,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    /// The sum of the gateway's `usage.cost_nanoton`.
    pub charged: u128,
    /// The account's balance right after the deposit.
    pub deposit: u128,
}

const PROMPTS: [&str; 4] = [
    "What is TON?",
    "Name a color.",
    "Say hello in French.",
    "Count to three.",
];

pub async fn run(world: &World, p: &mut Progress, requests: usize) -> anyhow::Result<MeteredRun> {
    p.step(&format!(
        "Client opens a compute account with {} from its wallet",
        ton(DEPOSIT)
    ));
    let code = spindle_sdk::artifact!("compute_account")?.code;
    let init = ca::state_init(code, &world.hub, &world.client.address, ACCOUNT_NONCE)?;
    ensure!(
        init.address(0)? == world.account,
        "the account's address differs from the one relayer 1 bills"
    );
    let body = ca::init_body(&world.params.account_params(crate::stake::code()?), 0)?;
    world
        .client
        .send(
            &world.api,
            vec![
                InternalMessage::new(
                    world.account.clone(),
                    DEPOSIT + CA_RESERVE + CA_GAS_INIT * BASECHAIN_GAS_PRICE,
                )
                .with_state_init(init)
                .with_body(body),
            ],
        )
        .await?;
    let deposit = account_balance(&world.api, &world.account).await?;
    ensure!(deposit > 0, "the compute account did not initialise");
    p.detail(format!(
        "account {} holds {}; API key {API_KEY} bills it at relayer-1",
        address::to_user_friendly(&world.account, true, true),
        ton(deposit)
    ));

    p.step(&format!(
        "Client makes {requests} OpenAI-compatible chat request{}; relayer-1 posts a 2-of-3 voucher",
        if requests == 1 { "" } else { "s" }
    ));
    let base = format!("{}/v1", world.relayers[0].url);
    let http = reqwest::Client::new();
    let mut run = MeteredRun {
        requests,
        prompt_tokens: 0,
        completion_tokens: 0,
        charged: 0,
        deposit,
    };
    for i in 0..requests {
        let prompt = PROMPTS[i % PROMPTS.len()];
        let r: Value = http
            .post(format!("{base}/chat/completions"))
            .bearer_auth(API_KEY)
            .json(
                &json!({"model": world.llama.alias(), "temperature": 0, "max_tokens": 24,
                "messages": [{"role": "user", "content": prompt}]}),
            )
            .send()
            .await?
            .error_for_status()
            .context("the gateway refused a chat request")?
            .json()
            .await?;
        let usage = &r["usage"];
        let cost = u128::from(
            usage["cost_nanoton"]
                .as_u64()
                .context("usage.cost_nanoton missing")?,
        );
        run.charged += cost;
        run.prompt_tokens += usage["prompt_tokens"].as_u64().unwrap_or(0);
        run.completion_tokens += usage["completion_tokens"].as_u64().unwrap_or(0);
        let answer = r["choices"][0]["message"]["content"]
            .as_str()
            .unwrap_or("")
            .replace('\n', " ");
        p.detail(format!(
            "{prompt:?} → {:?} ({} tokens, {})",
            answer.chars().take(60).collect::<String>(),
            usage["total_tokens"],
            ton(cost)
        ));
    }
    // The node's voucher poster passes every 10 s; "confirmed" is the account's
    // get_paid reaching what the gateway charged.
    let owner = &world.providers[0].owner.address;
    wait_for("the voucher to be paid on-chain", 90, || async {
        Ok(paid_to(&world.api, &world.account, owner).await? >= run.charged)
    })
    .await?;
    p.detail(format!(
        "the account paid {} to provider A's stake on a 2-of-3 voucher",
        ton(paid_to(&world.api, &world.account, owner).await?)
    ));
    Ok(run)
}

/// The account's `get_paid` for `owner`'s stake: what its vouchers have paid.
pub async fn paid_to(
    api: &Toncenter,
    account: &TonAddress,
    owner: &TonAddress,
) -> anyhow::Result<u128> {
    let owner_slice = boc::build(|b| b.store_address(owner).map(|_| ()))?;
    let paid = get_ints(
        api,
        account,
        "get_paid",
        &[StackArg::Slice(owner_slice.into())],
    )
    .await?;
    Ok(paid
        .first()
        .cloned()
        .flatten()
        .and_then(|n| u128::try_from(n).ok())
        .unwrap_or(0))
}

/// The account's balance as `get_account_state` reports it.
pub async fn account_balance(api: &Toncenter, account: &TonAddress) -> anyhow::Result<u128> {
    let s = get_ints(api, account, "get_account_state", &[]).await?;
    Ok(s.get(1)
        .cloned()
        .flatten()
        .and_then(|n| u128::try_from(n).ok())
        .unwrap_or(0))
}
