//! `GET /metrics` in the Prometheus text exposition format (version 0.0.4).
//!
//! Hand-written rather than through a metrics crate: the relayer's numbers mostly
//! live in its store and pool already, so they are read at scrape time (always true,
//! never drifting counters), and the few in-process counters (HTTP requests, chain lag)
//! are a map behind a mutex. The format is a handful of lines; no dependency needed.
//!
//! | metric | type | labels |
//! |---|---|---|
//! | `spindle_jobs` | gauge | `state` |
//! | `spindle_outbox_items` | gauge | `kind`, `state` |
//! | `spindle_settlements` | gauge | `kind` (`voucher`, `complete`), `status` (`pending`, `posted`) |
//! | `spindle_charges_total`, `spindle_charged_nanoton_total`, `spindle_settled_nanoton_total` | counter | |
//! | `spindle_workers_connected`, `spindle_workers_offering`, `spindle_worker_capacity`, `spindle_worker_requests_in_flight` | gauge | |
//! | `spindle_model_workers`, `spindle_model_capacity` | gauge | `model` |
//! | `spindle_http_requests_total` | counter | `route`, `status` (errors: `status=~"4..|5.."`) |
//! | `spindle_chain_lag_seconds` | gauge | absent until the chain watcher reports ([`Metrics::set_chain_lag`]) |
//! | `spindle_store_up` | gauge | 1 when the store answered this scrape |
//! | `spindle_posting_lease_held` | gauge | 1 when this replica holds the voucher-posting lease |

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;

use crate::Store;
use crate::gateway::pool::Pool;

/// The in-process counters, shared by the HTTP layer and the background tasks.
#[derive(Default)]
pub struct Metrics {
    requests: Mutex<BTreeMap<(String, u16), u64>>,
    chain_lag: Mutex<Option<f64>>,
}

impl Metrics {
    /// Counts one answered HTTP request (`route` is the matched route pattern, never the
    /// raw path, so label values stay few).
    pub fn record_request(&self, route: &str, status: u16) {
        *self
            .requests
            .lock()
            .unwrap()
            .entry((route.to_owned(), status))
            .or_default() += 1;
    }

    /// The chain watcher's hook: how far (seconds) the newest transaction the relayer
    /// has processed is behind the chain's newest block. Until it is first called,
    /// `spindle_chain_lag_seconds` is absent (unknown, not zero).
    pub fn set_chain_lag(&self, seconds: f64) {
        *self.chain_lag.lock().unwrap() = Some(seconds);
    }

    pub fn chain_lag(&self) -> Option<f64> {
        *self.chain_lag.lock().unwrap()
    }

    /// The live figures the dashboard's health view shows: chain lag and HTTP
    /// requests answered, of them client errors (4xx) and server errors (5xx).
    pub fn health_summary(&self) -> serde_json::Value {
        let requests = self.requests.lock().unwrap();
        let count = |range: std::ops::Range<u16>| -> u64 {
            requests
                .iter()
                .filter(|((_, status), _)| range.contains(status))
                .map(|(_, n)| n)
                .sum()
        };
        serde_json::json!({
            "chain_lag_seconds": self.chain_lag(),
            "http_requests": count(0..1000),
            "http_4xx": count(400..500),
            "http_5xx": count(500..600),
        })
    }

    /// Renders every metric; store figures are read now. A store error leaves its
    /// metrics out and sets `spindle_store_up 0`.
    pub async fn render(&self, store: &Store, pool: &Pool, holder: &str) -> String {
        let mut out = Exposition::default();
        let store_up = match store_metrics(&mut out, store, holder).await {
            Ok(()) => 1,
            Err(e) => {
                tracing::warn!(error = %e, "metrics: the store did not answer");
                0
            }
        };
        out.gauge("spindle_store_up", "1 when the store answered this scrape.");
        out.sample("spindle_store_up", &[], store_up);

        let stats = pool.stats();
        out.gauge(
            "spindle_workers_connected",
            "Authenticated worker connections.",
        );
        out.sample("spindle_workers_connected", &[], stats.workers);
        out.gauge(
            "spindle_workers_offering",
            "Connected workers offering at least one model.",
        );
        out.sample("spindle_workers_offering", &[], stats.offering);
        out.gauge(
            "spindle_worker_capacity",
            "Requests the offering workers can serve at once.",
        );
        out.sample("spindle_worker_capacity", &[], stats.capacity);
        out.gauge(
            "spindle_worker_requests_in_flight",
            "Requests being served by workers now.",
        );
        out.sample("spindle_worker_requests_in_flight", &[], stats.in_flight);
        let models = pool.served_models();
        out.gauge("spindle_model_workers", "Workers offering each model.");
        for m in &models {
            out.sample("spindle_model_workers", &[("model", &m.id)], m.workers);
        }
        out.gauge("spindle_model_capacity", "Capacity offered for each model.");
        for m in &models {
            out.sample("spindle_model_capacity", &[("model", &m.id)], m.capacity);
        }

        out.counter(
            "spindle_http_requests_total",
            "HTTP requests answered, by route and status.",
        );
        for ((route, status), n) in self.requests.lock().unwrap().iter() {
            out.sample(
                "spindle_http_requests_total",
                &[("route", route), ("status", &status.to_string())],
                n,
            );
        }
        if let Some(lag) = self.chain_lag() {
            out.gauge(
                "spindle_chain_lag_seconds",
                "How far the processed chain is behind its newest block.",
            );
            out.sample("spindle_chain_lag_seconds", &[], lag);
        }
        out.0
    }
}

async fn store_metrics(
    out: &mut Exposition,
    store: &Store,
    holder: &str,
) -> Result<(), crate::store::StoreError> {
    let jobs = store.job_counts().await?;
    let outbox = store.outbox_counts_by_kind().await?;
    let charges = store.charge_summary().await?;
    let lease = store
        .posting_lease_holder(crate::settle::submitter::LEASE)
        .await?;

    out.gauge("spindle_jobs", "Jobs by lifecycle state.");
    for (state, n) in jobs {
        out.sample("spindle_jobs", &[("state", state.as_str())], n);
    }
    out.gauge(
        "spindle_outbox_items",
        "On-chain actions by kind and state.",
    );
    for (kind, state, n) in &outbox {
        out.sample(
            "spindle_outbox_items",
            &[("kind", kind), ("state", state)],
            n,
        );
    }
    out.gauge(
        "spindle_settlements",
        "Completion proofs and vouchers pending (prepared, submitted or retrying) and posted (confirmed).",
    );
    for kind in ["complete", "voucher"] {
        let count = |states: &[&str]| -> u64 {
            outbox
                .iter()
                .filter(|(k, s, _)| k == kind && states.contains(&s.as_str()))
                .map(|(_, _, n)| n)
                .sum()
        };
        let pending = count(&["prepared", "submitted", "failed_retryable"]);
        out.sample(
            "spindle_settlements",
            &[("kind", kind), ("status", "pending")],
            pending,
        );
        out.sample(
            "spindle_settlements",
            &[("kind", kind), ("status", "posted")],
            count(&["confirmed"]),
        );
    }
    out.counter(
        "spindle_charges_total",
        "Metered requests charged to compute accounts.",
    );
    out.sample("spindle_charges_total", &[], charges.count);
    out.counter(
        "spindle_charged_nanoton_total",
        "nanoTON charged to compute accounts.",
    );
    out.sample("spindle_charged_nanoton_total", &[], charges.charged);
    out.counter(
        "spindle_settled_nanoton_total",
        "nanoTON of those charges the chain has paid.",
    );
    out.sample("spindle_settled_nanoton_total", &[], charges.settled);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let held = lease.is_some_and(|(h, until)| h == holder && until > now);
    out.gauge(
        "spindle_posting_lease_held",
        "1 when this replica holds the voucher-posting lease.",
    );
    out.sample("spindle_posting_lease_held", &[], u8::from(held));
    Ok(())
}

/// The text being built.
#[derive(Default)]
struct Exposition(String);

impl Exposition {
    fn gauge(&mut self, name: &str, help: &str) {
        let _ = writeln!(self.0, "# HELP {name} {help}\n# TYPE {name} gauge");
    }

    fn counter(&mut self, name: &str, help: &str) {
        let _ = writeln!(self.0, "# HELP {name} {help}\n# TYPE {name} counter");
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: impl std::fmt::Display) {
        self.0.push_str(name);
        if !labels.is_empty() {
            self.0.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.0.push(',');
                }
                let _ = write!(self.0, "{k}=\"{}\"", escape(v));
            }
            self.0.push('}');
        }
        let _ = writeln!(self.0, " {value}");
    }
}

/// Label values escape backslash, double quote and newline.
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Parses exposition text into `(name{labels}, value)` pairs, skipping comments: for
/// `spindle relayer status` and tests. Labels are kept as written.
pub fn parse(text: &str) -> Result<Vec<(String, f64)>, String> {
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|line| {
            let (series, value) = line
                .rsplit_once(' ')
                .ok_or_else(|| format!("no value in {line:?}"))?;
            let value = value
                .parse::<f64>()
                .map_err(|_| format!("bad value in {line:?}"))?;
            Ok((series.to_owned(), value))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_escape_labels_and_parse_back() {
        let mut e = Exposition::default();
        e.counter("x_total", "X.");
        e.sample("x_total", &[("route", "/a\"b\\c\n")], 3);
        e.sample("x_total", &[], 1.5);
        let parsed = parse(&e.0).unwrap();
        assert_eq!(
            parsed,
            vec![
                ("x_total{route=\"/a\\\"b\\\\c\\n\"}".to_owned(), 3.0),
                ("x_total".to_owned(), 1.5)
            ]
        );
        assert!(parse("x_total{a=\"1\"}").is_err());
    }
}
