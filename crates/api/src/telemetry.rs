//! Prometheus metrics: the recorder is process-wide, installed once.

use crate::state::AppState;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the recorder on first call; later calls reuse it.
pub fn install() -> Option<PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    metrics_exporter_prometheus::Matcher::Full(
                        "mouthpiece_task_duration_seconds".into(),
                    ),
                    &[1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0],
                )
                .and_then(|b| {
                    b.set_buckets_for_metric(
                        metrics_exporter_prometheus::Matcher::Full(
                            "mouthpiece_render_realtime_factor".into(),
                        ),
                        &[0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0],
                    )
                });
            match builder.and_then(|b| b.install_recorder()) {
                Ok(h) => Some(h),
                Err(e) => {
                    tracing::warn!(error = %e, "metrics recorder not installed");
                    None
                }
            }
        })
        .clone()
}

/// Prometheus text format; queue gauges are read fresh on every scrape.
#[utoipa::path(get, path = "/metrics", tag = "operations", responses((status = 200, description = "Prometheus text exposition")))]
pub async fn metrics(State(state): State<AppState>) -> Response {
    if let Ok(q) = state.services.stores.tasks.queue_stats().await {
        metrics::gauge!("mouthpiece_queue_depth", "state" => "submitted").set(q.submitted as f64);
        metrics::gauge!("mouthpiece_queue_depth", "state" => "processing").set(q.processing as f64);
    }
    if let Ok(n) = state.services.stores.callbacks.pending_callbacks().await {
        metrics::gauge!("mouthpiece_callbacks_pending").set(n as f64);
    }
    let body = install().map(|h| h.render()).unwrap_or_default();
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], body).into_response()
}
