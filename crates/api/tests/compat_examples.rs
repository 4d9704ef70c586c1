//! The contract's own examples, replayed byte for byte against a real server
//! on a loopback port: every example request of the provider reference
//! (`provider-apis.md`) and of the README, with the URL spelling they are
//! documented with (trailing slashes, empty query values, enum case), each
//! answer checked for its status and shape, the ids it gives followed to the
//! next call.
//!
//! The examples are a committed table (so this runs everywhere); when the
//! reference itself is at hand (`../shared/reference/provider-apis.md` from
//! the repo, or `$MOUTHPIECE_REFERENCE`), the table is checked against it
//! both ways: every request spelling and example body the reference has is
//! in the table, and every table entry is in the reference.
//!
//! Example bodies that point at the providers' own hosts are sent twice:
//! first exactly as documented (there is no internet in tests, so the only
//! refusal allowed is that the documented host cannot be fetched: the
//! request itself was accepted), then with just the host part of the media
//! URLs pointed at a loopback file server serving files of the same names.

mod common;

use common::*;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// 2^53 - 1: the largest integer `JSON.parse` keeps exactly.
const MAX_SAFE: u64 = (1 << 53) - 1;

// ---------- the examples, as the reference writes them ----------

/// Kling A.4.1: the official curl example's `--data`, as written.
const KLING_CREATE: &str = r#"{"image":"https://p1-kling.klingai.com/kcdn/cdn-kcdn112452/kling-qa-test/pink_boy.png",
           "sound_file":"https://p1-kling.klingai.com/kcdn/cdn-kcdn112452/kling-qa-test/go-to-world.mp3",
           "prompt":"While talking, excitedly shaking head, finally reaching out and making a fist, deciding to set off, hopping happily",
           "mode":"std","external_task_id":"","callback_url":""}"#;
const KLING_HOST: &str = "https://p1-kling.klingai.com/kcdn/cdn-kcdn112452/kling-qa-test/";

/// kie C.1: the create body.
const KIE_CREATE: &str = r#"{"model":"kling/ai-avatar-standard",
 "callBackUrl":"https://your-domain.com/api/callback",
 "input":{"image_url":"https://file.aiquickdraw.com/custom-page/akr/section-images/17579268936223zs9l3dt.png",
          "audio_url":"https://file.aiquickdraw.com/custom-page/akr/section-images/17579258340109gghun47.mp3",
          "prompt":""}}"#;
const KIE_HOST: &str = "https://file.aiquickdraw.com/custom-page/akr/section-images/";

/// AI/ML API D.1: the create body.
const AIML_CREATE: &str = r#"{"model":"klingai/avatar-standard",
 "image_url":"https://cdn.aimlapi.com/assets/content/office_man.png",
 "audio_url":"https://storage.googleapis.com/falserverless/example_inputs/omnihuman_audio.mp3",
 "prompt":"A person speaking playfully, laughing frequently and gesturing wildly."}"#;
const AIML_HOSTS: [&str; 2] = [
    "https://cdn.aimlapi.com/assets/content/",
    "https://storage.googleapis.com/falserverless/example_inputs/",
];

/// useapi B.2: the `POST /avatars/video` example from the docs.
const USEAPI_VIDEO: &str = r#"{"email":"…","avatarId":"123456789012","text":"Hello, welcome to our product demo!","speakerId":"speaker_id_123"}"#;

/// Every request spelling of the reference (inline code `METHOD path`, as
/// written there) and the step of this suite that replays it, or why it is
/// not served.
const SPELLINGS: &[(&str, &str)] = &[
    ("POST /v1/videos/avatar/image2video", "kling.create"),
    ("GET /v1/videos/avatar/image2video/{id}", "kling.query"),
    ("GET /v1/videos/avatar/image2video?pageNum=&pageSize=", "kling.list"),
    ("POST /v1/audio/tts", "kling.tts"),
    ("GET /account/costs?start_time&end_time[&resource_pack_name]", "kling.costs"),
    ("GET /v1/videos/avatar/image2video/{task_id | external_task_id}", "kling.query"),
    ("GET /v1/videos/avatar/image2video?pageNum=1..1000(1)&pageSize=1..500(30)", "kling.list"),
    ("POST /v1/videos/identify-face", "not served: optional lip-sync family (G.6); the engine animates portraits, not videos"),
    ("POST /v1/videos/advanced-lip-sync", "not served: optional lip-sync family (G.6)"),
    ("GET /v1/videos/advanced-lip-sync/{task_id}", "not served: optional lip-sync family (G.6)"),
    ("GET /v1/videos/advanced-lip-sync?pageNum&pageSize", "not served: optional lip-sync family (G.6)"),
    ("POST /v1/videos/lip-sync", "not served: optional lip-sync family (G.6)"),
    ("GET /v1/videos/lip-sync/{id}", "not served: optional lip-sync family (G.6)"),
    ("GET …/{task_id}", "not served: advanced-lip-sync query (G.6)"),
    ("POST /v1/kling/accounts", "useapi.accounts"),
    ("POST /accounts", "useapi.accounts"),
    ("GET /accounts", "useapi.accounts"),
    ("GET /accounts/{email}", "useapi.accounts"),
    ("DELETE /accounts/{email}", "useapi.cleanup"),
    ("GET /avatars?email=&type=personal\\|templates", "useapi.avatars"),
    ("GET /avatars?email&type=personal|templates", "useapi.avatars"),
    ("POST /avatars", "useapi.avatars"),
    ("DELETE /avatars/{avatarId}?email=", "useapi.cleanup"),
    ("DELETE /avatars/{avatarId}?email", "useapi.cleanup"),
    ("POST /avatars/video", "useapi.video"),
    ("GET /tts/voices?email=", "useapi.tts"),
    ("GET /tts/voices?email", "useapi.tts"),
    ("POST /tts/create", "useapi.tts"),
    ("POST /assets/?email=", "useapi.assets"),
    ("GET /assets/uploaded/?email=&pageNum=1&pageSize=20&contentType=video\\|image\\|audio&fileName=&sort=asc\\|desc", "useapi.assets"),
    ("GET /assets/uploaded/?…", "useapi.assets"),
    ("DELETE /assets/uploaded/?email=&id=", "useapi.cleanup"),
    ("DELETE /assets/uploaded/?email&id", "useapi.cleanup"),
    ("GET /assets/download?email=&workIds=1,2&fileTypes=MP4[,MP3,WAV,PNG]", "useapi.download"),
    ("GET /assets/download", "useapi.download"),
    ("GET /assets/download?workIds&fileTypes", "useapi.download"),
    ("GET /tasks?email=&pageSize=&createdBefore=ms&createdAfter=ms&contentType=video\\|image\\|audio", "useapi.tasks"),
    ("GET /tasks", "useapi.tasks"),
    ("GET /tasks/{task_id}?email=", "useapi.poll"),
    ("GET /tasks/{task_id}?email", "useapi.poll"),
    ("GET /tasks/{task_id}", "useapi.poll"),
    ("GET /tasks/{id}", "useapi.poll"),
    ("DELETE /tasks/{task_id}?email=", "useapi.cleanup"),
    ("DELETE /tasks/{id}", "useapi.cleanup"),
    ("GET /scheduler", "useapi.scheduler"),
    ("GET /scheduler/available", "useapi.scheduler"),
    ("DELETE /scheduler/{task_id}", "useapi.scheduler"),
    ("POST /videos/lipsync", "not served: video lip-sync (the engine animates portraits, not videos)"),
    ("POST https://api.useapi.net/v2/account {\"replyUrl\":\"…\"}", "not served: useapi's account-wide settings (replyUrl is per request here)"),
    ("GET /v2/account", "not served: useapi's account-wide settings"),
    ("POST https://api.kie.ai/api/v1/jobs/createTask", "kie.create"),
    ("POST /api/v1/jobs/createTask", "kie.create"),
    ("GET https://api.kie.ai/api/v1/jobs/recordInfo?taskId=<id>", "kie.record"),
    ("GET /api/v1/jobs/recordInfo?taskId=", "kie.record"),
    ("POST https://api.aimlapi.com/v2/video/generations", "aiml.create"),
    ("POST /v2/video/generations", "aiml.create"),
    ("GET https://api.aimlapi.com/v2/video/generations?generation_id=<id>", "aiml.fetch"),
    ("GET /v2/video/generations?generation_id=", "aiml.fetch"),
];

/// The request bodies the reference has (curl `--data`, JSON blocks and
/// inline JSON that are requests), as above.
const BODIES: &[&str] = &[KLING_CREATE, KIE_CREATE, AIML_CREATE, USEAPI_VIDEO];

// ---------- the reference, when present ----------

fn reference() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("MOUTHPIECE_REFERENCE") {
        let p = PathBuf::from(p);
        assert!(
            p.is_file(),
            "MOUTHPIECE_REFERENCE={} is not a file",
            p.display()
        );
        return Some(p);
    }
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/reference/provider-apis.md");
    p.is_file().then_some(p)
}

/// Fenced blocks (language, text) and the text outside them.
fn split_fences(doc: &str) -> (Vec<(String, String)>, String) {
    let (mut blocks, mut prose) = (Vec::new(), String::new());
    let mut rest = doc;
    while let Some(start) = rest.find("```") {
        prose.push_str(&rest[..start]);
        let after = &rest[start + 3..];
        let Some(nl) = after.find('\n') else { break };
        let lang = after[..nl].trim().to_string();
        let body = &after[nl + 1..];
        let Some(end) = body.find("```") else { break };
        blocks.push((lang, body[..end].to_string()));
        rest = &body[end + 3..];
    }
    prose.push_str(rest);
    (blocks, prose)
}

/// Inline code spans of prose.
fn spans(prose: &str) -> Vec<String> {
    prose
        .split('`')
        .enumerate()
        .filter(|(i, s)| i % 2 == 1 && !s.contains('\n'))
        .map(|(_, s)| s.to_string())
        .collect()
}

const REQUEST_KEYS: &[&str] = &[
    "model",
    "avatarId",
    "imageUrl",
    "audioUrl",
    "image",
    "sound_file",
    "audio_id",
];

fn is_request_body(v: &Value) -> bool {
    v.as_object()
        .is_some_and(|m| REQUEST_KEYS.iter().any(|k| m.contains_key(*k)))
}

/// `--data '...'` of a curl example.
fn curl_data(block: &str) -> Option<String> {
    let start = block.find("--data '")? + "--data '".len();
    let end = block[start..].find('\'')?;
    Some(block[start..start + end].to_string())
}

#[test]
fn the_table_is_the_references_examples() {
    let Some(path) = reference() else {
        eprintln!("provider-apis.md is not at hand; the committed table is replayed as is");
        return;
    };
    let doc = std::fs::read_to_string(&path).expect("read the reference");
    let (blocks, prose) = split_fences(&doc);
    let methods = ["GET ", "POST ", "DELETE ", "PUT ", "PATCH "];
    let found: BTreeSet<String> = spans(&prose)
        .into_iter()
        .filter(|s| methods.iter().any(|m| s.starts_with(m)))
        .collect();
    let table: BTreeSet<String> = SPELLINGS.iter().map(|(s, _)| s.to_string()).collect();
    let missing: Vec<_> = found.difference(&table).collect();
    let stale: Vec<_> = table.difference(&found).collect();
    assert!(
        missing.is_empty(),
        "request spellings of the reference not in the table: {missing:#?}"
    );
    assert!(
        stale.is_empty(),
        "table entries not in the reference: {stale:#?}"
    );

    // Request bodies: byte for byte the curl data, JSON-equal the others.
    let mut bodies: Vec<String> = blocks
        .iter()
        .filter(|(lang, _)| lang == "bash")
        .filter_map(|(_, b)| curl_data(b))
        .collect();
    for (lang, b) in &blocks {
        if lang == "json" && serde_json::from_str::<Value>(b).is_ok_and(|v| is_request_body(&v)) {
            bodies.push(b.trim().to_string());
        }
    }
    for s in spans(&prose) {
        if serde_json::from_str::<Value>(&s).is_ok_and(|v| is_request_body(&v)) {
            bodies.push(s);
        }
    }
    assert_eq!(
        bodies.len(),
        BODIES.len(),
        "request bodies in the reference: {bodies:#?}"
    );
    for b in &bodies {
        assert!(
            BODIES.iter().any(|t| t == b),
            "this request body of the reference is not replayed byte for byte: {b}"
        );
    }
}

// ---------- checking answers ----------

#[derive(Debug, Clone)]
enum Want {
    Str,
    Num,
    Bool,
    Arr,
    Obj,
    /// A number `JSON.parse` reads exactly.
    SafeId,
    /// A string of digits whose value is at most 2^53 - 1.
    SafeIdString,
    Eq(Value),
    Contains(&'static str),
    /// "could not be fetched from <host>...": the one refusal an example
    /// naming the provider's own host may get here.
    FetchRefused(&'static str),
}

fn check(what: &str, v: &Value, wants: &[(&str, Want)]) {
    for (ptr, want) in wants {
        let got = v.pointer(ptr).unwrap_or(&Value::Null);
        let ok = match want {
            Want::Str => got.is_string(),
            Want::Num => got.is_number(),
            Want::Bool => got.is_boolean(),
            Want::Arr => got.is_array(),
            Want::Obj => got.is_object(),
            Want::SafeId => got.as_u64().is_some_and(|n| n > 0 && n <= MAX_SAFE),
            Want::SafeIdString => got
                .as_str()
                .and_then(|s| s.parse::<u64>().ok())
                .is_some_and(|n| n > 0 && n <= MAX_SAFE),
            Want::Eq(e) => got == e,
            Want::Contains(needle) => got.as_str().is_some_and(|s| s.contains(needle)),
            Want::FetchRefused(host) => got
                .as_str()
                .is_some_and(|s| s.contains(&format!("could not be fetched from {host}"))),
        };
        assert!(ok, "{what}: {ptr} should be {want:?}, got {got} in {v}");
    }
}

struct Client<'a> {
    t: &'a TestServer,
    key: String,
    replayed: BTreeSet<&'static str>,
}

impl Client<'_> {
    /// Sends `body` bytes as they are, with `content_type`.
    async fn send(&self, method: &str, path: &str, body: Option<(&str, Vec<u8>)>) -> (u16, Value) {
        let m = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut req = client()
            .request(m, format!("{}{path}", self.t.url))
            .bearer_auth(&self.key);
        if let Some((ct, bytes)) = body {
            req = req.header("content-type", ct).body(bytes);
        }
        let resp = req.send().await.expect("request");
        let status = resp.status().as_u16();
        let text = resp.text().await.expect("body");
        let v = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("{method} {path}: not JSON ({e}): {text}"))
        };
        (status, v)
    }

    /// One replayed request: status and shape checked; `step` is recorded.
    async fn replay(
        &mut self,
        step: &'static str,
        method: &str,
        path: &str,
        body: Option<(&str, Vec<u8>)>,
        status: u16,
        wants: &[(&str, Want)],
    ) -> Value {
        let (s, v) = self.send(method, path, body).await;
        assert_eq!(s, status, "{step}: {method} {path} answered {s}: {v}");
        check(&format!("{step}: {method} {path}"), &v, wants);
        self.replayed.insert(step);
        v
    }

    async fn json(
        &mut self,
        step: &'static str,
        method: &str,
        path: &str,
        body: &str,
        status: u16,
        wants: &[(&str, Want)],
    ) -> Value {
        let body = Some(("application/json", body.as_bytes().to_vec()));
        self.replay(step, method, path, body, status, wants).await
    }
}

async fn bytes_of(url: &str) -> Vec<u8> {
    let r = client().get(url).send().await.expect("download");
    assert_eq!(r.status().as_u16(), 200, "{url}");
    r.bytes().await.expect("bytes").to_vec()
}

fn png_portrait() -> Vec<u8> {
    let img = image::open(sample("obama.jpg")).expect("portrait");
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png)
        .expect("png");
    out.into_inner()
}

/// About 2.5 s of espeak speech as MP3 (the examples' files are MP3s).
fn mp3_speech(dir: &std::path::Path) -> Vec<u8> {
    let wav = short_speech(dir);
    let mp3 = dir.join("speech.mp3");
    let st = std::process::Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y", "-i"])
        .arg(&wav)
        .args(["-c:a", "libmp3lame", "-b:a", "64k"])
        .arg(&mp3)
        .status()
        .expect("ffmpeg must be installed (scripts/setup.sh)");
    assert!(st.success(), "ffmpeg could not make an MP3");
    std::fs::read(mp3).expect("mp3")
}

fn pointed(body: &str, hosts: &[&str], files: &str) -> String {
    hosts
        .iter()
        .fold(body.to_string(), |b, h| b.replace(h, &format!("{files}/")))
}

/// The literal example: accepted, then refused only because the provider's
/// own host cannot be fetched (no internet here).
fn unreachable(host: &'static str) -> Want {
    Want::FetchRefused(host)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_documented_example_replays() {
    let t = TestServer::start(|s| s.network.allow = vec!["127.0.0.1/32".into()]).await;
    let acct = t.account("compat", Some(20)).await;
    let portrait = png_portrait();
    let speech = mp3_speech(t.dir.path());
    let files = file_server(vec![
        ("pink_boy.png", portrait.clone()),
        ("go-to-world.mp3", speech.clone()),
        ("17579268936223zs9l3dt.png", portrait.clone()),
        ("17579258340109gghun47.mp3", speech.clone()),
        ("office_man.png", portrait.clone()),
        ("omnihuman_audio.mp3", speech.clone()),
    ])
    .await;
    let mut c = Client {
        t: &t,
        key: acct.api_key.clone(),
        replayed: BTreeSet::new(),
    };
    let start = mouthpiece_domain::clock::now_ms();

    // ---- Kling (A.4, A.5, A.8) and the README's curl examples ----
    c.json(
        "kling.create",
        "POST",
        "/v1/videos/avatar/image2video",
        KLING_CREATE,
        400,
        &[
            ("/code", Want::Eq(json!(1201))),
            ("/message", unreachable(KLING_HOST)),
            ("/request_id", Want::Str),
        ],
    )
    .await;
    let v = c
        .json(
            "kling.create",
            "POST",
            "/v1/videos/avatar/image2video",
            &pointed(KLING_CREATE, &[KLING_HOST], &files),
            200,
            &[
                ("/code", Want::Eq(json!(0))),
                ("/message", Want::Str),
                ("/request_id", Want::Str),
                ("/data/task_id", Want::SafeIdString),
                ("/data/task_status", Want::Eq(json!("submitted"))),
                ("/data/task_info", Want::Obj),
                ("/data/created_at", Want::Num),
                ("/data/updated_at", Want::Num),
            ],
        )
        .await;
    let kling_task = v["data"]["task_id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    // README: base64 media, an external id, watermark and callback.
    let wav = short_speech(t.dir.path());
    let readme_create = format!(
        "{{\"image\": \"{}\", \"sound_file\": \"{}\",\n \"mode\": \"std\", \"external_task_id\": \"order-42\", \"watermark_info\": {{\"enabled\": true}},\n \"callback_url\": \"https://example.com/hooks/mouthpiece\"}}\n",
        b64_bytes(&portrait), b64(&wav));
    c.json(
        "kling.create",
        "POST",
        "/v1/videos/avatar/image2video",
        &readme_create,
        200,
        &[
            ("/data/task_id", Want::SafeIdString),
            (
                "/data/task_info/external_task_id",
                Want::Eq(json!("order-42")),
            ),
        ],
    )
    .await;
    let task_shape = |id: &str| -> Vec<(&'static str, Want)> {
        vec![
            ("/code", Want::Eq(json!(0))),
            ("/data/task_id", Want::Eq(json!(id))),
            ("/data/task_status", Want::Str),
            ("/data/task_status_msg", Want::Str),
            ("/data/task_info", Want::Obj),
            ("/data/task_result/videos", Want::Arr),
            ("/data/watermark_info/enabled", Want::Bool),
            ("/data/final_unit_deduction", Want::Str),
            ("/data/final_balance_deduction/quota", Want::Str),
            ("/data/created_at", Want::Num),
        ]
    };
    c.replay(
        "kling.query",
        "GET",
        &format!("/v1/videos/avatar/image2video/{kling_task}"),
        None,
        200,
        &task_shape(&kling_task),
    )
    .await;
    c.replay(
        "kling.query",
        "GET",
        "/v1/videos/avatar/image2video/order-42",
        None,
        200,
        &[(
            "/data/task_info/external_task_id",
            Want::Eq(json!("order-42")),
        )],
    )
    .await;
    let v = c
        .replay(
            "kling.list",
            "GET",
            "/v1/videos/avatar/image2video?pageNum=&pageSize=",
            None,
            200,
            &[
                ("/code", Want::Eq(json!(0))),
                ("/data", Want::Arr),
                ("/data/1/task_id", Want::SafeIdString),
            ],
        )
        .await;
    assert_eq!(v["data"].as_array().map(Vec::len), Some(2), "{v}");
    c.replay(
        "kling.list",
        "GET",
        "/v1/videos/avatar/image2video?pageNum=1&pageSize=30",
        None,
        200,
        &[("/data/0/task_id", Want::SafeIdString)],
    )
    .await;
    c.json("kling.tts", "POST", "/v1/audio/tts",
        r#"{"text": "Hello!", "voice_id": "oversea_male1", "voice_language": "en", "voice_speed": 1.0}"#, 200,
        &[("/code", Want::Eq(json!(0))), ("/data/task_id", Want::SafeIdString), ("/data/task_status", Want::Eq(json!("succeed"))),
          ("/data/task_result/audios/0/id", Want::Str), ("/data/task_result/audios/0/url", Want::Str),
          ("/data/task_result/audios/0/duration", Want::Str)]).await;
    // `start_time&end_time` as written (no values): both are required.
    c.replay(
        "kling.costs",
        "GET",
        "/account/costs?start_time&end_time",
        None,
        400,
        &[
            ("/code", Want::Eq(json!(1201))),
            ("/message", Want::Contains("start_time")),
        ],
    )
    .await;
    c.replay(
        "kling.costs",
        "GET",
        &format!("/account/costs?start_time={start}"),
        None,
        400,
        &[
            ("/code", Want::Eq(json!(1201))),
            ("/message", Want::Contains("end_time")),
        ],
    )
    .await;

    // ---- useapi.net (B.1–B.3) ----
    let email = "user@example.com";
    c.json(
        "useapi.accounts",
        "POST",
        "/v1/kling/accounts",
        &format!(r#"{{"email":"{email}","password":"secret","maxJobs":5}}"#),
        200,
        &[
            ("/email", Want::Eq(json!(email))),
            ("/maxJobs", Want::Eq(json!(5))),
        ],
    )
    .await;
    let by_email = format!("/{email}/email");
    c.replay(
        "useapi.accounts",
        "GET",
        "/v1/kling/accounts",
        None,
        200,
        &[(by_email.as_str(), Want::Eq(json!(email)))],
    )
    .await;
    c.replay(
        "useapi.accounts",
        "GET",
        &format!("/v1/kling/accounts/{email}"),
        None,
        200,
        &[("/maxJobs", Want::Eq(json!(5)))],
    )
    .await;
    let up = c
        .replay(
            "useapi.assets",
            "POST",
            "/v1/kling/assets/?email=",
            Some(("image/png", portrait.clone())),
            200,
            &[
                ("/status", Want::Eq(json!(3))),
                ("/url", Want::Str),
                ("/message", Want::Eq(json!(""))),
                ("/fileName", Want::Str),
            ],
        )
        .await;
    let image_url = up["url"].as_str().unwrap_or_default().to_string();
    let list = c.replay("useapi.assets", "GET",
        "/v1/kling/assets/uploaded/?email=&pageNum=1&pageSize=20&contentType=image&fileName=&sort=desc", None, 200,
        &[("/uploadAssetsList/0/id", Want::SafeId), ("/uploadAssetsList/0/contentType", Want::Eq(json!("image"))),
          ("/uploadAssetsList/0/resource/resource", Want::Eq(json!(image_url))),
          ("/uploadAssetsList/0/resource/width", Want::Num)]).await;
    let asset_id = list["uploadAssetsList"][0]["id"]
        .as_u64()
        .unwrap_or_default();
    c.replay("useapi.assets", "GET",
        "/v1/kling/assets/uploaded/?email=&pageNum=1&pageSize=20&contentType=video&fileName=&sort=asc", None, 200,
        &[("/uploadAssetsList", Want::Eq(json!([])))]).await;
    let voices = c
        .replay(
            "useapi.tts",
            "GET",
            "/v1/kling/tts/voices?email=",
            None,
            200,
            &[
                ("/ttsList/0/speakerId", Want::Str),
                ("/ttsList/0/emotions/0/key", Want::Str),
                ("/typeList", Want::Arr),
            ],
        )
        .await;
    let speaker = voices["ttsList"][0]["speakerId"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    c.json(
        "useapi.tts",
        "POST",
        "/v1/kling/tts/create",
        &format!(
            r#"{{"speakerId":"{speaker}","text":"Hello there","speed":1,"emotion":"neutral"}}"#
        ),
        200,
        &[
            ("/resource", Want::Str),
            ("/status", Want::Eq(json!(99))),
            ("/status_name", Want::Eq(json!("succeed"))),
            ("/status_final", Want::Eq(json!(true))),
        ],
    )
    .await;
    c.replay(
        "useapi.avatars",
        "GET",
        "/v1/kling/avatars?email=&type=templates",
        None,
        200,
        &[
            ("/0/id", Want::Str),
            ("/0/name", Want::Str),
            ("/0/imageResources/0/url", Want::Str),
        ],
    )
    .await;
    c.replay(
        "useapi.avatars",
        "GET",
        "/v1/kling/avatars/?email=&type=personal",
        None,
        200,
        &[("", Want::Eq(json!([])))],
    )
    .await;
    let av = c
        .json(
            "useapi.avatars",
            "POST",
            "/v1/kling/avatars",
            &format!(r#"{{"email":"{email}","imageUrl":"{image_url}","nickname":"Demo"}}"#),
            200,
            &[
                ("/id", Want::SafeIdString),
                ("/status", Want::Eq(json!("SUCCESS"))),
            ],
        )
        .await;
    let avatar_id = av["id"].as_str().unwrap_or_default().to_string();
    c.replay(
        "useapi.avatars",
        "GET",
        &format!("/v1/kling/avatars?email={email}&type=personal"),
        None,
        200,
        &[
            ("/0/id", Want::Eq(json!(avatar_id))),
            ("/0/nickname", Want::Eq(json!("Demo"))),
        ],
    )
    .await;
    // The docs' example names an avatar and a voice of their own account.
    c.json(
        "useapi.video",
        "POST",
        "/v1/kling/avatars/video",
        USEAPI_VIDEO,
        400,
        &[
            ("/error", Want::Eq(json!("Unable to locate speakerId"))),
            ("/code", Want::Eq(json!(400))),
        ],
    )
    .await;
    let bound = USEAPI_VIDEO
        .replace("\"…\"", &format!("\"{email}\""))
        .replace("123456789012", &avatar_id)
        .replace("speaker_id_123", &speaker);
    let v = c
        .json(
            "useapi.video",
            "POST",
            "/v1/kling/avatars/video",
            &bound,
            200,
            &[
                ("/task/id", Want::SafeId),
                ("/status_name", Want::Str),
                ("/status_final", Want::Eq(json!(false))),
            ],
        )
        .await;
    let useapi_task = v["task"]["id"].as_u64().unwrap_or_default();

    // ---- kie.ai (C.1, C.2) ----
    c.json(
        "kie.create",
        "POST",
        "/api/v1/jobs/createTask",
        KIE_CREATE,
        422,
        &[
            ("/code", Want::Eq(json!(422))),
            ("/msg", unreachable(KIE_HOST)),
        ],
    )
    .await;
    let v = c
        .json(
            "kie.create",
            "POST",
            "/api/v1/jobs/createTask",
            &pointed(KIE_CREATE, &[KIE_HOST], &files),
            200,
            &[
                ("/code", Want::Eq(json!(200))),
                ("/msg", Want::Eq(json!("success"))),
                ("/data/taskId", Want::SafeIdString),
            ],
        )
        .await;
    let kie_task = v["data"]["taskId"].as_str().unwrap_or_default().to_string();
    c.replay(
        "kie.record",
        "GET",
        &format!("/api/v1/jobs/recordInfo?taskId={kie_task}"),
        None,
        200,
        &[
            ("/code", Want::Eq(json!(200))),
            ("/msg", Want::Str),
            ("/data/taskId", Want::Eq(json!(kie_task))),
            ("/data/model", Want::Eq(json!("kling/ai-avatar-standard"))),
            ("/data/state", Want::Str),
            ("/data/param", Want::Contains("kling/ai-avatar-standard")),
            ("/data/resultJson", Want::Str),
            ("/data/failCode", Want::Str),
            ("/data/failMsg", Want::Str),
            ("/data/costTime", Want::Num),
            ("/data/createTime", Want::Num),
            ("/data/updateTime", Want::Num),
        ],
    )
    .await;
    c.replay(
        "kie.record",
        "GET",
        "/api/v1/jobs/recordInfo?taskId=",
        None,
        422,
        &[("/code", Want::Eq(json!(422)))],
    )
    .await;

    // ---- AI/ML API (D.1, D.2) ----
    c.json(
        "aiml.create",
        "POST",
        "/v2/video/generations",
        AIML_CREATE,
        400,
        &[
            ("/statusCode", Want::Eq(json!(400))),
            ("/message", unreachable(AIML_HOSTS[0])),
        ],
    )
    .await;
    let v = c
        .json(
            "aiml.create",
            "POST",
            "/v2/video/generations",
            &pointed(AIML_CREATE, &AIML_HOSTS, &files),
            200,
            &[
                ("/id", Want::Contains(":klingai/avatar-standard")),
                ("/status", Want::Eq(json!("queued"))),
                ("/meta/usage", Want::Obj),
            ],
        )
        .await;
    let gen = v["id"].as_str().unwrap_or_default().to_string();
    c.replay(
        "aiml.fetch",
        "GET",
        &format!("/v2/video/generations?generation_id={gen}"),
        None,
        200,
        &[("/id", Want::Eq(json!(gen))), ("/status", Want::Str)],
    )
    .await;
    c.replay(
        "aiml.fetch",
        "GET",
        "/v2/video/generations?generation_id=",
        None,
        400,
        &[("/statusCode", Want::Eq(json!(400)))],
    )
    .await;

    // ---- the renders end; their ids lead to the results ----
    let done = t
        .wait_done(&c.key, &kling_task, Duration::from_secs(180))
        .await;
    assert_eq!(done["task_status"], "succeed", "{done}");
    c.replay(
        "kling.query",
        "GET",
        &format!("/v1/videos/avatar/image2video/{kling_task}"),
        None,
        200,
        &[
            ("/data/task_status", Want::Eq(json!("succeed"))),
            ("/data/task_result/videos/0/url", Want::Str),
            ("/data/task_result/videos/0/duration", Want::Str),
        ],
    )
    .await;

    let deadline = Instant::now() + Duration::from_secs(180);
    let rec = loop {
        let v = c
            .replay(
                "useapi.poll",
                "GET",
                &format!("/v1/kling/tasks/{useapi_task}?email="),
                None,
                200,
                &[
                    ("/task/id", Want::Eq(json!(useapi_task))),
                    ("/status", Want::Num),
                    ("/status_name", Want::Str),
                ],
            )
            .await;
        if v["status_final"] == true {
            break v;
        }
        assert!(Instant::now() < deadline, "useapi task still running: {v}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    check(
        "useapi.poll",
        &rec,
        &[
            ("/status", Want::Eq(json!(99))),
            ("/status_name", Want::Eq(json!("succeed"))),
            ("/task/taskInfo/inputs/0/name", Want::Eq(json!("input"))),
            ("/task/taskInfo/inputs/0/inputType", Want::Eq(json!("URL"))),
            ("/task/taskInfo/inputs/0/url", Want::Str),
            ("/task/taskInfo/inputs/1/name", Want::Eq(json!("audio"))),
            ("/works/0/workId", Want::SafeId),
            ("/works/0/taskId", Want::Eq(json!(useapi_task))),
            ("/works/0/contentType", Want::Eq(json!("video"))),
            ("/works/0/resource/resource", Want::Str),
            ("/works/0/resource/duration", Want::Num),
            ("/works/0/cover/resource", Want::Contains("cover.jpg")),
            ("/works/0/cover/width", Want::Num),
            ("/works/0/cover/height", Want::Num),
        ],
    );
    // The cover is a real JPEG; the inputs are the task's own files.
    let cover = bytes_of(
        rec["works"][0]["cover"]["resource"]
            .as_str()
            .unwrap_or_default(),
    )
    .await;
    assert_eq!(&cover[..3], &[0xFF, 0xD8, 0xFF], "the cover is not a JPEG");
    let img = image::load_from_memory(&cover).expect("the cover decodes");
    assert_eq!(
        (u64::from(img.width()), u64::from(img.height())),
        (
            rec["works"][0]["cover"]["width"].as_u64().unwrap_or(0),
            rec["works"][0]["cover"]["height"].as_u64().unwrap_or(0)
        )
    );
    let input = bytes_of(
        rec["task"]["taskInfo"]["inputs"][0]["url"]
            .as_str()
            .unwrap_or_default(),
    )
    .await;
    assert!(!input.is_empty());
    let work = rec["works"][0]["workId"].as_u64().unwrap_or_default();
    c.replay(
        "useapi.poll",
        "GET",
        &format!("/v1/kling/tasks/{useapi_task}"),
        None,
        200,
        &[("/task/id", Want::Eq(json!(useapi_task)))],
    )
    .await;
    c.replay(
        "useapi.tasks",
        "GET",
        &format!(
            "/v1/kling/tasks?email=&pageSize=&createdBefore={}&createdAfter={}&contentType=video",
            mouthpiece_domain::clock::now_ms() + 1000,
            start - 1
        ),
        None,
        200,
        &[("/tasks", Want::Arr), ("/tasks/0/task/id", Want::SafeId)],
    )
    .await;
    c.replay(
        "useapi.tasks",
        "GET",
        "/v1/kling/tasks",
        None,
        200,
        &[("/tasks", Want::Arr)],
    )
    .await;
    let dl = c
        .replay(
            "useapi.download",
            "GET",
            &format!("/v1/kling/assets/download?email=&workIds={work}&fileTypes=MP4"),
            None,
            200,
            &[("/cdnUrl", Want::Str)],
        )
        .await;
    let mp4 = bytes_of(dl["cdnUrl"].as_str().unwrap_or_default()).await;
    assert_eq!(&mp4[4..8], b"ftyp", "not an MP4");
    c.replay(
        "useapi.download",
        "GET",
        &format!("/v1/kling/assets/download?workIds={work}"),
        None,
        200,
        &[("/cdnUrl", Want::Str)],
    )
    .await;
    c.replay(
        "useapi.scheduler",
        "GET",
        "/v1/kling/scheduler",
        None,
        200,
        &[("/executing", Want::Arr)],
    )
    .await;
    c.replay(
        "useapi.scheduler",
        "GET",
        "/v1/kling/scheduler/available",
        None,
        200,
        &[
            ("/available", Want::Num),
            ("/accounts/0/email", Want::Eq(json!(email))),
        ],
    )
    .await;
    c.replay(
        "useapi.scheduler",
        "DELETE",
        &format!("/v1/kling/scheduler/{useapi_task}"),
        None,
        200,
        &[
            ("/task/id", Want::Eq(json!(useapi_task))),
            ("/status_final", Want::Eq(json!(true))),
        ],
    )
    .await;

    // Usage: the seconds rendered so far, and the two TTS calls.
    let now = mouthpiece_domain::clock::now_ms();
    let costs = c
        .replay(
            "kling.costs",
            "GET",
            &format!("/account/costs?start_time={start}&end_time={now}"),
            None,
            200,
            &[
                ("/code", Want::Eq(json!(0))),
                ("/data/code", Want::Eq(json!(0))),
                ("/data/msg", Want::Str),
                (
                    "/data/resource_pack_subscribe_infos/0/resource_pack_name",
                    Want::Str,
                ),
                (
                    "/data/resource_pack_subscribe_infos/0/resource_pack_id",
                    Want::Str,
                ),
                (
                    "/data/resource_pack_subscribe_infos/0/resource_pack_type",
                    Want::Str,
                ),
                (
                    "/data/resource_pack_subscribe_infos/0/total_quantity",
                    Want::Num,
                ),
                (
                    "/data/resource_pack_subscribe_infos/0/remaining_quantity",
                    Want::Num,
                ),
                (
                    "/data/resource_pack_subscribe_infos/0/purchase_time",
                    Want::Num,
                ),
                (
                    "/data/resource_pack_subscribe_infos/0/effective_time",
                    Want::Num,
                ),
                (
                    "/data/resource_pack_subscribe_infos/0/invalid_time",
                    Want::Num,
                ),
                (
                    "/data/resource_pack_subscribe_infos/0/status",
                    Want::Eq(json!("online")),
                ),
            ],
        )
        .await;
    let packs = costs["data"]["resource_pack_subscribe_infos"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let used = |unit: &str| {
        packs.iter().find(|p| p["unit"] == unit).map(|p| {
            let (total, left) = (
                p["total_quantity"].as_f64().unwrap_or(0.0),
                p["remaining_quantity"].as_f64().unwrap_or(0.0),
            );
            assert!(left > 0.0, "{p}");
            total - left
        })
    };
    let rendered = done["task_result"]["videos"][0]["duration"]
        .as_str()
        .and_then(|d| d.parse::<f64>().ok())
        .unwrap_or(0.0)
        + rec["works"][0]["resource"]["duration"]
            .as_f64()
            .unwrap_or(0.0)
            / 1000.0;
    let seconds = used("seconds").expect("a video pack");
    assert!(
        seconds + 0.01 >= rendered,
        "{seconds} s reported, at least {rendered} s rendered: {costs}"
    );
    // Kling's TTS, useapi's /tts/create and the speech of the useapi video.
    assert_eq!(used("calls"), Some(3.0), "{costs}");
    let name = packs[0]["resource_pack_name"]
        .as_str()
        .unwrap_or_default()
        .replace(' ', "%20");
    let one = c
        .replay(
            "kling.costs",
            "GET",
            &format!("/account/costs?start_time={start}&end_time={now}&resource_pack_name={name}"),
            None,
            200,
            &[(
                "/data/resource_pack_subscribe_infos/0/resource_pack_name",
                Want::Eq(packs[0]["resource_pack_name"].clone()),
            )],
        )
        .await;
    assert_eq!(
        one["data"]["resource_pack_subscribe_infos"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );

    // ---- cleanup, with the documented DELETE spellings ----
    c.replay(
        "useapi.cleanup",
        "DELETE",
        &format!("/v1/kling/assets/uploaded/?email=&id={asset_id}"),
        None,
        200,
        &[("/deleted/0", Want::Eq(json!(asset_id)))],
    )
    .await;
    c.replay(
        "useapi.cleanup",
        "DELETE",
        &format!("/v1/kling/avatars/{avatar_id}?email="),
        None,
        200,
        &[("/status", Want::Eq(json!("SUCCESS")))],
    )
    .await;
    c.replay(
        "useapi.cleanup",
        "DELETE",
        &format!("/v1/kling/tasks/{useapi_task}?email="),
        None,
        200,
        &[
            ("/id", Want::Eq(json!(useapi_task))),
            ("/deleted", Want::Eq(json!(true))),
        ],
    )
    .await;
    c.replay(
        "useapi.cleanup",
        "DELETE",
        &format!("/v1/kling/accounts/{email}"),
        None,
        204,
        &[],
    )
    .await;

    // Every spelling of the table was replayed (or is marked not served).
    for (spelling, step) in SPELLINGS {
        assert!(
            step.starts_with("not served") || c.replayed.contains(step),
            "{spelling:?} ({step}) was not replayed"
        );
    }
}

/// Point 3: kie's model aliases are accepted and echoed as sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kie_model_aliases_are_accepted_and_echoed() {
    let t = TestServer::start(|s| {
        s.network.allow = vec!["127.0.0.1/32".into()];
        s.workers.enabled = false;
    })
    .await;
    let acct = t.account("kie-aliases", Some(20)).await;
    let files = file_server(vec![
        ("17579268936223zs9l3dt.png", png_portrait()),
        ("17579258340109gghun47.mp3", mp3_speech(t.dir.path())),
    ])
    .await;
    let mut c = Client {
        t: &t,
        key: acct.api_key.clone(),
        replayed: BTreeSet::new(),
    };
    for model in [
        "kling/ai-avatar-standard",
        "kling/ai-avatar-pro",
        "kling/ai-avatar-v1-pro",
        "kling/v1-avatar-standard",
        "kling/v1-avatar-pro",
    ] {
        let body =
            pointed(KIE_CREATE, &[KIE_HOST], &files).replace("kling/ai-avatar-standard", model);
        let v = c
            .json(
                "kie.create",
                "POST",
                "/api/v1/jobs/createTask",
                &body,
                200,
                &[("/data/taskId", Want::SafeIdString)],
            )
            .await;
        let id = v["data"]["taskId"].as_str().unwrap_or_default().to_string();
        c.replay(
            "kie.record",
            "GET",
            &format!("/api/v1/jobs/recordInfo?taskId={id}"),
            None,
            200,
            &[("/data/model", Want::Eq(json!(model)))],
        )
        .await;
        // The same task through Kling shows the mode the alias stands for.
        let (s, k) = t
            .get(&format!("/v1/videos/avatar/image2video/{id}"), Some(&c.key))
            .await;
        assert_eq!(s, 200, "{k}");
    }
    let body = pointed(KIE_CREATE, &[KIE_HOST], &files)
        .replace("kling/ai-avatar-standard", "kling/v2-avatar-ultra");
    c.json(
        "kie.create",
        "POST",
        "/api/v1/jobs/createTask",
        &body,
        422,
        &[("/msg", Want::Contains("kling/v1-avatar-pro"))],
    )
    .await;
}

/// Point 1: every useapi route answers with and without a trailing slash,
/// for every method it has (a route 404 says "Not found"; anything else
/// means the route was found).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn useapi_routes_take_both_spellings() {
    let t = TestServer::start(|s| s.workers.enabled = false).await;
    let acct = t.account("slashes", None).await;
    let c = Client {
        t: &t,
        key: acct.api_key.clone(),
        replayed: BTreeSet::new(),
    };
    let (s, _) = c
        .send(
            "POST",
            "/v1/kling/accounts/",
            Some((
                "application/json",
                br#"{"email":"a@b.c","password":"p","maxJobs":1}"#.to_vec(),
            )),
        )
        .await;
    assert_eq!(s, 200);
    let routes: &[(&str, &str)] = &[
        ("GET", "/accounts"),
        ("POST", "/accounts"),
        ("GET", "/accounts/a@b.c"),
        ("DELETE", "/accounts/nobody@b.c"),
        ("POST", "/assets"),
        ("GET", "/assets/download"),
        ("GET", "/assets/uploaded"),
        ("DELETE", "/assets/uploaded"),
        ("GET", "/tts/voices"),
        ("POST", "/tts/create"),
        ("GET", "/avatars"),
        ("POST", "/avatars"),
        ("DELETE", "/avatars/123456789012"),
        ("POST", "/avatars/video"),
        ("GET", "/tasks"),
        ("GET", "/tasks/123"),
        ("DELETE", "/tasks/123"),
        ("GET", "/scheduler"),
        ("GET", "/scheduler/available"),
        ("DELETE", "/scheduler/123"),
    ];
    for (method, path) in routes {
        let mut answers = Vec::new();
        for spelling in [
            format!("/v1/kling{path}"),
            format!("/v1/kling{path}/"),
            format!("/v1/kling{path}/?email=a@b.c"),
        ] {
            let body = (*method == "POST").then(|| ("application/json", b"{}".to_vec()));
            let (s, v) = c.send(method, &spelling, body).await;
            assert!(
                !(s == 404 && v["error"] == "Not found"),
                "{method} {spelling}: no such route: {v}"
            );
            answers.push(s);
        }
        assert!(
            answers.windows(2).all(|w| w[0] == w[1]),
            "{method} {path}: {answers:?}"
        );
    }
    // Other dialects' paths are still matched as written.
    let (s, v) = c.send("GET", "/v1/videos/avatar/image2video/", None).await;
    assert_eq!((s, v["code"].as_u64()), (404, Some(1202)), "{v}");
}

/// Kling's signing test vector (A.6) comes out of the signer callbacks use.
#[test]
fn klings_webhook_test_vector_is_reproduced() {
    let sig = mouthpiece_domain::callbacks::sign(
        "whsec_dGVzdHNlY3JldHRlc3RzZWNyZXR0ZXN0c2VjcmV0MTI=",
        "9876543210",
        1781080794,
        r#"{"id":"1234567890","status":"succeeded","message":"","create_time":1781080778802,"update_time":1781080794151}"#,
    );
    assert_eq!(
        sig.as_deref(),
        Some("v1,UsKlJP00XoQyOn410NM9xv34sP+Gl0jnOO9Lcpr7NJ4=")
    );
}

/// Tasks stored before ids were kept below 2^53 have 19-digit ids: they
/// still resolve through every dialect.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn old_19_digit_ids_still_resolve() {
    let t = TestServer::start(|s| s.workers.enabled = false).await;
    let acct = t.account("old-ids", None).await;
    let old = "1796231513669524501";
    let spec = json!({"dialect": "useapi", "image_key": format!("tasks/{old}/input/image.png"),
                      "audio_key": format!("tasks/{old}/input/audio.wav"), "audio_duration": 2.5, "mode": "std"});
    let task = mouthpiece_storage::NewTask {
        id: old.into(),
        account_id: acct.account.id.clone(),
        external_task_id: None,
        kind: "avatar".into(),
        spec: spec.to_string(),
        callback_url: None,
        created_at: mouthpiece_domain::clock::now_ms(),
        link: None,
    };
    let inserted = t
        .server
        .services
        .stores
        .tasks
        .insert_task(&task, 10, &|_| None)
        .await
        .expect("insert");
    assert_eq!(inserted, mouthpiece_storage::InsertOutcome::Inserted);
    let c = Client {
        t: &t,
        key: acct.api_key.clone(),
        replayed: BTreeSet::new(),
    };
    let (s, v) = c.send("GET", &format!("/v1/kling/tasks/{old}"), None).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["task"]["id"].as_u64(), old.parse::<u64>().ok(), "{v}");
    let (s, v) = c
        .send("GET", &format!("/v1/videos/avatar/image2video/{old}"), None)
        .await;
    assert_eq!((s, v["data"]["task_id"].as_str()), (200, Some(old)), "{v}");
    let (s, v) = c
        .send(
            "GET",
            &format!("/api/v1/jobs/recordInfo?taskId={old}"),
            None,
        )
        .await;
    assert_eq!((s, v["data"]["taskId"].as_str()), (200, Some(old)), "{v}");
    // A new task's id is short, so the two never meet.
    let (s, v) = c
        .send(
            "POST",
            "/v1/audio/tts",
            Some((
                "application/json",
                br#"{"text":"Hi there","voice_id":"oversea_male1","voice_language":"en"}"#.to_vec(),
            )),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let id: u64 = v["data"]["task_id"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    assert!(id > 0 && id <= MAX_SAFE, "{v}");
}
