//! Logging for every command: `tracing` to stderr as text or JSON lines
//! (`--log-format`), filtered by `SPINDLE_LOG` (or `RUST_LOG`) with `tracing`'s
//! directive syntax, e.g. `SPINDLE_LOG=info,spindle_relayer=debug`.
//!
//! Secrets never reach a log line: configs hold keys in redacting types, and the
//! relayer's request layer logs routes and statuses, never headers or bodies.

use tracing_subscriber::EnvFilter;

/// How log lines look.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line, with the current span's fields (e.g. request ids).
    Json,
}

/// Installs the global subscriber; `default` is the filter when neither
/// `SPINDLE_LOG` nor `RUST_LOG` is set.
pub fn init(format: LogFormat, default: &str) {
    let filter = std::env::var("SPINDLE_LOG")
        .ok()
        .or_else(|| std::env::var("RUST_LOG").ok())
        .and_then(|f| EnvFilter::try_new(f).ok())
        .unwrap_or_else(|| EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().with_current_span(true).init(),
    }
}
