//! kie.ai's jobs API for the Kling avatar models: `POST
//! /api/v1/jobs/createTask` and `GET /api/v1/jobs/recordInfo`. Envelope
//! `{code, msg, data}`; the HTTP status mirrors `code`. `param` and
//! `resultJson` are JSON strings. The callback goes out when a task ends,
//! signed over `taskId.timestamp` (not the body).

use crate::auth::authenticate;
use crate::dialects::shared::{self, BodyError};
use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, Mac};
use mouthpiece_domain::input::{
    AudioInput, AvatarRequest, CallbackUrl, ImageInput, MediaSource, Mode, Prompt, RequestOrigin,
};
use mouthpiece_domain::task::{CallbackFormat, Delivery};
use mouthpiece_domain::{DomainError, Task, TaskState};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::Sha256;
use std::collections::HashMap;

pub const DIALECT: &str = "kie";

const STANDARD_MODEL: &str = "kling/ai-avatar-standard";
const PRO_MODEL: &str = "kling/ai-avatar-pro";

/// A model name kie's clients send: the documented two, and the aliases seen
/// in kie's catalogue and in public client code. The name is kept with the
/// task so `model` echoes exactly what the client asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KieModel {
    pub name: &'static str,
    pub mode: Mode,
}

const MODELS: &[KieModel] = &[
    KieModel {
        name: STANDARD_MODEL,
        mode: Mode::Std,
    },
    KieModel {
        name: PRO_MODEL,
        mode: Mode::Pro,
    },
    KieModel {
        name: "kling/ai-avatar-v1-pro",
        mode: Mode::Pro,
    },
    KieModel {
        name: "kling/v1-avatar-standard",
        mode: Mode::Std,
    },
    KieModel {
        name: "kling/v1-avatar-pro",
        mode: Mode::Pro,
    },
];

impl KieModel {
    pub fn parse(raw: Option<&str>) -> Result<Self, DomainError> {
        match raw.map(str::trim) {
            None | Some("") => Err(DomainError::invalid("model", "is required")),
            Some(name) => MODELS
                .iter()
                .copied()
                .find(|m| m.name == name)
                .ok_or_else(|| {
                    let names: Vec<&str> = MODELS.iter().map(|m| m.name).collect();
                    DomainError::invalid(
                        "model",
                        format!("{name:?} is not supported; use one of {}", names.join(", ")),
                    )
                }),
        }
    }
}
/// kie's `failCode` for a generation that failed.
const GENERATION_FAILED: u16 = 501;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/jobs/createTask", post(create_task))
        .route("/api/v1/jobs/recordInfo", get(record_info))
}

// ---------- wire types ----------

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateBody {
    pub model: Option<String>,
    pub call_back_url: Option<String>,
    pub input: Option<InputBody>,
}

#[derive(Debug, Default, Deserialize, Serialize)]
pub struct InputBody {
    pub image_url: Option<String>,
    pub audio_url: Option<String>,
    pub prompt: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct Envelope<T> {
    pub code: u16,
    pub msg: String,
    pub data: Option<T>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Created {
    pub task_id: String,
}

/// A task as `recordInfo` and the callback show it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Record {
    pub task_id: String,
    pub model: String,
    /// `waiting | queuing | generating | success | fail`.
    pub state: &'static str,
    /// The create request, as a JSON string.
    pub param: String,
    /// `{"resultUrls":[...]}` as a JSON string once it succeeded, else "".
    pub result_json: String,
    pub fail_code: String,
    pub fail_msg: String,
    /// Milliseconds from creation to the end; 0 while running.
    pub cost_time: i64,
    pub complete_time: Option<i64>,
    pub create_time: i64,
    pub update_time: i64,
    /// Mouthpiece extra: 0–100 while rendering.
    pub progress: u8,
}

fn model_of(mode: Option<Mode>) -> &'static str {
    match mode {
        Some(Mode::Pro) => PRO_MODEL,
        _ => STANDARD_MODEL,
    }
}

/// kie's spelling of the domain's status.
pub fn state_of(s: TaskState) -> &'static str {
    match s {
        TaskState::Submitted => "waiting",
        TaskState::Processing => "generating",
        TaskState::Succeed => "success",
        TaskState::Failed => "fail",
    }
}

impl From<&Task> for Record {
    fn from(t: &Task) -> Self {
        // The name the client sent; tasks made elsewhere get the mode's.
        let model = t.origin.model.as_deref().unwrap_or(model_of(t.mode));
        // Tasks made in another dialect get a param rebuilt from what is known.
        let param = t.origin.request.clone().unwrap_or_else(|| {
            json!({"model": model, "callBackUrl": t.callback_url, "input": {}}).to_string()
        });
        let done = t.status.is_terminal();
        let end = t.finished_at.unwrap_or(t.updated_at);
        let failed = t.status == TaskState::Failed;
        Self {
            task_id: t.id.clone(),
            model: model.into(),
            state: state_of(t.status),
            param,
            result_json: if t.status == TaskState::Succeed {
                json!({"resultUrls": t.videos.iter().map(|v| v.url.as_str()).collect::<Vec<_>>()})
                    .to_string()
            } else {
                String::new()
            },
            fail_code: if failed {
                GENERATION_FAILED.to_string()
            } else {
                String::new()
            },
            fail_msg: if failed {
                t.status_msg.clone().unwrap_or_default()
            } else {
                String::new()
            },
            cost_time: if done { (end - t.created_at).max(0) } else { 0 },
            complete_time: done.then_some(end),
            create_time: t.created_at,
            update_time: t.updated_at,
            progress: t.progress,
        }
    }
}

/// The callback: the recordInfo envelope, sent once the task ends.
pub struct KieCallbacks;

impl CallbackFormat for KieCallbacks {
    fn callback_body(&self, task: &Task) -> String {
        let record = Record::from(task);
        let mut data = serde_json::to_value(&record).unwrap_or(Value::Null);
        // kie's own sample reads `data.task_id`; market callbacks carry `taskId`.
        if let Value::Object(m) = &mut data {
            m.insert("task_id".into(), Value::String(task.id.clone()));
        }
        let (code, msg) = if task.status == TaskState::Failed {
            (GENERATION_FAILED, record.fail_msg.clone())
        } else {
            (200, "success".to_string())
        };
        json!({"code": code, "msg": msg, "data": data}).to_string()
    }

    fn reports(&self, status: TaskState) -> bool {
        status.is_terminal()
    }

    fn headers(&self, d: &Delivery<'_>) -> Vec<(&'static str, String)> {
        let mut h = vec![("X-Webhook-Timestamp", d.timestamp.to_string())];
        if let Some(sig) = d.secret.and_then(|k| signature(k, d.task_id, d.timestamp)) {
            h.push(("X-Webhook-Signature", sig));
        }
        h
    }
}

/// `base64(HMAC-SHA256(taskId + "." + timestamp, key))`, the key used as-is.
pub fn signature(key: &str, task_id: &str, timestamp: i64) -> Option<String> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key.as_bytes()).ok()?;
    mac.update(format!("{task_id}.{timestamp}").as_bytes());
    Some(STANDARD.encode(mac.finalize().into_bytes()))
}

// ---------- errors ----------

pub struct KieError {
    code: u16,
    msg: String,
    retry_after: Option<u64>,
}

/// kie's body code for a domain error; the HTTP status mirrors it.
pub fn code_of(e: &DomainError) -> u16 {
    match e {
        DomainError::InvalidInput { .. } => 422,
        DomainError::NotFound { .. } => 404,
        DomainError::Unauthorized(_) => 401,
        DomainError::ConcurrencyLimit { .. }
        | DomainError::RateLimited { .. }
        | DomainError::QueueFull { .. }
        | DomainError::Busy { .. }
        | DomainError::TooManyAuthFailures { .. } => 429,
        DomainError::Unavailable(_) => 455,
        DomainError::Internal(_) => 500,
    }
}

impl KieError {
    pub(crate) fn domain(e: DomainError) -> Self {
        let code = code_of(&e);
        Self {
            code,
            retry_after: e.retry_after(),
            msg: shared::public_message(&e),
        }
    }

    fn validation(msg: impl Into<String>) -> Self {
        Self {
            code: 422,
            msg: msg.into(),
            retry_after: None,
        }
    }
}

impl From<BodyError> for KieError {
    fn from(e: BodyError) -> Self {
        Self::validation(e.0)
    }
}

impl IntoResponse for KieError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let resp = (
            status,
            Json(Envelope::<()> {
                code: self.code,
                msg: self.msg,
                data: None,
            }),
        )
            .into_response();
        shared::retry_after(resp, self.retry_after)
    }
}

/// Unknown paths under `/api/v1`.
pub fn not_found() -> KieError {
    KieError {
        code: 404,
        msg: "Not Found: no such endpoint".into(),
        retry_after: None,
    }
}

fn ok<T: Serialize>(data: T) -> Response {
    Json(Envelope {
        code: 200,
        msg: "success".into(),
        data: Some(data),
    })
    .into_response()
}

// ---------- handlers ----------

fn url_only(field: &str, raw: Option<&str>, max: u64) -> Result<MediaSource, DomainError> {
    let raw = mouthpiece_domain::input::present(raw)
        .ok_or_else(|| DomainError::invalid(field, "is required"))?;
    match MediaSource::parse(field, raw, max)? {
        u @ MediaSource::Url(_) => Ok(u),
        MediaSource::Inline(_) => Err(DomainError::invalid(field, "must be an http(s) URL")),
    }
}

/// The create body's bytes as the handler reads them: the fuzz target's
/// entry point. The error is the message the caller would get.
pub fn parse_create_body(body: &[u8]) -> Result<AvatarRequest, String> {
    let raw: Value = serde_json::from_slice(body).map_err(|e| e.to_string())?;
    let b: CreateBody = serde_json::from_value(raw.clone()).map_err(|e| e.to_string())?;
    parse_create(&b, &raw).map_err(|e| e.to_string())
}

fn parse_create(b: &CreateBody, raw: &Value) -> Result<AvatarRequest, DomainError> {
    let model = KieModel::parse(b.model.as_deref())?;
    let input = b
        .input
        .as_ref()
        .ok_or_else(|| DomainError::invalid("input", "is required"))?;
    let image = url_only(
        "input.image_url",
        input.image_url.as_deref(),
        mouthpiece_domain::input::MAX_IMAGE_BYTES,
    )?;
    let audio = url_only(
        "input.audio_url",
        input.audio_url.as_deref(),
        mouthpiece_domain::input::MAX_SOUND_BYTES,
    )?;
    // Required by kie, though it may be "".
    let prompt = input
        .prompt
        .as_deref()
        .ok_or_else(|| DomainError::invalid("input.prompt", "is required (it may be \"\")"))?;
    Ok(AvatarRequest {
        image: ImageInput(image),
        audio: AudioInput::Sound(audio),
        prompt: Prompt::parse(Some(prompt)).map_err(|e| rename(e, "input.prompt"))?,
        mode: model.mode,
        watermark: false,
        callback_url: CallbackUrl::parse(b.call_back_url.as_deref())
            .map_err(|e| rename(e, "callBackUrl"))?,
        external_task_id: None,
        dialect: DIALECT,
        performance: Default::default(),
        linked: None,
        origin: RequestOrigin {
            request: Some(raw.to_string()),
            model: Some(model.name.to_string()),
            ..RequestOrigin::default()
        },
    })
}

/// The domain names fields as Kling does; kie's names are shown instead.
fn rename(e: DomainError, field: &str) -> DomainError {
    match e {
        DomainError::InvalidInput { reason, .. } => DomainError::invalid(field, reason),
        other => other,
    }
}

pub async fn create_task(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, KieError> {
    let account = authenticate(&state, &headers)
        .await
        .map_err(KieError::domain)?;
    let raw: Value = shared::json_body(body, state.max_request_bytes)?;
    let b: CreateBody = serde_json::from_value(raw.clone()).map_err(|e| {
        KieError::validation(format!("the request body is not the expected JSON: {e}"))
    })?;
    let req = parse_create(&b, &raw).map_err(KieError::domain)?;
    let task = state
        .services
        .tasks
        .submit(&account, req)
        .await
        .map_err(|e| KieError::domain(rename_fetch(e)))?;
    Ok(ok(Created { task_id: task.id }))
}

/// Fetch failures are reported under the domain's names (`image`,
/// `sound_file`); kie's callers know them as the input URLs.
fn rename_fetch(e: DomainError) -> DomainError {
    match e {
        DomainError::InvalidInput { field, reason } => {
            let f = match field.as_str() {
                "image" => "input.image_url",
                "sound_file" | "audio" => "input.audio_url",
                "callback_url" => "callBackUrl",
                other => other,
            };
            DomainError::invalid(f, reason)
        }
        other => other,
    }
}

pub async fn record_info(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, KieError> {
    let account = authenticate(&state, &headers)
        .await
        .map_err(KieError::domain)?;
    let id = mouthpiece_domain::input::present(q.get("taskId").map(String::as_str))
        .ok_or_else(|| KieError::validation("invalid taskId: is required"))?;
    let task = state
        .services
        .tasks
        .get(&account, id)
        .await
        .map_err(KieError::domain)?;
    Ok(ok(Record::from(&task)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_is_over_id_and_timestamp() {
        // Computed independently: printf 'task_1.1700000000' | openssl dgst -sha256 -hmac key -binary | base64
        assert_eq!(
            signature("key", "task_1", 1_700_000_000).as_deref(),
            Some("ID58Rce2nAwtIpfn+sD7iUUJ8ZOCNyiML2w9xRpkngg=")
        );
    }
}
