//! `mouthpiece soak`: starts a real server on loopback (its own data dir),
//! sends a fixed mix of valid and invalid requests across the four
//! dialects for a bounded time, then waits for every accepted task to end.
//! Prints requests served, answers by dialect/status/code, the server's
//! peak memory and how many accepted tasks did not finish (target 0).

use anyhow::{bail, Context, Result};
use base64::Engine;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(clap::Args)]
pub struct SoakArgs {
    /// How long to send requests.
    #[arg(long, default_value_t = 30)]
    seconds: u64,
    /// Client threads sending at once.
    #[arg(long, default_value_t = 8)]
    clients: usize,
    /// Valid render requests to send in all (the rest are cheap or invalid).
    #[arg(long, default_value_t = 12)]
    tasks: usize,
    /// Render workers in the server.
    #[arg(long, default_value_t = 2)]
    workers: usize,
    /// How long to wait, after the load, for accepted tasks to finish.
    #[arg(long, default_value_t = 600)]
    drain_seconds: u64,
    /// The account's request rate limit per second (0: none, so every
    /// request reaches its handler; set one to watch 429s under load).
    #[arg(long, default_value_t = 0)]
    rate: u32,
    /// Portrait for the valid requests.
    #[arg(long, default_value = "assets/samples/obama.jpg")]
    image: PathBuf,
}

struct Server {
    child: Child,
    url: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `VmHWM` (peak resident set) of a process, in MB.
fn peak_rss_mb(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// One request of the mix: dialect label, method, path, body, and whether
/// it asks for a render.
struct Req {
    dialect: &'static str,
    post: bool,
    path: String,
    body: Option<Value>,
    auth: bool,
    render: bool,
}

fn mix(i: usize, image: &str, sound: &str) -> Req {
    let r = |dialect, post, path: &str, body: Option<Value>| Req {
        dialect,
        post,
        path: path.to_string(),
        body,
        auth: true,
        render: false,
    };
    match i % 12 {
        0 => Req {
            render: true,
            ..r(
                "kling",
                true,
                "/v1/videos/avatar/image2video",
                Some(json!({"image": image, "sound_file": sound})),
            )
        },
        1 => r(
            "kling",
            true,
            "/v1/videos/avatar/image2video",
            Some(json!({"image": "not base64!", "sound_file": "x"})),
        ),
        2 => r(
            "kling",
            false,
            "/v1/videos/avatar/image2video?pageNum=1&pageSize=5",
            None,
        ),
        3 => r(
            "kling",
            false,
            "/v1/videos/avatar/image2video/no-such-task",
            None,
        ),
        4 => Req {
            auth: false,
            ..r("kling", false, "/v1/videos/avatar/image2video/x", None)
        },
        5 => r(
            "kie",
            true,
            "/api/v1/jobs/createTask",
            Some(json!({"model": "kling/ai-avatar-ultra", "input": {}})),
        ),
        6 => r("kie", false, "/api/v1/jobs/recordInfo?taskId=123", None),
        7 => r(
            "aimlapi",
            true,
            "/v2/video/generations",
            Some(
                json!({"model": "klingai/avatar-standard", "image_url": "ftp://x/y.png", "audio_url": sound}),
            ),
        ),
        8 => r(
            "aimlapi",
            false,
            "/v2/video/generations?generation_id=nope",
            None,
        ),
        9 => r(
            "useapi",
            true,
            "/v1/kling/avatars/video",
            Some(json!({"imageUrl": "https://example.com/a.png", "audioUrl": "x", "text": "both"})),
        ),
        10 => r("useapi", false, "/v1/kling/tasks/123", None),
        _ => r(
            "kling",
            true,
            "/v1/audio/tts",
            Some(json!({"text": "", "voice_id": "nobody"})),
        ),
    }
}

#[derive(Default)]
struct Tally {
    served: u64,
    transport_errors: u64,
    by_answer: BTreeMap<String, u64>,
    accepted: Vec<String>,
    renders_sent: usize,
}

fn answer_code(dialect: &str, v: &Value) -> String {
    let code = match dialect {
        "aimlapi" => v.get("statusCode"),
        _ => v.get("code"),
    };
    code.map(|c| c.to_string()).unwrap_or_else(|| "-".into())
}

pub fn run(a: SoakArgs) -> Result<()> {
    let image = std::fs::read(&a.image)
        .with_context(|| format!("reading the portrait {}", a.image.display()))?;
    let dir = tempfile::tempdir()?;
    let speech = dir.path().join("speech.wav");
    let st = Command::new("espeak-ng")
        .args(["-v", "en-us", "-s", "165", "-w"])
        .arg(&speech)
        .arg("Hello there, this is a short soak test of the talking avatar.")
        .status()
        .context("espeak-ng must be installed (scripts/setup.sh)")?;
    if !st.success() {
        bail!("espeak-ng failed");
    }
    let (image, sound) = (b64(&image), b64(&std::fs::read(&speech)?));

    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let cfg = dir.path().join("mouthpiece.toml");
    std::fs::write(
        &cfg,
        format!(
            "listen = \"127.0.0.1:{port}\"\ndata_dir = \"{}\"\naccount_concurrency = 1000\n[limits]\nrequests_per_second = {}\n[workers]\nconcurrency = {}\nfps = 8\npreset = \"ultrafast\"\npoll_interval_ms = 200\n",
            dir.path().join("data").display(),
            a.rate,
            a.workers.max(1)
        ),
    )?;
    let exe = std::env::current_exe()?;
    let out = Command::new(&exe)
        .args(["account", "create", "--name", "soak", "--json", "--config"])
        .arg(&cfg)
        .output()?;
    if !out.status.success() {
        bail!("account create: {}", String::from_utf8_lossy(&out.stderr));
    }
    let acct: Value = serde_json::from_slice(&out.stdout)?;
    let key = acct["api_key"].as_str().unwrap_or_default().to_string();

    let child = Command::new(&exe)
        .args(["serve", "--config"])
        .arg(&cfg)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    let server = Server {
        child,
        url: format!("http://127.0.0.1:{port}"),
    };
    let http = reqwest::blocking::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(120))
        .build()?;
    wait_ready(&http, &server.url)?;
    let rss_start = peak_rss_mb(server.child.id()).unwrap_or(0.0);
    println!(
        "soak: server pid {} on {}; {} s, {} clients, {} renders",
        server.child.id(),
        server.url,
        a.seconds,
        a.clients,
        a.tasks
    );

    let tally = Arc::new(Mutex::new(Tally::default()));
    let started = Instant::now();
    let until = started + Duration::from_secs(a.seconds);
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    std::thread::scope(|scope| {
        for _ in 0..a.clients.max(1) {
            let (tally, next, http, key) = (tally.clone(), next.clone(), http.clone(), key.clone());
            let (image, sound, url) = (&image, &sound, &server.url);
            scope.spawn(move || {
                while Instant::now() < until {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let mut req = mix(i, image, sound);
                    if req.render {
                        let mut t = tally.lock().unwrap_or_else(|p| p.into_inner());
                        if t.renders_sent >= a.tasks {
                            // Spent: a cheap query instead.
                            req = mix(2, image, sound);
                        } else {
                            t.renders_sent += 1;
                        }
                    }
                    let mut rb = if req.post {
                        http.post(format!("{url}{}", req.path))
                    } else {
                        http.get(format!("{url}{}", req.path))
                    };
                    if req.auth {
                        rb = rb.bearer_auth(&key);
                    }
                    if let Some(b) = &req.body {
                        rb = rb.json(b);
                    }
                    let answer = rb.send().and_then(|r| {
                        let s = r.status().as_u16();
                        r.json::<Value>().map(|v| (s, v))
                    });
                    let mut t = tally.lock().unwrap_or_else(|p| p.into_inner());
                    match answer {
                        Ok((status, v)) => {
                            t.served += 1;
                            let k = format!(
                                "{} {} code={}",
                                req.dialect,
                                status,
                                answer_code(req.dialect, &v)
                            );
                            *t.by_answer.entry(k).or_default() += 1;
                            if req.render && status == 200 {
                                if let Some(id) = v["data"]["task_id"].as_str() {
                                    t.accepted.push(id.to_string());
                                }
                            }
                        }
                        Err(_) => t.transport_errors += 1,
                    }
                }
            });
        }
    });
    let load = started.elapsed().as_secs_f64();
    let tally = Arc::try_unwrap(tally)
        .map_err(|_| anyhow::anyhow!("client threads still running"))?
        .into_inner()
        .unwrap_or_else(|p| p.into_inner());

    // Drain: every accepted task must end.
    let drain_until = Instant::now() + Duration::from_secs(a.drain_seconds);
    let mut finals: BTreeMap<String, String> = BTreeMap::new();
    while finals.len() < tally.accepted.len() && Instant::now() < drain_until {
        for id in &tally.accepted {
            if finals.contains_key(id) {
                continue;
            }
            let v: Option<Value> = http
                .get(format!("{}/v1/videos/avatar/image2video/{id}", server.url))
                .bearer_auth(&key)
                .send()
                .and_then(|r| r.json())
                .ok();
            let st = v
                .as_ref()
                .and_then(|v| v["data"]["task_status"].as_str())
                .unwrap_or_default();
            if st == "succeed" || st == "failed" {
                finals.insert(id.clone(), st.to_string());
            }
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    let drained = started.elapsed().as_secs_f64() - load;
    let peak = peak_rss_mb(server.child.id()).unwrap_or(0.0);
    drop(server);

    let succeeded = finals.values().filter(|s| *s == "succeed").count();
    let failed = finals.len() - succeeded;
    let unfinished = tally.accepted.len() - finals.len();
    println!(
        "soak: {} requests served in {load:.1} s ({:.0}/s), {} transport errors",
        tally.served,
        tally.served as f64 / load.max(0.001),
        tally.transport_errors
    );
    println!("soak: answers by dialect, HTTP status and code:");
    for (k, n) in &tally.by_answer {
        println!("  {k:<40} {n}");
    }
    println!(
        "soak: tasks accepted {}, succeed {succeeded}, failed {failed}, unfinished {unfinished} (drained in {drained:.1} s)",
        tally.accepted.len()
    );
    println!("soak: server peak RSS {peak:.0} MB (at ready {rss_start:.0} MB)");
    if unfinished > 0 {
        bail!("{unfinished} accepted tasks did not finish");
    }
    Ok(())
}

fn wait_ready(http: &reqwest::blocking::Client, url: &str) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(120);
    while Instant::now() < deadline {
        if let Ok(r) = http.get(format!("{url}/readyz")).send() {
            if r.status().is_success() {
                return Ok(());
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    bail!("the server did not become ready")
}
