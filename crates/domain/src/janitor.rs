//! Deletes results, TTS audio and uploads once the retention has passed.

use crate::clock::now_ms;
use crate::error::Result;
use mouthpiece_storage::{BlobStore, MetadataStore};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

#[derive(Clone)]
pub struct Janitor {
    store: Arc<dyn MetadataStore>,
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
        store: Arc<dyn MetadataStore>,
        blobs: Arc<dyn BlobStore>,
        retention_ms: i64,
    ) -> Self {
        Self {
            store,
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
                .store
                .tasks_created_before(now - self.retention_ms, 100)
                .await?;
            if old.is_empty() {
                break;
            }
            for t in old {
                self.blobs.delete_prefix(&format!("tasks/{}", t.id)).await?;
                self.store.delete_task(&t.id).await?;
                swept.tasks += 1;
            }
        }
        loop {
            let old = self.store.audio_expired(now, 100).await?;
            if old.is_empty() {
                break;
            }
            for a in old {
                self.blobs.delete(&a.blob_key).await?;
                self.store.delete_audio(&a.id).await?;
                swept.audio += 1;
            }
        }
        loop {
            let old = self
                .store
                .assets_created_before(now - self.retention_ms, 100)
                .await?;
            if old.is_empty() {
                break;
            }
            for a in old {
                self.blobs.delete(&a.blob_key).await?;
                self.store
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
