//! The OpenAPI document, served at `/openapi.json`.

use crate::dialects::{aimlapi, kling, useapi};
use axum::response::{IntoResponse, Response};
use axum::Json;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

struct Bearer;

impl Modify for Bearer {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        if let Some(c) = openapi.components.as_mut() {
            c.add_security_scheme(
                "bearer",
                SecurityScheme::Http(
                    HttpBuilder::new()
                        .scheme(HttpAuthScheme::Bearer)
                        .description(Some(
                            "An API key, or an HS256 JWT {iss: AccessKey, exp, nbf} signed with the SecretKey",
                        ))
                        .build(),
                ),
            );
        }
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "Mouthpiece", description = "Self-hosted talking-avatar video, Kling-compatible."),
    paths(
        kling::create,
        kling::query,
        kling::list,
        kling::tts,
        kling::costs,
        useapi::add_account,
        useapi::upload_asset,
        useapi::list_uploads,
        useapi::delete_uploads,
        useapi::tts_create,
        useapi::list_avatars,
        useapi::create_avatar,
        useapi::create_video,
        useapi::get_task,
        aimlapi::create,
        aimlapi::fetch,
        crate::health::healthz,
        crate::health::readyz,
        crate::telemetry::metrics
    ),
    components(schemas(
        kling::CreateBody,
        kling::WatermarkInfo,
        kling::TtsBody,
        kling::TaskData,
        kling::CreatedData,
        kling::TtsData,
        kling::Video,
        kling::Audio,
        kling::CostsData,
        kling::ResourcePack
    )),
    modifiers(&Bearer),
    tags((name = "kling", description = "Kling's legacy avatar API"),
         (name = "useapi", description = "useapi.net's Kling API under /v1/kling"),
         (name = "aimlapi", description = "AI/ML API's video generations"),
         (name = "operations"))
)]
pub struct ApiDoc;

pub async fn document() -> Response {
    Json(ApiDoc::openapi()).into_response()
}
