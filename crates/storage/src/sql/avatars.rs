//! Saved avatars (useapi.net).

use super::SqlStore;
use crate::error::Result;
use crate::metadata::Avatars;
use crate::records::*;
use async_trait::async_trait;

const AVATAR_COLUMNS: &str =
    "id, account_id, email, nickname, prompt, scene, image_key, tts_speaker, \
     tts_speed, tts_emotion, created_at, updated_at";

#[async_trait]
impl Avatars for SqlStore {
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
}
