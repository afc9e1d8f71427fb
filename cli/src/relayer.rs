//! `spindle relayer init|run|status`: what a relayer operator runs.
//!
//! `init` writes a commented config and a fresh key (mode 0600) and says what to do
//! next; `run` loads the config (with `SPINDLE_…` overrides), starts a
//! [`spindle_relayer::node::Node`] and serves until SIGTERM or Ctrl-C, then drains;
//! `status` asks a running relayer's `/readyz` and `/metrics`.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use serde_json::{Value, json};
use spindle_relayer::config::{Config, ExampleSettings, RelayerKey, example_config_with};
use spindle_relayer::node::{Node, metrics};

/// Operator commands for a relayer.
const INIT_EXAMPLES: &str = "Examples:\n  spindle relayer init --dir /etc/spindle --hub EQ... \\\n      --chain-url https://toncenter.com/api/v2/ --global-id -239\n  spindle relayer init --dir ./r1 --hub 0:... --chain-url http://127.0.0.1:8081/api/v2/ --global-id -1313";
const RUN_EXAMPLES: &str = "Examples:\n  spindle relayer run --config /etc/spindle/relayer.toml\n  SPINDLE_STORE_URL=postgres://spindle@db/spindle spindle relayer run -c relayer.toml --log-format json\n  SPINDLE_LOG=info,spindle_relayer=debug spindle relayer run -c relayer.toml";
const STATUS_EXAMPLES: &str = "Examples:\n  spindle relayer status\n  spindle relayer status --url http://10.0.0.2:8480 --json";

#[derive(Debug, Subcommand)]
pub enum RelayerCommand {
    /// Write a commented config and a new relayer key (mode 0600) into a directory.
    ///
    /// Refuses to overwrite an existing config or key (a key is the relayer's
    /// identity in the relayer set). Prints the public key (give it to the
    /// hub's governance and the other relayers) and the wallet address to fund.
    #[command(after_help = INIT_EXAMPLES)]
    Init(InitArgs),
    /// Run the relayer: gateway, worker API, peer API, voucher poster, health, metrics.
    ///
    /// Settings come from the config file, overridden by `SPINDLE_…` variables
    /// (SPINDLE_STORE_URL, SPINDLE_CHAIN_API_KEY, SPINDLE_PEERS, …; the file
    /// written by `init` names each one). An invalid config exits with code 2
    /// and one line per problem, naming the setting. SIGTERM or Ctrl-C drains:
    /// unsettled vouchers are posted before the process exits.
    #[command(after_help = RUN_EXAMPLES)]
    Run(RunArgs),
    /// Show a running relayer's readiness and a summary of its metrics.
    ///
    /// Exits 0 when the relayer is ready, 1 when it is not or cannot be reached.
    #[command(after_help = STATUS_EXAMPLES)]
    Status(StatusArgs),
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// Directory for relayer.toml, relayer.key and the SQLite store (created if missing).
    #[arg(long, default_value = ".")]
    pub dir: PathBuf,
    /// The hub contract's address (any form). Without it the config fails validation
    /// until `chain.hub` is set.
    #[arg(long)]
    pub hub: Option<String>,
    /// toncenter v2 API URL (the devnet's, testnet's or mainnet's).
    #[arg(long, default_value = "http://127.0.0.1:8081/api/v2/")]
    pub chain_url: String,
    /// The network's global id: -239 mainnet, -3 testnet, -1313 the devnet.
    #[arg(long, default_value_t = -239, allow_hyphen_values = true)]
    pub global_id: i32,
    /// Address the relayer's API listens on.
    #[arg(long, default_value = "127.0.0.1:8480")]
    pub listen: String,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The config file (`spindle relayer init` writes one). Without it, settings
    /// come from `SPINDLE_…` variables only.
    #[arg(long, short, env = "SPINDLE_CONFIG")]
    pub config: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// The relayer's base URL.
    #[arg(
        long,
        default_value = "http://127.0.0.1:8480",
        env = "SPINDLE_RELAYER_URL"
    )]
    pub url: String,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

pub async fn run(command: RelayerCommand) -> anyhow::Result<()> {
    match command {
        RelayerCommand::Init(args) => init(args),
        RelayerCommand::Run(args) => serve(args).await,
        RelayerCommand::Status(args) => status(args).await,
    }
}

const PLACEHOLDER_HUB: &str = "SET-THE-HUB-ADDRESS";

fn init(args: InitArgs) -> anyhow::Result<()> {
    std::fs::create_dir_all(&args.dir)
        .with_context(|| format!("cannot create {}", args.dir.display()))?;
    let dir = std::fs::canonicalize(&args.dir)?;
    let config_path = dir.join("relayer.toml");
    let key_path = dir.join("relayer.key");
    for existing in [&config_path, &key_path] {
        if existing.exists() {
            bail!(
                "{} already exists: not overwriting it (a relayer key is the relayer's identity). \
                 Use another --dir, or remove the file yourself if you mean to start over.",
                existing.display()
            );
        }
    }
    let key = RelayerKey::from_seed(random_seed()?);
    key.write_new(&key_path)
        .with_context(|| format!("cannot write {}", key_path.display()))?;
    let mut settings =
        ExampleSettings::new(args.hub.as_deref().unwrap_or(PLACEHOLDER_HUB), &key_path);
    settings.api_url = args.chain_url;
    settings.global_id = args.global_id;
    settings.listen = args.listen;
    settings.store_url = format!("sqlite://{}", dir.join("relayer.db").display());
    write_new(&config_path, &example_config_with(&settings))?;

    let public = hex::encode(key.public_key());
    let signing = spindle_sdk::SigningKey::from_bytes(key.seed());
    let wallet = spindle_sdk::wallet::WalletV5R1::new(signing.verifying_key(), 0, args.global_id)
        .address()?;
    println!(
        "Wrote {} and {} (mode 0600).",
        config_path.display(),
        key_path.display()
    );
    println!();
    println!("relayer public key   {public}");
    println!(
        "relayer wallet (W5)  {}",
        spindle_sdk::address::to_user_friendly(&wallet, false, args.global_id != -239)
    );
    println!();
    println!("Next:");
    let mut step = 1;
    if args.hub.is_none() {
        println!(
            "  {step}. set chain.hub in {} to the hub's address",
            config_path.display()
        );
        step += 1;
    }
    println!(
        "  {step}. send the public key to the hub's governance and to the other relayers of the set;"
    );
    println!("     list theirs under [[peers]] (and set relayer_set.k)");
    println!(
        "  {}. fund the wallet above: it pays the gas of the vouchers and proofs it posts",
        step + 1
    );
    println!(
        "  {}. allow your providers' workers under [[gateway.providers]]",
        step + 2
    );
    println!(
        "  {}. spindle relayer run --config {}",
        step + 3,
        config_path.display()
    );
    Ok(())
}

fn random_seed() -> anyhow::Result<[u8; 32]> {
    use rand::RngCore;
    let mut seed = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut seed);
    Ok(seed)
}

/// Writes a new file (never replacing one).
pub(crate) fn write_new(path: &Path, text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    f.write_all(text.as_bytes())?;
    Ok(())
}

async fn serve(args: RunArgs) -> anyhow::Result<()> {
    let config = match Config::load(args.config.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(2);
        }
    };
    let node = Node::start(config).await?;
    {
        use std::io::Write;
        let mut out = std::io::stdout();
        let _ = writeln!(out, "spindle relayer listening on http://{}", node.addr);
        let _ = out.flush();
    }
    node.run().await?;
    Ok(())
}

/// What `status` gathers.
async fn gather(url: &str) -> anyhow::Result<(bool, Value)> {
    let http = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(10))
        .build()?;
    let base = url.trim_end_matches('/');
    let ready = http
        .get(format!("{base}/readyz"))
        .send()
        .await
        .with_context(|| format!("cannot reach the relayer at {base}"))?;
    let is_ready = ready.status().is_success();
    let body: Value = ready.json().await.unwrap_or(Value::Null);
    let text = http
        .get(format!("{base}/metrics"))
        .send()
        .await?
        .error_for_status()?
        .text()
        .await?;
    let samples = metrics::parse(&text).map_err(anyhow::Error::msg)?;
    let one = |name: &str| samples.iter().find(|(s, _)| s == name).map(|(_, v)| *v);
    let labelled = |prefix: &str| -> serde_json::Map<String, Value> {
        samples
            .iter()
            .filter(|(s, _)| s.starts_with(&format!("{prefix}{{")))
            .map(|(s, v)| (s[prefix.len()..].to_owned(), json!(v)))
            .collect()
    };
    let requests: f64 = samples
        .iter()
        .filter(|(s, _)| s.starts_with("spindle_http_requests_total{"))
        .map(|(_, v)| v)
        .sum();
    let summary = json!({
        "url": base,
        "ready": is_ready,
        "checks": body.get("checks").cloned().unwrap_or(Value::Null),
        "problem": if is_ready { Value::Null } else { body.get("detail").cloned().unwrap_or(Value::Null) },
        "workers": one("spindle_workers_connected"),
        "workers_offering": one("spindle_workers_offering"),
        "capacity": one("spindle_worker_capacity"),
        "in_flight": one("spindle_worker_requests_in_flight"),
        "jobs": labelled("spindle_jobs"),
        "settlements": labelled("spindle_settlements"),
        "charges": one("spindle_charges_total"),
        "charged_nanoton": one("spindle_charged_nanoton_total"),
        "settled_nanoton": one("spindle_settled_nanoton_total"),
        "http_requests": requests,
        "chain_lag_seconds": one("spindle_chain_lag_seconds"),
        "posting_lease_held": one("spindle_posting_lease_held").map(|v| v == 1.0),
    });
    Ok((is_ready, summary))
}

async fn status(args: StatusArgs) -> anyhow::Result<()> {
    let (ready, s) = match gather(&args.url).await {
        Ok(r) => r,
        Err(e) => {
            if args.json {
                println!(
                    "{}",
                    json!({"url": args.url, "ready": false, "error": format!("{e:#}")})
                );
            } else {
                eprintln!("error: {e:#}");
            }
            std::process::exit(1);
        }
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&s)?);
    } else {
        let n = |v: &Value| v.as_f64().map_or("-".to_owned(), |f| format!("{f}"));
        println!("relayer {}", s["url"].as_str().unwrap_or(""));
        println!(
            "  ready            {}",
            if ready {
                "yes".to_owned()
            } else {
                format!("NO: {}", s["problem"].as_str().unwrap_or(""))
            }
        );
        let c = &s["checks"];
        println!("  store            {}", check(&c["store"]));
        println!("  chain            {}", check(&c["chain"]));
        println!(
            "  posting lease    {}",
            match c["posting_lease"]["holder"].as_str() {
                Some(h) if c["posting_lease"]["held_here"] == true => format!("held here ({h})"),
                Some(h) if c["posting_lease"]["live"] == true => format!("held by {h}"),
                _ => "free".to_owned(),
            }
        );
        println!(
            "  workers          {} connected, {} offering, capacity {}, {} in flight",
            n(&s["workers"]),
            n(&s["workers_offering"]),
            n(&s["capacity"]),
            n(&s["in_flight"])
        );
        let nonzero = |m: &Value| {
            m.as_object()
                .map(|o| {
                    o.iter()
                        .filter(|(_, v)| v.as_f64() != Some(0.0))
                        .map(|(k, v)| format!("{k}={}", n(v)))
                        .collect::<Vec<_>>()
                        .join(" ")
                })
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| "none".to_owned())
        };
        println!("  jobs             {}", nonzero(&s["jobs"]));
        println!("  settlements      {}", nonzero(&s["settlements"]));
        println!(
            "  charges          {} ({} nanoTON charged, {} settled)",
            n(&s["charges"]),
            n(&s["charged_nanoton"]),
            n(&s["settled_nanoton"])
        );
        println!("  http requests    {}", n(&s["http_requests"]));
        println!(
            "  chain lag        {}",
            match s["chain_lag_seconds"].as_f64() {
                Some(l) => format!("{l} s"),
                None => "not reported yet".to_owned(),
            }
        );
    }
    if !ready {
        std::process::exit(1);
    }
    Ok(())
}

fn check(c: &Value) -> String {
    if c["ok"] == true {
        match c.get("masterchain_seqno") {
            Some(s) => format!("ok (masterchain seqno {s})"),
            None => "ok".to_owned(),
        }
    } else {
        format!("FAILING: {}", c["error"].as_str().unwrap_or("unknown"))
    }
}
