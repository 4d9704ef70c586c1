//! Accounts, their keys, and what they used.

use super::{is_unique_violation, SqlStore};
use crate::error::{Result, StorageError};
use crate::metadata::Accounts;
use crate::records::*;
use async_trait::async_trait;

const ACCOUNT_COLUMNS: &str =
    "a.id, a.name, a.access_key, a.secret_key, a.webhook_secret, a.max_concurrent_tasks, a.created_at";
const INSERT_API_KEY: &str =
    "INSERT INTO api_keys (key_hash, account_id, created_at) VALUES ($1, $2, $3)";

#[async_trait]
impl Accounts for SqlStore {
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
}
