//! Wiring and the task service: submit, get (by id or external id), list.

use crate::account::{Account, AccountService};
use crate::avatars::AvatarService;
use crate::callbacks::{CallbackConfig, TaskEvents};
use crate::error::{DomainError, Result};
use crate::files::UrlSigner;
use crate::input::{
    AudioInput, AvatarRequest, MediaSource, Page, MAX_IMAGE_BYTES, MAX_SOUND_BYTES,
};
use crate::linked::LinkedAccountService;
use crate::media::{self, AudioAsset};
use crate::net::{HttpLimits, NetworkPolicy, Outbound};
use crate::task::{CallbackFormat, Task, TaskSpec, AVATAR_KIND};
use crate::tts::TtsService;
use crate::worker::WorkerConfig;
use crate::{clock::now_ms, ids};
use bytes::Bytes;
use mouthpiece_engine::timeline::MouthTimeline;
use mouthpiece_storage::{
    Accounts, AudioStore, BlobStore, InsertOutcome, NewTask, PublicIds, Stores, TaskLink, TaskQueue,
};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

#[derive(Debug, Clone)]
pub struct DomainConfig {
    /// Base of the download URLs handed out (`http://127.0.0.1:8080`).
    pub public_url: String,
    /// How long results and TTS audio are kept.
    pub retention: Duration,
    /// Unfinished tasks an account may have when it sets no limit itself.
    pub default_concurrency: u32,
    /// Seconds of clock skew tolerated on JWT `nbf`/`exp`.
    pub clock_skew_s: i64,
    /// Lockout after repeated failed authentication.
    pub auth_throttle: crate::throttle::ThrottleConfig,
    /// Which addresses input URLs and callbacks may reach.
    pub network: NetworkPolicy,
    pub http: HttpLimits,
    pub worker: WorkerConfig,
    pub callbacks: CallbackConfig,
    pub janitor_interval: Duration,
    /// Unfinished tasks the whole service holds before it refuses new ones
    /// (0: no limit).
    pub max_queued_tasks: u64,
}

impl Default for DomainConfig {
    fn default() -> Self {
        Self {
            public_url: "http://127.0.0.1:8080".into(),
            retention: Duration::from_secs(30 * 24 * 3600),
            default_concurrency: 5,
            clock_skew_s: 10,
            auth_throttle: crate::throttle::ThrottleConfig::default(),
            network: NetworkPolicy::default(),
            http: HttpLimits::default(),
            worker: WorkerConfig::default(),
            callbacks: CallbackConfig::default(),
            janitor_interval: Duration::from_secs(3600),
            max_queued_tasks: 0,
        }
    }
}

impl DomainConfig {
    pub fn retention_ms(&self) -> i64 {
        i64::try_from(self.retention.as_millis()).unwrap_or(i64::MAX)
    }
}

/// Everything the API layer calls.
#[derive(Clone)]
pub struct Services {
    pub config: Arc<DomainConfig>,
    pub stores: Stores,
    pub blobs: Arc<dyn BlobStore>,
    pub signer: UrlSigner,
    pub accounts: AccountService,
    pub tasks: TaskService,
    pub tts: TtsService,
    pub avatars: AvatarService,
    pub linked: LinkedAccountService,
    pub events: TaskEvents,
    /// Wakes idle workers when a task is submitted.
    pub work_available: Arc<Notify>,
}

impl Services {
    /// `formats` maps a dialect name to its callback body format.
    pub async fn new(
        config: DomainConfig,
        stores: Stores,
        blobs: Arc<dyn BlobStore>,
        formats: Vec<(&'static str, Arc<dyn CallbackFormat>)>,
    ) -> Result<Self> {
        let config = Arc::new(config);
        let secret = stores
            .settings
            .setting_or_init("file_url_secret", &hex::encode(ids::random_bytes(32)))
            .await?;
        let signer = UrlSigner::new(&config.public_url, secret.as_bytes());
        let fetcher = Outbound::new(config.network.clone(), &config.http, true)
            .map_err(DomainError::Internal)?;
        let formats: HashMap<&'static str, Arc<dyn CallbackFormat>> = formats.into_iter().collect();
        let events = TaskEvents::new(signer.clone(), config.retention_ms(), Arc::new(formats));
        let work_available = Arc::new(Notify::new());
        Ok(Self {
            accounts: AccountService::with_throttle(
                stores.accounts.clone(),
                config.clock_skew_s,
                config.auth_throttle.clone(),
            ),
            tts: TtsService::new(
                stores.audio.clone(),
                stores.ids.clone(),
                blobs.clone(),
                signer.clone(),
                config.retention_ms(),
            ),
            avatars: AvatarService::new(
                stores.avatars.clone(),
                stores.assets.clone(),
                stores.ids.clone(),
                blobs.clone(),
                signer.clone(),
                config.retention_ms(),
            ),
            linked: LinkedAccountService::new(stores.linked.clone(), stores.tasks.clone()),
            tasks: TaskService {
                config: config.clone(),
                tasks: stores.tasks.clone(),
                audio: stores.audio.clone(),
                ids: stores.ids.clone(),
                accounts: stores.accounts.clone(),
                blobs: blobs.clone(),
                signer: signer.clone(),
                fetcher,
                events: events.clone(),
                work_available: work_available.clone(),
            },
            config,
            stores,
            blobs,
            signer,
            events,
            work_available,
        })
    }
}

#[derive(Clone)]
pub struct TaskService {
    config: Arc<DomainConfig>,
    tasks: Arc<dyn TaskQueue>,
    /// TTS audio given as `audio_id`.
    audio: Arc<dyn AudioStore>,
    ids: Arc<dyn PublicIds>,
    /// For the account's usage.
    accounts: Arc<dyn Accounts>,
    blobs: Arc<dyn BlobStore>,
    signer: UrlSigner,
    fetcher: Outbound,
    events: TaskEvents,
    work_available: Arc<Notify>,
}

/// The speech resolved to bytes, with what is known about it.
struct Speech {
    asset: AudioAsset,
    timeline: Option<MouthTimeline>,
    text: Option<String>,
    language: Option<String>,
}

impl TaskService {
    fn limit(&self, account: &Account) -> u32 {
        account
            .max_concurrent_tasks
            .unwrap_or(self.config.default_concurrency)
            .max(1)
    }

    pub fn view(&self, r: &mouthpiece_storage::TaskRecord) -> Task {
        Task::from_record(r, &self.signer, self.config.retention_ms())
    }

    /// The bytes of an input: inline, one of this server's own signed file
    /// URLs (read from the blob store, no network), or fetched.
    pub async fn bytes_of(&self, field: &str, source: &MediaSource, max: u64) -> Result<Bytes> {
        let url = match source {
            MediaSource::Inline(b) => return Ok(b.clone()),
            MediaSource::Url(url) => url,
        };
        let Some(key) = self.signer.key_of(url.as_str(), now_ms() / 1000) else {
            return self.fetcher.fetch(url, max).await.map_err(|e| {
                DomainError::invalid(field, format!("could not be fetched from {url}: {}", e.0))
            });
        };
        let b = self.blobs.get(&key).await.map_err(|e| {
            DomainError::invalid(field, format!("could not be read from {url}: {e}"))
        })?;
        if b.len() as u64 > max {
            return Err(DomainError::invalid(
                field,
                format!("is larger than {} MB", max / (1024 * 1024)),
            ));
        }
        Ok(b)
    }

    async fn speech(&self, account: &Account, audio: &AudioInput) -> Result<Speech> {
        match audio {
            AudioInput::Sound(src) => {
                let bytes = self.bytes_of("sound_file", src, MAX_SOUND_BYTES).await?;
                Ok(Speech {
                    asset: media::check_audio("sound_file", bytes).await?,
                    timeline: None,
                    text: None,
                    language: None,
                })
            }
            AudioInput::AudioId(id) => {
                let not_found = || {
                    DomainError::invalid(
                        "audio_id",
                        format!(
                            "no audio {:?} from POST /v1/audio/tts in the last 30 days",
                            id.0
                        ),
                    )
                };
                let rec = self
                    .audio
                    .audio_for_account(&account.id, &id.0)
                    .await?
                    .filter(|a| a.expires_at > now_ms())
                    .ok_or_else(not_found)?;
                media::check_duration("audio_id", rec.duration)?;
                let bytes = match self.blobs.get(&rec.blob_key).await {
                    Ok(b) => b,
                    Err(mouthpiece_storage::StorageError::NotFound(_)) => return Err(not_found()),
                    Err(e) => return Err(e.into()),
                };
                Ok(Speech {
                    asset: AudioAsset {
                        bytes,
                        ext: "wav",
                        duration: rec.duration,
                    },
                    timeline: rec
                        .timeline
                        .as_deref()
                        .and_then(|t| serde_json::from_str(t).ok()),
                    text: Some(rec.text),
                    language: Some(rec.language),
                })
            }
        }
    }

    /// Refuses early when the service's queue is full, or the account, or
    /// the linked account the task would run under, has no free slot. The insert checks the account's
    /// limit again atomically; the per-email cap is soft under a race.
    pub async fn ensure_capacity(
        &self,
        account: &Account,
        linked: Option<&crate::input::LinkedSlot>,
    ) -> Result<()> {
        let max = self.config.max_queued_tasks;
        if max > 0 {
            let q = self.tasks.queue_stats().await?;
            let depth = q.submitted + q.processing;
            if depth >= max {
                metrics::counter!("mouthpiece_requests_shed_total", "reason" => "queue_full")
                    .increment(1);
                return Err(DomainError::QueueFull {
                    depth,
                    retry_after_s: 10,
                });
            }
        }
        let limit = self.limit(account);
        if self.tasks.active_tasks(&account.id).await? >= limit {
            return Err(DomainError::ConcurrencyLimit { limit });
        }
        if let Some(slot) = linked {
            let busy = self
                .tasks
                .active_tasks_by_email(&account.id)
                .await?
                .into_iter()
                .find(|(e, _)| *e == slot.email)
                .map_or(0, |(_, n)| n);
            if busy >= slot.max_jobs {
                return Err(DomainError::ConcurrencyLimit {
                    limit: slot.max_jobs,
                });
            }
        }
        Ok(())
    }

    /// Accepts a task: inputs fetched and checked, files stored, the task
    /// queued durably. Refuses when the account is at its concurrency limit.
    pub async fn submit(&self, account: &Account, req: AvatarRequest) -> Result<Task> {
        let limit = self.limit(account);
        self.ensure_capacity(account, req.linked.as_ref()).await?;
        if let Some(ext) = &req.external_task_id {
            if self
                .tasks
                .task_for_account(&account.id, ext.as_str())
                .await?
                .is_some_and(|t| t.external_task_id.as_deref() == Some(ext.as_str()))
            {
                return Err(duplicate(ext.as_str()));
            }
        }
        if let Some(cb) = &req.callback_url {
            crate::net::check_url_resolved(cb.url(), &self.config.network)
                .await
                .map_err(|why| DomainError::invalid("callback_url", why))?;
        }
        let image_bytes = self
            .bytes_of("image", &req.image.0, MAX_IMAGE_BYTES)
            .await?;
        let (image, speech) = tokio::join!(
            media::check_image(image_bytes),
            self.speech(account, &req.audio)
        );
        let (image, speech) = (image?, speech?);

        let id = ids::public_id(&*self.ids).await?;
        let prefix = format!("tasks/{id}");
        let image_key = format!("{prefix}/input/image.{}", image.ext);
        let audio_key = format!("{prefix}/input/audio.{}", speech.asset.ext);
        let spec = TaskSpec {
            dialect: req.dialect.to_string(),
            image_key: image_key.clone(),
            audio_key: audio_key.clone(),
            audio_duration: speech.asset.duration,
            mode: req.mode,
            prompt: req.prompt.as_ref().map(|p| p.as_str().to_string()),
            watermark: req.watermark,
            timeline: speech.timeline,
            text: speech.text,
            language: speech.language,
            origin: req.origin.clone(),
            emotion: req.performance.emotion.map(|e| e.key().to_string()),
            avatar_prompt: req.performance.avatar_prompt.clone(),
        };
        let stored = async {
            self.blobs.put(&image_key, image.bytes).await?;
            self.blobs.put(&audio_key, speech.asset.bytes).await?;
            Ok::<_, DomainError>(())
        };
        let cleanup = || async {
            if let Err(e) = self.blobs.delete_prefix(&prefix).await {
                tracing::warn!(error = %e, task_id = %id, "could not remove the inputs of a refused task");
            }
        };
        if let Err(e) = stored.await {
            cleanup().await;
            return Err(e);
        }
        let new = NewTask {
            id: id.clone(),
            account_id: account.id.clone(),
            external_task_id: req
                .external_task_id
                .as_ref()
                .map(|e| e.as_str().to_string()),
            kind: AVATAR_KIND.into(),
            spec: serde_json::to_string(&spec).map_err(DomainError::internal)?,
            callback_url: req.callback_url.as_ref().map(|c| c.url().to_string()),
            created_at: now_ms(),
            link: req.linked.as_ref().map(|slot| TaskLink {
                email: slot.email.clone(),
                max_jobs: slot.max_jobs,
            }),
        };
        let events = self.events.clone();
        let callback = move |t: &mouthpiece_storage::TaskRecord| events.callback_for(t);
        let outcome = match self.tasks.insert_task(&new, limit, &callback).await {
            Ok(o) => o,
            Err(e) => {
                cleanup().await;
                return Err(e.into());
            }
        };
        match outcome {
            InsertOutcome::Inserted => {}
            InsertOutcome::LimitReached => {
                cleanup().await;
                return Err(DomainError::ConcurrencyLimit { limit });
            }
            InsertOutcome::DuplicateExternalId => {
                cleanup().await;
                return Err(duplicate(
                    new.external_task_id.as_deref().unwrap_or_default(),
                ));
            }
            InsertOutcome::LinkLimitReached => {
                cleanup().await;
                return Err(DomainError::ConcurrencyLimit {
                    limit: new.link.as_ref().map_or(0, |l| l.max_jobs),
                });
            }
        }
        metrics::counter!("mouthpiece_tasks_submitted_total").increment(1);
        let record = self
            .tasks
            .task(&id)
            .await?
            .ok_or_else(|| DomainError::Internal("the task vanished after insert".into()))?;
        self.events.queued(&record);
        self.work_available.notify_one();
        tracing::info!(task_id = %id, account_id = %account.id, "task submitted");
        Ok(self.view(&record))
    }

    /// By task id or external id, only within the account.
    pub async fn get(&self, account: &Account, id: &str) -> Result<Task> {
        let id = id.trim();
        if id.is_empty() {
            return Err(DomainError::NotFound {
                what: "task".into(),
            });
        }
        self.tasks
            .task_for_account(&account.id, id)
            .await?
            .filter(|t| t.kind == AVATAR_KIND)
            .map(|r| self.view(&r))
            .ok_or_else(|| DomainError::NotFound {
                what: format!("task {id:?}"),
            })
    }

    /// Stops an unfinished task: it fails with `message` and its slot is
    /// freed; a worker rendering it loses its lease. Final tasks are kept.
    pub async fn cancel(&self, account: &Account, id: &str, message: &str) -> Result<Task> {
        let task = self.get(account, id).await?;
        let events = self.events.clone();
        let callback = move |t: &mouthpiece_storage::TaskRecord| events.callback_for(t);
        match self
            .tasks
            .cancel_task(&task.id, message, now_ms(), &callback)
            .await?
        {
            Some(r) => {
                self.events.queued(&r);
                Ok(self.view(&r))
            }
            None => self.get(account, &task.id).await,
        }
    }

    /// Cancels the task if it is still running, then removes it and its files.
    pub async fn delete(&self, account: &Account, id: &str) -> Result<Task> {
        let task = self.cancel(account, id, "deleted by its owner").await?;
        self.tasks.delete_task(&task.id).await?;
        if let Err(e) = self
            .blobs
            .delete_prefix(&format!("tasks/{}", task.id))
            .await
        {
            tracing::warn!(error = %e, task_id = %task.id, "could not remove a deleted task's files");
        }
        Ok(task)
    }

    /// What the account used in a window: seconds of video rendered and
    /// speech syntheses.
    pub async fn usage(
        &self,
        account: &Account,
        window: crate::input::TimeWindow,
    ) -> Result<mouthpiece_storage::Usage> {
        Ok(self
            .accounts
            .usage(&account.id, window.start_ms, window.end_ms)
            .await?)
    }

    /// Newest first.
    pub async fn list(&self, account: &Account, page: Page) -> Result<Vec<Task>> {
        Ok(self
            .tasks
            .list_tasks(&account.id, AVATAR_KIND, page.offset(), page.size)
            .await?
            .iter()
            .map(|r| self.view(r))
            .collect())
    }
}

fn duplicate(ext: &str) -> DomainError {
    DomainError::invalid(
        "external_task_id",
        format!("{ext:?} is already used by another task of this account"),
    )
}
