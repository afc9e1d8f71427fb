//! Which relayers of the set are online, as this relayer sees them: each peer's
//! `/healthz` is asked (briefly, and at most every few seconds) when a page wants it.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// How long a probe waits for a peer.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);
/// How long a probe's answer is reused.
const CACHE_FOR: Duration = Duration::from_secs(5);

/// One member of the relayer set, in the hub's order.
#[derive(Clone, Debug)]
pub struct Member {
    pub pubkey: [u8; 32],
    /// Where its API is; `None` for this relayer (or a member with no known URL).
    pub url: Option<url::Url>,
    /// Whether this member is the relayer serving the page.
    pub me: bool,
}

/// Probes peers' `/healthz`.
#[derive(Default)]
pub struct PeerHealth {
    http: reqwest::Client,
    cache: Mutex<HashMap<String, (Instant, Result<(), String>)>>,
}

impl PeerHealth {
    async fn probe(&self, url: &url::Url) -> Result<(), String> {
        let key = url.to_string();
        if let Some((at, r)) = self.cache.lock().unwrap().get(&key)
            && at.elapsed() < CACHE_FOR
        {
            return r.clone();
        }
        let health = url.join("healthz").map_err(|e| e.to_string());
        let r = match health {
            Ok(h) => match self.http.get(h).timeout(PROBE_TIMEOUT).send().await {
                Ok(resp) if resp.status().is_success() => Ok(()),
                Ok(resp) => Err(format!("/healthz answered {}", resp.status())),
                Err(e) if e.is_timeout() => Err(format!("no answer within {PROBE_TIMEOUT:?}")),
                Err(e) => Err(format!("unreachable: {e}")),
            },
            Err(e) => Err(e),
        };
        self.cache
            .lock()
            .unwrap()
            .insert(key, (Instant::now(), r.clone()));
        r
    }

    /// Each member with its index, key, URL and whether it is online now.
    pub async fn members(&self, members: &[Member]) -> Vec<Value> {
        let probes = members.iter().map(|m| async move {
            let (online, detail) = match (&m.url, m.me) {
                (_, true) => (Some(true), "this relayer".to_owned()),
                (Some(url), false) => match self.probe(url).await {
                    Ok(()) => (Some(true), "answers /healthz".to_owned()),
                    Err(e) => (Some(false), e),
                },
                (None, false) => (None, "no URL configured".to_owned()),
            };
            json!({
                "pubkey": hex::encode(m.pubkey),
                "url": m.url.as_ref().map(url::Url::to_string),
                "me": m.me,
                "online": online,
                "detail": detail,
            })
        });
        let mut out = futures::future::join_all(probes).await;
        for (i, v) in out.iter_mut().enumerate() {
            v["index"] = json!(i);
        }
        out
    }
}
