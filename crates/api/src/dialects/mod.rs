//! Provider dialects. Each one is a thin adapter: its JSON in, domain types
//! and services in the middle, its own envelope and error codes out.
//! Kling's API, useapi.net's, kie.ai's jobs and AI/ML API's generations share one
//! task store, so a task is readable through any of them (within its
//! account).

pub mod aimlapi;
pub mod kie;
pub mod kling;
pub mod shared;
pub mod useapi;

use crate::request_id::RequestId;
use axum::http::{Method, Uri};
use axum::response::{IntoResponse, Response};

/// Unknown paths answer in the envelope of the dialect that owns the prefix.
pub async fn not_found(rid: RequestId, method: Method, uri: Uri) -> Response {
    let path = uri.path();
    let under = |prefix: &str| path == prefix || path.starts_with(&format!("{prefix}/"));
    if under("/v1/kling") {
        useapi::not_found().into_response()
    } else if under("/v2") {
        aimlapi::not_found(&method, &uri, &rid).into_response()
    } else if under("/api/v1") {
        kie::not_found().into_response()
    } else {
        kling::not_found(rid).await.into_response()
    }
}
