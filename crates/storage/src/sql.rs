//! The metadata store on SQL: one implementation for SQLite and PostgreSQL.
//! Every statement is written once, with `$N` placeholders (both drivers
//! read them); each method runs it on whichever pool the store holds. What
//! the two databases spell differently (row locks, the clock, JSON) is a
//! [`Dialect`] fragment, set in `sqlite.rs` and `postgres.rs`.
//!
//! A state change and its callback row commit in one transaction. Claims
//! (queue, outbox, janitor) are single `UPDATE ... RETURNING` statements:
//! SQLite runs them under its one write lock, PostgreSQL skips the rows
//! another claimer holds.

use crate::error::{Result, StorageError};
use crate::metadata::{CallbackFor, InsertOutcome, MetadataStore};
use crate::records::*;
use async_trait::async_trait;
use sqlx::query::Query;
use sqlx::{Database, Encode, PgPool, SqlitePool, Type};

/// The metadata store on SQLite ([`SqlStore::open_sqlite`]) or PostgreSQL
/// ([`SqlStore::open_postgres`]).
pub struct SqlStore {
    pub(crate) db: Db,
}

pub(crate) enum Db {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// What the two databases spell differently; all else is one SQL text.
pub(crate) struct Dialect {
    /// Ends a claim's row selection: PostgreSQL skips the rows another
    /// claimer holds; SQLite has one writer at a time and needs nothing.
    pub skip_locked: &'static str,
    /// The database's clock in Unix ms, which every node shares.
    pub now_ms: &'static str,
    /// `f(haystack, needle)`: the 1-based position of a plain substring, 0
    /// when absent (no wildcards, unlike LIKE).
    pub find_substring: &'static str,
    /// The sum of the selected tasks' `spec.audio_duration`, 0.0 for none.
    pub sum_audio_duration: &'static str,
    /// Takes the next public id.
    pub next_id: &'static str,
    /// Runs first in a submission's transaction, with the account id as $1,
    /// to serialise an account's submissions; SQLite's write lock already does.
    pub lock_account: Option<&'static str>,
}

/// Runs `$body` with `$pool` bound to the store's pool (and `$sql` to its
/// dialect): the body is compiled once per database, so each statement is
/// checked against both drivers' types.
macro_rules! on_db {
    ($store:expr, |$pool:ident| $body:expr) => {
        on_db!($store, |$pool, _sql| $body)
    };
    ($store:expr, |$pool:ident, $sql:ident| $body:expr) => {
        match &$store.db {
            Db::Sqlite($pool) => {
                let $sql = &crate::sqlite::DIALECT;
                $body
            }
            Db::Postgres($pool) => {
                let $sql = &crate::postgres::DIALECT;
                $body
            }
        }
    };
}

const TASK_COLUMNS: &str = "id, account_id, external_task_id, kind, state, status_msg, progress, spec, result, \
     callback_url, attempts, last_error, lease_owner, lease_expires_at, created_at, updated_at, started_at, finished_at";
const ACCOUNT_COLUMNS: &str =
    "a.id, a.name, a.access_key, a.secret_key, a.webhook_secret, a.max_concurrent_tasks, a.created_at";
const AUDIO_COLUMNS: &str =
    "id, account_id, blob_key, duration, timeline, text, voice_id, language, created_at, expires_at";
const CALLBACK_COLUMNS: &str =
    "id, message_id, task_id, account_id, url, body, attempts, next_attempt_at, created_at";
const ASSET_COLUMNS: &str =
    "id, account_id, email, file_name, kind, mime, blob_key, width, height, duration_ms, created_at";
const AVATAR_COLUMNS: &str =
    "id, account_id, email, nickname, prompt, scene, image_key, tts_speaker, \
     tts_speed, tts_emotion, created_at, updated_at";
const INSERT_API_KEY: &str =
    "INSERT INTO api_keys (key_hash, account_id, created_at) VALUES ($1, $2, $3)";
const UNFINISHED: &str = "state IN ('submitted', 'processing')";

/// How long a janitor keeps the rows it took before another may retry them.
const JANITOR_CLAIM_MS: i64 = 300_000;

impl SqlStore {
    /// Closes the pool's connections (tests drop their database after).
    pub async fn close(&self) {
        on_db!(self, |pool| pool.close().await)
    }

    /// The database's clock, for claims that several nodes compare.
    async fn db_now_ms(&self) -> Result<Millis> {
        on_db!(self, |pool, sql| Ok(sqlx::query_scalar(&format!(
            "SELECT {}",
            sql.now_ms
        ))
        .fetch_one(pool)
        .await?))
    }
}

fn count(n: i64, what: &str) -> Result<u32> {
    u32::try_from(n).map_err(|_| StorageError::Database(format!("{what} out of range: {n}")))
}

fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db) if db.is_unique_violation())
}

/// The callback row of a state change, for the caller's transaction.
fn insert_callback<'q, DB: Database>(c: &'q NewCallback) -> Query<'q, DB, DB::Arguments<'q>>
where
    &'q String: Encode<'q, DB> + Type<DB>,
    i64: Encode<'q, DB> + Type<DB>,
{
    sqlx::query(
        "INSERT INTO callbacks
            (message_id, task_id, account_id, url, body, next_attempt_at, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $6)",
    )
    .bind(&c.message_id)
    .bind(&c.task_id)
    .bind(&c.account_id)
    .bind(&c.url)
    .bind(&c.body)
    .bind(c.created_at)
}

fn oldest_first<T>(rows: &mut [T], key: impl Fn(&T) -> (Millis, &str)) {
    rows.sort_by(|a, b| key(a).cmp(&key(b)));
}

#[async_trait]
impl MetadataStore for SqlStore {
    async fn ping(&self) -> Result<()> {
        on_db!(self, |pool| {
            sqlx::query("SELECT 1").execute(pool).await?;
            Ok(())
        })
    }

    async fn setting_or_init(&self, key: &str, init: &str) -> Result<String> {
        on_db!(self, |pool| {
            sqlx::query(
                "INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING",
            )
            .bind(key)
            .bind(init)
            .execute(pool)
            .await?;
            Ok(
                sqlx::query_scalar("SELECT value FROM settings WHERE key = $1")
                    .bind(key)
                    .fetch_one(pool)
                    .await?,
            )
        })
    }

    async fn next_id(&self) -> Result<i64> {
        on_db!(self, |pool, sql| Ok(sqlx::query_scalar(sql.next_id)
            .fetch_one(pool)
            .await?))
    }

    async fn usage(&self, account_id: &str, from: Millis, to: Millis) -> Result<Usage> {
        let (video_seconds, tts_calls): (f64, i64) = on_db!(self, |pool, sql| {
            let seconds = sqlx::query_scalar(&format!(
                "SELECT {} FROM tasks
                 WHERE account_id = $1 AND state = 'succeed' AND finished_at >= $2 AND
                     finished_at <= $3",
                sql.sum_audio_duration
            ))
            .bind(account_id)
            .bind(from)
            .bind(to)
            .fetch_one(pool)
            .await?;
            let calls = sqlx::query_scalar(
                "SELECT COUNT(*) FROM audio WHERE account_id = $1 AND created_at >= $2 AND
                    created_at <= $3",
            )
            .bind(account_id)
            .bind(from)
            .bind(to)
            .fetch_one(pool)
            .await?;
            (seconds, calls)
        });
        Ok(Usage {
            video_seconds,
            tts_calls: u64::try_from(tts_calls).unwrap_or(0),
        })
    }

    async fn create_account(&self, new: &NewAccount) -> Result<()> {
        let a = &new.account;
        on_db!(self, |pool| {
            let mut tx = pool.begin().await?;
            let inserted = sqlx::query(
                "INSERT INTO accounts (id, name, access_key, secret_key, webhook_secret,
                     max_concurrent_tasks, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(&a.id)
            .bind(&a.name)
            .bind(&a.access_key)
            .bind(&a.secret_key)
            .bind(&a.webhook_secret)
            .bind(a.max_concurrent_tasks.map(i64::from))
            .bind(a.created_at)
            .execute(&mut *tx)
            .await;
            if let Err(e) = inserted {
                return Err(if is_unique_violation(&e) {
                    StorageError::Conflict(format!("account {} or its access key", a.id))
                } else {
                    e.into()
                });
            }
            sqlx::query(INSERT_API_KEY)
                .bind(&new.api_key_hash)
                .bind(&a.id)
                .bind(a.created_at)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(())
        })
    }

    async fn account(&self, id: &str) -> Result<Option<AccountRecord>> {
        on_db!(self, |pool| Ok(sqlx::query_as(&format!(
            "SELECT {ACCOUNT_COLUMNS} FROM accounts a WHERE a.id = $1"
        ))
        .bind(id)
        .fetch_optional(pool)
        .await?))
    }

    async fn account_by_api_key_hash(&self, hash: &str) -> Result<Option<AccountRecord>> {
        on_db!(self, |pool| {
            Ok(sqlx::query_as(&format!(
                "SELECT {ACCOUNT_COLUMNS} FROM accounts a JOIN api_keys k ON k.account_id = a.id
                WHERE k.key_hash = $1"
            ))
            .bind(hash)
            .fetch_optional(pool)
            .await?)
        })
    }

    async fn account_by_access_key(&self, access_key: &str) -> Result<Option<AccountRecord>> {
        on_db!(self, |pool| Ok(sqlx::query_as(&format!(
            "SELECT {ACCOUNT_COLUMNS} FROM accounts a WHERE a.access_key = $1"
        ))
        .bind(access_key)
        .fetch_optional(pool)
        .await?))
    }

    async fn list_accounts(&self) -> Result<Vec<AccountRecord>> {
        on_db!(self, |pool| Ok(sqlx::query_as(&format!(
            "SELECT {ACCOUNT_COLUMNS} FROM accounts a ORDER BY a.created_at"
        ))
        .fetch_all(pool)
        .await?))
    }

    async fn add_api_key(&self, account_id: &str, hash: &str, created_at: Millis) -> Result<()> {
        on_db!(self, |pool| {
            sqlx::query(INSERT_API_KEY)
                .bind(hash)
                .bind(account_id)
                .bind(created_at)
                .execute(pool)
                .await?;
            Ok(())
        })
    }

    async fn replace_credentials(
        &self,
        account_id: &str,
        api_key_hash: &str,
        access_key: &str,
        secret_key: &str,
        created_at: Millis,
    ) -> Result<bool> {
        on_db!(self, |pool| {
            let mut tx = pool.begin().await?;
            let updated =
                sqlx::query("UPDATE accounts SET access_key = $1, secret_key = $2 WHERE id = $3")
                    .bind(access_key)
                    .bind(secret_key)
                    .bind(account_id)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
            if updated == 0 {
                return Ok(false);
            }
            sqlx::query("DELETE FROM api_keys WHERE account_id = $1")
                .bind(account_id)
                .execute(&mut *tx)
                .await?;
            sqlx::query(INSERT_API_KEY)
                .bind(api_key_hash)
                .bind(account_id)
                .bind(created_at)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(true)
        })
    }

    async fn insert_task(
        &self,
        t: &NewTask,
        max_active: u32,
        callback: CallbackFor<'_>,
    ) -> Result<InsertOutcome> {
        on_db!(self, |pool, sql| {
            let mut tx = pool.begin().await?;
            if let Some(lock) = sql.lock_account {
                sqlx::query(lock)
                    .bind(&t.account_id)
                    .execute(&mut *tx)
                    .await?;
            }
            // Count and insert in one statement, under the account's lock:
            // two submissions cannot both take the last slot.
            let res = sqlx::query(&format!(
                "INSERT INTO tasks (id, account_id, external_task_id, kind, state, spec,
                     callback_url, created_at, updated_at)
                 SELECT $1, $2, $3, $4, 'submitted', $5, $6, $7, $7
                 WHERE (SELECT COUNT(*) FROM tasks WHERE account_id = $2 AND {UNFINISHED}) < $8"
            ))
            .bind(&t.id)
            .bind(&t.account_id)
            .bind(&t.external_task_id)
            .bind(&t.kind)
            .bind(&t.spec)
            .bind(&t.callback_url)
            .bind(t.created_at)
            .bind(i64::from(max_active))
            .execute(&mut *tx)
            .await;
            match res {
                Ok(r) if r.rows_affected() == 1 => {}
                Ok(_) => return Ok(InsertOutcome::LimitReached),
                Err(e) if is_unique_violation(&e) => return Ok(InsertOutcome::DuplicateExternalId),
                Err(e) => return Err(e.into()),
            }
            if let Some(link) = &t.link {
                // Still under the same lock: the email's count and its new
                // link cannot interleave with another submission's.
                let busy: i64 = sqlx::query_scalar(&format!(
                    "SELECT COUNT(*) FROM task_links l JOIN tasks t ON t.id = l.task_id
                     WHERE l.account_id = $1 AND l.email = $2 AND t.{UNFINISHED}"
                ))
                .bind(&t.account_id)
                .bind(&link.email)
                .fetch_one(&mut *tx)
                .await?;
                if busy >= i64::from(link.max_jobs) {
                    return Ok(InsertOutcome::LinkLimitReached);
                }
                sqlx::query(
                    "INSERT INTO task_links (task_id, account_id, email) VALUES ($1, $2, $3)",
                )
                .bind(&t.id)
                .bind(&t.account_id)
                .bind(&link.email)
                .execute(&mut *tx)
                .await?;
            }
            let task: TaskRecord =
                sqlx::query_as(&format!("SELECT {TASK_COLUMNS} FROM tasks WHERE id = $1"))
                    .bind(&t.id)
                    .fetch_one(&mut *tx)
                    .await?;
            if let Some(c) = callback(&task) {
                insert_callback(&c).execute(&mut *tx).await?;
            }
            tx.commit().await?;
            Ok(InsertOutcome::Inserted)
        })
    }

    async fn task(&self, id: &str) -> Result<Option<TaskRecord>> {
        on_db!(self, |pool| Ok(sqlx::query_as(&format!(
            "SELECT {TASK_COLUMNS} FROM tasks WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(pool)
        .await?))
    }

    async fn task_for_account(
        &self,
        account_id: &str,
        id_or_external: &str,
    ) -> Result<Option<TaskRecord>> {
        on_db!(self, |pool| {
            Ok(sqlx::query_as(&format!(
                "SELECT {TASK_COLUMNS} FROM tasks WHERE account_id = $1 AND (id = $2 OR
                external_task_id = $2)
             ORDER BY (id = $2) DESC LIMIT 1"
            ))
            .bind(account_id)
            .bind(id_or_external)
            .fetch_optional(pool)
            .await?)
        })
    }

    async fn list_tasks(
        &self,
        account_id: &str,
        kind: &str,
        offset: u64,
        limit: u32,
    ) -> Result<Vec<TaskRecord>> {
        on_db!(self, |pool| Ok(sqlx::query_as(&format!(
            "SELECT {TASK_COLUMNS} FROM tasks WHERE account_id = $1 AND kind = $2
             ORDER BY created_at DESC, id DESC LIMIT $3 OFFSET $4"
        ))
        .bind(account_id)
        .bind(kind)
        .bind(i64::from(limit))
        .bind(i64::try_from(offset).unwrap_or(i64::MAX))
        .fetch_all(pool)
        .await?))
    }

    async fn active_tasks(&self, account_id: &str) -> Result<u32> {
        let n: i64 = on_db!(self, |pool| sqlx::query_scalar(&format!(
            "SELECT COUNT(*) FROM tasks WHERE account_id = $1 AND {UNFINISHED}"
        ))
        .bind(account_id)
        .fetch_one(pool)
        .await)?;
        count(n, "active tasks")
    }

    async fn queue_stats(&self) -> Result<QueueStats> {
        let (submitted, processing): (i64, i64) = on_db!(self, |pool| {
            sqlx::query_as(&format!(
                "SELECT COUNT(*) FILTER (WHERE state = 'submitted'), COUNT(*) FILTER (WHERE state
                = 'processing')
             FROM tasks WHERE {UNFINISHED}"
            ))
            .fetch_one(pool)
            .await
        })?;
        Ok(QueueStats {
            submitted: submitted.max(0) as u64,
            processing: processing.max(0) as u64,
        })
    }

    async fn claim_task(
        &self,
        worker: &str,
        now: Millis,
        lease_until: Millis,
        max_attempts: u32,
        callback: CallbackFor<'_>,
    ) -> Result<Option<TaskRecord>> {
        on_db!(self, |pool, sql| {
            let mut tx = pool.begin().await?;
            let task: Option<TaskRecord> = sqlx::query_as(&format!(
                "UPDATE tasks SET state = 'processing', lease_owner = $1, lease_expires_at = $2,
                     attempts = attempts + 1, progress = 0,
                     updated_at = CASE WHEN state = 'submitted' THEN $3 ELSE updated_at END,
                     started_at = COALESCE(started_at, $3)
                 WHERE id = (
                     SELECT id FROM tasks
                     WHERE (state = 'submitted' OR (state = 'processing' AND lease_expires_at
                         <= $3))
                       AND attempts < $4
                     ORDER BY created_at, id LIMIT 1
                     {})
                 RETURNING {TASK_COLUMNS}",
                sql.skip_locked
            ))
            .bind(worker)
            .bind(lease_until)
            .bind(now)
            .bind(i64::from(max_attempts))
            .fetch_optional(&mut *tx)
            .await?;
            if let Some(c) = task.as_ref().and_then(callback) {
                insert_callback(&c).execute(&mut *tx).await?;
            }
            tx.commit().await?;
            Ok(task)
        })
    }

    async fn renew_lease(
        &self,
        task_id: &str,
        worker: &str,
        lease_until: Millis,
        progress: u8,
        _now: Millis,
    ) -> Result<bool> {
        let renewed = on_db!(self, |pool| sqlx::query(
            "UPDATE tasks SET lease_expires_at = $3,
                 progress = CASE WHEN progress > $4 THEN progress ELSE $4 END
             WHERE id = $1 AND lease_owner = $2 AND state = 'processing'",
        )
        .bind(task_id)
        .bind(worker)
        .bind(lease_until)
        .bind(i64::from(progress.min(100)))
        .execute(pool)
        .await?
        .rows_affected());
        Ok(renewed == 1)
    }

    async fn finish_task(
        &self,
        task_id: &str,
        worker: &str,
        finish: &TaskFinish,
        now: Millis,
        callback: CallbackFor<'_>,
    ) -> Result<Option<TaskRecord>> {
        let (set, text, time) = match finish {
            TaskFinish::Succeed { result } => (
                "state = 'succeed', result = $3, progress = 100, status_msg = NULL,
                 lease_owner = NULL, lease_expires_at = NULL, updated_at = $4, finished_at = $4",
                result,
                now,
            ),
            TaskFinish::Failed { message } => (
                "state = 'failed', status_msg = $3, last_error = $3,
                 lease_owner = NULL, lease_expires_at = NULL, updated_at = $4, finished_at = $4",
                message,
                now,
            ),
            TaskFinish::Retry { error, retry_at } => (
                "last_error = $3, lease_owner = NULL, lease_expires_at = $4, progress = 0",
                error,
                *retry_at,
            ),
            TaskFinish::Release { note } => (
                "last_error = $3, lease_owner = NULL, lease_expires_at = $4, progress = 0,
                 attempts = CASE WHEN attempts > 0 THEN attempts - 1 ELSE 0 END",
                note,
                now,
            ),
        };
        let statement = format!(
            "UPDATE tasks SET {set} WHERE id = $1 AND lease_owner = $2 AND state = 'processing'
                RETURNING {TASK_COLUMNS}"
        );
        on_db!(self, |pool| {
            let mut tx = pool.begin().await?;
            let task: Option<TaskRecord> = sqlx::query_as(&statement)
                .bind(task_id)
                .bind(worker)
                .bind(text)
                .bind(time)
                .fetch_optional(&mut *tx)
                .await?;
            if let Some(c) = task.as_ref().and_then(callback) {
                insert_callback(&c).execute(&mut *tx).await?;
            }
            tx.commit().await?;
            Ok(task)
        })
    }

    async fn fail_exhausted(
        &self,
        now: Millis,
        max_attempts: u32,
        message_prefix: &str,
        callback: CallbackFor<'_>,
    ) -> Result<Vec<TaskRecord>> {
        on_db!(self, |pool| {
            let mut tx = pool.begin().await?;
            let tasks: Vec<TaskRecord> = sqlx::query_as(&format!(
                "UPDATE tasks SET state = 'failed',
                     status_msg = $3 || ' ' || CAST(attempts AS TEXT) || ' attempts: ' || COALESCE(
                         last_error, 'the worker stopped before finishing (crash or restart)'),
                     lease_owner = NULL, lease_expires_at = NULL, updated_at = $1, finished_at = $1
                 WHERE state = 'processing' AND lease_expires_at <= $1 AND attempts >= $2
                 RETURNING {TASK_COLUMNS}"
            ))
            .bind(now)
            .bind(i64::from(max_attempts))
            .bind(message_prefix)
            .fetch_all(&mut *tx)
            .await?;
            for c in tasks.iter().filter_map(callback) {
                insert_callback(&c).execute(&mut *tx).await?;
            }
            tx.commit().await?;
            Ok(tasks)
        })
    }

    async fn tasks_created_before(&self, before: Millis, limit: u32) -> Result<Vec<TaskRecord>> {
        // Finished tasks keep no lease: the lease column holds the janitor's
        // claim, so each row goes to one node and returns if that node dies.
        let now = self.db_now_ms().await?;
        let mut tasks: Vec<TaskRecord> = on_db!(self, |pool, sql| sqlx::query_as(&format!(
            "UPDATE tasks SET lease_expires_at = $3
             WHERE id IN (
                 SELECT id FROM tasks WHERE created_at < $1 AND state IN ('succeed', 'failed')
                   AND (lease_expires_at IS NULL OR lease_expires_at <= $4)
                 ORDER BY created_at LIMIT $2
                 {})
             RETURNING {TASK_COLUMNS}",
            sql.skip_locked
        ))
        .bind(before)
        .bind(i64::from(limit))
        .bind(now + JANITOR_CLAIM_MS)
        .bind(now)
        .fetch_all(pool)
        .await)?;
        oldest_first(&mut tasks, |t| (t.created_at, t.id.as_str()));
        Ok(tasks)
    }

    async fn delete_task(&self, id: &str) -> Result<()> {
        on_db!(self, |pool| {
            sqlx::query("DELETE FROM tasks WHERE id = $1")
                .bind(id)
                .execute(pool)
                .await?;
            Ok(())
        })
    }

    async fn insert_audio(&self, a: &AudioRecord) -> Result<()> {
        on_db!(self, |pool| {
            sqlx::query(&format!(
            "INSERT INTO audio ({AUDIO_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
        ))
            .bind(&a.id)
            .bind(&a.account_id)
            .bind(&a.blob_key)
            .bind(a.duration)
            .bind(&a.timeline)
            .bind(&a.text)
            .bind(&a.voice_id)
            .bind(&a.language)
            .bind(a.created_at)
            .bind(a.expires_at)
            .execute(pool)
            .await?;
            Ok(())
        })
    }

    async fn audio_for_account(&self, account_id: &str, id: &str) -> Result<Option<AudioRecord>> {
        on_db!(self, |pool| Ok(sqlx::query_as(&format!(
            "SELECT {AUDIO_COLUMNS} FROM audio WHERE account_id = $1 AND id = $2"
        ))
        .bind(account_id)
        .bind(id)
        .fetch_optional(pool)
        .await?))
    }

    async fn audio_expired(&self, now: Millis, limit: u32) -> Result<Vec<AudioRecord>> {
        let mut audio: Vec<AudioRecord> = on_db!(self, |pool, sql| sqlx::query_as(&format!(
            "UPDATE audio SET janitor_until = $3
             WHERE id IN (
                 SELECT id FROM audio WHERE expires_at <= $1
                   AND (janitor_until IS NULL OR janitor_until <= $1)
                 ORDER BY expires_at LIMIT $2
                 {})
             RETURNING {AUDIO_COLUMNS}",
            sql.skip_locked
        ))
        .bind(now)
        .bind(i64::from(limit))
        .bind(now + JANITOR_CLAIM_MS)
        .fetch_all(pool)
        .await)?;
        oldest_first(&mut audio, |a| (a.expires_at, a.id.as_str()));
        Ok(audio)
    }

    async fn delete_audio(&self, id: &str) -> Result<()> {
        on_db!(self, |pool| {
            sqlx::query("DELETE FROM audio WHERE id = $1")
                .bind(id)
                .execute(pool)
                .await?;
            Ok(())
        })
    }

    async fn enqueue_callback(&self, c: &NewCallback) -> Result<()> {
        on_db!(self, |pool| {
            insert_callback(c).execute(pool).await?;
            Ok(())
        })
    }

    async fn claim_callbacks(
        &self,
        now: Millis,
        lease_until: Millis,
        limit: u32,
    ) -> Result<Vec<CallbackRecord>> {
        let mut claimed: Vec<CallbackRecord> = on_db!(self, |pool, sql| {
            sqlx::query_as(&format!(
                "UPDATE callbacks SET next_attempt_at = $2
             WHERE id IN (
                 SELECT c.id FROM callbacks c
                 WHERE c.state = 'pending' AND c.next_attempt_at <= $1
                   AND c.id = (SELECT MIN(p.id) FROM callbacks p WHERE p.task_id = c.task_id
                       AND p.state = 'pending')
                 ORDER BY c.id LIMIT $3
                 {})
             RETURNING {CALLBACK_COLUMNS}",
                sql.skip_locked
            ))
            .bind(now)
            .bind(lease_until)
            .bind(i64::from(limit))
            .fetch_all(pool)
            .await
        })?;
        claimed.sort_by_key(|c| c.id);
        Ok(claimed)
    }

    async fn callback_delivered(&self, id: i64, now: Millis) -> Result<()> {
        on_db!(self, |pool| {
            sqlx::query(
                "UPDATE callbacks SET state = 'delivered', attempts = attempts + 1, delivered_at
                = $2, last_error = NULL
             WHERE id = $1",
            )
            .bind(id)
            .bind(now)
            .execute(pool)
            .await?;
            Ok(())
        })
    }

    async fn callback_retry(
        &self,
        id: i64,
        attempts: u32,
        next_attempt_at: Millis,
        error: &str,
    ) -> Result<()> {
        on_db!(self, |pool| {
            sqlx::query(
                "UPDATE callbacks SET attempts = $2, next_attempt_at = $3, last_error = $4 WHERE id
                = $1",
            )
            .bind(id)
            .bind(i64::from(attempts))
            .bind(next_attempt_at)
            .bind(error)
            .execute(pool)
            .await?;
            Ok(())
        })
    }

    async fn callback_abandoned(&self, id: i64, attempts: u32, error: &str) -> Result<()> {
        on_db!(self, |pool| {
            sqlx::query(
            "UPDATE callbacks SET state = 'abandoned', attempts = $2, last_error = $3 WHERE id = $1"
        )
        .bind(id)
        .bind(i64::from(attempts))
        .bind(error)
        .execute(pool)
        .await?;
            Ok(())
        })
    }

    async fn pending_callbacks(&self) -> Result<u64> {
        let n: i64 = on_db!(self, |pool| sqlx::query_scalar(
            "SELECT COUNT(*) FROM callbacks WHERE state = 'pending'"
        )
        .fetch_one(pool)
        .await)?;
        Ok(n.max(0) as u64)
    }

    async fn put_linked_account(&self, l: &LinkedAccountRecord) -> Result<()> {
        on_db!(self, |pool| {
            sqlx::query(
            "INSERT INTO linked_accounts (account_id, email, password_hash, max_jobs, created_at)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (account_id, email) DO UPDATE SET
                 password_hash = excluded.password_hash, max_jobs = excluded.max_jobs",
        )
        .bind(&l.account_id)
        .bind(&l.email)
        .bind(&l.password_hash)
        .bind(i64::from(l.max_jobs))
        .bind(l.created_at)
        .execute(pool)
        .await?;
            Ok(())
        })
    }

    async fn linked_accounts(&self, account_id: &str) -> Result<Vec<LinkedAccountRecord>> {
        on_db!(self, |pool| Ok(sqlx::query_as(
            "SELECT account_id, email, password_hash, max_jobs, created_at FROM linked_accounts
             WHERE account_id = $1 ORDER BY created_at, email",
        )
        .bind(account_id)
        .fetch_all(pool)
        .await?))
    }

    async fn delete_linked_account(&self, account_id: &str, email: &str) -> Result<bool> {
        let deleted = on_db!(self, |pool| sqlx::query(
            "DELETE FROM linked_accounts WHERE account_id = $1 AND email = $2"
        )
        .bind(account_id)
        .bind(email)
        .execute(pool)
        .await?
        .rows_affected());
        Ok(deleted > 0)
    }

    async fn insert_avatar(&self, a: &AvatarRecord) -> Result<()> {
        on_db!(self, |pool| {
            sqlx::query(&format!(
                "INSERT INTO avatars ({AVATAR_COLUMNS})
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
            ))
            .bind(&a.id)
            .bind(&a.account_id)
            .bind(&a.email)
            .bind(&a.nickname)
            .bind(&a.prompt)
            .bind(&a.scene)
            .bind(&a.image_key)
            .bind(&a.tts_speaker)
            .bind(a.tts_speed)
            .bind(&a.tts_emotion)
            .bind(a.created_at)
            .bind(a.updated_at)
            .execute(pool)
            .await?;
            Ok(())
        })
    }

    async fn avatar(&self, account_id: &str, id: &str) -> Result<Option<AvatarRecord>> {
        on_db!(self, |pool| Ok(sqlx::query_as(&format!(
            "SELECT {AVATAR_COLUMNS} FROM avatars WHERE account_id = $1 AND id = $2"
        ))
        .bind(account_id)
        .bind(id)
        .fetch_optional(pool)
        .await?))
    }

    async fn avatars(&self, account_id: &str) -> Result<Vec<AvatarRecord>> {
        on_db!(self, |pool| {
            Ok(sqlx::query_as(&format!(
                "SELECT {AVATAR_COLUMNS} FROM avatars WHERE account_id = $1 ORDER BY created_at
                DESC, id DESC"
            ))
            .bind(account_id)
            .fetch_all(pool)
            .await?)
        })
    }

    async fn delete_avatar(&self, account_id: &str, id: &str) -> Result<bool> {
        let deleted = on_db!(self, |pool| sqlx::query(
            "DELETE FROM avatars WHERE account_id = $1 AND id = $2"
        )
        .bind(account_id)
        .bind(id)
        .execute(pool)
        .await?
        .rows_affected());
        Ok(deleted > 0)
    }

    async fn insert_asset(&self, a: &AssetRecord) -> Result<()> {
        on_db!(self, |pool| {
            sqlx::query(&format!(
                "INSERT INTO assets ({ASSET_COLUMNS})
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
            ))
            .bind(&a.id)
            .bind(&a.account_id)
            .bind(&a.email)
            .bind(&a.file_name)
            .bind(&a.kind)
            .bind(&a.mime)
            .bind(&a.blob_key)
            .bind(a.width)
            .bind(a.height)
            .bind(a.duration_ms)
            .bind(a.created_at)
            .execute(pool)
            .await?;
            Ok(())
        })
    }

    async fn assets(&self, account_id: &str, q: &AssetQuery) -> Result<Vec<AssetRecord>> {
        let order = if q.newest_first { "DESC" } else { "ASC" };
        on_db!(self, |pool, sql| Ok(sqlx::query_as(&format!(
            "SELECT {ASSET_COLUMNS} FROM assets
             WHERE account_id = $1 AND email = $2 AND (CAST($3 AS TEXT) IS NULL OR kind = $3)
               AND (CAST($4 AS TEXT) IS NULL OR {}(file_name, $4) > 0)
             ORDER BY created_at {order}, id {order} LIMIT $5 OFFSET $6",
            sql.find_substring
        ))
        .bind(account_id)
        .bind(&q.email)
        .bind(&q.kind)
        .bind(&q.name_contains)
        .bind(i64::from(q.limit))
        .bind(i64::from(q.offset))
        .fetch_all(pool)
        .await?))
    }

    async fn delete_assets(
        &self,
        account_id: &str,
        email: &str,
        ids: &[String],
    ) -> Result<Vec<AssetRecord>> {
        let statement = format!(
            "DELETE FROM assets WHERE account_id = $1 AND email = $2 AND id = $3
             RETURNING {ASSET_COLUMNS}"
        );
        on_db!(self, |pool| {
            let mut tx = pool.begin().await?;
            let mut deleted = Vec::new();
            for id in ids {
                let asset: Option<AssetRecord> = sqlx::query_as(&statement)
                    .bind(account_id)
                    .bind(email)
                    .bind(id)
                    .fetch_optional(&mut *tx)
                    .await?;
                deleted.extend(asset);
            }
            tx.commit().await?;
            Ok(deleted)
        })
    }

    async fn assets_created_before(&self, before: Millis, limit: u32) -> Result<Vec<AssetRecord>> {
        // Claimed like finished tasks, so janitors on several nodes share
        // the sweep instead of racing over the same uploads.
        let now = self.db_now_ms().await?;
        let mut assets: Vec<AssetRecord> = on_db!(self, |pool, sql| sqlx::query_as(&format!(
            "UPDATE assets SET janitor_until = $3
             WHERE id IN (
                 SELECT id FROM assets WHERE created_at < $1
                   AND (janitor_until IS NULL OR janitor_until <= $4)
                 ORDER BY created_at, id LIMIT $2
                 {})
             RETURNING {ASSET_COLUMNS}",
            sql.skip_locked
        ))
        .bind(before)
        .bind(i64::from(limit))
        .bind(now + JANITOR_CLAIM_MS)
        .bind(now)
        .fetch_all(pool)
        .await)?;
        oldest_first(&mut assets, |a| (a.created_at, a.id.as_str()));
        Ok(assets)
    }

    async fn active_tasks_by_email(&self, account_id: &str) -> Result<Vec<(String, u32)>> {
        let rows: Vec<(String, i64)> = on_db!(self, |pool| sqlx::query_as(&format!(
            "SELECT l.email, COUNT(*) FROM task_links l
             JOIN tasks t ON t.id = l.task_id
             WHERE l.account_id = $1 AND t.{UNFINISHED}
             GROUP BY l.email ORDER BY l.email"
        ))
        .bind(account_id)
        .fetch_all(pool)
        .await)?;
        rows.into_iter()
            .map(|(email, n)| Ok((email, count(n, "active tasks")?)))
            .collect()
    }

    async fn cancel_task(
        &self,
        task_id: &str,
        message: &str,
        now: Millis,
        callback: CallbackFor<'_>,
    ) -> Result<Option<TaskRecord>> {
        on_db!(self, |pool| {
            let mut tx = pool.begin().await?;
            let task: Option<TaskRecord> = sqlx::query_as(&format!(
                "UPDATE tasks SET state = 'failed', status_msg = $2, last_error = $2,
                     lease_owner = NULL, lease_expires_at = NULL, updated_at = $3, finished_at = $3
                 WHERE id = $1 AND {UNFINISHED}
                 RETURNING {TASK_COLUMNS}"
            ))
            .bind(task_id)
            .bind(message)
            .bind(now)
            .fetch_optional(&mut *tx)
            .await?;
            if let Some(c) = task.as_ref().and_then(callback) {
                insert_callback(&c).execute(&mut *tx).await?;
            }
            tx.commit().await?;
            Ok(task)
        })
    }
}
