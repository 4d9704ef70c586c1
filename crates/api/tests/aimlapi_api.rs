//! The AI/ML API dialect end to end, following its documented example:
//! POST /v2/video/generations with `klingai/avatar-standard`, image and
//! audio URLs and a prompt; poll `GET ?generation_id=<uuid>:<model>` until
//! `completed`; download `video.url`. The same task through Kling, kie.ai
//! and useapi.net; every rule in the `{message, path, requestId,
//! statusCode, timestamp}` body; unknown paths in each dialect's shape.

mod common;

use common::*;
use reqwest::Method;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

const GEN: &str = "/v2/video/generations";

fn assert_aiml_error(status: u16, v: &Value, want: u16, path: &str, needle: &str) {
    assert_eq!(status, want, "{v}");
    assert_eq!(v["statusCode"], want, "{v}");
    assert_eq!(v["path"], path, "{v}");
    assert!(
        !v["requestId"].as_str().unwrap_or_default().is_empty(),
        "{v}"
    );
    let ts = v["timestamp"].as_str().unwrap_or_default();
    assert!(ts.len() == 24 && ts.ends_with('Z'), "{ts}");
    let m = v["message"].as_str().unwrap_or_default();
    assert!(
        m.contains(needle),
        "message {m:?} should mention {needle:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn documented_example_create_poll_download_and_cross_dialect() {
    let t = TestServer::start(|s| s.network.allow = vec!["127.0.0.1/32".into()]).await;
    let acct = t.account("aiml", None).await;
    let key = acct.api_key.as_str();
    let speech = std::fs::read(short_speech(t.dir.path())).unwrap();
    let files = file_server(vec![
        (
            "office_man.png",
            std::fs::read(sample("astronaut.png")).unwrap(),
        ),
        ("omnihuman_audio.wav", speech),
    ])
    .await;

    // The Python example: requests.post(url, json=payload, headers=Bearer).
    let (s, v, _) = t
        .post(
            GEN,
            Some(key),
            &json!({"model": "klingai/avatar-standard",
                    "image_url": format!("{files}/office_man.png"),
                    "audio_url": format!("{files}/omnihuman_audio.wav"),
                    "prompt": "A person speaking playfully, laughing frequently and gesturing wildly."}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["status"], "queued");
    let gid = v["id"].as_str().unwrap().to_string();
    let (uuid, model) = gid.split_once(':').unwrap();
    assert_eq!(model, "klingai/avatar-standard");
    assert_eq!(uuid.len(), 36);
    assert!(v["meta"]["usage"].is_object(), "{v}");

    // Poll until the status is no longer queued/generating.
    let deadline = Instant::now() + Duration::from_secs(120);
    let done = loop {
        let (s, v) = t
            .get(&format!("{GEN}?generation_id={gid}"), Some(key))
            .await;
        assert_eq!(s, 200, "{v}");
        assert_eq!(v["id"], gid.as_str());
        let st = v["status"].as_str().unwrap().to_string();
        assert!(
            ["queued", "generating", "completed", "error"].contains(&st.as_str()),
            "{v}"
        );
        if st != "queued" && st != "generating" {
            break v;
        }
        assert!(v["video"].is_null());
        assert!(Instant::now() < deadline, "still {st}");
        tokio::time::sleep(Duration::from_millis(150)).await;
    };
    assert_eq!(done["status"], "completed", "{done}");
    assert!(done["error"].is_null());
    let url = done["video"]["url"].as_str().unwrap().to_string();
    let probe = download_mp4(t.dir.path(), &url, 720).await;
    let secs: f64 = probe["format"]["duration"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let reported = done["video"]["duration"].as_f64().unwrap();
    assert!((secs - reported).abs() < 0.3, "{secs} vs {reported}");

    // The same task through the other dialects: the uuid carries the id.
    let id = mouthpiece_api::dialects::aimlapi::task_id_of(&gid).unwrap();
    let (s, k) = t
        .get(&format!("/v1/videos/avatar/image2video/{id}"), Some(key))
        .await;
    assert_eq!(s, 200, "{k}");
    assert_eq!(k["data"]["task_status"], "succeed");
    assert_eq!(k["data"]["task_result"]["videos"][0]["url"], url.as_str());
    let (s, r) = t
        .get(&format!("/api/v1/jobs/recordInfo?taskId={id}"), Some(key))
        .await;
    assert_eq!(s, 200, "{r}");
    assert_eq!(r["data"]["state"], "success");
    let (s, u) = t.get(&format!("/v1/kling/tasks/{id}"), Some(key)).await;
    assert_eq!(s, 200, "{u}");
    assert_eq!(u["status"], 99);
    assert_eq!(u["works"][0]["resource"]["resource"], url.as_str());

    // A Kling task reads back as a generation (pro model id for pro mode).
    let (s, v) = t
        .create(
            key,
            &json!({"image": b64(&sample("astronaut.png")),
                    "sound_file": b64(&short_speech(t.dir.path())), "mode": "pro"}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let kid = v["data"]["task_id"].as_str().unwrap();
    let kuuid = mouthpiece_api::dialects::aimlapi::uuid_of(kid).unwrap();
    let (s, g) = t
        .get(&format!("{GEN}?generation_id={kuuid}"), Some(key))
        .await;
    assert_eq!(s, 200, "{g}");
    assert_eq!(g["id"], format!("{kuuid}:klingai/avatar-pro"));

    // Another account cannot read it.
    let other = t.account("other", None).await;
    let (s, v) = t
        .get(&format!("{GEN}?generation_id={gid}"), Some(&other.api_key))
        .await;
    assert_aiml_error(s, &v, 404, GEN, "not found");
    t.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_rule_and_unknown_paths_answer_in_their_dialects_shape() {
    let mut t = TestServer::start(|s| s.network.allow = vec!["127.0.0.1/32".into()]).await;
    t.server.stop_workers().await;
    let acct = t.account("rules", Some(1)).await;
    let key = acct.api_key.as_str();
    let files = file_server(vec![
        ("face.png", std::fs::read(sample("astronaut.png")).unwrap()),
        ("speech.wav", wav_of(3.0)),
    ])
    .await;
    let (img, aud) = (format!("{files}/face.png"), format!("{files}/speech.wav"));

    let (s, v, _) = t.post(GEN, None, &json!({})).await;
    assert_aiml_error(s, &v, 401, GEN, "authorization is empty");
    let (s, v, _) = t.post(GEN, Some("wrong"), &json!({})).await;
    assert_aiml_error(s, &v, 401, GEN, "unknown API key");

    let rules: Vec<(Value, &str)> = vec![
        (
            json!({"image_url": img, "audio_url": aud}),
            "Body validation error! invalid model: is required",
        ),
        (
            json!({"model": "klingai/avatar-ultra", "image_url": img, "audio_url": aud}),
            "Body validation error! invalid model: \"klingai/avatar-ultra\" is not supported",
        ),
        (
            json!({"model": "kling/ai-avatar-standard", "image_url": img, "audio_url": aud}),
            "Body validation error! invalid model",
        ),
        (
            json!({"model": "klingai/avatar-standard", "audio_url": aud}),
            "Body validation error! invalid image_url",
        ),
        (
            json!({"model": "klingai/avatar-standard", "image_url": img}),
            "Body validation error! invalid audio_url: is required",
        ),
        (
            json!({"model": "klingai/avatar-standard", "image_url": img, "audio_url": aud, "prompt": "p".repeat(2501)}),
            "Body validation error! invalid prompt",
        ),
        (
            json!({"model": 7}),
            "Body validation error! the request body is not the expected JSON",
        ),
        (
            json!({"model": "klingai/avatar-standard", "image_url": img, "audio_url": format!("{files}/missing.wav")}),
            "Body validation error! invalid audio_url: could not be fetched",
        ),
        (
            json!({"model": "klingai/avatar-standard", "image_url": aud, "audio_url": aud}),
            "Body validation error! invalid image_url",
        ),
        // kie's body shape here is an AI/ML validation error.
        (
            json!({"model": "kling/ai-avatar-standard", "input": {"image_url": img, "audio_url": aud, "prompt": ""}}),
            "Body validation error! invalid model",
        ),
    ];
    for (body, want) in rules {
        let (s, v, _) = t.post(GEN, Some(key), &body).await;
        assert_aiml_error(s, &v, 400, GEN, want);
        assert!(v["message"].as_str().unwrap().starts_with(want), "{v}");
    }
    let (s, v) = t
        .post_raw(GEN, Some(key), "application/json", b"{oops".to_vec())
        .await;
    assert_aiml_error(s, &v, 400, GEN, "Body validation error!");

    let (s, v) = t.get(GEN, Some(key)).await;
    assert_aiml_error(s, &v, 400, GEN, "invalid generation_id: is required");
    let (s, v) = t
        .get(
            &format!(
                "{GEN}?generation_id=76a3553b-7c4f-4fe1-9682-72008ef3a0fe:klingai/avatar-standard"
            ),
            Some(key),
        )
        .await;
    assert_aiml_error(s, &v, 404, GEN, "not found");

    // The account's one slot is taken (workers stopped): 429, no Retry-After.
    let ok = json!({"model": "klingai/avatar-pro", "image_url": img, "audio_url": aud});
    let (s, v, _) = t.post(GEN, Some(key), &ok).await;
    assert_eq!(s, 200, "{v}");
    assert!(v["id"].as_str().unwrap().ends_with(":klingai/avatar-pro"));
    let (s, v, headers) = t.post(GEN, Some(key), &ok).await;
    assert_aiml_error(s, &v, 429, GEN, "concurrency limit");
    assert!(headers.get("retry-after").is_none());

    // Unknown paths: each prefix answers in its own dialect's body.
    let (s, v) = t.call(Method::GET, "/v2/nope", Some(key), None).await;
    assert_aiml_error(s, &v, 404, "/v2/nope", "/v2/nope");
    let (s, v) = t.call(Method::DELETE, GEN, Some(key), None).await;
    assert_aiml_error(s, &v, 404, GEN, GEN);
    let (s, v) = t.call(Method::GET, "/v1/kling/nope", Some(key), None).await;
    assert_eq!((s, v), (404, json!({"error": "Not found", "code": 404})));
    let (s, v) = t.call(Method::GET, "/api/v1/nope", Some(key), None).await;
    assert_eq!(s, 404);
    assert_eq!(v["code"], 404);
    assert!(v["data"].is_null() && v["msg"].is_string(), "{v}");
    // The OpenAPI document lists the new dialects' routes.
    let (s, doc) = t.get("/openapi.json", None).await;
    assert_eq!(s, 200);
    for p in [
        GEN,
        "/v1/kling/avatars/video",
        "/v1/kling/tasks/{id}",
        "/v1/kling/assets/",
    ] {
        assert!(doc["paths"][p].is_object(), "{p} missing");
    }
    let (s, v) = t.call(Method::GET, "/v1/nope", Some(key), None).await;
    assert_eq!(s, 404);
    assert_eq!(v["code"], 1202, "{v}");
    t.server.shutdown().await;
}
