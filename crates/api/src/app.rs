//! Assembles and runs the service: stores, domain services, router, render
//! workers, callback dispatcher and janitor, all in one process.

use crate::client_ip::TrustedProxies;
use crate::config::Settings;
use crate::dialects::{self, aimlapi, kie, kling, useapi};
use crate::state::AppState;
use crate::{files, health, openapi, overload, playground, request_id, telemetry};
use anyhow::Context;
use axum::extract::DefaultBodyLimit;
use axum::routing::get;
use axum::Router;
use mouthpiece_domain::callbacks::Dispatcher;
use mouthpiece_domain::janitor::Janitor;
use mouthpiece_domain::task::CallbackFormat;
use mouthpiece_domain::worker::spawn_workers;
use mouthpiece_domain::Services;
use mouthpiece_engine::face::FaceAnalyzer;
use mouthpiece_engine::models::ModelPaths;
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub fn router(state: AppState) -> Router {
    let limit = state.max_request_bytes;
    let routes = Router::new()
        .merge(kling::router())
        .merge(kie::router())
        .merge(aimlapi::router())
        .merge(useapi::router())
        .merge(playground::router())
        .route(
            "/v1/files/{*key}",
            get(files::download).head(files::download),
        )
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(telemetry::metrics))
        .route("/openapi.json", get(openapi::document))
        .fallback(dialects::not_found)
        .method_not_allowed_fallback(dialects::not_found)
        .layer(DefaultBodyLimit::max(limit))
        .layer(axum::middleware::from_fn_with_state(
            state.body_limits.clone(),
            overload::body_limits,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.proxies.clone(),
            request_id::middleware,
        ))
        .with_state(state);
    // useapi.net's clients write its paths with and without a trailing
    // slash: the path is normalised before routing, for every route and
    // method under its prefix at once.
    Router::new().fallback_service(tower::ServiceExt::map_request(
        routes,
        useapi::trim_trailing_slash,
    ))
}

/// Creates the data dir on first start, readable by its owner only: the
/// database holds the accounts' SecretKeys and webhook secrets as-is.
pub fn prepare_data_dir(settings: &Settings) -> anyhow::Result<()> {
    let dir = &settings.data_dir;
    if !dir.exists() {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("creating the data dir {}", dir.display()))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
                .with_context(|| format!("restricting {}", dir.display()))?;
        }
    }
    Ok(())
}

/// A running server.
pub struct Server {
    pub addr: SocketAddr,
    pub services: Services,
    pub state: AppState,
    shutdown: CancellationToken,
    workers_shutdown: CancellationToken,
    /// Cancels renders in progress (their tasks go back to the queue).
    workers_abort: CancellationToken,
    /// Stops the HTTP listener before anything else.
    http_shutdown: CancellationToken,
    grace: std::time::Duration,
    handles: Vec<JoinHandle<()>>,
    workers: Option<JoinHandle<()>>,
}

impl Server {
    /// Opens (creating on first start) the data dir, binds, and starts
    /// serving; workers start too when enabled, as soon as the face models
    /// are loaded. `analyzer` lets tests share one loaded model set.
    pub async fn start(
        settings: Settings,
        analyzer: Option<Arc<FaceAnalyzer>>,
    ) -> anyhow::Result<Self> {
        Self::start_role(settings, analyzer, true).await
    }

    /// `serve_api: false` is a worker node: workers, callback dispatcher
    /// and janitor on the shared stores, no HTTP listener.
    pub async fn start_role(
        settings: Settings,
        analyzer: Option<Arc<FaceAnalyzer>>,
        serve_api: bool,
    ) -> anyhow::Result<Self> {
        settings.check()?;
        telemetry::install();
        prepare_data_dir(&settings)?;
        let stores = mouthpiece_storage::url::open_metadata(&settings.database_url())
            .await
            .with_context(|| "opening the metadata store".to_string())?;
        let blobs =
            mouthpiece_storage::url::open_blobs(&settings.blob_url(), &settings.s3_config())
                .await
                .with_context(|| "opening the blob store".to_string())?;
        // A worker-only node serves no HTTP; it still needs an address for
        // the download URLs in callbacks (set `public_url` to the API's).
        let listener = if serve_api {
            Some(
                tokio::net::TcpListener::bind(&settings.listen)
                    .await
                    .with_context(|| format!("listening on {}", settings.listen))?,
            )
        } else {
            None
        };
        let addr = match &listener {
            Some(l) => l.local_addr()?,
            None => settings
                .listen
                .parse()
                .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 8080))),
        };
        let formats: Vec<(&'static str, Arc<dyn CallbackFormat>)> = vec![
            (kling::DIALECT, Arc::new(kling::KlingCallbacks)),
            (kie::DIALECT, Arc::new(kie::KieCallbacks)),
            // No callback field in this API; the format only names it.
            (aimlapi::DIALECT, Arc::new(kling::KlingCallbacks)),
            (useapi::DIALECT, Arc::new(useapi::UseapiCallbacks)),
        ];
        let services = Services::new(settings.domain(addr)?, stores, blobs, formats)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let state = AppState {
            services: services.clone(),
            analyzer: Arc::new(OnceLock::new()),
            max_request_bytes: usize::try_from(settings.max_request_mb.saturating_mul(1024 * 1024))
                .unwrap_or(usize::MAX),
            presign: settings
                .s3
                .presign_seconds
                .map(std::time::Duration::from_secs),
            rates: crate::overload::AccountRates::new(
                settings.limits.requests_per_second,
                settings.limits.burst,
            )
            .map(Arc::new),
            body_limits: Arc::new(crate::overload::BodyLimits::new(
                settings.limits.max_inflight_body_mb,
                usize::try_from(settings.max_request_mb.saturating_mul(1024 * 1024))
                    .unwrap_or(usize::MAX),
                std::time::Duration::from_secs_f64(settings.limits.body_timeout_seconds),
            )),
            proxies: Arc::new(
                TrustedProxies::parse(&settings.auth.trusted_proxies)
                    .map_err(|e| anyhow::anyhow!("auth.trusted_proxies: {e}"))?,
            ),
        };
        let shutdown = CancellationToken::new();
        let http_shutdown = shutdown.child_token();
        let mut handles = Vec::new();

        if let Some(listener) = listener {
            let app = router(state.clone());
            let stop = http_shutdown.clone();
            handles.push(tokio::spawn(async move {
                // The peer address feeds the auth lockout.
                let app = app.into_make_service_with_connect_info::<SocketAddr>();
                let served = axum::serve(listener, app)
                    .with_graceful_shutdown(stop.cancelled_owned())
                    .await;
                if let Err(e) = served {
                    tracing::error!(error = %e, "the HTTP server stopped");
                }
            }));
        }

        let dispatcher = Dispatcher::new(
            services.stores.callbacks.clone(),
            services.stores.accounts.clone(),
            services.stores.tasks.clone(),
            &services.events,
            services.config.network.clone(),
            services.config.callbacks.clone(),
        )
        .map_err(anyhow::Error::msg)?;
        handles.push(tokio::spawn(dispatcher.run(shutdown.clone())));
        let janitor = Janitor::new(
            services.stores.tasks.clone(),
            services.stores.audio.clone(),
            services.stores.assets.clone(),
            services.blobs.clone(),
            services.config.retention_ms(),
        );
        handles.push(tokio::spawn(
            janitor.run(services.config.janitor_interval, shutdown.clone()),
        ));

        let loaded = state.analyzer.clone();
        handles.push(tokio::spawn(async move {
            let a = match analyzer {
                Some(a) => Ok(a),
                None => tokio::task::spawn_blocking(|| {
                    let paths = ModelPaths::discover()?;
                    FaceAnalyzer::load(&paths).map(Arc::new)
                })
                .await
                .unwrap_or_else(|e| Err(mouthpiece_engine::EngineError::Encoder(format!("model loading panicked: {e}")))),
            };
            match a {
                Ok(a) => {
                    let _ = loaded.set(a);
                    tracing::info!("face models loaded");
                }
                Err(e) => tracing::error!(error = %e, "face models could not be loaded; renders cannot start"),
            }
        }));

        let services_grace = services.config.worker.shutdown_grace;
        let mut server = Self {
            addr,
            services,
            state,
            workers_shutdown: shutdown.child_token(),
            workers_abort: shutdown.child_token(),
            http_shutdown,
            grace: services_grace,
            shutdown,
            handles,
            workers: None,
        };
        if settings.workers.enabled {
            server.start_workers();
        }
        tracing::info!(%addr, api = serve_api, data_dir = %settings.data_dir.display(), workers = settings.workers.enabled, "mouthpiece is serving");
        Ok(server)
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Starts the render workers once the models are loaded.
    pub fn start_workers(&mut self) {
        if self.workers.is_some() {
            return;
        }
        if self.workers_shutdown.is_cancelled() {
            self.workers_shutdown = self.shutdown.child_token();
        }
        if self.workers_abort.is_cancelled() {
            self.workers_abort = self.shutdown.child_token();
        }
        let (services, loaded, stop, abort) = (
            self.services.clone(),
            self.state.analyzer.clone(),
            self.workers_shutdown.clone(),
            self.workers_abort.clone(),
        );
        self.workers = Some(tokio::spawn(async move {
            let analyzer = loop {
                if let Some(a) = loaded.get() {
                    break a.clone();
                }
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = tokio::time::sleep(std::time::Duration::from_millis(50)) => {}
                }
            };
            futures::future::join_all(spawn_workers(&services, analyzer, stop, abort)).await;
        }));
    }

    /// Stops the workers; a render in progress is cancelled and its task
    /// given back to the queue.
    pub async fn stop_workers(&mut self) {
        self.workers_shutdown.cancel();
        self.workers_abort.cancel();
        if let Some(h) = self.workers.take() {
            let _ = h.await;
        }
    }

    /// Stops accepting requests, lets renders in progress finish within the
    /// grace period (`workers.shutdown_grace_seconds`), gives the others back
    /// to the queue, then stops all background work.
    pub async fn shutdown(mut self) {
        self.http_shutdown.cancel();
        self.workers_shutdown.cancel();
        if let Some(mut h) = self.workers.take() {
            tokio::select! {
                _ = &mut h => {}
                _ = tokio::time::sleep(self.grace) => {
                    tracing::info!("grace period over: renders in progress go back to the queue");
                    self.workers_abort.cancel();
                    let _ = h.await;
                }
            }
        }
        self.shutdown.cancel();
        for h in self.handles.drain(..) {
            let _ = h.await;
        }
    }

    /// Resolves when shutdown was requested by [`Server::shutdown_token`].
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }
}
