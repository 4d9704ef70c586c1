//! Tasks as the domain sees them.

use crate::files::UrlSigner;
use crate::input::{Mode, RequestOrigin};
use mouthpiece_engine::timeline::MouthTimeline;
use mouthpiece_storage::{TaskRecord, TaskState};
use serde::{Deserialize, Serialize};

pub const AVATAR_KIND: &str = "avatar";

/// What the worker needs to render, stored with the task.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TaskSpec {
    pub dialect: String,
    pub image_key: String,
    pub audio_key: String,
    pub audio_duration: f64,
    pub mode: Mode,
    #[serde(default)]
    pub prompt: Option<String>,
    #[serde(default)]
    pub watermark: bool,
    /// Exact mouth timing (TTS audio), used instead of analysing the audio.
    #[serde(default)]
    pub timeline: Option<MouthTimeline>,
    /// What is said and in which language, when known (TTS audio).
    #[serde(default)]
    pub text: Option<String>,
    #[serde(default)]
    pub language: Option<String>,
    #[serde(default)]
    pub origin: RequestOrigin,
    /// The speech's emotion key (`happy`, ...), for the renderer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub emotion: Option<String>,
    /// A saved avatar's prompt, under the request's prompt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub avatar_prompt: Option<String>,
}

/// One rendered video, as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StoredVideo {
    pub id: String,
    pub key: String,
    #[serde(default)]
    pub watermark_key: Option<String>,
    /// A JPEG frame of the video, same size (tasks before covers have none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cover_key: Option<String>,
    pub duration: f64,
    #[serde(default)]
    pub width: u32,
    #[serde(default)]
    pub height: u32,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct StoredResult {
    pub videos: Vec<StoredVideo>,
}

/// One rendered video with download URLs.
#[derive(Debug, Clone, PartialEq)]
pub struct VideoResult {
    pub id: String,
    pub url: String,
    pub watermark_url: Option<String>,
    /// A JPEG frame of the video, as large as the video.
    pub cover_url: Option<String>,
    /// Seconds.
    pub duration: f64,
    pub width: u32,
    pub height: u32,
}

/// A task as shown to its owner.
#[derive(Debug, Clone, PartialEq)]
pub struct Task {
    pub id: String,
    pub account_id: String,
    pub external_task_id: Option<String>,
    pub status: TaskState,
    pub status_msg: Option<String>,
    /// 0–100.
    pub progress: u8,
    pub mode: Option<Mode>,
    pub watermark: bool,
    pub videos: Vec<VideoResult>,
    pub dialect: String,
    pub callback_url: Option<String>,
    pub origin: RequestOrigin,
    /// Seconds of speech, hence of video.
    pub audio_duration: f64,
    /// The task's stored inputs (portrait, speech), as signed URLs.
    pub image_url: Option<String>,
    pub audio_url: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
}

impl Task {
    /// Builds the view, signing result URLs valid until the retention ends.
    pub fn from_record(r: &TaskRecord, signer: &UrlSigner, retention_ms: i64) -> Self {
        let spec: Option<TaskSpec> = serde_json::from_str(&r.spec).ok();
        let expires = (r.created_at.saturating_add(retention_ms)) / 1000;
        let videos = r
            .result
            .as_deref()
            .and_then(|s| serde_json::from_str::<StoredResult>(s).ok())
            .unwrap_or_default()
            .videos
            .into_iter()
            .map(|v| VideoResult {
                url: signer.url(&v.key, expires),
                watermark_url: v.watermark_key.as_deref().map(|k| signer.url(k, expires)),
                cover_url: v.cover_key.as_deref().map(|k| signer.url(k, expires)),
                id: v.id,
                duration: v.duration,
                width: v.width,
                height: v.height,
            })
            .collect();
        let status = r.state;
        Self {
            id: r.id.clone(),
            account_id: r.account_id.clone(),
            external_task_id: r.external_task_id.clone(),
            status,
            status_msg: r.status_msg.clone(),
            progress: match status {
                TaskState::Succeed => 100,
                TaskState::Submitted => 0,
                _ => r.progress,
            },
            mode: spec.as_ref().map(|s| s.mode),
            watermark: spec.as_ref().is_some_and(|s| s.watermark),
            videos,
            audio_duration: spec.as_ref().map(|s| s.audio_duration).unwrap_or_default(),
            image_url: spec.as_ref().map(|s| signer.url(&s.image_key, expires)),
            audio_url: spec.as_ref().map(|s| signer.url(&s.audio_key, expires)),
            origin: spec.as_ref().map(|s| s.origin.clone()).unwrap_or_default(),
            dialect: spec.map(|s| s.dialect).unwrap_or_default(),
            callback_url: r.callback_url.clone(),
            created_at: r.created_at,
            updated_at: r.updated_at,
            started_at: r.started_at,
            finished_at: r.finished_at,
        }
    }
}

/// Formats the callback body for tasks of one dialect (Kling's is flat).
pub trait CallbackFormat: Send + Sync + 'static {
    fn callback_body(&self, task: &Task) -> String;

    /// Whether this status change is reported; Kling reports every one.
    fn reports(&self, _status: TaskState) -> bool {
        true
    }

    /// Headers of one delivery attempt; by default Standard Webhooks
    /// (signed when the account has a `whsec_` secret).
    fn headers(&self, d: &Delivery<'_>) -> Vec<(&'static str, String)> {
        let mut headers = vec![
            ("webhook-id", d.message_id.to_string()),
            ("webhook-timestamp", d.timestamp.to_string()),
        ];
        if let Some(sig) = d
            .secret
            .and_then(|s| crate::callbacks::sign(s, d.message_id, d.timestamp, d.body))
        {
            headers.push(("webhook-signature", sig));
        }
        headers
    }
}

/// What a delivery attempt is made of, for signing.
pub struct Delivery<'a> {
    pub task_id: &'a str,
    pub message_id: &'a str,
    /// Unix seconds.
    pub timestamp: i64,
    pub body: &'a str,
    /// The account's webhook secret, when it has one.
    pub secret: Option<&'a str>,
}
