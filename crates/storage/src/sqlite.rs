//! The embedded metadata store: one SQLite file in WAL mode. Writes are
//! serialised by SQLite; the queue claim is a single `UPDATE ... RETURNING`
//! statement, so two workers never get the same task. A state change and its
//! callback row are written in one transaction.

use crate::error::{Result, StorageError};
use crate::metadata::{CallbackFor, InsertOutcome, MetadataStore};
use crate::records::*;
use async_trait::async_trait;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow, SqliteSynchronous,
};
use sqlx::{Row, SqliteConnection, SqlitePool};
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

pub struct SqliteStore {
    pool: SqlitePool,
}

const TASK_COLUMNS: &str = "id, account_id, external_task_id, kind, state, status_msg, progress, spec, result, \
     callback_url, attempts, last_error, lease_owner, lease_expires_at, created_at, updated_at, started_at, finished_at";
const ACCOUNT_COLUMNS: &str =
    "a.id, a.name, a.access_key, a.secret_key, a.webhook_secret, a.max_concurrent_tasks, a.created_at";
const AUDIO_COLUMNS: &str =
    "id, account_id, blob_key, duration, timeline, text, voice_id, language, created_at, expires_at";
const CALLBACK_COLUMNS: &str =
    "id, message_id, task_id, account_id, url, body, attempts, next_attempt_at, created_at";

impl SqliteStore {
    /// Opens (creating when missing) the database file and migrates it.
    pub async fn open(path: &Path) -> Result<Self> {
        if let Some(parent) = path.parent() {
            tokio::fs::create_dir_all(parent).await?;
        }
        let opts = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        Self::connect(opts).await
    }

    /// `sqlite://path` or `sqlite::memory:` URLs.
    pub async fn open_url(url: &str) -> Result<Self> {
        let opts = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        Self::connect(opts).await
    }

    async fn connect(opts: SqliteConnectOptions) -> Result<Self> {
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .acquire_timeout(Duration::from_secs(15))
            .connect_with(opts)
            .await?;
        sqlx::migrate!("./migrations/sqlite").run(&pool).await?;
        Ok(Self { pool })
    }
}

fn u32_col(row: &SqliteRow, col: &str) -> Result<u32> {
    let v: i64 = row.try_get(col)?;
    u32::try_from(v.max(0)).map_err(|_| StorageError::Database(format!("{col} out of range: {v}")))
}

fn task_from_row(row: &SqliteRow) -> Result<TaskRecord> {
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

fn account_from_row(row: &SqliteRow) -> Result<AccountRecord> {
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

fn audio_from_row(row: &SqliteRow) -> Result<AudioRecord> {
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

fn callback_from_row(row: &SqliteRow) -> Result<CallbackRecord> {
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

const ASSET_COLUMNS: &str =
    "id, account_id, email, file_name, kind, mime, blob_key, width, height, duration_ms, created_at";

fn asset_from_row(row: &SqliteRow) -> Result<AssetRecord> {
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

fn avatar_from_row(row: &SqliteRow) -> Result<AvatarRecord> {
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

/// Writes the callback row of a state change, in the caller's transaction.
async fn insert_callback(conn: &mut SqliteConnection, c: &NewCallback) -> Result<()> {
    sqlx::query(
        "INSERT INTO callbacks (message_id, task_id, account_id, url, body, next_attempt_at, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)",
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

fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db) if db.is_unique_violation())
}

#[async_trait]
impl MetadataStore for SqliteStore {
    async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn setting_or_init(&self, key: &str, init: &str) -> Result<String> {
        sqlx::query(
            "INSERT INTO settings (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO NOTHING",
        )
        .bind(key)
        .bind(init)
        .execute(&self.pool)
        .await?;
        let row = sqlx::query("SELECT value FROM settings WHERE key = ?1")
            .bind(key)
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get("value")?)
    }

    async fn next_id(&self) -> Result<i64> {
        let row = sqlx::query(
            "UPDATE id_sequence SET value = value + 1 WHERE name = 'public' RETURNING value",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok(row.try_get("value")?)
    }

    async fn usage(&self, account_id: &str, from: Millis, to: Millis) -> Result<Usage> {
        let row = sqlx::query(
            "SELECT TOTAL(json_extract(spec, '$.audio_duration')) AS seconds FROM tasks
             WHERE account_id = ?1 AND state = 'succeed' AND finished_at >= ?2 AND finished_at <= ?3",
        )
        .bind(account_id)
        .bind(from)
        .bind(to)
        .fetch_one(&self.pool)
        .await?;
        let video_seconds: f64 = row.try_get("seconds")?;
        let row = sqlx::query(
            "SELECT COUNT(*) AS n FROM audio WHERE account_id = ?1 AND created_at >= ?2 AND created_at <= ?3",
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
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
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
        sqlx::query("INSERT INTO api_keys (key_hash, account_id, created_at) VALUES (?1, ?2, ?3)")
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
            "SELECT {ACCOUNT_COLUMNS} FROM accounts a WHERE a.id = ?1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(account_from_row).transpose()
    }

    async fn account_by_api_key_hash(&self, hash: &str) -> Result<Option<AccountRecord>> {
        let row = sqlx::query(&format!(
            "SELECT {ACCOUNT_COLUMNS} FROM accounts a JOIN api_keys k ON k.account_id = a.id WHERE k.key_hash = ?1"
        ))
        .bind(hash)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(account_from_row).transpose()
    }

    async fn account_by_access_key(&self, access_key: &str) -> Result<Option<AccountRecord>> {
        let row = sqlx::query(&format!(
            "SELECT {ACCOUNT_COLUMNS} FROM accounts a WHERE a.access_key = ?1"
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
        sqlx::query("INSERT INTO api_keys (key_hash, account_id, created_at) VALUES (?1, ?2, ?3)")
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
            sqlx::query("UPDATE accounts SET access_key = ?1, secret_key = ?2 WHERE id = ?3")
                .bind(access_key)
                .bind(secret_key)
                .bind(account_id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
        if updated == 0 {
            return Ok(false);
        }
        sqlx::query("DELETE FROM api_keys WHERE account_id = ?1")
            .bind(account_id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("INSERT INTO api_keys (key_hash, account_id, created_at) VALUES (?1, ?2, ?3)")
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
        // One statement: the count and the insert happen under the same
        // write lock, so two submissions cannot both take the last slot.
        let res = sqlx::query(
            "INSERT INTO tasks (id, account_id, external_task_id, kind, state, spec, callback_url, created_at, updated_at)
             SELECT ?1, ?2, ?3, ?4, 'submitted', ?5, ?6, ?7, ?7
             WHERE (SELECT COUNT(*) FROM tasks WHERE account_id = ?2 AND state IN ('submitted', 'processing')) < ?8",
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
                 WHERE l.account_id = ?1 AND l.email = ?2 AND t.state IN ('submitted', 'processing')",
            )
            .bind(&t.account_id)
            .bind(&link.email)
            .fetch_one(&mut *tx)
            .await?;
            if busy >= i64::from(link.max_jobs) {
                return Ok(InsertOutcome::LinkLimitReached);
            }
            sqlx::query("INSERT INTO task_links (task_id, account_id, email) VALUES (?1, ?2, ?3)")
                .bind(&t.id)
                .bind(&t.account_id)
                .bind(&link.email)
                .execute(&mut *tx)
                .await?;
        }
        let row = sqlx::query(&format!("SELECT {TASK_COLUMNS} FROM tasks WHERE id = ?1"))
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
        let row = sqlx::query(&format!("SELECT {TASK_COLUMNS} FROM tasks WHERE id = ?1"))
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
            "SELECT {TASK_COLUMNS} FROM tasks WHERE account_id = ?1 AND (id = ?2 OR external_task_id = ?2)
             ORDER BY (id = ?2) DESC LIMIT 1"
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
            "SELECT {TASK_COLUMNS} FROM tasks WHERE account_id = ?1 AND kind = ?2
             ORDER BY created_at DESC, id DESC LIMIT ?3 OFFSET ?4"
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
            "SELECT COUNT(*) AS n FROM tasks WHERE account_id = ?1 AND state IN ('submitted', 'processing')",
        )
        .bind(account_id)
        .fetch_one(&self.pool)
        .await?;
        u32_col(&row, "n")
    }

    async fn queue_stats(&self) -> Result<QueueStats> {
        let row = sqlx::query(
            "SELECT COALESCE(SUM(state = 'submitted'), 0) AS s, COALESCE(SUM(state = 'processing'), 0) AS p
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
            "UPDATE tasks SET state = 'processing', lease_owner = ?1, lease_expires_at = ?2,
                 attempts = attempts + 1, progress = 0,
                 updated_at = CASE WHEN state = 'submitted' THEN ?3 ELSE updated_at END,
                 started_at = COALESCE(started_at, ?3)
             WHERE id = (
                 SELECT id FROM tasks
                 WHERE (state = 'submitted' OR (state = 'processing' AND lease_expires_at <= ?3))
                   AND attempts < ?4
                 ORDER BY created_at, id LIMIT 1)
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
            "UPDATE tasks SET lease_expires_at = ?3, progress = MAX(progress, ?4)
             WHERE id = ?1 AND lease_owner = ?2 AND state = 'processing'",
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
                "state = 'succeed', result = ?3, progress = 100, status_msg = NULL,
                 lease_owner = NULL, lease_expires_at = NULL, updated_at = ?4, finished_at = ?4",
                result,
                now,
            ),
            TaskFinish::Failed { message } => (
                "state = 'failed', status_msg = ?3, last_error = ?3,
                 lease_owner = NULL, lease_expires_at = NULL, updated_at = ?4, finished_at = ?4",
                message,
                now,
            ),
            TaskFinish::Retry { error, retry_at } => (
                "last_error = ?3, lease_owner = NULL, lease_expires_at = ?4, progress = 0",
                error,
                *retry_at,
            ),
            TaskFinish::Release { note } => (
                "last_error = ?3, lease_owner = NULL, lease_expires_at = ?4, progress = 0,
                 attempts = CASE WHEN attempts > 0 THEN attempts - 1 ELSE 0 END",
                note,
                now,
            ),
        };
        let sql = format!(
            "UPDATE tasks SET {set} WHERE id = ?1 AND lease_owner = ?2 AND state = 'processing' RETURNING {TASK_COLUMNS}"
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
                 status_msg = ?3 || ' ' || attempts || ' attempts: ' ||
                     COALESCE(last_error, 'the worker stopped before finishing (crash or restart)'),
                 lease_owner = NULL, lease_expires_at = NULL, updated_at = ?1, finished_at = ?1
             WHERE state = 'processing' AND lease_expires_at <= ?1 AND attempts >= ?2
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
        let rows = sqlx::query(&format!(
            "SELECT {TASK_COLUMNS} FROM tasks WHERE created_at < ?1 AND state IN ('succeed', 'failed')
             ORDER BY created_at LIMIT ?2"
        ))
        .bind(before)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(task_from_row).collect()
    }

    async fn delete_task(&self, id: &str) -> Result<()> {
        sqlx::query("DELETE FROM tasks WHERE id = ?1")
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn insert_audio(&self, a: &AudioRecord) -> Result<()> {
        sqlx::query(&format!(
            "INSERT INTO audio ({AUDIO_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"
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
            "SELECT {AUDIO_COLUMNS} FROM audio WHERE account_id = ?1 AND id = ?2"
        ))
        .bind(account_id)
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(audio_from_row).transpose()
    }

    async fn audio_expired(&self, now: Millis, limit: u32) -> Result<Vec<AudioRecord>> {
        let rows = sqlx::query(&format!(
            "SELECT {AUDIO_COLUMNS} FROM audio WHERE expires_at <= ?1 ORDER BY expires_at LIMIT ?2"
        ))
        .bind(now)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(audio_from_row).collect()
    }

    async fn delete_audio(&self, id: &str) -> Result<()> {
        sqlx::query("DELETE FROM audio WHERE id = ?1")
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
            "UPDATE callbacks SET next_attempt_at = ?2
             WHERE id IN (
                 SELECT c.id FROM callbacks c
                 WHERE c.state = 'pending' AND c.next_attempt_at <= ?1
                   AND c.id = (SELECT MIN(p.id) FROM callbacks p WHERE p.task_id = c.task_id AND p.state = 'pending')
                 ORDER BY c.id LIMIT ?3)
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
            "UPDATE callbacks SET state = 'delivered', attempts = attempts + 1, delivered_at = ?2, last_error = NULL
             WHERE id = ?1",
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
        sqlx::query("UPDATE callbacks SET attempts = ?2, next_attempt_at = ?3, last_error = ?4 WHERE id = ?1")
            .bind(id)
            .bind(i64::from(attempts))
            .bind(next_attempt_at)
            .bind(error)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn callback_abandoned(&self, id: i64, attempts: u32, error: &str) -> Result<()> {
        sqlx::query("UPDATE callbacks SET state = 'abandoned', attempts = ?2, last_error = ?3 WHERE id = ?1")
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

    // ---- useapi.net: linked accounts, avatars, task links ----

    async fn put_linked_account(&self, l: &LinkedAccountRecord) -> Result<()> {
        sqlx::query(
            "INSERT INTO linked_accounts (account_id, email, password_hash, max_jobs, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5)
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
             WHERE account_id = ?1 ORDER BY created_at, email",
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
        let r = sqlx::query("DELETE FROM linked_accounts WHERE account_id = ?1 AND email = ?2")
            .bind(account_id)
            .bind(email)
            .execute(&self.pool)
            .await?;
        Ok(r.rows_affected() > 0)
    }

    async fn insert_avatar(&self, a: &AvatarRecord) -> Result<()> {
        sqlx::query(&format!(
            "INSERT INTO avatars ({AVATAR_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)"
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
            "SELECT {AVATAR_COLUMNS} FROM avatars WHERE account_id = ?1 AND id = ?2"
        ))
        .bind(account_id)
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(avatar_from_row).transpose()
    }

    async fn avatars(&self, account_id: &str) -> Result<Vec<AvatarRecord>> {
        let rows = sqlx::query(&format!(
            "SELECT {AVATAR_COLUMNS} FROM avatars WHERE account_id = ?1 ORDER BY created_at DESC, id DESC"
        ))
        .bind(account_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(avatar_from_row).collect()
    }

    async fn delete_avatar(&self, account_id: &str, id: &str) -> Result<bool> {
        let r = sqlx::query("DELETE FROM avatars WHERE account_id = ?1 AND id = ?2")
            .bind(account_id)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(r.rows_affected() > 0)
    }

    async fn insert_asset(&self, a: &AssetRecord) -> Result<()> {
        sqlx::query(&format!(
            "INSERT INTO assets ({ASSET_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"
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
             WHERE account_id = ?1 AND email = ?2 AND (?3 IS NULL OR kind = ?3) AND (?4 IS NULL OR instr(file_name, ?4) > 0)
             ORDER BY created_at {order}, id {order} LIMIT ?5 OFFSET ?6"
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
                "DELETE FROM assets WHERE account_id = ?1 AND email = ?2 AND id = ?3
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
            "SELECT {ASSET_COLUMNS} FROM assets WHERE created_at < ?1 ORDER BY created_at, id LIMIT ?2"
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
             WHERE l.account_id = ?1 AND t.state IN ('submitted', 'processing')
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
            "UPDATE tasks SET state = 'failed', status_msg = ?2, last_error = ?2,
                 lease_owner = NULL, lease_expires_at = NULL, updated_at = ?3, finished_at = ?3
             WHERE id = ?1 AND state IN ('submitted', 'processing')
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
    use crate::contract::{account, task, NONE};

    async fn store() -> (tempfile::TempDir, SqliteStore) {
        let dir = tempfile::tempdir().unwrap();
        let s = SqliteStore::open(&dir.path().join("m.db")).await.unwrap();
        (dir, s)
    }

    #[tokio::test]
    async fn linked_accounts_avatars_task_links_and_cancel() {
        let (_d, s) = store().await;
        s.create_account(&account("a")).await.unwrap();
        s.create_account(&account("b")).await.unwrap();
        let linked = |email: &str, max_jobs| LinkedAccountRecord {
            account_id: "a".into(),
            email: email.into(),
            password_hash: "h".into(),
            max_jobs,
            created_at: 1,
        };
        s.put_linked_account(&linked("x@e.com", 1)).await.unwrap();
        s.put_linked_account(&linked("x@e.com", 3)).await.unwrap();
        s.put_linked_account(&linked("y@e.com", 2)).await.unwrap();
        let all = s.linked_accounts("a").await.unwrap();
        assert_eq!(all.len(), 2);
        assert_eq!(all[0].max_jobs, 3, "a second put updates");
        assert!(s.linked_accounts("b").await.unwrap().is_empty());
        assert!(s.delete_linked_account("a", "y@e.com").await.unwrap());
        assert!(!s.delete_linked_account("a", "y@e.com").await.unwrap());

        let avatar = AvatarRecord {
            id: "123456789012".into(),
            account_id: "a".into(),
            email: "x@e.com".into(),
            nickname: "n".into(),
            prompt: "p".into(),
            scene: "business".into(),
            image_key: "avatars/a/1.png".into(),
            tts_speaker: "oversea_male1".into(),
            tts_speed: 1.5,
            tts_emotion: "happy".into(),
            created_at: 5,
            updated_at: 5,
        };
        s.insert_avatar(&avatar).await.unwrap();
        assert_eq!(
            s.avatar("a", &avatar.id).await.unwrap(),
            Some(avatar.clone())
        );
        assert_eq!(s.avatar("b", &avatar.id).await.unwrap(), None);
        assert_eq!(s.avatars("a").await.unwrap(), vec![avatar.clone()]);
        assert!(!s.delete_avatar("b", &avatar.id).await.unwrap());
        assert!(s.delete_avatar("a", &avatar.id).await.unwrap());

        for id in ["t1", "t2"] {
            let linked = NewTask {
                link: Some(TaskLink {
                    email: "x@e.com".into(),
                    max_jobs: 5,
                }),
                ..task(id, "a", None, 10)
            };
            s.insert_task(&linked, 10, NONE).await.unwrap();
        }
        assert_eq!(
            s.active_tasks_by_email("a").await.unwrap(),
            vec![("x@e.com".to_string(), 2)]
        );
        let cancelled = s
            .cancel_task("t1", "stop", 20, NONE)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(cancelled.state, TaskState::Failed);
        assert_eq!(cancelled.status_msg.as_deref(), Some("stop"));
        assert_eq!(s.cancel_task("t1", "again", 21, NONE).await.unwrap(), None);
        assert_eq!(
            s.active_tasks_by_email("a").await.unwrap(),
            vec![("x@e.com".to_string(), 1)]
        );
        s.delete_task("t2").await.unwrap();
        assert!(s.active_tasks_by_email("a").await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn public_ids_are_unique_under_racing_callers() {
        let (_d, s) = store().await;
        crate::contract::public_ids_are_unique_under_racing_callers(&s).await;
    }

    #[tokio::test]
    async fn usage_sums_rendered_seconds_and_tts_calls() {
        let (_d, s) = store().await;
        crate::contract::usage_sums_rendered_seconds_and_tts_calls(&s).await;
    }

    #[tokio::test]
    async fn credentials_are_replaced_at_once() {
        let (_d, s) = store().await;
        crate::contract::credentials_are_replaced_at_once(&s).await;
    }

    #[tokio::test]
    async fn uploads_are_listed_filtered_paged_and_deleted_per_owner() {
        let (_d, s) = store().await;
        crate::contract::uploads_are_listed_filtered_paged_and_deleted_per_owner(&s).await;
    }

    #[tokio::test]
    async fn linked_email_limits_hold_under_racing_submissions() {
        let (_d, s) = store().await;
        crate::contract::linked_email_limits_hold_under_racing_submissions(&s).await;
    }

    #[tokio::test]
    async fn limits_duplicates_and_isolation() {
        let (_d, s) = store().await;
        crate::contract::limits_duplicates_and_isolation(&s).await;
    }

    #[tokio::test]
    async fn queue_claims_each_task_once_and_recovers_expired_leases() {
        let (_d, s) = store().await;
        crate::contract::queue_claims_each_task_once_and_recovers_expired_leases(&s).await;
    }

    #[tokio::test]
    async fn a_released_task_is_claimable_again_without_spending_an_attempt() {
        let (_d, s) = store().await;
        crate::contract::a_released_task_is_claimable_again_without_spending_an_attempt(&s).await;
    }

    #[tokio::test]
    async fn callbacks_go_out_in_order_per_task() {
        let (_d, s) = store().await;
        crate::contract::callbacks_go_out_in_order_per_task(&s).await;
    }

    #[tokio::test]
    async fn state_changes_and_their_callbacks_commit_together() {
        let (_d, s) = store().await;
        crate::contract::state_changes_and_their_callbacks_commit_together(&s).await;
    }
}
