//! Deletes results, TTS audio and uploads once the retention has passed.

use crate::clock::now_ms;
use crate::error::Result;
use mouthpiece_storage::{Assets, AudioStore, BlobStore, TaskQueue};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

#[derive(Clone)]
pub struct Janitor {
    tasks: Arc<dyn TaskQueue>,
    audio: Arc<dyn AudioStore>,
    assets: Arc<dyn Assets>,
    blobs: Arc<dyn BlobStore>,
    retention_ms: i64,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Swept {
    pub tasks: usize,
    pub audio: usize,
    pub uploads: usize,
}

impl Janitor {
    pub fn new(
        tasks: Arc<dyn TaskQueue>,
        audio: Arc<dyn AudioStore>,
        assets: Arc<dyn Assets>,
        blobs: Arc<dyn BlobStore>,
        retention_ms: i64,
    ) -> Self {
        Self {
            tasks,
            audio,
            assets,
            blobs,
            retention_ms,
        }
    }

    /// One sweep as of `now` (ms): finished tasks older than the retention
    /// lose their files and their record; expired TTS audio and uploads (whose
    /// signed URLs have expired by then) go too.
    pub async fn sweep(&self, now: i64) -> Result<Swept> {
        let mut swept = Swept::default();
        loop {
            let old = self
                .tasks
                .tasks_created_before(now - self.retention_ms, 100)
                .await?;
            if old.is_empty() {
                break;
            }
            for t in old {
                self.blobs.delete_prefix(&format!("tasks/{}", t.id)).await?;
                self.tasks.delete_task(&t.id).await?;
                swept.tasks += 1;
            }
        }
        loop {
            let old = self.audio.audio_expired(now, 100).await?;
            if old.is_empty() {
                break;
            }
            for a in old {
                self.blobs.delete(&a.blob_key).await?;
                self.audio.delete_audio(&a.id).await?;
                swept.audio += 1;
            }
        }
        loop {
            let old = self
                .assets
                .assets_created_before(now - self.retention_ms, 100)
                .await?;
            if old.is_empty() {
                break;
            }
            for a in old {
                self.blobs.delete(&a.blob_key).await?;
                self.assets
                    .delete_assets(&a.account_id, &a.email, std::slice::from_ref(&a.id))
                    .await?;
                swept.uploads += 1;
            }
        }
        if swept != Swept::default() {
            tracing::info!(
                tasks = swept.tasks,
                audio = swept.audio,
                uploads = swept.uploads,
                "janitor removed expired files"
            );
        }
        Ok(swept)
    }

    pub async fn run(self, every: Duration, shutdown: CancellationToken) {
        loop {
            if let Err(e) = self.sweep(now_ms()).await {
                tracing::error!(error = %e, "janitor sweep failed");
            }
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(every) => {}
            }
        }
    }
}
