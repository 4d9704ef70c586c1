//! Downloads of stored files through signed URLs, with single-range
//! requests (206) and the right content type. Works the same for any blob
//! store, since it reads through the `BlobStore` trait.

use crate::state::AppState;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use mouthpiece_domain::clock::now_s;
use mouthpiece_domain::files::content_type;
use serde::Deserialize;

#[derive(Deserialize)]
pub struct Signed {
    expires: Option<i64>,
    signature: Option<String>,
}

fn plain(status: StatusCode, message: &str) -> Response {
    (
        status,
        axum::Json(serde_json::json!({ "message": message })),
    )
        .into_response()
}

/// A byte range `start..=end` of a file of `size` bytes, or why not.
#[derive(Debug, PartialEq, Eq)]
pub enum RangeSpec {
    Full,
    Partial(u64, u64),
    Unsatisfiable,
}

/// Parses one `bytes=` range; several ranges get the whole file.
pub fn parse_range(value: Option<&str>, size: u64) -> RangeSpec {
    let Some(v) = value.map(str::trim) else {
        return RangeSpec::Full;
    };
    let Some(spec) = v.strip_prefix("bytes=") else {
        return RangeSpec::Full;
    };
    if spec.contains(',') {
        return RangeSpec::Full;
    }
    let Some((a, b)) = spec.trim().split_once('-') else {
        return RangeSpec::Full;
    };
    let (a, b) = (a.trim(), b.trim());
    if size == 0 {
        return RangeSpec::Unsatisfiable;
    }
    let range = if a.is_empty() {
        match b.parse::<u64>() {
            Ok(0) | Err(_) => return RangeSpec::Unsatisfiable,
            Ok(n) => (size.saturating_sub(n), size - 1),
        }
    } else {
        let Ok(start) = a.parse::<u64>() else {
            return RangeSpec::Full;
        };
        let end = if b.is_empty() {
            size - 1
        } else {
            match b.parse::<u64>() {
                Ok(e) if e >= start => e.min(size - 1),
                _ => return RangeSpec::Full,
            }
        };
        (start, end)
    };
    if range.0 >= size {
        RangeSpec::Unsatisfiable
    } else {
        RangeSpec::Partial(range.0, range.1)
    }
}

pub async fn download(
    State(state): State<AppState>,
    method: Method,
    Path(key): Path<String>,
    Query(q): Query<Signed>,
    headers: HeaderMap,
) -> Response {
    let (Some(expires), Some(signature)) = (q.expires, q.signature.as_deref()) else {
        return plain(StatusCode::FORBIDDEN, "this URL is not signed");
    };
    if !state
        .services
        .signer
        .verify(&key, expires, signature, now_s())
    {
        return plain(StatusCode::FORBIDDEN, "this URL is invalid or has expired");
    }
    let blobs = &state.services.blobs;
    if let Some(valid) = state.presign {
        match blobs.presigned_url(&key, valid).await {
            Ok(Some(url)) => {
                if let Ok(v) = HeaderValue::from_str(&url) {
                    let mut r = Response::new(Body::empty());
                    *r.status_mut() = StatusCode::TEMPORARY_REDIRECT;
                    r.headers_mut().insert(header::LOCATION, v);
                    return r;
                }
            }
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, "presigning failed; serving the file directly"),
        }
    }
    let size = match blobs.size(&key).await {
        Ok(Some(s)) => s,
        Ok(None) => return plain(StatusCode::NOT_FOUND, "the file no longer exists"),
        Err(e) => {
            tracing::error!(error = %e, "reading a file failed");
            return plain(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the file could not be read",
            );
        }
    };
    let range = parse_range(
        headers.get(header::RANGE).and_then(|v| v.to_str().ok()),
        size,
    );
    let (status, start, len) = match range {
        RangeSpec::Full => (StatusCode::OK, 0, size),
        RangeSpec::Partial(a, b) => (StatusCode::PARTIAL_CONTENT, a, b - a + 1),
        RangeSpec::Unsatisfiable => {
            let mut r = plain(
                StatusCode::RANGE_NOT_SATISFIABLE,
                "the range is outside the file",
            );
            if let Ok(v) = HeaderValue::from_str(&format!("bytes */{size}")) {
                r.headers_mut().insert(header::CONTENT_RANGE, v);
            }
            return r;
        }
    };
    let body = if method == Method::HEAD || len == 0 {
        Body::empty()
    } else {
        match blobs.read_range(&key, start, len).await {
            Ok(stream) => Body::from_stream(stream),
            Err(e) => {
                tracing::error!(error = %e, "reading a file failed");
                return plain(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "the file could not be read",
                );
            }
        }
    };
    let mut resp = Response::new(body);
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(content_type(&key)),
    );
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, max-age=3600"),
    );
    if status == StatusCode::PARTIAL_CONTENT {
        if let Ok(v) = HeaderValue::from_str(&format!("bytes {start}-{}/{size}", start + len - 1)) {
            h.insert(header::CONTENT_RANGE, v);
        }
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert_eq!(parse_range(None, 100), RangeSpec::Full);
        assert_eq!(
            parse_range(Some("bytes=0-9"), 100),
            RangeSpec::Partial(0, 9)
        );
        assert_eq!(
            parse_range(Some("bytes=90-"), 100),
            RangeSpec::Partial(90, 99)
        );
        assert_eq!(
            parse_range(Some("bytes=-10"), 100),
            RangeSpec::Partial(90, 99)
        );
        assert_eq!(
            parse_range(Some("bytes=50-500"), 100),
            RangeSpec::Partial(50, 99)
        );
        assert_eq!(
            parse_range(Some("bytes=100-"), 100),
            RangeSpec::Unsatisfiable
        );
        assert_eq!(parse_range(Some("bytes=0-1,5-6"), 100), RangeSpec::Full);
        assert_eq!(parse_range(Some("items=0-1"), 100), RangeSpec::Full);
    }
}
