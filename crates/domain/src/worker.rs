//! The render worker: claim a task from the durable queue (with a lease),
//! render it with the engine while a heartbeat extends the lease and saves
//! progress, store the outputs, record the outcome and queue callbacks.
//!
//! A worker that dies stops renewing its lease; when the lease expires the
//! task is claimable again and another worker (or the restarted server)
//! takes it over. Every claim counts an attempt: a task that cannot be
//! finished in `max_attempts` fails with the reason.

use crate::clock::now_ms;
use crate::services::Services;
use crate::task::{StoredResult, StoredVideo, TaskSpec};
use crate::{cover, ids, watermark};
use mouthpiece_engine::face::FaceAnalyzer;
use mouthpiece_engine::pipeline::{self, Progress, RenderRequest, Stage};
use mouthpiece_engine::EngineError;
use mouthpiece_storage::{StorageError, TaskFinish, TaskRecord};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// Renders at once in this process.
    pub concurrency: usize,
    /// How often an idle worker looks for work (it is also woken on submit).
    pub poll_interval: Duration,
    /// How long a claim lasts without a heartbeat.
    pub lease: Duration,
    pub max_attempts: u32,
    /// Wait before retrying a task whose render failed for a passing reason.
    pub retry_delay: Duration,
    /// Frame rate override (tests use a low one; `None` follows the mode).
    pub fps: Option<u32>,
    /// x264 preset override.
    pub preset: Option<String>,
    /// Scratch space for renders; the system temp folder when `None`.
    pub work_dir: Option<PathBuf>,
    /// How long a render in progress may go on after shutdown was asked.
    pub shutdown_grace: Duration,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        Self {
            concurrency: 1,
            poll_interval: Duration::from_secs(1),
            lease: Duration::from_secs(60),
            max_attempts: 3,
            retry_delay: Duration::from_secs(5),
            fps: None,
            preset: None,
            work_dir: None,
            shutdown_grace: Duration::ZERO,
        }
    }
}

/// Starts `config.worker.concurrency` workers. When `shutdown` is
/// cancelled they stop claiming; renders in progress go on until they end
/// or `abort` is cancelled, which gives their tasks back to the queue.
pub fn spawn_workers(
    services: &Services,
    analyzer: Arc<FaceAnalyzer>,
    shutdown: CancellationToken,
    abort: CancellationToken,
) -> Vec<JoinHandle<()>> {
    let n = services.config.worker.concurrency;
    let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "local".into());
    (0..n)
        .map(|i| {
            let w = Worker {
                id: format!("{host}-{}-{i}-{}", std::process::id(), ids::token(6)),
                services: services.clone(),
                analyzer: analyzer.clone(),
            };
            tokio::spawn(w.run(shutdown.clone(), abort.clone()))
        })
        .collect()
}

struct Worker {
    id: String,
    services: Services,
    analyzer: Arc<FaceAnalyzer>,
}

/// How a render attempt ended, when not in success.
enum Failure {
    /// The input cannot be rendered: fail now, with this message.
    Permanent(String),
    /// Might work next time (encoder crash, disk full...).
    Transient(String),
    /// Another worker owns the task now; leave it alone.
    LeaseLost,
    /// The server is stopping: give the task back.
    Shutdown,
}

/// Engine progress → 0–100.
struct TaskProgress {
    pct: AtomicU8,
}

impl TaskProgress {
    fn at_least(&self, p: u8) {
        self.pct.fetch_max(p.min(99), Ordering::Relaxed);
    }
}

impl Progress for TaskProgress {
    fn stage(&self, stage: Stage) {
        self.at_least(match stage {
            Stage::Decoding => 2,
            Stage::AnalysingFace => 5,
            Stage::Timeline => 8,
            Stage::Rendering => 10,
            Stage::Finalising => 95,
        });
    }

    fn frames(&self, done: u64, total: u64) {
        let p = 10 + (85 * done / total.max(1)).min(85);
        self.at_least(p as u8);
    }
}

fn classify(e: EngineError) -> Failure {
    match e {
        EngineError::NoFace => Failure::Permanent(
            "no face was found in the image: use a portrait with one clearly visible, front-facing face".into(),
        ),
        EngineError::InvalidImage(_)
        | EngineError::ImageTooSmall { .. }
        | EngineError::ImageAspectRatio { .. }
        | EngineError::InvalidAudio(_)
        | EngineError::InvalidVideo(_)
        | EngineError::AudioDuration { .. }
        | EngineError::InvalidTimeline(_) => Failure::Permanent(e.to_string()),
        EngineError::Cancelled => Failure::Shutdown,
        other => Failure::Transient(other.to_string()),
    }
}

fn ext_of(key: &str) -> &str {
    key.rsplit('.')
        .next()
        .filter(|e| e.len() <= 5)
        .unwrap_or("bin")
}

impl Worker {
    fn lease_ms(&self) -> i64 {
        i64::try_from(self.services.config.worker.lease.as_millis()).unwrap_or(60_000)
    }

    async fn run(self, shutdown: CancellationToken, abort: CancellationToken) {
        tracing::info!(worker = %self.id, "worker started");
        let cfg = self.services.config.worker.clone();
        loop {
            if shutdown.is_cancelled() {
                break;
            }
            self.fail_exhausted().await;
            let now = now_ms();
            // Only the first claim is a status change (submitted -> processing).
            let events = &self.services.events;
            let callback = |t: &TaskRecord| {
                if t.attempts == 1 {
                    events.callback_for(t)
                } else {
                    None
                }
            };
            match self
                .services
                .stores
                .tasks
                .claim_task(
                    &self.id,
                    now,
                    now + self.lease_ms(),
                    cfg.max_attempts,
                    &callback,
                )
                .await
            {
                Ok(Some(task)) => {
                    self.process(task, &abort).await;
                    continue;
                }
                Ok(None) => {}
                Err(e) => tracing::error!(worker = %self.id, error = %e, "claiming a task failed"),
            }
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = self.services.work_available.notified() => {}
                _ = tokio::time::sleep(cfg.poll_interval) => {}
            }
        }
        tracing::info!(worker = %self.id, "worker stopped");
    }

    /// Tasks whose last allowed attempt died with its worker fail here.
    async fn fail_exhausted(&self) {
        let max = self.services.config.worker.max_attempts;
        match self
            .services
            .stores
            .tasks
            .fail_exhausted(now_ms(), max, "rendering failed after", &|t| {
                self.services.events.callback_for(t)
            })
            .await
        {
            Ok(failed) => {
                for t in failed {
                    tracing::warn!(task_id = %t.id, attempts = t.attempts, "task failed: attempts exhausted");
                    metrics::counter!("mouthpiece_tasks_finished_total", "outcome" => "failed")
                        .increment(1);
                    self.services.events.queued(&t);
                }
            }
            Err(e) => tracing::error!(error = %e, "failing exhausted tasks failed"),
        }
    }

    async fn process(&self, task: TaskRecord, shutdown: &CancellationToken) {
        let span = tracing::info_span!("render", task_id = %task.id, attempt = task.attempts);
        self.process_in_span(task, shutdown).instrument(span).await
    }

    async fn process_in_span(&self, task: TaskRecord, shutdown: &CancellationToken) {
        let started = Instant::now();
        tracing::info!(worker = %self.id, "task claimed");
        if task.attempts == 1 {
            self.services.events.queued(&task);
        }
        let outcome = match serde_json::from_str::<TaskSpec>(&task.spec) {
            Ok(spec) => self.render(&task, &spec, shutdown).await,
            Err(e) => Err(Failure::Permanent(format!(
                "the task's stored parameters are unreadable: {e}"
            ))),
        };
        let max = self.services.config.worker.max_attempts;
        let now = now_ms();
        let finish = match outcome {
            Ok(result) => TaskFinish::Succeed {
                result: serde_json::to_string(&result).unwrap_or_default(),
            },
            Err(Failure::Permanent(message)) => TaskFinish::Failed { message },
            Err(Failure::Transient(error)) if task.attempts >= max => TaskFinish::Failed {
                message: format!("rendering failed after {} attempts: {error}", task.attempts),
            },
            Err(Failure::Transient(error)) => {
                let delay = i64::try_from(self.services.config.worker.retry_delay.as_millis())
                    .unwrap_or(5000);
                tracing::warn!(%error, "render failed; the task will be retried");
                TaskFinish::Retry {
                    error,
                    retry_at: now + delay,
                }
            }
            Err(Failure::Shutdown) => TaskFinish::Release {
                note: "the server stopped during the render; the task went back to the queue"
                    .into(),
            },
            Err(Failure::LeaseLost) => {
                tracing::warn!("lease lost; another worker owns the task now");
                return;
            }
        };
        let outcome_label = match &finish {
            TaskFinish::Succeed { .. } => "succeed",
            TaskFinish::Failed { .. } => "failed",
            TaskFinish::Retry { .. } => "retry",
            TaskFinish::Release { .. } => "released",
        };
        // A retry is no status change for the client: no callback.
        let events = &self.services.events;
        let retry = matches!(
            finish,
            TaskFinish::Retry { .. } | TaskFinish::Release { .. }
        );
        let callback = |t: &TaskRecord| {
            if retry {
                None
            } else {
                events.callback_for(t)
            }
        };
        match self
            .services
            .stores
            .tasks
            .finish_task(&task.id, &self.id, &finish, now, &callback)
            .await
        {
            Ok(Some(updated)) => {
                let secs = started.elapsed().as_secs_f64();
                metrics::histogram!("mouthpiece_task_duration_seconds", "outcome" => outcome_label)
                    .record(secs);
                if !retry {
                    metrics::counter!("mouthpiece_tasks_finished_total", "outcome" => outcome_label).increment(1);
                    self.services.events.queued(&updated);
                }
                match &finish {
                    TaskFinish::Failed { message } => tracing::warn!(%message, "task failed"),
                    _ => tracing::info!(seconds = secs, outcome = outcome_label, "task done"),
                }
            }
            Ok(None) => tracing::warn!("the lease was lost before the outcome could be saved"),
            Err(e) => {
                tracing::error!(error = %e, "saving the task outcome failed; the lease will expire and the task be retried")
            }
        }
    }

    async fn render(
        &self,
        task: &TaskRecord,
        spec: &TaskSpec,
        shutdown: &CancellationToken,
    ) -> Result<StoredResult, Failure> {
        let cfg = &self.services.config.worker;
        let blobs = &self.services.blobs;
        let mut builder = tempfile::Builder::new();
        builder.prefix("mouthpiece-task-");
        let work = match &cfg.work_dir {
            Some(dir) => {
                tokio::fs::create_dir_all(dir)
                    .await
                    .map_err(|e| Failure::Transient(e.to_string()))?;
                builder.tempdir_in(dir)
            }
            None => builder.tempdir(),
        }
        .map_err(|e| Failure::Transient(format!("no scratch space: {e}")))?;
        let image = work
            .path()
            .join(format!("image.{}", ext_of(&spec.image_key)));
        let audio = work
            .path()
            .join(format!("audio.{}", ext_of(&spec.audio_key)));
        for (key, path) in [(&spec.image_key, &image), (&spec.audio_key, &audio)] {
            blobs.download(key, path).await.map_err(|e| match e {
                StorageError::NotFound(_) => {
                    Failure::Permanent("the task's input files are missing".into())
                }
                other => Failure::Transient(other.to_string()),
            })?;
        }
        let video = work.path().join("video.mp4");
        let marked = spec
            .watermark
            .then(|| work.path().join("video-watermark.mp4"));
        let cover_path = work.path().join("cover.jpg");
        let mut req = RenderRequest::new(&image, &audio, &video);
        req.mode = spec.mode;
        req.prompt = spec.prompt.clone();
        req.avatar_prompt = spec.avatar_prompt.clone();
        req.emotion = spec
            .emotion
            .as_deref()
            .and_then(mouthpiece_engine::animate::Emotion::from_key)
            .unwrap_or_default();
        req.fps = cfg.fps;
        req.timeline = spec.timeline.clone();
        req.seed = task
            .id
            .bytes()
            .fold(0u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b)));
        if let Some(p) = &cfg.preset {
            req.encoder.preset = Some(p.clone());
        }

        let progress = Arc::new(TaskProgress {
            pct: AtomicU8::new(1),
        });
        let cancel = Arc::new(AtomicBool::new(false));
        let lost = Arc::new(AtomicBool::new(false));
        let heartbeat = self.spawn_heartbeat(
            &task.id,
            progress.clone(),
            cancel.clone(),
            lost.clone(),
            shutdown.clone(),
        );

        let analyzer = self.analyzer.clone();
        let (p, c, marked_out) = (progress.clone(), cancel.clone(), marked.clone());
        let cover_out = cover_path.clone();
        let rendered = tokio::task::spawn_blocking(move || {
            let report = pipeline::render(&req, &analyzer, &*p, &c).map_err(classify)?;
            if let Some(out) = &marked_out {
                watermark::apply(&report.output, out).map_err(Failure::Transient)?;
            }
            // A missing cover is no reason to fail a good video.
            let covered = cover::extract(
                &report.output,
                &cover_out,
                cover::frame_time(report.duration),
            )
            .map_err(|e| tracing::warn!(error = %e, "the video has no cover image"))
            .is_ok();
            Ok::<_, Failure>((report, covered))
        })
        .await;
        let (report, covered) = match rendered {
            Ok(Ok(r)) => r,
            Ok(Err(f)) => {
                heartbeat.abort();
                return Err(if lost.load(Ordering::Relaxed) {
                    Failure::LeaseLost
                } else {
                    f
                });
            }
            Err(join) => {
                heartbeat.abort();
                return Err(Failure::Transient(format!(
                    "the render thread failed: {join}"
                )));
            }
        };
        progress.at_least(97);
        let upload = async {
            // One folder per attempt: a worker that lost its lease but still
            // uploads never overwrites the output of the one that took over.
            let key = format!("tasks/{}/a{}/video.mp4", task.id, task.attempts);
            blobs.put_file(&key, &video).await?;
            let watermark_key = match &marked {
                Some(path) => {
                    let k = format!("tasks/{}/a{}/video-watermark.mp4", task.id, task.attempts);
                    blobs.put_file(&k, path).await?;
                    Some(k)
                }
                None => None,
            };
            let cover_key = if covered {
                let k = format!("tasks/{}/a{}/cover.jpg", task.id, task.attempts);
                blobs.put_file(&k, &cover_path).await?;
                Some(k)
            } else {
                None
            };
            Ok::<_, StorageError>((key, watermark_key, cover_key))
        };
        let uploaded = upload.await;
        heartbeat.abort();
        if lost.load(Ordering::Relaxed) {
            return Err(Failure::LeaseLost);
        }
        let (key, watermark_key, cover_key) =
            uploaded.map_err(|e| Failure::Transient(format!("storing the video failed: {e}")))?;
        metrics::histogram!("mouthpiece_render_realtime_factor").record(report.realtime_factor);
        tracing::info!(
            duration = report.duration,
            frames = report.frames,
            realtime_factor = report.realtime_factor,
            "rendered"
        );
        Ok(StoredResult {
            videos: vec![StoredVideo {
                id: ids::uuid(),
                key,
                watermark_key,
                cover_key,
                duration: report.duration,
                width: report.width as u32,
                height: report.height as u32,
            }],
        })
    }

    /// Renews the lease and saves progress until aborted; cancels the render
    /// when the lease is lost or the server stops.
    fn spawn_heartbeat(
        &self,
        task_id: &str,
        progress: Arc<TaskProgress>,
        cancel: Arc<AtomicBool>,
        lost: Arc<AtomicBool>,
        shutdown: CancellationToken,
    ) -> JoinHandle<()> {
        let store = self.services.stores.tasks.clone();
        let (task_id, worker) = (task_id.to_string(), self.id.clone());
        let lease_ms = self.lease_ms();
        let every = (self.services.config.worker.lease / 4)
            .clamp(Duration::from_millis(200), Duration::from_secs(2));
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = shutdown.cancelled() => {
                        cancel.store(true, Ordering::Relaxed);
                        return;
                    }
                    _ = tokio::time::sleep(every) => {}
                }
                let now = now_ms();
                let pct = progress.pct.load(Ordering::Relaxed);
                match store
                    .renew_lease(&task_id, &worker, now + lease_ms, pct, now)
                    .await
                {
                    Ok(true) => {}
                    Ok(false) => {
                        lost.store(true, Ordering::Relaxed);
                        cancel.store(true, Ordering::Relaxed);
                        return;
                    }
                    Err(e) => tracing::warn!(error = %e, task_id = %task_id, "heartbeat failed"),
                }
            }
        })
    }
}
