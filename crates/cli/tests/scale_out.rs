//! Scale-out with the real binary: one API node (`serve --no-workers`) and
//! worker processes (`worker`) on one PostgreSQL database and one blob
//! store. A worker killed with SIGKILL mid-render loses its lease; another
//! takes the task over; every task succeeds and none is rendered to
//! completion twice.
//!
//! `bench_queue` (ignored; `scripts/bench-queue.sh`) prints tasks per minute
//! with 1, 2 and 4 worker processes and the queue's claim latency.

mod common;

use base64::Engine;
use common::*;
use mouthpiece_storage::sql::SqlStore;
use mouthpiece_storage::{testing, Accounts, NewTask, TaskQueue, TaskState};
use serde_json::{json, Value};
use std::collections::HashMap;
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

fn http() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(60))
        .build()
        .expect("client")
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

struct Proc {
    child: Child,
    log: PathBuf,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One API node and its workers on a fresh PostgreSQL database.
struct Cluster {
    dir: tempfile::TempDir,
    db: String,
    cfg: PathBuf,
    url: String,
    api: Option<Proc>,
    workers: Vec<Proc>,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.workers.clear();
        self.api = None;
        let db = self.db.clone();
        let _ = rt().block_on(testing::drop_database(&testing::admin_url(), &db));
    }
}

impl Cluster {
    /// Fast render settings for tests: 8 fps, ultrafast x264, 2 s leases.
    fn start(workers: usize) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = rt()
            .block_on(testing::create_database(&testing::admin_url()))
            .unwrap_or_else(|e| panic!("{e}"));
        let port = free_port();
        let url = format!("http://127.0.0.1:{port}");
        let cfg = dir.path().join("mouthpiece.toml");
        std::fs::write(
            &cfg,
            format!(
                "listen = \"127.0.0.1:{port}\"\npublic_url = \"{url}\"\ndatabase_url = \"{db}\"\n\
                 blob_url = \"file://{}\"\naccount_concurrency = 1000\n\
                 [workers]\npoll_interval_ms = 100\nlease_seconds = 2\nretry_delay_seconds = 0.2\n\
                 preset = \"ultrafast\"\nfps = 8\n",
                dir.path().join("blobs").display()
            ),
        )
        .expect("write config");
        let mut c = Self {
            dir,
            db,
            cfg,
            url,
            api: None,
            workers: Vec::new(),
        };
        c.api = Some(c.spawn("api", &["serve", "--no-workers"]));
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(r) = http().get(format!("{}/healthz", c.url)).send() {
                if r.status().is_success() {
                    break;
                }
            }
            assert!(Instant::now() < deadline, "the API node did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        for i in 0..workers {
            let w = c.spawn(&format!("worker{i}"), &["worker"]);
            c.workers.push(w);
        }
        c
    }

    fn spawn(&self, name: &str, args: &[&str]) -> Proc {
        let log = self.dir.path().join(format!("{name}.log"));
        let data = self.dir.path().join(name);
        let child = Command::new(env!("CARGO_BIN_EXE_mouthpiece"))
            .args(args)
            .arg("--config")
            .arg(&self.cfg)
            .arg("--data-dir")
            .arg(&data)
            .env("MOUTHPIECE_LOG", "info")
            .env("MOUTHPIECE_LOG_FORMAT", "json")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log file"))
            .spawn()
            .expect("start mouthpiece");
        Proc { child, log }
    }

    fn account_key(&self) -> String {
        let out = mouthpiece(&[
            "account",
            "create",
            "--name",
            "scale",
            "--json",
            "--config",
            self.cfg.to_str().unwrap(),
        ]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: Value = serde_json::from_slice(&out.stdout).expect("account JSON");
        v["api_key"].as_str().expect("api key").to_string()
    }

    fn submit(&self, key: &str, body: &Value) -> String {
        let v: Value = http()
            .post(format!("{}{AVATAR}", self.url))
            .bearer_auth(key)
            .json(body)
            .send()
            .and_then(|r| r.json())
            .expect("create");
        assert_eq!(v["code"], 0, "{v}");
        v["data"]["task_id"].as_str().expect("task id").to_string()
    }

    fn store(&self) -> (tokio::runtime::Runtime, SqlStore) {
        let rt = rt();
        let s = rt
            .block_on(SqlStore::open_postgres(&self.db))
            .expect("open db");
        (rt, s)
    }
}

/// 2 s of quiet noise: the shortest speech the API accepts.
fn tiny_speech(dir: &Path) -> PathBuf {
    let p = dir.join("tiny.wav");
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 8000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(&p, spec).expect("wav");
    for i in 0..16_400usize {
        w.write_sample(((i * 7919) % 400) as i16 - 200)
            .expect("sample");
    }
    w.finalize().expect("finalize");
    p
}

fn body(dir: &Path) -> Value {
    let b64 =
        |p: &Path| base64::engine::general_purpose::STANDARD.encode(std::fs::read(p).unwrap());
    json!({"image": b64(&sample("obama.jpg")), "sound_file": b64(&tiny_speech(dir))})
}

/// `task done` log lines with outcome `succeed`, per task id.
fn completions(logs: &[&Path]) -> HashMap<String, usize> {
    let mut done = HashMap::new();
    for log in logs {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        for line in text.lines() {
            let Ok(v) = serde_json::from_str::<Value>(line) else {
                continue;
            };
            if v["fields"]["message"] == "task done" && v["fields"]["outcome"] == "succeed" {
                if let Some(id) = v["span"]["task_id"].as_str() {
                    *done.entry(id.to_string()).or_default() += 1;
                }
            }
        }
    }
    done
}

#[test]
fn fifty_tasks_survive_a_worker_killed_mid_render_on_postgres() {
    let mut c = Cluster::start(2);
    let key = c.account_key();
    let body = body(c.dir.path());
    let started = Instant::now();
    let ids: Vec<String> = (0..50).map(|_| c.submit(&key, &body)).collect();

    // Kill worker 0 with SIGKILL while it holds a lease.
    let (rt, store) = c.store();
    let victim_pid = c.workers[0].child.id();
    let marker = format!("-{victim_pid}-");
    let deadline = Instant::now() + Duration::from_secs(60);
    let victim_task = loop {
        let held = ids.iter().find_map(|id| {
            let t = rt.block_on(store.task(id)).ok()??;
            (t.state == TaskState::Processing
                && t.lease_owner.as_deref().unwrap_or("").contains(&marker))
            .then_some(t.id)
        });
        if let Some(id) = held {
            // Let the render get going, then kill if the lease is still held.
            std::thread::sleep(Duration::from_millis(200));
            let still = rt
                .block_on(store.task(&id))
                .ok()
                .flatten()
                .is_some_and(|t| {
                    t.state == TaskState::Processing
                        && t.lease_owner.as_deref().unwrap_or("").contains(&marker)
                });
            if still {
                break id;
            }
            continue;
        }
        if Instant::now() > deadline {
            let log = std::fs::read_to_string(&c.workers[0].log).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(15).collect();
            panic!("worker 0 never claimed a task; its log ends with {tail:#?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    c.workers[0].child.kill().expect("SIGKILL");
    c.workers[0].child.wait().expect("reaped");

    let deadline = Instant::now() + Duration::from_secs(150);
    let records = loop {
        let records: Vec<_> = ids
            .iter()
            .map(|id| rt.block_on(store.task(id)).unwrap().unwrap())
            .collect();
        if records.iter().all(|t| t.state.is_terminal()) {
            break records;
        }
        assert!(
            Instant::now() < deadline,
            "tasks still unfinished: {}",
            records.iter().filter(|t| !t.state.is_terminal()).count()
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    let elapsed = started.elapsed();
    for t in &records {
        assert_eq!(t.state, TaskState::Succeed, "{} {:?}", t.id, t.status_msg);
    }
    let victim = records.iter().find(|t| t.id == victim_task).unwrap();
    assert_eq!(
        victim.attempts, 2,
        "the killed worker's task was taken over"
    );

    // Rendered to completion exactly once: one `task done` per task across
    // both workers' logs (the killed one's included).
    let logs: Vec<&Path> = c.workers.iter().map(|w| w.log.as_path()).collect();
    let done = completions(&logs);
    assert_eq!(done.len(), 50, "{done:?}");
    assert!(done.values().all(|&n| n == 1), "{done:?}");
    assert!(!done.contains_key("") && done.contains_key(&victim_task));

    // The taken-over task's video is downloadable through the API node.
    let v: Value = http()
        .get(format!("{}{AVATAR}/{victim_task}", c.url))
        .bearer_auth(&key)
        .send()
        .and_then(|r| r.json())
        .unwrap();
    let url = v["data"]["task_result"]["videos"][0]["url"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(url.contains("/a2/"), "the second attempt's output: {url}");
    let mp4 = http().get(&url).send().and_then(|r| r.bytes()).unwrap();
    let out = c.dir.path().join("victim.mp4");
    std::fs::write(&out, &mp4).unwrap();
    let probe = ffprobe_json(&out);
    assert!(num(&probe["format"]["duration"]) > 1.5);
    println!(
        "scale-out: 50 tasks on 2 workers (one killed) in {:.1} s",
        elapsed.as_secs_f64()
    );
    drop(store);
    c.workers.clear();
}

/// Tasks per minute with 1, 2 and 4 worker processes, and claim latency.
/// Run with `scripts/bench-queue.sh` (prints, never asserts speed).
#[test]
#[ignore]
fn bench_queue() {
    let tasks: usize = std::env::var("BENCH_TASKS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(24);
    for workers in [1usize, 2, 4] {
        // The queue is full before the workers start.
        let mut c = Cluster::start(0);
        let key = c.account_key();
        let body = body(c.dir.path());
        let (rt, store) = c.store();
        let ids: Vec<String> = (0..tasks).map(|_| c.submit(&key, &body)).collect();
        for i in 0..workers {
            let w = c.spawn(&format!("worker{i}"), &["worker"]);
            c.workers.push(w);
        }
        let started = Instant::now();
        let records = loop {
            let records: Vec<_> = ids
                .iter()
                .filter_map(|id| rt.block_on(store.task(id)).ok().flatten())
                .filter(|t| t.state.is_terminal())
                .collect();
            if records.len() == ids.len() {
                break records;
            }
            assert!(started.elapsed() < Duration::from_secs(900));
            std::thread::sleep(Duration::from_millis(100));
        };
        // From the first claim to the last finish, by the database's clock
        // of record: submission time and process start-up are left out.
        let first = records
            .iter()
            .filter_map(|t| t.started_at)
            .min()
            .unwrap_or(0);
        let last = records
            .iter()
            .filter_map(|t| t.finished_at)
            .max()
            .unwrap_or(0);
        let secs = (last - first) as f64 / 1000.0;
        let ok = records
            .iter()
            .filter(|t| t.state == TaskState::Succeed)
            .count();
        println!(
            "bench-queue: {workers} worker process(es): {ok}/{tasks} tasks succeeded in {secs:.1} s = {:.1} tasks/min",
            tasks as f64 * 60.0 / secs
        );
    }

    // Claim latency on a queue of 5000 rows with 8 claimers at once.
    let rt = rt();
    let admin = testing::admin_url();
    let db = rt.block_on(testing::create_database(&admin)).unwrap();
    rt.block_on(async {
        let store = std::sync::Arc::new(SqlStore::open_postgres(&db).await.unwrap());
        store
            .create_account(&mouthpiece_storage::NewAccount {
                account: mouthpiece_storage::AccountRecord {
                    id: "a".into(),
                    name: "a".into(),
                    access_key: "ak".into(),
                    secret_key: "sk".into(),
                    webhook_secret: None,
                    max_concurrent_tasks: None,
                    created_at: 0,
                },
                api_key_hash: "h".into(),
            })
            .await
            .unwrap();
        for i in 0..5000 {
            let t = NewTask {
                id: format!("t{i:05}"),
                account_id: "a".into(),
                external_task_id: None,
                kind: "avatar".into(),
                spec: "{}".into(),
                callback_url: None,
                created_at: i,
                link: None,
            };
            store.insert_task(&t, 100_000, &|_| None).await.unwrap();
        }
        let claimers = (0..8).map(|w| {
            let store = store.clone();
            tokio::spawn(async move {
                let mut lat = Vec::new();
                loop {
                    let t0 = Instant::now();
                    let got = store
                        .claim_task(&format!("w{w}"), 1, i64::MAX / 2, 3, &|_| None)
                        .await
                        .unwrap();
                    if got.is_none() {
                        return lat;
                    }
                    lat.push(t0.elapsed().as_secs_f64() * 1000.0);
                }
            })
        });
        let mut lat: Vec<f64> = futures::future::join_all(claimers)
            .await
            .into_iter()
            .flat_map(|r| r.unwrap())
            .collect();
        lat.sort_by(f64::total_cmp);
        let pct = |p: f64| lat[((lat.len() as f64 - 1.0) * p) as usize];
        println!(
            "bench-queue: claim latency over {} claims by 8 concurrent claimers: p50 {:.2} ms, p95 {:.2} ms, p99 {:.2} ms",
            lat.len(),
            pct(0.5),
            pct(0.95),
            pct(0.99)
        );
    });
    let _ = rt.block_on(testing::drop_database(&admin, &db));
}

#[test]
fn migrate_store_copies_every_blob_once_and_can_run_again() {
    let dir = tempfile::tempdir().unwrap();
    let from = dir.path().join("from");
    for (key, bytes) in [
        ("tasks/1/a1/video.mp4", &b"video-one"[..]),
        ("tasks/2/a2/video.mp4", b"video-two"),
        ("audio/x.wav", b"audio"),
    ] {
        let p = from.join(key);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, bytes).unwrap();
    }
    let to = dir.path().join("to");
    let args = |f: &Path, t: &Path| {
        vec![
            "migrate-store".to_string(),
            "--from".into(),
            format!("file://{}", f.display()),
            "--to".into(),
            format!("file://{}", t.display()),
        ]
    };
    let run = |a: Vec<String>| {
        let refs: Vec<&str> = a.iter().map(String::as_str).collect();
        let out = mouthpiece(&refs);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    let first = run(args(&from, &to));
    assert!(
        first.contains("3 blobs: 3 copied, 0 already present"),
        "{first}"
    );
    assert_eq!(
        std::fs::read(to.join("tasks/2/a2/video.mp4")).unwrap(),
        b"video-two"
    );
    let again = run(args(&from, &to));
    assert!(
        again.contains("3 blobs: 0 copied, 3 already present"),
        "{again}"
    );
    let bad = mouthpiece(&[
        "migrate-store",
        "--from",
        "ftp://x",
        "--to",
        "file:///tmp/y",
    ]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("unsupported blob store URL"));
}
