//! Helpers for the service tests: a real server on a loopback port (real
//! SQLite, real engine and ffmpeg) in a temp data dir, speech made by
//! espeak-ng, and a plain HTTP client.
#![allow(dead_code)]

use base64::Engine;
use mouthpiece_api::{Server, Settings};
use mouthpiece_domain::{CreatedAccount, NewAccountRequest};
use mouthpiece_engine::face::FaceAnalyzer;
use mouthpiece_engine::models::ModelPaths;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

/// The face models, loaded once per test binary.
pub fn analyzer() -> Arc<FaceAnalyzer> {
    static A: OnceLock<Arc<FaceAnalyzer>> = OnceLock::new();
    A.get_or_init(|| {
        let paths = ModelPaths::discover().expect("face models (scripts/setup.sh installs them)");
        Arc::new(FaceAnalyzer::load(&paths).expect("load face models"))
    })
    .clone()
}

pub struct TestServer {
    pub server: Server,
    pub dir: tempfile::TempDir,
    pub url: String,
    /// The server's own PostgreSQL database, dropped with it.
    pub pg: Option<PgDatabase>,
}

/// Which metadata store this test binary runs on: the `*_pg` test targets
/// compile the same tests as their SQLite twins, on PostgreSQL.
pub fn on_postgres() -> bool {
    env!("CARGO_CRATE_NAME").ends_with("_pg")
}

/// A fresh PostgreSQL database for one server; dropped on drop. PostgreSQL
/// is required: an unreachable server fails the test with the reason.
pub struct PgDatabase {
    pub url: String,
}

impl PgDatabase {
    pub async fn create() -> Self {
        let admin = mouthpiece_storage::testing::admin_url();
        let url = mouthpiece_storage::testing::create_database(&admin)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        Self { url }
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        let url = self.url.clone();
        // Drop runs inside the test's runtime: use a thread of its own.
        let _ = std::thread::spawn(move || {
            if let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                let admin = mouthpiece_storage::testing::admin_url();
                let _ = rt.block_on(mouthpiece_storage::testing::drop_database(&admin, &url));
            }
        })
        .join();
    }
}

/// Fast settings: a low frame rate (the checks here do not need real fps),
/// quick polling, short leases and backoffs.
pub fn settings(dir: &Path) -> Settings {
    let mut s = Settings {
        listen: "127.0.0.1:0".into(),
        data_dir: dir.join("data"),
        ..Settings::default()
    };
    s.workers.fps = Some(8);
    s.workers.preset = Some("ultrafast".into());
    s.workers.poll_interval_ms = 100;
    s.workers.lease_seconds = 5.0;
    s.workers.retry_delay_seconds = 0.2;
    // A test that ends mid-render gives the task back at once.
    s.workers.shutdown_grace_seconds = 0.0;
    s.callbacks.initial_backoff_ms = 200;
    s.callbacks.max_backoff_seconds = 1.0;
    s
}

impl TestServer {
    pub async fn start(tweak: impl FnOnce(&mut Settings)) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut s = settings(dir.path());
        let pg = if on_postgres() {
            let db = PgDatabase::create().await;
            s.database_url = Some(db.url.clone());
            Some(db)
        } else {
            None
        };
        tweak(&mut s);
        let server = Server::start(s, Some(analyzer()))
            .await
            .expect("server starts");
        let url = server.url();
        Self {
            server,
            dir,
            url,
            pg,
        }
    }

    /// The metadata store's URL, for a second node on the same database.
    pub fn server_database_url(&self) -> String {
        match &self.pg {
            Some(db) => db.url.clone(),
            None => format!(
                "sqlite://{}",
                self.dir.path().join("data/mouthpiece.db").display()
            ),
        }
    }

    /// One janitor sweep as if a month (past the retention) had gone by.
    pub async fn sweep_a_month_later(&self) -> mouthpiece_domain::janitor::Swept {
        let month = 31 * 24 * 3600 * 1000;
        mouthpiece_domain::janitor::Janitor::new(
            self.server.services.stores.tasks.clone(),
            self.server.services.stores.audio.clone(),
            self.server.services.stores.assets.clone(),
            self.server.services.blobs.clone(),
            self.server.services.config.retention_ms(),
        )
        .sweep(mouthpiece_domain::clock::now_ms() + month)
        .await
        .unwrap()
    }

    pub async fn account(&self, name: &str, concurrency: Option<u32>) -> CreatedAccount {
        self.server
            .services
            .accounts
            .create(NewAccountRequest {
                name: name.into(),
                max_concurrent_tasks: concurrency,
                webhook_secret: true,
            })
            .await
            .expect("create account")
    }

    pub async fn post(
        &self,
        path: &str,
        auth: Option<&str>,
        body: &Value,
    ) -> (u16, Value, reqwest::header::HeaderMap) {
        let mut req = client().post(format!("{}{path}", self.url)).json(body);
        if let Some(a) = auth {
            req = req.bearer_auth(a);
        }
        let resp = req.send().await.expect("POST");
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        (status, resp.json().await.expect("JSON body"), headers)
    }

    pub async fn get(&self, path: &str, auth: Option<&str>) -> (u16, Value) {
        let mut req = client().get(format!("{}{path}", self.url));
        if let Some(a) = auth {
            req = req.bearer_auth(a);
        }
        let resp = req.send().await.expect("GET");
        let status = resp.status().as_u16();
        (status, resp.json().await.expect("JSON body"))
    }

    pub async fn create(&self, key: &str, body: &Value) -> (u16, Value) {
        let (s, v, _) = self
            .post("/v1/videos/avatar/image2video", Some(key), body)
            .await;
        (s, v)
    }

    /// Polls a task until it reaches a final status (or `timeout`).
    pub async fn wait_done(&self, key: &str, id: &str, timeout: Duration) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            let (status, v) = self
                .get(&format!("/v1/videos/avatar/image2video/{id}"), Some(key))
                .await;
            assert_eq!(status, 200, "{v}");
            let st = v["data"]["task_status"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            if st == "succeed" || st == "failed" {
                return v["data"].clone();
            }
            assert!(
                Instant::now() < deadline,
                "task {id} still {st} after {timeout:?}: {v}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(120))
        .build()
        .expect("client")
}

pub fn samples() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../assets/samples")
}

pub fn sample(name: &str) -> PathBuf {
    let p = samples().join(name);
    assert!(p.is_file(), "sample {} is missing", p.display());
    p
}

/// Speech synthesised by espeak-ng (22050 Hz mono 16-bit WAV).
pub fn espeak(text: &str, out: &Path) -> PathBuf {
    let st = std::process::Command::new("espeak-ng")
        .args(["-v", "en-us", "-s", "165", "-w"])
        .arg(out)
        .arg(text)
        .status()
        .expect("espeak-ng must be installed (scripts/setup.sh)");
    assert!(st.success(), "espeak-ng failed");
    out.to_path_buf()
}

/// About 2.5–3 s of speech.
pub fn short_speech(dir: &Path) -> PathBuf {
    espeak(
        "Hello there, this is a short test of the talking avatar.",
        &dir.join("speech.wav"),
    )
}

pub fn b64(path: &Path) -> String {
    base64::engine::general_purpose::STANDARD.encode(std::fs::read(path).expect("read file"))
}

pub fn b64_bytes(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

pub fn ffprobe(path: &Path) -> Value {
    let out = std::process::Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-print_format",
            "json",
            "-show_format",
            "-show_streams",
        ])
        .arg(path)
        .output()
        .expect("ffprobe must be installed");
    assert!(out.status.success(), "ffprobe failed on {}", path.display());
    serde_json::from_slice(&out.stdout).expect("ffprobe JSON")
}

pub fn wav_duration(path: &Path) -> f64 {
    let r = hound::WavReader::open(path).expect("wav");
    f64::from(r.duration()) / f64::from(r.spec().sample_rate)
}

/// `seconds` of quiet 8 kHz mono noise, as a WAV.
pub fn wav_of(seconds: f64) -> Vec<u8> {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 8000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut cursor = std::io::Cursor::new(Vec::new());
    let mut w = hound::WavWriter::new(&mut cursor, spec).expect("wav");
    for i in 0..(seconds * 8000.0) as usize {
        w.write_sample(((i * 7919) % 200) as i16 - 100)
            .expect("sample");
    }
    w.finalize().expect("finalize");
    cursor.into_inner()
}

/// A PNG of the given size (plain grey: no face).
pub fn png(width: u32, height: u32) -> Vec<u8> {
    let img = image::RgbImage::from_pixel(width, height, image::Rgb([128, 128, 128]));
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png)
        .expect("encode png");
    out.into_inner()
}

/// A loopback HTTP server for test files; returns its base URL.
pub async fn file_server(files: Vec<(&'static str, Vec<u8>)>) -> String {
    use axum::routing::get;
    let mut app = axum::Router::new();
    for (name, bytes) in files {
        let b = bytes::Bytes::from(bytes);
        app = app.route(&format!("/{name}"), get(move || async move { b.clone() }));
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    format!("http://{addr}")
}

/// A loopback server whose every path answers 302 to `location`.
pub async fn redirect_server(location: String) -> String {
    let app = axum::Router::new().fallback(move || {
        let location = location.clone();
        async move {
            (
                axum::http::StatusCode::FOUND,
                [(axum::http::header::LOCATION, location)],
            )
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    format!("http://{addr}")
}

/// Received callbacks: headers and raw body, in arrival order.
#[derive(Clone, Default)]
pub struct Hooks(pub Arc<std::sync::Mutex<Vec<(reqwest::header::HeaderMap, String)>>>);

impl Hooks {
    /// Waits until `n` callbacks arrived (or 30 s), then returns them.
    pub async fn wait_for(&self, n: usize) -> Vec<(reqwest::header::HeaderMap, String)> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let got = self.0.lock().map(|g| g.clone()).unwrap_or_default();
            if got.len() >= n {
                return got;
            }
            assert!(
                Instant::now() < deadline,
                "only {} callbacks arrived",
                got.len()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// A loopback callback receiver answering 200; returns its URL.
pub async fn hook_receiver() -> (String, Hooks) {
    let got = Hooks::default();
    let g = got.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: axum::http::HeaderMap, body: String| {
            let g = g.clone();
            async move {
                if let Ok(mut v) = g.0.lock() {
                    v.push((headers, body));
                }
                axum::http::StatusCode::OK
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{addr}/hook"), got)
}

/// Downloads a result and checks it is an H.264 MP4 of `short_side` px.
pub async fn download_mp4(dir: &Path, url: &str, short_side: i64) -> Value {
    let resp = client().get(url).send().await.expect("download");
    assert_eq!(resp.status().as_u16(), 200);
    let bytes = resp.bytes().await.expect("bytes");
    let mp4 = dir.join(format!("dl-{}.mp4", bytes.len()));
    std::fs::write(&mp4, &bytes).expect("write");
    let probe = ffprobe(&mp4);
    let v = probe["streams"]
        .as_array()
        .and_then(|s| s.iter().find(|s| s["codec_type"] == "video"))
        .cloned()
        .expect("a video stream");
    assert_eq!(v["codec_name"], "h264");
    let (w, h) = (
        v["width"].as_i64().unwrap_or(0),
        v["height"].as_i64().unwrap_or(0),
    );
    assert_eq!(w.min(h), short_side, "{w}x{h}");
    probe
}

impl TestServer {
    /// A request with any method, optional bearer key and JSON body.
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        auth: Option<&str>,
        body: Option<&Value>,
    ) -> (u16, Value) {
        let mut req = client().request(method, format!("{}{path}", self.url));
        if let Some(a) = auth {
            req = req.bearer_auth(a);
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        let resp = req.send().await.expect("request");
        let status = resp.status().as_u16();
        let text = resp.text().await.expect("body");
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    /// POST with a raw (non-JSON) body.
    pub async fn post_raw(
        &self,
        path: &str,
        auth: Option<&str>,
        content_type: &str,
        body: Vec<u8>,
    ) -> (u16, Value) {
        let mut req = client()
            .post(format!("{}{path}", self.url))
            .header("content-type", content_type)
            .body(body);
        if let Some(a) = auth {
            req = req.bearer_auth(a);
        }
        let resp = req.send().await.expect("POST");
        let status = resp.status().as_u16();
        let text = resp.text().await.expect("body");
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }
}
