//! The web playground: the page and its assets (built from `web/` and
//! embedded in the binary), and the one helper endpoint the public API
//! lacks, the face box of an uploaded portrait for the preview.

use crate::auth::authenticate;
use crate::dialects::kling::{Envelope, KlingError};
use crate::request_id::RequestId;
use crate::state::AppState;
use axum::body::{Body, Bytes};
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use mouthpiece_domain::DomainError;
use mouthpiece_engine::media::{decode_portrait, PortraitLimits};
use rust_embed::RustEmbed;
use serde::Serialize;

/// `web/dist`, produced by `npm run build` in `web/` (scripts/setup.sh);
/// build.rs stops the build with a clear message when it is missing.
#[derive(RustEmbed)]
#[folder = "../../web/dist/"]
struct Assets;

pub const FACE_PATH: &str = "/v1/playground/face";
const DETECT_SIDE: u32 = 1024;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(index))
        .route("/assets/{*file}", get(asset))
        .route(FACE_PATH, post(face))
}

// Media may come from `public_url` or a presigned blob-store URL, so only
// scripts, styles and API calls are pinned to this origin.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; connect-src 'self'; \
    img-src * data: blob:; media-src * data: blob:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'";

fn serve(path: &str, headers: &HeaderMap, cache: &'static str) -> Response {
    let Some(file) = Assets::get(path) else {
        return (StatusCode::NOT_FOUND, "not found").into_response();
    };
    let etag = format!("\"{}\"", hex_of(&file.metadata.sha256_hash()[..16]));
    let matches = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
    let mut resp = if matches {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        let mut r = Response::new(Body::from(file.data.into_owned()));
        if let Ok(ct) = HeaderValue::from_str(file.metadata.mimetype()) {
            r.headers_mut().insert(header::CONTENT_TYPE, ct);
        }
        r
    };
    let h = resp.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    if let Ok(v) = HeaderValue::from_str(&etag) {
        h.insert(header::ETAG, v);
    }
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    resp
}

fn hex_of(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The page itself: revalidated on every load, so a new build shows at once.
pub async fn index(headers: HeaderMap) -> Response {
    serve("index.html", &headers, "no-cache")
}

/// Vite's hashed bundles: a new build gets new names, so cache for good.
pub async fn asset(Path(file): Path<String>, headers: HeaderMap) -> Response {
    serve(
        &format!("assets/{file}"),
        &headers,
        "public, max-age=31536000, immutable",
    )
}

#[derive(Debug, Serialize)]
pub struct FaceBox {
    pub x: f32,
    pub y: f32,
    pub w: f32,
    pub h: f32,
}

/// The portrait as the renderer sees it (EXIF orientation applied) and its
/// faces, largest (the one animated) first.
#[derive(Debug, Serialize)]
pub struct FaceData {
    pub width: u32,
    pub height: u32,
    pub faces: Vec<FaceBox>,
}

/// `POST /v1/playground/face` with the raw image as the body: the face
/// boxes the renderer would use, or a Kling-style error saying why not.
pub async fn face(
    State(state): State<AppState>,
    rid: RequestId,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, KlingError> {
    let err = |e: DomainError| KlingError::domain(e, &rid);
    authenticate(&state, &headers).await.map_err(err)?;
    let body = body.map_err(|e| err(DomainError::invalid("image", e.body_text())))?;
    if body.is_empty() {
        return Err(err(DomainError::invalid(
            "image",
            "is empty: send the picture as the request body",
        )));
    }
    // Same checks and wording as a real render.
    mouthpiece_domain::media::check_image(body.clone())
        .await
        .map_err(err)?;
    let analyzer = state.analyzer.get().cloned().ok_or_else(|| {
        err(DomainError::Unavailable(
            "the face models are still loading; try again in a few seconds".into(),
        ))
    })?;
    let data = tokio::task::spawn_blocking(move || {
        let img = decode_portrait(&body, &PortraitLimits::default())
            .map_err(|e| DomainError::invalid("image", e.to_string()))?;
        // A preview needs no full-resolution search: detect on a copy of at
        // most DETECT_SIDE px a side and scale the boxes back.
        let side = img.width().max(img.height());
        let scale = (side as f32 / DETECT_SIDE as f32).max(1.0);
        let small = if scale > 1.0 {
            image::imageops::resize(
                &img,
                ((img.width() as f32 / scale).round() as u32).max(1),
                ((img.height() as f32 / scale).round() as u32).max(1),
                image::imageops::FilterType::Triangle,
            )
        } else {
            img.clone()
        };
        let faces = analyzer
            .analyze_all(&small)
            .unwrap_or_default()
            .into_iter()
            .map(|f| FaceBox {
                x: f.rect.x * scale,
                y: f.rect.y * scale,
                w: f.rect.w * scale,
                h: f.rect.h * scale,
            })
            .collect::<Vec<_>>();
        Ok::<_, DomainError>(FaceData {
            width: img.width(),
            height: img.height(),
            faces,
        })
    })
    .await
    .map_err(|e| err(DomainError::internal(e)))?
    .map_err(err)?;
    if data.faces.is_empty() {
        return Err(err(DomainError::invalid(
            "image",
            "no face was found in this picture; use a photo where one face is clearly visible and looks at the camera",
        )));
    }
    Ok(Json(Envelope {
        code: 0,
        message: "SUCCEED".into(),
        request_id: rid.0.clone(),
        data: Some(data),
    })
    .into_response())
}
