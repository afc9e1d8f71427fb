//! Persistence of the outbox state machine ([`crate::outbox`]) and the posting lease.
//!
//! Every step is one `UPDATE … WHERE id = $id AND state = $old AND attempts = $n`: if it
//! touches no row, the entry was stale and the step is refused. A submission also
//! requires the caller's posting lease to be live in the same statement, so a replica
//! whose lease ran out (and was taken over) cannot record a send.

use super::jobs::{load_job, set_job_state};
use super::row::RowExt;
use super::{Store, StoreError, from_db, to_db, with_pool, with_tx};
use crate::job::JobState;
use crate::outbox::{
    AnyOutboxEntry, Confirmed, FailedRetryable, Failure, NewOutboxItem, OutboxEntry, OutboxId,
    OutboxKind, OutboxRecord, OutboxState, Pending, Sendable, StateMarker, Submission,
    SubmissionState, Submitted, Superseded, TargetStateChanged, WalletSubmission,
};

/// Exclusive right to post, held by one replica until `expires_at`. `token` rises each
/// time the lease changes hands and fences out the previous holder.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PostingLease {
    pub name: String,
    pub holder: String,
    pub token: i64,
    pub expires_at: i64,
}

const OUTBOX_COLUMNS: &str = "id, kind, target, payload, value, state, attempts, next_attempt_at, wallet_seqno, \
     valid_until, query_id, posting_token, last_error, confirmed_lt, confirmed_hash, created_at, updated_at";

/// An attached value (nanotons) as a database integer.
fn value_to_db(value: u128) -> Result<i64, StoreError> {
    i64::try_from(value).map_err(|_| StoreError::OutOfRange {
        field: "value",
        value: u64::try_from(value).unwrap_or(u64::MAX),
    })
}

fn record_from_row(row: &impl RowExt) -> Result<(OutboxState, OutboxRecord), StoreError> {
    let state_name = row.text("state")?;
    let state = OutboxState::parse(&state_name)
        .ok_or_else(|| StoreError::Corrupt(format!("unknown outbox state {state_name:?}")))?;
    let kind_name = row.text("kind")?;
    let kind = OutboxKind::parse(&kind_name)
        .ok_or_else(|| StoreError::Corrupt(format!("unknown outbox kind {kind_name:?}")))?;
    let attempts = from_db("attempts", row.int("attempts")?)?;
    let seqno = row.opt_int("wallet_seqno")?;
    let valid_until = row.opt_int("valid_until")?;
    let query_id = row.opt_int("query_id")?;
    let submission = (attempts > 0).then(|| -> Result<Submission, StoreError> {
        Ok(Submission {
            wallet_seqno: seqno
                .map(|s| {
                    u32::try_from(s).map_err(|_| StoreError::Corrupt(format!("wallet seqno {s}")))
                })
                .transpose()?,
            valid_until,
            query_id: query_id.map(|q| from_db("query_id", q)).transpose()?,
        })
    });
    let target = row.text("target")?;
    let confirmation = match (
        row.opt_int("confirmed_lt")?,
        row.opt_bytes("confirmed_hash")?,
    ) {
        (Some(lt), Some(hash)) => Some(TargetStateChanged {
            target: target.clone(),
            lt: from_db("confirmed_lt", lt)?,
            hash: hash
                .try_into()
                .map_err(|_| StoreError::Corrupt("confirmed_hash is not 32 bytes".into()))?,
        }),
        _ => None,
    };
    let record = OutboxRecord {
        id: OutboxId::from_stored(row.text("id")?),
        kind,
        target,
        payload: row.bytes("payload")?,
        value: from_db("value", row.int("value")?)?.into(),
        attempts: u32::try_from(attempts)
            .map_err(|_| StoreError::Corrupt(format!("attempts {attempts}")))?,
        next_attempt_at: row.int("next_attempt_at")?,
        submission: submission.transpose()?,
        posting_token: row.opt_int("posting_token")?,
        last_error: row.opt_text("last_error")?,
        confirmation,
        created_at: row.int("created_at")?,
        updated_at: row.int("updated_at")?,
    };
    Ok((state, record))
}

impl Store {
    /// Puts an action in the outbox, or finds it there (same id) in whatever state it
    /// reached. The same id with a different kind, target or payload is refused
    /// ([`StoreError::OutboxConflict`]).
    pub async fn outbox_prepare(
        &self,
        item: &NewOutboxItem,
        now: i64,
    ) -> Result<AnyOutboxEntry, StoreError> {
        let id = item.id();
        let value = value_to_db(item.value)?;
        with_pool!(self, pool => {
            sqlx::query(
                "INSERT INTO outbox (id, kind, target, payload, value, state, attempts, next_attempt_at, \
                 created_at, updated_at) VALUES ($1, $2, $3, $4, $7, 'prepared', 0, $5, $6, $6) \
                 ON CONFLICT (id) DO NOTHING",
            )
            .bind(id.as_str())
            .bind(item.kind.as_str())
            .bind(&item.target)
            .bind(&item.payload)
            .bind(item.not_before)
            .bind(now)
            .bind(value)
            .execute(pool)
            .await?;
        });
        let entry = self
            .outbox_get(&id)
            .await?
            .ok_or_else(|| StoreError::OutboxNotFound { id: id.to_string() })?;
        let record = entry.record();
        if record.kind != item.kind
            || record.target != item.target
            || record.payload != item.payload
            || record.value != item.value
        {
            return Err(StoreError::OutboxConflict { id: id.to_string() });
        }
        Ok(entry)
    }

    /// Queues the completion proof of a `signed` job and marks the job `posted`, in one
    /// transaction, so a crash never leaves a signed proof without its outbox item or a
    /// posted job without one. Queuing the same item again for a `posted` job returns it.
    pub async fn queue_completion(
        &self,
        item: &NewOutboxItem,
        now: i64,
    ) -> Result<AnyOutboxEntry, StoreError> {
        let escrow = item.target.as_str();
        if item.kind != OutboxKind::Complete {
            return Err(StoreError::InvalidOutboxItem {
                escrow: escrow.to_owned(),
                reason: format!("kind is {}, not complete", item.kind.as_str()),
            });
        }
        let id = item.id();
        let value = value_to_db(item.value)?;
        with_tx!(self, tx, pg => {
            let job = load_job!(&mut *tx, escrow, pg);
            sqlx::query(
                "INSERT INTO outbox (id, kind, target, payload, value, state, attempts, next_attempt_at, \
                 created_at, updated_at) VALUES ($1, $2, $3, $4, $7, 'prepared', 0, $5, $6, $6) \
                 ON CONFLICT (id) DO NOTHING",
            )
            .bind(id.as_str())
            .bind(item.kind.as_str())
            .bind(&item.target)
            .bind(&item.payload)
            .bind(item.not_before)
            .bind(now)
            .bind(value)
            .execute(&mut *tx)
            .await?;
            let row = sqlx::query("SELECT kind, target, payload, value FROM outbox WHERE id = $1")
                .bind(id.as_str())
                .fetch_one(&mut *tx)
                .await?;
            if row.text("kind")? != item.kind.as_str() || row.text("target")? != item.target || row.bytes("payload")? != item.payload
                || row.int("value")? != value
            {
                return Err(StoreError::OutboxConflict { id: id.to_string() });
            }
            match job.state {
                JobState::Signed => set_job_state!(tx, &job, JobState::Posted, now),
                JobState::Posted => {}
                from => {
                    return Err(StoreError::IllegalTransition { escrow: escrow.to_owned(), from, to: JobState::Posted })
                }
            }
        });
        self.outbox_get(&id)
            .await?
            .ok_or_else(|| StoreError::OutboxNotFound { id: id.to_string() })
    }

    /// The outbox item with this id.
    pub async fn outbox_get(&self, id: &OutboxId) -> Result<Option<AnyOutboxEntry>, StoreError> {
        let sql = sqlx::AssertSqlSafe(format!("SELECT {OUTBOX_COLUMNS} FROM outbox WHERE id = $1"));
        with_pool!(self, pool => {
            let row = sqlx::query(sql).bind(id.as_str()).fetch_optional(pool).await?;
            row.map(|row| {
                let (state, record) = record_from_row(&row)?;
                Ok(AnyOutboxEntry::from_record(state, record))
            })
            .transpose()
        })
    }

    /// Items to send now: prepared or failed-retryable, due at or before `now`.
    pub async fn outbox_due(&self, now: i64, limit: u32) -> Result<Vec<Pending>, StoreError> {
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {OUTBOX_COLUMNS} FROM outbox WHERE state IN ('prepared', 'failed_retryable') \
             AND next_attempt_at <= $1 ORDER BY next_attempt_at, id LIMIT $2"
        ));
        with_pool!(self, pool => {
            let rows = sqlx::query(sql).bind(now).bind(i64::from(limit)).fetch_all(pool).await?;
            rows.iter()
                .map(|row| {
                    let (state, record) = record_from_row(row)?;
                    Ok(match state {
                        OutboxState::Prepared => Pending::Prepared(OutboxEntry::new(record)),
                        OutboxState::FailedRetryable => Pending::FailedRetryable(OutboxEntry::new(record)),
                        other => return Err(StoreError::Corrupt(format!("outbox_due read a {other} item"))),
                    })
                })
                .collect()
        })
    }

    /// Submitted items aimed at `target`, for the watcher to confirm when it changes.
    pub async fn outbox_submitted_to(
        &self,
        target: &str,
    ) -> Result<Vec<OutboxEntry<Submitted>>, StoreError> {
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {OUTBOX_COLUMNS} FROM outbox WHERE target = $1 AND state = 'submitted' ORDER BY id"
        ));
        with_pool!(self, pool => {
            let rows = sqlx::query(sql).bind(target).fetch_all(pool).await?;
            rows.iter().map(|row| Ok(OutboxEntry::new(record_from_row(row)?.1))).collect()
        })
    }

    /// Every outbox item aimed at `target`, in any state.
    pub async fn outbox_for_target(&self, target: &str) -> Result<Vec<AnyOutboxEntry>, StoreError> {
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {OUTBOX_COLUMNS} FROM outbox WHERE target = $1 ORDER BY created_at, id"
        ));
        with_pool!(self, pool => {
            let rows = sqlx::query(sql).bind(target).fetch_all(pool).await?;
            rows.iter()
                .map(|row| {
                    let (state, record) = record_from_row(row)?;
                    Ok(AnyOutboxEntry::from_record(state, record))
                })
                .collect()
        })
    }

    /// Records that `entry` is being sent as `submission` under `poster`'s lease. Call this
    /// *before* sending, and send only if it succeeds.
    pub async fn outbox_submit<S: Sendable>(
        &self,
        entry: OutboxEntry<S>,
        poster: &PostingLease,
        submission: Submission,
        now: i64,
    ) -> Result<OutboxEntry<Submitted>, StoreError> {
        let mut sent = self
            .outbox_submit_batch(vec![entry.into()], poster, submission, now)
            .await?;
        Ok(sent.pop().expect("a batch of one yields one entry"))
    }

    /// Records that all `entries` go out in one external message (`submission`) under
    /// `poster`'s lease: all of them, or none if any entry is stale or the lease is gone.
    /// Call this *before* sending, and send only if it succeeds.
    pub async fn outbox_submit_batch(
        &self,
        entries: Vec<Pending>,
        poster: &PostingLease,
        submission: Submission,
        now: i64,
    ) -> Result<Vec<OutboxEntry<Submitted>>, StoreError> {
        let query_id = submission
            .query_id
            .map(|q| to_db("query_id", q))
            .transpose()?;
        with_tx!(self, tx, pg => {
            for entry in &entries {
                let done = sqlx::query(
                    "UPDATE outbox SET state = 'submitted', attempts = attempts + 1, wallet_seqno = $1, \
                     valid_until = $2, query_id = $3, posting_token = $4, last_error = NULL, updated_at = $5 \
                     WHERE id = $6 AND state = $7 AND attempts = $8 AND EXISTS (SELECT 1 FROM posting_lease \
                     WHERE name = $9 AND holder = $10 AND token = $4 AND expires_at > $5)",
                )
                .bind(submission.wallet_seqno.map(i64::from))
                .bind(submission.valid_until)
                .bind(query_id)
                .bind(poster.token)
                .bind(now)
                .bind(entry.record().id.as_str())
                .bind(entry.state().as_str())
                .bind(i64::from(entry.record().attempts))
                .bind(&poster.name)
                .bind(&poster.holder)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                if done != 1 {
                    let live = sqlx::query(
                        "SELECT 1 AS one FROM posting_lease WHERE name = $1 AND holder = $2 AND token = $3 \
                         AND expires_at > $4",
                    )
                    .bind(&poster.name)
                    .bind(&poster.holder)
                    .bind(poster.token)
                    .bind(now)
                    .fetch_optional(&mut *tx)
                    .await?;
                    if live.is_none() {
                        return Err(StoreError::NotPoster { holder: poster.holder.clone(), token: poster.token });
                    }
                    return Err(StoreError::OutboxStale {
                        id: entry.record().id.to_string(),
                        expected: entry.state(),
                        attempts: entry.record().attempts,
                    });
                }
            }
            // A wallet message: stored with the ids it carries, so it is resolved as one.
            if let (Some(seqno), Some(valid_until)) = (submission.wallet_seqno, submission.valid_until) {
                let id = WalletSubmission::id_for(&poster.name, seqno, valid_until);
                sqlx::query(
                    "INSERT INTO wallet_submissions (id, lease, seqno, valid_until, posting_token, state, created_at) \
                     VALUES ($1, $2, $3, $4, $5, 'pending', $6) ON CONFLICT (id) DO NOTHING",
                )
                .bind(&id)
                .bind(&poster.name)
                .bind(i64::from(seqno))
                .bind(valid_until)
                .bind(poster.token)
                .bind(now)
                .execute(&mut *tx)
                .await?;
                for entry in &entries {
                    sqlx::query(
                        "INSERT INTO wallet_submission_items (submission_id, outbox_id) VALUES ($1, $2) \
                         ON CONFLICT DO NOTHING",
                    )
                        .bind(&id)
                        .bind(entry.record().id.as_str())
                        .execute(&mut *tx)
                        .await?;
                }
            }
        });
        Ok(entries
            .into_iter()
            .map(|entry| {
                let record = entry.into_record();
                OutboxEntry::new(OutboxRecord {
                    attempts: record.attempts + 1,
                    submission: Some(submission.clone()),
                    posting_token: Some(poster.token),
                    last_error: None,
                    updated_at: now,
                    ..record
                })
            })
            .collect())
    }

    /// Records that a submission can no longer land; the item is due again at `retry_at`.
    /// [`Failure::Expired`] is refused while the submission's `valid_until` has not passed.
    pub async fn outbox_fail(
        &self,
        entry: OutboxEntry<Submitted>,
        failure: Failure,
        retry_at: i64,
        now: i64,
    ) -> Result<OutboxEntry<FailedRetryable>, StoreError> {
        if failure == Failure::Expired
            && let Some(valid_until) = entry.submission.as_ref().and_then(|s| s.valid_until)
            && now <= valid_until
        {
            return Err(StoreError::OutboxMayStillLand {
                id: entry.id.to_string(),
                valid_until,
                now,
            });
        }
        let error = match &failure {
            Failure::Rejected(reason) => format!("rejected: {reason}"),
            Failure::Expired => "expired without the target changing".to_owned(),
        };
        self.outbox_step(
            &entry,
            "failed_retryable",
            retry_at,
            Some(&error),
            None,
            now,
        )
        .await?;
        let record = OutboxRecord {
            next_attempt_at: retry_at,
            last_error: Some(error),
            updated_at: now,
            ..entry.record.clone()
        };
        Ok(entry.step(record))
    }

    /// Records that the target contract changed after our submission.
    pub async fn outbox_confirm(
        &self,
        entry: OutboxEntry<Submitted>,
        change: &TargetStateChanged,
        now: i64,
    ) -> Result<OutboxEntry<Confirmed>, StoreError> {
        check_target(&entry, change)?;
        self.outbox_step(
            &entry,
            "confirmed",
            entry.next_attempt_at,
            None,
            Some(change),
            now,
        )
        .await?;
        let record = OutboxRecord {
            confirmation: Some(change.clone()),
            updated_at: now,
            ..entry.record.clone()
        };
        Ok(entry.step(record))
    }

    /// Records that the target reached the intended state by someone else's post, so
    /// this item need never be sent.
    pub async fn outbox_supersede<S: Sendable>(
        &self,
        entry: OutboxEntry<S>,
        change: &TargetStateChanged,
        now: i64,
    ) -> Result<OutboxEntry<Superseded>, StoreError> {
        check_target(&entry, change)?;
        self.outbox_step(
            &entry,
            "superseded",
            entry.next_attempt_at,
            None,
            Some(change),
            now,
        )
        .await?;
        let record = OutboxRecord {
            confirmation: Some(change.clone()),
            updated_at: now,
            ..entry.record.clone()
        };
        Ok(entry.step(record))
    }

    async fn outbox_step<S: StateMarker>(
        &self,
        entry: &OutboxEntry<S>,
        to: &'static str,
        next_attempt_at: i64,
        error: Option<&str>,
        change: Option<&TargetStateChanged>,
        now: i64,
    ) -> Result<(), StoreError> {
        let done = with_pool!(self, pool => {
            sqlx::query(
                "UPDATE outbox SET state = $1, next_attempt_at = $2, last_error = COALESCE($3, last_error), \
                 confirmed_lt = $4, confirmed_hash = $5, updated_at = $6 \
                 WHERE id = $7 AND state = $8 AND attempts = $9",
            )
            .bind(to)
            .bind(next_attempt_at)
            .bind(error)
            .bind(change.map(|c| to_db("confirmed_lt", c.lt)).transpose()?)
            .bind(change.map(|c| c.hash.to_vec()))
            .bind(now)
            .bind(entry.id.as_str())
            .bind(S::STATE.as_str())
            .bind(i64::from(entry.attempts))
            .execute(pool)
            .await?
            .rows_affected()
        });
        if done != 1 {
            return Err(stale(entry));
        }
        Ok(())
    }

    /// The wallet submissions under `lease` still `pending` (sent, not yet resolved),
    /// oldest first.
    pub async fn wallet_submissions_pending(
        &self,
        lease: &str,
    ) -> Result<Vec<WalletSubmission>, StoreError> {
        self.wallet_submissions_where("lease = $1 AND state = 'pending'", lease)
            .await
    }

    /// Every wallet submission that carried outbox item `id`, oldest first.
    pub async fn wallet_submissions_of(
        &self,
        id: &OutboxId,
    ) -> Result<Vec<WalletSubmission>, StoreError> {
        self.wallet_submissions_where(
            "id IN (SELECT submission_id FROM wallet_submission_items WHERE outbox_id = $1)",
            id.as_str(),
        )
        .await
    }

    async fn wallet_submissions_where(
        &self,
        filter: &'static str,
        arg: &str,
    ) -> Result<Vec<WalletSubmission>, StoreError> {
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT id, lease, seqno, valid_until, state, created_at FROM wallet_submissions \
             WHERE {filter} ORDER BY created_at, seqno, id"
        ));
        with_pool!(self, pool => {
            let rows = sqlx::query(sql).bind(arg).fetch_all(pool).await?;
            let mut out = Vec::with_capacity(rows.len());
            for row in &rows {
                let id = row.text("id")?;
                let state_name = row.text("state")?;
                let items = sqlx::query(
                    "SELECT outbox_id FROM wallet_submission_items WHERE submission_id = $1 ORDER BY outbox_id",
                )
                .bind(&id)
                .fetch_all(pool)
                .await?
                .iter()
                .map(|r| r.text("outbox_id").map(OutboxId::from_stored))
                .collect::<Result<Vec<_>, StoreError>>()?;
                let seqno = row.int("seqno")?;
                out.push(WalletSubmission {
                    lease: row.text("lease")?,
                    seqno: u32::try_from(seqno)
                        .map_err(|_| StoreError::Corrupt(format!("wallet seqno {seqno}")))?,
                    valid_until: row.int("valid_until")?,
                    state: SubmissionState::parse(&state_name).ok_or_else(|| {
                        StoreError::Corrupt(format!("unknown submission state {state_name:?}"))
                    })?,
                    items,
                    created_at: row.int("created_at")?,
                    id,
                });
            }
            Ok(out)
        })
    }

    /// Resolves a pending wallet submission as `to` (landed or expired). Returns false if
    /// it was resolved already (by another pass or replica).
    pub async fn wallet_submission_resolve(
        &self,
        id: &str,
        to: SubmissionState,
        now: i64,
    ) -> Result<bool, StoreError> {
        with_pool!(self, pool => {
            let done = sqlx::query(
                "UPDATE wallet_submissions SET state = $1, resolved_at = $2 WHERE id = $3 AND state = 'pending'",
            )
            .bind(to.as_str())
            .bind(now)
            .bind(id)
            .execute(pool)
            .await?;
            Ok(done.rows_affected() == 1)
        })
    }

    /// Takes or renews the posting lease `name` for `holder` until `now + ttl_secs`.
    /// Returns `None` while another holder's lease is live: exactly one replica posts.
    pub async fn acquire_posting_lease(
        &self,
        name: &str,
        holder: &str,
        now: i64,
        ttl_secs: i64,
    ) -> Result<Option<PostingLease>, StoreError> {
        let expires = now + ttl_secs;
        with_pool!(self, pool => {
            let row = sqlx::query(
                "INSERT INTO posting_lease (name, holder, token, expires_at) VALUES ($1, $2, 1, $3) \
                 ON CONFLICT (name) DO UPDATE SET \
                 token = CASE WHEN posting_lease.holder = excluded.holder THEN posting_lease.token \
                         ELSE posting_lease.token + 1 END, \
                 holder = excluded.holder, expires_at = excluded.expires_at \
                 WHERE posting_lease.holder = excluded.holder OR posting_lease.expires_at <= $4 \
                 RETURNING token, expires_at",
            )
            .bind(name)
            .bind(holder)
            .bind(expires)
            .bind(now)
            .fetch_optional(pool)
            .await?;
            row.map(|row| {
                Ok(PostingLease {
                    name: name.to_owned(),
                    holder: holder.to_owned(),
                    token: row.int("token")?,
                    expires_at: row.int("expires_at")?,
                })
            })
            .transpose()
        })
    }

    /// Gives the posting lease up (on shutdown) so another replica can take over at once.
    pub async fn release_posting_lease(&self, lease: &PostingLease) -> Result<bool, StoreError> {
        with_pool!(self, pool => {
            let done = sqlx::query(
                "UPDATE posting_lease SET expires_at = 0 WHERE name = $1 AND holder = $2 AND token = $3",
            )
            .bind(&lease.name)
            .bind(&lease.holder)
            .bind(lease.token)
            .execute(pool)
            .await?;
            Ok(done.rows_affected() == 1)
        })
    }

    /// Who holds the posting lease `name` and until when (unix seconds), if anyone ever
    /// took it: for `/readyz` and `spindle relayer status`.
    pub async fn posting_lease_holder(
        &self,
        name: &str,
    ) -> Result<Option<(String, i64)>, StoreError> {
        with_pool!(self, pool => {
            let row = sqlx::query("SELECT holder, expires_at FROM posting_lease WHERE name = $1")
                .bind(name)
                .fetch_optional(pool)
                .await?;
            row.map(|r| Ok((r.text("holder")?, r.int("expires_at")?))).transpose()
        })
    }

    /// Whether `lease` is still the live posting lease at `now`.
    pub async fn posting_lease_live(
        &self,
        lease: &PostingLease,
        now: i64,
    ) -> Result<bool, StoreError> {
        with_pool!(self, pool => {
            let row = sqlx::query(
                "SELECT 1 AS one FROM posting_lease WHERE name = $1 AND holder = $2 AND token = $3 AND expires_at > $4",
            )
            .bind(&lease.name)
            .bind(&lease.holder)
            .bind(lease.token)
            .bind(now)
            .fetch_optional(pool)
            .await?;
            Ok(row.is_some())
        })
    }
}

fn stale<S: StateMarker>(entry: &OutboxEntry<S>) -> StoreError {
    StoreError::OutboxStale {
        id: entry.id.to_string(),
        expected: S::STATE,
        attempts: entry.attempts,
    }
}

fn check_target<S: StateMarker>(
    entry: &OutboxEntry<S>,
    change: &TargetStateChanged,
) -> Result<(), StoreError> {
    if change.target == entry.target {
        Ok(())
    } else {
        Err(StoreError::OutboxWrongTarget {
            id: entry.id.to_string(),
            target: entry.target.clone(),
            observed: change.target.clone(),
        })
    }
}
