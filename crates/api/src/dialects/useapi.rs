//! useapi.net's Kling API under `/v1/kling`: linked accounts (the `email`
//! selector and `maxJobs`), asset uploads, TTS, avatars, avatar videos,
//! tasks and the scheduler. Errors are `{"error", "code"}` with plain HTTP
//! statuses; a full account answers 429 with `Retry-After` and `retryAfter`.
//!
//! Task ids are numbers here: Mouthpiece's task ids are already decimal
//! (ms clock + 6 digits, fits in 64 bits), so the same id reads through
//! every dialect. Task status numbers: 5 submitted, 10 processing,
//! 50 failed, 99 succeed (only 99 is documented by useapi.net).

use crate::auth::authenticate;
use crate::dialects::aimlapi::iso8601;
use crate::dialects::shared;
use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use mouthpiece_domain::avatars::{self, Asset, AssetFilter, AssetKind, Avatar, NewAvatar};
use mouthpiece_domain::clock::now_ms;
use mouthpiece_domain::input::{
    present, AudioId, AudioInput, AvatarRequest, CallbackUrl, ImageInput, MediaSource, Mode,
    Performance, Prompt, RequestOrigin, MAX_SOUND_BYTES,
};
use mouthpiece_domain::linked::{self, NewLinkedAccount};
use mouthpiece_domain::task::{CallbackFormat, Delivery};
use mouthpiece_domain::tts::TtsRequest;
use mouthpiece_domain::{Account, DomainError, Task, TaskState};
use mouthpiece_engine::animate::Emotion;
use serde_json::{json, Map, Value};
use std::collections::HashMap;

pub const DIALECT: &str = "useapi";
const BASE: &str = "/v1/kling";
/// Jobs are kept this long, then answer 410.
const JOB_TTL_MS: i64 = 7 * 24 * 3600 * 1000;
const MAX_TTS_CHARS: usize = 150;
const MAX_VIDEO_TEXT_CHARS: usize = 5000;
const MAX_REPLY_URL_CHARS: usize = 1024;
const MAX_REPLY_REF_CHARS: usize = 1024;
/// Suggested wait when an account is at capacity.
const RETRY_AFTER_S: u64 = 10;
const TASK_TYPE: &str = "m2v_avatar_video";

pub fn router() -> Router<AppState> {
    let r = |p: &str| format!("{BASE}{p}");
    Router::new()
        .route(&r("/accounts"), post(add_account).get(list_accounts))
        .route(
            &r("/accounts/{email}"),
            get(get_account).delete(delete_account),
        )
        .route(&r("/assets"), post(upload_asset))
        .route(&r("/assets/download"), get(download))
        .route(
            &r("/assets/uploaded"),
            get(list_uploads).delete(delete_uploads),
        )
        .route(&r("/tts/voices"), get(voices))
        .route(&r("/tts/create"), post(tts_create))
        .route(&r("/avatars"), get(list_avatars).post(create_avatar))
        .route(&r("/avatars/{id}"), delete(delete_avatar))
        .route(&r("/avatars/video"), post(create_video))
        .route(&r("/tasks"), get(list_tasks))
        .route(&r("/tasks/{id}"), get(get_task).delete(delete_task))
        .route(&r("/scheduler"), get(scheduler))
        .route(&r("/scheduler/available"), get(scheduler_available))
        .route(&r("/scheduler/{id}"), delete(cancel_task))
}

/// `/v1/kling/avatars/?email=..` routes as `/v1/kling/avatars?email=..`:
/// trailing slashes are dropped under useapi's prefix (only there; the
/// other dialects' paths are matched as written).
pub fn trim_trailing_slash<B>(mut req: axum::http::Request<B>) -> axum::http::Request<B> {
    let path = req.uri().path();
    let ours = path
        .strip_prefix(BASE)
        .is_some_and(|rest| rest.starts_with('/'));
    if !ours || !path.ends_with('/') {
        return req;
    }
    let trimmed = path.trim_end_matches('/');
    let trimmed = if trimmed.is_empty() { "/" } else { trimmed };
    let pq = match req.uri().query() {
        Some(q) => format!("{trimmed}?{q}"),
        None => trimmed.to_string(),
    };
    let mut parts = req.uri().clone().into_parts();
    if let Ok(pq) = pq.parse() {
        parts.path_and_query = Some(pq);
        if let Ok(uri) = axum::http::Uri::from_parts(parts) {
            *req.uri_mut() = uri;
        }
    }
    req
}

// ---------- errors ----------

#[derive(Debug)]
pub struct UseapiError {
    status: StatusCode,
    error: String,
    /// Seconds, sent as `Retry-After` and `retryAfter`.
    retry_after: Option<u64>,
}

impl UseapiError {
    pub fn new(status: StatusCode, error: impl Into<String>) -> Self {
        Self {
            status,
            error: error.into(),
            retry_after: None,
        }
    }

    pub(crate) fn domain(e: DomainError) -> Self {
        match &e {
            DomainError::Unauthorized(_) => Self::new(StatusCode::UNAUTHORIZED, "Unauthorized"),
            // Messages useapi.net gives verbatim.
            DomainError::InvalidInput { field, reason }
                if field == "Content-Type" || reason == "Unable to locate speakerId" =>
            {
                Self::new(StatusCode::BAD_REQUEST, reason.clone())
            }
            DomainError::InvalidInput { .. } => Self::new(StatusCode::BAD_REQUEST, e.to_string()),
            DomainError::NotFound { .. } => Self::new(StatusCode::NOT_FOUND, e.to_string()),
            DomainError::ConcurrencyLimit { limit } => Self {
                status: StatusCode::TOO_MANY_REQUESTS,
                error: format!(
                    "All accounts are at capacity: {limit} jobs running (maxJobs); retry after a job completes"
                ),
                retry_after: Some(RETRY_AFTER_S),
            },
            DomainError::RateLimited { retry_after_s, .. }
            | DomainError::QueueFull { retry_after_s, .. }
            | DomainError::Busy { retry_after_s }
            | DomainError::TooManyAuthFailures { retry_after_s } => Self {
                status: StatusCode::TOO_MANY_REQUESTS,
                error: e.to_string(),
                retry_after: Some(*retry_after_s),
            },
            DomainError::Unavailable(_) => {
                Self::new(StatusCode::SERVICE_UNAVAILABLE, shared::public_message(&e))
            }
            DomainError::Internal(_) => {
                Self::new(StatusCode::INTERNAL_SERVER_ERROR, shared::public_message(&e))
            }
        }
    }

    fn invalid(field: &str, reason: impl Into<String>) -> Self {
        Self::domain(DomainError::invalid(field, reason))
    }
}

impl IntoResponse for UseapiError {
    fn into_response(self) -> Response {
        let mut body = json!({"error": self.error, "code": self.status.as_u16()});
        if let Some(secs) = self.retry_after {
            let ms = i64::try_from(secs.saturating_mul(1000)).unwrap_or(i64::MAX);
            body["retryAfter"] = json!(iso8601(now_ms().saturating_add(ms)));
            let mut r = (self.status, Json(body)).into_response();
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
            r
        } else {
            (self.status, Json(body)).into_response()
        }
    }
}

/// Unknown paths under `/v1/kling`.
pub fn not_found() -> UseapiError {
    UseapiError::new(StatusCode::NOT_FOUND, "Not found")
}

type Result<T> = std::result::Result<T, UseapiError>;

// ---------- bodies ----------

/// A POST body as fields: JSON object, `application/x-www-form-urlencoded`
/// or `multipart/form-data`.
fn fields(
    headers: &HeaderMap,
    body: std::result::Result<Bytes, BytesRejection>,
    limit: usize,
) -> Result<Map<String, Value>> {
    let raw_ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let ct = raw_ct.to_ascii_lowercase();
    if ct.starts_with("multipart/") {
        let b = body.map_err(|e| {
            UseapiError::new(StatusCode::BAD_REQUEST, format!("Validation error: {e}"))
        })?;
        return multipart_fields(raw_ct, b);
    }
    if ct.starts_with("application/x-www-form-urlencoded") {
        let b = body.map_err(|e| {
            UseapiError::new(StatusCode::BAD_REQUEST, format!("Validation error: {e}"))
        })?;
        let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(&b).map_err(|e| {
            UseapiError::new(
                StatusCode::BAD_REQUEST,
                format!("Validation error: the form could not be read: {e}"),
            )
        })?;
        return Ok(pairs
            .into_iter()
            .map(|(k, v)| (k, Value::String(v)))
            .collect());
    }
    match shared::json_body::<Value>(body, limit) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(UseapiError::new(
            StatusCode::BAD_REQUEST,
            "Validation error: the request body must be a JSON object",
        )),
        Err(e) => Err(UseapiError::new(
            StatusCode::BAD_REQUEST,
            format!("Validation error: {}", e.0),
        )),
    }
}

/// Longest text field of a multipart form (prompts are at most 2000
/// characters, TTS text less; URLs and base64 are not sent this way).
const MAX_FORM_FIELD_BYTES: u64 = 64 * 1024;
/// Fields of one form at most: more is not a request but an attack.
const MAX_FORM_FIELDS: usize = 64;

/// The text fields of a `multipart/form-data` body. Files are refused with
/// a pointer to the upload endpoint: useapi takes media as URLs.
fn multipart_fields(content_type: &str, body: Bytes) -> Result<Map<String, Value>> {
    let bad = |why: String| {
        UseapiError::new(
            StatusCode::BAD_REQUEST,
            format!("Validation error: the multipart form could not be read: {why}"),
        )
    };
    let boundary = multer::parse_boundary(content_type).map_err(|e| bad(e.to_string()))?;
    let limits = multer::Constraints::new()
        .size_limit(multer::SizeLimit::new().per_field(MAX_FORM_FIELD_BYTES));
    let whole = futures::stream::once(async move { Ok::<_, std::convert::Infallible>(body) });
    let mut form = multer::Multipart::with_constraints(whole, boundary, limits);
    // The body is already in memory, so every step is ready at once: this
    // never waits, and keeps the parser callable from the fuzz target.
    futures::executor::block_on(async move {
        let mut m = Map::new();
        while let Some(field) = form.next_field().await.map_err(|e| bad(e.to_string()))? {
            let Some(name) = field.name().map(str::to_string) else {
                return Err(bad("a part has no name".into()));
            };
            if field.file_name().is_some() {
                return Err(UseapiError::invalid(
                    &name,
                    "files are not taken in a form; upload them with POST /v1/kling/assets and pass the returned url",
                ));
            }
            if m.len() >= MAX_FORM_FIELDS {
                return Err(bad(format!("more than {MAX_FORM_FIELDS} fields")));
            }
            let value = field.text().await.map_err(|e| bad(e.to_string()))?;
            m.insert(name, Value::String(value));
        }
        Ok(m)
    })
}

/// A string field; numbers are accepted as their text. Other types are a
/// validation error rather than silently ignored.
fn text<'a>(m: &'a Map<String, Value>, field: &str) -> Result<Option<&'a str>> {
    match m.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.as_str())),
        Some(_) => Err(UseapiError::invalid(field, "must be a string")),
    }
}

fn number_text(m: &Map<String, Value>, field: &str) -> Option<String> {
    match m.get(field) {
        Some(Value::Number(n)) => Some(n.to_string()),
        Some(Value::String(s)) => Some(s.clone()),
        _ => None,
    }
}

// ---------- record shapes ----------

pub fn status_code(s: TaskState) -> u16 {
    match s {
        TaskState::Submitted => 5,
        TaskState::Processing => 10,
        TaskState::Failed => 50,
        TaskState::Succeed => 99,
    }
}

/// A stable number for the account, shown as `userId`.
fn user_id(account_id: &str) -> u64 {
    account_id
        .bytes()
        .fold(0u64, |h, b| h.wrapping_mul(131).wrapping_add(u64::from(b)))
        % 1_000_000_000
}

fn numeric(id: &str) -> Value {
    id.parse::<u64>().map_or_else(|_| json!(id), |n| json!(n))
}

/// `taskInfo.inputs` as useapi lists them (`{name, inputType: "URL", url}`):
/// the portrait as `input`, the speech as `audio`, both the stored copies.
fn inputs(t: &Task) -> Vec<Value> {
    [("input", &t.image_url), ("audio", &t.audio_url)]
        .into_iter()
        .filter_map(|(name, url)| {
            url.as_ref()
                .map(|u| json!({"name": name, "inputType": "URL", "url": u}))
        })
        .collect()
}

/// The record of `GET /tasks/{id}` (B.3).
pub fn record(t: &Task) -> Value {
    let code = status_code(t.status);
    let name = t.status.as_str();
    let final_ = t.status.is_terminal();
    let uid = user_id(&t.account_id);
    let id = numeric(&t.id);
    let prompt = t
        .origin
        .request
        .as_deref()
        .and_then(|r| serde_json::from_str::<Value>(r).ok())
        .and_then(|v| v.get("prompt").cloned())
        .unwrap_or(Value::Null);
    let works: Vec<Value> = if t.status == TaskState::Succeed {
        t.videos
            .iter()
            .enumerate()
            .map(|(i, v)| {
                json!({
                    "workId": id, "workItemId": i, "taskId": id, "userId": uid, "type": TASK_TYPE,
                    "status": code, "status_name": name, "status_final": final_, "contentType": "video",
                    "resource": {"resource": v.watermark_url.as_deref().unwrap_or(&v.url),
                                 "height": v.height, "width": v.width,
                                 "duration": (v.duration * 1000.0).round() as i64, "resourceKey": ""},
                    "cover": {"resource": v.cover_url.as_deref().unwrap_or_default(),
                              "height": v.height, "width": v.width, "duration": 0, "resourceKey": ""},
                    "starNum": 0, "createTime": t.created_at, "updateTime": t.updated_at,
                })
            })
            .collect()
    } else {
        Vec::new()
    };
    let message = match t.status {
        TaskState::Failed => t.status_msg.clone().unwrap_or_else(|| "failed".into()),
        _ => "success".into(),
    };
    let mut out = json!({
        "status": code, "status_name": name, "status_final": final_,
        "etaTime": 0, "etaTimeOverSla": false, "queuingEtaTime": 0, "originEtaTime": 0, "originQueuingEtaTime": 0,
        "message": message,
        "task": {
            "id": id, "userId": uid, "type": TASK_TYPE, "scene": "NORMAL_CREATION",
            "status": code, "status_name": name, "status_final": final_,
            "taskInfo": {"type": TASK_TYPE, "inputs": inputs(t), "arguments": [{"name": "prompt", "value": prompt}],
                         "extraArgs": {}, "callbackPayloads": [], "scene": "NORMAL_CREATION"},
            "favored": false, "deleted": false, "viewed": true,
            "createTime": t.created_at, "updateTime": t.updated_at, "viewTime": t.updated_at,
        },
        "works": works,
    });
    if let Some(e) = &t.origin.profile {
        out["email"] = json!(e);
    }
    if let Some(r) = &t.origin.reference {
        out["replyRef"] = json!(r);
    }
    out
}

/// `replyUrl`: the task record (with `replyRef`) once it ends. Unsigned,
/// as useapi.net's: receivers re-read `GET /tasks/{id}`.
pub struct UseapiCallbacks;

impl CallbackFormat for UseapiCallbacks {
    fn callback_body(&self, task: &Task) -> String {
        record(task).to_string()
    }

    fn reports(&self, status: TaskState) -> bool {
        status.is_terminal()
    }

    fn headers(&self, _d: &Delivery<'_>) -> Vec<(&'static str, String)> {
        Vec::new()
    }
}

fn avatar_json(a: &Avatar) -> Value {
    if a.template {
        json!({"id": a.id, "name": a.nickname, "imageResources": [{"url": a.image_url}], "prompt": a.prompt})
    } else {
        json!({
            "id": a.id, "nickname": a.nickname, "prompt": a.prompt, "scene": a.scene,
            "imageResources": [{"url": a.image_url, "sourceFrom": 2}],
            "ttsSpeaker": a.speaker, "ttsSpeed": format_speed(a.speed), "ttsEmotionKey": a.emotion,
            "createTime": a.created_at, "updateTime": a.updated_at,
        })
    }
}

fn format_speed(s: f64) -> String {
    let t = format!("{s:.1}");
    t.strip_suffix(".0").map(str::to_string).unwrap_or(t)
}

// ---------- handlers ----------

/// The account's newest tasks (the largest page the task list serves),
/// which the task list and the scheduler filter further.
async fn recent_tasks(state: &AppState, account: &Account) -> Result<Vec<Task>> {
    state
        .services
        .tasks
        .list(
            account,
            mouthpiece_domain::input::Page {
                number: 1,
                size: 500,
            },
        )
        .await
        .map_err(UseapiError::domain)
}

async fn account_of(state: &AppState, headers: &HeaderMap) -> Result<Account> {
    authenticate(state, headers)
        .await
        .map_err(UseapiError::domain)
}

fn q<'a>(q: &'a HashMap<String, String>, k: &str) -> Option<&'a str> {
    present(q.get(k).map(String::as_str))
}

fn linked_json(l: &linked::LinkedAccount) -> Value {
    json!({"email": l.email, "maxJobs": l.max_jobs, "created": iso8601(l.created_at)})
}

#[utoipa::path(post, path = "/v1/kling/accounts", tag = "useapi",
    description = "Link an account: email, password (only its SHA-256 is kept), maxJobs 1–50.",
    request_body(content = String, content_type = "application/json", description = "A JSON object (useapi also takes url-encoded forms)"),
    security(("bearer" = [])),
    responses((status = 200, description = "{email, maxJobs, created}"), (status = 400, description = "{error, code}")))]
pub async fn add_account(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: std::result::Result<Bytes, BytesRejection>,
) -> Result<Response> {
    let account = account_of(&state, &headers).await?;
    let m = fields(&headers, body, state.max_request_bytes)?;
    let (pt, did, uid) = (
        text(&m, "passToken")?,
        text(&m, "did")?,
        number_text(&m, "userId"),
    );
    let given = [present(pt).is_some(), present(did).is_some(), uid.is_some()];
    if given.iter().any(|g| *g) && !given.iter().all(|g| *g) {
        return Err(UseapiError::invalid(
            "passToken",
            "passToken, did and userId must be given together",
        ));
    }
    let new = NewLinkedAccount::parse(text(&m, "email")?, text(&m, "password")?, m.get("maxJobs"))
        .map_err(UseapiError::domain)?;
    let l = state
        .services
        .linked
        .put(&account, new)
        .await
        .map_err(UseapiError::domain)?;
    Ok(Json(linked_json(&l)).into_response())
}

pub async fn list_accounts(State(state): State<AppState>, headers: HeaderMap) -> Result<Response> {
    let account = account_of(&state, &headers).await?;
    let all = state
        .services
        .linked
        .list(&account)
        .await
        .map_err(UseapiError::domain)?;
    let m: Map<String, Value> = all
        .iter()
        .map(|l| (l.email.clone(), linked_json(l)))
        .collect();
    Ok(Json(Value::Object(m)).into_response())
}

pub async fn get_account(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(email): Path<String>,
) -> Result<Response> {
    let account = account_of(&state, &headers).await?;
    let l = state
        .services
        .linked
        .get(&account, &email)
        .await
        .map_err(UseapiError::domain)?;
    Ok(Json(linked_json(&l)).into_response())
}

pub async fn delete_account(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(email): Path<String>,
) -> Result<Response> {
    let account = account_of(&state, &headers).await?;
    state
        .services
        .linked
        .delete(&account, &email)
        .await
        .map_err(UseapiError::domain)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn select(
    state: &AppState,
    account: &Account,
    email: Option<&str>,
    max_jobs: Option<u32>,
) -> Result<linked::LinkedAccount> {
    state
        .services
        .linked
        .select(account, email, max_jobs)
        .await
        .map_err(UseapiError::domain)
}

#[utoipa::path(post, path = "/v1/kling/assets/", tag = "useapi",
    description = "Upload the raw body; Content-Type image/png|jpeg, video/mp4|quicktime, audio/wav|wave|mpeg|mp4|flac|aac|ogg.",
    params(("email" = Option<String>, Query, description = "Account selector")),
    request_body(content = Vec<u8>, content_type = "application/octet-stream", description = "The file"),
    security(("bearer" = [])),
    responses((status = 200, description = "{status: 3 (image, audio) | 1 (video), url, message, fileName}"), (status = 400, description = "{error, code}")))]
pub async fn upload_asset(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
    body: std::result::Result<Bytes, BytesRejection>,
) -> Result<Response> {
    let account = account_of(&state, &headers).await?;
    let linked = select(&state, &account, q(&query, "email"), None).await?;
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let body = body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            UseapiError::invalid("body", "is larger than this server accepts")
        } else {
            UseapiError::invalid("body", e.to_string())
        }
    })?;
    let a = state
        .services
        .avatars
        .upload(&account, &linked.email, ct, body)
        .await
        .map_err(UseapiError::domain)?;
    let status = if a.kind == AssetKind::Video { 1 } else { 3 };
    Ok(
        Json(json!({"status": status, "url": a.url, "message": "", "fileName": a.file_name}))
            .into_response(),
    )
}

/// Most ids one `DELETE /assets/uploaded` takes.
const MAX_DELETE_IDS: usize = 10;

/// An upload as Kling's web API lists it.
fn upload_record(a: &Asset, uid: u64) -> Value {
    json!({
        "id": numeric(&a.id),
        "name": a.file_name,
        "userId": uid,
        "contentType": a.kind.as_str(),
        "resource": {
            "resource": a.url,
            "width": a.width,
            "height": a.height,
            "duration": a.duration_ms,
            "resourceKey": a.file_name,
        },
        "cover": if a.kind == AssetKind::Image {
            json!({"resource": a.url, "width": a.width, "height": a.height})
        } else {
            Value::Null
        },
        "createTime": a.created_at,
        "updateTime": a.created_at,
        "favored": false,
        "extraInfo": {"mime": a.mime},
        "entrance": "upload",
    })
}

#[utoipa::path(get, path = "/v1/kling/assets/uploaded/", tag = "useapi",
    description = "The account's uploads: pageNum, pageSize (1-100, default 20), contentType image|video|audio, fileName (part of the name), sort asc|desc.",
    params(("email" = Option<String>, Query, description = "Account selector")),
    security(("bearer" = [])),
    responses((status = 200, description = "{uploadAssetsList: [...]}"), (status = 400, description = "{error, code}")))]
pub async fn list_uploads(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response> {
    let account = account_of(&state, &headers).await?;
    let linked = select(&state, &account, q(&query, "email"), None).await?;
    let page = mouthpiece_domain::input::Page::parse(
        q(&query, "pageNum"),
        q(&query, "pageSize"),
        ("pageNum", 100_000),
        ("pageSize", 100, 20),
    )
    .map_err(UseapiError::domain)?;
    let kind = match q(&query, "contentType").filter(|s| !s.is_empty()) {
        None => None,
        Some(k) => Some(AssetKind::parse(k).ok_or_else(|| {
            UseapiError::invalid(
                "contentType",
                format!("{k:?} is not one of video, image, audio"),
            )
        })?),
    };
    let newest_first = match q(&query, "sort").filter(|s| !s.is_empty()) {
        None | Some("desc") => true,
        Some("asc") => false,
        Some(other) => {
            return Err(UseapiError::invalid(
                "sort",
                format!("{other:?} is not one of asc, desc"),
            ))
        }
    };
    let filter = AssetFilter {
        kind,
        name_contains: q(&query, "fileName").map(str::to_string),
        newest_first,
        page: page.number,
        page_size: page.size,
    };
    let list = state
        .services
        .avatars
        .uploads(&account, &linked.email, &filter)
        .await
        .map_err(UseapiError::domain)?;
    let uid = user_id(&account.id);
    let list: Vec<Value> = list.iter().map(|a| upload_record(a, uid)).collect();
    Ok(Json(json!({"uploadAssetsList": list})).into_response())
}

#[utoipa::path(delete, path = "/v1/kling/assets/uploaded/", tag = "useapi",
    description = "Deletes uploads: id is up to 10 comma-separated ids.",
    params(("email" = Option<String>, Query, description = "Account selector"),
           ("id" = String, Query, description = "Comma-separated upload ids")),
    security(("bearer" = [])),
    responses((status = 200, description = "{deleted: [ids], notFound: [ids]}"), (status = 400, description = "{error, code}")))]
pub async fn delete_uploads(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response> {
    let account = account_of(&state, &headers).await?;
    let linked = select(&state, &account, q(&query, "email"), None).await?;
    let raw = q(&query, "id").unwrap_or_default();
    let ids: Vec<String> = raw
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect();
    if ids.is_empty() {
        return Err(UseapiError::invalid(
            "id",
            "is required: one or more upload ids, comma-separated",
        ));
    }
    if ids.len() > MAX_DELETE_IDS {
        return Err(UseapiError::invalid(
            "id",
            format!(
                "names {} uploads; at most {MAX_DELETE_IDS} at once",
                ids.len()
            ),
        ));
    }
    if let Some(bad) = ids.iter().find(|id| id.parse::<u64>().is_err()) {
        return Err(UseapiError::invalid(
            "id",
            format!("{bad:?} is not a number"),
        ));
    }
    let deleted = state
        .services
        .avatars
        .delete_uploads(&account, &linked.email, &ids)
        .await
        .map_err(UseapiError::domain)?;
    let not_found: Vec<Value> = ids
        .iter()
        .filter(|id| !deleted.contains(id))
        .map(|id| numeric(id))
        .collect();
    let deleted: Vec<Value> = deleted.iter().map(|id| numeric(id)).collect();
    Ok(Json(json!({"deleted": deleted, "notFound": not_found})).into_response())
}

pub async fn voices(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response> {
    let account = account_of(&state, &headers).await?;
    select(&state, &account, q(&query, "email"), None).await?;
    let mut seen = Vec::new();
    let list: Vec<Value> = mouthpiece_domain::voices::VOICES
        .iter()
        .filter(|v| {
            let first = !seen.contains(&v.id);
            seen.push(v.id);
            first
        })
        .map(|v| {
            json!({
                "name": v.name, "speakerId": v.id, "exampleUrl": "", "new": false,
                "language": v.language.as_str(),
                "emotions": Emotion::TTS_KEYS.iter().map(|e| {
                    let k = e.key();
                    let mut name = k.to_string();
                    if let Some(c) = name.get_mut(0..1) { c.make_ascii_uppercase(); }
                    json!({"name": name, "key": k, "enable": true})
                }).collect::<Vec<_>>(),
            })
        })
        .collect();
    let last = list
        .first()
        .and_then(|v| v["speakerId"].as_str())
        .unwrap_or_default()
        .to_string();
    Ok(
        Json(json!({"ttsList": list, "lastSpeakerId": last, "typeList": ["en", "zh"]}))
            .into_response(),
    )
}

#[utoipa::path(post, path = "/v1/kling/tts/create", tag = "useapi",
    description = "Speech from text (≤ 150 chars): speakerId, text, speed 0.8–2.0, emotion.",
    request_body(content = String, content_type = "application/json", description = "A JSON object (useapi also takes url-encoded forms)"),
    security(("bearer" = [])),
    responses((status = 200, description = "{resource, status: 99, status_name, status_final}"), (status = 400, description = "{error}")))]
pub async fn tts_create(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: std::result::Result<Bytes, BytesRejection>,
) -> Result<Response> {
    let account = account_of(&state, &headers).await?;
    let m = fields(&headers, body, state.max_request_bytes)?;
    select(&state, &account, text(&m, "email")?, None).await?;
    let speaker_id = present(text(&m, "speakerId")?)
        .ok_or_else(|| UseapiError::invalid("speakerId", "is required"))?;
    let words =
        present(text(&m, "text")?).ok_or_else(|| UseapiError::invalid("text", "is required"))?;
    let n = words.chars().count();
    if n > MAX_TTS_CHARS {
        return Err(UseapiError::invalid(
            "text",
            format!("is {n} characters long; the limit is {MAX_TTS_CHARS}"),
        ));
    }
    let speed = avatars::parse_speed("speed", m.get("speed"))
        .map_err(UseapiError::domain)?
        .unwrap_or(1.0);
    avatars::parse_emotion("emotion", text(&m, "emotion")?).map_err(UseapiError::domain)?;
    let voice = avatars::speaker(speaker_id.trim())
        .ok_or_else(|| UseapiError::new(StatusCode::BAD_REQUEST, "Unable to locate speakerId"))?;
    let audio = state
        .services
        .tts
        .synthesize(
            &account.id,
            TtsRequest {
                text: words.trim().to_string(),
                voice,
                speed,
            },
        )
        .await
        .map_err(UseapiError::domain)?;
    Ok(Json(json!({"resource": audio.url, "status": 99, "status_name": "succeed", "status_final": true}))
        .into_response())
}

#[utoipa::path(get, path = "/v1/kling/avatars", tag = "useapi",
    params(("email" = Option<String>, Query, description = "Account selector"),
           ("type" = Option<String>, Query, description = "personal (default) | templates")),
    security(("bearer" = [])),
    responses((status = 200, description = "An array of avatars")))]
pub async fn list_avatars(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response> {
    let account = account_of(&state, &headers).await?;
    select(&state, &account, q(&query, "email"), None).await?;
    let list = match q(&query, "type").unwrap_or("personal") {
        "personal" => state.services.avatars.personal(&account).await,
        "templates" => state.services.avatars.templates().await,
        other => {
            return Err(UseapiError::invalid(
                "type",
                format!("{other:?} is not one of personal, templates"),
            ))
        }
    }
    .map_err(UseapiError::domain)?;
    Ok(Json(list.iter().map(avatar_json).collect::<Vec<_>>()).into_response())
}

#[utoipa::path(post, path = "/v1/kling/avatars", tag = "useapi",
    description = "Save an avatar: imageUrl (required), nickname ≤ 30, prompt ≤ 2000, scene, ttsSpeaker, ttsSpeed, ttsEmotionKey; the rest is filled in.",
    request_body(content = String, content_type = "application/json", description = "A JSON object (useapi also takes url-encoded forms)"),
    security(("bearer" = [])),
    responses((status = 200, description = "{id, status: SUCCESS}"), (status = 400, description = "{error, code}")))]
pub async fn create_avatar(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: std::result::Result<Bytes, BytesRejection>,
) -> Result<Response> {
    let account = account_of(&state, &headers).await?;
    let m = fields(&headers, body, state.max_request_bytes)?;
    let linked = select(&state, &account, text(&m, "email")?, None).await?;
    let new = NewAvatar::parse(
        text(&m, "imageUrl")?,
        text(&m, "nickname")?,
        text(&m, "prompt")?,
        text(&m, "scene")?,
        text(&m, "ttsSpeaker")?,
        m.get("ttsSpeed"),
        text(&m, "ttsEmotionKey")?,
    )
    .map_err(UseapiError::domain)?;
    let a = state
        .services
        .avatars
        .create(
            &state.services.tasks,
            state.analyzer.get().cloned(),
            &account,
            &linked.email,
            new,
        )
        .await
        .map_err(UseapiError::domain)?;
    Ok(Json(json!({"id": a.id, "status": "SUCCESS"})).into_response())
}

pub async fn delete_avatar(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response> {
    let account = account_of(&state, &headers).await?;
    select(&state, &account, q(&query, "email"), None).await?;
    if avatars::is_template_id(id.trim()) {
        return Err(UseapiError::new(
            StatusCode::FORBIDDEN,
            "template avatars cannot be deleted",
        ));
    }
    state
        .services
        .avatars
        .delete(&account, &id)
        .await
        .map_err(UseapiError::domain)?;
    Ok(Json(json!({"id": id, "status": "SUCCESS"})).into_response())
}

/// Checks a `POST /avatars/video` body into a request (speech not yet made).
struct VideoPlan {
    avatar_id: Option<String>,
    image_url: Option<MediaSource>,
    audio_url: Option<MediaSource>,
    text: Option<String>,
    speaker_id: Option<String>,
    speed: Option<f64>,
    emotion: Option<Emotion>,
    prompt: Option<String>,
    mode: Mode,
    max_jobs: Option<u32>,
    reply_url: Option<CallbackUrl>,
    reply_ref: Option<String>,
}

fn plan_video(m: &Map<String, Value>) -> Result<VideoPlan> {
    let avatar_id = number_text(m, "avatarId").filter(|s| !s.trim().is_empty());
    let image = present(text(m, "imageUrl")?);
    let image_url = match (&avatar_id, image) {
        (Some(_), Some(_)) => {
            return Err(UseapiError::invalid(
                "avatarId",
                "Provide either avatarId OR imageUrl, not both",
            ))
        }
        (None, None) => {
            return Err(UseapiError::invalid(
                "avatarId",
                "Provide either avatarId OR imageUrl",
            ))
        }
        (_, Some(u)) => Some(
            ImageInput::parse(Some(u))
                .map_err(|e| UseapiError::domain(rename(e, "imageUrl")))?
                .0,
        ),
        (Some(_), None) => None,
    };
    let audio = present(text(m, "audioUrl")?);
    let words = present(text(m, "text")?);
    let (audio_url, words) = match (audio, words) {
        (Some(_), Some(_)) => {
            return Err(UseapiError::invalid(
                "audioUrl",
                "Provide either audioUrl OR text, not both",
            ))
        }
        (None, None) => {
            return Err(UseapiError::invalid(
                "audioUrl",
                "Provide either audioUrl OR text",
            ))
        }
        (Some(a), None) => (
            Some(MediaSource::parse("audioUrl", a, MAX_SOUND_BYTES).map_err(UseapiError::domain)?),
            None,
        ),
        (None, Some(t)) => {
            let n = t.chars().count();
            if n > MAX_VIDEO_TEXT_CHARS {
                return Err(UseapiError::invalid(
                    "text",
                    format!("is {n} characters long; the limit is {MAX_VIDEO_TEXT_CHARS}"),
                ));
            }
            (None, Some(t.trim().to_string()))
        }
    };
    let speaker_id = present(text(m, "speakerId")?).map(|s| s.trim().to_string());
    if let Some(s) = &speaker_id {
        if avatars::speaker(s).is_none() {
            return Err(UseapiError::new(
                StatusCode::BAD_REQUEST,
                "Unable to locate speakerId",
            ));
        }
    }
    let mode = match present(text(m, "mode")?) {
        None | Some("std") => Mode::Std,
        Some("pro") => Mode::Pro,
        Some(other) => {
            return Err(UseapiError::invalid(
                "mode",
                format!("{other:?} is not one of std, pro"),
            ))
        }
    };
    let reply_url = match present(text(m, "replyUrl")?) {
        Some(u) if u.len() > MAX_REPLY_URL_CHARS => {
            return Err(UseapiError::new(
                StatusCode::BAD_REQUEST,
                "replyUrl is too long",
            ))
        }
        u => CallbackUrl::parse(u).map_err(|e| UseapiError::domain(rename(e, "replyUrl")))?,
    };
    let reply_ref = match number_text(m, "replyRef") {
        Some(r) if r.chars().count() > MAX_REPLY_REF_CHARS => {
            return Err(UseapiError::invalid(
                "replyRef",
                format!("is longer than {MAX_REPLY_REF_CHARS} characters"),
            ))
        }
        r => r.filter(|r| !r.is_empty()),
    };
    Ok(VideoPlan {
        avatar_id,
        image_url,
        audio_url,
        text: words,
        speaker_id,
        speed: avatars::parse_speed("speed", m.get("speed")).map_err(UseapiError::domain)?,
        emotion: avatars::parse_emotion("emotion", text(m, "emotion")?)
            .map_err(UseapiError::domain)?,
        prompt: avatars::parse_prompt("prompt", text(m, "prompt")?).map_err(UseapiError::domain)?,
        mode,
        max_jobs: linked::parse_max_jobs(m.get("maxJobs")).map_err(UseapiError::domain)?,
        reply_url,
        reply_ref,
    })
}

fn rename(e: DomainError, field: &str) -> DomainError {
    match e {
        DomainError::InvalidInput { reason, .. } => DomainError::invalid(field, reason),
        other => other,
    }
}

/// The domain reports its own field names; useapi's callers know these.
fn rename_fetch(e: DomainError) -> DomainError {
    match e {
        DomainError::InvalidInput { field, reason } => {
            let f = match field.as_str() {
                "image" => "imageUrl",
                "sound_file" | "audio" => "audioUrl",
                "audio_id" => "text",
                "callback_url" => "replyUrl",
                other => other,
            };
            DomainError::invalid(f, reason)
        }
        other => other,
    }
}

/// The `POST /avatars/video` body, sent with `content_type` (JSON, a
/// url-encoded form or a multipart form), checked as the handler checks it
/// before touching the store: the fuzz target's entry point. The error is
/// the message the caller would get.
pub fn parse_video_body(body: &[u8], content_type: &str) -> std::result::Result<(), String> {
    let mut headers = HeaderMap::new();
    let ct = HeaderValue::from_str(content_type).map_err(|e| e.to_string())?;
    headers.insert(header::CONTENT_TYPE, ct);
    let m = fields(&headers, Ok(Bytes::copy_from_slice(body)), usize::MAX).map_err(|e| e.error)?;
    plan_video(&m).map(|_| ()).map_err(|e| e.error)
}

#[utoipa::path(post, path = "/v1/kling/avatars/video", tag = "useapi",
    description = "avatarId XOR imageUrl, audioUrl XOR text (+ speakerId), speed, emotion, prompt, mode std|pro, maxJobs, replyUrl, replyRef.",
    request_body(content = String, content_type = "application/json", description = "A JSON object (useapi also takes url-encoded forms)"),
    security(("bearer" = [])),
    responses((status = 200, description = "The task record, task.id numeric"), (status = 400, description = "{error, code}"),
              (status = 429, description = "All accounts at capacity: Retry-After, retryAfter")))]
pub async fn create_video(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: std::result::Result<Bytes, BytesRejection>,
) -> Result<Response> {
    let account = account_of(&state, &headers).await?;
    let m = fields(&headers, body, state.max_request_bytes)?;
    let plan = plan_video(&m)?;
    let linked = select(&state, &account, text(&m, "email")?, plan.max_jobs).await?;
    let services = &state.services;
    let avatar = match &plan.avatar_id {
        Some(id) => Some(
            services
                .avatars
                .defaults(&account, id)
                .await
                .map_err(UseapiError::domain)?,
        ),
        None => None,
    };
    let image = match (&plan.image_url, &avatar) {
        (Some(src), _) => src.clone(),
        (None, Some(a)) => MediaSource::Inline(a.image.clone()),
        (None, None) => {
            return Err(UseapiError::invalid(
                "avatarId",
                "Provide either avatarId OR imageUrl",
            ))
        }
    };
    let speed = plan
        .speed
        .or(avatar.as_ref().map(|a| a.speed))
        .unwrap_or(1.0);
    let emotion = plan.emotion.or(avatar.as_ref().and_then(|a| a.emotion));
    // Before making any speech: a full account is refused at once.
    services
        .tasks
        .ensure_capacity(&account, Some(&linked.slot()))
        .await
        .map_err(UseapiError::domain)?;
    let audio = match (&plan.audio_url, &plan.text) {
        (Some(src), _) => AudioInput::Sound(src.clone()),
        (None, Some(words)) => {
            let speaker_id = plan
                .speaker_id
                .clone()
                .or(avatar.as_ref().map(|a| a.speaker.clone()))
                .ok_or_else(|| UseapiError::invalid("speakerId", "is required when using text"))?;
            let voice = avatars::speaker(&speaker_id).ok_or_else(|| {
                UseapiError::new(StatusCode::BAD_REQUEST, "Unable to locate speakerId")
            })?;
            let audio = services
                .tts
                .synthesize(
                    &account.id,
                    TtsRequest {
                        text: words.clone(),
                        voice,
                        speed,
                    },
                )
                .await
                .map_err(|e| UseapiError::domain(rename_fetch(e)))?;
            AudioInput::AudioId(AudioId(audio.audio_id))
        }
        (None, None) => {
            return Err(UseapiError::invalid(
                "audioUrl",
                "Provide either audioUrl OR text",
            ))
        }
    };
    let prompt = plan.prompt.clone().or_else(|| {
        avatar
            .is_none()
            .then(|| avatars::DEFAULT_PROMPT.to_string())
    });
    let req = AvatarRequest {
        image: ImageInput(image),
        audio,
        prompt: Prompt::parse(prompt.as_deref())
            .map_err(|e| UseapiError::domain(rename(e, "prompt")))?,
        mode: plan.mode,
        watermark: true,
        callback_url: plan.reply_url.clone(),
        external_task_id: None,
        dialect: DIALECT,
        origin: RequestOrigin {
            profile: Some(linked.email.clone()),
            reference: plan.reply_ref.clone(),
            request: Some(json!({"prompt": prompt}).to_string()),
            model: None,
        },
        performance: Performance {
            emotion,
            avatar_prompt: avatar.as_ref().map(|a| a.prompt.clone()),
        },
        linked: Some(linked.slot()),
    };
    let task = services
        .tasks
        .submit(&account, req)
        .await
        .map_err(|e| UseapiError::domain(rename_fetch(e)))?;
    Ok(Json(record(&task)).into_response())
}

async fn task_of(state: &AppState, account: &Account, id: &str) -> Result<Task> {
    if id.trim().is_empty() || !id.trim().bytes().all(|b| b.is_ascii_digit()) {
        return Err(UseapiError::invalid("task_id", "must be a number"));
    }
    let t = state
        .services
        .tasks
        .get(account, id)
        .await
        .map_err(UseapiError::domain)?;
    if now_ms() - t.created_at > JOB_TTL_MS {
        return Err(UseapiError::new(StatusCode::GONE, "Job has expired"));
    }
    Ok(t)
}

#[utoipa::path(get, path = "/v1/kling/tasks/{id}", tag = "useapi",
    params(("id" = u64, Path, description = "Task id")),
    security(("bearer" = [])),
    responses((status = 200, description = "status 5|10|50|99, status_name, status_final, task, works"),
              (status = 404, description = "{error, code}"), (status = 410, description = "Job has expired")))]
pub async fn get_task(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response> {
    let account = account_of(&state, &headers).await?;
    let t = task_of(&state, &account, &id).await?;
    Ok(Json(record(&t)).into_response())
}

pub async fn delete_task(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response> {
    let account = account_of(&state, &headers).await?;
    let t = task_of(&state, &account, &id).await?;
    state
        .services
        .tasks
        .delete(&account, &t.id)
        .await
        .map_err(UseapiError::domain)?;
    Ok(Json(json!({"id": numeric(&t.id), "deleted": true})).into_response())
}

pub async fn cancel_task(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response> {
    let account = account_of(&state, &headers).await?;
    let t = task_of(&state, &account, &id).await?;
    let t = state
        .services
        .tasks
        .cancel(&account, &t.id, "cancelled by its owner")
        .await
        .map_err(UseapiError::domain)?;
    Ok(Json(record(&t)).into_response())
}

fn ms_param(query: &HashMap<String, String>, k: &str) -> Result<Option<i64>> {
    match q(query, k) {
        None => Ok(None),
        Some(v) => v
            .trim()
            .parse::<i64>()
            .map(Some)
            .map_err(|_| UseapiError::invalid(k, "must be Unix milliseconds")),
    }
}

pub async fn list_tasks(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response> {
    let account = account_of(&state, &headers).await?;
    let page = mouthpiece_domain::input::Page::parse(
        None,
        q(&query, "pageSize"),
        ("pageNum", 1),
        ("pageSize", 500, 30),
    )
    .map_err(UseapiError::domain)?;
    let (before, after) = (
        ms_param(&query, "createdBefore")?,
        ms_param(&query, "createdAfter")?,
    );
    match q(&query, "contentType") {
        None | Some("video") => {}
        Some("image") | Some("audio") => return Ok(Json(json!({"tasks": []})).into_response()),
        Some(other) => {
            return Err(UseapiError::invalid(
                "contentType",
                format!("{other:?} is not one of video, image, audio"),
            ))
        }
    }
    let email = q(&query, "email").map(|e| e.trim().to_ascii_lowercase());
    let all = recent_tasks(&state, &account).await?;
    let tasks: Vec<Value> = all
        .iter()
        .filter(|t| before.is_none_or(|b| t.created_at < b))
        .filter(|t| after.is_none_or(|a| t.created_at > a))
        .filter(|t| email.is_none() || t.origin.profile == email)
        .take(page.size as usize)
        .map(record)
        .collect();
    Ok(Json(json!({"tasks": tasks})).into_response())
}

pub async fn scheduler(State(state): State<AppState>, headers: HeaderMap) -> Result<Response> {
    let account = account_of(&state, &headers).await?;
    let all = recent_tasks(&state, &account).await?;
    let executing: Vec<Value> = all
        .iter()
        .filter(|t| !t.status.is_terminal())
        .map(|t| {
            json!({"taskId": numeric(&t.id), "email": t.origin.profile, "status": status_code(t.status),
                   "status_name": t.status.as_str(), "started": iso8601(t.created_at), "replyRef": t.origin.reference})
        })
        .collect();
    Ok(Json(json!({"executing": executing})).into_response())
}

pub async fn scheduler_available(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response> {
    let account = account_of(&state, &headers).await?;
    let load = state
        .services
        .linked
        .load(&account)
        .await
        .map_err(UseapiError::domain)?;
    let accounts: Vec<Value> = load
        .iter()
        .map(|(l, n)| {
            json!({"email": l.email, "maxJobs": l.max_jobs, "executing": n,
                   "available": l.max_jobs.saturating_sub(*n)})
        })
        .collect();
    let available: u32 = load
        .iter()
        .map(|(l, n)| l.max_jobs.saturating_sub(*n))
        .sum();
    Ok(Json(json!({"available": available, "accounts": accounts})).into_response())
}

/// `GET /assets/download?workIds=`: the clean (unwatermarked) masters.
pub async fn download(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response> {
    let account = account_of(&state, &headers).await?;
    let ids = q(&query, "workIds").ok_or_else(|| UseapiError::invalid("workIds", "is required"))?;
    if let Some(types) = q(&query, "fileTypes") {
        if let Some(bad) = types.split(',').map(str::trim).find(|t| *t != "MP4") {
            return Err(UseapiError::invalid(
                "fileTypes",
                format!("{bad:?} is not available for avatar videos; use MP4"),
            ));
        }
    }
    let mut urls = Vec::new();
    for id in ids.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let t = task_of(&state, &account, id).await?;
        let v = t
            .videos
            .first()
            .filter(|_| t.status == TaskState::Succeed)
            .ok_or_else(|| {
                UseapiError::new(StatusCode::NOT_FOUND, format!("work {id} has no video yet"))
            })?;
        urls.push(v.url.clone());
    }
    let first = urls
        .first()
        .cloned()
        .ok_or_else(|| UseapiError::invalid("workIds", "is required"))?;
    Ok(Json(json!({"cdnUrl": first, "cdnUrls": urls})).into_response())
}
