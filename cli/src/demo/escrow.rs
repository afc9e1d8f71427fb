//! Scenario (a): escrow jobs. The client deploys and pays one job_escrow per job
//! from its wallet and submits the spec to the job's coordinator relayer, whose
//! scheduler leases it to provider A's worker; the coordinator collects a second
//! relayer's signature and posts `complete`, which pays A's stake its price for
//! the tokens (less the protocol fee), the treasury the fee and the client the
//! rest. The client then fetches its result, signing the read with its key.

use anyhow::{Context, ensure};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use spindle_relayer::settle::job_signer::coordinator;
use spindle_sdk::protocol::job_escrow::{self as je, Job};
use spindle_sdk::{TonAddress, address};

use super::setup::World;
use super::{Progress, TON, ton, wait_for};
use crate::cmd::chain::ChainArgs;
use crate::cmd::client::JobResult;
use crate::job;

/// What each escrow job puts in escrow: the most it may cost.
pub const JOB_AMOUNT: u128 = TON / 2;
/// Escrow-job deadlines, from creation.
const DEADLINE_SECS: u32 = 600;

const TASKS: [&str; 3] = [
    "Write one sentence about GPUs.",
    "What is a blockchain? One sentence.",
    "Name two planets.",
];

/// One completed escrow job, as the client saw it.
pub struct JobRun {
    pub escrow: TonAddress,
    pub nonce: u64,
    pub amount: u128,
    /// Which relayer (0-based) coordinated it.
    pub coordinator: usize,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub result: String,
}

pub async fn run(world: &World, p: &mut Progress, jobs: usize) -> anyhow::Result<Vec<JobRun>> {
    p.step(&format!(
        "Client funds {jobs} escrow job{} of {} from its wallet; relayers lease them to provider A",
        if jobs == 1 { "" } else { "s" },
        ton(JOB_AMOUNT)
    ));
    let http = reqwest::Client::new();
    let config = world.params.escrow_config(crate::stake::code()?);
    let mut runs = Vec::new();
    for i in 0..jobs {
        let nonce = i as u64 + 1;
        let spec = json!({
            "model": world.llama.alias(),
            "messages": [{"role": "user", "content": TASKS[i % TASKS.len()]}],
            "max_tokens": 32,
            "temperature": 0,
        });
        let escrow = create(world, nonce, &spec, JOB_AMOUNT, DEADLINE_SECS, &config).await?;
        let k = submit(world, &http, &escrow, nonce, &spec).await?;
        p.detail(format!(
            "job {nonce}: escrow {} → coordinator relayer-{}",
            address::to_user_friendly(&escrow, true, true),
            k + 1
        ));
        runs.push(JobRun {
            escrow,
            nonce,
            amount: JOB_AMOUNT,
            coordinator: k,
            prompt_tokens: 0,
            completion_tokens: 0,
            result: String::new(),
        });
    }
    for run in &mut runs {
        wait_for("the escrow job to complete on-chain", 240, || async {
            Ok(job::job_state(&world.api, &run.escrow).await?.state == je::COMPLETED)
        })
        .await?;
        let r = fetch_result(world, run).await?;
        run.prompt_tokens = r.prompt_tokens;
        run.completion_tokens = r.completion_tokens;
        let body: Value = serde_json::from_str(&r.body)
            .context("the stored result is not the OpenAI response")?;
        run.result = body["choices"][0]["message"]["content"]
            .as_str()
            .unwrap_or("")
            .replace('\n', " ");
        p.detail(format!(
            "job {} completed on-chain; result ({} tokens): {:?}",
            run.nonce,
            run.prompt_tokens + run.completion_tokens,
            run.result.chars().take(60).collect::<String>()
        ));
    }
    Ok(runs)
}

/// The client deploys and pays escrow `nonce` for `spec` (its canonical bytes'
/// hash is what the escrow holds); returns the escrow's address once it is open.
pub async fn create(
    world: &World,
    nonce: u64,
    spec: &Value,
    amount: u128,
    deadline_secs: u32,
    config: &je::Config,
) -> anyhow::Result<TonAddress> {
    let spec_hash: [u8; 32] = Sha256::digest(serde_json::to_vec(spec)?).into();
    let now = crate::cmd::chain::chain_now(&world.api, &world.hub).await?;
    let job = Job {
        amount,
        deadline: now + deadline_secs,
        spec_hash,
    };
    let escrow =
        job::create_job(&world.api, &world.client, &world.hub, nonce, &job, config).await?;
    let state = job::job_state(&world.api, &escrow).await?;
    ensure!(
        state.state == je::OPEN,
        "escrow {nonce} is in state {} instead of open",
        state.state
    );
    Ok(escrow)
}

/// Submits the job to its coordinator's job API; returns the coordinator's index.
pub async fn submit(
    world: &World,
    http: &reqwest::Client,
    escrow: &TonAddress,
    nonce: u64,
    spec: &Value,
) -> anyhow::Result<usize> {
    let k = coordinator(&address::to_raw(escrow), 0, world.relayers.len());
    let body = json!({
        "escrow": address::to_raw(escrow),
        "client": address::to_raw(&world.client.address),
        "nonce": nonce,
        "spec": spec,
    });
    let r = http
        .post(format!("{}/v1/jobs", world.relayers[k].url))
        .json(&body)
        .send()
        .await?;
    ensure!(
        r.status() == 202,
        "relayer-{} refused the job: {}",
        k + 1,
        r.text().await.unwrap_or_default()
    );
    Ok(k)
}

/// The client reads its result as `spindle client job result` does: a read
/// signed with its wallet's key, the result checked against its hash.
async fn fetch_result(world: &World, run: &JobRun) -> anyhow::Result<JobResult> {
    let chain = ChainArgs {
        api_url: world.server.url.clone(),
        api_key: None,
        global_id: world.global_id,
        json: false,
    };
    let relayer = &world.relayers[run.coordinator].url;
    crate::cmd::client::fetch_result(&chain, &world.client, &run.escrow, relayer).await
}
