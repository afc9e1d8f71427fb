//! Test support (cargo feature `testing`): runs a real llama.cpp `llama-server`
//! on a free loopback port, for this crate's tests and for the relayer's and
//! end-to-end suites.
//!
//! The binary and model come from `scripts/setup-inference`, found through
//! `SPINDLE_LLAMA_SERVER` and `SPINDLE_MODEL` or, when those are unset, through
//! the file `target/spindle-inference.env` that `scripts/test.d/40-inference.sh`
//! writes. Missing both is an error telling the user to run the script: tests
//! that need a real server fail, they never skip.
//!
//! ```no_run
//! # async fn demo() {
//! use spindle_worker::testing::LlamaServerConfig;
//! let config = LlamaServerConfig::from_env().unwrap_or_else(|e| panic!("{e}"));
//! let server = config.start().await.unwrap_or_else(|e| panic!("{e}"));
//! let models = server.backend().models().await.unwrap();
//! assert_eq!(models[0].id, server.alias());
//! # }
//! ```
//!
//! The server runs with `--parallel 1 --seed 42`: one slot, so sequential
//! requests at temperature 0 are reproducible (with several slots, concurrent
//! requests are batched and differ). It is stopped by PID with SIGKILL when the
//! [`LlamaServer`] drops; SIGTERM would wait for open client connections.

use crate::backend::Backend;
use std::collections::HashMap;
use std::fs::File;
use std::net::{Ipv4Addr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};
use thiserror::Error;

/// The name the test server answers to (`--alias`), as setup-inference prints it.
pub const MODEL_ALIAS: &str = "smollm2-135m";

/// How long a server may take to load the model; generous because test
/// servers start while cargo builds compete for the same two cores.
const HEALTH_TIMEOUT: Duration = Duration::from_secs(120);

#[derive(Debug, Error)]
pub enum TestingError {
    #[error(
        "{0} is not set and {env_file} does not exist: run `eval \"$(scripts/setup-inference)\"` \
         (or `scripts/test inference`, which writes {env_file}) before these tests",
        env_file = env_file().display()
    )]
    NotInstalled(&'static str),
    #[error("could not start {binary}: {source}")]
    Spawn {
        binary: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("llama-server exited ({status}) before it became healthy; its log:\n{log}")]
    Exited { status: ExitStatus, log: String },
    #[error("llama-server was not healthy within {HEALTH_TIMEOUT:?}; its log:\n{log}")]
    Timeout { log: String },
    #[error("llama-server test set-up: {0}")]
    Io(#[from] std::io::Error),
}

/// What to start. Fields are public so tests can adjust them.
#[derive(Debug, Clone)]
pub struct LlamaServerConfig {
    pub binary: PathBuf,
    pub model: PathBuf,
    pub alias: String,
    /// Also serve `/v1/embeddings` (`--embeddings --pooling mean`); chat and
    /// completions keep working, with the same answers.
    pub embeddings: bool,
    /// Further `llama-server` flags.
    pub extra_args: Vec<String>,
}

impl LlamaServerConfig {
    /// The server and model installed by `scripts/setup-inference`.
    pub fn from_env() -> Result<Self, TestingError> {
        let file = read_env_file(&env_file());
        let var = |name: &'static str| {
            std::env::var(name)
                .ok()
                .or_else(|| file.as_ref().and_then(|f| f.get(name).cloned()))
        };
        let binary = var("SPINDLE_LLAMA_SERVER")
            .ok_or(TestingError::NotInstalled("SPINDLE_LLAMA_SERVER"))?;
        let model = var("SPINDLE_MODEL").ok_or(TestingError::NotInstalled("SPINDLE_MODEL"))?;
        Ok(Self {
            binary: binary.into(),
            model: model.into(),
            alias: var("SPINDLE_MODEL_ALIAS").unwrap_or_else(|| MODEL_ALIAS.into()),
            embeddings: false,
            extra_args: Vec::new(),
        })
    }

    /// Starts the server and waits until `/health` answers 200.
    pub async fn start(&self) -> Result<LlamaServer, TestingError> {
        // A port found free may be taken by another test before the server
        // binds it; the server then exits at once and another port is tried.
        for _ in 0..2 {
            match self.start_once().await {
                Err(TestingError::Exited { .. }) => continue,
                other => return other,
            }
        }
        self.start_once().await
    }

    async fn start_once(&self) -> Result<LlamaServer, TestingError> {
        let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?
            .local_addr()?
            .port();
        let log = std::env::temp_dir().join(format!(
            "spindle-llama-server-{}-{port}.log",
            std::process::id()
        ));
        let log_file = File::create(&log)?;
        let mut command = Command::new(&self.binary);
        command
            .arg("--model")
            .arg(&self.model)
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            // One slot keeps sequential answers reproducible; a fixed thread
            // count, not the machine's, is one less thing to vary between hosts.
            .args(["--threads", "2", "--parallel", "1", "--seed", "42"])
            .args(["--alias", &self.alias]);
        if self.embeddings {
            command.args(["--embeddings", "--pooling", "mean"]);
        }
        let child = command
            .args(&self.extra_args)
            .stdin(Stdio::null())
            .stdout(log_file.try_clone()?)
            .stderr(log_file)
            .spawn()
            .map_err(|source| TestingError::Spawn {
                binary: self.binary.clone(),
                source,
            })?;
        // From here on, dropping `server` kills the process.
        let mut server = LlamaServer {
            child,
            port,
            alias: self.alias.clone(),
            log,
        };
        let backend = server.backend();
        let started = Instant::now();
        loop {
            if let Some(status) = server.child.try_wait()? {
                return Err(TestingError::Exited {
                    status,
                    log: server.log_tail(),
                });
            }
            if backend.health().await.is_ok() {
                return Ok(server);
            }
            if started.elapsed() > HEALTH_TIMEOUT {
                return Err(TestingError::Timeout {
                    log: server.log_tail(),
                });
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// A running `llama-server`; killed (by PID) when dropped.
pub struct LlamaServer {
    child: Child,
    port: u16,
    alias: String,
    log: PathBuf,
}

impl LlamaServer {
    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn backend(&self) -> Backend {
        Backend::new(self.base_url())
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The model name the server answers to.
    pub fn alias(&self) -> &str {
        &self.alias
    }

    /// Kills the server now (SIGKILL, then reaps it), e.g. to cut a stream.
    pub fn kill(&mut self) {
        // Errors mean it is already gone, which is the goal.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }
}

impl Drop for LlamaServer {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_file(&self.log);
    }
}

/// `target/spindle-inference.env` in this workspace.
fn env_file() -> PathBuf {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the worker crate sits in the workspace");
    workspace.join("target/spindle-inference.env")
}

/// Reads the `KEY=value` lines setup-inference prints (values quoted with
/// bash's `printf %q`, which for paths means backslash escapes).
fn read_env_file(path: &Path) -> Option<HashMap<String, String>> {
    let text = std::fs::read_to_string(path).ok()?;
    let vars = text
        .lines()
        .filter_map(|line| {
            line.trim()
                .strip_prefix("export ")
                .unwrap_or(line.trim())
                .split_once('=')
        })
        .map(|(key, value)| (key.to_owned(), unescape(value)))
        .collect();
    Some(vars)
}

fn unescape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        out.extend(if c == '\\' { chars.next() } else { Some(c) });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_file_values_are_unescaped() {
        let dir = std::env::temp_dir().join(format!("spindle-env-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("inference.env");
        std::fs::write(
            &path,
            "SPINDLE_MODEL=/a\\ b/m.gguf\nexport LLAMA_SERVER=/bin/x\n",
        )
        .unwrap();
        let vars = read_env_file(&path).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(vars["SPINDLE_MODEL"], "/a b/m.gguf");
        assert_eq!(vars["LLAMA_SERVER"], "/bin/x");
    }
}
