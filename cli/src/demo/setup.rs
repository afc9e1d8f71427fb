//! The demo's world, built from embedded defaults only: the CPU inference server,
//! an in-process devnet with a hub, two staked providers, and three relayers
//! (k = 2) started exactly as `spindle relayer run` starts them — a
//! [`Node`] from a validated relayer [`Config`] with its own SQLite store.
//!
//! Genesis wallets play every party: 0 governance (deploys the hub), 1 the
//! treasury, 2 the client, 3 and 4 the providers' owners, 5–7 the relayers
//! (each relayer's key is its wallet's key, so the relayer posts from it).

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, ensure};
use spindle_devnet::{Devnet, DevnetConfig, ServerHandle};
use spindle_relayer::config::Config;
use spindle_relayer::node::Node;
use spindle_sdk::protocol::compute_account as ca;
use spindle_sdk::protocol::hub::HubParams;
use spindle_sdk::protocol::provider_stake::BASECHAIN_GAS_PRICE;
use spindle_sdk::protocol::relayer_set::RelayerSet;
use spindle_sdk::toncenter::{Toncenter, ToncenterConfig};
use spindle_sdk::{SigningKey, TonAddress, address};
use spindle_worker::agent::{RelayerEndpoint, WorkerConfig};
use spindle_worker::protocol::Prices;
use spindle_worker::testing::{LlamaServer, LlamaServerConfig};
use tokio::task::JoinHandle;

use super::config::{RelayerToml, hub_params, relayer_toml};
use super::{Progress, TON, ton};
use crate::cmd::provider::{GAS_INIT, RESERVE};
use crate::onchain::Payer;
use crate::stake::Stake;

/// The API key relayer 1 (the account's home gateway) bills to the client's account.
pub const API_KEY: &str = "sk-spindle-demo";
/// The compute account's nonce under the client.
pub const ACCOUNT_NONCE: u64 = 1;
/// What each provider stakes.
pub const STAKE: u128 = 20 * TON;

/// Provider A's prices (nanoTON per million tokens): high enough that a few
/// requests are worth settling on-chain.
pub const PRICES_A: Prices = Prices {
    prompt: 200 * TON as u64,
    cached_prompt: 20 * TON as u64,
    completion: 800 * TON as u64,
};
/// Provider B undercuts A tenfold, so it wins the jobs A is too dear for.
pub const PRICES_B: Prices = Prices {
    prompt: 20 * TON as u64,
    cached_prompt: 2 * TON as u64,
    completion: 80 * TON as u64,
};

/// A provider: its owner wallet, hot operator key and stake.
pub struct Provider {
    pub name: &'static str,
    pub owner: Payer,
    pub operator: SigningKey,
    pub key_file: PathBuf,
    pub stake: Stake,
    pub prices: Prices,
}

/// One relayer of the set: its wallet and its running node.
pub struct Relayer {
    pub wallet: Payer,
    pub node: Node,
    pub url: String,
}

/// Everything the scenarios act on.
pub struct World {
    pub llama: LlamaServer,
    pub devnet: Devnet,
    pub server: ServerHandle,
    pub api: Toncenter,
    pub global_id: i32,
    pub hub: TonAddress,
    pub params: HubParams,
    pub treasury: TonAddress,
    pub client: Payer,
    pub providers: [Provider; 2],
    pub relayers: Vec<Relayer>,
    /// The client's compute account (opened by the metered scenario; the home
    /// gateway knows its address from the start).
    pub account: TonAddress,
    pub dir: PathBuf,
    workers: Vec<(
        tokio::sync::oneshot::Sender<()>,
        JoinHandle<anyhow::Result<()>>,
    )>,
}

impl World {
    pub async fn start(p: &mut Progress) -> anyhow::Result<World> {
        p.step("Starting the CPU inference server (llama.cpp, SmolLM2-135M)");
        let llama = start_inference(p).await?;
        p.detail(format!(
            "llama-server pid {} at {}",
            llama.pid(),
            llama.base_url()
        ));

        p.step(
            "Starting the devnet and deploying the hub: real contracts, real TVM, toncenter API",
        );
        let devnet = Devnet::new(DevnetConfig {
            wallets: 8,
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
        let governance = payer(0, "governance")?;
        let treasury = payer(1, "treasury")?.address;
        let client = payer(2, "client")?;
        let relayer_wallets = (0..3)
            .map(|i| payer(5 + i, &format!("relayer-{}", i + 1)))
            .collect::<anyhow::Result<Vec<_>>>()?;
        for (i, w) in relayer_wallets.iter().enumerate() {
            ensure!(
                w.address == wallets[5 + i].address,
                "relayer {}'s W5 wallet is not genesis wallet {}",
                i + 1,
                5 + i
            );
        }
        let set = RelayerSet::new(
            1,
            2,
            relayer_wallets
                .iter()
                .map(|w| w.key.verifying_key())
                .collect(),
        )?;
        let params = hub_params(set, treasury.clone());
        let hub = crate::hub::deploy(&api, &governance, &params).await?;
        p.detail(format!(
            "toncenter API {} (global id {global_id}); hub {}",
            server.url,
            address::to_user_friendly(&hub, true, false)
        ));

        let dir = std::env::temp_dir().join(format!("spindle-demo-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;

        p.step("Two providers stake 20 TON each (provider_stake, with an operator key for their workers)");
        let mut providers = Vec::new();
        for (i, (name, prices)) in [("provider-A", PRICES_A), ("provider-B", PRICES_B)]
            .into_iter()
            .enumerate()
        {
            let owner = payer(3 + i, name)?;
            let operator = SigningKey::from_bytes(&[40 + i as u8; 32]);
            let key_file = key_file(&dir, &format!("{name}-operator.key"), &operator)?;
            let escrow_code = crate::job::code()?;
            let stake = Stake::deploy(
                &api,
                &owner,
                &hub,
                &operator.verifying_key(),
                &params.stake_config(escrow_code),
                STAKE + RESERVE + GAS_INIT * BASECHAIN_GAS_PRICE,
            )
            .await?;
            let staked = stake.state(&api).await?.stake;
            ensure!(staked >= STAKE, "{name}'s stake did not initialise");
            p.detail(format!(
                "{name}: stake {} holds {}",
                address::to_user_friendly(&stake.address, true, true),
                ton(staked)
            ));
            providers.push(Provider {
                name,
                owner,
                operator,
                key_file,
                stake,
                prices,
            });
        }
        let providers: [Provider; 2] = providers
            .try_into()
            .map_err(|_| anyhow::anyhow!("two providers"))?;

        p.step("Three relayers (k = 2) start, each with its own key, wallet and SQLite store");
        let account = ca::state_init(
            spindle_sdk::artifact!("compute_account")?.code,
            &hub,
            &client.address,
            ACCOUNT_NONCE,
        )?
        .address(0)?;
        let ports = (0..3)
            .map(|_| free_port())
            .collect::<anyhow::Result<Vec<u16>>>()?;
        let mut relayers = Vec::new();
        for (i, wallet) in relayer_wallets.into_iter().enumerate() {
            let toml = relayer_toml(&RelayerToml {
                i,
                dir: &dir,
                api_url: &server.url,
                hub: &hub,
                global_id,
                ports: &ports,
                keys: &params.relayers,
                key_file: &key_file(&dir, &format!("relayer-{}.key", i + 1), &wallet.key)?,
                providers: &providers,
                // The client's account bills through relayer 1 only: its home gateway.
                account: (i == 0).then_some(&account),
            });
            let path = dir.join(format!("relayer-{}.toml", i + 1));
            std::fs::write(&path, &toml)?;
            let config = Config::load_with_env(Some(&path), Vec::new())
                .with_context(|| format!("relayer {} config", i + 1))?;
            let node = Node::start(config)
                .await
                .with_context(|| format!("relayer {} did not start", i + 1))?;
            let url = format!("http://{}", node.addr);
            p.detail(format!(
                "relayer-{}: {url} (dashboard {url}/ui, metrics {url}/metrics), wallet {}",
                i + 1,
                address::to_user_friendly(&wallet.address, true, false)
            ));
            relayers.push(Relayer { wallet, node, url });
        }

        let mut world = World {
            llama,
            devnet,
            server,
            api,
            global_id,
            hub,
            params,
            treasury,
            client,
            providers,
            relayers,
            account,
            dir,
            workers: Vec::new(),
        };
        p.step("Provider A's worker dials all three relayers (no inbound port)");
        let backend = world.llama.base_url();
        world.start_worker(0, &backend)?;
        world.wait_for_worker(0).await?;
        p.detail(format!(
            "{} serves {} at {} (prompt) / {} (completion) per 1M tokens",
            world.providers[0].name,
            world.llama.alias(),
            ton(PRICES_A.prompt.into()),
            ton(PRICES_A.completion.into())
        ));
        Ok(world)
    }

    /// Starts provider `i`'s worker in front of `backend`, dialling every relayer.
    pub fn start_worker(&mut self, i: usize, backend: &str) -> anyhow::Result<usize> {
        let p = &self.providers[i];
        let config = WorkerConfig {
            backend_url: backend.to_owned(),
            operator_key_file: p.key_file.clone(),
            owner: address::to_raw(&p.owner.address),
            max_concurrency: 1,
            relayers: self
                .relayers
                .iter()
                .map(|r| RelayerEndpoint {
                    url: format!(
                        "{}{}",
                        r.url.replace("http://", "ws://"),
                        spindle_worker::protocol::CONNECT_PATH
                    ),
                    address: Some(address::to_raw(&r.wallet.address)),
                })
                .collect(),
            prices: [("*".to_owned(), p.prices)].into(),
            health_interval_ms: 500,
            drain_timeout_secs: 5,
            max_backoff_ms: 1_000,
        };
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(spindle_worker::agent::run_until(config, async {
            let _ = stopped.await;
        }));
        self.workers.push((stop, task));
        Ok(self.workers.len() - 1)
    }

    /// Pulls the plug on worker `handle`: no drain, its connections just drop.
    pub fn kill_worker(&mut self, handle: usize) {
        self.workers[handle].1.abort();
    }

    /// Waits until every relayer sees provider `i`'s worker offer the model
    /// (at that provider's prices).
    pub async fn wait_for_worker(&self, i: usize) -> anyhow::Result<()> {
        let prices = self.providers[i].prices;
        let model = self.llama.alias().to_owned();
        for r in &self.relayers {
            let pool = r.node.parts.gateway.pool.clone();
            let what = format!(
                "{}'s worker to connect to {}",
                self.providers[i].name, r.url
            );
            super::wait_for(&what, 60, || {
                let pool = pool.clone();
                let model = model.clone();
                async move { Ok(pool.offers(&model).iter().any(|(_, p)| *p == prices)) }
            })
            .await?;
        }
        Ok(())
    }

    /// Stops the workers (draining), the relayers (draining), and the rest.
    pub async fn shutdown(self) {
        for (stop, task) in self.workers {
            let _ = stop.send(());
            let _ = tokio::time::timeout(Duration::from_secs(10), task).await;
        }
        for r in self.relayers {
            let _ = r.node.shutdown().await;
        }
        drop(self.llama);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A key file (hex seed, mode 0600 as the relayer and worker require).
fn key_file(dir: &Path, name: &str, key: &SigningKey) -> anyhow::Result<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join(name);
    std::fs::write(&path, hex::encode(key.to_bytes()))?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
    Ok(path)
}

/// A free loopback port: the relayers must know each other's URLs before they start.
fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
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
                // SAFETY: no other thread reads the environment while the demo starts.
                unsafe { std::env::set_var(k.trim(), v.trim()) };
            }
        }
    }
    Ok(LlamaServerConfig::from_env()?.start().await?)
}

/// A toncenter client for the local devnet: no rate limit to respect.
pub fn local_api(url: &str) -> Toncenter {
    Toncenter::new(ToncenterConfig {
        requests_per_second: 10_000.0,
        ..ToncenterConfig::new(url.to_owned())
    })
}
