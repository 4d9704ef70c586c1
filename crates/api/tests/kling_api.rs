//! The Kling-compatible API end to end: a real server on loopback with real
//! SQLite, the real engine and ffmpeg; speech from espeak-ng; the sample
//! portraits.

mod common;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use common::*;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const AVATAR: &str = "/v1/videos/avatar/image2video";
const RENDER_TIMEOUT: Duration = Duration::from_secs(120);

fn now_s() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// An HS256 JWT made here, independently of the server's code.
fn jwt(ak: &str, sk: &str, exp: i64, nbf: i64) -> String {
    let h = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
    let p = URL_SAFE_NO_PAD.encode(json!({"iss": ak, "exp": exp, "nbf": nbf}).to_string());
    let mut mac = Hmac::<Sha256>::new_from_slice(sk.as_bytes()).unwrap();
    mac.update(format!("{h}.{p}").as_bytes());
    format!(
        "{h}.{p}.{}",
        URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    )
}

fn assert_error(status: u16, v: &Value, want_status: u16, want_code: u64, needle: &str) {
    assert_eq!(status, want_status, "{v}");
    assert_eq!(v["code"], want_code, "{v}");
    assert!(v.get("data").is_none(), "{v}");
    let msg = v["message"].as_str().unwrap_or_default();
    assert!(
        msg.contains(needle),
        "message {msg:?} should mention {needle:?}"
    );
    assert!(
        !v["request_id"].as_str().unwrap_or_default().is_empty(),
        "{v}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn base64_inputs_render_download_query_and_list() {
    let t = TestServer::start(|_| {}).await;
    let acct = t.account("alice", None).await;
    let key = acct.api_key.as_str();
    let speech = short_speech(t.dir.path());
    let body = json!({
        "image": b64(&sample("obama.jpg")),
        "sound_file": b64(&speech),
        "prompt": "Talks calmly.",
        "mode": "std",
        "watermark_info": {"enabled": true},
        "external_task_id": "e2e-1",
        "callback_url": "",
    });
    let (status, created, headers) = t.post(AVATAR, Some(key), &body).await;
    assert_eq!(status, 200, "{created}");
    assert_eq!(created["code"], 0);
    assert_eq!(
        headers["x-request-id"].to_str().unwrap(),
        created["request_id"].as_str().unwrap(),
        "the header and the envelope carry the same request id"
    );
    let data = &created["data"];
    assert_eq!(data["task_status"], "submitted");
    assert_eq!(data["task_info"]["external_task_id"], "e2e-1");
    let id = data["task_id"].as_str().unwrap().to_string();
    assert!(
        id.chars().all(|c| c.is_ascii_digit()),
        "numeric task id like Kling's: {id}"
    );
    assert!(
        data["created_at"].as_i64().unwrap() > 1_600_000_000_000,
        "milliseconds"
    );

    let done = t.wait_done(key, &id, RENDER_TIMEOUT).await;
    assert_eq!(done["task_status"], "succeed", "{done}");
    assert_eq!(done["task_progress"], 100);
    assert_eq!(done["watermark_info"]["enabled"], true);
    let video = &done["task_result"]["videos"][0];
    let url = video["url"].as_str().unwrap();
    let wm = video["watermark_url"].as_str().unwrap();
    assert_ne!(url, wm);
    let duration: f64 = video["duration"].as_str().unwrap().parse().unwrap();
    let speech_len = wav_duration(&speech);
    assert!(
        (duration - speech_len).abs() < 0.1,
        "{duration} vs {speech_len}"
    );

    // Download: the right content type, range requests, a real MP4.
    let resp = client().get(url).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(resp.headers()["content-type"], "video/mp4");
    assert_eq!(resp.headers()["accept-ranges"], "bytes");
    let bytes = resp.bytes().await.unwrap();
    let mp4 = t.dir.path().join("out.mp4");
    std::fs::write(&mp4, &bytes).unwrap();
    let probe = ffprobe(&mp4);
    let v = probe["streams"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["codec_type"] == "video")
        .unwrap();
    assert_eq!(v["codec_name"], "h264");
    assert_eq!(
        v["height"]
            .as_i64()
            .unwrap()
            .min(v["width"].as_i64().unwrap()),
        720,
        "std is 720p"
    );
    assert!(probe["streams"]
        .as_array()
        .unwrap()
        .iter()
        .any(|s| s["codec_type"] == "audio"));
    let probed: f64 = probe["format"]["duration"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        (probed - speech_len).abs() < 0.25,
        "{probed} vs {speech_len}"
    );

    let ranged = client()
        .get(url)
        .header("Range", "bytes=100-1123")
        .send()
        .await
        .unwrap();
    assert_eq!(ranged.status().as_u16(), 206);
    assert_eq!(
        ranged.headers()["content-range"].to_str().unwrap(),
        format!("bytes 100-1123/{}", bytes.len())
    );
    assert_eq!(&ranged.bytes().await.unwrap()[..], &bytes[100..1124]);

    let marked = client().get(wm).send().await.unwrap();
    assert_eq!(marked.status().as_u16(), 200);
    let marked = marked.bytes().await.unwrap();
    assert_ne!(
        &marked[..],
        &bytes[..],
        "the watermarked copy is a different file"
    );

    // A tampered link is refused.
    let tampered = url.replace("video.mp4", "video-watermark.mp4");
    assert_eq!(
        client()
            .get(&tampered)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16(),
        403
    );

    // Query by external id.
    let (s, by_ext) = t.get(&format!("{AVATAR}/e2e-1"), Some(key)).await;
    assert_eq!(s, 200);
    assert_eq!(by_ext["data"]["task_id"], id.as_str());

    // Paging: newest first.
    let (s, second) = t
        .create(
            key,
            &json!({"image": b64(&sample("obama.jpg")), "sound_file": b64(&speech)}),
        )
        .await;
    assert_eq!(s, 200, "{second}");
    let second_id = second["data"]["task_id"].as_str().unwrap();
    let (s, page1) = t
        .get(&format!("{AVATAR}?pageNum=1&pageSize=1"), Some(key))
        .await;
    assert_eq!(s, 200);
    assert_eq!(page1["data"].as_array().unwrap().len(), 1);
    assert_eq!(page1["data"][0]["task_id"], second_id);
    let (_, page2) = t
        .get(&format!("{AVATAR}?pageNum=2&pageSize=1"), Some(key))
        .await;
    assert_eq!(page2["data"][0]["task_id"], id.as_str());
    let (_, all) = t.get(AVATAR, Some(key)).await;
    assert_eq!(all["data"].as_array().unwrap().len(), 2);
    let (_, empty) = t
        .get(&format!("{AVATAR}?pageNum=3&pageSize=1"), Some(key))
        .await;
    assert_eq!(empty["data"].as_array().unwrap().len(), 0);
    for bad in [
        "pageSize=501",
        "pageSize=0",
        "pageNum=0",
        "pageNum=1001",
        "pageSize=abc",
    ] {
        let (s, v) = t.get(&format!("{AVATAR}?{bad}"), Some(key)).await;
        assert_error(s, &v, 400, 1201, "out of range");
    }
    t.wait_done(key, second_id, RENDER_TIMEOUT).await;
    t.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn urls_are_fetched_when_allowed_and_refused_otherwise() {
    let dir = tempfile::tempdir().unwrap();
    let speech = std::fs::read(short_speech(dir.path())).unwrap();
    let files = file_server(vec![
        ("face.png", std::fs::read(sample("astronaut.png")).unwrap()),
        ("speech.wav", speech),
    ])
    .await;
    let body =
        json!({"image": format!("{files}/face.png"), "sound_file": format!("{files}/speech.wav")});

    let open = TestServer::start(|s| s.network.allow = vec!["127.0.0.1/32".into()]).await;
    let a = open.account("a", None).await;
    let (s, v) = open.create(&a.api_key, &body).await;
    assert_eq!(s, 200, "{v}");
    let done = open
        .wait_done(
            &a.api_key,
            v["data"]["task_id"].as_str().unwrap(),
            RENDER_TIMEOUT,
        )
        .await;
    assert_eq!(done["task_status"], "succeed", "{done}");
    // A missing file is a clear 1201.
    let (s, v) = open
        .create(&a.api_key, &json!({"image": format!("{files}/nope.png"), "sound_file": format!("{files}/speech.wav")}))
        .await;
    assert_error(s, &v, 400, 1201, "HTTP 404");
    // Redirects are followed, and checked again: one to an allowed address
    // works, one to a loopback address outside the allow-list is refused.
    let to_allowed = redirect_server(format!("{files}/face.png")).await;
    let (s, v) = open
        .create(&a.api_key, &json!({"image": format!("{to_allowed}/x"), "sound_file": format!("{files}/speech.wav")}))
        .await;
    assert_eq!(s, 200, "{v}");
    open.wait_done(
        &a.api_key,
        v["data"]["task_id"].as_str().unwrap(),
        RENDER_TIMEOUT,
    )
    .await;
    let to_other = redirect_server(files.replace("127.0.0.1", "127.0.0.2") + "/face.png").await;
    let (s, v) = open
        .create(
            &a.api_key,
            &json!({"image": format!("{to_other}/x"), "sound_file": format!("{files}/speech.wav")}),
        )
        .await;
    assert_error(s, &v, 400, 1201, "redirect refused");
    // A file over its field's limit: the portrait is fine as an image, not as speech (5 MB).
    let big = file_server(vec![("big.wav", wav_of(330.0))]).await;
    let (s, v) = open
        .create(
            &a.api_key,
            &json!({"image": format!("{files}/face.png"), "sound_file": format!("{big}/big.wav")}),
        )
        .await;
    assert_error(s, &v, 400, 1201, "limit of 5242880 bytes");
    open.server.shutdown().await;

    let closed = TestServer::start(|_| {}).await;
    let b = closed.account("b", None).await;
    let (s, v) = closed.create(&b.api_key, &body).await;
    assert_error(s, &v, 400, 1201, "not allowed");
    let via_name = json!({"image": format!("{}/face.png", files.replace("127.0.0.1", "localhost")), "sound_file": b64_bytes(&wav_of(3.0))});
    let (s, v) = closed.create(&b.api_key, &via_name).await;
    assert_error(s, &v, 400, 1201, "not allowed");
    let (s, v) = closed
        .create(&b.api_key, &json!({"image": "http://169.254.169.254/latest/meta-data", "sound_file": b64_bytes(&wav_of(3.0))}))
        .await;
    assert_error(s, &v, 400, 1201, "not allowed");
    closed.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tts_audio_id_renders_with_its_phoneme_timing() {
    let t = TestServer::start(|_| {}).await;
    let acct = t.account("tts", None).await;
    let key = acct.api_key.as_str();
    let text = "Good morning. This voice was made by the built in speech engine.";
    let (s, v, _) = t
        .post("/v1/audio/tts", Some(key), &json!({"text": text, "voice_id": "oversea_male1", "voice_language": "en", "voice_speed": 1.0}))
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["data"]["task_status"], "succeed");
    let audio = &v["data"]["task_result"]["audios"][0];
    let audio_id = audio["id"].as_str().unwrap().to_string();
    let duration: f64 = audio["duration"].as_str().unwrap().parse().unwrap();
    assert!(duration > 2.0, "{duration}");
    let resp = client()
        .get(audio["url"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(resp.headers()["content-type"], "audio/wav");

    // Faster speech is shorter; out-of-range speeds are clamped, not refused.
    let (s, fast, _) = t
        .post("/v1/audio/tts", Some(key), &json!({"text": text, "voice_id": "oversea_male1", "voice_language": "en", "voice_speed": 9}))
        .await;
    assert_eq!(s, 200, "{fast}");
    let fast_d: f64 = fast["data"]["task_result"]["audios"][0]["duration"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(fast_d < duration * 0.7, "speed 2.0: {fast_d} vs {duration}");
    // Chinese.
    let (s, zh, _) = t
        .post("/v1/audio/tts", Some(key), &json!({"text": "你好，欢迎使用我们的产品。", "voice_id": "genshin_vindi2", "voice_language": "zh"}))
        .await;
    assert_eq!(s, 200, "{zh}");
    // Errors.
    let (s, e, _) = t
        .post(
            "/v1/audio/tts",
            Some(key),
            &json!({"text": "hi", "voice_id": "oversea_male1", "voice_language": "zh"}),
        )
        .await;
    assert_error(s, &e, 400, 1201, "Voice id not found");
    let (s, e, _) = t
        .post(
            "/v1/audio/tts",
            Some(key),
            &json!({"text": "a".repeat(1001), "voice_id": "oversea_male1", "voice_language": "en"}),
        )
        .await;
    assert_error(s, &e, 400, 1201, "1000");
    let (s, e, _) = t.post("/v1/audio/tts", None, &json!({"text": "hi"})).await;
    assert_error(s, &e, 401, 1001, "empty");

    // Render with the audio id: the stored phoneme timeline travels with the task.
    let (s, c) = t
        .create(
            key,
            &json!({"image": b64(&sample("obama.jpg")), "audio_id": audio_id, "sound_file": ""}),
        )
        .await;
    assert_eq!(s, 200, "{c}");
    let id = c["data"]["task_id"].as_str().unwrap().to_string();
    let stored = t
        .server
        .services
        .stores
        .tasks
        .task(&id)
        .await
        .unwrap()
        .unwrap();
    assert!(
        stored.spec.contains("mouthCues"),
        "the task carries the TTS mouth timeline"
    );
    let done = t.wait_done(key, &id, RENDER_TIMEOUT).await;
    assert_eq!(done["task_status"], "succeed", "{done}");
    let d: f64 = done["task_result"]["videos"][0]["duration"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((d - duration).abs() < 0.1, "{d} vs {duration}");

    // Another account cannot use this audio id.
    let other = t.account("other", None).await;
    let (s, e) = t
        .create(
            &other.api_key,
            &json!({"image": b64(&sample("obama.jpg")), "audio_id": audio_id}),
        )
        .await;
    assert_error(s, &e, 400, 1201, "audio_id");

    // After the retention the janitor removes results and audio.
    let swept = t.sweep_a_month_later().await;
    assert_eq!((swept.tasks, swept.audio), (1, 3));
    let (s, e) = t.get(&format!("{AVATAR}/{id}"), Some(key)).await;
    assert_error(s, &e, 404, 1203, "not found");
    let (s, e) = t
        .create(
            key,
            &json!({"image": b64(&sample("obama.jpg")), "audio_id": audio_id}),
        )
        .await;
    assert_error(s, &e, 400, 1201, "30 days");
    let gone = client()
        .get(done["task_result"]["videos"][0]["url"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(gone.status().as_u16(), 404);
    t.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_keys_and_jwts_authenticate_and_accounts_are_isolated() {
    let t = TestServer::start(|s| s.workers.enabled = false).await;
    let a = t.account("a", None).await;
    let b = t.account("b", None).await;
    let speech = short_speech(t.dir.path());
    let body = |ext: &str| json!({"image": b64(&sample("obama.jpg")), "sound_file": b64(&speech), "external_task_id": ext});

    // API key and a fresh JWT both work.
    let (s, v) = t.get(AVATAR, Some(&a.api_key)).await;
    assert_eq!((s, v["code"].as_u64()), (200, Some(0)), "{v}");
    let now = now_s();
    let good = jwt(&a.access_key, &a.secret_key, now + 1800, now - 5);
    let (s, v) = t.get(AVATAR, Some(&good)).await;
    assert_eq!((s, v["code"].as_u64()), (200, Some(0)), "{v}");

    let cases = [
        (
            Some(jwt(&a.access_key, &a.secret_key, now - 60, now - 1900)),
            1004,
            "expired",
        ),
        (
            Some(jwt(&a.access_key, &a.secret_key, now + 1800, now + 600)),
            1003,
            "not yet valid",
        ),
        (
            Some(jwt(&a.access_key, "wrong-secret", now + 1800, now - 5)),
            1002,
            "signature",
        ),
        (
            Some(jwt("AKunknown", &a.secret_key, now + 1800, now - 5)),
            1002,
            "AccessKey",
        ),
        (
            Some("mp_not-a-real-key".to_string()),
            1002,
            "unknown API key",
        ),
        (None, 1001, "empty"),
    ];
    for (token, code, needle) in cases {
        let (s, v) = t.get(AVATAR, token.as_deref()).await;
        assert_error(s, &v, 401, code, needle);
    }
    let resp = client()
        .get(format!("{}{AVATAR}", t.url))
        .header("Authorization", "Basic abc")
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    assert_error(status, &resp.json().await.unwrap(), 401, 1000, "Bearer");

    // A creates two tasks, B one with the same external id (ids are per account).
    let (s, ta) = t.create(&a.api_key, &body("shared")).await;
    assert_eq!(s, 200, "{ta}");
    let a_id = ta["data"]["task_id"].as_str().unwrap().to_string();
    let (s, ta2) = t.create(&good, &body("a-only")).await;
    assert_eq!(s, 200, "{ta2}");
    let (s, tb) = t.create(&b.api_key, &body("shared")).await;
    assert_eq!(s, 200, "{tb}");
    let b_id = tb["data"]["task_id"].as_str().unwrap().to_string();

    for path in [format!("{AVATAR}/{a_id}"), format!("{AVATAR}/a-only")] {
        let (s, v) = t.get(&path, Some(&b.api_key)).await;
        assert_error(s, &v, 404, 1203, "not found");
    }
    let (_, v) = t.get(&format!("{AVATAR}/shared"), Some(&b.api_key)).await;
    assert_eq!(v["data"]["task_id"], b_id.as_str(), "B's own task, not A's");
    let (_, v) = t.get(&format!("{AVATAR}/shared"), Some(&a.api_key)).await;
    assert_eq!(v["data"]["task_id"], a_id.as_str());
    let ids = |v: &Value| -> Vec<String> {
        v["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["task_id"].as_str().unwrap().to_string())
            .collect()
    };
    let (_, la) = t.get(AVATAR, Some(&a.api_key)).await;
    let (_, lb) = t.get(AVATAR, Some(&b.api_key)).await;
    assert_eq!(ids(&la).len(), 2);
    assert!(!ids(&la).contains(&b_id));
    assert_eq!(ids(&lb), vec![b_id]);
    t.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_limit_is_refused_with_klings_code() {
    let t = TestServer::start(|s| s.workers.enabled = false).await;
    let acct = t.account("v", None).await;
    let key = acct.api_key.as_str();
    let img = b64(&sample("obama.jpg"));
    let speech = b64(&short_speech(t.dir.path()));
    let short = b64(&espeak("Hi.", &t.dir.path().join("hi.wav")));
    let with = |patch: Value| {
        let mut b = json!({"image": img, "sound_file": speech});
        for (k, v) in patch.as_object().unwrap() {
            if v.is_null() {
                b.as_object_mut().unwrap().remove(k);
            } else {
                b[k] = v.clone();
            }
        }
        b
    };
    let cases: Vec<(Value, &str)> = vec![
        (with(json!({"audio_id": "abc"})), "not both"),
        (
            with(json!({"sound_file": null})),
            "one of audio_id or sound_file",
        ),
        (
            with(json!({"sound_file": ""})),
            "one of audio_id or sound_file",
        ),
        (with(json!({"image": null})), "image: is required"),
        (with(json!({"prompt": "x".repeat(2501)})), "2500"),
        (with(json!({"mode": "ultra"})), "\"ultra\" is not a mode"),
        (
            with(json!({"image": b64_bytes(&png(200, 200))})),
            "at least 300 px",
        ),
        (
            with(json!({"image": b64_bytes(&png(900, 300))})),
            "aspect ratio",
        ),
        (
            with(json!({"image": b64_bytes(b"GIF89a not really")})),
            "not a JPEG, PNG or WebP",
        ),
        (
            with(json!({"image": "%%% not base64 %%%"})),
            "neither an http(s) URL nor valid base64",
        ),
        (
            with(json!({"image": "file:///etc/passwd"})),
            "file:// URLs are not accepted",
        ),
        (
            with(json!({"sound_file": "@@corrupt@@"})),
            "neither an http(s) URL nor valid base64",
        ),
        (
            with(json!({"sound_file": b64_bytes(b"this is not audio at all")})),
            "not an MP3, WAV, M4A or AAC",
        ),
        (
            with(json!({"sound_file": short})),
            "between 2 and 300 seconds",
        ),
        (
            with(json!({"sound_file": b64_bytes(&wav_of(301.0))})),
            "between 2 and 300 seconds",
        ),
        (
            with(json!({"sound_file": b64_bytes(&vec![0u8; 5 * 1024 * 1024 + 10])})),
            "limit of 5 MB",
        ),
        (
            with(json!({"audio_id": "unknown-audio", "sound_file": null})),
            "audio_id",
        ),
        (
            with(json!({"callback_url": "ftp://example.com/hook"})),
            "http(s)",
        ),
        (
            with(json!({"callback_url": "http://127.0.0.1:9/hook"})),
            "not allowed",
        ),
        (with(json!({"external_task_id": "x".repeat(257)})), "256"),
    ];
    for (body, needle) in cases {
        let (s, v) = t.create(key, &body).await;
        assert_error(s, &v, 400, 1201, needle);
    }
    // Duplicate external id.
    let (s, v) = t
        .create(key, &with(json!({"external_task_id": "dup"})))
        .await;
    assert_eq!(s, 200, "{v}");
    let (s, v) = t
        .create(key, &with(json!({"external_task_id": "dup"})))
        .await;
    assert_error(s, &v, 400, 1201, "already used");
    // Not JSON at all.
    let resp = client()
        .post(format!("{}{AVATAR}", t.url))
        .bearer_auth(key)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    let s = resp.status().as_u16();
    assert_error(s, &resp.json().await.unwrap(), 400, 1200, "JSON");
    // Unknown method.
    let (s, v) = t.get("/v1/videos/nothing-here", Some(key)).await;
    assert_error(s, &v, 404, 1202, "invalid");
    let (s, v) = t.get(&format!("{AVATAR}/does-not-exist"), Some(key)).await;
    assert_error(s, &v, 404, 1203, "not found");
    t.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_portrait_without_a_face_fails_with_a_clear_message() {
    let t = TestServer::start(|_| {}).await;
    let acct = t.account("nf", None).await;
    let speech = short_speech(t.dir.path());
    let (s, v) = t
        .create(
            &acct.api_key,
            &json!({"image": b64(&sample("coffee-no-face.png")), "sound_file": b64(&speech)}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let done = t
        .wait_done(
            &acct.api_key,
            v["data"]["task_id"].as_str().unwrap(),
            RENDER_TIMEOUT,
        )
        .await;
    assert_eq!(done["task_status"], "failed");
    assert!(
        done["task_status_msg"]
            .as_str()
            .unwrap()
            .contains("no face was found"),
        "{done}"
    );
    assert_eq!(done["task_result"]["videos"].as_array().unwrap().len(), 0);
    t.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queued_tasks_wait_for_workers_and_the_concurrency_limit_answers_1303() {
    let mut t = TestServer::start(|s| s.workers.enabled = false).await;
    let acct = t.account("one-at-a-time", Some(1)).await;
    let key = acct.api_key.as_str();
    let body =
        json!({"image": b64(&sample("obama.jpg")), "sound_file": b64(&short_speech(t.dir.path()))});
    let (s, v) = t.create(key, &body).await;
    assert_eq!(s, 200, "{v}");
    let id = v["data"]["task_id"].as_str().unwrap().to_string();
    let (s, v) = t.create(key, &body).await;
    assert_error(s, &v, 429, 1303, "concurrency limit");

    // Nothing runs it yet.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (_, v) = t.get(&format!("{AVATAR}/{id}"), Some(key)).await;
    assert_eq!(v["data"]["task_status"], "submitted");
    let metrics = client()
        .get(format!("{}/metrics", t.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("mouthpiece_queue_depth{state=\"submitted\"} 1"),
        "{metrics}"
    );

    // Workers start: the accepted task completes and the slot frees.
    t.server.start_workers();
    let done = t.wait_done(key, &id, RENDER_TIMEOUT).await;
    assert_eq!(done["task_status"], "succeed", "{done}");
    let (s, v) = t.create(key, &body).await;
    assert_eq!(s, 200, "{v}");
    t.wait_done(key, v["data"]["task_id"].as_str().unwrap(), RENDER_TIMEOUT)
        .await;
    t.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_abandoned_by_its_worker_is_reclaimed_after_the_lease() {
    // Workers stopped mid-render give the task back; here the lease is taken
    // by a "worker" that then vanishes without a word, as a killed process would.
    let mut t = TestServer::start(|s| {
        s.workers.enabled = false;
        s.workers.lease_seconds = 1.0;
    })
    .await;
    let acct = t.account("crash", None).await;
    let key = acct.api_key.as_str();
    let body =
        json!({"image": b64(&sample("obama.jpg")), "sound_file": b64(&short_speech(t.dir.path()))});
    let (s, v) = t.create(key, &body).await;
    assert_eq!(s, 200, "{v}");
    let id = v["data"]["task_id"].as_str().unwrap().to_string();
    let now = mouthpiece_domain::clock::now_ms();
    let claimed = t
        .server
        .services
        .stores
        .tasks
        .claim_task("ghost-worker", now, now + 1000, 3, &|_| None)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((claimed.id.as_str(), claimed.attempts), (id.as_str(), 1));
    let (_, v) = t.get(&format!("{AVATAR}/{id}"), Some(key)).await;
    assert_eq!(v["data"]["task_status"], "processing");

    t.server.start_workers();
    let done = t.wait_done(key, &id, RENDER_TIMEOUT).await;
    assert_eq!(done["task_status"], "succeed", "{done}");
    let record = t
        .server
        .services
        .stores
        .tasks
        .task(&id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        record.attempts, 2,
        "claimed again after the ghost's lease expired"
    );
    t.server.shutdown().await;
}

#[derive(Clone, Default)]
struct Received(Arc<Mutex<Vec<(axum::http::HeaderMap, String)>>>);

/// A callback receiver on loopback that fails its first request with 500.
async fn receiver() -> (String, Received) {
    use axum::http::StatusCode;
    let got = Received::default();
    let g = got.clone();
    let calls = Arc::new(Mutex::new(0u32));
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: axum::http::HeaderMap, body: String| {
            let (g, calls) = (g.clone(), calls.clone());
            async move {
                let n = {
                    let mut c = calls.lock().unwrap();
                    *c += 1;
                    *c
                };
                if n == 1 {
                    return StatusCode::INTERNAL_SERVER_ERROR;
                }
                g.0.lock().unwrap().push((headers, body));
                StatusCode::OK
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{addr}/hook"), got)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn callbacks_follow_every_status_change_flat_and_signed() {
    let t = TestServer::start(|s| s.network.allow = vec!["127.0.0.1/32".into()]).await;
    let acct = t.account("hooks", None).await;
    let secret = acct.webhook_secret.clone().unwrap();
    let (hook, got) = receiver().await;
    let (s, v) = t
        .create(
            &acct.api_key,
            &json!({"image": b64(&sample("obama.jpg")), "sound_file": b64(&short_speech(t.dir.path())),
                    "callback_url": hook, "external_task_id": "cb-1"}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let id = v["data"]["task_id"].as_str().unwrap().to_string();
    t.wait_done(&acct.api_key, &id, RENDER_TIMEOUT).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while got.0.lock().unwrap().len() < 3 {
        assert!(
            std::time::Instant::now() < deadline,
            "callbacks missing: {:?}",
            got.0.lock().unwrap().len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let calls = got.0.lock().unwrap().clone();
    let statuses: Vec<String> = calls
        .iter()
        .map(|(_, b)| {
            serde_json::from_str::<Value>(b).unwrap()["task_status"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(
        statuses,
        ["submitted", "processing", "succeed"],
        "in order, the first one after a retry"
    );
    let key = base64::engine::general_purpose::STANDARD
        .decode(secret.strip_prefix("whsec_").unwrap())
        .unwrap();
    let mut ids = std::collections::HashSet::new();
    for (headers, body) in &calls {
        let msg_id = headers["webhook-id"].to_str().unwrap();
        let ts = headers["webhook-timestamp"].to_str().unwrap();
        assert!(
            (ts.parse::<i64>().unwrap() - now_s()).abs() < 120,
            "timestamp in seconds"
        );
        let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
        mac.update(format!("{msg_id}.{ts}.{body}").as_bytes());
        let want = format!(
            "v1,{}",
            base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
        );
        assert_eq!(headers["webhook-signature"].to_str().unwrap(), want);
        assert!(ids.insert(msg_id.to_string()), "one webhook-id per event");
        let v: Value = serde_json::from_str(body).unwrap();
        assert!(
            v.get("code").is_none() && v.get("data").is_none(),
            "flat legacy shape: {v}"
        );
        assert_eq!(v["task_id"], id.as_str());
        assert_eq!(v["task_info"]["external_task_id"], "cb-1");
        assert!(v["created_at"].as_i64().is_some() && v["updated_at"].as_i64().is_some());
    }
    let last: Value = serde_json::from_str(&calls[2].1).unwrap();
    assert!(last["task_result"]["videos"][0]["url"]
        .as_str()
        .unwrap()
        .starts_with("http://"));
    t.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openapi_health_readiness_and_metrics_are_served() {
    let t = TestServer::start(|s| s.workers.enabled = false).await;
    let (s, doc) = t.get("/openapi.json", None).await;
    assert_eq!(s, 200);
    assert!(doc["openapi"].as_str().unwrap().starts_with('3'));
    for p in [
        "/v1/videos/avatar/image2video",
        "/v1/videos/avatar/image2video/{id}",
        "/v1/audio/tts",
        "/account/costs",
    ] {
        assert!(
            doc["paths"].get(p).is_some(),
            "{p} missing from the OpenAPI document"
        );
    }
    let (s, h) = t.get("/healthz", None).await;
    assert_eq!((s, h["status"].as_str()), (200, Some("ok")));
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let (s, r) = t.get("/readyz", None).await;
        if s == 200 {
            assert_eq!(r["checks"]["database"], true);
            assert_eq!(r["checks"]["models"], true);
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{r}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let resp = client()
        .get(format!("{}/metrics", t.url))
        .send()
        .await
        .unwrap();
    assert!(resp.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain"));
    let text = resp.text().await.unwrap();
    assert!(text.contains("mouthpiece_queue_depth"), "{text}");
    t.server.shutdown().await;
}
