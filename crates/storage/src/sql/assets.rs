//! Uploads (useapi.net).

use super::{janitor_claim, oldest_first, SqlStore, JANITOR_CLAIM_MS};
use crate::error::Result;
use crate::metadata::Assets;
use crate::records::*;
use async_trait::async_trait;

const ASSET_COLUMNS: &str =
    "id, account_id, email, file_name, kind, mime, blob_key, width, height, duration_ms, created_at";

#[async_trait]
impl Assets for SqlStore {
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
        let mut assets: Vec<AssetRecord> =
            on_db!(self, |pool, sql| sqlx::query_as(&janitor_claim(
                sql,
                "assets",
                "janitor_until",
                "created_at < $1",
                "created_at, id",
                ASSET_COLUMNS,
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
}
