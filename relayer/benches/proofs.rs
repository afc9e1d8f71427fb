//! How many proofs a relayer verifies, signs and persists per second, next to
//! raw ed25519 signing measured in the same run (a benchmark, not a test;
//! `scripts/bench relayer` runs it).
//!
//! One proof is what a relayer does for each metered request it settles: build
//! and verify the worker's signed result (tag `WRES`: request id, result hash,
//! usage), build the cumulative voucher cell for the (account, provider) pair
//! and sign it, and commit that signature to the store (the store refuses a
//! lower voucher, so this is a real write transaction, not an append). Stages
//! are measured separately so the cost of each is visible:
//!
//! - `ed25519_sign`: signing a 32-byte hash, nothing else;
//! - `verify_and_sign`: the cell work and both signature operations, in memory;
//! - `persisted/sqlite`, `persisted/postgres`: the whole proof including the
//!   store commit, 16 proofs in flight, on a fresh SQLite file (WAL) and a
//!   fresh PostgreSQL database (dropped afterwards).
//!
//!     cargo bench -p spindle-relayer --bench proofs -- [PROOFS]

use futures::StreamExt;
use serde_json::json;
use sha2::{Digest, Sha256};
use spindle_relayer::Store;
use spindle_relayer::store::VoucherSignature;
use spindle_sdk::protocol::compute_account::Voucher;
use spindle_sdk::{SigningKey, TonAddress, address, signing};
use spindle_worker::backend::{ResultHash, Usage};
use spindle_worker::protocol::{result_payload, sign_hex, verify_hex};
use sqlx::Connection;
use std::time::Instant;

const GLOBAL_ID: i32 = -1313;
const IN_FLIGHT: usize = 16;
const POSTGRES_ADMIN: &str = "postgres://postgres@127.0.0.1:5432/test";

/// What one worker sent for one request: the inputs of a proof.
struct Request {
    id: u64,
    result_hash: ResultHash,
    usage: Usage,
    signature: String,
}

struct Ctx {
    relayer: TonAddress,
    relayer_key: SigningKey,
    operator: SigningKey,
    provider: TonAddress,
    accounts: Vec<TonAddress>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let n: u64 = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with("--"))
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(20_000);
    let ctx = Ctx {
        relayer: address::parse_address(&format!("0:{}", "11".repeat(32)))?,
        relayer_key: SigningKey::from_bytes(&[1; 32]),
        operator: SigningKey::from_bytes(&[7; 32]),
        provider: address::parse_address(&format!("0:{}", "0e".repeat(32)))?,
        // Many pairs, as in production: each proof raises one pair's cumulative.
        accounts: (0..256u32)
            .map(|i| {
                let mut raw = [0u8; 32];
                raw[..4].copy_from_slice(&i.to_be_bytes());
                address::parse_address(&format!("0:{}", hex::encode(raw)))
            })
            .collect::<Result<_, _>>()?,
    };
    let requests: Vec<Request> = (0..n)
        .map(|i| ctx.worker_result(i))
        .collect::<anyhow::Result<_>>()?;

    let hash = [42u8; 32];
    let started = Instant::now();
    for _ in 0..n {
        std::hint::black_box(ed25519_dalek::Signer::sign(&ctx.relayer_key, &hash));
    }
    let raw = rate("ed25519_sign", n, started);

    let started = Instant::now();
    for r in &requests {
        std::hint::black_box(ctx.verify_and_sign(r)?);
    }
    let in_memory = rate("verify_and_sign", n, started);

    let dir = std::env::temp_dir().join(format!("spindle-bench-proofs-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let sqlite = Store::connect(&format!(
        "sqlite://{}?mode=rwc",
        dir.join("relayer.db").display()
    ))
    .await?;
    let persisted_sqlite = persisted("persisted/sqlite", &ctx, &sqlite, &requests).await?;
    sqlite.close().await;
    let _ = std::fs::remove_dir_all(&dir);

    let db = format!("spindle_bench_{}", std::process::id());
    let mut admin = sqlx::PgConnection::connect(POSTGRES_ADMIN).await?;
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{db}\"")))
        .execute(&mut admin)
        .await?;
    let pg = Store::connect(&POSTGRES_ADMIN.replace("/test", &format!("/{db}"))).await?;
    let persisted_pg = persisted("persisted/postgres", &ctx, &pg, &requests).await;
    pg.close().await;
    sqlx::query(sqlx::AssertSqlSafe(format!("DROP DATABASE \"{db}\"")))
        .execute(&mut admin)
        .await?;
    let persisted_pg = persisted_pg?;

    println!(
        "{}",
        json!({
            "bench": "relayer", "case": "ratios",
            "verify_and_sign_over_ed25519_sign": round(in_memory / raw),
            "persisted_sqlite_over_ed25519_sign": round(persisted_sqlite / raw),
            "persisted_postgres_over_ed25519_sign": round(persisted_pg / raw),
        })
    );
    Ok(())
}

impl Ctx {
    fn worker_result(&self, id: u64) -> anyhow::Result<Request> {
        let result_hash = ResultHash(Sha256::digest(id.to_be_bytes()).into());
        let usage = Usage {
            prompt_tokens: 20,
            completion_tokens: 32,
            total_tokens: 52,
            cached_tokens: 0,
        };
        let payload = result_payload(GLOBAL_ID, &self.relayer, id, &result_hash, &usage)?;
        let signature = sign_hex(&self.operator, &payload);
        Ok(Request {
            id,
            result_hash,
            usage,
            signature,
        })
    }

    /// Checks the worker's signature and signs the pair's new cumulative voucher.
    fn verify_and_sign(&self, r: &Request) -> anyhow::Result<VoucherSignature> {
        let payload = result_payload(GLOBAL_ID, &self.relayer, r.id, &r.result_hash, &r.usage)?;
        verify_hex(&self.operator.verifying_key(), &payload, &r.signature)
            .map_err(anyhow::Error::msg)?;
        let account = &self.accounts[(r.id % self.accounts.len() as u64) as usize];
        // The pair's running total after this request (each costs 1,000 nanoTON).
        let cumulative = (r.id / self.accounts.len() as u64 + 1) * 1_000;
        let voucher = Voucher {
            global_id: GLOBAL_ID,
            account: account.clone(),
            epoch: 0,
            provider_owner: self.provider.clone(),
            cumulative: u128::from(cumulative),
            valid_until: u32::MAX,
        };
        let payload = voucher.payload()?;
        let signature = signing::sign(&self.relayer_key, &payload);
        Ok(VoucherSignature {
            account: address::to_raw(account),
            provider: address::to_raw(&self.provider),
            epoch: 0,
            cumulative,
            valid_until: i64::from(u32::MAX),
            payload_hash: payload.cell_hash().as_slice().try_into()?,
            signature: signature.to_bytes(),
        })
    }
}

/// Whole proofs, [`IN_FLIGHT`] at a time; a pair's vouchers are committed in
/// order (requests of one pair are serialised, as the home gateway does).
async fn persisted(
    name: &str,
    ctx: &Ctx,
    store: &Store,
    requests: &[Request],
) -> anyhow::Result<f64> {
    let pairs = ctx.accounts.len();
    let started = Instant::now();
    let lanes: Vec<anyhow::Result<()>> = futures::stream::iter(0..pairs)
        .map(|lane| async move {
            for r in requests.iter().skip(lane).step_by(pairs) {
                let v = ctx.verify_and_sign(r)?;
                store.commit_voucher_signature(&v, 0).await?;
            }
            Ok(())
        })
        .buffer_unordered(IN_FLIGHT)
        .collect()
        .await;
    lanes.into_iter().collect::<anyhow::Result<()>>()?;
    Ok(rate(name, requests.len() as u64, started))
}

fn round(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

fn rate(case: &str, n: u64, started: Instant) -> f64 {
    let per_s = n as f64 / started.elapsed().as_secs_f64();
    println!(
        "{}",
        json!({"bench": "relayer", "case": case, "n": n, "per_s": per_s.round()})
    );
    per_s
}
