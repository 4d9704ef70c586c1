use mouthpiece_domain::Services;
use mouthpiece_engine::face::FaceAnalyzer;
use std::sync::{Arc, OnceLock};

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub services: Services,
    /// Set once the face models are loaded (readiness).
    pub analyzer: Arc<OnceLock<Arc<FaceAnalyzer>>>,
    pub max_request_bytes: usize,
    /// Downloads redirect to presigned blob-store URLs valid this long,
    /// when the blob store can sign them.
    pub presign: Option<std::time::Duration>,
    /// Per-account request rates; `None`: no limit.
    pub rates: Option<Arc<crate::overload::AccountRates>>,
    /// Who may name the client in `X-Forwarded-For`.
    pub proxies: Arc<crate::client_ip::TrustedProxies>,
    /// Memory and time for request bodies in flight.
    pub body_limits: Arc<crate::overload::BodyLimits>,
}
