//! Group commit of this relayer's signatures: concurrent requests to commit a voucher or
//! job signature are written in one database transaction, and each caller gets its own
//! outcome only after that transaction committed (the row is durable before the
//! signature may leave the process).
//!
//! Why: a commit per signature costs a transaction (and on SQLite an fsync) each, which
//! capped a relayer at a few thousand signatures per second; one transaction for every
//! request that arrived while the previous one was committing costs the same fsync for
//! hundreds of them.
//!
//! Safety is unchanged, because each rule is still decided per key inside the
//! transaction, in arrival order:
//! - a voucher is a conditional upsert (`ON CONFLICT … DO UPDATE … WHERE` higher epoch,
//!   or same epoch and cumulative not lower); a request it did not apply to is refused
//!   with the row it lost to. On PostgreSQL a batch is written as few multi-row
//!   statements as possible: "rounds" in which each (account, provider) appears once, so
//!   two requests for one pair are never decided by the same statement;
//! - a job signature is `INSERT … ON CONFLICT DO NOTHING` and a re-read of the one row
//!   the primary key allows, so whoever wrote first (in this batch, an earlier batch or
//!   another replica) wins and every other proof for that job is refused.
//!
//! A refused request writes nothing. If the batch transaction fails as a whole (a
//! database error, a deadlock with a replica), it rolled back, and its requests are
//! committed again one transaction each, so one bad request cannot fail the others.
//!
//! Durability: the SQLite store runs WAL with `synchronous = NORMAL` (a commit survives
//! a crash of the process but may be lost on power loss); signature batches switch their
//! connection to `synchronous = FULL` so a signature handed out survives power loss too
//! (a lost row could let a restarted relayer sign a different result). PostgreSQL keeps
//! its own `synchronous_commit` (on by default).

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use sqlx::Connection;
use tokio::sync::{mpsc, oneshot};

use super::jobs::{load_job, set_job_state};
use super::row::RowExt;
use super::signing::{JobProof, SignOutcome, VoucherSignature};
use super::{Backend, Store, StoreError, from_db, to_db};
use crate::job::JobState;

/// Most requests committed in one transaction.
const MAX_BATCH: usize = 512;
/// Requests waiting for a batch before callers wait to enqueue (back-pressure).
const QUEUE: usize = 8 * MAX_BATCH;

/// One signature to commit.
pub(crate) enum Request {
    Voucher(VoucherSignature, i64),
    Job(JobProof, [u8; 64], i64),
}

type Outcome = Result<SignOutcome, StoreError>;

struct Pending {
    request: Request,
    reply: oneshot::Sender<Outcome>,
}

/// The queue to this store's batcher task, started on first use (on the runtime of the
/// first caller; the task ends when the last [`Store`] clone is dropped).
#[derive(Clone, Default)]
pub(crate) struct SignQueue(Arc<OnceLock<mpsc::Sender<Pending>>>);

impl Store {
    /// Commits `request` with whatever else is waiting, and returns its own outcome once
    /// the batch transaction committed.
    pub(crate) async fn commit_signature(&self, request: Request) -> Outcome {
        let queue = self.signing.0.get_or_init(|| {
            let (tx, rx) = mpsc::channel(QUEUE);
            tokio::spawn(run(self.backend.clone(), rx));
            tx
        });
        let (reply, answer) = oneshot::channel();
        queue
            .send(Pending { request, reply })
            .await
            .map_err(|_| StoreError::Corrupt("the signature batcher stopped".into()))?;
        answer
            .await
            .map_err(|_| StoreError::Corrupt("the signature batcher dropped a request".into()))?
    }
}

async fn run(backend: Backend, mut rx: mpsc::Receiver<Pending>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let pending = std::mem::take(&mut batch);
        let (requests, replies): (Vec<_>, Vec<_>) =
            pending.into_iter().map(|p| (p.request, p.reply)).unzip();
        if requests.len() > 1 {
            match commit_batch(&backend, &requests).await {
                Ok(outcomes) => {
                    for (reply, outcome) in replies.into_iter().zip(outcomes) {
                        let _ = reply.send(outcome);
                    }
                    continue;
                }
                Err(e) => tracing::warn!(
                    error = %e,
                    requests = requests.len(),
                    "signature batch failed; committing its requests one by one"
                ),
            }
        }
        for (request, reply) in requests.iter().zip(replies) {
            let outcome = commit_batch(&backend, std::slice::from_ref(request))
                .await
                .and_then(|mut o| o.pop().expect("one outcome per request"));
            let _ = reply.send(outcome);
        }
    }
}

/// The refusal of voucher `$v`, naming the voucher it lost to (read in `$tx`).
macro_rules! not_monotonic {
    ($tx:expr, $v:expr) => {{
        let v: &VoucherSignature = $v;
        let row = sqlx::query(
            "SELECT epoch, cumulative FROM vouchers WHERE account = $1 AND provider = $2",
        )
        .bind(&v.account)
        .bind(&v.provider)
        .fetch_one($tx)
        .await?;
        StoreError::VoucherNotMonotonic {
            account: v.account.clone(),
            provider: v.provider.clone(),
            signed_epoch: from_db("epoch", row.int("epoch")?)?,
            signed_cumulative: from_db("cumulative", row.int("cumulative")?)?,
            epoch: v.epoch,
            cumulative: v.cumulative,
        }
    }};
}

/// Commits one job's proof signature inside the batch transaction `$tx`; evaluates to the
/// request's outcome (a refusal wrote nothing). Database errors, and the rare refusals
/// of `load_job!` (unknown job), return `Err` from the caller: the batch rolls back and
/// its requests are committed one by one, where that error is the request's answer.
macro_rules! commit_job {
    ($tx:expr, $pg:expr, $proof:expr, $signature:expr, $now:expr) => {{
        let (proof, signature, now): (&JobProof, &[u8; 64], i64) = ($proof, $signature, $now);
        let job = load_job!(&mut *$tx, &proof.escrow, $pg);
        let signed = sqlx::query("SELECT 1 AS one FROM job_signatures WHERE escrow = $1")
            .bind(&proof.escrow)
            .fetch_optional(&mut *$tx)
            .await?;
        'job: {
            if signed.is_none() {
                let stored = sqlx::query(
                    "SELECT 1 AS one FROM results WHERE escrow = $1 AND result_hash = $2",
                )
                .bind(&proof.escrow)
                .bind(&proof.result_hash[..])
                .fetch_optional(&mut *$tx)
                .await?;
                if stored.is_none() {
                    break 'job Err(StoreError::ResultNotStored {
                        escrow: proof.escrow.clone(),
                        result: hex::encode(proof.result_hash),
                    });
                }
                // The primary key admits one row per job, whoever writes it first.
                let inserted = sqlx::query(
                    "INSERT INTO job_signatures (escrow, result_hash, provider, amount, payload_hash, \
                     signature, signed_at) VALUES ($1, $2, $3, $4, $5, $6, $7) \
                     ON CONFLICT (escrow) DO NOTHING",
                )
                .bind(&proof.escrow)
                .bind(&proof.result_hash[..])
                .bind(&proof.provider)
                .bind(to_db("amount", proof.amount)?)
                .bind(&proof.payload_hash[..])
                .bind(&signature[..])
                .bind(now)
                .execute(&mut *$tx)
                .await?
                .rows_affected()
                    == 1;
                if inserted {
                    if job.state == JobState::ResultStored {
                        set_job_state!($tx, &job, JobState::Signed, now);
                    }
                    break 'job Ok(SignOutcome::New(*signature));
                }
            }
            // The one signature of this job exists: the same proof gets it again.
            let row = sqlx::query(
                "SELECT result_hash, payload_hash, signature FROM job_signatures WHERE escrow = $1",
            )
            .bind(&proof.escrow)
            .fetch_one(&mut *$tx)
            .await?;
            let payload_hash: [u8; 32] = row.array("payload_hash")?;
            if payload_hash != proof.payload_hash {
                let result: [u8; 32] = row.array("result_hash")?;
                break 'job Err(StoreError::ConflictingProof {
                    escrow: proof.escrow.clone(),
                    signed_result: hex::encode(result),
                });
            }
            Ok(SignOutcome::Existing(row.array("signature")?))
        }
    }};
}

/// Commits `requests` in one transaction. `Ok` holds each request's outcome (a refusal
/// wrote nothing); `Err` means the transaction failed and rolled back as a whole.
async fn commit_batch(backend: &Backend, requests: &[Request]) -> Result<Vec<Outcome>, StoreError> {
    let mut outcomes: Vec<Option<Outcome>> = requests.iter().map(|_| None).collect();
    // Lock rows in key order (fewer deadlocks with a replica's batch); the sort is
    // stable, so requests for one key keep their arrival order.
    let mut vouchers: Vec<usize> = Vec::new();
    let mut jobs: Vec<usize> = Vec::new();
    for (i, r) in requests.iter().enumerate() {
        match r {
            Request::Voucher(..) => vouchers.push(i),
            Request::Job(..) => jobs.push(i),
        }
    }
    let voucher = |i: usize| match &requests[i] {
        Request::Voucher(v, now) => (v, *now),
        Request::Job(..) => unreachable!("indexes of vouchers"),
    };
    let job = |i: usize| match &requests[i] {
        Request::Job(p, s, now) => (p, s, *now),
        Request::Voucher(..) => unreachable!("indexes of jobs"),
    };
    vouchers.sort_by(|&a, &b| {
        let (a, b) = (voucher(a).0, voucher(b).0);
        (&a.account, &a.provider).cmp(&(&b.account, &b.provider))
    });
    jobs.sort_by(|&a, &b| job(a).0.escrow.cmp(&job(b).0.escrow));

    match backend {
        Backend::Sqlite(pool) => {
            let mut conn = pool.acquire().await?;
            sqlx::query("PRAGMA synchronous = FULL")
                .execute(&mut *conn)
                .await?;
            {
                let mut tx = conn.begin_with("BEGIN IMMEDIATE").await?;
                for &i in &vouchers {
                    let (v, now) = voucher(i);
                    outcomes[i] = Some(upsert_voucher(&mut tx, v, now).await?);
                }
                for &i in &jobs {
                    let (proof, signature, now) = job(i);
                    outcomes[i] = Some(commit_job!(tx, false, proof, signature, now));
                }
                tx.commit().await?;
            }
            sqlx::query("PRAGMA synchronous = NORMAL")
                .execute(&mut *conn)
                .await?;
        }
        Backend::Postgres(pool) => {
            let mut tx = pool.begin().await?;
            for round in rounds(&vouchers, |i| {
                let v = voucher(i).0;
                (v.account.as_str(), v.provider.as_str())
            }) {
                let applied = upsert_vouchers_pg(&mut tx, &round, voucher).await?;
                for (&i, applied) in round.iter().zip(applied) {
                    let (v, _) = voucher(i);
                    outcomes[i] = Some(if applied {
                        Ok(SignOutcome::New(v.signature))
                    } else {
                        Err(not_monotonic!(&mut *tx, v))
                    });
                }
            }
            for &i in &jobs {
                let (proof, signature, now) = job(i);
                outcomes[i] = Some(commit_job!(tx, true, proof, signature, now));
            }
            tx.commit().await?;
        }
    }
    Ok(outcomes
        .into_iter()
        .map(|o| o.expect("every request decided"))
        .collect())
}

/// Splits `indexes` into rounds in which each key appears at most once, the n-th request
/// of a key in the n-th round (so rounds applied in order keep each key's arrival order).
fn rounds<'a>(indexes: &[usize], key: impl Fn(usize) -> (&'a str, &'a str)) -> Vec<Vec<usize>> {
    let mut seen: HashMap<(&str, &str), usize> = HashMap::new();
    let mut rounds: Vec<Vec<usize>> = Vec::new();
    for &i in indexes {
        let n = seen.entry(key(i)).or_insert(0);
        if rounds.len() <= *n {
            rounds.push(Vec::new());
        }
        rounds[*n].push(i);
        *n += 1;
    }
    rounds
}

/// The voucher upsert's conflict clause: applies only to a higher epoch, or the same
/// epoch with a cumulative not lower (an equal one may be re-signed, e.g. with a later
/// `valid_until`). A macro so the statements stay `&'static str` (prepared once, cached).
macro_rules! voucher_upsert_tail {
    () => {
        " ON CONFLICT (account, provider) DO UPDATE SET epoch = excluded.epoch, \
         cumulative = excluded.cumulative, valid_until = excluded.valid_until, \
         payload_hash = excluded.payload_hash, signature = excluded.signature, \
         updated_at = excluded.updated_at, \
         settled = CASE WHEN excluded.epoch > vouchers.epoch THEN 0 ELSE vouchers.settled END \
         WHERE excluded.epoch > vouchers.epoch \
         OR (excluded.epoch = vouchers.epoch AND excluded.cumulative >= vouchers.cumulative)"
    };
}

async fn upsert_voucher(
    tx: &mut sqlx::SqliteConnection,
    v: &VoucherSignature,
    now: i64,
) -> Result<Outcome, StoreError> {
    let done = sqlx::query(concat!(
        "INSERT INTO vouchers (account, provider, epoch, cumulative, valid_until, payload_hash, \
         signature, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        voucher_upsert_tail!()
    ))
    .bind(&v.account)
    .bind(&v.provider)
    .bind(to_db("epoch", v.epoch)?)
    .bind(to_db("cumulative", v.cumulative)?)
    .bind(v.valid_until)
    .bind(&v.payload_hash[..])
    .bind(&v.signature[..])
    .bind(now)
    .execute(&mut *tx)
    .await?;
    Ok(if done.rows_affected() == 1 {
        Ok(SignOutcome::New(v.signature))
    } else {
        Err(not_monotonic!(&mut *tx, v))
    })
}

/// One multi-row upsert of vouchers with distinct keys; which of them applied.
async fn upsert_vouchers_pg<'v>(
    tx: &mut sqlx::PgConnection,
    round: &[usize],
    voucher: impl Fn(usize) -> (&'v VoucherSignature, i64),
) -> Result<Vec<bool>, StoreError> {
    let n = round.len();
    let (mut accounts, mut providers) = (Vec::with_capacity(n), Vec::with_capacity(n));
    let (mut epochs, mut cumulatives, mut valid) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    let (mut hashes, mut signatures, mut times) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    for &i in round {
        let (v, now) = voucher(i);
        accounts.push(v.account.as_str());
        providers.push(v.provider.as_str());
        epochs.push(to_db("epoch", v.epoch)?);
        cumulatives.push(to_db("cumulative", v.cumulative)?);
        valid.push(v.valid_until);
        hashes.push(&v.payload_hash[..]);
        signatures.push(&v.signature[..]);
        times.push(now);
    }
    let rows = sqlx::query(concat!(
        "INSERT INTO vouchers (account, provider, epoch, cumulative, valid_until, payload_hash, \
         signature, updated_at) SELECT * FROM UNNEST($1::text[], $2::text[], $3::int8[], \
         $4::int8[], $5::int8[], $6::bytea[], $7::bytea[], $8::int8[])",
        voucher_upsert_tail!(),
        " RETURNING account, provider"
    ))
    .bind(&accounts)
    .bind(&providers)
    .bind(&epochs)
    .bind(&cumulatives)
    .bind(&valid)
    .bind(&hashes)
    .bind(&signatures)
    .bind(&times)
    .fetch_all(&mut *tx)
    .await?;
    let mut applied = std::collections::HashSet::with_capacity(rows.len());
    for row in &rows {
        applied.insert((row.text("account")?, row.text("provider")?));
    }
    Ok(round
        .iter()
        .map(|&i| {
            let v = voucher(i).0;
            applied.contains(&(v.account.clone(), v.provider.clone()))
        })
        .collect())
}
