//! Every request gets an id: it is the envelope's `request_id`, the
//! `x-request-id` response header, and a field of every log line written
//! while the request is handled.

use crate::client_ip::TrustedProxies;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Instant;
use tracing::Instrument;

#[derive(Debug, Clone)]
pub struct RequestId(pub String);

pub const HEADER: &str = "x-request-id";

/// The client's address, set here from the connection or a trusted
/// proxy's `X-Forwarded-For` (never from the client: a value it sends is
/// dropped), for the auth lockout. Handlers see headers, so it travels as one.
pub const CLIENT_HEADER: &str = "x-mouthpiece-client-ip";

pub async fn middleware(
    State(proxies): State<Arc<TrustedProxies>>,
    mut req: Request,
    next: Next,
) -> Response {
    let id = uuid::Uuid::new_v4().to_string();
    req.extensions_mut().insert(RequestId(id.clone()));
    let client = req
        .extensions()
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|c| proxies.client(c.0.ip(), req.headers()));
    req.headers_mut().remove(CLIENT_HEADER);
    if let Some(v) = client.and_then(|ip| HeaderValue::from_str(&ip.to_string()).ok()) {
        req.headers_mut().insert(CLIENT_HEADER, v);
    }
    let client = client.map(|ip| ip.to_string()).unwrap_or_default();
    let span = tracing::info_span!(
        "request",
        request_id = %id,
        client = %client,
        method = %req.method(),
        path = %req.uri().path()
    );
    let started = Instant::now();
    let mut resp = next.run(req).instrument(span.clone()).await;
    if let Ok(v) = HeaderValue::from_str(&id) {
        resp.headers_mut().insert(HEADER, v);
    }
    let status = resp.status().as_u16();
    span.in_scope(|| {
        tracing::info!(
            status,
            ms = started.elapsed().as_millis() as u64,
            "request handled"
        );
    });
    metrics::counter!("mouthpiece_http_requests_total", "status" => status.to_string())
        .increment(1);
    resp
}

impl<S: Send + Sync> FromRequestParts<S> for RequestId {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(parts
            .extensions
            .get::<RequestId>()
            .cloned()
            .unwrap_or_else(|| RequestId(uuid::Uuid::new_v4().to_string())))
    }
}
