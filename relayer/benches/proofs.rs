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
//! - `ed25519_sign`: signing a 32-byte hash on one thread, nothing else (the
//!   reference of the ratios), and `ed25519_sign/all_cores` on every core;
//! - `verify_and_sign`: the cell work and both signature operations, in memory,
//!   one thread;
//! - `persisted/sqlite`, `persisted/postgres`: the whole proof through the
//!   relayer's own signing API (`VoucherSigner::sign_checked`, what the peer
//!   endpoint and the coordinator call once the chain checks passed; it
//!   returns a signature only after its row is durable), [`IN_FLIGHT`] proofs
//!   in flight as tasks of the multi-threaded runtime (all cores), on a fresh
//!   SQLite file (WAL, signature batches at `synchronous = FULL`) and a fresh
//!   PostgreSQL database (dropped afterwards). Concurrent proofs share a
//!   transaction (group commit, `store::group_commit`).
//!
//!     cargo bench -p spindle-relayer --bench proofs -- [PROOFS]

use serde_json::json;
use sha2::{Digest, Sha256};
use spindle_relayer::Store;
use spindle_relayer::settle::VoucherSigner;
use spindle_sdk::protocol::compute_account::Voucher;
use spindle_sdk::protocol::relayer_set::RelayerSet;
use spindle_sdk::toncenter::{Toncenter, ToncenterConfig};
use spindle_sdk::{Signature, SigningKey, TonAddress, address, signing};
use spindle_worker::backend::{ResultHash, Usage};
use spindle_worker::protocol::{result_payload, sign_hex, verify_hex};
use sqlx::Connection;
use std::sync::Arc;
use std::time::Instant;

const GLOBAL_ID: i32 = -1313;
/// Proofs in flight: one per (account, provider) pair, each pair's in order.
const IN_FLIGHT: usize = 256;
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
        accounts: (0..IN_FLIGHT as u32)
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
    let raw = rate("ed25519_sign", n, started, 1);
    let cores = std::thread::available_parallelism().map_or(1, |c| c.get());
    let started = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..cores {
            s.spawn(|| {
                for _ in 0..n / cores as u64 {
                    std::hint::black_box(ed25519_dalek::Signer::sign(&ctx.relayer_key, &hash));
                }
            });
        }
    });
    rate(
        "ed25519_sign/all_cores",
        n / cores as u64 * cores as u64,
        started,
        cores,
    );

    let started = Instant::now();
    for r in &requests {
        std::hint::black_box(ctx.verify_and_sign(r)?);
    }
    let in_memory = rate("verify_and_sign", n, started, 1);

    let dir = std::env::temp_dir().join(format!("spindle-bench-proofs-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let sqlite = Store::connect(&format!(
        "sqlite://{}?mode=rwc",
        dir.join("relayer.db").display()
    ))
    .await?;
    let ctx = Arc::new(ctx);
    let requests = Arc::new(requests);
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

    /// Checks the worker's signature: what the gateway does before it charges.
    fn verify(&self, r: &Request) -> anyhow::Result<()> {
        let payload = result_payload(GLOBAL_ID, &self.relayer, r.id, &r.result_hash, &r.usage)?;
        verify_hex(&self.operator.verifying_key(), &payload, &r.signature)
            .map_err(anyhow::Error::msg)
    }

    /// The pair's new cumulative voucher after request `r`.
    fn voucher(&self, r: &Request) -> Voucher {
        let account = &self.accounts[(r.id % self.accounts.len() as u64) as usize];
        // The pair's running total after this request (each costs 1,000 nanoTON).
        let cumulative = (r.id / self.accounts.len() as u64 + 1) * 1_000;
        Voucher {
            global_id: GLOBAL_ID,
            account: account.clone(),
            epoch: 0,
            provider_owner: self.provider.clone(),
            cumulative: u128::from(cumulative),
            valid_until: u32::MAX,
        }
    }

    /// Checks the worker's signature and signs the pair's new cumulative voucher, in memory.
    fn verify_and_sign(&self, r: &Request) -> anyhow::Result<Signature> {
        self.verify(r)?;
        Ok(signing::sign(
            &self.relayer_key,
            &self.voucher(r).payload()?,
        ))
    }

    /// The relayer's voucher signer over `store` (its chain client is never called here).
    fn signer(&self, store: &Store) -> anyhow::Result<VoucherSigner> {
        Ok(VoucherSigner {
            store: store.clone(),
            key: self.relayer_key.clone(),
            set: RelayerSet::new(1, 1, vec![self.relayer_key.verifying_key()])?,
            api: Toncenter::new(ToncenterConfig::new("http://127.0.0.1:9")),
            global_id: GLOBAL_ID,
        })
    }
}

/// Whole proofs, one task per (account, provider) pair ([`IN_FLIGHT`] at once); a
/// pair's vouchers are committed in order (requests of one pair are serialised, as the
/// home gateway does).
async fn persisted(
    name: &str,
    ctx: &Arc<Ctx>,
    store: &Store,
    requests: &Arc<Vec<Request>>,
) -> anyhow::Result<f64> {
    let signer = Arc::new(ctx.signer(store)?);
    let pairs = ctx.accounts.len();
    let started = Instant::now();
    let lanes: Vec<_> = (0..pairs)
        .map(|lane| {
            let (ctx, signer, requests) = (ctx.clone(), signer.clone(), requests.clone());
            tokio::spawn(async move {
                for r in requests.iter().skip(lane).step_by(pairs) {
                    ctx.verify(r)?;
                    signer
                        .sign_checked(&ctx.voucher(r), 0)
                        .await
                        .map_err(|e| anyhow::anyhow!("proof {}: {e}", r.id))?;
                }
                anyhow::Ok(())
            })
        })
        .collect();
    for lane in lanes {
        lane.await??;
    }
    let per_s = rate(name, requests.len() as u64, started, IN_FLIGHT);
    // Every proof's voucher is in the store: the newest of each pair is its last one.
    let last = &requests[requests.len() - 1];
    let stored = store
        .voucher(
            &address::to_raw(&ctx.voucher(last).account),
            &address::to_raw(&ctx.provider),
        )
        .await?
        .ok_or_else(|| anyhow::anyhow!("{name}: no voucher stored"))?;
    anyhow::ensure!(
        u128::from(stored.voucher.cumulative) == ctx.voucher(last).cumulative,
        "{name}: the newest voucher was not stored"
    );
    Ok(per_s)
}

fn round(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// Prints and returns `n` per second since `started`, `in_flight` at a time.
fn rate(case: &str, n: u64, started: Instant, in_flight: usize) -> f64 {
    let per_s = n as f64 / started.elapsed().as_secs_f64();
    println!(
        "{}",
        json!({"bench": "relayer", "case": case, "n": n, "per_s": per_s.round(), "in_flight": in_flight})
    );
    per_s
}
