//! Overload and faults with `mouthpiece serve` as a real process:
//! graceful shutdown (SIGTERM) either lets a render finish within the grace
//! period or gives its task back to the queue without spending an attempt;
//! an encoder that dies mid-render, a full disk and a database that drops
//! every connection make tasks retry or fail with the reason, and every
//! accepted task reaches a final state.

mod common;

use base64::Engine;
use common::*;
use mouthpiece_storage::TaskQueue;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
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

impl Serve {
    /// SIGTERM, then waits for the process to end (at most `within`).
    fn terminate(&mut self, within: Duration) -> std::process::ExitStatus {
        let st = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(st.success());
        let deadline = Instant::now() + within;
        loop {
            if let Some(st) = self.child.try_wait().expect("wait") {
                return st;
            }
            assert!(Instant::now() < deadline, "the server did not stop");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

fn write_config(dir: &Path, port: u16, extra_top: &str, workers: &str) -> PathBuf {
    let cfg = dir.join("mouthpiece.toml");
    std::fs::write(
        &cfg,
        format!(
            "listen = \"127.0.0.1:{port}\"\ndata_dir = \"{}\"\n{extra_top}\n[workers]\npoll_interval_ms = 100\nlease_seconds = 2\nretry_delay_seconds = 0.2\npreset = \"ultrafast\"\n{workers}\n",
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

fn api_key(cfg: &Path) -> String {
    let out = mouthpiece(&[
        "account",
        "create",
        "--name",
        "faults",
        "--concurrency",
        "20",
        "--json",
        "--config",
        cfg.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).expect("account JSON");
    v["api_key"].as_str().expect("api key").to_string()
}

fn task(s: &Serve, key: &str, id: &str) -> Value {
    let v: Value = http()
        .get(format!("{}{AVATAR}/{id}", s.url))
        .bearer_auth(key)
        .send()
        .and_then(|r| r.json())
        .expect("query");
    assert_eq!(v["code"], 0, "{v}");
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
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn is_final(t: &Value) -> bool {
    t["task_status"] == "succeed" || t["task_status"] == "failed"
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

fn long_speech(dir: &Path) -> PathBuf {
    let p = dir.join("long.wav");
    // About 25 s: the render (several times faster than real time) must
    // still be running when the stop arrives, however idle the machine.
    let sentence = "This is a longer sentence, spoken slowly, so that the render is still running when the server is asked to stop.";
    espeak(&[sentence; 4].join(" "), "en-us", &p);
    p
}

fn short_speech(dir: &Path) -> PathBuf {
    let p = dir.join("short.wav");
    espeak(
        "Hello there, this is a short test of the talking avatar.",
        "en-us",
        &p,
    );
    p
}

fn stored_task(db: &Path, id: &str) -> mouthpiece_storage::TaskRecord {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let store = mouthpiece_storage::sql::SqlStore::open_sqlite(db)
            .await
            .unwrap();
        store.task(id).await.unwrap().unwrap()
    })
}

#[test]
fn sigterm_without_grace_gives_the_render_back_and_the_next_start_finishes_it() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let cfg = write_config(dir.path(), port, "", "shutdown_grace_seconds = 0");
    let key = api_key(&cfg);
    let speech = long_speech(dir.path());
    let mut first = serve(&cfg, port, &[]);
    let id = create(&first, &key, &speech);
    wait_until(&first, &key, &id, Duration::from_secs(60), |t| {
        t["task_status"] == "processing" && t["task_progress"].as_u64().unwrap_or(0) >= 12
    });
    let st = first.terminate(Duration::from_secs(30));
    assert!(st.success(), "{st:?}");
    // Stopped accepting: nothing listens any more.
    assert!(http().get(format!("{}/healthz", first.url)).send().is_err());
    drop(first);

    // Back in the queue: no owner, no lease held, the attempt not counted.
    let db = dir.path().join("data/mouthpiece.db");
    let r = stored_task(&db, &id);
    assert_eq!(r.lease_owner, None, "{r:?}");
    assert_eq!(r.attempts, 0, "{r:?}");
    assert!(
        r.last_error
            .as_deref()
            .unwrap_or_default()
            .contains("went back to the queue"),
        "{r:?}"
    );

    let second = serve(&cfg, port, &[]);
    let done = wait_until(&second, &key, &id, Duration::from_secs(180), is_final);
    assert_eq!(done["task_status"], "succeed", "{done}");
    drop(second);
    assert_eq!(stored_task(&db, &id).attempts, 1);
}

#[test]
fn sigterm_with_grace_lets_the_render_in_progress_finish() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let cfg = write_config(dir.path(), port, "", "shutdown_grace_seconds = 300");
    let key = api_key(&cfg);
    let speech = long_speech(dir.path());
    let mut s = serve(&cfg, port, &[]);
    let id = create(&s, &key, &speech);
    let queued = create(&s, &key, &speech);
    wait_until(&s, &key, &id, Duration::from_secs(60), |t| {
        t["task_status"] == "processing" && t["task_progress"].as_u64().unwrap_or(0) >= 12
    });
    let st = s.terminate(Duration::from_secs(300));
    assert!(st.success(), "{st:?}");
    drop(s);
    let db = dir.path().join("data/mouthpiece.db");
    let r = stored_task(&db, &id);
    assert_eq!(r.state.as_str(), "succeed", "{r:?}");
    assert_eq!(r.attempts, 1);
    // The one still waiting was not started during the grace period.
    let w = stored_task(&db, &queued);
    assert_eq!(w.state.as_str(), "submitted", "{w:?}");
    assert_eq!(w.attempts, 0);
}

/// An ffmpeg that is SIGKILLed shortly after it starts encoding while
/// `flag` exists (its `-encoders` self-check passes through).
fn dying_ffmpeg(dir: &Path, flag: &Path) -> PathBuf {
    let script = dir.join("ffmpeg-dies.sh");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\ncase \"$*\" in *-encoders*) exec ffmpeg \"$@\";; esac\nif [ -e '{}' ]; then\n  exec 3<&0\n  ffmpeg \"$@\" <&3 &\n  pid=$!\n  sleep 0.3\n  kill -9 $pid\n  exit 137\nfi\nexec ffmpeg \"$@\"\n",
            flag.display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    script
}

#[test]
fn an_encoder_dying_mid_render_fails_the_task_with_the_reason_then_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let cfg = write_config(dir.path(), port, "", "max_attempts = 2\nfps = 8");
    let key = api_key(&cfg);
    let speech = short_speech(dir.path());
    let flag = dir.path().join("die");
    std::fs::write(&flag, b"").unwrap();
    let wrapper = dying_ffmpeg(dir.path(), &flag);
    let s = serve(
        &cfg,
        port,
        &[("MOUTHPIECE_FFMPEG", wrapper.to_str().unwrap())],
    );
    let id = create(&s, &key, &speech);
    let done = wait_until(&s, &key, &id, Duration::from_secs(120), is_final);
    assert_eq!(done["task_status"], "failed", "{done}");
    let msg = done["task_status_msg"].as_str().unwrap();
    assert!(msg.contains("after 2 attempts"), "{msg}");
    assert!(msg.contains("ffmpeg"), "{msg}");
    // The encoder is healthy again: the same server renders the next one.
    std::fs::remove_file(&flag).unwrap();
    let next = create(&s, &key, &speech);
    let done = wait_until(&s, &key, &next, Duration::from_secs(120), is_final);
    assert_eq!(done["task_status"], "succeed", "{done}");
}

struct Tmpfs(PathBuf);

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn a_full_disk_fails_renders_with_the_reason_and_loses_no_task() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let cfg = write_config(dir.path(), port, "", "max_attempts = 2\nfps = 8");
    let key = api_key(&cfg);
    let speech = short_speech(dir.path());
    // The renders' scratch space: room for the inputs (about 450 KB), not
    // for the video. Mounting needs root, which the test environment has.
    let work = dir.path().join("data/work");
    std::fs::create_dir_all(&work).unwrap();
    let st = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=600k", "tmpfs"])
        .arg(&work)
        .status()
        .expect("mount");
    assert!(st.success(), "mounting a tmpfs needs root");
    let mounted = Tmpfs(work.clone());
    let s = serve(&cfg, port, &[]);
    let ids: Vec<String> = (0..2).map(|_| create(&s, &key, &speech)).collect();
    for id in &ids {
        let done = wait_until(&s, &key, id, Duration::from_secs(120), is_final);
        assert_eq!(done["task_status"], "failed", "{done}");
        let msg = done["task_status_msg"].as_str().unwrap();
        assert!(msg.contains("after 2 attempts"), "{msg}");
        assert!(msg.contains("No space left on device"), "{msg}");
    }
    // Space again: the next task renders.
    drop(mounted);
    let next = create(&s, &key, &speech);
    let done = wait_until(&s, &key, &next, Duration::from_secs(120), is_final);
    assert_eq!(done["task_status"], "succeed", "{done}");
}

/// Terminates every connection to database `name`; returns how many.
fn terminate_connections(rt: &tokio::runtime::Runtime, admin: &str, name: &str) -> i64 {
    use sqlx::Connection;
    rt.block_on(async {
        let mut c = sqlx::PgConnection::connect(admin)
            .await
            .expect("PostgreSQL");
        let n: i64 = sqlx::query_scalar(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
             WHERE datname = $1 AND pid <> pg_backend_pid()",
        )
        .bind(name)
        .fetch_one(&mut c)
        .await
        .expect("pg_terminate_backend");
        let _ = c.close().await;
        n
    })
}

#[test]
fn postgres_dropping_every_connection_loses_no_accepted_task() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let admin = mouthpiece_storage::testing::admin_url();
    let db = rt
        .block_on(mouthpiece_storage::testing::create_database(&admin))
        .unwrap_or_else(|e| panic!("{e}"));
    let name = db
        .split('?')
        .next()
        .and_then(|p| p.rsplit('/').next())
        .unwrap()
        .to_string();
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let cfg = write_config(
        dir.path(),
        port,
        &format!("database_url = \"{db}\""),
        "max_attempts = 5\nfps = 8\nconcurrency = 2",
    );
    let key = api_key(&cfg);
    let speech = short_speech(dir.path());
    let s = serve(&cfg, port, &[]);
    let kill_all = || terminate_connections(&rt, &admin, &name);
    let mut ids = Vec::new();
    let mut killed = 0;
    for _ in 0..4 {
        ids.push(create(&s, &key, &speech));
        // Every connection of the server's pool, mid-claim or mid-render.
        killed += kill_all();
        std::thread::sleep(Duration::from_millis(700));
    }
    killed += kill_all();
    assert!(killed > 0, "no connection was terminated");
    let mut finals = Vec::new();
    for id in &ids {
        // A request can itself meet a dropped connection; the pool reconnects.
        let deadline = Instant::now() + Duration::from_secs(180);
        let done = loop {
            let v: Option<Value> = http()
                .get(format!("{}{AVATAR}/{id}", s.url))
                .bearer_auth(&key)
                .send()
                .and_then(|r| r.json())
                .ok();
            if let Some(t) = v.filter(|v| v["code"] == 0).map(|v| v["data"].clone()) {
                if is_final(&t) {
                    break t;
                }
            }
            assert!(Instant::now() < deadline, "task {id} never finished");
            std::thread::sleep(Duration::from_millis(200));
        };
        finals.push(done);
    }
    for t in &finals {
        assert_eq!(t["task_status"], "succeed", "{t}");
    }
    drop(s);
    let _ = rt.block_on(mouthpiece_storage::testing::drop_database(&admin, &db));
}
