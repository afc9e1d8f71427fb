//! Scenario (c): a job that expires. Provider B, ten times cheaper than A, comes
//! online and wins a job A's prices cannot fit in its budget; B's operator key
//! signs the acceptance (the coordinator stores it as evidence), then B's GPU
//! host freezes and its worker vanishes. No one else can take the job, so it
//! misses its deadline. The demo moves the devnet's clock past deadline + grace
//! (the deadline is 2 minutes, the grace 1 more: nobody should wait that long to
//! watch),
//! and the coordinator's job poster posts `expire` with the acceptance: the
//! client gets its money back and B's stake is slashed.

use anyhow::{Context, ensure};
use axum::Router;
use axum::extract::Request;
use axum::http::{Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use spindle_sdk::protocol::job_escrow as je;
use spindle_sdk::{TonAddress, address};
use tokio::task::JoinHandle;

use super::escrow::{create, submit};
use super::setup::World;
use super::{Progress, TON, ton, wait_for};
use crate::job;

/// The job's budget: within B's worst case, below A's.
pub const AMOUNT: u128 = TON / 5;
const MAX_TOKENS: u64 = 1024;
/// Job nonces 1.. are the escrow scenario's.
const NONCE: u64 = 1000;
/// The job's deadline, from creation: relayers take only jobs at least 60 s
/// from their deadline when submitted, so 2 minutes.
const DEADLINE_SECS: u32 = 120;

/// What the expired job did on-chain.
pub struct ExpiredRun {
    pub escrow: TonAddress,
    pub amount: u128,
    pub coordinator: usize,
    /// Provider B's stake before the slash.
    pub stake_before: u128,
}

pub async fn run(world: &mut World, p: &mut Progress) -> anyhow::Result<ExpiredRun> {
    p.step("Provider B (10x cheaper) comes online, accepts a job A is too dear for, and vanishes");
    let (backend, host) = frozen_host(world.llama.base_url()).await?;
    let worker = world.start_worker(1, &backend)?;
    world.wait_for_worker(1).await?;
    let spec = json!({
        "model": world.llama.alias(),
        "messages": [{"role": "user", "content": "Write a long story about a lighthouse."}],
        "max_tokens": MAX_TOKENS,
        "temperature": 0,
    });
    // The scheduler skips workers whose worst case (the spec's bytes as prompt
    // tokens, max_tokens generated) exceeds the escrow: only B fits.
    let bytes = serde_json::to_vec(&spec)?.len() as u64;
    ensure!(
        world.providers[0].prices.worst_case(bytes, MAX_TOKENS) > AMOUNT
            && world.providers[1].prices.worst_case(bytes, MAX_TOKENS) <= AMOUNT,
        "the demo's prices no longer single out provider B for this job"
    );
    let config = world.params.escrow_config(crate::stake::code()?);
    let deadline = DEADLINE_SECS.max(world.params.min_deadline);
    let escrow = create(world, NONCE, &spec, AMOUNT, deadline, &config).await?;
    let http = reqwest::Client::new();
    let k = submit(world, &http, &escrow, NONCE, &spec).await?;
    let raw = address::to_raw(&escrow);
    let store = world.relayers[k].node.parts.store.clone();
    wait_for("provider B's acceptance", 60, || async {
        Ok(!store.acceptances(&raw).await?.is_empty())
    })
    .await?;
    world.kill_worker(worker);
    host.abort();
    p.detail(format!(
        "escrow {} ({}, deadline {deadline} s): B's operator signed the acceptance, relayer-{} stored it; B's host is gone",
        address::to_user_friendly(&escrow, true, true),
        ton(AMOUNT),
        k + 1
    ));

    let b = &world.providers[1];
    let stake_before = b.stake.state(&world.api).await?.stake;
    let state = job::job_state(&world.api, &escrow).await?;
    let due = state.deadline + world.params.grace;
    let skip = u64::from(due + 1).saturating_sub(u64::from(world.devnet.now()));
    world.devnet.advance_time(skip);
    world.devnet.produce_block(); // so the API reports the new time at once
    p.detail(format!(
        "devnet clock moved {skip} s, past deadline + {} s grace",
        world.params.grace
    ));
    wait_for("the relayer to expire the job on-chain", 90, || async {
        Ok(job::job_state(&world.api, &escrow).await?.state == je::EXPIRED)
    })
    .await?;
    let after = job::job_state(&world.api, &escrow).await?;
    let slashed = stake_before.saturating_sub(b.stake.state(&world.api).await?.stake);
    p.detail(format!(
        "relayer-{} posted expire with the evidence: client refunded, {}'s stake slashed {}{}",
        k + 1,
        b.name,
        ton(slashed),
        if after.slashed { "" } else { " (NOT slashed)" }
    ));
    Ok(ExpiredRun {
        escrow,
        amount: AMOUNT,
        coordinator: k,
        stake_before,
    })
}

/// Provider B's GPU host as it freezes: health and model listings still answer
/// (passed to the real inference server), generation never does.
async fn frozen_host(upstream: String) -> anyhow::Result<(String, JoinHandle<()>)> {
    let http = reqwest::Client::new();
    let app = Router::new().fallback(move |req: Request| {
        let http = http.clone();
        let url = format!("{}{}", upstream.trim_end_matches('/'), req.uri());
        async move {
            if req.method() != Method::GET {
                return std::future::pending::<Response>().await;
            }
            match http.get(url).send().await {
                Ok(r) => {
                    let status = StatusCode::from_u16(r.status().as_u16())
                        .unwrap_or(StatusCode::BAD_GATEWAY);
                    let body = r.bytes().await.unwrap_or_default();
                    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
                }
                Err(_) => StatusCode::BAD_GATEWAY.into_response(),
            }
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .context("provider B's host")?;
    let url = format!("http://{}", listener.local_addr()?);
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok((url, task))
}
