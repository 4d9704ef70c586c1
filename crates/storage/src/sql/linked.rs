//! Linked accounts (useapi.net).

use super::SqlStore;
use crate::error::Result;
use crate::metadata::LinkedAccounts;
use crate::records::*;
use async_trait::async_trait;

#[async_trait]
impl LinkedAccounts for SqlStore {
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
}
