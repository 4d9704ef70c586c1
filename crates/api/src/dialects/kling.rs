//! Kling's legacy (`/v1`) avatar API: create, query by task id or external
//! id, list; built-in TTS producing `audio_id`; the flat callback shape.
//! Envelope `{code, message, request_id, data}`; errors use Kling's codes
//! and HTTP statuses.

use crate::auth::authenticate;
use crate::request_id::RequestId;
use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use mouthpiece_domain::input::{
    parse_mode, AudioInput, AvatarRequest, CallbackUrl, ExternalTaskId, ImageInput, Page, Prompt,
    TimeWindow,
};
use mouthpiece_domain::task::CallbackFormat;
use mouthpiece_domain::tts::{TtsAudio, TtsRequest};
use mouthpiece_domain::{AuthFailure, DomainError, Task};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use utoipa::ToSchema;

pub const DIALECT: &str = "kling";

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/videos/avatar/image2video", post(create).get(list))
        .route("/v1/videos/avatar/image2video/{id}", get(query))
        .route("/v1/audio/tts", post(tts))
        // Documented without the `/v1`; some clients add it.
        .route("/account/costs", get(costs))
        .route("/v1/account/costs", get(costs))
}

// ---------- wire types ----------

/// Request body of `POST /v1/videos/avatar/image2video`. Empty strings
/// count as absent.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct CreateBody {
    /// Portrait: raw base64 (no `data:` prefix needed) or an http(s) URL.
    /// JPEG/PNG/WebP, at most 10 MB, at least 300 px a side, aspect 1:2.5 to 2.5:1.
    pub image: Option<String>,
    /// Audio id from `POST /v1/audio/tts` (at most 30 days old). Exclusive with `sound_file`.
    pub audio_id: Option<String>,
    /// Speech: base64 or an http(s) URL; MP3/WAV/M4A/AAC, at most 5 MB, 2–300 s.
    pub sound_file: Option<String>,
    /// At most 2500 characters.
    pub prompt: Option<String>,
    /// `std` (default, 720p) or `pro` (1080p).
    pub mode: Option<String>,
    pub watermark_info: Option<WatermarkInfo>,
    /// Receives a POST on every status change.
    pub callback_url: Option<String>,
    /// Your id for the task, unique within your account; usable in queries.
    pub external_task_id: Option<String>,
}

#[derive(Debug, Default, Clone, Deserialize, Serialize, ToSchema)]
pub struct WatermarkInfo {
    /// Also produce a watermarked copy (`watermark_url`).
    #[serde(default)]
    pub enabled: Option<bool>,
}

/// Request body of `POST /v1/audio/tts`.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct TtsBody {
    /// At most 1000 characters.
    pub text: Option<String>,
    /// e.g. `oversea_male1` (en), `genshin_vindi2` (zh, en).
    pub voice_id: Option<String>,
    /// `zh` (default) or `en`; must match the voice.
    pub voice_language: Option<String>,
    /// 0.8–2.0 (clamped), default 1.0.
    #[schema(value_type = Option<f64>)]
    pub voice_speed: Option<serde_json::Value>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TaskInfo {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external_task_id: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Video {
    pub id: String,
    pub url: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub watermark_url: Option<String>,
    /// Seconds, as a string.
    pub duration: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TaskResult {
    pub videos: Vec<Video>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BalanceDeduction {
    pub quota: String,
    pub list_price: String,
}

/// A task, as queries return it and as callbacks send it (flat).
#[derive(Debug, Serialize, ToSchema)]
pub struct TaskData {
    pub task_id: String,
    /// `submitted`, `processing`, `succeed` or `failed`.
    pub task_status: String,
    /// Why a task failed; empty otherwise.
    pub task_status_msg: String,
    pub task_info: TaskInfo,
    pub task_result: TaskResult,
    pub watermark_info: WatermarkInfo,
    pub final_unit_deduction: String,
    pub final_balance_deduction: BalanceDeduction,
    /// Mouthpiece extra: 0–100 while rendering.
    pub task_progress: u8,
    /// Unix milliseconds.
    pub created_at: i64,
    pub updated_at: i64,
}

/// What `create` returns.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedData {
    pub task_id: String,
    pub task_status: String,
    pub task_info: TaskInfo,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Audio {
    /// The `audio_id` to pass to the avatar endpoint.
    pub id: String,
    pub url: String,
    pub duration: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AudioResult {
    pub audios: Vec<Audio>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TtsData {
    pub task_id: String,
    pub task_status: String,
    pub task_status_msg: String,
    pub task_result: AudioResult,
    pub final_unit_deduction: String,
    pub final_balance_deduction: BalanceDeduction,
    pub created_at: i64,
    pub updated_at: i64,
}

/// Every response: `code` 0 on success.
#[derive(Debug, Serialize, ToSchema)]
pub struct Envelope<T> {
    pub code: u32,
    pub message: String,
    pub request_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<T>,
}

fn seconds(d: f64) -> String {
    let s = format!("{d:.3}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

fn zero() -> BalanceDeduction {
    BalanceDeduction {
        quota: "0".into(),
        list_price: "0".into(),
    }
}

impl From<&Task> for TaskData {
    fn from(t: &Task) -> Self {
        Self {
            task_id: t.id.clone(),
            task_status: t.status.as_str().into(),
            task_status_msg: t.status_msg.clone().unwrap_or_default(),
            task_info: TaskInfo {
                external_task_id: t.external_task_id.clone(),
            },
            task_result: TaskResult {
                videos: t
                    .videos
                    .iter()
                    .map(|v| Video {
                        id: v.id.clone(),
                        url: v.url.clone(),
                        watermark_url: v.watermark_url.clone(),
                        duration: seconds(v.duration),
                    })
                    .collect(),
            },
            watermark_info: WatermarkInfo {
                enabled: Some(t.watermark),
            },
            final_unit_deduction: "0".into(),
            final_balance_deduction: zero(),
            task_progress: t.progress,
            created_at: t.created_at,
            updated_at: t.updated_at,
        }
    }
}

/// The legacy callback: the task object itself, no envelope.
pub struct KlingCallbacks;

impl CallbackFormat for KlingCallbacks {
    fn callback_body(&self, task: &Task) -> String {
        serde_json::to_string(&TaskData::from(task)).unwrap_or_default()
    }
}

// ---------- errors ----------

/// Kling's code and HTTP status for a domain error.
pub fn code_of(e: &DomainError) -> (StatusCode, u32) {
    match e {
        DomainError::InvalidInput { .. } => (StatusCode::BAD_REQUEST, 1201),
        DomainError::NotFound { .. } => (StatusCode::NOT_FOUND, 1203),
        DomainError::Unauthorized(f) => (
            StatusCode::UNAUTHORIZED,
            match f {
                AuthFailure::Failed(_) => 1000,
                AuthFailure::Missing => 1001,
                AuthFailure::Invalid(_) => 1002,
                AuthFailure::NotYetValid => 1003,
                AuthFailure::Expired => 1004,
            },
        ),
        DomainError::ConcurrencyLimit { .. }
        | DomainError::QueueFull { .. }
        | DomainError::Busy { .. } => (StatusCode::TOO_MANY_REQUESTS, 1303),
        DomainError::RateLimited { .. } | DomainError::TooManyAuthFailures { .. } => {
            (StatusCode::TOO_MANY_REQUESTS, 1302)
        }
        DomainError::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, 5001),
        DomainError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, 5000),
    }
}

pub struct KlingError {
    status: StatusCode,
    code: u32,
    message: String,
    request_id: String,
    retry_after: Option<u64>,
}

impl KlingError {
    pub fn domain(e: DomainError, rid: &RequestId) -> Self {
        let (status, code) = code_of(&e);
        let message = match &e {
            // Internal details go to the log, not to the caller.
            DomainError::Internal(detail) => {
                tracing::error!(%detail, "internal error");
                format!(
                    "internal error; quote request_id {} when reporting it",
                    rid.0
                )
            }
            other => other.to_string(),
        };
        Self {
            status,
            code,
            message,
            request_id: rid.0.clone(),
            retry_after: e.retry_after(),
        }
    }

    fn new(status: StatusCode, code: u32, message: impl Into<String>, rid: &RequestId) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            request_id: rid.0.clone(),
            retry_after: None,
        }
    }
}

impl IntoResponse for KlingError {
    fn into_response(self) -> Response {
        let body = Envelope::<()> {
            code: self.code,
            message: self.message,
            request_id: self.request_id,
            data: None,
        };
        super::shared::retry_after((self.status, Json(body)).into_response(), self.retry_after)
    }
}

fn ok<T: Serialize>(rid: &RequestId, data: T) -> Response {
    Json(Envelope {
        code: 0,
        message: "SUCCEED".into(),
        request_id: rid.0.clone(),
        data: Some(data),
    })
    .into_response()
}

fn json_body<T: serde::de::DeserializeOwned>(
    body: Result<Bytes, BytesRejection>,
    rid: &RequestId,
    limit: usize,
) -> Result<T, KlingError> {
    let body = body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            KlingError::new(
                StatusCode::BAD_REQUEST,
                1201,
                format!(
                    "the request body is larger than {} MB",
                    limit / (1024 * 1024)
                ),
                rid,
            )
        } else {
            KlingError::new(
                StatusCode::BAD_REQUEST,
                1200,
                format!("the request body could not be read: {e}"),
                rid,
            )
        }
    })?;
    serde_json::from_slice(&body).map_err(|e| {
        KlingError::new(
            StatusCode::BAD_REQUEST,
            1200,
            format!("the request body is not the expected JSON: {e}"),
            rid,
        )
    })
}

/// The create body's fields to a validated request (no HTTP, no store).
pub fn parse_create(b: &CreateBody) -> Result<AvatarRequest, DomainError> {
    Ok(AvatarRequest {
        image: ImageInput::parse(b.image.as_deref())?,
        audio: AudioInput::parse(b.sound_file.as_deref(), b.audio_id.as_deref())?,
        prompt: Prompt::parse(b.prompt.as_deref())?,
        mode: parse_mode(b.mode.as_deref())?,
        watermark: b
            .watermark_info
            .as_ref()
            .and_then(|w| w.enabled)
            .unwrap_or(false),
        callback_url: CallbackUrl::parse(b.callback_url.as_deref())?,
        external_task_id: ExternalTaskId::parse(b.external_task_id.as_deref())?,
        dialect: DIALECT,
        performance: Default::default(),
        linked: None,
        origin: Default::default(),
    })
}

/// The create body's bytes as the handler reads them: the fuzz target's
/// entry point. The error is the message the caller would get.
pub fn parse_create_body(body: &[u8]) -> Result<AvatarRequest, String> {
    let b: CreateBody = serde_json::from_slice(body).map_err(|e| e.to_string())?;
    parse_create(&b).map_err(|e| e.to_string())
}

// ---------- handlers ----------

/// Create an avatar video task.
#[utoipa::path(post, path = "/v1/videos/avatar/image2video", tag = "kling", request_body = CreateBody,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Accepted", body = inline(Envelope<CreatedData>)),
        (status = 400, description = "1200/1201: invalid parameters (the message says which and why)"),
        (status = 401, description = "1000–1004: authentication failed"),
        (status = 429, description = "1303: the account's concurrency limit or the server's queue is full; 1302: too many requests (Retry-After)")))]
pub async fn create(
    State(state): State<AppState>,
    rid: RequestId,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, KlingError> {
    let account = authenticate(&state, &headers)
        .await
        .map_err(|e| KlingError::domain(e, &rid))?;
    let b: CreateBody = json_body(body, &rid, state.max_request_bytes)?;
    let req = parse_create(&b).map_err(|e| KlingError::domain(e, &rid))?;
    let task = state
        .services
        .tasks
        .submit(&account, req)
        .await
        .map_err(|e| KlingError::domain(e, &rid))?;
    Ok(ok(
        &rid,
        CreatedData {
            task_id: task.id.clone(),
            task_status: task.status.as_str().into(),
            task_info: TaskInfo {
                external_task_id: task.external_task_id.clone(),
            },
            created_at: task.created_at,
            updated_at: task.updated_at,
        },
    ))
}

/// Query one task by `task_id` or `external_task_id`.
#[utoipa::path(get, path = "/v1/videos/avatar/image2video/{id}", tag = "kling",
    params(("id" = String, Path, description = "task_id or external_task_id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The task", body = inline(Envelope<TaskData>)),
        (status = 404, description = "1203: no such task in this account")))]
pub async fn query(
    State(state): State<AppState>,
    rid: RequestId,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, KlingError> {
    let account = authenticate(&state, &headers)
        .await
        .map_err(|e| KlingError::domain(e, &rid))?;
    let task = state
        .services
        .tasks
        .get(&account, &id)
        .await
        .map_err(|e| KlingError::domain(e, &rid))?;
    Ok(ok(&rid, TaskData::from(&task)))
}

/// List the account's tasks, newest first.
#[utoipa::path(get, path = "/v1/videos/avatar/image2video", tag = "kling",
    params(
        ("pageNum" = Option<u32>, Query, description = "1–1000, default 1"),
        ("pageSize" = Option<u32>, Query, description = "1–500, default 30")),
    security(("bearer" = [])),
    responses((status = 200, description = "A page of tasks", body = inline(Envelope<Vec<TaskData>>))))]
pub async fn list(
    State(state): State<AppState>,
    rid: RequestId,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, KlingError> {
    let account = authenticate(&state, &headers)
        .await
        .map_err(|e| KlingError::domain(e, &rid))?;
    let page = Page::parse(
        q.get("pageNum").map(String::as_str),
        q.get("pageSize").map(String::as_str),
        ("pageNum", 1000),
        ("pageSize", 500, 30),
    )
    .map_err(|e| KlingError::domain(e, &rid))?;
    let tasks = state
        .services
        .tasks
        .list(&account, page)
        .await
        .map_err(|e| KlingError::domain(e, &rid))?;
    Ok(ok(
        &rid,
        tasks.iter().map(TaskData::from).collect::<Vec<_>>(),
    ))
}

fn speed(v: &Option<serde_json::Value>) -> Result<Option<f64>, DomainError> {
    match v {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(serde_json::Value::Number(n)) => Ok(n.as_f64()),
        Some(serde_json::Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(serde_json::Value::String(s)) => s
            .trim()
            .parse::<f64>()
            .map(Some)
            .map_err(|_| DomainError::invalid("voice_speed", format!("{s:?} is not a number"))),
        Some(_) => Err(DomainError::invalid("voice_speed", "must be a number")),
    }
}

/// Text to speech; the audio id is accepted by the avatar endpoint for 30 days.
#[utoipa::path(post, path = "/v1/audio/tts", tag = "kling", request_body = TtsBody,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Synthesised", body = inline(Envelope<TtsData>)),
        (status = 400, description = "1201: e.g. \"Voice id not found\" when the voice and language do not match")))]
pub async fn tts(
    State(state): State<AppState>,
    rid: RequestId,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, KlingError> {
    let account = authenticate(&state, &headers)
        .await
        .map_err(|e| KlingError::domain(e, &rid))?;
    let b: TtsBody = json_body(body, &rid, state.max_request_bytes)?;
    let req = speed(&b.voice_speed)
        .and_then(|s| {
            TtsRequest::parse(
                b.text.as_deref(),
                b.voice_id.as_deref(),
                b.voice_language.as_deref(),
                s,
            )
        })
        .map_err(|e| KlingError::domain(e, &rid))?;
    // Kling answers "Voice id not found" verbatim for a voice/language mismatch.
    let audio: TtsAudio = state
        .services
        .tts
        .synthesize(&account.id, req)
        .await
        .map_err(|e| KlingError::domain(e, &rid))?;
    Ok(ok(
        &rid,
        TtsData {
            task_id: audio.task_id,
            task_status: "succeed".into(),
            task_status_msg: String::new(),
            task_result: AudioResult {
                audios: vec![Audio {
                    id: audio.audio_id,
                    url: audio.url,
                    duration: seconds(audio.duration),
                }],
            },
            final_unit_deduction: "0".into(),
            final_balance_deduction: zero(),
            created_at: audio.created_at,
            updated_at: audio.created_at,
        },
    ))
}

/// A self-hosted pack has no limit; Kling's clients read numbers, so "no
/// limit" is this many units left, whatever was used (`total - remaining`
/// is still the usage).
pub const UNLIMITED_QUANTITY: f64 = 1_000_000_000.0;
/// `invalid_time` of the self-hosted packs: 2100-01-01.
const NEVER_EXPIRES_MS: i64 = 4_102_444_800_000;

/// One resource pack of `GET /account/costs`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ResourcePack {
    pub resource_pack_name: String,
    pub resource_pack_id: String,
    /// `decreasing_total` or `constant_period`.
    pub resource_pack_type: String,
    /// Used in the window plus what is left.
    pub total_quantity: f64,
    pub remaining_quantity: f64,
    /// Unix ms.
    pub purchase_time: i64,
    pub effective_time: i64,
    pub invalid_time: i64,
    /// `toBeOnline`, `online`, `expired` or `runOut`.
    pub status: String,
    /// Mouthpiece extra: what the account used in the window.
    pub used_quantity: f64,
    /// Mouthpiece extra: `seconds` (video rendered) or `calls` (TTS).
    pub unit: String,
}

/// `data` of `GET /account/costs`: Kling wraps a second code and message.
#[derive(Debug, Serialize, ToSchema)]
pub struct CostsData {
    pub code: i32,
    pub msg: String,
    pub resource_pack_subscribe_infos: Vec<ResourcePack>,
}

/// The account's usage as Kling's resource packs: one for video seconds
/// rendered in the window, one for TTS calls; self-hosted, so no limit.
#[utoipa::path(get, path = "/account/costs", tag = "kling",
    params(
        ("start_time" = i64, Query, description = "Start of the window, Unix ms (required)"),
        ("end_time" = i64, Query, description = "End of the window, Unix ms (required)"),
        ("resource_pack_name" = Option<String>, Query, description = "Only the pack of this name")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Usage in the window", body = inline(Envelope<CostsData>)),
        (status = 400, description = "1201: start_time or end_time missing or not Unix ms")))]
pub async fn costs(
    State(state): State<AppState>,
    rid: RequestId,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, KlingError> {
    let account = authenticate(&state, &headers)
        .await
        .map_err(|e| KlingError::domain(e, &rid))?;
    let window = TimeWindow::parse(
        q.get("start_time").map(String::as_str),
        q.get("end_time").map(String::as_str),
    )
    .map_err(|e| KlingError::domain(e, &rid))?;
    let usage = state
        .services
        .tasks
        .usage(&account, window)
        .await
        .map_err(|e| KlingError::domain(e, &rid))?;
    let pack = |name: &str, id: &str, used: f64, unit: &str| ResourcePack {
        resource_pack_name: name.into(),
        resource_pack_id: id.into(),
        resource_pack_type: "constant_period".into(),
        total_quantity: used + UNLIMITED_QUANTITY,
        remaining_quantity: UNLIMITED_QUANTITY,
        purchase_time: account.created_at,
        effective_time: account.created_at,
        invalid_time: NEVER_EXPIRES_MS,
        status: "online".into(),
        used_quantity: used,
        unit: unit.into(),
    };
    let seconds = (usage.video_seconds * 1000.0).round() / 1000.0;
    let packs = vec![
        pack(
            "Mouthpiece video (self-hosted)",
            "mouthpiece-video",
            seconds,
            "seconds",
        ),
        pack(
            "Mouthpiece TTS (self-hosted)",
            "mouthpiece-tts",
            usage.tts_calls as f64,
            "calls",
        ),
    ];
    let wanted = mouthpiece_domain::input::present(q.get("resource_pack_name").map(String::as_str));
    let packs = packs
        .into_iter()
        .filter(|p| wanted.is_none_or(|w| w.trim() == p.resource_pack_name))
        .collect();
    Ok(ok(
        &rid,
        CostsData {
            code: 0,
            msg: "success".into(),
            resource_pack_subscribe_infos: packs,
        },
    ))
}

/// Unknown paths under `/v1`: 1202 in Kling's envelope.
pub async fn not_found(rid: RequestId) -> KlingError {
    KlingError::new(
        StatusCode::NOT_FOUND,
        1202,
        "the requested method is invalid",
        &rid,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_are_short_strings() {
        assert_eq!(seconds(2.5), "2.5");
        assert_eq!(seconds(3.0), "3");
        assert_eq!(seconds(2.53349), "2.533");
    }

    #[test]
    fn voice_mismatch_message_is_klings() {
        let e = TtsRequest::parse(Some("hi"), Some("oversea_male1"), Some("zh"), None).unwrap_err();
        assert_eq!(code_of(&e), (StatusCode::BAD_REQUEST, 1201));
        assert!(e.to_string().contains("Voice id not found"));
    }
}
