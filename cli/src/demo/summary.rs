//! The demo's final table: every party's balance change and on-chain fees, the
//! providers' stakes, and each scenario's settlement, all read back from the
//! chain; and the checks that decide the demo's exit code (each compares what
//! the chain holds with what the scenario's prices and the hub's rules say it
//! must hold).

use serde_json::{Value, json};
use spindle_sdk::TonAddress;
use spindle_sdk::address;
use spindle_sdk::protocol::job_escrow as je;
use spindle_sdk::protocol::provider_stake::earned_from_payout;
use spindle_sdk::toncenter::Toncenter;
use spindle_worker::backend::Usage;

use super::TON;
use super::escrow::JobRun;
use super::expire::ExpiredRun;
use super::metered::{MeteredRun, account_balance, paid_to};
use super::setup::World;
use crate::job;
use crate::onchain::{balance, incoming_from};
use crate::stake::StakeState;

/// Nanotons as TON with all nine decimals (never rounded).
pub fn ton(n: u128) -> String {
    format!("{}.{:09} TON", n / TON, n % TON)
}

fn signed_ton(n: i128) -> String {
    let sign = if n < 0 { "-" } else { "+" };
    format!("{sign}{}", ton(n.unsigned_abs()))
}

/// The wallets whose balances the table follows.
fn parties(world: &World) -> Vec<(String, TonAddress)> {
    let mut v = vec![("client".to_owned(), world.client.address.clone())];
    for p in &world.providers {
        v.push((format!("{} owner", p.name), p.owner.address.clone()));
    }
    for (i, r) in world.relayers.iter().enumerate() {
        v.push((format!("relayer-{}", i + 1), r.wallet.address.clone()));
    }
    v.push(("treasury".to_owned(), world.treasury.clone()));
    v
}

/// The contracts that hold the providers' and the client's money over the demo.
fn contracts(world: &World) -> Vec<(String, TonAddress)> {
    let mut v: Vec<(String, TonAddress)> = world
        .providers
        .iter()
        .map(|p| (format!("{} stake", p.name), p.stake.address.clone()))
        .collect();
    v.push(("compute account".to_owned(), world.account.clone()));
    v
}

/// Balances and stakes before the scenarios run.
pub struct Snapshot {
    balances: Vec<u128>,
    /// Each party's last transaction, so fees are counted from here on.
    lts: Vec<u64>,
    stakes: Vec<StakeState>,
    /// The same for [`contracts`].
    contract_balances: Vec<u128>,
    contract_lts: Vec<u64>,
}

impl Snapshot {
    pub async fn read(world: &World) -> anyhow::Result<Snapshot> {
        let mut s = Snapshot {
            balances: Vec::new(),
            lts: Vec::new(),
            stakes: Vec::new(),
            contract_balances: Vec::new(),
            contract_lts: Vec::new(),
        };
        for (_, a) in parties(world) {
            let info = world.api.get_address_information(&a).await?;
            s.balances.push(info.balance);
            s.lts.push(info.last_transaction_id.lt);
        }
        for p in &world.providers {
            s.stakes.push(p.stake.state(&world.api).await?);
        }
        for (_, a) in contracts(world) {
            let info = world.api.get_address_information(&a).await?;
            s.contract_balances.push(info.balance);
            s.contract_lts.push(info.last_transaction_id.lt);
        }
        Ok(s)
    }
}

/// The whole demo, as the chain records it.
pub struct Report {
    json: Value,
    lines: Vec<(String, String)>,
    wallets: Vec<(String, i128, u128)>,
    urls: Vec<(String, String)>,
    checks: Vec<(String, bool)>,
}

impl Report {
    pub async fn read(
        world: &World,
        before: &Snapshot,
        jobs: Vec<JobRun>,
        metered: MeteredRun,
        expired: ExpiredRun,
    ) -> anyhow::Result<Report> {
        let api = &world.api;
        let a = &world.providers[0];
        let b = &world.providers[1];
        let fee_bps = u128::from(world.params.fee_bps);
        let mut checks = Vec::new();
        let mut lines = Vec::new();
        let mut contract_fees = 0u128;

        // (a) escrow jobs: A's stake got price(usage) less the fee, the treasury the fee.
        let mut job_json = Vec::new();
        let mut stake_a_payouts = Vec::new();
        let (mut job_tokens, mut job_paid, mut job_fees) = (0u64, 0u128, 0u128);
        for j in &jobs {
            let state = job::job_state(api, &j.escrow).await?;
            let usage = Usage {
                prompt_tokens: j.prompt_tokens,
                completion_tokens: j.completion_tokens,
                total_tokens: j.prompt_tokens + j.completion_tokens,
                cached_tokens: 0,
            };
            let pay = a.prices.cost(&usage).min(j.amount);
            let fee = pay * fee_bps / 10_000;
            let to_stake = incoming_from(api, &a.stake.address, &j.escrow).await?;
            let to_treasury: u128 = incoming_from(api, &world.treasury, &j.escrow)
                .await?
                .iter()
                .sum();
            let paid: u128 = to_stake.iter().sum();
            checks.push((
                format!("escrow job {} completed on-chain", j.nonce),
                state.state == je::COMPLETED,
            ));
            checks.push((
                format!(
                    "escrow job {}: provider A's stake received price − fee = {}",
                    j.nonce,
                    ton(pay - fee)
                ),
                to_stake == [pay - fee],
            ));
            checks.push((
                format!(
                    "escrow job {}: treasury received the {} fee",
                    j.nonce,
                    ton(fee)
                ),
                to_treasury == fee,
            ));
            stake_a_payouts.extend(to_stake);
            job_tokens += usage.total_tokens;
            job_paid += paid;
            job_fees += to_treasury;
            contract_fees += fees_since(api, &j.escrow, 0).await?;
            job_json.push(json!({
                "escrow": address::to_raw(&j.escrow),
                "nonce": j.nonce,
                "coordinator": format!("relayer-{}", j.coordinator + 1),
                "state": state.state,
                "amount_nanoton": j.amount.to_string(),
                "prompt_tokens": j.prompt_tokens,
                "completion_tokens": j.completion_tokens,
                "provider_paid_nanoton": paid.to_string(),
                "treasury_fee_nanoton": to_treasury.to_string(),
                "result": j.result,
            }));
        }
        lines.push((
            "escrow jobs completed".into(),
            format!(
                "{} of {}",
                checks
                    .iter()
                    .filter(|(w, ok)| *ok && w.ends_with("completed on-chain"))
                    .count(),
                jobs.len()
            ),
        ));
        lines.push(("escrow jobs: tokens".into(), job_tokens.to_string()));
        lines.push((
            "escrow jobs: paid to provider A's stake".into(),
            ton(job_paid),
        ));
        lines.push((
            "escrow jobs: protocol fees (treasury)".into(),
            ton(job_fees),
        ));

        // (b) metered: the account's get_paid equals what the gateway charged.
        let paid = paid_to(api, &world.account, &a.owner.address).await?;
        let voucher_payouts = incoming_from(api, &a.stake.address, &world.account).await?;
        let left = account_balance(api, &world.account).await?;
        checks.push((
            format!(
                "compute account paid the {} the gateway charged",
                ton(metered.charged)
            ),
            metered.charged > 0 && paid == metered.charged,
        ));
        checks.push((
            "provider A's stake received exactly the voucher payouts".into(),
            voucher_payouts.iter().sum::<u128>() == paid,
        ));
        stake_a_payouts.extend(voucher_payouts.iter().copied());
        lines.push(("API requests".into(), metered.requests.to_string()));
        lines.push((
            "API tokens (prompt / completion)".into(),
            format!("{} / {}", metered.prompt_tokens, metered.completion_tokens),
        ));
        lines.push(("API: charged by relayer-1".into(), ton(metered.charged)));
        lines.push((
            format!(
                "API: paid on-chain ({} voucher posts)",
                voucher_payouts.len()
            ),
            ton(paid),
        ));
        lines.push((
            "compute account: deposit / left".into(),
            format!("{} / {}", ton(metered.deposit), ton(left)),
        ));

        // (c) expired: the client got the escrow back, B's stake was slashed.
        let x = job::job_state(api, &expired.escrow).await?;
        let stake_b = b.stake.state(api).await?;
        let slashed = expired.stake_before.saturating_sub(stake_b.stake);
        let expected_slash = (u128::from(world.params.slash_mult_pct) * expired.amount / 100)
            .min(expired.stake_before);
        let refund: u128 = incoming_from(api, &world.client.address, &expired.escrow)
            .await?
            .iter()
            .sum();
        let compensation: u128 = incoming_from(api, &world.client.address, &b.stake.address)
            .await?
            .iter()
            .sum();
        let to_treasury: u128 = incoming_from(api, &world.treasury, &b.stake.address)
            .await?
            .iter()
            .sum();
        checks.push((
            "expired job: expired on-chain with the acceptance as evidence".into(),
            x.state == je::EXPIRED && x.slashed,
        ));
        checks.push((
            format!(
                "expired job: client refunded at least the {}",
                ton(expired.amount)
            ),
            refund >= expired.amount,
        ));
        checks.push((
            format!(
                "expired job: provider B's stake slashed {}",
                ton(expected_slash)
            ),
            slashed == expected_slash,
        ));
        checks.push((
            "expired job: slash proceeds went to the client (up to the job) and the treasury"
                .into(),
            compensation + to_treasury > 0 && compensation <= expired.amount,
        ));
        contract_fees += fees_since(api, &expired.escrow, 0).await?;
        lines.push(("expired job: client refunded".into(), ton(refund)));
        lines.push((
            "expired job: provider B's stake slashed".into(),
            ton(slashed),
        ));
        lines.push((
            "expired job: slash paid to the client".into(),
            ton(compensation),
        ));
        lines.push((
            "expired job: slash paid to the treasury".into(),
            ton(to_treasury),
        ));
        let reporter = &world.relayers[expired.coordinator].wallet.address;
        let finder: u128 = incoming_from(api, reporter, &b.stake.address)
            .await?
            .iter()
            .sum();
        lines.push((
            format!(
                "expired job: finder's fee to relayer-{}",
                expired.coordinator + 1
            ),
            ton(finder),
        ));

        // A's stake earned each payout less its receive gas, and nothing else.
        let stake_a = a.stake.state(api).await?;
        let earned = stake_a.earned - before.stakes[0].earned;
        let expected: u128 = stake_a_payouts.iter().map(|&v| earned_from_payout(v)).sum();
        checks.push((
            format!(
                "provider A's stake earned {} (each payout less its receive gas)",
                ton(expected)
            ),
            earned == expected && expected > 0,
        ));
        lines.push(("provider A: stake earned".into(), ton(earned)));

        // Every wallet's balance change and the fees its own transactions paid.
        let mut wallets = Vec::new();
        let mut party_json = Vec::new();
        let mut wallet_fees = 0u128;
        for (i, (name, addr)) in parties(world).into_iter().enumerate() {
            let after = balance(api, &addr).await?;
            let fees = fees_since(api, &addr, before.lts[i]).await?;
            wallet_fees += fees;
            let change = after as i128 - before.balances[i] as i128;
            party_json.push(json!({
                "name": name,
                "address": address::to_raw(&addr),
                "before_nanoton": before.balances[i].to_string(),
                "after_nanoton": after.to_string(),
                "change_nanoton": change.to_string(),
                "fees_nanoton": fees.to_string(),
            }));
            wallets.push((name, change, fees));
        }
        // The stakes and the account: what they took in and paid out, and their own fees.
        let mut contract_json = Vec::new();
        for (i, (name, addr)) in contracts(world).into_iter().enumerate() {
            let after = balance(api, &addr).await?;
            let fees = fees_since(api, &addr, before.contract_lts[i]).await?;
            contract_fees += fees;
            let change = after as i128 - before.contract_balances[i] as i128;
            contract_json.push(json!({
                "name": name,
                "address": address::to_raw(&addr),
                "after_nanoton": after.to_string(),
                "change_nanoton": change.to_string(),
                "fees_nanoton": fees.to_string(),
            }));
            wallets.push((name, change, fees));
        }
        lines.push((
            "on-chain fees: wallets / contracts".into(),
            format!("{} / {}", ton(wallet_fees), ton(contract_fees)),
        ));

        let mut urls = vec![("toncenter API".to_owned(), world.server.url.clone())];
        for (i, r) in world.relayers.iter().enumerate() {
            urls.push((format!("relayer-{} API", i + 1), format!("{}/v1", r.url)));
            urls.push((
                format!("relayer-{} dashboard", i + 1),
                format!("{}/ui", r.url),
            ));
            urls.push((
                format!("relayer-{} metrics", i + 1),
                format!("{}/metrics", r.url),
            ));
        }
        let json = json!({
            "escrow_jobs": job_json,
            "metered": {
                "account": address::to_raw(&world.account),
                "provider_owner": address::to_raw(&a.owner.address),
                "requests": metered.requests,
                "prompt_tokens": metered.prompt_tokens,
                "completion_tokens": metered.completion_tokens,
                "charged_nanoton": metered.charged.to_string(),
                "voucher_paid_nanoton": paid.to_string(),
                "voucher_posts": voucher_payouts.len(),
                "deposit_nanoton": metered.deposit.to_string(),
                "left_nanoton": left.to_string(),
            },
            "expired_job": {
                "escrow": address::to_raw(&expired.escrow),
                "coordinator": format!("relayer-{}", expired.coordinator + 1),
                "amount_nanoton": expired.amount.to_string(),
                "state": x.state,
                "slashed": x.slashed,
                "client_refunded_nanoton": refund.to_string(),
                "stake_slashed_nanoton": slashed.to_string(),
                "slash_to_client_nanoton": compensation.to_string(),
                "slash_to_treasury_nanoton": to_treasury.to_string(),
                "finder_fee_nanoton": finder.to_string(),
            },
            "providers": world.providers.iter().enumerate().map(|(i, p)| json!({
                "name": p.name,
                "owner": address::to_raw(&p.owner.address),
                "stake": address::to_raw(&p.stake.address),
                "stake_before_nanoton": before.stakes[i].stake.to_string(),
                "earned_before_nanoton": before.stakes[i].earned.to_string(),
            })).collect::<Vec<_>>(),
            "provider_a_earned_nanoton": earned.to_string(),
            "parties": party_json,
            "contracts": contract_json,
            "fees_nanoton": {"wallets": wallet_fees.to_string(), "contracts": contract_fees.to_string()},
            "urls": urls.iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect::<serde_json::Map<_, _>>(),
            "checks": checks.iter().map(|(w, ok)| json!({"check": w, "ok": ok})).collect::<Vec<_>>(),
        });
        Ok(Report {
            json,
            lines,
            wallets,
            urls,
            checks,
        })
    }

    pub fn json(&self) -> &Value {
        &self.json
    }

    /// The checks that failed (empty: every expected settlement is on-chain).
    pub fn failed_checks(&self) -> Vec<String> {
        self.checks
            .iter()
            .filter(|(_, ok)| !ok)
            .map(|(w, _)| w.clone())
            .collect()
    }

    pub fn print(&self) {
        println!("\nSpindle demo: what the chain holds\n");
        for (what, value) in &self.lines {
            println!("  {what:<44} {value:>28}");
        }
        println!(
            "\n  {:<44} {:>20} {:>18}",
            "wallet / contract", "balance change", "fees paid"
        );
        for (name, change, fees) in &self.wallets {
            println!(
                "  {name:<44} {:>20} {:>18}",
                signed_ton(*change),
                ton(*fees)
            );
        }
        println!("\n  checks against the chain:");
        for (what, ok) in &self.checks {
            println!("  {} {what}", if *ok { "ok  " } else { "FAIL" });
        }
        println!("\n  where to look:");
        for (what, url) in &self.urls {
            println!("  {what:<22} {url}");
        }
    }
}

/// The fees of `address`'s transactions after logical time `lt` (its last 100).
async fn fees_since(api: &Toncenter, address: &TonAddress, lt: u64) -> anyhow::Result<u128> {
    Ok(api
        .get_transactions(address, 100, None)
        .await?
        .iter()
        .filter(|t| t.transaction_id.lt > lt)
        .map(|t| t.fee)
        .sum())
}
