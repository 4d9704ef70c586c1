//! The shared metadata store: PostgreSQL, for several API nodes and workers.
//! The queue claim takes the oldest claimable row with `FOR UPDATE SKIP
//! LOCKED`, so concurrent workers never wait on nor get the same task; a
//! state change and its callback row commit in one transaction. Migrations
//! run at start under sqlx's advisory lock, so nodes may start together.

use crate::error::{Result, StorageError};
use crate::metadata::{CallbackFor, InsertOutcome, MetadataStore};
use crate::records::*;
use async_trait::async_trait;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions, PgRow};
use sqlx::{PgConnection, PgPool, Row};
use std::str::FromStr;
use std::time::Duration;

pub struct PgStore {
    pool: PgPool,
}

const TASK_COLUMNS: &str = "id, account_id, external_task_id, kind, state, status_msg, progress, spec, result, \
     callback_url, attempts, last_error, lease_owner, lease_expires_at, created_at, updated_at, started_at, finished_at";
const ACCOUNT_COLUMNS: &str =
    "a.id, a.name, a.access_key, a.secret_key, a.webhook_secret, a.max_concurrent_tasks, a.created_at";
const AUDIO_COLUMNS: &str =
    "id, account_id, blob_key, duration, timeline, text, voice_id, language, created_at, expires_at";
const CALLBACK_COLUMNS: &str =
    "id, message_id, task_id, account_id, url, body, attempts, next_attempt_at, created_at";

/// How long a janitor keeps the rows it took before another may retry them.
const JANITOR_CLAIM_MS: i64 = 300_000;

impl PgStore {
    /// `postgres://user@host:port/db` URLs; migrates on open.
    pub async fn open_url(url: &str) -> Result<Self> {
        let opts = PgConnectOptions::from_str(url)?;
        Self::connect(opts, 10).await
    }

    pub async fn connect(opts: PgConnectOptions, max_connections: u32) -> Result<Self> {
        let pool = PgPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(Duration::from_secs(15))
            .connect_with(opts)
            .await?;
        // sqlx holds a PostgreSQL advisory lock while migrating: nodes that
        // start at once apply each migration exactly once.
        sqlx::migrate!("./migrations/postgres").run(&pool).await?;
        Ok(Self { pool })
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}

fn u32_col(row: &PgRow, col: &str) -> Result<u32> {
    let v: i64 = row.try_get(col)?;
    u32::try_from(v.max(0)).map_err(|_| StorageError::Database(format!("{col} out of range: {v}")))
}

fn task_from_row(row: &PgRow) -> Result<TaskRecord> {
    let state: String = row.try_get("state")?;
    let progress: i64 = row.try_get("progress")?;
    Ok(TaskRecord {
        id: row.try_get("id")?,
        account_id: row.try_get("account_id")?,
        external_task_id: row.try_get("external_task_id")?,
        kind: row.try_get("kind")?,
        state: TaskState::parse(&state)
            .ok_or_else(|| StorageError::Database(format!("unknown task state {state:?}")))?,
        status_msg: row.try_get("status_msg")?,
        progress: progress.clamp(0, 100) as u8,
        spec: row.try_get("spec")?,
        result: row.try_get("result")?,
        callback_url: row.try_get("callback_url")?,
        attempts: u32_col(row, "attempts")?,
        last_error: row.try_get("last_error")?,
        lease_owner: row.try_get("lease_owner")?,
        lease_expires_at: row.try_get("lease_expires_at")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        started_at: row.try_get("started_at")?,
        finished_at: row.try_get("finished_at")?,
    })
}

fn account_from_row(row: &PgRow) -> Result<AccountRecord> {
    let max: Option<i64> = row.try_get("max_concurrent_tasks")?;
    Ok(AccountRecord {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        access_key: row.try_get("access_key")?,
        secret_key: row.try_get("secret_key")?,
        webhook_secret: row.try_get("webhook_secret")?,
        max_concurrent_tasks: max.map(|m| u32::try_from(m.max(0)).unwrap_or(u32::MAX)),
        created_at: row.try_get("created_at")?,
    })
}

fn audio_from_row(row: &PgRow) -> Result<AudioRecord> {
    Ok(AudioRecord {
        id: row.try_get("id")?,
        account_id: row.try_get("account_id")?,
        blob_key: row.try_get("blob_key")?,
        duration: row.try_get("duration")?,
        timeline: row.try_get("timeline")?,
        text: row.try_get("text")?,
        voice_id: row.try_get("voice_id")?,
        language: row.try_get("language")?,
        created_at: row.try_get("created_at")?,
        expires_at: row.try_get("expires_at")?,
    })
}

fn callback_from_row(row: &PgRow) -> Result<CallbackRecord> {
    Ok(CallbackRecord {
        id: row.try_get("id")?,
        message_id: row.try_get("message_id")?,
        task_id: row.try_get("task_id")?,
        account_id: row.try_get("account_id")?,
        url: row.try_get("url")?,
        body: row.try_get("body")?,
        attempts: u32_col(row, "attempts")?,
        next_attempt_at: row.try_get("next_attempt_at")?,
        created_at: row.try_get("created_at")?,
    })
}

/// Writes the callback row of a state change, in the caller's transaction.
async fn insert_callback(conn: &mut PgConnection, c: &NewCallback) -> Result<()> {
    sqlx::query(
        "INSERT INTO callbacks (message_id, task_id, account_id, url, body, next_attempt_at, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $6)",
    )
    .bind(&c.message_id)
    .bind(&c.task_id)
    .bind(&c.account_id)
    .bind(&c.url)
    .bind(&c.body)
    .bind(c.created_at)
    .execute(conn)
    .await?;
    Ok(())
}

const ASSET_COLUMNS: &str =
    "id, account_id, email, file_name, kind, mime, blob_key, width, height, duration_ms, created_at";

fn asset_from_row(row: &PgRow) -> Result<AssetRecord> {
    Ok(AssetRecord {
        id: row.try_get("id")?,
        account_id: row.try_get("account_id")?,
        email: row.try_get("email")?,
        file_name: row.try_get("file_name")?,
        kind: row.try_get("kind")?,
        mime: row.try_get("mime")?,
        blob_key: row.try_get("blob_key")?,
        width: row.try_get("width")?,
        height: row.try_get("height")?,
        duration_ms: row.try_get("duration_ms")?,
        created_at: row.try_get("created_at")?,
    })
}

const AVATAR_COLUMNS: &str =
    "id, account_id, email, nickname, prompt, scene, image_key, tts_speaker, \
     tts_speed, tts_emotion, created_at, updated_at";

fn avatar_from_row(row: &PgRow) -> Result<AvatarRecord> {
    Ok(AvatarRecord {
        id: row.try_get("id")?,
        account_id: row.try_get("account_id")?,
        email: row.try_get("email")?,
        nickname: row.try_get("nickname")?,
        prompt: row.try_get("prompt")?,
        scene: row.try_get("scene")?,
        image_key: row.try_get("image_key")?,
        tts_speaker: row.try_get("tts_speaker")?,
        tts_speed: row.try_get("tts_speed")?,
        tts_emotion: row.try_get("tts_emotion")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db) if db.is_unique_violation())
}

#[async_trait]
impl MetadataStore for PgStore {
    async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn setting_or_init(&self, key: &str, init: &str) -> Result<String> {
        sqlx::query(
            "INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING",
        )
        .bind(key)
        .bind(init)
        .execute(&self.pool)
        .await?;
        let row = sqlx::query("SELECT value FROM settings WHERE key = $1")
            .bind(key)
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get("value")?)
    }

    async fn next_id(&self) -> Result<i64> {
        let row = sqlx::query("SELECT nextval('public_ids') AS value")
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get("value")?)
    }

    async fn usage(&self, account_id: &str, from: Millis, to: Millis) -> Result<Usage> {
        let row = sqlx::query(
            "SELECT COALESCE(SUM((spec::jsonb ->> 'audio_duration')::DOUBLE PRECISION), 0.0) AS seconds FROM tasks
             WHERE account_id = $1 AND state = 'succeed' AND finished_at >= $2 AND finished_at <= $3",
        )
        .bind(account_id)
        .bind(from)
        .bind(to)
        .fetch_one(&self.pool)
        .await?;
        let video_seconds: f64 = row.try_get("seconds")?;
        let row = sqlx::query(
            "SELECT COUNT(*) AS n FROM audio WHERE account_id = $1 AND created_at >= $2 AND created_at <= $3",
        )
        .bind(account_id)
        .bind(from)
        .bind(to)
        .fetch_one(&self.pool)
        .await?;
        let n: i64 = row.try_get("n")?;
        Ok(Usage {
            video_seconds,
            tts_calls: u64::try_from(n).unwrap_or(0),
        })
    }

    async fn create_account(&self, new: &NewAccount) -> Result<()> {
        let a = &new.account;
        let mut tx = self.pool.begin().await?;
        let inserted = sqlx::query(
            "INSERT INTO accounts (id, name, access_key, secret_key, webhook_secret, max_concurrent_tasks, created_at)
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
        sqlx::query("INSERT INTO api_keys (key_hash, account_id, created_at) VALUES ($1, $2, $3)")
            .bind(&new.api_key_hash)
            .bind(&a.id)
            .bind(a.created_at)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn account(&self, id: &str) -> Result<Option<AccountRecord>> {
        let row = sqlx::query(&format!(
            "SELECT {ACCOUNT_COLUMNS} FROM accounts a WHERE a.id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(account_from_row).transpose()
    }

    async fn account_by_api_key_hash(&self, hash: &str) -> Result<Option<AccountRecord>> {
        let row = sqlx::query(&format!(
            "SELECT {ACCOUNT_COLUMNS} FROM accounts a JOIN api_keys k ON k.account_id = a.id WHERE k.key_hash = $1"
        ))
        .bind(hash)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(account_from_row).transpose()
    }

    async fn account_by_access_key(&self, access_key: &str) -> Result<Option<AccountRecord>> {
        let row = sqlx::query(&format!(
            "SELECT {ACCOUNT_COLUMNS} FROM accounts a WHERE a.access_key = $1"
        ))
        .bind(access_key)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(account_from_row).transpose()
    }

    async fn list_accounts(&self) -> Result<Vec<AccountRecord>> {
        let rows = sqlx::query(&format!(
            "SELECT {ACCOUNT_COLUMNS} FROM accounts a ORDER BY a.created_at"
        ))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(account_from_row).collect()
    }

    async fn add_api_key(&self, account_id: &str, hash: &str, created_at: Millis) -> Result<()> {
        sqlx::query("INSERT INTO api_keys (key_hash, account_id, created_at) VALUES ($1, $2, $3)")
            .bind(hash)
            .bind(account_id)
            .bind(created_at)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn replace_credentials(
        &self,
        account_id: &str,
        api_key_hash: &str,
        access_key: &str,
        secret_key: &str,
        created_at: Millis,
    ) -> Result<bool> {
        let mut tx = self.pool.begin().await?;
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
        sqlx::query("INSERT INTO api_keys (key_hash, account_id, created_at) VALUES ($1, $2, $3)")
            .bind(api_key_hash)
            .bind(account_id)
            .bind(created_at)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn insert_task(
        &self,
        t: &NewTask,
        max_active: u32,
        callback: CallbackFor<'_>,
    ) -> Result<InsertOutcome> {
        let mut tx = self.pool.begin().await?;
        // Submissions of one account queue on a transaction-level advisory
        // lock, so two of them cannot both take the last slot.
        sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 7))")
            .bind(&t.account_id)
            .execute(&mut *tx)
            .await?;
        let res = sqlx::query(
            "INSERT INTO tasks (id, account_id, external_task_id, kind, state, spec, callback_url, created_at, updated_at)
             SELECT $1, $2, $3, $4, 'submitted', $5, $6, $7, $7
             WHERE (SELECT COUNT(*) FROM tasks WHERE account_id = $2 AND state IN ('submitted', 'processing')) < $8",
        )
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
            let busy: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM task_links l JOIN tasks t ON t.id = l.task_id
                 WHERE l.account_id = $1 AND l.email = $2 AND t.state IN ('submitted', 'processing')",
            )
            .bind(&t.account_id)
            .bind(&link.email)
            .fetch_one(&mut *tx)
            .await?;
            if busy >= i64::from(link.max_jobs) {
                return Ok(InsertOutcome::LinkLimitReached);
            }
            sqlx::query("INSERT INTO task_links (task_id, account_id, email) VALUES ($1, $2, $3)")
                .bind(&t.id)
                .bind(&t.account_id)
                .bind(&link.email)
                .execute(&mut *tx)
                .await?;
        }
        let row = sqlx::query(&format!("SELECT {TASK_COLUMNS} FROM tasks WHERE id = $1"))
            .bind(&t.id)
            .fetch_one(&mut *tx)
            .await?;
        if let Some(c) = callback(&task_from_row(&row)?) {
            insert_callback(&mut tx, &c).await?;
        }
        tx.commit().await?;
        Ok(InsertOutcome::Inserted)
    }

    async fn task(&self, id: &str) -> Result<Option<TaskRecord>> {
        let row = sqlx::query(&format!("SELECT {TASK_COLUMNS} FROM tasks WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(task_from_row).transpose()
    }

    async fn task_for_account(
        &self,
        account_id: &str,
        id_or_external: &str,
    ) -> Result<Option<TaskRecord>> {
        let row = sqlx::query(&format!(
            "SELECT {TASK_COLUMNS} FROM tasks WHERE account_id = $1 AND (id = $2 OR external_task_id = $2)
             ORDER BY (id = $2) DESC LIMIT 1"
        ))
        .bind(account_id)
        .bind(id_or_external)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(task_from_row).transpose()
    }

    async fn list_tasks(
        &self,
        account_id: &str,
        kind: &str,
        offset: u64,
        limit: u32,
    ) -> Result<Vec<TaskRecord>> {
        let rows = sqlx::query(&format!(
            "SELECT {TASK_COLUMNS} FROM tasks WHERE account_id = $1 AND kind = $2
             ORDER BY created_at DESC, id DESC LIMIT $3 OFFSET $4"
        ))
        .bind(account_id)
        .bind(kind)
        .bind(i64::from(limit))
        .bind(i64::try_from(offset).unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(task_from_row).collect()
    }

    async fn active_tasks(&self, account_id: &str) -> Result<u32> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS n FROM tasks WHERE account_id = $1 AND state IN ('submitted', 'processing')",
        )
        .bind(account_id)
        .fetch_one(&self.pool)
        .await?;
        u32_col(&row, "n")
    }

    async fn queue_stats(&self) -> Result<QueueStats> {
        let row = sqlx::query(
            "SELECT COUNT(*) FILTER (WHERE state = 'submitted') AS s, COUNT(*) FILTER (WHERE state = 'processing') AS p
             FROM tasks WHERE state IN ('submitted', 'processing')",
        )
        .fetch_one(&self.pool)
        .await?;
        let s: i64 = row.try_get("s")?;
        let p: i64 = row.try_get("p")?;
        Ok(QueueStats {
            submitted: s.max(0) as u64,
            processing: p.max(0) as u64,
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
        let mut tx = self.pool.begin().await?;
        let row = sqlx::query(&format!(
            "UPDATE tasks SET state = 'processing', lease_owner = $1, lease_expires_at = $2,
                 attempts = attempts + 1, progress = 0,
                 updated_at = CASE WHEN state = 'submitted' THEN $3 ELSE updated_at END,
                 started_at = COALESCE(started_at, $3)
             WHERE id = (
                 SELECT id FROM tasks
                 WHERE (state = 'submitted' OR (state = 'processing' AND lease_expires_at <= $3))
                   AND attempts < $4
                 ORDER BY created_at, id LIMIT 1
                 FOR UPDATE SKIP LOCKED)
             RETURNING {TASK_COLUMNS}"
        ))
        .bind(worker)
        .bind(lease_until)
        .bind(now)
        .bind(i64::from(max_attempts))
        .fetch_optional(&mut *tx)
        .await?;
        let task = row.as_ref().map(task_from_row).transpose()?;
        if let Some(c) = task.as_ref().and_then(callback) {
            insert_callback(&mut tx, &c).await?;
        }
        tx.commit().await?;
        Ok(task)
    }

    async fn renew_lease(
        &self,
        task_id: &str,
        worker: &str,
        lease_until: Millis,
        progress: u8,
        _now: Millis,
    ) -> Result<bool> {
        let r = sqlx::query(
            "UPDATE tasks SET lease_expires_at = $3, progress = GREATEST(progress, $4)
             WHERE id = $1 AND lease_owner = $2 AND state = 'processing'",
        )
        .bind(task_id)
        .bind(worker)
        .bind(lease_until)
        .bind(i64::from(progress.min(100)))
        .execute(&self.pool)
        .await?;
        Ok(r.rows_affected() == 1)
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
        let sql = format!(
            "UPDATE tasks SET {set} WHERE id = $1 AND lease_owner = $2 AND state = 'processing' RETURNING {TASK_COLUMNS}"
        );
        let q = sqlx::query(&sql)
            .bind(task_id)
            .bind(worker)
            .bind(text)
            .bind(time);
        let mut tx = self.pool.begin().await?;
        let row = q.fetch_optional(&mut *tx).await?;
        let task = row.as_ref().map(task_from_row).transpose()?;
        if let Some(c) = task.as_ref().and_then(callback) {
            insert_callback(&mut tx, &c).await?;
        }
        tx.commit().await?;
        Ok(task)
    }

    async fn fail_exhausted(
        &self,
        now: Millis,
        max_attempts: u32,
        message_prefix: &str,
        callback: CallbackFor<'_>,
    ) -> Result<Vec<TaskRecord>> {
        let mut tx = self.pool.begin().await?;
        let rows = sqlx::query(&format!(
            "UPDATE tasks SET state = 'failed',
                 status_msg = $3 || ' ' || attempts::text || ' attempts: ' ||
                     COALESCE(last_error, 'the worker stopped before finishing (crash or restart)'),
                 lease_owner = NULL, lease_expires_at = NULL, updated_at = $1, finished_at = $1
             WHERE state = 'processing' AND lease_expires_at <= $1 AND attempts >= $2
             RETURNING {TASK_COLUMNS}"
        ))
        .bind(now)
        .bind(i64::from(max_attempts))
        .bind(message_prefix)
        .fetch_all(&mut *tx)
        .await?;
        let tasks = rows.iter().map(task_from_row).collect::<Result<Vec<_>>>()?;
        for c in tasks.iter().filter_map(callback) {
            insert_callback(&mut tx, &c).await?;
        }
        tx.commit().await?;
        Ok(tasks)
    }

    async fn tasks_created_before(&self, before: Millis, limit: u32) -> Result<Vec<TaskRecord>> {
        // Finished tasks keep no lease: the lease column holds the janitor's
        // claim, so each row goes to one node and returns if that node dies.
        let now =
            sqlx::query("SELECT (EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::BIGINT AS now")
                .fetch_one(&self.pool)
                .await?
                .try_get::<i64, _>("now")?;
        let rows = sqlx::query(&format!(
            "UPDATE tasks SET lease_expires_at = $3
             WHERE id IN (
                 SELECT id FROM tasks WHERE created_at < $1 AND state IN ('succeed', 'failed')
                   AND (lease_expires_at IS NULL OR lease_expires_at <= $4)
                 ORDER BY created_at LIMIT $2
                 FOR UPDATE SKIP LOCKED)
             RETURNING {TASK_COLUMNS}"
        ))
        .bind(before)
        .bind(i64::from(limit))
        .bind(now + JANITOR_CLAIM_MS)
        .bind(now)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(task_from_row).collect()
    }

    async fn delete_task(&self, id: &str) -> Result<()> {
        sqlx::query("DELETE FROM tasks WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn insert_audio(&self, a: &AudioRecord) -> Result<()> {
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
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn audio_for_account(&self, account_id: &str, id: &str) -> Result<Option<AudioRecord>> {
        let row = sqlx::query(&format!(
            "SELECT {AUDIO_COLUMNS} FROM audio WHERE account_id = $1 AND id = $2"
        ))
        .bind(account_id)
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(audio_from_row).transpose()
    }

    async fn audio_expired(&self, now: Millis, limit: u32) -> Result<Vec<AudioRecord>> {
        let rows = sqlx::query(&format!(
            "UPDATE audio SET janitor_until = $3
             WHERE id IN (
                 SELECT id FROM audio WHERE expires_at <= $1
                   AND (janitor_until IS NULL OR janitor_until <= $1)
                 ORDER BY expires_at LIMIT $2
                 FOR UPDATE SKIP LOCKED)
             RETURNING {AUDIO_COLUMNS}"
        ))
        .bind(now)
        .bind(i64::from(limit))
        .bind(now + JANITOR_CLAIM_MS)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(audio_from_row).collect()
    }

    async fn delete_audio(&self, id: &str) -> Result<()> {
        sqlx::query("DELETE FROM audio WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn enqueue_callback(&self, c: &NewCallback) -> Result<()> {
        let mut conn = self.pool.acquire().await?;
        insert_callback(&mut conn, c).await
    }

    async fn claim_callbacks(
        &self,
        now: Millis,
        lease_until: Millis,
        limit: u32,
    ) -> Result<Vec<CallbackRecord>> {
        let rows = sqlx::query(&format!(
            "UPDATE callbacks SET next_attempt_at = $2
             WHERE id IN (
                 SELECT c.id FROM callbacks c
                 WHERE c.state = 'pending' AND c.next_attempt_at <= $1
                   AND c.id = (SELECT MIN(p.id) FROM callbacks p WHERE p.task_id = c.task_id AND p.state = 'pending')
                 ORDER BY c.id LIMIT $3
                 FOR UPDATE SKIP LOCKED)
             RETURNING {CALLBACK_COLUMNS}"
        ))
        .bind(now)
        .bind(lease_until)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        let mut claimed = rows
            .iter()
            .map(callback_from_row)
            .collect::<Result<Vec<_>>>()?;
        claimed.sort_by_key(|c| c.id);
        Ok(claimed)
    }

    async fn callback_delivered(&self, id: i64, now: Millis) -> Result<()> {
        sqlx::query(
            "UPDATE callbacks SET state = 'delivered', attempts = attempts + 1, delivered_at = $2, last_error = NULL
             WHERE id = $1",
        )
        .bind(id)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn callback_retry(
        &self,
        id: i64,
        attempts: u32,
        next_attempt_at: Millis,
        error: &str,
    ) -> Result<()> {
        sqlx::query("UPDATE callbacks SET attempts = $2, next_attempt_at = $3, last_error = $4 WHERE id = $1")
            .bind(id)
            .bind(i64::from(attempts))
            .bind(next_attempt_at)
            .bind(error)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn callback_abandoned(&self, id: i64, attempts: u32, error: &str) -> Result<()> {
        sqlx::query("UPDATE callbacks SET state = 'abandoned', attempts = $2, last_error = $3 WHERE id = $1")
            .bind(id)
            .bind(i64::from(attempts))
            .bind(error)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn pending_callbacks(&self) -> Result<u64> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM callbacks WHERE state = 'pending'")
            .fetch_one(&self.pool)
            .await?;
        let n: i64 = row.try_get("n")?;
        Ok(n.max(0) as u64)
    }

    async fn put_linked_account(&self, l: &LinkedAccountRecord) -> Result<()> {
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
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn linked_accounts(&self, account_id: &str) -> Result<Vec<LinkedAccountRecord>> {
        let rows = sqlx::query(
            "SELECT account_id, email, password_hash, max_jobs, created_at FROM linked_accounts
             WHERE account_id = $1 ORDER BY created_at, email",
        )
        .bind(account_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(LinkedAccountRecord {
                    account_id: r.try_get("account_id")?,
                    email: r.try_get("email")?,
                    password_hash: r.try_get("password_hash")?,
                    max_jobs: u32_col(r, "max_jobs")?,
                    created_at: r.try_get("created_at")?,
                })
            })
            .collect()
    }

    async fn delete_linked_account(&self, account_id: &str, email: &str) -> Result<bool> {
        let r = sqlx::query("DELETE FROM linked_accounts WHERE account_id = $1 AND email = $2")
            .bind(account_id)
            .bind(email)
            .execute(&self.pool)
            .await?;
        Ok(r.rows_affected() > 0)
    }

    async fn insert_avatar(&self, a: &AvatarRecord) -> Result<()> {
        sqlx::query(&format!(
            "INSERT INTO avatars ({AVATAR_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
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
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn avatar(&self, account_id: &str, id: &str) -> Result<Option<AvatarRecord>> {
        let row = sqlx::query(&format!(
            "SELECT {AVATAR_COLUMNS} FROM avatars WHERE account_id = $1 AND id = $2"
        ))
        .bind(account_id)
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(avatar_from_row).transpose()
    }

    async fn avatars(&self, account_id: &str) -> Result<Vec<AvatarRecord>> {
        let rows = sqlx::query(&format!(
            "SELECT {AVATAR_COLUMNS} FROM avatars WHERE account_id = $1 ORDER BY created_at DESC, id DESC"
        ))
        .bind(account_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(avatar_from_row).collect()
    }

    async fn delete_avatar(&self, account_id: &str, id: &str) -> Result<bool> {
        let r = sqlx::query("DELETE FROM avatars WHERE account_id = $1 AND id = $2")
            .bind(account_id)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(r.rows_affected() > 0)
    }

    async fn insert_asset(&self, a: &AssetRecord) -> Result<()> {
        sqlx::query(&format!(
            "INSERT INTO assets ({ASSET_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
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
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn assets(&self, account_id: &str, q: &AssetQuery) -> Result<Vec<AssetRecord>> {
        let order = if q.newest_first { "DESC" } else { "ASC" };
        let rows = sqlx::query(&format!(
            "SELECT {ASSET_COLUMNS} FROM assets
             WHERE account_id = $1 AND email = $2 AND ($3::TEXT IS NULL OR kind = $3) AND ($4::TEXT IS NULL OR strpos(file_name, $4) > 0)
             ORDER BY created_at {order}, id {order} LIMIT $5 OFFSET $6"
        ))
        .bind(account_id)
        .bind(&q.email)
        .bind(&q.kind)
        .bind(&q.name_contains)
        .bind(i64::from(q.limit))
        .bind(i64::from(q.offset))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(asset_from_row).collect()
    }

    async fn delete_assets(
        &self,
        account_id: &str,
        email: &str,
        ids: &[String],
    ) -> Result<Vec<AssetRecord>> {
        let mut tx = self.pool.begin().await?;
        let mut deleted = Vec::new();
        for id in ids {
            let row = sqlx::query(&format!(
                "DELETE FROM assets WHERE account_id = $1 AND email = $2 AND id = $3
                 RETURNING {ASSET_COLUMNS}"
            ))
            .bind(account_id)
            .bind(email)
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
            if let Some(r) = row {
                deleted.push(asset_from_row(&r)?);
            }
        }
        tx.commit().await?;
        Ok(deleted)
    }

    async fn assets_created_before(&self, before: Millis, limit: u32) -> Result<Vec<AssetRecord>> {
        let rows = sqlx::query(&format!(
            "SELECT {ASSET_COLUMNS} FROM assets WHERE created_at < $1 ORDER BY created_at, id LIMIT $2"
        ))
        .bind(before)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(asset_from_row).collect()
    }

    async fn active_tasks_by_email(&self, account_id: &str) -> Result<Vec<(String, u32)>> {
        let rows = sqlx::query(
            "SELECT l.email AS email, COUNT(*) AS n FROM task_links l
             JOIN tasks t ON t.id = l.task_id
             WHERE l.account_id = $1 AND t.state IN ('submitted', 'processing')
             GROUP BY l.email ORDER BY l.email",
        )
        .bind(account_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("email")?, u32_col(r, "n")?)))
            .collect()
    }

    async fn cancel_task(
        &self,
        task_id: &str,
        message: &str,
        now: Millis,
        callback: CallbackFor<'_>,
    ) -> Result<Option<TaskRecord>> {
        let mut tx = self.pool.begin().await?;
        let row = sqlx::query(&format!(
            "UPDATE tasks SET state = 'failed', status_msg = $2, last_error = $2,
                 lease_owner = NULL, lease_expires_at = NULL, updated_at = $3, finished_at = $3
             WHERE id = $1 AND state IN ('submitted', 'processing')
             RETURNING {TASK_COLUMNS}"
        ))
        .bind(task_id)
        .bind(message)
        .bind(now)
        .fetch_optional(&mut *tx)
        .await?;
        let task = row.as_ref().map(task_from_row).transpose()?;
        if let Some(c) = task.as_ref().and_then(callback) {
            insert_callback(&mut tx, &c).await?;
        }
        tx.commit().await?;
        Ok(task)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::{self, NONE};
    use crate::testing;

    /// A migrated store on a fresh database; dropped by `done`.
    async fn store() -> (String, PgStore) {
        let admin = testing::admin_url();
        let url = testing::create_database(&admin).await.unwrap();
        let s = PgStore::open_url(&url).await.unwrap();
        (url, s)
    }

    async fn done(url: &str, s: PgStore) {
        s.pool.close().await;
        testing::drop_database(&testing::admin_url(), url)
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn the_store_contract_holds_on_postgres() {
        let (url, s) = store().await;
        contract::public_ids_are_unique_under_racing_callers(&s).await;
        done(&url, s).await;
        let (url, s) = store().await;
        contract::usage_sums_rendered_seconds_and_tts_calls(&s).await;
        done(&url, s).await;
        let (url, s) = store().await;
        contract::limits_duplicates_and_isolation(&s).await;
        done(&url, s).await;
        let (url, s) = store().await;
        contract::credentials_are_replaced_at_once(&s).await;
        done(&url, s).await;
        let (url, s) = store().await;
        contract::queue_claims_each_task_once_and_recovers_expired_leases(&s).await;
        done(&url, s).await;
        let (url, s) = store().await;
        contract::a_released_task_is_claimable_again_without_spending_an_attempt(&s).await;
        done(&url, s).await;
        let (url, s) = store().await;
        contract::callbacks_go_out_in_order_per_task(&s).await;
        done(&url, s).await;
        let (url, s) = store().await;
        contract::state_changes_and_their_callbacks_commit_together(&s).await;
        done(&url, s).await;
        let (url, s) = store().await;
        contract::uploads_are_listed_filtered_paged_and_deleted_per_owner(&s).await;
        done(&url, s).await;
        let (url, s) = store().await;
        contract::linked_email_limits_hold_under_racing_submissions(&s).await;
        done(&url, s).await;
    }

    #[tokio::test]
    async fn nodes_starting_together_migrate_once() {
        let admin = testing::admin_url();
        let url = testing::create_database(&admin).await.unwrap();
        let opened = futures::future::join_all((0..6).map(|_| PgStore::open_url(&url))).await;
        let stores: Vec<PgStore> = opened.into_iter().map(|s| s.unwrap()).collect();
        let row = sqlx::query("SELECT COUNT(*) AS n FROM _sqlx_migrations WHERE success")
            .fetch_one(&stores[0].pool)
            .await
            .unwrap();
        let applied: i64 = row.get("n");
        let files = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/postgres"))
            .unwrap()
            .count();
        assert_eq!(applied, files as i64);
        for s in stores {
            s.pool.close().await;
        }
        testing::drop_database(&admin, &url).await.unwrap();
    }

    #[tokio::test]
    async fn concurrent_claimers_share_the_queue_without_overlap() {
        let (url, s) = store().await;
        s.create_account(&contract::account("a")).await.unwrap();
        for i in 0..200 {
            s.insert_task(
                &contract::task(&format!("t{i:03}"), "a", None, i),
                1000,
                NONE,
            )
            .await
            .unwrap();
        }
        let s = std::sync::Arc::new(s);
        let claimers = (0..8).map(|w| {
            let s = s.clone();
            tokio::spawn(async move {
                let mut got = Vec::new();
                while let Some(t) = s
                    .claim_task(&format!("w{w}"), 10, 1_000_000, 3, NONE)
                    .await
                    .unwrap()
                {
                    got.push(t.id);
                }
                got
            })
        });
        let mut all: Vec<String> = futures::future::join_all(claimers)
            .await
            .into_iter()
            .flat_map(|r| r.unwrap())
            .collect();
        all.sort();
        let before = all.len();
        all.dedup();
        assert_eq!((before, all.len()), (200, 200));
        let s = std::sync::Arc::try_unwrap(s).ok().unwrap();
        done(&url, s).await;
    }

    #[tokio::test]
    async fn janitors_on_several_nodes_take_disjoint_rows() {
        let (url, s) = store().await;
        s.create_account(&contract::account("a")).await.unwrap();
        for i in 0..10 {
            let id = format!("t{i}");
            s.insert_task(&contract::task(&id, "a", None, i), 100, NONE)
                .await
                .unwrap();
            s.claim_task("w", 100, 200, 3, NONE).await.unwrap().unwrap();
            let ok = TaskFinish::Succeed {
                result: "{}".into(),
            };
            s.finish_task(&id, "w", &ok, 150, NONE)
                .await
                .unwrap()
                .unwrap();
        }
        let a = s.tasks_created_before(1000, 6).await.unwrap();
        let b = s.tasks_created_before(1000, 6).await.unwrap();
        let c = s.tasks_created_before(1000, 6).await.unwrap();
        assert_eq!((a.len(), b.len(), c.len()), (6, 4, 0));
        assert!(a.iter().all(|t| b.iter().all(|u| u.id != t.id)));
        done(&url, s).await;
    }
}
