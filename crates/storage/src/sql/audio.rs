//! TTS audio records.

use super::{janitor_claim, oldest_first, SqlStore, JANITOR_CLAIM_MS};
use crate::error::Result;
use crate::metadata::AudioStore;
use crate::records::*;
use async_trait::async_trait;

const AUDIO_COLUMNS: &str =
    "id, account_id, blob_key, duration, timeline, text, voice_id, language, created_at, expires_at";

#[async_trait]
impl AudioStore for SqlStore {
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
        let mut audio: Vec<AudioRecord> =
            on_db!(self, |pool, sql| sqlx::query_as(&janitor_claim(
                sql,
                "audio",
                "janitor_until",
                "expires_at <= $1",
                "expires_at, id",
                AUDIO_COLUMNS,
            ))
            .bind(now)
            .bind(i64::from(limit))
            .bind(now + JANITOR_CLAIM_MS)
            .bind(now)
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
}
