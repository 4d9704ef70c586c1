//! Settings: defaults, then a TOML file, then `MOUTHPIECE_*` environment
//! variables (nested keys joined with `__`, e.g.
//! `MOUTHPIECE_WORKERS__CONCURRENCY=2`), then command-line flags.

use crate::client_ip::TrustedProxies;
use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use mouthpiece_domain::callbacks::CallbackConfig;
use mouthpiece_domain::net::{HttpLimits, NetworkPolicy};
use mouthpiece_domain::worker::WorkerConfig;
use mouthpiece_domain::DomainConfig;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// Address to listen on.
    pub listen: String,
    /// SQLite database and stored files live here; created on first start.
    pub data_dir: PathBuf,
    /// Metadata store: `sqlite://PATH` or `postgres://USER@HOST:PORT/DB`.
    /// Default: the SQLite file in `data_dir`.
    pub database_url: Option<String>,
    /// Blob store: `file://PATH` or `s3://BUCKET/PREFIX` (see `[s3]`).
    /// Default: `data_dir/files`.
    pub blob_url: Option<String>,
    pub s3: S3Settings,
    /// Base of the download URLs handed out; `http://<listen>` when unset.
    pub public_url: Option<String>,
    /// Days results and TTS audio are kept before the janitor deletes them.
    pub retention_days: f64,
    pub janitor_interval_seconds: u64,
    /// Largest request body accepted (base64 inputs included).
    pub max_request_mb: u64,
    /// Unfinished tasks per account, unless the account sets its own limit.
    pub account_concurrency: u32,
    pub auth: AuthSettings,
    pub workers: WorkerSettings,
    pub network: NetworkSettings,
    pub callbacks: CallbackSettings,
    pub limits: LimitSettings,
}

/// Overload protection: what one account and the whole service may ask.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct LimitSettings {
    /// Authenticated requests per second per account, sustained (0: no limit).
    pub requests_per_second: u32,
    /// Requests an idle account may send at once.
    pub burst: u32,
    /// Unfinished tasks of all accounts together before new ones are
    /// refused (0: no limit).
    pub max_queued_tasks: u64,
    /// Request bodies (uploads, base64 media) held in memory at once, in MB;
    /// past it a request waits briefly, then gets the dialect's 429 (0: no
    /// limit). At least `max_request_mb`.
    pub max_inflight_body_mb: u64,
    /// A request body must arrive whole within this many seconds.
    pub body_timeout_seconds: f64,
}

impl Default for LimitSettings {
    fn default() -> Self {
        Self {
            requests_per_second: 50,
            burst: 200,
            max_queued_tasks: 10_000,
            max_inflight_body_mb: 1024,
            body_timeout_seconds: 300.0,
        }
    }
}

/// Where an `s3://` blob store lives and how to sign for it. Unset fields
/// fall back to the `AWS_*` environment variables.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct S3Settings {
    /// `http://minio:9000` for self-hosted S3; AWS when unset.
    pub endpoint: Option<String>,
    pub region: Option<String>,
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
    /// Path-style requests (most non-AWS servers need them).
    pub path_style: bool,
    /// When set, file downloads redirect to presigned S3 URLs valid this long
    /// instead of streaming through the API node.
    pub presign_seconds: Option<u64>,
}

impl Default for S3Settings {
    fn default() -> Self {
        Self {
            endpoint: None,
            region: None,
            access_key_id: None,
            secret_access_key: None,
            path_style: true,
            presign_seconds: None,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct AuthSettings {
    /// Clock skew tolerated on JWT `nbf` and `exp`.
    pub clock_skew_seconds: i64,
    /// Failed authentications from one client address (or for one
    /// AccessKey) within a minute before it is locked out.
    pub max_failures_per_minute: u32,
    /// How long a lockout lasts (answered 429 with Retry-After).
    pub lockout_seconds: u64,
    /// Reverse proxies (addresses or networks) whose `X-Forwarded-For` names
    /// the client. Empty: the connection's peer is the client, and the
    /// header is ignored.
    pub trusted_proxies: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct WorkerSettings {
    /// Run render workers in this process.
    pub enabled: bool,
    /// Renders at once.
    pub concurrency: usize,
    pub poll_interval_ms: u64,
    /// A claim expires this long after the last heartbeat.
    pub lease_seconds: f64,
    /// Claims per task before it fails.
    pub max_attempts: u32,
    pub retry_delay_seconds: f64,
    /// Frame-rate override (e.g. a low one for fast tests).
    pub fps: Option<u32>,
    /// x264 preset override.
    pub preset: Option<String>,
    /// On shutdown, renders in progress get this long to finish before they
    /// are stopped and their tasks given back to the queue.
    pub shutdown_grace_seconds: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct NetworkSettings {
    /// Networks that input URLs and callbacks may reach even though they are
    /// loopback, private or link-local (e.g. `["127.0.0.0/8"]`). Empty: none.
    pub allow: Vec<String>,
    pub connect_timeout_seconds: f64,
    pub timeout_seconds: f64,
    pub max_redirects: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct CallbackSettings {
    pub timeout_seconds: f64,
    pub max_attempts: u32,
    pub initial_backoff_ms: u64,
    pub max_backoff_seconds: f64,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".into(),
            data_dir: PathBuf::from("./mouthpiece-data"),
            database_url: None,
            blob_url: None,
            s3: S3Settings::default(),
            public_url: None,
            retention_days: 30.0,
            janitor_interval_seconds: 3600,
            max_request_mb: 32,
            account_concurrency: 5,
            auth: AuthSettings::default(),
            workers: WorkerSettings::default(),
            network: NetworkSettings::default(),
            callbacks: CallbackSettings::default(),
            limits: LimitSettings::default(),
        }
    }
}

impl Default for AuthSettings {
    fn default() -> Self {
        Self {
            clock_skew_seconds: 10,
            max_failures_per_minute: 20,
            lockout_seconds: 60,
            trusted_proxies: Vec::new(),
        }
    }
}

impl Default for WorkerSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            concurrency: 1,
            poll_interval_ms: 1000,
            lease_seconds: 60.0,
            max_attempts: 3,
            retry_delay_seconds: 5.0,
            fps: None,
            preset: None,
            shutdown_grace_seconds: 30.0,
        }
    }
}

impl Default for NetworkSettings {
    fn default() -> Self {
        Self {
            allow: Vec::new(),
            connect_timeout_seconds: 5.0,
            timeout_seconds: 30.0,
            max_redirects: 5,
        }
    }
}

impl Default for CallbackSettings {
    fn default() -> Self {
        Self {
            timeout_seconds: 10.0,
            max_attempts: 8,
            initial_backoff_ms: 1000,
            max_backoff_seconds: 600.0,
        }
    }
}

/// The settings' top-level keys: other `MOUTHPIECE_*` variables (`LOG`,
/// `FFMPEG`, model paths...) belong to other parts of Mouthpiece.
const KEYS: &[&str] = &[
    "listen",
    "data_dir",
    "database_url",
    "blob_url",
    "s3",
    "public_url",
    "retention_days",
    "janitor_interval_seconds",
    "max_request_mb",
    "account_concurrency",
    "auth",
    "workers",
    "network",
    "callbacks",
    "limits",
];

fn is_setting(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    let top = k.split("__").next().unwrap_or_default();
    KEYS.contains(&top)
}

fn secs(s: f64) -> Duration {
    Duration::try_from_secs_f64(s.max(0.0)).unwrap_or(Duration::MAX)
}

impl Settings {
    /// Defaults < `file` (or `./mouthpiece.toml` when present) < environment.
    pub fn load(file: Option<&Path>) -> anyhow::Result<Self> {
        let mut fig = Figment::from(Serialized::defaults(Settings::default()));
        match file {
            Some(p) => {
                anyhow::ensure!(p.is_file(), "config file {} does not exist", p.display());
                fig = fig.merge(Toml::file(p));
            }
            None if Path::new("mouthpiece.toml").is_file() => {
                fig = fig.merge(Toml::file("mouthpiece.toml"))
            }
            None => {}
        }
        fig = fig.merge(
            Env::prefixed("MOUTHPIECE_")
                .filter(|k| is_setting(k.as_str()))
                .split("__"),
        );
        let s: Settings = fig
            .extract()
            .map_err(|e| anyhow::anyhow!("configuration: {e}"))?;
        s.check()?;
        Ok(s)
    }

    pub fn check(&self) -> anyhow::Result<()> {
        anyhow::ensure!(self.retention_days > 0.0, "retention_days must be positive");
        anyhow::ensure!(
            self.account_concurrency >= 1,
            "account_concurrency must be at least 1"
        );
        anyhow::ensure!(
            self.workers.max_attempts >= 1,
            "workers.max_attempts must be at least 1"
        );
        anyhow::ensure!(
            self.workers.lease_seconds >= 1.0,
            "workers.lease_seconds must be at least 1"
        );
        NetworkPolicy::from_strings(&self.network.allow)
            .map_err(|e| anyhow::anyhow!("network.allow: {e}"))?;
        anyhow::ensure!(
            self.limits.max_inflight_body_mb == 0
                || self.limits.max_inflight_body_mb >= self.max_request_mb,
            "limits.max_inflight_body_mb must be 0 (no limit) or at least max_request_mb"
        );
        anyhow::ensure!(
            self.limits.body_timeout_seconds >= 1.0 && self.limits.body_timeout_seconds <= 86_400.0,
            "limits.body_timeout_seconds must be from 1 to 86400"
        );
        TrustedProxies::parse(&self.auth.trusted_proxies)
            .map_err(|e| anyhow::anyhow!("auth.trusted_proxies: {e}"))?;
        Ok(())
    }

    pub fn database_path(&self) -> PathBuf {
        self.data_dir.join("mouthpiece.db")
    }

    pub fn files_dir(&self) -> PathBuf {
        self.data_dir.join("files")
    }

    /// The metadata store's URL (the SQLite file in `data_dir` by default).
    pub fn database_url(&self) -> String {
        self.database_url
            .clone()
            .unwrap_or_else(|| format!("sqlite://{}", self.database_path().display()))
    }

    /// The blob store's URL (`data_dir/files` by default).
    pub fn blob_url(&self) -> String {
        self.blob_url
            .clone()
            .unwrap_or_else(|| format!("file://{}", self.files_dir().display()))
    }

    pub fn s3_config(&self) -> mouthpiece_storage::s3::S3Config {
        mouthpiece_storage::s3::S3Config {
            endpoint: self.s3.endpoint.clone(),
            region: self.s3.region.clone(),
            access_key_id: self.s3.access_key_id.clone(),
            secret_access_key: self.s3.secret_access_key.clone(),
            path_style: self.s3.path_style,
            ..Default::default()
        }
    }

    /// The domain's settings, given the address actually bound.
    pub fn domain(&self, bound: SocketAddr) -> anyhow::Result<DomainConfig> {
        let public_url = self
            .public_url
            .clone()
            .unwrap_or_else(|| format!("http://{bound}"));
        Ok(DomainConfig {
            public_url,
            retention: secs(self.retention_days * 86_400.0),
            default_concurrency: self.account_concurrency,
            clock_skew_s: self.auth.clock_skew_seconds.max(0),
            auth_throttle: mouthpiece_domain::throttle::ThrottleConfig {
                max_failures: self.auth.max_failures_per_minute,
                window: Duration::from_secs(60),
                lockout: Duration::from_secs(self.auth.lockout_seconds.max(1)),
                ..Default::default()
            },
            network: NetworkPolicy::from_strings(&self.network.allow)
                .map_err(anyhow::Error::msg)?,
            http: HttpLimits {
                connect_timeout: secs(self.network.connect_timeout_seconds),
                total_timeout: secs(self.network.timeout_seconds),
                max_redirects: self.network.max_redirects,
            },
            worker: WorkerConfig {
                concurrency: self.workers.concurrency.max(1),
                poll_interval: Duration::from_millis(self.workers.poll_interval_ms.max(10)),
                lease: secs(self.workers.lease_seconds),
                max_attempts: self.workers.max_attempts,
                retry_delay: secs(self.workers.retry_delay_seconds),
                fps: self.workers.fps,
                preset: self.workers.preset.clone(),
                work_dir: Some(self.data_dir.join("work")),
                shutdown_grace: secs(self.workers.shutdown_grace_seconds),
            },
            callbacks: CallbackConfig {
                timeout: secs(self.callbacks.timeout_seconds),
                max_attempts: self.callbacks.max_attempts.max(1),
                initial_backoff: Duration::from_millis(self.callbacks.initial_backoff_ms),
                max_backoff: secs(self.callbacks.max_backoff_seconds),
                poll_interval: Duration::from_millis(500),
            },
            janitor_interval: Duration::from_secs(self.janitor_interval_seconds.max(1)),
            max_queued_tasks: self.limits.max_queued_tasks,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[allow(clippy::result_large_err)]
    fn file_then_environment() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("m.toml");
        std::fs::write(
            &file,
            "listen = \"0.0.0.0:9000\"\nretention_days = 7\n[workers]\nconcurrency = 3\n[network]\nallow = [\"127.0.0.0/8\"]\n",
        )
        .unwrap();
        figment::Jail::expect_with(|jail| {
            jail.set_env("MOUTHPIECE_WORKERS__CONCURRENCY", "4");
            jail.set_env("MOUTHPIECE_LOG", "debug");
            jail.set_env("MOUTHPIECE_SPHINX_MODEL", "/x");
            jail.set_env("MOUTHPIECE_NETWORK__TIMEOUT_SECONDS", "12.5");
            let s = Settings::load(Some(&file)).map_err(|e| e.to_string())?;
            assert_eq!(s.listen, "0.0.0.0:9000");
            assert_eq!(s.retention_days, 7.0);
            assert_eq!(s.workers.concurrency, 4);
            assert_eq!(s.network.allow, vec!["127.0.0.0/8".to_string()]);
            assert_eq!(s.data_dir, PathBuf::from("./mouthpiece-data"));
            assert_eq!(s.network.timeout_seconds, 12.5);
            Ok(())
        });
    }

    #[test]
    fn unknown_keys_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("m.toml");
        std::fs::write(&file, "lisen = \"x\"\n").unwrap();
        assert!(Settings::load(Some(&file)).is_err());
    }
}
