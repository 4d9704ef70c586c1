//! `mouthpiece account create` and `mouthpiece serve` as real processes:
//! a server killed with SIGKILL mid-render is restarted and the task is
//! re-claimed and completes; a task whose render keeps failing fails with
//! the reason once its attempts are used up; `account rotate`/`revoke` void
//! credentials while the server runs.

mod common;

use base64::Engine;
use common::*;
use serde_json::{json, Value};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const AVATAR: &str = "/v1/videos/avatar/image2video";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn b64(p: &Path) -> String {
    base64::engine::general_purpose::STANDARD.encode(std::fs::read(p).expect("read"))
}

struct Serve {
    child: Child,
    url: String,
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn write_config(dir: &Path, port: u16, extra: &str) -> std::path::PathBuf {
    let cfg = dir.join("mouthpiece.toml");
    std::fs::write(
        &cfg,
        format!(
            "listen = \"127.0.0.1:{port}\"\ndata_dir = \"{}\"\n[workers]\npoll_interval_ms = 100\nlease_seconds = 2\nretry_delay_seconds = 0.2\npreset = \"ultrafast\"\n{extra}\n",
            dir.join("data").display()
        ),
    )
    .expect("write config");
    cfg
}

fn serve(cfg: &Path, port: u16, env: &[(&str, &str)]) -> Serve {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_mouthpiece"));
    cmd.args(["serve", "--config"])
        .arg(cfg)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let child = cmd.spawn().expect("start mouthpiece serve");
    let s = Serve {
        child,
        url: format!("http://127.0.0.1:{port}"),
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(r) = http().get(format!("{}/readyz", s.url)).send() {
            if r.status().as_u16() == 200 {
                return s;
            }
        }
        assert!(Instant::now() < deadline, "the server did not become ready");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn http() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(60))
        .build()
        .expect("client")
}

fn account(cfg: &Path) -> Value {
    let out = mouthpiece(&[
        "account",
        "create",
        "--name",
        "e2e",
        "--json",
        "--config",
        cfg.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("account JSON")
}

fn task(s: &Serve, key: &str, id: &str) -> Value {
    let v: Value = http()
        .get(format!("{}{AVATAR}/{id}", s.url))
        .bearer_auth(key)
        .send()
        .and_then(|r| r.json())
        .expect("query");
    v["data"].clone()
}

fn wait_until(
    s: &Serve,
    key: &str,
    id: &str,
    timeout: Duration,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + timeout;
    loop {
        let t = task(s, key, id);
        if done(&t) {
            return t;
        }
        assert!(Instant::now() < deadline, "timed out; last state {t}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn create(s: &Serve, key: &str, speech: &Path) -> String {
    let v: Value = http()
        .post(format!("{}{AVATAR}", s.url))
        .bearer_auth(key)
        .json(&json!({"image": b64(&sample("obama.jpg")), "sound_file": b64(speech)}))
        .send()
        .and_then(|r| r.json())
        .expect("create");
    assert_eq!(v["code"], 0, "{v}");
    v["data"]["task_id"].as_str().expect("task id").to_string()
}

#[test]
fn a_server_killed_mid_render_finishes_the_task_after_restart() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    // Real frame rate and a longer clip, so the kill lands mid-render.
    let cfg = write_config(dir.path(), port, "");
    let acct = account(&cfg);
    let key = acct["api_key"].as_str().unwrap();
    let speech = dir.path().join("long.wav");
    espeak(
        "This is a longer sentence, spoken slowly, so that the render is still running when the server is killed without warning.",
        "en-us",
        &speech,
    );
    let mut first = serve(&cfg, port, &[]);
    let id = create(&first, key, &speech);
    let seen = wait_until(&first, key, &id, Duration::from_secs(60), |t| {
        t["task_status"] == "processing" && t["task_progress"].as_u64().unwrap_or(0) >= 12
    });
    assert_ne!(seen["task_status"], "succeed");
    first.child.kill().expect("SIGKILL");
    first.child.wait().expect("reaped");
    drop(first);

    let second = serve(&cfg, port, &[]);
    let done = wait_until(&second, key, &id, Duration::from_secs(120), |t| {
        t["task_status"] == "succeed" || t["task_status"] == "failed"
    });
    assert_eq!(done["task_status"], "succeed", "{done}");
    let url = done["task_result"]["videos"][0]["url"].as_str().unwrap();
    let bytes = http()
        .get(url)
        .send()
        .and_then(|r| r.bytes())
        .expect("download");
    let out = dir.path().join("out.mp4");
    std::fs::write(&out, &bytes).unwrap();
    let probe = ffprobe_json(&out);
    let d: f64 = probe["format"]["duration"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(d > 4.0, "{d}");
    drop(second);

    // The queue row shows the second claim.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let attempts = rt.block_on(async {
        use mouthpiece_storage::TaskQueue;
        let store =
            mouthpiece_storage::sql::SqlStore::open_sqlite(&dir.path().join("data/mouthpiece.db"))
                .await
                .unwrap();
        store.task(&id).await.unwrap().unwrap().attempts
    });
    assert_eq!(attempts, 2);
}

#[test]
fn a_render_that_keeps_failing_fails_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let cfg = write_config(dir.path(), port, "max_attempts = 2\nfps = 8\n");
    let acct = account(&cfg);
    let key = acct["api_key"].as_str().unwrap();
    let speech = dir.path().join("s.wav");
    espeak(
        "Hello there, this is a short test of the talking avatar.",
        "en-us",
        &speech,
    );
    // Every encode fails: the ffmpeg the engine is told to use does not exist.
    let s = serve(&cfg, port, &[("MOUTHPIECE_FFMPEG", "/nonexistent/ffmpeg")]);
    let id = create(&s, key, &speech);
    let done = wait_until(&s, key, &id, Duration::from_secs(60), |t| {
        t["task_status"] == "succeed" || t["task_status"] == "failed"
    });
    assert_eq!(done["task_status"], "failed", "{done}");
    let msg = done["task_status_msg"].as_str().unwrap();
    assert!(msg.contains("after 2 attempts"), "{msg}");
    assert!(
        msg.to_lowercase().contains("ffmpeg") || msg.contains("encoder"),
        "{msg}"
    );
}

#[test]
fn rotate_and_revoke_void_the_old_credentials_of_a_running_server_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let cfg = write_config(dir.path(), port, "");
    let acct = account(&cfg);
    let s = serve(&cfg, port, &[]);
    let status = |key: &str| -> (u16, Value) {
        let r = http()
            .get(format!("{}{AVATAR}", s.url))
            .bearer_auth(key)
            .send()
            .expect("GET");
        (r.status().as_u16(), r.json().expect("JSON"))
    };
    let old = acct["api_key"].as_str().unwrap();
    assert_eq!(status(old).0, 200);
    let id = acct["account_id"].as_str().unwrap();

    let out = mouthpiece(&[
        "account",
        "rotate",
        id,
        "--json",
        "--config",
        cfg.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rotated: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let new = rotated["api_key"].as_str().unwrap();
    assert_ne!(new, old);
    let (code, v) = status(old);
    assert_eq!((code, v["code"].as_u64()), (401, Some(1002)), "{v}");
    assert_eq!(status(new).0, 200);

    let out = mouthpiece(&["account", "revoke", id, "--config", cfg.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (code, v) = status(new);
    assert_eq!((code, v["code"].as_u64()), (401, Some(1002)), "{v}");
    // An unknown account is an error, not a silent success.
    let out = mouthpiece(&[
        "account",
        "revoke",
        "acct_nope",
        "--config",
        cfg.to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not found"));
}
