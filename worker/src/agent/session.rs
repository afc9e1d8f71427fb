//! One authenticated connection to one relayer: answer the challenge, advertise,
//! heartbeat, serve requests, re-advertise when the backend's state changes,
//! and drain (advertise nothing, finish in-flight work, close) on shutdown.

use super::serve::{ServeContext, serve, serve_job};
use super::{Shared, config::RelayerEndpoint};
use crate::protocol::{ModelOffer, RelayerMessage, WorkerMessage, auth_payload, sign_hex};
use anyhow::{Context, anyhow, bail};
use futures::{SinkExt, StreamExt};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_tungstenite::tungstenite::Message;

/// How a session ended without error.
pub(crate) enum Ended {
    /// Drained on shutdown: do not reconnect.
    Drained,
    /// The relayer closed the connection: reconnect.
    Closed,
}

const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

pub(crate) async fn run_session(
    shared: &Shared,
    endpoint: &RelayerEndpoint,
) -> anyhow::Result<Ended> {
    let (mut ws, _) = tokio::time::timeout(
        HANDSHAKE_TIMEOUT,
        // Streamed tokens are small frames sent one by one: without TCP_NODELAY,
        // Nagle's algorithm holds each back until the previous one is acknowledged.
        tokio_tungstenite::connect_async_with_config(endpoint.url.as_str(), None, true),
    )
    .await
    .context("connecting timed out")?
    .with_context(|| format!("cannot connect to {}", endpoint.url))?;

    // Authenticate: the challenge names the relayer, whose address is signed in.
    let challenge = match tokio::time::timeout(HANDSHAKE_TIMEOUT, next_message(&mut ws)).await {
        Ok(Ok(Some(RelayerMessage::Challenge {
            relayer,
            global_id,
            challenge,
        }))) => (relayer, global_id, challenge),
        Ok(Ok(other)) => bail!("expected a challenge, got {other:?}"),
        Ok(Err(e)) => return Err(e),
        Err(_) => bail!("no challenge within {HANDSHAKE_TIMEOUT:?}"),
    };
    let (relayer_text, global_id, challenge_hex) = challenge;
    let relayer = spindle_sdk::address::parse_address(&relayer_text)
        .context("the challenge names no valid relayer address")?;
    if let Some(pinned) = &endpoint.address {
        let pinned = spindle_sdk::address::parse_address(pinned).context("relayers.address")?;
        if pinned != relayer {
            bail!(
                "relayer at {} claims to be {relayer_text}, not the configured {pinned}",
                endpoint.url
            );
        }
    }
    let challenge: [u8; 32] = hex::decode(&challenge_hex)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| anyhow!("the challenge is not 32 hex bytes"))?;
    let payload = auth_payload(global_id, &relayer, &challenge, &shared.owner)?;
    send(
        &mut ws,
        &WorkerMessage::Hello {
            operator_key: hex::encode(shared.key.verifying_key().as_bytes()),
            owner: spindle_sdk::address::to_raw(&shared.owner),
            signature: sign_hex(&shared.key, &payload),
        },
    )
    .await?;
    let heartbeat = match tokio::time::timeout(HANDSHAKE_TIMEOUT, next_message(&mut ws)).await {
        Ok(Ok(Some(RelayerMessage::Welcome { heartbeat_secs }))) => {
            Duration::from_secs(heartbeat_secs.max(1))
        }
        Ok(Ok(None)) => bail!("the relayer refused authentication (connection closed)"),
        Ok(Ok(other)) => bail!("expected welcome, got {other:?}"),
        Ok(Err(e)) => return Err(e.context("the relayer refused authentication")),
        Err(_) => bail!("no welcome within {HANDSHAKE_TIMEOUT:?}"),
    };
    tracing::info!(relayer = %relayer_text, "authenticated");

    let ctx = Arc::new(ServeContext {
        backend: shared.backend.clone(),
        key: shared.key.clone(),
        global_id,
        relayer,
        owner: shared.owner.clone(),
        recheck: shared.recheck.clone(),
    });
    let mut offers = shared.offers.clone();
    let mut draining = shared.draining.clone();
    let advertise = |models: Vec<ModelOffer>| WorkerMessage::Advertise {
        max_concurrency: shared.config.max_concurrency,
        models,
    };
    let mut drain_started = *draining.borrow_and_update();
    let first = if drain_started {
        Vec::new()
    } else {
        offers.borrow_and_update().clone()
    };
    send(&mut ws, &advertise(first)).await?;

    let (out_tx, mut out_rx) = mpsc::unbounded_channel::<WorkerMessage>();
    let mut tasks = JoinSet::new();
    let mut running: HashMap<u64, tokio::task::AbortHandle> = HashMap::new();
    let mut beat = tokio::time::interval(heartbeat);
    beat.tick().await;
    let drain_deadline = tokio::time::sleep(Duration::from_secs(86_400 * 365));
    tokio::pin!(drain_deadline);

    loop {
        if drain_started && tasks.is_empty() && out_rx.is_empty() {
            let _ = ws.close(None).await;
            return Ok(Ended::Drained);
        }
        tokio::select! {
            frame = ws.next() => {
                let Some(frame) = frame else { return Ok(Ended::Closed) };
                let text = match frame.context("relayer connection broke")? {
                    Message::Text(t) => t,
                    Message::Close(_) => return Ok(Ended::Closed),
                    _ => continue, // pings are answered by tungstenite on the next write
                };
                match serde_json::from_str::<RelayerMessage>(&text).context("bad message from relayer")? {
                    RelayerMessage::Request { id, endpoint, body, stream } => {
                        let limit = shared.config.max_concurrency as usize;
                        if drain_started || running.len() >= limit {
                            // The relayer should not have sent it; say so rather than queue.
                            let _ = out_tx.send(WorkerMessage::Failed {
                                id, status: Some(503), message: "worker at capacity or draining".into(),
                                body: None, started: false,
                            });
                            continue;
                        }
                        let handle = tasks.spawn(serve(ctx.clone(), id, endpoint, body, stream, out_tx.clone()));
                        running.insert(id, handle);
                    }
                    RelayerMessage::JobOffer { id, escrow, nonce, deadline, endpoint, body } => {
                        let limit = shared.config.max_concurrency as usize;
                        let model = body.get("model").and_then(|m| m.as_str()).unwrap_or_default().to_owned();
                        let served = offers.borrow().iter().any(|o| o.id == model);
                        let now = std::time::SystemTime::now()
                            .duration_since(std::time::UNIX_EPOCH)
                            .map_or(0, |d| d.as_secs());
                        let escrow = spindle_sdk::address::parse_address(&escrow);
                        // Declining costs nothing; accepting makes the stake answer for the job.
                        let refusal = if drain_started || running.len() >= limit {
                            Some("worker at capacity or draining".to_owned())
                        } else if !served {
                            Some(format!("model {model:?} is not served here"))
                        } else if u64::from(deadline) <= now {
                            Some("the job's deadline has passed".to_owned())
                        } else if escrow.is_err() {
                            Some("the offer names no valid escrow address".to_owned())
                        } else {
                            None
                        };
                        match (refusal, escrow) {
                            (None, Ok(escrow)) => {
                                let handle = tasks.spawn(serve_job(ctx.clone(), id, escrow, nonce, endpoint, body, out_tx.clone()));
                                running.insert(id, handle);
                            }
                            (refusal, _) => {
                                let message = refusal.unwrap_or_default();
                                tracing::info!(id, %message, "job offer declined");
                                let _ = out_tx.send(WorkerMessage::JobFailed { id, message });
                            }
                        }
                    }
                    RelayerMessage::Cancel { id } => {
                        if let Some(handle) = running.remove(&id) {
                            handle.abort();
                        }
                    }
                    other => tracing::warn!(?other, "unexpected message from relayer"),
                }
            }
            Some(message) = out_rx.recv() => {
                if message.is_final() && let Some(id) = message.id() {
                    running.remove(&id);
                }
                send(&mut ws, &message).await?;
            }
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
            _ = beat.tick() => send(&mut ws, &WorkerMessage::Heartbeat).await?,
            Ok(()) = offers.changed(), if !drain_started => {
                let now = offers.borrow_and_update().clone();
                send(&mut ws, &advertise(now)).await?;
            }
            Ok(()) = draining.changed(), if !drain_started => {
                if *draining.borrow_and_update() {
                    drain_started = true;
                    tracing::info!(in_flight = running.len(), "draining");
                    send(&mut ws, &advertise(Vec::new())).await?;
                    drain_deadline.as_mut().reset(tokio::time::Instant::now() + Duration::from_secs(shared.config.drain_timeout_secs));
                }
            }
            _ = &mut drain_deadline, if drain_started => {
                tracing::warn!(abandoned = running.len(), "drain timeout: closing with requests in flight");
                tasks.abort_all();
                let _ = ws.close(None).await;
                return Ok(Ended::Drained);
            }
        }
    }
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn send(ws: &mut Ws, message: &WorkerMessage) -> anyhow::Result<()> {
    let text = serde_json::to_string(message).expect("protocol messages serialize");
    ws.send(Message::text(text))
        .await
        .context("relayer connection broke")
}

/// The next protocol message; `None` when the relayer closed the connection.
async fn next_message(ws: &mut Ws) -> anyhow::Result<Option<RelayerMessage>> {
    while let Some(frame) = ws.next().await {
        match frame.context("relayer connection broke")? {
            Message::Text(text) => {
                return serde_json::from_str(&text)
                    .map(Some)
                    .context("bad message from relayer");
            }
            Message::Close(frame) => {
                if let Some(frame) = frame {
                    bail!("relayer closed the connection: {}", frame.reason);
                }
                return Ok(None);
            }
            _ => {}
        }
    }
    Ok(None)
}
