//! What belongs to the server, not to an account: settings, the readiness
//! round trip, and the public id counter (a sequence on PostgreSQL, a row
//! on SQLite; see each dialect).

use super::SqlStore;
use crate::error::Result;
use crate::metadata::{PublicIds, ServerSettings};
use async_trait::async_trait;

#[async_trait]
impl ServerSettings for SqlStore {
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
}

#[async_trait]
impl PublicIds for SqlStore {
    async fn next_id(&self) -> Result<i64> {
        on_db!(self, |pool, sql| Ok(sqlx::query_scalar(sql.next_id)
            .fetch_one(pool)
            .await?))
    }
}
