//! Tasks and the durable queue.

use super::{
    count, insert_callback, is_unique_violation, janitor_claim, oldest_first, SqlStore,
    JANITOR_CLAIM_MS,
};
use crate::error::Result;
use crate::metadata::{CallbackFor, InsertOutcome, TaskQueue};
use crate::records::*;
use async_trait::async_trait;

const TASK_COLUMNS: &str = "id, account_id, external_task_id, kind, state, status_msg, progress, spec, result, \
     callback_url, attempts, last_error, lease_owner, lease_expires_at, created_at, updated_at, started_at, finished_at";
const UNFINISHED: &str = "state IN ('submitted', 'processing')";

#[async_trait]
impl TaskQueue for SqlStore {
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

    async fn tasks_created_before(&self, before: Millis, limit: u32) -> Result<Vec<TaskRecord>> {
        // Finished tasks keep no lease: the lease column holds the janitor's
        // claim, so each row goes to one node and returns if that node dies.
        let now = self.db_now_ms().await?;
        let mut tasks: Vec<TaskRecord> = on_db!(self, |pool, sql| sqlx::query_as(&janitor_claim(
            sql,
            "tasks",
            "lease_expires_at",
            "created_at < $1 AND state IN ('succeed', 'failed')",
            "created_at, id",
            TASK_COLUMNS,
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
}
