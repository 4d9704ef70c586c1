//! The callback outbox.

use super::{insert_callback, SqlStore};
use crate::error::Result;
use crate::metadata::CallbackOutbox;
use crate::records::*;
use async_trait::async_trait;

const CALLBACK_COLUMNS: &str =
    "id, message_id, task_id, account_id, url, body, attempts, next_attempt_at, created_at";

#[async_trait]
impl CallbackOutbox for SqlStore {
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
}
