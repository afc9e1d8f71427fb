//! `GET /ui/api/network` and `GET /ui/api/money`: the views that join this
//! relayer's store and workers with what the chain holds.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};
use spindle_sdk::address;

use super::{Dash, store_error};
use crate::gateway::problem::Problem;

/// Days of relayer fees the money view shows unless asked.
const DEFAULT_DAYS: u32 = 14;
const MAX_DAYS: u32 = 90;

/// An address in the raw form the store keys by; unparsable ones stay as written.
fn raw(a: &str) -> String {
    address::parse_address(a).map_or_else(|_| a.to_owned(), |a| address::to_raw(&a))
}

fn not_connected() -> Value {
    json!({"error": "this dashboard is not connected to the chain"})
}

/// Hub parameters, the relayer set with who is online, and every provider this
/// relayer knows of (configured, connected or paid) with its stake and workers.
pub(crate) async fn network(State(dash): State<Arc<Dash>>) -> Result<axum::Json<Value>, Problem> {
    let ui = &dash.ui;
    let hub = match &dash.live.chain {
        Some(c) => c.hub().await,
        None => not_connected(),
    };
    let members = dash.peers.members(&dash.live.members).await;
    let online = members.iter().filter(|m| m["online"] == true).count();

    // Providers: owner (raw) → operator keys (hex) known for it.
    let mut providers: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let workers = ui
        .gateway
        .as_ref()
        .map(|g| g.pool.workers())
        .unwrap_or_default();
    if let Some(g) = &ui.gateway {
        for p in &g.config.providers {
            providers
                .entry(raw(&p.owner))
                .or_default()
                .insert(p.operator_key.to_lowercase());
        }
    }
    for w in &workers {
        providers
            .entry(address::to_raw(&w.owner))
            .or_default()
            .insert(hex::encode(w.operator_key.as_bytes()));
    }
    for e in ui.store.job_earnings().await.map_err(store_error)? {
        providers.entry(raw(&e.provider)).or_default();
    }
    for p in ui.store.all_pairs().await.map_err(store_error)? {
        providers.entry(raw(&p.provider)).or_default();
    }
    let outcomes = ui.store.worker_outcomes().await.map_err(store_error)?;

    let mut list = Vec::new();
    for (owner, mut keys) in providers {
        let stake = match (&dash.live.chain, address::parse_address(&owner)) {
            (Some(c), Ok(a)) => c.stake(&a).await,
            (Some(_), Err(e)) => json!({"error": e.to_string()}),
            (None, _) => not_connected(),
        };
        if let Some(k) = stake["operator_key"]
            .as_str()
            .filter(|k| k.trim_matches('0') != "")
        {
            keys.insert(k.to_owned());
        }
        let own: Vec<_> = workers
            .iter()
            .filter(|w| address::to_raw(&w.owner) == owner)
            .collect();
        let mut models: BTreeMap<&str, Value> = BTreeMap::new();
        for w in &own {
            for m in &w.models {
                models
                    .entry(m.id.as_str())
                    .or_insert_with(|| json!({"id": m.id, "prices": m.prices}));
            }
        }
        // How the jobs leased to this provider's keys ended (each job counted once per key).
        let mut ended: BTreeMap<String, u64> = BTreeMap::new();
        for o in outcomes.iter().filter(|o| keys.contains(&o.worker)) {
            *ended.entry(o.state.clone()).or_default() += o.jobs;
        }
        let settled = ended.get("settled").copied().unwrap_or(0);
        let failed = ["expired", "refunded"]
            .iter()
            .map(|s| ended.get(*s).copied().unwrap_or(0))
            .sum::<u64>();
        list.push(json!({
            "owner": owner,
            "operator_keys": keys,
            "stake": stake,
            "workers_online": own.len(),
            "capacity": own.iter().map(|w| w.max_concurrency).sum::<u32>(),
            "in_flight": own.iter().map(|w| w.in_flight).sum::<u32>(),
            "models": models.into_values().collect::<Vec<_>>(),
            "jobs": ended,
            "success_rate": (settled + failed > 0).then(|| settled as f64 / (settled + failed) as f64),
        }));
    }
    Ok(axum::Json(json!({
        "network": ui.info,
        "hub": hub,
        "relayers": {"k": ui.info.k, "n": ui.info.n, "online": online, "members": members},
        "providers": list,
    })))
}

#[derive(Deserialize)]
pub(crate) struct MoneyQuery {
    days: Option<String>,
}

/// Per compute account: on-chain balance and withdrawal, pending charges, last
/// voucher; per provider: earnings; protocol fees; the relayer wallet's fees per day.
pub(crate) async fn money(
    State(dash): State<Arc<Dash>>,
    Query(q): Query<MoneyQuery>,
) -> Result<axum::Json<Value>, Problem> {
    let days = match q.days.as_deref().filter(|d| !d.is_empty()) {
        None => DEFAULT_DAYS,
        Some(d) => d
            .parse::<u32>()
            .ok()
            .filter(|d| (1..=MAX_DAYS).contains(d))
            .ok_or_else(|| {
                Problem::new(
                    StatusCode::BAD_REQUEST,
                    "bad-days",
                    "Bad number of days",
                    format!("days {d:?} is not a whole number from 1 to {MAX_DAYS}"),
                )
            })?,
    };
    let ui = &dash.ui;
    let pairs = ui.store.all_pairs().await.map_err(store_error)?;
    let vouchers = ui.store.vouchers().await.map_err(store_error)?;
    let earnings = ui.store.job_earnings().await.map_err(store_error)?;

    let mut accounts: BTreeSet<String> = pairs.iter().map(|p| raw(&p.account)).collect();
    accounts.extend(vouchers.iter().map(|v| raw(&v.account)));
    if let Some(g) = &ui.gateway {
        accounts.extend(g.config.api_keys.iter().map(|k| raw(&k.account)));
    }
    let mut account_list = Vec::new();
    for account in accounts {
        let mine = pairs.iter().filter(|p| raw(&p.account) == account);
        let (charged, settled) = mine.fold((0u128, 0u128), |(c, s), p| {
            (c + u128::from(p.charged), s + u128::from(p.settled))
        });
        let chain = match (&dash.live.chain, address::parse_address(&account)) {
            (Some(c), Ok(a)) => c.account(&a).await,
            (Some(_), Err(e)) => json!({"error": e.to_string()}),
            (None, _) => not_connected(),
        };
        // Vouchers come newest first.
        let last = vouchers.iter().find(|v| raw(&v.account) == account);
        account_list.push(json!({
            "account": account,
            "chain": chain,
            "charged": charged.to_string(),
            "settled": settled.to_string(),
            "pending": charged.saturating_sub(settled).to_string(),
            "last_voucher": last.map(|v| json!({
                "provider": v.provider,
                "epoch": v.epoch,
                "cumulative": v.cumulative.to_string(),
                "settled": v.settled.to_string(),
                "valid_until": v.valid_until,
                "signed_at": v.updated_at,
                "signature": v.signature,
            })),
        }));
    }

    let mut providers: BTreeMap<String, (u128, u64, u128)> = BTreeMap::new();
    for p in &pairs {
        providers.entry(raw(&p.provider)).or_default().0 += u128::from(p.settled);
    }
    for e in &earnings {
        let entry = providers.entry(raw(&e.provider)).or_default();
        entry.1 += e.jobs;
        entry.2 += u128::from(e.paid);
    }
    let mut provider_list = Vec::new();
    for (provider, (vouchers_settled, jobs, jobs_paid)) in providers {
        let stake = match (&dash.live.chain, address::parse_address(&provider)) {
            (Some(c), Ok(a)) => c.stake(&a).await,
            _ => Value::Null,
        };
        provider_list.push(json!({
            "provider": provider,
            "vouchers_settled": vouchers_settled.to_string(),
            "jobs_settled": jobs,
            "jobs_paid": jobs_paid.to_string(),
            "total": (vouchers_settled + jobs_paid).to_string(),
            "stake_earned": stake.get("earned").cloned(),
        }));
    }

    // The escrow keeps fee_bps of each settled job's pay for the treasury.
    let hub = match &dash.live.chain {
        Some(c) => c.hub().await,
        None => not_connected(),
    };
    let jobs_paid: u128 = earnings.iter().map(|e| u128::from(e.paid)).sum();
    let fee_bps = hub["fee_bps"].as_u64().map(u128::from);
    let relayer_fees = match (&dash.live.chain, &dash.live.wallet) {
        (Some(c), Some(w)) => c.fees_per_day(w, days).await,
        _ => not_connected(),
    };
    Ok(axum::Json(json!({
        "days": days,
        "accounts": account_list,
        "providers": provider_list,
        "protocol_fees": {
            "fee_bps": fee_bps,
            "jobs_paid": jobs_paid.to_string(),
            "fees": fee_bps.map(|bps| (jobs_paid * bps / 10_000).to_string()),
        },
        "relayer_wallet": dash.live.wallet.as_ref().map(address::to_raw),
        "relayer_fees": relayer_fees,
    })))
}
