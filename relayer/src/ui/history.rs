//! Health over time for the dashboard's charts: a sampler the node runs in the
//! background (every [`SAMPLE_EVERY`]) keeps the last [`KEEP`] samples in memory, so
//! the charts show the last hour even for a page opened a minute ago. Nothing is
//! persisted: a restarted relayer starts a new history.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;

use serde_json::{Value, json};

use super::Ui;

/// How often the node samples.
pub const SAMPLE_EVERY: Duration = Duration::from_secs(10);
/// Samples kept (one hour at the default interval).
pub const KEEP: usize = 360;

/// The samples, oldest first.
#[derive(Default)]
pub struct History {
    samples: Mutex<VecDeque<Value>>,
}

impl History {
    pub fn push(&self, sample: Value) {
        let mut s = self.samples.lock().unwrap();
        s.push_back(sample);
        while s.len() > KEEP {
            s.pop_front();
        }
    }

    pub fn list(&self) -> Vec<Value> {
        self.samples.lock().unwrap().iter().cloned().collect()
    }

    /// One sample of `ui`: chain lag, outbox backlog, API errors so far, mean lease
    /// latency, settled jobs and free worker capacity. A store error skips the sample.
    pub async fn sample(&self, ui: &Ui, now: u64) {
        let (Ok(jobs), Ok(outbox), Ok(latencies)) = (
            ui.store.job_counts().await,
            ui.store.outbox_counts().await,
            ui.store.lease_latencies(super::LATENCY_SAMPLES).await,
        ) else {
            return;
        };
        let health = ui.health.as_ref().map(|h| h()).unwrap_or(Value::Null);
        let backlog: u64 = outbox
            .iter()
            .filter(|(s, _)| !matches!(s.as_str(), "confirmed" | "superseded"))
            .map(|(_, n)| *n)
            .sum();
        let settled = jobs
            .iter()
            .find(|(s, _)| s.as_str() == "settled")
            .map_or(0, |(_, n)| *n);
        let capacity: u64 = ui.gateway.as_ref().map_or(0, |g| g.pool.stats().capacity);
        self.push(json!({
            "at": now,
            "chain_lag_seconds": health["chain_lag_seconds"],
            "http_4xx": health["http_4xx"],
            "http_5xx": health["http_5xx"],
            "outbox_backlog": backlog,
            "lease_latency_secs": (!latencies.is_empty())
                .then(|| latencies.iter().sum::<i64>() as f64 / latencies.len() as f64),
            "jobs_settled": settled,
            "capacity": capacity,
        }));
    }

    /// Samples `ui` every `every` until `stop` resolves.
    pub async fn run(&self, ui: &Ui, every: Duration, stop: impl Future<Output = ()>) {
        let mut stop = std::pin::pin!(stop);
        loop {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            self.sample(ui, now).await;
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                _ = &mut stop => return,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_newest_samples_oldest_first() {
        let h = History::default();
        for i in 0..KEEP + 5 {
            h.push(json!({ "at": i }));
        }
        let list = h.list();
        assert_eq!(list.len(), KEEP);
        assert_eq!(list[0]["at"], 5);
        assert_eq!(list[KEEP - 1]["at"], KEEP + 4);
    }
}
