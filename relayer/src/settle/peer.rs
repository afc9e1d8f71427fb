//! The peer API: `POST /v1/peer/voucher-sign`, where the account's home gateway (the
//! coordinator) asks the other relayers of the set for their voucher signatures.
//!
//! A request is authenticated by the requesting relayer's ed25519 signature over a cell
//! `"PEER" from:bits256 to:bits256 sent_at:uint64 ^voucher_payload`: only a configured
//! peer's key is accepted, the request names the relayer it is meant for (so it cannot be
//! replayed to another), and `sent_at` must be within [`MAX_SKEW_SECS`] of now. A replay
//! inside that window only returns the same stored signature again.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use spindle_sdk::protocol::compute_account::Voucher;
use spindle_sdk::{Cell, Signature, SigningKey, TonAddress, VerifyingKey, address, boc, signing};

use super::signer::VoucherSigner;
use crate::gateway::problem::Problem;

pub const PATH: &str = "/v1/peer/voucher-sign";
/// How far a request's `sent_at` may be from the signer's clock.
pub const MAX_SKEW_SECS: u64 = 300;
const AUTH_TAG: u32 = u32::from_be_bytes(*b"PEER");

/// A request for a voucher signature.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SignRequest {
    pub global_id: i32,
    pub account: String,
    pub epoch: u64,
    pub provider_owner: String,
    /// Decimal nanoTON (u128 does not fit JSON numbers everywhere).
    pub cumulative: String,
    pub valid_until: u32,
    /// Hex ed25519 keys of the requester and of the relayer asked.
    pub from: String,
    pub to: String,
    pub sent_at: u64,
    /// Hex signature of the requester over the auth cell.
    pub signature: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SignResponse {
    pub signer: String,
    pub signature: String,
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn auth_cell(from: &[u8; 32], to: &[u8; 32], sent_at: u64, payload: Cell) -> Result<Cell, String> {
    boc::build(|b| {
        b.store_u32(32, AUTH_TAG)?
            .store_slice(from)?
            .store_slice(to)?
            .store_u64(64, sent_at)?
            .store_child(payload)?;
        Ok(())
    })
    .map_err(|e| e.to_string())
}

impl SignRequest {
    /// A request from `key` to the relayer `to` for `v`, signed now.
    pub fn new(v: &Voucher, key: &SigningKey, to: &VerifyingKey) -> Result<Self, String> {
        let from = key.verifying_key().to_bytes();
        let sent_at = unix_now();
        let payload = v.payload().map_err(|e| e.to_string())?;
        let auth = auth_cell(&from, to.as_bytes(), sent_at, payload)?;
        Ok(Self {
            global_id: v.global_id,
            account: address::to_raw(&v.account),
            epoch: v.epoch,
            provider_owner: address::to_raw(&v.provider_owner),
            cumulative: v.cumulative.to_string(),
            valid_until: v.valid_until,
            from: hex::encode(from),
            to: hex::encode(to.as_bytes()),
            sent_at,
            signature: hex::encode(signing::sign(key, &auth).to_bytes()),
        })
    }

    pub fn voucher(&self) -> Result<Voucher, String> {
        let addr = |s: &str| -> Result<TonAddress, String> {
            address::parse_address(s).map_err(|e| e.to_string())
        };
        Ok(Voucher {
            global_id: self.global_id,
            account: addr(&self.account)?,
            epoch: self.epoch,
            provider_owner: addr(&self.provider_owner)?,
            cumulative: self
                .cumulative
                .parse()
                .map_err(|_| "cumulative is not a decimal integer")?,
            valid_until: self.valid_until,
        })
    }

    /// Checks the request came from `from`, a configured peer, and is meant for `me`.
    fn authenticate(
        &self,
        me: &VerifyingKey,
        peers: &[VerifyingKey],
        v: &Voucher,
    ) -> Result<(), String> {
        let payload = v.payload().map_err(|e| e.to_string())?;
        authenticate(
            &self.from,
            &self.to,
            self.sent_at,
            &self.signature,
            me,
            peers,
            payload,
        )
        .map(|_| ())
    }
}

/// Signs a peer request for `payload` from `key` to `to`: `(sent_at, hex signature)`.
pub(crate) fn sign_request(
    key: &SigningKey,
    to: &VerifyingKey,
    payload: Cell,
) -> Result<(u64, String), String> {
    let sent_at = unix_now();
    let auth = auth_cell(
        &key.verifying_key().to_bytes(),
        to.as_bytes(),
        sent_at,
        payload,
    )?;
    Ok((sent_at, hex::encode(signing::sign(key, &auth).to_bytes())))
}

/// Checks a peer request over `payload`: from a configured peer (returned), meant for
/// `me`, recent, and signed by the peer. Shared by every peer endpoint.
pub(crate) fn authenticate(
    from: &str,
    to: &str,
    sent_at: u64,
    signature: &str,
    me: &VerifyingKey,
    peers: &[VerifyingKey],
    payload: Cell,
) -> Result<VerifyingKey, String> {
    let key32 = |s: &str| -> Result<[u8; 32], String> {
        hex::decode(s)
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| format!("{s:?} is not a 32-byte hex key"))
    };
    let from = key32(from)?;
    if key32(to)? != me.to_bytes() {
        return Err("the request is meant for another relayer".into());
    }
    let peer = peers
        .iter()
        .find(|k| k.to_bytes() == from)
        .ok_or("the requester is not a configured peer")?;
    if sent_at.abs_diff(unix_now()) > MAX_SKEW_SECS {
        return Err("sent_at is too far from now".into());
    }
    let sig: [u8; 64] = hex::decode(signature)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or("signature is not 64 hex bytes")?;
    let auth = auth_cell(&from, &me.to_bytes(), sent_at, payload)?;
    signing::verify(peer, &auth, &Signature::from_bytes(&sig))
        .map_err(|_| "bad request signature".to_owned())?;
    Ok(*peer)
}

/// The peer API's state: this relayer's signer and the keys of its peers.
pub struct PeerApi {
    pub signer: Arc<VoucherSigner>,
    pub peers: Vec<VerifyingKey>,
}

impl PeerApi {
    pub fn router(self: &Arc<Self>) -> Router {
        Router::new()
            .route(PATH, post(voucher_sign))
            .with_state(self.clone())
    }
}

async fn voucher_sign(State(api): State<Arc<PeerApi>>, Json(req): Json<SignRequest>) -> Response {
    let v = match req.voucher() {
        Ok(v) => v,
        Err(e) => return Problem::bad_request(e).into_response(),
    };
    let me = api.signer.key.verifying_key();
    if let Err(e) = req.authenticate(&me, &api.peers, &v) {
        tracing::warn!(from = %req.from, error = %e, "refused a peer request");
        return Problem::new(
            StatusCode::UNAUTHORIZED,
            "peer-unauthenticated",
            "Peer not authenticated",
            e,
        )
        .into_response();
    }
    match api.signer.sign(&v).await {
        Ok(sig) => Json(SignResponse {
            signer: hex::encode(me.to_bytes()),
            signature: hex::encode(sig.to_bytes()),
        })
        .into_response(),
        Err(e) => {
            tracing::warn!(account = %req.account, error = %e, "refused to sign a voucher");
            let status = if e.is_transient() {
                StatusCode::SERVICE_UNAVAILABLE
            } else {
                StatusCode::CONFLICT
            };
            Problem::new(status, "voucher-refused", "Voucher refused", e.to_string())
                .into_response()
        }
    }
}

/// Asks one peer for its signature and checks it over the voucher before returning it.
pub async fn request_signature(
    http: &reqwest::Client,
    url: &str,
    peer: &VerifyingKey,
    key: &SigningKey,
    v: &Voucher,
) -> Result<Signature, String> {
    let req = SignRequest::new(v, key, peer)?;
    let payload = v.payload().map_err(|e| e.to_string())?;
    ask_peer(http, url, PATH, &req, peer, &payload).await
}

/// Posts `request` to a peer's `path` and returns its signature once it verifies
/// over `payload` with the peer's key (a peer's answer is never taken on trust).
pub(crate) async fn ask_peer(
    http: &reqwest::Client,
    url: &str,
    path: &str,
    request: &impl Serialize,
    peer: &VerifyingKey,
    payload: &Cell,
) -> Result<Signature, String> {
    let resp = http
        .post(format!("{}{path}", url.trim_end_matches('/')))
        .timeout(Duration::from_secs(10))
        .json(request)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if !resp.status().is_success() {
        let status = resp.status();
        return Err(format!(
            "{status}: {}",
            resp.text().await.unwrap_or_default()
        ));
    }
    let body: SignResponse = resp.json().await.map_err(|e| e.to_string())?;
    let sig: [u8; 64] = hex::decode(&body.signature)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or("peer returned a malformed signature")?;
    let sig = Signature::from_bytes(&sig);
    signing::verify(peer, payload, &sig)
        .map_err(|_| "peer's signature does not verify".to_owned())?;
    Ok(sig)
}
