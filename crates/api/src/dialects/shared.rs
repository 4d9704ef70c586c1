//! Pieces every non-Kling dialect uses the same way: reading a JSON body
//! and turning a domain error into a message fit for the caller.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::http::StatusCode;
use mouthpiece_domain::DomainError;

/// Why a body could not be read; each dialect wraps it in its envelope.
#[derive(Debug)]
pub struct BodyError(pub String);

/// The body as JSON of type `T`, with a readable reason when it is not.
pub fn json_body<T: serde::de::DeserializeOwned>(
    body: Result<Bytes, BytesRejection>,
    limit: usize,
) -> Result<T, BodyError> {
    let body = body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            BodyError(format!(
                "the request body is larger than {} MB",
                limit / (1024 * 1024)
            ))
        } else {
            BodyError(format!("the request body could not be read: {e}"))
        }
    })?;
    serde_json::from_slice(&body)
        .map_err(|e| BodyError(format!("the request body is not the expected JSON: {e}")))
}

/// The error's message; internal details go to the log only.
pub fn public_message(e: &DomainError) -> String {
    match e {
        DomainError::Internal(detail) => {
            tracing::error!(%detail, "internal error");
            "internal error".into()
        }
        other => other.to_string(),
    }
}

/// Adds `Retry-After` (seconds) when the refusal says when to come back.
pub fn retry_after(
    mut resp: axum::response::Response,
    seconds: Option<u64>,
) -> axum::response::Response {
    if let Some(s) = seconds {
        resp.headers_mut().insert(
            axum::http::header::RETRY_AFTER,
            axum::http::HeaderValue::from(s),
        );
    }
    resp
}
