//! AI/ML API's video generations for the Kling avatar models: `POST
//! /v2/video/generations` and `GET /v2/video/generations?generation_id=`.
//! Ids are `<uuid>:<model>`; the uuid carries the task id, so any task of
//! the account is readable here whichever dialect created it. Errors are
//! `{message, path, requestId, statusCode, timestamp}`.

use crate::auth::authenticate;
use crate::dialects::shared::{self, BodyError};
use crate::request_id::RequestId;
use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use mouthpiece_domain::input::{
    present, AudioInput, AvatarRequest, ImageInput, MediaSource, Mode, Prompt, RequestOrigin,
    MAX_SOUND_BYTES,
};
use mouthpiece_domain::{DomainError, Task, TaskState};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::HashMap;

pub const DIALECT: &str = "aimlapi";

const STANDARD_MODEL: &str = "klingai/avatar-standard";
const PRO_MODEL: &str = "klingai/avatar-pro";
const PATH: &str = "/v2/video/generations";

pub fn router() -> Router<AppState> {
    Router::new().route(PATH, post(create).get(fetch))
}

// ---------- wire types ----------

#[derive(Debug, Default, Deserialize)]
pub struct CreateBody {
    pub model: Option<String>,
    pub image_url: Option<String>,
    pub audio_url: Option<String>,
    pub prompt: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct Usage {
    pub credits_used: u64,
}

#[derive(Debug, Serialize)]
pub struct Meta {
    pub usage: Usage,
}

#[derive(Debug, Serialize)]
pub struct VideoOut {
    pub url: String,
    /// Seconds.
    pub duration: f64,
}

#[derive(Debug, Serialize)]
pub struct ErrorOut {
    pub name: String,
    pub message: String,
}

#[derive(Debug, Serialize)]
pub struct Generation {
    pub id: String,
    /// `queued | generating | completed | error`.
    pub status: &'static str,
    pub video: Option<VideoOut>,
    pub error: Option<ErrorOut>,
    pub meta: Option<Meta>,
}

fn model_of(mode: Option<Mode>) -> &'static str {
    match mode {
        Some(Mode::Pro) => PRO_MODEL,
        _ => STANDARD_MODEL,
    }
}

pub fn status_of(s: TaskState) -> &'static str {
    match s {
        TaskState::Submitted => "queued",
        TaskState::Processing => "generating",
        TaskState::Succeed => "completed",
        TaskState::Failed => "error",
    }
}

/// The task id (decimal, fits in 64 bits) shown as a UUID: a fixed head
/// and the id in the last 64 bits, so no mapping has to be stored.
pub fn uuid_of(task_id: &str) -> Option<String> {
    let n: u64 = task_id.parse().ok()?;
    let v = (0x6d70_6965_u128 << 96) | (0x4000_u128 << 64) | u128::from(n);
    Some(uuid::Uuid::from_u128(v).to_string())
}

/// Back from `<uuid>[:<model>]` to the task id.
pub fn task_id_of(generation_id: &str) -> Option<String> {
    let uuid = generation_id.split(':').next()?.trim();
    let v = uuid::Uuid::parse_str(uuid).ok()?.as_u128();
    ((v >> 64) == ((0x6d70_6965_u128 << 32) | 0x4000)).then(|| (v as u64).to_string())
}

fn generation_id(t: &Task) -> String {
    let uuid = uuid_of(&t.id).unwrap_or_else(|| t.id.clone());
    format!("{uuid}:{}", model_of(t.mode))
}

/// Credits as seconds of video, the unit AI/ML API bills avatars in.
fn meta(t: &Task) -> Meta {
    Meta {
        usage: Usage {
            credits_used: (t.audio_duration.max(0.0) * 1000.0).round() as u64,
        },
    }
}

impl From<&Task> for Generation {
    fn from(t: &Task) -> Self {
        Self {
            id: generation_id(t),
            status: status_of(t.status),
            video: (t.status == TaskState::Succeed)
                .then(|| t.videos.first())
                .flatten()
                .map(|v| VideoOut {
                    url: v.url.clone(),
                    duration: v.duration,
                }),
            error: (t.status == TaskState::Failed).then(|| ErrorOut {
                name: "GenerationError".into(),
                message: t.status_msg.clone().unwrap_or_default(),
            }),
            meta: Some(meta(t)),
        }
    }
}

// ---------- errors ----------

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorBody {
    pub message: String,
    pub path: String,
    pub request_id: String,
    pub status_code: u16,
    pub timestamp: String,
}

pub struct AimlError {
    status: StatusCode,
    message: String,
    path: String,
    request_id: String,
    retry_after: Option<u64>,
}

pub fn status_for(e: &DomainError) -> StatusCode {
    match e {
        DomainError::InvalidInput { .. } => StatusCode::BAD_REQUEST,
        DomainError::NotFound { .. } => StatusCode::NOT_FOUND,
        DomainError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
        // The wait is in the message: AI/ML API sends no rate-limit headers.
        DomainError::ConcurrencyLimit { .. }
        | DomainError::RateLimited { .. }
        | DomainError::QueueFull { .. }
        | DomainError::Busy { .. }
        | DomainError::TooManyAuthFailures { .. } => StatusCode::TOO_MANY_REQUESTS,
        DomainError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        DomainError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

impl AimlError {
    fn new(status: StatusCode, message: String, uri: &Uri, rid: &RequestId) -> Self {
        Self {
            status,
            message,
            path: uri.path().to_string(),
            request_id: rid.0.clone(),
            retry_after: None,
        }
    }

    pub(crate) fn domain(e: DomainError, uri: &Uri, rid: &RequestId) -> Self {
        let status = status_for(&e);
        let message = match &e {
            // "Body validation error!" names the rule that failed.
            DomainError::InvalidInput { .. } => format!("Body validation error! {e}"),
            other => shared::public_message(other),
        };
        // Only the auth lockout says when to retry: AI/ML API's own rate
        // limits send no header, the wait is in the message.
        let retry_after = match &e {
            DomainError::TooManyAuthFailures { retry_after_s } => Some(*retry_after_s),
            _ => None,
        };
        Self {
            retry_after,
            ..Self::new(status, message, uri, rid)
        }
    }

    fn body(e: BodyError, uri: &Uri, rid: &RequestId) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            format!("Body validation error! {}", e.0),
            uri,
            rid,
        )
    }
}

impl IntoResponse for AimlError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            message: self.message,
            path: self.path,
            request_id: self.request_id,
            status_code: self.status.as_u16(),
            timestamp: iso8601(mouthpiece_domain::clock::now_ms()),
        };
        // Only the auth lockout says when to retry (AI/ML's own 429s do not).
        shared::retry_after((self.status, Json(body)).into_response(), self.retry_after)
    }
}

/// Unix milliseconds as `2026-11-23T09:40:07.123Z`.
pub fn iso8601(ms: i64) -> String {
    let (days, rem) = (ms.div_euclid(86_400_000), ms.rem_euclid(86_400_000));
    // Howard Hinnant's days-to-civil.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3_600_000,
        rem / 60_000 % 60,
        rem / 1000 % 60,
        rem % 1000
    )
}

/// Unknown paths under `/v2`.
pub fn not_found(method: &axum::http::Method, uri: &Uri, rid: &RequestId) -> AimlError {
    AimlError::new(
        StatusCode::NOT_FOUND,
        format!("Cannot {method} {}", uri.path()),
        uri,
        rid,
    )
}

// ---------- handlers ----------

/// The create body's bytes as the handler reads them: the fuzz target's
/// entry point. The error is the message the caller would get.
pub fn parse_create_body(body: &[u8]) -> Result<AvatarRequest, String> {
    let v: Value = serde_json::from_slice(body).map_err(|e| e.to_string())?;
    let b: CreateBody = serde_json::from_value(v).map_err(|e| e.to_string())?;
    parse_create(&b).map_err(|e| e.to_string())
}

fn parse_create(b: &CreateBody) -> Result<AvatarRequest, DomainError> {
    let mode = match b.model.as_deref().map(str::trim) {
        None | Some("") => return Err(DomainError::invalid("model", "is required")),
        Some(STANDARD_MODEL) => Mode::Std,
        Some(PRO_MODEL) => Mode::Pro,
        Some(other) => {
            return Err(DomainError::invalid(
                "model",
                format!("{other:?} is not supported; use {STANDARD_MODEL:?} or {PRO_MODEL:?}"),
            ))
        }
    };
    let image = ImageInput::parse(b.image_url.as_deref()).map_err(|e| rename(e, "image_url"))?;
    let audio = present(b.audio_url.as_deref())
        .ok_or_else(|| DomainError::invalid("audio_url", "is required"))
        .and_then(|a| MediaSource::parse("audio_url", a, MAX_SOUND_BYTES))?;
    Ok(AvatarRequest {
        image,
        audio: AudioInput::Sound(audio),
        prompt: Prompt::parse(b.prompt.as_deref())?,
        mode,
        watermark: false,
        callback_url: None,
        external_task_id: None,
        dialect: DIALECT,
        performance: Default::default(),
        linked: None,
        origin: RequestOrigin::default(),
    })
}

/// Shows the domain's field names as this API's.
fn rename(e: DomainError, field: &str) -> DomainError {
    match e {
        DomainError::InvalidInput { reason, .. } => DomainError::invalid(field, reason),
        other => other,
    }
}

fn rename_fetch(e: DomainError) -> DomainError {
    match &e {
        DomainError::InvalidInput { field, .. } if field == "image" => rename(e, "image_url"),
        DomainError::InvalidInput { field, .. } if field == "sound_file" || field == "audio" => {
            rename(e, "audio_url")
        }
        _ => e,
    }
}

#[utoipa::path(post, path = "/v2/video/generations", tag = "aimlapi",
    description = "model klingai/avatar-standard|klingai/avatar-pro, image_url, audio_url, prompt ≤ 2500.",
    request_body(content = String, content_type = "application/json", description = "A JSON object"),
    security(("bearer" = [])),
    responses((status = 200, description = "{id: <uuid>:<model>, status: queued, meta}"),
              (status = 400, description = "{message, path, requestId, statusCode, timestamp}")))]
pub async fn create(
    State(state): State<AppState>,
    rid: RequestId,
    uri: Uri,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, AimlError> {
    let account = authenticate(&state, &headers)
        .await
        .map_err(|e| AimlError::domain(e, &uri, &rid))?;
    let b: CreateBody = shared::json_body::<Value>(body, state.max_request_bytes)
        .and_then(|v| {
            serde_json::from_value(v)
                .map_err(|e| BodyError(format!("the request body is not the expected JSON: {e}")))
        })
        .map_err(|e| AimlError::body(e, &uri, &rid))?;
    let req = parse_create(&b).map_err(|e| AimlError::domain(e, &uri, &rid))?;
    let task = state
        .services
        .tasks
        .submit(&account, req)
        .await
        .map_err(|e| AimlError::domain(rename_fetch(e), &uri, &rid))?;
    let g = Generation::from(&task);
    Ok(Json(serde_json::json!({"id": g.id, "status": g.status, "meta": g.meta})).into_response())
}

#[utoipa::path(get, path = "/v2/video/generations", tag = "aimlapi",
    params(("generation_id" = String, Query, description = "<uuid>:<model>")),
    security(("bearer" = [])),
    responses((status = 200, description = "{id, status queued|generating|completed|error, video, error, meta}"),
              (status = 404, description = "{message, path, requestId, statusCode, timestamp}")))]
pub async fn fetch(
    State(state): State<AppState>,
    rid: RequestId,
    uri: Uri,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, AimlError> {
    let account = authenticate(&state, &headers)
        .await
        .map_err(|e| AimlError::domain(e, &uri, &rid))?;
    let raw = present(q.get("generation_id").map(String::as_str)).ok_or_else(|| {
        AimlError::domain(
            DomainError::invalid("generation_id", "is required"),
            &uri,
            &rid,
        )
    })?;
    let not_found = || {
        AimlError::domain(
            DomainError::NotFound {
                what: format!("generation {raw:?}"),
            },
            &uri,
            &rid,
        )
    };
    let id = task_id_of(raw).ok_or_else(not_found)?;
    let task = state
        .services
        .tasks
        .get(&account, &id)
        .await
        .map_err(|e| match e {
            DomainError::NotFound { .. } => not_found(),
            other => AimlError::domain(other, &uri, &rid),
        })?;
    Ok(Json(Generation::from(&task)).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_through_uuids() {
        let id = "1763890000123456789";
        let u = uuid_of(id).unwrap();
        assert_eq!(u.len(), 36);
        assert_eq!(task_id_of(&format!("{u}:{PRO_MODEL}")).as_deref(), Some(id));
        assert_eq!(task_id_of(&u).as_deref(), Some(id));
        assert_eq!(task_id_of("76a3553b-7c4f-4fe1-9682-72008ef3a0fe:x"), None);
        assert_eq!(task_id_of("nope"), None);
    }

    #[test]
    fn timestamps_are_iso() {
        assert_eq!(iso8601(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(iso8601(1_781_080_794_151), "2026-06-10T08:39:54.151Z");
    }
}
