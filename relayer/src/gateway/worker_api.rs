//! `GET /v1/worker/connect`: the WebSocket workers dial out to.
//!
//! The relayer sends a random challenge; the worker answers with `hello`,
//! signed by its operator key over [`auth_payload`] (tag `WAUT`, this relayer
//! as target). A bad signature, or a key that [`ProviderCheck`] refuses, gets
//! a close frame with the reason. After `welcome` the worker advertises, and
//! heartbeats; silence for three heartbeats, or a closed socket, removes its
//! capacity and fails its in-flight requests (which the gateway retries or
//! reports).
//!
//! [`ProviderCheck`]: super::providers::ProviderCheck

use super::Gateway;
use super::pool::WorkerLink;
use axum::extract::State;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::response::Response;
use futures::{SinkExt, StreamExt};
use rand::RngCore;
use spindle_worker::protocol::{RelayerMessage, WorkerMessage, auth_payload, verify_hex};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::mpsc;

const HELLO_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest frame a worker may send: one SSE event or one whole answer.
const MAX_FRAME: usize = 64 << 20;

static NEXT_WORKER: AtomicU64 = AtomicU64::new(1);

pub(crate) async fn connect(State(gw): State<Arc<Gateway>>, ws: WebSocketUpgrade) -> Response {
    ws.max_message_size(MAX_FRAME)
        .on_upgrade(move |socket| async move {
            if let Err(reason) = session(gw, socket).await {
                tracing::info!(%reason, "worker session ended");
            }
        })
}

async fn session(gw: Arc<Gateway>, mut socket: WebSocket) -> Result<(), String> {
    let mut challenge = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut challenge);
    send(
        &mut socket,
        &RelayerMessage::Challenge {
            relayer: spindle_sdk::address::to_raw(&gw.identity),
            global_id: gw.config.global_id,
            challenge: hex::encode(challenge),
        },
    )
    .await?;
    let hello = tokio::time::timeout(HELLO_TIMEOUT, next_message(&mut socket))
        .await
        .map_err(|_| "no hello in time".to_owned())??;
    let (key, owner) = match authenticate(&gw, &challenge, hello).await {
        Ok(found) => found,
        Err(reason) => {
            // 4001: a close code of the private range, "authentication failed".
            let frame = CloseFrame {
                code: 4001,
                reason: reason.clone().into(),
            };
            let _ = socket.send(Message::Close(Some(frame))).await;
            return Err(reason);
        }
    };
    send(
        &mut socket,
        &RelayerMessage::Welcome {
            heartbeat_secs: gw.config.heartbeat_secs,
        },
    )
    .await?;

    let (tx, mut rx) = mpsc::unbounded_channel::<RelayerMessage>();
    let link = Arc::new(WorkerLink {
        id: NEXT_WORKER.fetch_add(1, Ordering::Relaxed),
        operator_key: key,
        owner,
        tx,
        pending: Default::default(),
    });
    tracing::info!(worker = link.id, owner = %spindle_sdk::address::to_raw(&link.owner), "worker connected");
    gw.pool.add(link.clone());
    let (mut sink, mut stream) = socket.split();
    let writer = tokio::spawn(async move {
        while let Some(message) = rx.recv().await {
            let text = serde_json::to_string(&message).expect("protocol messages serialize");
            if sink.send(Message::Text(text.into())).await.is_err() {
                return;
            }
        }
    });
    let silence = Duration::from_secs(gw.config.heartbeat_secs.max(1) * 3);
    let result = loop {
        let frame = match tokio::time::timeout(silence, stream.next()).await {
            Err(_) => break Err("no heartbeat".to_owned()),
            Ok(None) => break Ok(()),
            Ok(Some(Err(e))) => break Err(e.to_string()),
            Ok(Some(Ok(frame))) => frame,
        };
        let text = match frame {
            Message::Text(text) => text,
            Message::Close(_) => break Ok(()),
            _ => continue,
        };
        match serde_json::from_str::<WorkerMessage>(&text) {
            Ok(WorkerMessage::Advertise {
                max_concurrency,
                models,
            }) => {
                tracing::info!(
                    worker = link.id,
                    max_concurrency,
                    models = models.len(),
                    "worker advertised"
                );
                gw.pool.advertise(link.id, max_concurrency, models);
            }
            Ok(WorkerMessage::Heartbeat) => {}
            Ok(WorkerMessage::Hello { .. }) => break Err("second hello".to_owned()),
            Ok(m @ WorkerMessage::Chunk { id, .. })
            | Ok(m @ WorkerMessage::Done { id, .. })
            | Ok(m @ WorkerMessage::Failed { id, .. })
            | Ok(m @ WorkerMessage::JobAccepted { id, .. })
            | Ok(m @ WorkerMessage::JobResult { id, .. })
            | Ok(m @ WorkerMessage::JobFailed { id, .. }) => link.deliver(id, m),
            Err(e) => break Err(format!("bad message: {e}")),
        }
    };
    gw.pool.remove(link.id);
    writer.abort();
    tracing::info!(worker = link.id, "worker disconnected");
    result
}

/// Checks `hello`: the signature over this session's challenge, then the seam
/// that decides whether the key belongs to a staked provider.
async fn authenticate(
    gw: &Gateway,
    challenge: &[u8; 32],
    hello: WorkerMessage,
) -> Result<(spindle_sdk::VerifyingKey, spindle_sdk::TonAddress), String> {
    let WorkerMessage::Hello {
        operator_key,
        owner,
        signature,
    } = hello
    else {
        return Err("expected hello".into());
    };
    let key = hex::decode(&operator_key).map_err(|_| "operator_key is not hex".to_owned())?;
    let key = spindle_sdk::signing::verifying_key(&key).map_err(|e| e.to_string())?;
    let owner = spindle_sdk::address::parse_address(&owner).map_err(|e| e.to_string())?;
    let payload = auth_payload(gw.config.global_id, &gw.identity, challenge, &owner)
        .map_err(|e| e.to_string())?;
    verify_hex(&key, &payload, &signature).map_err(|e| format!("bad hello signature: {e}"))?;
    gw.providers.check_staked_provider(&key, &owner).await?;
    Ok((key, owner))
}

async fn send(socket: &mut WebSocket, message: &RelayerMessage) -> Result<(), String> {
    let text = serde_json::to_string(message).expect("protocol messages serialize");
    socket
        .send(Message::Text(text.into()))
        .await
        .map_err(|e| e.to_string())
}

async fn next_message(socket: &mut WebSocket) -> Result<WorkerMessage, String> {
    while let Some(frame) = socket.recv().await {
        match frame.map_err(|e| e.to_string())? {
            Message::Text(text) => {
                return serde_json::from_str(&text).map_err(|e| format!("bad message: {e}"));
            }
            Message::Close(_) => break,
            _ => {}
        }
    }
    Err("closed before hello".into())
}
