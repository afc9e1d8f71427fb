//! `spindle demo`: the whole system on one machine, to settlement.
//!
//! A devnet (the real compiled contracts on a real TVM, behind the toncenter
//! API), a provider who stakes, a client who opens a compute account from its
//! wallet, a relayer gateway, a worker in front of a real CPU inference server
//! (llama.cpp with SmolLM2-135M), OpenAI-compatible requests metered per
//! token, and a 2-of-3 relayer voucher that pays the provider on-chain. Every
//! figure in the final table is read back from the chain.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail, ensure};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use spindle_devnet::{Devnet, DevnetConfig};
use spindle_relayer::Store;
use spindle_relayer::gateway::{
    AllowedProvider, ApiKeyEntry, ComputeAccountBalances, ConfiguredProviders, Gateway,
    GatewayConfig,
};
use spindle_relayer::settle::{PeerApi, PeerRelayer, Poster, Settled, Submitter, VoucherSigner};
use spindle_relayer::ui::{NetworkInfo, Ui};
use spindle_sdk::message::InternalMessage;
use spindle_sdk::protocol::compute_account::{self as ca, Params};
use spindle_sdk::protocol::job_escrow::{
    self as je, Acceptance, Completion, Config as JobConfig, Job,
};
use spindle_sdk::protocol::provider_stake::{self as ps, StakeConfig};
use spindle_sdk::protocol::relayer_set::RelayerSet;
use spindle_sdk::toncenter::{StackArg, Toncenter, ToncenterConfig};
use spindle_sdk::{SigningKey, TonAddress, address, boc};
use spindle_worker::agent::{RelayerEndpoint, WorkerConfig};
use spindle_worker::backend::Endpoint;
use spindle_worker::protocol::Prices;
use spindle_worker::testing::{LlamaServer, LlamaServerConfig};

use crate::onchain::{Payer, balance, get_ints, received_from};
use crate::{job, stake};

const TON: u128 = 1_000_000_000;
const API_KEY: &str = "sk-spindle-demo";

/// Options of `spindle demo`.
#[derive(Debug, Clone, clap::Args)]
pub struct DemoArgs {
    /// OpenAI-compatible chat requests the client makes.
    #[arg(long, default_value_t = 3)]
    pub requests: usize,
    /// Leave the devnet, gateway and worker running after the summary (Ctrl-C stops them).
    #[arg(long)]
    pub keep_running: bool,
    /// Print the summary as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Numbered progress lines on stderr, so `--json` output stays clean.
struct Progress {
    step: usize,
    total: usize,
}

impl Progress {
    fn step(&mut self, what: &str) {
        self.step += 1;
        eprintln!("[{}/{}] {what}", self.step, self.total);
    }
    fn detail(&self, what: impl AsRef<str>) {
        eprintln!("      {}", what.as_ref());
    }
}

pub async fn run(args: DemoArgs) -> anyhow::Result<()> {
    let mut p = Progress { step: 0, total: 9 };

    p.step("Starting the CPU inference server (llama.cpp, SmolLM2-135M)");
    let llama = start_inference(&p).await?;
    p.detail(format!(
        "llama-server pid {} at {}",
        llama.pid(),
        llama.base_url()
    ));

    p.step("Starting the devnet: real contracts, real TVM, toncenter API");
    let devnet = Devnet::new(DevnetConfig {
        block_interval: Some(Duration::from_millis(100)),
        ..DevnetConfig::default()
    })?;
    let server = devnet.serve("127.0.0.1:0".parse()?).await?;
    let api = local_api(&server.url);
    let global_id = devnet.global_id();
    let wallets = devnet.wallets();
    let payer = |i: usize, name: &str| {
        Payer::new(
            name,
            SigningKey::from_bytes(&wallets[i].secret_key),
            global_id,
        )
    };
    let client = payer(0, "client")?;
    let relayer_wallet = payer(1, "relayer-1")?;
    let provider = payer(2, "provider")?;
    p.detail(format!(
        "toncenter API {} (global id {global_id})",
        server.url
    ));

    let relayer_keys: Vec<SigningKey> = (1..=3u8)
        .map(|i| SigningKey::from_bytes(&[i; 32]))
        .collect();
    let set = RelayerSet::new(
        1,
        2,
        relayer_keys.iter().map(|k| k.verifying_key()).collect(),
    )?;
    let hub = devnet.faucet_wallet().address.clone();

    let before = Balances::read(
        &api,
        &[&client.address, &relayer_wallet.address, &provider.address],
    )
    .await?;

    p.step("Provider stakes 10 TON (provider_stake, operator key for its workers)");
    let operator = SigningKey::from_bytes(&[42; 32]);
    let stake_config = StakeConfig {
        escrow_code: spindle_sdk::artifact!("job_escrow")?.code,
        treasury: hub.clone(),
        slash_mult_pct: 200,
        finder_fee: TON / 20,
        unbond_period: 7 * 24 * 3600,
        min_stake: 5 * TON,
    };
    let stake = stake::Stake::deploy(
        &api,
        &provider,
        &hub,
        &operator.verifying_key(),
        &stake_config,
        10 * TON,
    )
    .await?;
    let staked = stake.state(&api).await?.stake;
    ensure!(staked > 0, "the provider's stake did not initialise");
    p.detail(format!(
        "provider_stake {} holds {} at stake",
        address::to_user_friendly(&stake.address, true, true),
        ton(staked)
    ));

    p.step("Client opens a compute account with 2 TON from its wallet");
    let code = spindle_sdk::artifact!("compute_account")?.code;
    let init = ca::state_init(code, &hub, &client.address, 1)?;
    let account = init.address(0)?;
    let params = Params {
        relayers: set.clone(),
        settle_fee: TON / 100,
        grace: 3600,
        stake_code: stake::code()?,
        jetton_wallet: None,
    };
    client
        .send(
            &api,
            vec![
                InternalMessage::new(account.clone(), 2 * TON)
                    .with_state_init(init)
                    .with_body(ca::init_body(&params, 0)?),
            ],
        )
        .await?;
    let deposit = account_balance(&api, &account).await?;
    ensure!(deposit > 0, "the compute account did not initialise");
    p.detail(format!(
        "account {} holds {}",
        address::to_user_friendly(&account, true, true),
        ton(deposit)
    ));

    p.step("Relayer gateway and provider worker come up");
    let relayer_address = relayer_wallet.address.clone();
    let mut gw = GatewayConfig::new(address::to_raw(&relayer_address), global_id);
    gw.api_keys = vec![ApiKeyEntry {
        key: API_KEY.into(),
        account: address::to_raw(&account),
    }];
    gw.providers = vec![AllowedProvider {
        operator_key: hex::encode(operator.verifying_key().as_bytes()),
        owner: address::to_raw(&provider.address),
    }];
    let balances = Arc::new(ComputeAccountBalances::new(
        local_api(&server.url),
        Duration::from_secs(1),
    ));
    // Each relayer keeps its own store (SQLite files here; Postgres for replicas).
    let dir = tempdir()?;
    let mut stores = Vec::new();
    for name in ["a", "b", "c"] {
        stores.push(
            Store::connect(&format!(
                "sqlite://{}",
                dir.join(format!("relayer-{name}.db")).display()
            ))
            .await?,
        );
    }
    let providers =
        Arc::new(ConfiguredProviders::from_config(&gw.providers).map_err(anyhow::Error::msg)?);
    let gateway = Gateway::with_store(gw, balances, providers, stores[0].clone())
        .map_err(anyhow::Error::msg)?;
    // Relayer 1's dashboard, on the gateway's port, shows what its store holds.
    let ui = Arc::new(Ui {
        store: stores[0].clone(),
        info: NetworkInfo {
            network: "devnet".into(),
            global_id,
            hub: Some(address::to_raw(&hub)),
            relayer: address::to_raw(&relayer_address),
            k: set.k,
            n: set.keys.len() as u8,
            explorer: None,
        },
        gateway: Some(gateway.clone()),
        health: None,
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let gateway_addr = listener.local_addr()?;
    let app = gateway.router().merge(ui.router());
    let gateway_task = tokio::spawn(async move {
        axum::serve(spindle_relayer::gateway::with_nodelay(listener), app).await
    });
    let key_file = dir.join("operator.key");
    std::fs::write(&key_file, hex::encode(operator.to_bytes()))?;
    // Demo prices, high enough that a few requests are worth settling on-chain:
    // 200 TON per million prompt tokens, 800 TON per million completion tokens.
    let prices = Prices {
        prompt: 200 * TON as u64,
        cached_prompt: 20 * TON as u64,
        completion: 800 * TON as u64,
    };
    let worker_config = WorkerConfig {
        backend_url: llama.base_url(),
        operator_key_file: key_file,
        owner: address::to_raw(&provider.address),
        max_concurrency: 1,
        relayers: vec![RelayerEndpoint {
            url: format!(
                "ws://{gateway_addr}{}",
                spindle_worker::protocol::CONNECT_PATH
            ),
            address: Some(address::to_raw(&relayer_address)),
        }],
        prices: [(llama.alias().to_owned(), prices)].into(),
        health_interval_ms: 500,
        drain_timeout_secs: 5,
        max_backoff_ms: 2_000,
    };
    let (stop_worker, worker_stopped) = tokio::sync::oneshot::channel::<()>();
    let worker_task = tokio::spawn(spindle_worker::agent::run_until(worker_config, async {
        let _ = worker_stopped.await;
    }));
    // Relayers 2 and 3 serve the peer API through which the home gateway asks
    // for their voucher signatures; each checks the chain and its own store first.
    let signer = |i: usize| {
        Arc::new(VoucherSigner {
            store: stores[i].clone(),
            key: relayer_keys[i].clone(),
            set: set.clone(),
            api: local_api(&server.url),
            global_id,
        })
    };
    let mut peers = Vec::new();
    let mut peer_tasks = Vec::new();
    for i in [1, 2] {
        let others = (0..3)
            .filter(|&j| j != i)
            .map(|j| relayer_keys[j].verifying_key())
            .collect();
        let api = Arc::new(PeerApi {
            signer: signer(i),
            peers: others,
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        peers.push(PeerRelayer {
            url: format!("http://{}", listener.local_addr()?),
            key: relayer_keys[i].verifying_key(),
        });
        peer_tasks.push(tokio::spawn(async move {
            axum::serve(listener, api.router()).await
        }));
    }
    let base = format!("http://{gateway_addr}/v1");
    wait_for_model(&base, llama.alias()).await?;
    p.detail(format!(
        "gateway {base} serves {} (per 1M tokens: prompt {}, completion {})",
        llama.alias(),
        ton(prices.prompt.into()),
        ton(prices.completion.into())
    ));

    p.step(&format!(
        "Client makes {} OpenAI-compatible chat requests",
        args.requests
    ));
    let http = reqwest::Client::new();
    let mut spent: u128 = 0;
    let mut tokens = (0u64, 0u64);
    let prompts = [
        "What is TON?",
        "Name a color.",
        "Say hello in French.",
        "Count to three.",
    ];
    for i in 0..args.requests {
        let prompt = prompts[i % prompts.len()];
        let r: Value = http
            .post(format!("{base}/chat/completions"))
            .bearer_auth(API_KEY)
            .json(
                &json!({"model": llama.alias(), "temperature": 0, "max_tokens": 24,
                "messages": [{"role": "user", "content": prompt}]}),
            )
            .send()
            .await?
            .error_for_status()
            .context("the gateway refused a chat request")?
            .json()
            .await?;
        let usage = &r["usage"];
        let cost = usage["cost_nanoton"]
            .as_u64()
            .context("usage.cost_nanoton missing")? as u128;
        spent += cost;
        tokens.0 += usage["prompt_tokens"].as_u64().unwrap_or(0);
        tokens.1 += usage["completion_tokens"].as_u64().unwrap_or(0);
        let answer = r["choices"][0]["message"]["content"]
            .as_str()
            .unwrap_or("")
            .replace('\n', " ");
        p.detail(format!(
            "{prompt:?} → {:?} ({} tokens, {cost} nanoTON)",
            answer.chars().take(60).collect::<String>(),
            usage["total_tokens"]
        ));
    }

    p.step("Relayer 1 collects a 2-of-3 voucher from its peers and posts it on-chain");
    let poster = Poster {
        signer: signer(0),
        peers,
        http: reqwest::Client::new(),
        submitter: Arc::new(
            Submitter::new(
                local_api(&server.url),
                stores[0].clone(),
                relayer_wallet.key.clone(),
                relayer_wallet.wallet.clone(),
                "demo-relayer-1".into(),
            )
            .map_err(anyhow::Error::msg)?,
        ),
        settle_value: TON / 10,
        voucher_validity_secs: 600,
    };
    match poster
        .settle(&account, &provider.address)
        .await
        .map_err(anyhow::Error::msg)?
    {
        Settled::Confirmed { cumulative, .. } => p.detail(format!(
            "voucher for {} confirmed on-chain",
            ton(cumulative)
        )),
        Settled::Nothing { paid } => {
            bail!("the relayer found nothing to settle (chain already paid {paid})")
        }
    }
    let owner_slice = boc::build(|b| b.store_address(&provider.address).map(|_| ()))?;
    let paid = get_ints(
        &api,
        &account,
        "get_paid",
        &[StackArg::Slice(owner_slice.into())],
    )
    .await?;
    let paid = paid
        .first()
        .cloned()
        .flatten()
        .map(|n| u128::try_from(n).unwrap_or(0))
        .unwrap_or(0);
    let earned = stake.state(&api).await?.earned;

    p.step("Client pays a job escrow 0.5 TON; the provider runs the job; relayers 1 and 2 sign its completion");
    let treasury = wallets[3].address.clone();
    let job_config = JobConfig {
        settle_fee: TON / 100,
        fee_bps: 500,
        grace: 60,
        window: 3600,
        stake_code: stake::code()?,
        treasury: treasury.clone(),
        relayers: set.clone(),
    };
    let earned_before_jobs = earned;
    let spec: serde_json::Map<String, Value> = serde_json::from_value(json!({
        "model": llama.alias(), "temperature": 0, "max_tokens": 32,
        "messages": [{"role": "user", "content": "Write one sentence about GPUs."}]}))?;
    let spec_hash: [u8; 32] = Sha256::digest(serde_json::to_vec(&spec)?).into();
    let job = Job {
        amount: TON / 2,
        deadline: devnet.now() + 600,
        spec_hash,
    };
    let escrow = job::create_job(&api, &client, &hub, 1, &job, &job_config).await?;
    // The provider runs the job on its inference server; the result's hash is
    // what the relayers sign (the relayer job API that leases jobs to workers is next).
    let result = llama
        .backend()
        .send(Endpoint::ChatCompletions, spec)
        .await?;
    let pay: u64 = (TON / 2 * 4 / 5) as u64; // the job used 80% of its budget
    let completion = Completion {
        global_id,
        escrow: escrow.clone(),
        nonce: 1,
        provider_owner: provider.address.clone(),
        pay,
        result_hash: result.result_hash.0,
    };
    let proof = job::sign_completion(
        set.k,
        &completion,
        &[(0, &relayer_keys[0]), (1, &relayer_keys[1])],
    )?;
    job::complete_job(&api, &relayer_wallet, &completion, &proof).await?;
    let job_done = job::job_state(&api, &escrow).await?;
    ensure!(
        job_done.state == je::COMPLETED,
        "the escrow did not complete (state {})",
        job_done.state
    );
    let job_earned = stake.state(&api).await?.earned - earned_before_jobs;
    let job_fee = received_from(&api, &treasury, &escrow).await?;
    p.detail(format!("result {} … pays the provider's stake {} (fee {} to the treasury), the rest back to the client",
        hex::encode(&result.result_hash.0[..6]), ton(job_earned), ton(job_fee)));

    p.step("A provider accepts a second job and vanishes; after the deadline anyone expires it with the evidence");
    let job2 = Job {
        amount: TON / 2,
        deadline: devnet.now() + 120,
        spec_hash,
    };
    let escrow2 = job::create_job(&api, &client, &hub, 2, &job2, &job_config).await?;
    let acceptance = job::sign_acceptance(
        &operator,
        &Acceptance {
            global_id,
            escrow: escrow2.clone(),
            nonce: 2,
            provider_owner: provider.address.clone(),
        },
    )?;
    let stake_before_slash = stake.state(&api).await?.stake;
    devnet.advance_time(u64::from(
        job2.deadline + job_config.grace + 1 - devnet.now(),
    ));
    devnet.produce_block(); // so the API reports the new time at once
    let client_before_refund = balance(&api, &client.address).await?;
    job::expire_job(
        &api,
        &relayer_wallet,
        &escrow2,
        Some((&provider.address, &acceptance)),
    )
    .await?;
    let expired = job::job_state(&api, &escrow2).await?;
    ensure!(
        expired.state == je::EXPIRED && expired.slashed,
        "the second job was not expired with a slash"
    );
    let slashed = stake_before_slash - stake.state(&api).await?.stake;
    let refunded = balance(&api, &client.address).await? - client_before_refund;
    p.detail(format!(
        "client refunded {}; provider's stake slashed {}",
        ton(refunded),
        ton(slashed)
    ));

    let after = Balances::read(
        &api,
        &[&client.address, &relayer_wallet.address, &provider.address],
    )
    .await?;
    let left = account_balance(&api, &account).await?;
    let summary = json!({
        "requests": args.requests,
        "prompt_tokens": tokens.0,
        "completion_tokens": tokens.1,
        "charged_nanoton": spent.to_string(),
        "voucher_paid_nanoton": paid.to_string(),
        "provider_stake_earnings_nanoton": earned.to_string(),
        "compute_account": {"deposit": deposit.to_string(), "left": left.to_string()},
        "escrow_job": {"amount": job.amount.to_string(), "pay": pay.to_string(),
            "provider_earned": job_earned.to_string(), "treasury_fee": job_fee.to_string()},
        "expired_job": {"amount": job2.amount.to_string(), "client_refunded": refunded.to_string(),
            "stake_slashed": slashed.to_string()},
        "wallet_changes_nanoton": {
            "client": diff(before.0[0], after.0[0]),
            "relayer-1": diff(before.0[1], after.0[1]),
            "provider": diff(before.0[2], after.0[2]),
        },
        "api": {"toncenter": server.url, "gateway": base,
            "dashboard": format!("http://{gateway_addr}/ui")},
    });
    // The stake keeps its receive gas out of each payout (protocol: the
    // receiver pays for its own handler), so the owner earns paid − that gas.
    // Earnings: the voucher's payout, then the job's (each less the stake's receive gas).
    let fee = u128::from(pay) * 500 / 10_000;
    let ok = spent > 0
        && paid == spent
        && earned == ps::earned_from_payout(paid)
        && job_earned == ps::earned_from_payout(u128::from(pay) - fee)
        && job_fee == fee
        && slashed
            == (stake_config.slash_mult_pct as u128 * job2.amount / 100).min(stake_before_slash)
        && refunded >= job2.amount;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        print_table(
            &summary, tokens, spent, paid, earned, deposit, left, &before, &after,
        );
    }

    if args.keep_running && ok {
        eprintln!(
            "\nEverything is still running: the dashboard is at http://{gateway_addr}/ui; Ctrl-C stops it."
        );
        tokio::signal::ctrl_c().await?;
    }
    let _ = stop_worker.send(());
    let _ = tokio::time::timeout(Duration::from_secs(10), worker_task).await;
    gateway_task.abort();
    for t in peer_tasks {
        t.abort();
    }
    drop(llama);
    let _ = std::fs::remove_dir_all(&dir);
    if !ok {
        bail!(
            "settlement did not match the chain: {}",
            serde_json::to_string(&summary)?
        );
    }
    Ok(())
}

/// Starts llama-server from `scripts/setup-inference`'s install, running the
/// set-up first (it builds llama.cpp once per machine) if it is missing.
async fn start_inference(p: &Progress) -> anyhow::Result<LlamaServer> {
    if LlamaServerConfig::from_env().is_err() {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/setup-inference");
        p.detail("not installed yet: running scripts/setup-inference (the first build takes ~10 minutes)");
        let out = tokio::process::Command::new("bash")
            .arg(script)
            .stderr(std::process::Stdio::inherit())
            .output()
            .await
            .context("cannot run scripts/setup-inference")?;
        ensure!(out.status.success(), "scripts/setup-inference failed");
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            if let Some((k, v)) = line.split_once('=') {
                // SAFETY: single-threaded at this point of start-up; nothing else reads the environment.
                unsafe { std::env::set_var(k.trim(), v.trim()) };
            }
        }
    }
    Ok(LlamaServerConfig::from_env()?.start().await?)
}

/// A toncenter client for the local devnet: no rate limit to respect.
fn local_api(url: &str) -> Toncenter {
    Toncenter::new(ToncenterConfig {
        requests_per_second: 10_000.0,
        ..ToncenterConfig::new(url.to_owned())
    })
}

async fn wait_for_model(base: &str, model: &str) -> anyhow::Result<()> {
    let http = reqwest::Client::new();
    for _ in 0..300 {
        if let Ok(r) = http
            .get(format!("{base}/models"))
            .bearer_auth(API_KEY)
            .send()
            .await
        {
            if let Ok(v) = r.json::<Value>().await {
                if v["data"]
                    .as_array()
                    .is_some_and(|d| d.iter().any(|m| m["id"] == model))
                {
                    return Ok(());
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bail!("the worker did not register {model} with the gateway within 30 s")
}

async fn account_balance(api: &Toncenter, account: &TonAddress) -> anyhow::Result<u128> {
    let s = get_ints(api, account, "get_account_state", &[]).await?;
    Ok(s.get(1)
        .cloned()
        .flatten()
        .map(|n| u128::try_from(n).unwrap_or(0))
        .unwrap_or(0))
}

struct Balances(Vec<u128>);

impl Balances {
    async fn read(api: &Toncenter, who: &[&TonAddress]) -> anyhow::Result<Self> {
        let mut v = Vec::new();
        for a in who {
            v.push(balance(api, a).await?);
        }
        Ok(Self(v))
    }
}

fn diff(before: u128, after: u128) -> String {
    (after as i128 - before as i128).to_string()
}

/// Nanotons as TON with all nine decimals (never rounded).
pub fn ton(n: u128) -> String {
    format!("{}.{:09} TON", n / TON, n % TON)
}

fn signed_ton(before: u128, after: u128) -> String {
    if after >= before {
        format!("+{}", ton(after - before))
    } else {
        format!("-{}", ton(before - after))
    }
}

#[allow(clippy::too_many_arguments)]
fn print_table(
    summary: &Value,
    tokens: (u64, u64),
    spent: u128,
    paid: u128,
    earned: u128,
    deposit: u128,
    left: u128,
    before: &Balances,
    after: &Balances,
) {
    println!("\nSpindle demo: settled on-chain\n");
    println!(
        "  {:<38} {:>20}",
        "requests served",
        summary["requests"].to_string()
    );
    println!(
        "  {:<38} {:>20}",
        "tokens (prompt / completion)",
        format!("{} / {}", tokens.0, tokens.1)
    );
    println!("  {:<38} {:>20}", "charged by the gateway", ton(spent));
    println!("  {:<38} {:>20}", "paid by the 2-of-3 voucher", ton(paid));
    println!(
        "  {:<38} {:>20}",
        "earned by the provider's stake",
        ton(earned)
    );
    println!(
        "  {:<38} {:>20}",
        "stake's receive gas, kept from payout",
        ton(paid - earned.min(paid))
    );
    println!("  {:<38} {:>20}", "compute account: deposit", ton(deposit));
    println!("  {:<38} {:>20}", "compute account: left", ton(left));
    let j = &summary["escrow_job"];
    let x = &summary["expired_job"];
    let n = |v: &Value| v.as_str().and_then(|s| s.parse::<u128>().ok()).unwrap_or(0);
    println!(
        "  {:<38} {:>20}",
        "escrow job: paid in",
        ton(n(&j["amount"]))
    );
    println!(
        "  {:<38} {:>20}",
        "escrow job: provider's stake earned",
        ton(n(&j["provider_earned"]))
    );
    println!(
        "  {:<38} {:>20}",
        "escrow job: protocol fee (treasury)",
        ton(n(&j["treasury_fee"]))
    );
    println!(
        "  {:<38} {:>20}",
        "expired job: client refunded",
        ton(n(&x["client_refunded"]))
    );
    println!(
        "  {:<38} {:>20}",
        "expired job: provider's stake slashed",
        ton(n(&x["stake_slashed"]))
    );
    println!("\n  wallet balance changes (including on-chain fees):");
    for (i, name) in ["client", "relayer-1", "provider"].iter().enumerate() {
        println!("  {:<38} {:>20}", name, signed_ton(before.0[i], after.0[i]));
    }
    println!(
        "\n  toncenter API  {}",
        summary["api"]["toncenter"].as_str().unwrap_or("")
    );
    println!(
        "  OpenAI API     {}",
        summary["api"]["gateway"].as_str().unwrap_or("")
    );
    println!(
        "  dashboard      {}",
        summary["api"]["dashboard"].as_str().unwrap_or("")
    );
}

fn tempdir() -> anyhow::Result<std::path::PathBuf> {
    let dir = std::env::temp_dir().join(format!("spindle-demo-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}
