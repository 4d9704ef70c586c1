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
use mouthpiece_domain::DomainError;

/// Which dialect owns a path: its prefix decides.
enum Owner {
    Useapi,
    Aimlapi,
    Kie,
    Kling,
}

fn owner(path: &str) -> Owner {
    let under = |prefix: &str| path == prefix || path.starts_with(&format!("{prefix}/"));
    if under("/v1/kling") {
        Owner::Useapi
    } else if under("/v2") {
        Owner::Aimlapi
    } else if under("/api/v1") {
        Owner::Kie
    } else {
        Owner::Kling
    }
}

/// A refusal made before any handler runs (middleware), in the envelope of
/// the dialect that owns the path.
pub fn refusal(e: DomainError, rid: &RequestId, uri: &Uri) -> Response {
    match owner(uri.path()) {
        Owner::Useapi => useapi::UseapiError::domain(e).into_response(),
        Owner::Aimlapi => aimlapi::AimlError::domain(e, uri, rid).into_response(),
        Owner::Kie => kie::KieError::domain(e).into_response(),
        Owner::Kling => kling::KlingError::domain(e, rid).into_response(),
    }
}

/// Unknown paths answer in the envelope of the dialect that owns the prefix.
pub async fn not_found(rid: RequestId, method: Method, uri: Uri) -> Response {
    match owner(uri.path()) {
        Owner::Useapi => useapi::not_found().into_response(),
        Owner::Aimlapi => aimlapi::not_found(&method, &uri, &rid).into_response(),
        Owner::Kie => kie::not_found().into_response(),
        Owner::Kling => kling::not_found(rid).await.into_response(),
    }
}
