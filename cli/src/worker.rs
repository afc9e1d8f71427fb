//! `spindle worker init|run|status`: the provider's agent beside its inference server.
//!
//! `init` writes a worker config and a fresh operator key (mode 0600); `run` connects
//! out to the configured relayers (reconnecting with backoff) and serves requests
//! through the backend until SIGTERM or Ctrl-C, then drains; `status` checks the
//! backend and asks each relayer whether it is ready and how many workers it has.

use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use serde_json::{Value, json};
use spindle_worker::agent::WorkerConfig;

use crate::relayer::write_new;

/// Provider commands for the worker agent.
const INIT_EXAMPLES: &str = "Example:\n  spindle worker init --dir /etc/spindle-worker --owner EQ... \\\n      --relayer wss://relayer-1.example.org/v1/worker/connect \\\n      --backend http://127.0.0.1:8000 --model llama-3.1-8b --completion-price 400000000";
const RUN_EXAMPLES: &str =
    "Example:\n  spindle worker run --config /etc/spindle-worker/worker.toml";
const STATUS_EXAMPLES: &str = "Example:\n  spindle worker status --config worker.toml --json";

#[derive(Debug, Subcommand)]
pub enum WorkerCommand {
    /// Write a worker config and a new operator key (mode 0600) into a directory.
    ///
    /// Refuses to overwrite either file. Prints the operator public key: set it
    /// on your provider stake (the on-chain operator key) and give it to the
    /// relayers that should accept your workers.
    #[command(after_help = INIT_EXAMPLES)]
    Init(InitArgs),
    /// Connect to the relayers and serve requests from the local inference server.
    ///
    /// The worker opens no port: it dials out over WebSocket and reconnects with
    /// jittered backoff. It advertises the backend's models that have a price,
    /// withdraws its capacity while the backend is down, and on SIGTERM finishes
    /// what is in flight (up to drain_timeout_secs) before exiting.
    #[command(after_help = RUN_EXAMPLES)]
    Run(RunArgs),
    /// Check the backend and every configured relayer.
    ///
    /// Exits 0 when the backend answers and every relayer is ready, 1 otherwise.
    #[command(after_help = STATUS_EXAMPLES)]
    Status(StatusArgs),
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// Directory for worker.toml and operator.key (created if missing).
    #[arg(long, default_value = ".")]
    pub dir: PathBuf,
    /// The provider's owner address (the cold wallet that staked).
    #[arg(long)]
    pub owner: String,
    /// A relayer's worker endpoint (repeat for several).
    #[arg(
        long = "relayer",
        default_value = "ws://127.0.0.1:8480/v1/worker/connect"
    )]
    pub relayers: Vec<String>,
    /// The local OpenAI-compatible inference server.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub backend: String,
    /// The model to price (as the backend names it); `*` prices every model.
    #[arg(long, default_value = "*")]
    pub model: String,
    /// nanoTON per million prompt tokens.
    #[arg(long, default_value_t = 100_000_000)]
    pub prompt_price: u64,
    /// nanoTON per million cached prompt tokens.
    #[arg(long, default_value_t = 10_000_000)]
    pub cached_price: u64,
    /// nanoTON per million completion tokens.
    #[arg(long, default_value_t = 400_000_000)]
    pub completion_price: u64,
    /// Requests served at once, per relayer.
    #[arg(long, default_value_t = 1)]
    pub max_concurrency: u32,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The worker config (`spindle worker init` writes one).
    #[arg(long, short, env = "SPINDLE_WORKER_CONFIG")]
    pub config: PathBuf,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// The worker config.
    #[arg(long, short, env = "SPINDLE_WORKER_CONFIG")]
    pub config: PathBuf,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

pub async fn run(command: WorkerCommand) -> anyhow::Result<()> {
    match command {
        WorkerCommand::Init(args) => init(args),
        WorkerCommand::Run(args) => serve(args).await,
        WorkerCommand::Status(args) => status(args).await,
    }
}

fn toml_str(s: &str) -> String {
    serde_json::to_string(s).expect("a string serialises")
}

fn init(args: InitArgs) -> anyhow::Result<()> {
    std::fs::create_dir_all(&args.dir)
        .with_context(|| format!("cannot create {}", args.dir.display()))?;
    let dir = std::fs::canonicalize(&args.dir)?;
    let config_path = dir.join("worker.toml");
    let key_path = dir.join("operator.key");
    for existing in [&config_path, &key_path] {
        if existing.exists() {
            bail!(
                "{} already exists: not overwriting it (the operator key is what the provider's \
                 stake trusts). Use another --dir, or remove the file yourself to start over.",
                existing.display()
            );
        }
    }
    let mut relayers = String::new();
    for url in &args.relayers {
        relayers.push_str(&format!(
            "\n[[relayers]]\nurl = {}\n# address = \"0:...\"   # pin the relayer's wallet address (printed by `spindle relayer init`)\n",
            toml_str(url)
        ));
    }
    let text = format!(
        r#"# Spindle worker configuration (`spindle worker run --config this-file`).

# The local OpenAI-compatible inference server (llama.cpp, vLLM, SGLang, Ollama).
backend_url = {backend}
# The operator key: an ed25519 seed, 64 hex digits, mode 0600. The provider stake's
# operator key must be its public key; never share this file.
operator_key_file = {key}
# The provider's owner address (the wallet that staked).
owner = {owner}
# Requests served at once, per relayer connection.
max_concurrency = {conc}
# How often the backend's health is checked (ms); a backend that is down withdraws
# the worker's capacity until it is back.
health_interval_ms = 2000
# On SIGTERM, the longest wait for requests in flight before closing anyway.
drain_timeout_secs = 300
# Ceiling of the jittered reconnect backoff (ms).
max_backoff_ms = 30000
{relayers}
# Prices in nanoTON per million tokens, per model id ("*" prices every model not listed).
# Models without a price are not advertised.
[prices.{model}]
prompt = {prompt}
cached_prompt = {cached}
completion = {completion}
"#,
        backend = toml_str(&args.backend),
        key = toml_str(&key_path.display().to_string()),
        owner = toml_str(&args.owner),
        conc = args.max_concurrency,
        model = toml_str(&args.model),
        prompt = args.prompt_price,
        cached = args.cached_price,
        completion = args.completion_price,
    );
    // Check before writing anything: a bad --owner or --relayer is named now.
    WorkerConfig::from_toml(&text)?;
    let seed = {
        use rand::RngCore;
        let mut seed = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut seed);
        seed
    };
    spindle_relayer::config::RelayerKey::from_seed(seed)
        .write_new(&key_path)
        .with_context(|| format!("cannot write {}", key_path.display()))?;
    write_new(&config_path, &text)?;
    let public = spindle_sdk::SigningKey::from_bytes(&seed).verifying_key();
    println!(
        "Wrote {} and {} (mode 0600).",
        config_path.display(),
        key_path.display()
    );
    println!();
    println!("operator public key  {}", hex::encode(public.as_bytes()));
    println!();
    println!("Next:");
    println!("  1. set it as your provider stake's operator key (spindle provider set-operator)");
    println!(
        "  2. ask each relayer's operator to allow it ([[gateway.providers]] operator_key + owner)"
    );
    println!("  3. start your inference server at the backend_url, then:");
    println!("     spindle worker run --config {}", config_path.display());
    Ok(())
}

/// Loads the config and refuses an operator key others can read.
fn load(path: &std::path::Path) -> anyhow::Result<WorkerConfig> {
    use std::os::unix::fs::PermissionsExt;
    let config = WorkerConfig::load(path)?;
    let meta = std::fs::metadata(&config.operator_key_file).with_context(|| {
        format!(
            "operator_key_file: cannot open {} — check the path, or create a key with `spindle worker init`",
            config.operator_key_file.display()
        )
    })?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        bail!(
            "operator_key_file: {} has mode {mode:04o}, so other users can read the operator key — run `chmod 600 {}`",
            config.operator_key_file.display(),
            config.operator_key_file.display()
        );
    }
    config.operator_key().context("operator_key_file")?;
    Ok(config)
}

async fn serve(args: RunArgs) -> anyhow::Result<()> {
    let config = match load(&args.config) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::exit(2);
        }
    };
    tracing::info!(
        relayers = config.relayers.len(),
        backend = %config.backend_url,
        "worker starting"
    );
    spindle_worker::agent::run(config).await
}

/// The relayer's HTTP base for its worker WebSocket URL.
fn http_base(ws: &str) -> Option<String> {
    let mut url = url::Url::parse(ws).ok()?;
    let scheme = match url.scheme() {
        "ws" => "http",
        "wss" => "https",
        _ => return None,
    };
    url.set_scheme(scheme).ok()?;
    url.set_path("");
    url.set_query(None);
    Some(url.as_str().trim_end_matches('/').to_owned())
}

async fn status(args: StatusArgs) -> anyhow::Result<()> {
    let config = load(&args.config)?;
    let http = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(10))
        .build()?;
    let backend = config.backend_url.trim_end_matches('/').to_owned();
    let models = match http.get(format!("{backend}/v1/models")).send().await {
        Ok(r) if r.status().is_success() => {
            let v: Value = r.json().await.unwrap_or(Value::Null);
            Ok(v["data"]
                .as_array()
                .map(|d| {
                    d.iter()
                        .filter_map(|m| m["id"].as_str().map(str::to_owned))
                        .collect::<Vec<_>>()
                })
                .unwrap_or_default())
        }
        Ok(r) => Err(format!("answered {}", r.status())),
        Err(e) => Err(e.to_string()),
    };
    let mut ok = models.is_ok();
    let mut relayers = Vec::new();
    for r in &config.relayers {
        let Some(base) = http_base(&r.url) else {
            relayers.push(json!({"url": r.url, "ready": false, "error": "not a ws(s) URL"}));
            ok = false;
            continue;
        };
        let ready = http.get(format!("{base}/readyz")).send().await;
        let workers = match http.get(format!("{base}/metrics")).send().await {
            Ok(m) => m.text().await.ok().and_then(|t| {
                spindle_relayer::node::metrics::parse(&t)
                    .ok()?
                    .into_iter()
                    .find_map(|(s, v)| (s == "spindle_workers_connected").then_some(v))
            }),
            Err(_) => None,
        };
        let entry = match ready {
            Ok(resp) => {
                let is_ready = resp.status().is_success();
                ok &= is_ready;
                let body: Value = resp.json().await.unwrap_or(Value::Null);
                json!({"url": r.url, "ready": is_ready, "workers_connected": workers,
                       "problem": body.get("detail")})
            }
            Err(e) => {
                ok = false;
                json!({"url": r.url, "ready": false, "error": e.to_string()})
            }
        };
        relayers.push(entry);
    }
    let report = json!({
        "backend": {"url": backend, "ok": models.is_ok(),
                    "models": models.as_ref().ok(), "error": models.as_ref().err()},
        "priced_models": models.as_ref().map(|m| m.iter().filter(|id| config.price_of(id).is_some()).cloned().collect::<Vec<_>>()).ok(),
        "relayers": relayers,
    });
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        match &models {
            Ok(m) => println!("backend  {backend}: ok, models {}", m.join(", ")),
            Err(e) => println!("backend  {backend}: FAILING: {e}"),
        }
        if let Some(p) = report["priced_models"].as_array() {
            println!(
                "         advertised (priced): {}",
                if p.is_empty() {
                    "none".into()
                } else {
                    p.iter()
                        .filter_map(Value::as_str)
                        .collect::<Vec<_>>()
                        .join(", ")
                }
            );
        }
        for r in report["relayers"].as_array().into_iter().flatten() {
            let state = if r["ready"] == true {
                "ready".to_owned()
            } else {
                format!(
                    "NOT READY: {}",
                    r["error"].as_str().or(r["problem"].as_str()).unwrap_or("")
                )
            };
            let workers = r["workers_connected"]
                .as_f64()
                .map_or(String::new(), |w| format!(", {w} workers connected"));
            println!(
                "relayer  {}: {state}{workers}",
                r["url"].as_str().unwrap_or("")
            );
        }
    }
    if !ok {
        std::process::exit(1);
    }
    Ok(())
}
