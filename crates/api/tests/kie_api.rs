//! The kie.ai jobs dialect end to end, following kie's documented example:
//! createTask with `kling/ai-avatar-standard` (URLs for image and audio,
//! `prompt: ""`, a `callBackUrl`), poll recordInfo, read `resultJson`,
//! download; the signed callback; every validation rule; reading the same
//! task through the other dialects, and not from another account.

mod common;

use base64::Engine;
use common::*;
use hmac::{Hmac, Mac};
use reqwest::Method;
use serde_json::{json, Value};
use sha2::Sha256;
use std::time::{Duration, Instant};

const CREATE: &str = "/api/v1/jobs/createTask";
const RECORD: &str = "/api/v1/jobs/recordInfo";

fn assert_kie_error(status: u16, v: &Value, code: u64, needle: &str) {
    assert_eq!(status as u64, code, "the HTTP status mirrors code: {v}");
    assert_eq!(v["code"], code, "{v}");
    assert!(v["data"].is_null(), "{v}");
    let msg = v["msg"].as_str().unwrap_or_default();
    assert!(
        msg.contains(needle),
        "msg {msg:?} should mention {needle:?}"
    );
}

async fn wait_record(t: &TestServer, key: &str, id: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let (s, v) = t.get(&format!("{RECORD}?taskId={id}"), Some(key)).await;
        assert_eq!(s, 200, "{v}");
        assert_eq!(v["code"], 200);
        assert_eq!(v["msg"], "success");
        let state = v["data"]["state"].as_str().unwrap_or_default().to_string();
        assert!(
            ["waiting", "queuing", "generating", "success", "fail"].contains(&state.as_str()),
            "{v}"
        );
        if state == "success" || state == "fail" {
            return v["data"].clone();
        }
        assert!(Instant::now() < deadline, "still {state}");
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn documented_example_create_poll_download_and_signed_callback() {
    let t = TestServer::start(|s| s.network.allow = vec!["127.0.0.1/32".into()]).await;
    let acct = t.account("kie", None).await;
    let key = acct.api_key.as_str();
    let speech = std::fs::read(short_speech(t.dir.path())).unwrap();
    let files = file_server(vec![
        ("face.png", std::fs::read(sample("astronaut.png")).unwrap()),
        ("speech.wav", speech),
    ])
    .await;
    let (hook, hooks) = hook_receiver().await;

    // The request body of kie's docs, with our own URLs.
    let body = json!({
        "model": "kling/ai-avatar-standard",
        "callBackUrl": hook,
        "input": {"image_url": format!("{files}/face.png"), "audio_url": format!("{files}/speech.wav"), "prompt": ""}
    });
    let (s, v, _) = t.post(CREATE, Some(key), &body).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["code"], 200);
    assert_eq!(v["msg"], "success");
    let id = v["data"]["taskId"].as_str().unwrap().to_string();

    let data = wait_record(&t, key, &id).await;
    assert_eq!(data["state"], "success", "{data}");
    assert_eq!(data["taskId"], id.as_str());
    assert_eq!(data["model"], "kling/ai-avatar-standard");
    assert_eq!(data["failCode"], "");
    assert_eq!(data["failMsg"], "");
    // param and resultJson are JSON strings.
    let param: Value = serde_json::from_str(data["param"].as_str().unwrap()).unwrap();
    assert_eq!(param, body, "param echoes the request");
    let result: Value = serde_json::from_str(data["resultJson"].as_str().unwrap()).unwrap();
    let url = result["resultUrls"][0].as_str().unwrap().to_string();
    assert!(data["costTime"].as_i64().unwrap() > 0);
    assert!(data["completeTime"].as_i64().unwrap() >= data["createTime"].as_i64().unwrap());
    download_mp4(t.dir.path(), &url, 720).await;

    // One callback, when the task ended: the recordInfo envelope, signed
    // over taskId.timestamp with the account's key.
    let calls = hooks.wait_for(1).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        hooks.0.lock().unwrap().len(),
        1,
        "only the final state is reported"
    );
    let (headers, raw) = &calls[0];
    let cb: Value = serde_json::from_str(raw).unwrap();
    assert_eq!(cb["code"], 200);
    assert_eq!(cb["data"]["taskId"], id.as_str());
    assert_eq!(cb["data"]["task_id"], id.as_str());
    assert_eq!(cb["data"]["state"], "success");
    let ts = headers["x-webhook-timestamp"].to_str().unwrap();
    let mut mac =
        Hmac::<Sha256>::new_from_slice(acct.webhook_secret.as_deref().unwrap().as_bytes()).unwrap();
    mac.update(format!("{id}.{ts}").as_bytes());
    let want = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    assert_eq!(headers["x-webhook-signature"].to_str().unwrap(), want);

    // The same task through the other dialects of the same account...
    let (s, k) = t
        .get(&format!("/v1/videos/avatar/image2video/{id}"), Some(key))
        .await;
    assert_eq!(s, 200, "{k}");
    assert_eq!(k["data"]["task_status"], "succeed");
    let gid = mouthpiece_api::dialects::aimlapi::uuid_of(&id).unwrap();
    let (s, a) = t
        .call(
            Method::GET,
            &format!("/v2/video/generations?generation_id={gid}:klingai/avatar-standard"),
            Some(key),
            None,
        )
        .await;
    assert_eq!(s, 200, "{a}");
    assert_eq!(a["status"], "completed");
    assert_eq!(a["video"]["url"], url.as_str());
    // ...and not from another account.
    let other = t.account("other", None).await;
    let (s, v) = t
        .get(&format!("{RECORD}?taskId={id}"), Some(&other.api_key))
        .await;
    assert_kie_error(s, &v, 404, "not found");
    t.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_rule_answers_with_kies_code_and_msg() {
    let t = TestServer::start(|_| {}).await;
    let acct = t.account("rules", None).await;
    let key = acct.api_key.as_str();
    let ok_input = json!({"image_url": "https://example.com/a.png", "audio_url": "https://example.com/a.mp3", "prompt": ""});

    // Auth.
    let (s, v, _) = t.post(CREATE, None, &json!({})).await;
    assert_kie_error(s, &v, 401, "authorization is empty");
    let (s, v, _) = t.post(CREATE, Some("wrong"), &json!({})).await;
    assert_kie_error(s, &v, 401, "authorization is invalid");
    let (s, v) = t.get(&format!("{RECORD}?taskId=1"), None).await;
    assert_kie_error(s, &v, 401, "authorization is empty");

    let cases: Vec<(Value, &str)> = vec![
        (json!({"input": ok_input}), "invalid model: is required"),
        (
            json!({"model": "klingai/avatar-pro", "input": ok_input}),
            "invalid model: \"klingai/avatar-pro\" is not supported; use one of kling/ai-avatar-standard, kling/ai-avatar-pro, kling/ai-avatar-v1-pro, kling/v1-avatar-standard, kling/v1-avatar-pro",
        ),
        (json!({"model": "kling/ai-avatar-pro"}), "invalid input: is required"),
        (
            json!({"model": "kling/ai-avatar-pro", "input": {"audio_url": "https://e.com/a.mp3", "prompt": ""}}),
            "invalid input.image_url: is required",
        ),
        (
            json!({"model": "kling/ai-avatar-pro", "input": {"image_url": "aGVsbG8=", "audio_url": "https://e.com/a.mp3", "prompt": ""}}),
            "invalid input.image_url: must be an http(s) URL",
        ),
        (
            json!({"model": "kling/ai-avatar-pro", "input": {"image_url": "https://e.com/a.png", "prompt": ""}}),
            "invalid input.audio_url: is required",
        ),
        (
            json!({"model": "kling/ai-avatar-pro", "input": {"image_url": "https://e.com/a.png", "audio_url": "ftp://e.com/a.mp3", "prompt": ""}}),
            "invalid input.audio_url: ftp:// URLs are not accepted",
        ),
        (
            json!({"model": "kling/ai-avatar-pro", "input": {"image_url": "https://e.com/a.png", "audio_url": "https://e.com/a.mp3"}}),
            "invalid input.prompt: is required (it may be \"\")",
        ),
        (
            json!({"model": "kling/ai-avatar-pro", "input": {"image_url": "https://e.com/a.png", "audio_url": "https://e.com/a.mp3", "prompt": "x".repeat(2501)}}),
            "invalid input.prompt: is 2501 characters long; the limit is 2500",
        ),
        (
            json!({"model": "kling/ai-avatar-pro", "callBackUrl": "not a url", "input": ok_input}),
            "invalid callBackUrl: not a valid URL",
        ),
        // Another dialect's shape: a validation error, not a crash.
        (
            json!({"image": "aGVsbG8=", "sound_file": "aGVsbG8="}),
            "invalid model: is required",
        ),
        (json!({"model": 5}), "the request body is not the expected JSON"),
    ];
    for (body, want) in cases {
        let (s, v, _) = t.post(CREATE, Some(key), &body).await;
        assert_kie_error(s, &v, 422, want);
    }
    // Inputs that cannot be fetched are named by kie's field.
    let (s, v, _) = t
        .post(CREATE, Some(key), &json!({"model": "kling/ai-avatar-standard", "input": {"image_url": "http://127.0.0.1:1/a.png", "audio_url": "http://127.0.0.1:1/a.wav", "prompt": ""}}))
        .await;
    assert_kie_error(s, &v, 422, "invalid input.image_url");
    let (s, v) = t
        .post_raw(CREATE, Some(key), "application/json", b"{not json".to_vec())
        .await;
    assert_kie_error(s, &v, 422, "the request body is not the expected JSON");

    // recordInfo.
    let (s, v) = t.get(RECORD, Some(key)).await;
    assert_kie_error(s, &v, 422, "invalid taskId: is required");
    let (s, v) = t.get(&format!("{RECORD}?taskId=123"), Some(key)).await;
    assert_kie_error(s, &v, 404, "task \"123\" not found");
    t.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kling_task_reads_as_a_kie_record_and_failures_carry_fail_code() {
    let t = TestServer::start(|_| {}).await;
    let acct = t.account("x", None).await;
    let key = acct.api_key.as_str();
    // A grey image has no face: the render fails after acceptance.
    let (s, v) = t
        .create(key, &json!({"image": b64_bytes(&png(400, 400)), "sound_file": b64_bytes(&wav_of(2.5)), "mode": "pro"}))
        .await;
    assert_eq!(s, 200, "{v}");
    let id = v["data"]["task_id"].as_str().unwrap().to_string();
    let data = wait_record(&t, key, &id).await;
    assert_eq!(data["state"], "fail", "{data}");
    assert_eq!(data["model"], "kling/ai-avatar-pro");
    assert_eq!(data["failCode"], "501");
    assert!(!data["failMsg"].as_str().unwrap().is_empty());
    assert_eq!(data["resultJson"], "");
    let param: Value = serde_json::from_str(data["param"].as_str().unwrap()).unwrap();
    assert_eq!(param["model"], "kling/ai-avatar-pro");
    t.server.shutdown().await;
}
