//! The useapi.net dialect end to end, following its documented flow: add
//! an account (email, password, maxJobs), upload the portrait with POST
//! /assets, list voices, make speech with /tts/create, save an avatar,
//! create an avatar video from it with text, poll GET /tasks/{id} until
//! `status_final`, download `works[0]` (watermarked) and the clean master
//! from /assets/download, receive the `replyUrl` callback. The same task
//! reads through Kling, kie.ai and AI/ML API; a Kling task reads (and is
//! cancelled and deleted) through useapi. Every validation rule answers
//! `{"error", "code"}` with the documented status.

mod common;

use common::*;
use reqwest::Method;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

const BASE: &str = "/v1/kling";

fn assert_useapi_error(status: u16, v: &Value, want: u16, needle: &str) {
    assert_eq!(status, want, "{v}");
    assert_eq!(v["code"], want, "{v}");
    let e = v["error"].as_str().unwrap_or_default();
    assert!(e.contains(needle), "error {e:?} should mention {needle:?}");
}

async fn wait_final(t: &TestServer, key: &str, id: u64) -> Value {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let (s, v) = t.get(&format!("{BASE}/tasks/{id}"), Some(key)).await;
        assert_eq!(s, 200, "{v}");
        assert_eq!(v["task"]["id"], id);
        let code = v["status"].as_u64().unwrap();
        let name = v["status_name"].as_str().unwrap().to_string();
        let expected = match name.as_str() {
            "submitted" => 5,
            "processing" => 10,
            "failed" => 50,
            "succeed" => 99,
            other => panic!("unknown status_name {other}"),
        };
        assert_eq!(code, expected, "{v}");
        if v["status_final"] == true {
            return v;
        }
        assert!(Instant::now() < deadline, "still {name}");
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
}

async fn bytes(url: &str) -> Vec<u8> {
    let r = client().get(url).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200, "{url}");
    r.bytes().await.unwrap().to_vec()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn documented_flow_account_asset_avatar_video_poll_download_callback() {
    let mut t = TestServer::start(|s| s.network.allow = vec!["127.0.0.1/32".into()]).await;
    let acct = t.account("useapi", None).await;
    let key = acct.api_key.as_str();
    let email = "user@example.com";

    // No key, and an unknown key: 401 Unauthorized.
    let (s, v) = t.get(&format!("{BASE}/accounts"), None).await;
    assert_eq!(v, json!({"error": "Unauthorized", "code": 401}));
    assert_eq!(s, 401);
    let (s, v) = t
        .get(&format!("{BASE}/accounts"), Some("user:1-nope"))
        .await;
    assert_useapi_error(s, &v, 401, "Unauthorized");

    // POST /accounts, then GET /accounts and /accounts/{email}.
    let (s, v, _) = t
        .post(
            &format!("{BASE}/accounts"),
            Some(key),
            &json!({"email": email, "password": "secret", "maxJobs": 1}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["email"], email);
    assert_eq!(v["maxJobs"], 1);
    assert!(v.get("password").is_none(), "{v}");
    let (s, v) = t.get(&format!("{BASE}/accounts"), Some(key)).await;
    assert_eq!(s, 200);
    assert_eq!(v[email]["maxJobs"], 1, "{v}");
    let (s, v) = t.get(&format!("{BASE}/accounts/{email}"), Some(key)).await;
    assert_eq!((s, v["email"].as_str()), (200, Some(email)));

    // POST /assets/?email= with the raw image.
    let portrait = std::fs::read(sample("obama.jpg")).unwrap();
    let (s, v) = t
        .post_raw(
            &format!("{BASE}/assets/?email={email}"),
            Some(key),
            "image/jpeg",
            portrait,
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["status"], 3);
    assert_eq!(v["message"], "");
    assert!(v["fileName"].as_str().unwrap().ends_with(".jpg"), "{v}");
    let image_url = v["url"].as_str().unwrap().to_string();
    assert!(!bytes(&image_url).await.is_empty());

    // GET /tts/voices, POST /tts/create.
    let (s, v) = t
        .get(&format!("{BASE}/tts/voices?email={email}"), Some(key))
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["typeList"], json!(["en", "zh"]));
    let list = v["ttsList"].as_array().unwrap();
    assert!(list.iter().any(|x| x["speakerId"] == "oversea_male1"));
    let emotions: Vec<&str> = list[0]["emotions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["key"].as_str().unwrap())
        .collect();
    assert_eq!(
        emotions,
        [
            "neutral",
            "happy",
            "angry",
            "sad",
            "fearful",
            "disgusted",
            "surprised"
        ]
    );
    assert_eq!(list[0]["emotions"][1]["name"], "Happy");
    let (s, v, _) = t
        .post(
            &format!("{BASE}/tts/create"),
            Some(key),
            &json!({"email": email, "speakerId": "oversea_male1", "text": "Hello from the voice catalogue.", "speed": 1.2, "emotion": "happy"}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["status"], 99);
    assert_eq!(v["status_name"], "succeed");
    assert_eq!(v["status_final"], true);
    let wav = bytes(v["resource"].as_str().unwrap()).await;
    assert_eq!(&wav[..4], b"RIFF");

    // POST /avatars with only the image: the rest is filled in.
    let (s, v, _) = t
        .post(
            &format!("{BASE}/avatars"),
            Some(key),
            &json!({"email": email, "imageUrl": image_url}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["status"], "SUCCESS");
    let avatar_id = v["id"].as_str().unwrap().to_string();
    assert!(avatar_id.len() > 8 && avatar_id.bytes().all(|b| b.is_ascii_digit()));
    let (s, v) = t
        .get(&format!("{BASE}/avatars?email={email}"), Some(key))
        .await;
    assert_eq!(s, 200, "{v}");
    let a = &v[0];
    assert_eq!(a["id"], avatar_id.as_str());
    assert_eq!(a["nickname"], "Avatar 1");
    assert_eq!(a["scene"], "advertising_marketing");
    assert_eq!(a["ttsSpeed"], "1");
    assert_eq!(a["ttsEmotionKey"], "neutral");
    assert_eq!(a["ttsSpeaker"], "oversea_male1");
    assert_eq!(a["prompt"], "Natural speaking");
    assert_eq!(a["imageResources"][0]["sourceFrom"], 2);
    // The saved portrait is a crop around the face, smaller than the upload.
    let saved =
        image::load_from_memory(&bytes(a["imageResources"][0]["url"].as_str().unwrap()).await)
            .unwrap();
    let original = image::open(sample("obama.jpg")).unwrap();
    assert!(saved.width() >= 300 && saved.height() >= 300);
    assert!(
        saved.width() < original.width() || saved.height() < original.height(),
        "cropped: {}x{} of {}x{}",
        saved.width(),
        saved.height(),
        original.width(),
        original.height()
    );

    // Templates: ids of 8 digits or fewer, with portraits served here.
    let (s, v) = t
        .get(&format!("{BASE}/avatars?type=templates"), Some(key))
        .await;
    assert_eq!(s, 200, "{v}");
    let templates = v.as_array().unwrap();
    assert!(templates.len() >= 4);
    for tpl in templates {
        let id = tpl["id"].as_str().unwrap();
        assert!(
            id.len() <= 8 && id.bytes().all(|b| b.is_ascii_digit()),
            "{tpl}"
        );
        assert!(tpl["name"].is_string() && tpl["prompt"].is_string());
    }
    assert!(
        !bytes(templates[0]["imageResources"][0]["url"].as_str().unwrap())
            .await
            .is_empty()
    );

    // POST /avatars/video with text, while no worker runs: the account's
    // one job slot is taken, the scheduler shows it, a second job gets 429.
    t.server.stop_workers().await;
    let (hook, hooks) = hook_receiver().await;
    let body = json!({"email": email, "avatarId": avatar_id,
        "text": "Hello, welcome to our product demo! Let me show you around.",
        "speakerId": "oversea_male1", "emotion": "happy", "prompt": "smiling and nodding",
        "replyUrl": hook, "replyRef": "ref-42"});
    let (s, v, _) = t
        .post(&format!("{BASE}/avatars/video"), Some(key), &body)
        .await;
    assert_eq!(s, 200, "{v}");
    let id = v["task"]["id"].as_u64().expect("json.task.id is a number");
    assert_eq!(v["status_name"], "submitted");
    assert_eq!(v["status"], 5);
    assert_eq!(v["status_final"], false);
    assert_eq!(v["replyRef"], "ref-42");
    let (s, v) = t.get(&format!("{BASE}/scheduler"), Some(key)).await;
    assert_eq!(s, 200);
    assert_eq!(v["executing"][0]["taskId"], id, "{v}");
    assert_eq!(v["executing"][0]["email"], email);
    let (s, v) = t
        .get(&format!("{BASE}/scheduler/available"), Some(key))
        .await;
    assert_eq!(s, 200);
    assert_eq!(v["available"], 0, "{v}");
    assert_eq!(v["accounts"][0]["executing"], 1);
    let (s, v, headers) = t
        .post(&format!("{BASE}/avatars/video"), Some(key), &body)
        .await;
    assert_useapi_error(s, &v, 429, "capacity");
    assert_eq!(headers["retry-after"], "10");
    assert!(v["retryAfter"].as_str().unwrap().ends_with('Z'), "{v}");
    // The voice's emotion and the avatar's saved prompt go to the renderer
    // with the task, under the request's own prompt.
    let rec = t
        .server
        .services
        .stores
        .tasks
        .task(&id.to_string())
        .await
        .unwrap()
        .unwrap();
    let spec: Value = serde_json::from_str(&rec.spec).unwrap();
    assert_eq!(spec["emotion"], "happy", "{spec}");
    assert_eq!(spec["avatar_prompt"], "Natural speaking");
    assert_eq!(spec["prompt"], "smiling and nodding");
    assert_eq!(spec["watermark"], true);
    t.server.start_workers();

    let done = wait_final(&t, key, id).await;
    assert_eq!(done["status"], 99, "{done}");
    assert_eq!(done["status_name"], "succeed");
    assert_eq!(done["message"], "success");
    assert_eq!(done["task"]["status"], 99);
    let work = &done["works"][0];
    assert_eq!(work["workId"], id);
    assert_eq!(work["contentType"], "video");
    let duration_ms = work["resource"]["duration"].as_i64().unwrap();
    assert!((2000..8000).contains(&duration_ms), "{work}");
    let (w, h) = (
        work["resource"]["width"].as_u64().unwrap(),
        work["resource"]["height"].as_u64().unwrap(),
    );
    assert_eq!(w.min(h), 720, "{work}");
    let marked = work["resource"]["resource"].as_str().unwrap().to_string();
    download_mp4(t.dir.path(), &marked, 720).await;
    let (s, v) = t
        .get(
            &format!("{BASE}/assets/download?email={email}&workIds={id}&fileTypes=MP4"),
            Some(key),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let clean = v["cdnUrl"].as_str().unwrap().to_string();
    assert_ne!(clean, marked, "the master is not the watermarked copy");
    let probe = download_mp4(t.dir.path(), &clean, 720).await;
    let secs: f64 = probe["format"]["duration"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((secs * 1000.0 - duration_ms as f64).abs() < 300.0);

    // One callback, on the final state: the task record plus replyRef.
    let calls = hooks.wait_for(1).await;
    let cb: Value = serde_json::from_str(&calls[0].1).unwrap();
    assert_eq!(cb["task"]["id"], id);
    assert_eq!(cb["status"], 99);
    assert_eq!(cb["replyRef"], "ref-42");

    // The same task through the other dialects of the account.
    let (s, k) = t
        .get(&format!("/v1/videos/avatar/image2video/{id}"), Some(key))
        .await;
    assert_eq!(s, 200, "{k}");
    assert_eq!(k["data"]["task_status"], "succeed");
    assert_eq!(k["data"]["task_result"]["videos"][0]["url"], clean.as_str());
    assert_eq!(
        k["data"]["task_result"]["videos"][0]["watermark_url"],
        marked.as_str()
    );
    let (s, r) = t
        .get(&format!("/api/v1/jobs/recordInfo?taskId={id}"), Some(key))
        .await;
    assert_eq!(s, 200, "{r}");
    assert_eq!(r["data"]["state"], "success");
    let gid = mouthpiece_api::dialects::aimlapi::uuid_of(&id.to_string()).unwrap();
    let (s, g) = t
        .get(
            &format!("/v2/video/generations?generation_id={gid}"),
            Some(key),
        )
        .await;
    assert_eq!(s, 200, "{g}");
    assert_eq!(g["status"], "completed");

    // And a Kling task through useapi: read, cancel, delete.
    let speech = short_speech(t.dir.path());
    let (s, v) = t
        .create(
            key,
            &json!({"image": b64(&sample("astronaut.png")), "sound_file": b64(&speech)}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let kid: u64 = v["data"]["task_id"].as_str().unwrap().parse().unwrap();
    let (s, v) = t.get(&format!("{BASE}/tasks/{kid}"), Some(key)).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["task"]["id"], kid);
    let (s, v) = t
        .call(
            Method::DELETE,
            &format!("{BASE}/scheduler/{kid}"),
            Some(key),
            None,
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert!(
        v["status_name"] == "failed" || v["status_name"] == "succeed",
        "{v}"
    );
    assert_eq!(v["status_final"], true);
    let (_, k) = t
        .get(&format!("/v1/videos/avatar/image2video/{kid}"), Some(key))
        .await;
    assert!(k["data"]["task_status"] == "failed" || k["data"]["task_status"] == "succeed");
    let (s, v) = t
        .call(
            Method::DELETE,
            &format!("{BASE}/tasks/{kid}"),
            Some(key),
            None,
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["deleted"], true);
    let (s, v) = t.get(&format!("{BASE}/tasks/{kid}"), Some(key)).await;
    assert_useapi_error(s, &v, 404, "not found");

    // GET /tasks lists the account's tasks, newest first.
    let (s, v) = t
        .get(&format!("{BASE}/tasks?email={email}&pageSize=5"), Some(key))
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["tasks"][0]["task"]["id"], id, "{v}");

    // Another account sees none of it.
    let other = t.account("other", None).await;
    let (s, v) = t
        .get(&format!("{BASE}/tasks/{id}"), Some(&other.api_key))
        .await;
    assert_useapi_error(s, &v, 404, "not found");

    // DELETE /avatars/{id}, twice.
    let (s, v) = t
        .call(
            Method::DELETE,
            &format!("{BASE}/avatars/{avatar_id}?email={email}"),
            Some(key),
            None,
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let (s, v) = t
        .call(
            Method::DELETE,
            &format!("{BASE}/avatars/{avatar_id}?email={email}"),
            Some(key),
            None,
        )
        .await;
    assert_useapi_error(s, &v, 404, "not found");

    // DELETE /accounts/{email}.
    let (s, _) = t
        .call(
            Method::DELETE,
            &format!("{BASE}/accounts/{email}"),
            Some(key),
            None,
        )
        .await;
    assert_eq!(s, 204);
    let (s, v) = t.get(&format!("{BASE}/accounts/{email}"), Some(key)).await;
    assert_useapi_error(s, &v, 404, "not found");
    t.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_rule_answers_in_useapis_error_shape() {
    let mut t = TestServer::start(|s| s.network.allow = vec!["127.0.0.1/32".into()]).await;
    t.server.stop_workers().await;
    let acct = t.account("rules", None).await;
    let key = acct.api_key.as_str();
    let post = |path: &'static str, body: Value| {
        let t = &t;
        async move {
            let (s, v, _) = t.post(&format!("{BASE}{path}"), Some(key), &body).await;
            (s, v)
        }
    };

    // Before any account is linked, account-bound calls are 404.
    let (s, v) = post(
        "/tts/create",
        json!({"speakerId": "oversea_male1", "text": "hi"}),
    )
    .await;
    assert_useapi_error(s, &v, 404, "POST /v1/kling/accounts");

    let accounts: Vec<(Value, &str)> = vec![
        (
            json!({"password": "p", "maxJobs": 1}),
            "invalid email: is required",
        ),
        (
            json!({"email": "nope", "password": "p", "maxJobs": 1}),
            "invalid email: \"nope\" is not an email address",
        ),
        (
            json!({"email": "a@b.co", "maxJobs": 1}),
            "invalid password: is required",
        ),
        (
            json!({"email": "a@b.co", "password": "p"}),
            "invalid maxJobs: is required",
        ),
        (
            json!({"email": "a@b.co", "password": "p", "maxJobs": 0}),
            "invalid maxJobs: must be an integer from 1 to 50",
        ),
        (
            json!({"email": "a@b.co", "password": "p", "maxJobs": 51}),
            "invalid maxJobs: must be an integer from 1 to 50",
        ),
        (
            json!({"email": "a@b.co", "password": "p", "maxJobs": "x"}),
            "invalid maxJobs: must be an integer from 1 to 50",
        ),
        (
            json!({"email": "a@b.co", "password": "p", "maxJobs": 1, "passToken": "t"}),
            "invalid passToken: passToken, did and userId must be given together",
        ),
        (
            json!({"email": 5, "password": "p", "maxJobs": 1}),
            "invalid email: must be a string",
        ),
    ];
    for (body, want) in accounts {
        let (s, v) = post("/accounts", body.clone()).await;
        assert_eq!((s, v["code"].as_u64()), (400, Some(400)), "{body} -> {v}");
        assert_eq!(v["error"], want, "{body}");
    }
    for e in ["one@example.com", "two@example.com"] {
        let (s, v) = post(
            "/accounts",
            json!({"email": e, "password": "p", "maxJobs": 2}),
        )
        .await;
        assert_eq!(s, 200, "{v}");
    }
    // Two accounts: the selector is required; an unknown one is 404.
    let (s, v) = post(
        "/tts/create",
        json!({"speakerId": "oversea_male1", "text": "hi"}),
    )
    .await;
    assert_useapi_error(
        s,
        &v,
        400,
        "invalid email: is required when several accounts are configured",
    );
    let (s, v) = post(
        "/tts/create",
        json!({"email": "x@example.com", "speakerId": "oversea_male1", "text": "hi"}),
    )
    .await;
    assert_useapi_error(s, &v, 404, "account x@example.com not found");

    let e = "one@example.com";
    let tts: Vec<(Value, &str)> = vec![
        (json!({"email": e, "text": "hi"}), "invalid speakerId: is required"),
        (json!({"email": e, "speakerId": "oversea_male1"}), "invalid text: is required"),
        (json!({"email": e, "speakerId": "oversea_male1", "text": "x".repeat(151)}), "invalid text: is 151 characters long; the limit is 150"),
        (json!({"email": e, "speakerId": "oversea_male1", "text": "hi", "speed": 3}), "invalid speed: must be a number from 0.8 to 2.0"),
        (json!({"email": e, "speakerId": "oversea_male1", "text": "hi", "emotion": "bored"}), "invalid emotion: \"bored\" is not one of neutral, happy, angry, sad, fearful, disgusted, surprised"),
    ];
    for (body, want) in tts {
        let (s, v) = post("/tts/create", body.clone()).await;
        assert_eq!((s, v["code"].as_u64()), (400, Some(400)), "{body} -> {v}");
        assert_eq!(v["error"], want, "{body}");
    }
    let (s, v) = post(
        "/tts/create",
        json!({"email": e, "speakerId": "nobody", "text": "hi"}),
    )
    .await;
    assert_eq!(
        (s, &v["error"]),
        (400, &json!("Unable to locate speakerId")),
        "{v}"
    );

    // Uploads: the Content-Type whitelist, verbatim, and the limits.
    let (s, v) = t
        .post_raw(
            &format!("{BASE}/assets/?email={e}"),
            Some(key),
            "text/plain",
            b"hello".to_vec(),
        )
        .await;
    assert_eq!(s, 400);
    assert_eq!(
        v["error"],
        "Content-Type text/plain is not supported. Valid values: image/png, image/jpeg, video/mp4, video/quicktime, audio/wav, audio/wave, audio/mpeg, audio/mp4, audio/flac, audio/aac, audio/ogg"
    );
    let (s, v) = t
        .post_raw(
            &format!("{BASE}/assets/?email={e}"),
            Some(key),
            "image/png",
            png(200, 200),
        )
        .await;
    assert_useapi_error(s, &v, 400, "at least 300 px");
    let (s, v) = t
        .post_raw(
            &format!("{BASE}/assets/?email={e}"),
            Some(key),
            "audio/wav",
            wav_of(31.0),
        )
        .await;
    assert_useapi_error(s, &v, 400, "the limit is 30 s");
    let (s, v) = t
        .post_raw(
            &format!("{BASE}/assets/?email={e}"),
            Some(key),
            "image/png",
            Vec::new(),
        )
        .await;
    assert_useapi_error(s, &v, 400, "invalid body: is empty");
    let (s, v) = t
        .post_raw(
            &format!("{BASE}/assets/?email={e}"),
            Some(key),
            "audio/wav",
            wav_of(3.0),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let audio_url = v["url"].as_str().unwrap().to_string();
    let (s, v) = t
        .post_raw(
            &format!("{BASE}/assets/?email={e}"),
            Some(key),
            "image/png",
            std::fs::read(sample("astronaut.png")).unwrap(),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let image_url = v["url"].as_str().unwrap().to_string();

    let avatars: Vec<(Value, &str)> = vec![
        (json!({"email": e}), "invalid imageUrl: is required"),
        (json!({"email": e, "imageUrl": image_url, "nickname": "n".repeat(31)}), "invalid nickname: is 31 characters long; the limit is 30"),
        (json!({"email": e, "imageUrl": image_url, "prompt": "p".repeat(2001)}), "invalid prompt: is 2001 characters long; the limit is 2000"),
        (json!({"email": e, "imageUrl": image_url, "scene": "space"}), "invalid scene: \"space\" is not one of all, social_media, entertainment, advertising_marketing, business, education, virtual_idol"),
        (json!({"email": e, "imageUrl": image_url, "ttsSpeed": 0.5}), "invalid ttsSpeed: must be a number from 0.8 to 2.0"),
        (json!({"email": e, "imageUrl": image_url, "ttsEmotionKey": "serious"}), "invalid ttsEmotionKey: \"serious\" is not one of neutral"),
        (json!({"email": e, "imageUrl": image_url, "ttsSpeaker": "nobody"}), "Unable to locate speakerId"),
        (json!({"email": e, "imageUrl": "ftp://x/y.png"}), "invalid imageUrl"),
    ];
    for (body, want) in avatars {
        let (s, v) = post("/avatars", body.clone()).await;
        assert_eq!((s, v["code"].as_u64()), (400, Some(400)), "{body} -> {v}");
        assert!(
            v["error"].as_str().unwrap().starts_with(want),
            "{body} -> {v}"
        );
    }
    // A portrait without a face cannot become an avatar.
    let (s, v) = t
        .post_raw(
            &format!("{BASE}/assets/?email={e}"),
            Some(key),
            "image/png",
            std::fs::read(sample("coffee-no-face.png")).unwrap(),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let (s, v) = post("/avatars", json!({"email": e, "imageUrl": v["url"]})).await;
    assert_useapi_error(
        s,
        &v,
        400,
        "invalid imageUrl: no face was found in the image",
    );
    let (s, v) = t
        .get(&format!("{BASE}/avatars?email={e}&type=bogus"), Some(key))
        .await;
    assert_useapi_error(
        s,
        &v,
        400,
        "invalid type: \"bogus\" is not one of personal, templates",
    );
    let (s, v) = t
        .call(
            Method::DELETE,
            &format!("{BASE}/avatars/10001?email={e}"),
            Some(key),
            None,
        )
        .await;
    assert_useapi_error(s, &v, 403, "template avatars cannot be deleted");

    let video: Vec<(Value, u16, &str)> = vec![
        (
            json!({"email": e, "avatarId": "10001", "imageUrl": image_url, "audioUrl": audio_url}),
            400,
            "invalid avatarId: Provide either avatarId OR imageUrl, not both",
        ),
        (
            json!({"email": e, "audioUrl": audio_url}),
            400,
            "invalid avatarId: Provide either avatarId OR imageUrl",
        ),
        (
            json!({"email": e, "imageUrl": image_url, "audioUrl": audio_url, "text": "hi"}),
            400,
            "invalid audioUrl: Provide either audioUrl OR text, not both",
        ),
        (
            json!({"email": e, "imageUrl": image_url}),
            400,
            "invalid audioUrl: Provide either audioUrl OR text",
        ),
        (
            json!({"email": e, "imageUrl": image_url, "text": "x".repeat(5001), "speakerId": "oversea_male1"}),
            400,
            "invalid text: is 5001 characters long; the limit is 5000",
        ),
        (
            json!({"email": e, "imageUrl": image_url, "text": "Hello there, how are you today my friend?"}),
            400,
            "invalid speakerId: is required when using text",
        ),
        (
            json!({"email": e, "imageUrl": image_url, "text": "hi", "speakerId": "nobody"}),
            400,
            "Unable to locate speakerId",
        ),
        (
            json!({"email": e, "imageUrl": image_url, "audioUrl": audio_url, "mode": "ultra"}),
            400,
            "invalid mode: \"ultra\" is not one of std, pro",
        ),
        (
            json!({"email": e, "imageUrl": image_url, "audioUrl": audio_url, "emotion": "bored"}),
            400,
            "invalid emotion: \"bored\"",
        ),
        (
            json!({"email": e, "imageUrl": image_url, "audioUrl": audio_url, "speed": 2.5}),
            400,
            "invalid speed: must be a number from 0.8 to 2.0",
        ),
        (
            json!({"email": e, "imageUrl": image_url, "audioUrl": audio_url, "prompt": "p".repeat(2001)}),
            400,
            "invalid prompt: is 2001 characters long; the limit is 2000",
        ),
        (
            json!({"email": e, "imageUrl": image_url, "audioUrl": audio_url, "maxJobs": 0}),
            400,
            "invalid maxJobs: must be an integer from 1 to 50",
        ),
        (
            json!({"email": e, "imageUrl": image_url, "audioUrl": audio_url, "replyUrl": format!("http://x/{}", "a".repeat(1100))}),
            400,
            "replyUrl is too long",
        ),
        (
            json!({"email": e, "imageUrl": image_url, "audioUrl": audio_url, "replyUrl": "ftp://x"}),
            400,
            "invalid replyUrl",
        ),
        (
            json!({"email": e, "avatarId": "123456789012", "audioUrl": audio_url}),
            404,
            "avatar \"123456789012\" not found",
        ),
        (
            json!({"email": e, "avatarId": "99", "audioUrl": audio_url}),
            404,
            "avatar \"99\" not found",
        ),
        (
            json!({"email": e, "imageUrl": audio_url, "audioUrl": audio_url}),
            400,
            "invalid imageUrl: is not a JPEG, PNG or WebP file",
        ),
        (
            json!({"email": e, "imageUrl": image_url, "audioUrl": image_url}),
            400,
            "invalid audioUrl: is not an MP3, WAV, M4A or AAC file",
        ),
        // Kling's body shape here is a useapi validation error, not a crash.
        (
            json!({"image": "abc", "sound_file": "abc"}),
            400,
            "Provide either avatarId OR imageUrl",
        ),
    ];
    for (body, status, want) in video {
        let (s, v) = post("/avatars/video", body.clone()).await;
        assert_eq!(
            (s, v["code"].as_u64()),
            (status, Some(u64::from(status))),
            "{want}: {v}"
        );
        assert!(v["error"].as_str().unwrap().contains(want), "{want}: {v}");
    }

    // Bodies that are not JSON objects.
    for (ct, raw) in [
        ("application/json", b"{not json".to_vec()),
        ("application/json", b"[1]".to_vec()),
        ("multipart/form-data; boundary=x", b"not a form".to_vec()),
        ("multipart/form-data", b"--x--".to_vec()),
    ] {
        let (s, v) = t
            .post_raw(&format!("{BASE}/avatars/video"), Some(key), ct, raw)
            .await;
        assert_useapi_error(s, &v, 400, "Validation error");
    }
    // Form bodies are read like JSON ones.
    let (s, v) = t
        .post_raw(
            &format!("{BASE}/accounts"),
            Some(key),
            "application/x-www-form-urlencoded",
            b"email=three%40example.com&password=p&maxJobs=3".to_vec(),
        )
        .await;
    assert_eq!((s, &v["maxJobs"]), (200, &json!(3)), "{v}");

    // Tasks, the scheduler and downloads.
    let (s, v) = t.get(&format!("{BASE}/tasks/abc"), Some(key)).await;
    assert_useapi_error(s, &v, 400, "invalid task_id: must be a number");
    let (s, v) = t.get(&format!("{BASE}/tasks/999"), Some(key)).await;
    assert_useapi_error(s, &v, 404, "task \"999\" not found");
    let (s, v) = t
        .get(&format!("{BASE}/tasks?createdBefore=yesterday"), Some(key))
        .await;
    assert_useapi_error(
        s,
        &v,
        400,
        "invalid createdBefore: must be Unix milliseconds",
    );
    let (s, v) = t.get(&format!("{BASE}/tasks?pageSize=0"), Some(key)).await;
    assert_useapi_error(s, &v, 400, "invalid pageSize");
    let (s, v) = t
        .get(&format!("{BASE}/tasks?contentType=text"), Some(key))
        .await;
    assert_useapi_error(s, &v, 400, "invalid contentType");
    let (s, v) = t
        .call(
            Method::DELETE,
            &format!("{BASE}/scheduler/999"),
            Some(key),
            None,
        )
        .await;
    assert_useapi_error(s, &v, 404, "not found");
    let (s, v) = t.get(&format!("{BASE}/assets/download"), Some(key)).await;
    assert_useapi_error(s, &v, 400, "invalid workIds: is required");
    let (s, v) = t
        .get(
            &format!("{BASE}/assets/download?workIds=1&fileTypes=WAV"),
            Some(key),
        )
        .await;
    assert_useapi_error(s, &v, 400, "invalid fileTypes");

    // A template avatar with an uploaded speech file is accepted; its voice
    // and prompt become the task's defaults.
    let (s, v) = post(
        "/avatars/video",
        json!({"email": "three@example.com", "avatarId": "10004", "audioUrl": audio_url, "emotion": "sad"}),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    let tid = v["task"]["id"].as_u64().unwrap();
    let rec = t
        .server
        .services
        .stores
        .tasks
        .task(&tid.to_string())
        .await
        .unwrap()
        .unwrap();
    let spec: Value = serde_json::from_str(&rec.spec).unwrap();
    assert_eq!(spec["emotion"], "sad", "{spec}");
    assert!(spec["avatar_prompt"]
        .as_str()
        .unwrap()
        .contains("astronaut"));
    assert!(spec["prompt"].is_null(), "{spec}");
    let (s, v) = t
        .get(&format!("{BASE}/scheduler/available"), Some(key))
        .await;
    assert_eq!(s, 200);
    let three = v["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["email"] == "three@example.com")
        .cloned()
        .unwrap();
    assert_eq!(
        (three["executing"].as_u64(), three["available"].as_u64()),
        (Some(1), Some(2)),
        "{v}"
    );

    // A job under a full account (maxJobs 1 by request) is 429.
    let ok = json!({"email": e, "imageUrl": image_url, "audioUrl": audio_url, "maxJobs": 1});
    let (s, v) = post("/avatars/video", ok.clone()).await;
    assert_eq!(s, 200, "{v}");
    let (s, v) = post("/avatars/video", ok.clone()).await;
    assert_useapi_error(s, &v, 429, "capacity");
    // The other linked account has its own slots.
    let (s, v) = post(
        "/avatars/video",
        json!({"email": "two@example.com", "imageUrl": image_url, "audioUrl": audio_url}),
    )
    .await;
    assert_eq!(s, 200, "{v}");

    // Unknown paths under /v1/kling keep the shape.
    let (s, v) = t.get(&format!("{BASE}/nope"), Some(key)).await;
    assert_eq!((s, v), (404, json!({"error": "Not found", "code": 404})));
    t.server.shutdown().await;
}

/// A `multipart/form-data` body as browsers and HTTP libraries write it;
/// a part with a file name is a file.
fn form(boundary: &str, parts: &[(&str, Option<&str>, &str)]) -> Vec<u8> {
    let mut out = String::new();
    for (name, file, value) in parts {
        out.push_str(&format!("--{boundary}\r\n"));
        match file {
            Some(f) => out.push_str(&format!(
                "Content-Disposition: form-data; name=\"{name}\"; filename=\"{f}\"\r\nContent-Type: image/jpeg\r\n\r\n"
            )),
            None => out.push_str(&format!(
                "Content-Disposition: form-data; name=\"{name}\"\r\n\r\n"
            )),
        }
        out.push_str(value);
        out.push_str("\r\n");
    }
    out.push_str(&format!("--{boundary}--\r\n"));
    out.into_bytes()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multipart_forms_are_read_like_json() {
    let t = TestServer::start(|s| s.workers.enabled = false).await;
    let acct = t.account("useapi-form", None).await;
    let key = acct.api_key.as_str();
    let ct = "multipart/form-data; boundary=----MouthpieceFormBoundaryQ7x";
    let b = "----MouthpieceFormBoundaryQ7x";
    let server = &t;
    let post = |path: &str, body: Vec<u8>| {
        let url = format!("{BASE}{path}");
        async move { server.post_raw(&url, Some(key), ct, body).await }
    };

    let (s, v) = post(
        "/accounts",
        form(
            b,
            &[
                ("email", None, "form@example.com"),
                ("password", None, "p"),
                ("maxJobs", None, "2"),
            ],
        ),
    )
    .await;
    assert_eq!(
        (s, &v["email"], &v["maxJobs"]),
        (200, &json!("form@example.com"), &json!(2)),
        "{v}"
    );

    // Text with line breaks and non-ASCII survives the form.
    let (s, v) = post(
        "/tts/create",
        form(
            b,
            &[
                ("email", None, "form@example.com"),
                ("speakerId", None, "oversea_male1"),
                ("text", None, "Grüße aus dem Formular.\r\nA second line."),
                ("speed", None, "1.1"),
            ],
        ),
    )
    .await;
    assert_eq!((s, v["status"].as_u64()), (200, Some(99)), "{v}");
    let audio = bytes(v["resource"].as_str().unwrap()).await;
    assert!(audio.len() > 4_000, "{} bytes of speech", audio.len());

    // The same rules as JSON, in the same words.
    let (s, v) = post(
        "/avatars/video",
        form(
            b,
            &[("email", None, "form@example.com"), ("text", None, "hi")],
        ),
    )
    .await;
    assert_useapi_error(s, &v, 400, "Provide either avatarId OR imageUrl");
    // A file part is refused, pointing at the upload endpoint.
    let (s, v) = post(
        "/avatars/video",
        form(
            b,
            &[("imageUrl", Some("me.jpg"), "\u{ff}\u{d8}not really a jpeg")],
        ),
    )
    .await;
    assert_useapi_error(s, &v, 400, "POST /v1/kling/assets");
    assert!(v["error"].as_str().unwrap().contains("imageUrl"), "{v}");
    // Truncated forms and oversized fields are clear refusals.
    let mut cut = form(b, &[("email", None, "form@example.com")]);
    cut.truncate(cut.len() - 12);
    let (s, v) = post("/tts/create", cut).await;
    assert_useapi_error(s, &v, 400, "the multipart form could not be read");
    let long = "x".repeat(70_000);
    let (s, v) = post("/tts/create", form(b, &[("text", None, &long)])).await;
    assert_useapi_error(s, &v, 400, "the multipart form could not be read");
    t.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_are_listed_filtered_and_deleted_per_account() {
    let t = TestServer::start(|s| s.workers.enabled = false).await;
    let owner = t.account("uploads", None).await;
    let other = t.account("stranger", None).await;
    let key = owner.api_key.as_str();
    for (k, email) in [
        (key, "up@example.com"),
        (other.api_key.as_str(), "other@example.com"),
    ] {
        let (s, v, _) = t
            .post(
                &format!("{BASE}/accounts"),
                Some(k),
                &json!({"email": email, "password": "p", "maxJobs": 1}),
            )
            .await;
        assert_eq!(s, 200, "{v}");
    }
    let server = &t;
    let upload = |ct: &'static str, body: Vec<u8>| {
        let url = format!("{BASE}/assets/");
        async move { server.post_raw(&url, Some(key), ct, body).await }
    };
    let (s, v) = upload("image/jpeg", std::fs::read(sample("obama.jpg")).unwrap()).await;
    assert_eq!(s, 200, "{v}");
    let image_url = v["url"].as_str().unwrap().to_string();
    let image_name = v["fileName"].as_str().unwrap().to_string();
    let speech = std::fs::read(short_speech(t.dir.path())).unwrap();
    let (s, v) = upload("audio/wav", speech).await;
    assert_eq!(s, 200, "{v}");
    let audio_name = v["fileName"].as_str().unwrap().to_string();

    // Newest first by default, with what each file is.
    let list = |query: &str, key: &str| {
        let path = format!("{BASE}/assets/uploaded/?{query}");
        let key = key.to_string();
        let t = &t;
        async move { t.get(&path, Some(&key)).await }
    };
    let (s, v) = list("", key).await;
    assert_eq!(s, 200, "{v}");
    let all = v["uploadAssetsList"].as_array().unwrap();
    assert_eq!(all.len(), 2, "{v}");
    assert_eq!(all[0]["name"], audio_name.as_str());
    assert_eq!(all[0]["contentType"], "audio");
    let ms = all[0]["resource"]["duration"].as_u64().unwrap();
    assert!((2_000..8_000).contains(&ms), "{ms} ms of speech");
    assert_eq!(all[1]["contentType"], "image");
    assert_eq!(all[1]["resource"]["resource"], image_url.as_str());
    let (w, h) = (
        all[1]["resource"]["width"].as_u64().unwrap(),
        all[1]["resource"]["height"].as_u64().unwrap(),
    );
    let img = image::open(sample("obama.jpg")).unwrap();
    assert_eq!((w, h), (u64::from(img.width()), u64::from(img.height())));
    let image_id = all[1]["id"].as_u64().expect("a numeric id");

    // Filters, order and pages.
    let (_, v) = list("contentType=image", key).await;
    assert_eq!(v["uploadAssetsList"].as_array().unwrap().len(), 1, "{v}");
    let (_, v) = list("sort=asc&pageSize=1&pageNum=1", key).await;
    assert_eq!(v["uploadAssetsList"][0]["name"], image_name.as_str(), "{v}");
    let (_, v) = list("sort=asc&pageSize=1&pageNum=2", key).await;
    assert_eq!(v["uploadAssetsList"][0]["name"], audio_name.as_str(), "{v}");
    let (_, v) = list(&format!("fileName={}", &image_name[..6]), key).await;
    assert_eq!(v["uploadAssetsList"].as_array().unwrap().len(), 1, "{v}");
    for (query, needle) in [
        ("contentType=text", "contentType"),
        ("sort=sideways", "sort"),
        ("pageSize=500", "pageSize"),
        ("pageNum=0", "pageNum"),
    ] {
        let (s, v) = list(query, key).await;
        assert_useapi_error(s, &v, 400, needle);
    }

    // Another account sees none of them and cannot delete them.
    let (_, v) = list("", &other.api_key).await;
    assert_eq!(v["uploadAssetsList"], json!([]), "{v}");
    let del = |query: String, key: String| {
        let url = format!("{}{BASE}/assets/uploaded/?{query}", t.url);
        async move {
            let resp = client().delete(url).bearer_auth(key).send().await.unwrap();
            let s = resp.status().as_u16();
            (s, resp.json::<Value>().await.unwrap())
        }
    };
    let (s, v) = del(format!("id={image_id}"), other.api_key.clone()).await;
    assert_eq!((s, &v["deleted"]), (200, &json!([])), "{v}");
    assert_eq!(v["notFound"], json!([image_id]), "{v}");
    assert!(!bytes(&image_url).await.is_empty());

    // The owner deletes it: gone from the list and from storage.
    let (s, v) = del(format!("id={image_id},123"), key.to_string()).await;
    assert_eq!(
        (s, &v["deleted"], &v["notFound"]),
        (200, &json!([image_id]), &json!([123])),
        "{v}"
    );
    let (_, v) = list("", key).await;
    assert_eq!(v["uploadAssetsList"].as_array().unwrap().len(), 1, "{v}");
    let gone = client().get(&image_url).send().await.unwrap();
    assert_eq!(gone.status().as_u16(), 404);
    let eleven = (1..=11)
        .map(|i| i.to_string())
        .collect::<Vec<_>>()
        .join(",");
    for (query, needle) in [
        ("id=".to_string(), "is required"),
        (format!("id={eleven}"), "at most 10"),
        ("id=abc".to_string(), "is not a number"),
    ] {
        let (s, v) = del(query, key.to_string()).await;
        assert_useapi_error(s, &v, 400, needle);
    }

    // After the retention the janitor removes what is left.
    let audio_url = {
        let (_, v) = list("", key).await;
        v["uploadAssetsList"][0]["resource"]["resource"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let swept = t.sweep_a_month_later().await;
    assert_eq!(swept.uploads, 1, "{swept:?}");
    let (_, v) = list("", key).await;
    assert_eq!(v["uploadAssetsList"], json!([]), "{v}");
    let gone = client().get(&audio_url).send().await.unwrap();
    assert_eq!(gone.status().as_u16(), 404);
    t.server.shutdown().await;
}

/// The upload whitelist takes FLAC and Ogg Vorbis speech; such an upload
/// renders like any other, with the video as long as the speech.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flac_and_ogg_uploads_render() {
    let t = TestServer::start(|_| {}).await;
    let acct = t.account("lossless", None).await;
    let key = acct.api_key.as_str();
    let (s, v, _) = t
        .post(
            &format!("{BASE}/accounts"),
            Some(key),
            &json!({"email": "f@example.com", "password": "p", "maxJobs": 5}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let upload = |ct: &'static str, body: Vec<u8>| {
        let url = format!("{BASE}/assets/");
        let t = &t;
        async move {
            let (s, v) = t.post_raw(&url, Some(key), ct, body).await;
            assert_eq!(s, 200, "{ct}: {v}");
            v["url"].as_str().unwrap().to_string()
        }
    };
    let image = upload("image/jpeg", std::fs::read(sample("obama.jpg")).unwrap()).await;
    let wav = short_speech(t.dir.path());
    let mut tasks = Vec::new();
    for (ct, codec, ext) in [
        ("audio/flac", "flac", "flac"),
        ("audio/ogg", "libvorbis", "ogg"),
    ] {
        let out = t.dir.path().join(format!("speech.{ext}"));
        let ok = std::process::Command::new("ffmpeg")
            .args(["-loglevel", "error", "-y", "-i"])
            .arg(&wav)
            .args(["-c:a", codec])
            .arg(&out)
            .status()
            .unwrap();
        assert!(ok.success());
        let audio = upload(ct, std::fs::read(&out).unwrap()).await;
        let (s, v, _) = t
            .post(
                &format!("{BASE}/avatars/video"),
                Some(key),
                &json!({"imageUrl": image, "audioUrl": audio}),
            )
            .await;
        assert_eq!(s, 200, "{ct}: {v}");
        tasks.push((ct, v["task"]["id"].as_u64().unwrap()));
    }
    let speech_ms = {
        let track = mouthpiece_engine::media::decode_audio_file(&wav, None).unwrap();
        (track.duration * 1000.0) as i64
    };
    for (ct, id) in tasks {
        let v = wait_final(&t, key, id).await;
        assert_eq!(v["status_name"], "succeed", "{ct}: {v}");
        let ms = v["works"][0]["resource"]["duration"].as_i64().unwrap();
        assert!(
            (ms - speech_ms).abs() <= 100,
            "{ct}: video {ms} ms, speech {speech_ms} ms"
        );
        let mp4 = bytes(v["works"][0]["resource"]["resource"].as_str().unwrap()).await;
        assert_eq!(&mp4[4..8], b"ftyp", "{ct}");
    }
    t.server.shutdown().await;
}

/// A test clip made by FFmpeg: `size` like `1280x720`, `seconds` long.
fn clip(dir: &std::path::Path, name: &str, size: &str, seconds: u32) -> Vec<u8> {
    let out = dir.join(name);
    let ok = std::process::Command::new("ffmpeg")
        .args(["-loglevel", "error", "-y", "-f", "lavfi", "-i"])
        .arg(format!("testsrc=size={size}:rate=25:duration={seconds}"))
        .args([
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-pix_fmt",
            "yuv420p",
        ])
        .arg(&out)
        .status()
        .unwrap();
    assert!(ok.success(), "ffmpeg made no {name}");
    std::fs::read(out).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn video_uploads_are_checked_for_size_and_length() {
    let t = TestServer::start(|s| s.workers.enabled = false).await;
    let acct = t.account("clips", None).await;
    let key = acct.api_key.as_str();
    let (s, v, _) = t
        .post(
            &format!("{BASE}/accounts"),
            Some(key),
            &json!({"email": "c@example.com", "password": "p", "maxJobs": 1}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let dir = t.dir.path();
    let upload = |ct: &'static str, body: Vec<u8>| {
        let url = format!("{BASE}/assets/");
        let t = &t;
        async move { t.post_raw(&url, Some(key), ct, body).await }
    };

    let (s, v) = upload("video/mp4", clip(dir, "ok.mp4", "1280x720", 3)).await;
    assert_eq!((s, &v["status"]), (200, &json!(1)), "{v}");
    assert!(v["fileName"].as_str().unwrap().ends_with(".mp4"), "{v}");
    let (s, v) = upload("video/quicktime", clip(dir, "tall.mov", "1080x1920", 2)).await;
    assert_eq!((s, &v["status"]), (200, &json!(1)), "{v}");
    let (_, v) = t
        .get(
            &format!("{BASE}/assets/uploaded/?contentType=video&sort=asc"),
            Some(key),
        )
        .await;
    let list = v["uploadAssetsList"].as_array().unwrap();
    assert_eq!(list.len(), 2, "{v}");
    let r = &list[0]["resource"];
    assert_eq!(
        (&r["width"], &r["height"]),
        (&json!(1280), &json!(720)),
        "{v}"
    );
    let ms = r["duration"].as_u64().unwrap();
    assert!((2_950..3_100).contains(&ms), "{ms} ms");

    for (ct, body, needle) in [
        (
            "video/mp4",
            clip(dir, "small.mp4", "640x360", 1),
            "it must be 720p or 1080p",
        ),
        (
            "video/mp4",
            clip(dir, "huge.mp4", "3840x2160", 1),
            "3840x2160",
        ),
        (
            "video/mp4",
            clip(dir, "long.mp4", "1280x720", 12),
            "lasts 12.0 s; the limit is 10 s",
        ),
        (
            "video/mp4",
            b"\x00\x00\x00\x18ftypmp42 not really a movie".to_vec(),
            "the video could not be read",
        ),
        (
            "video/quicktime",
            std::fs::read(sample("obama.jpg")).unwrap(),
            "the video could not be read",
        ),
    ] {
        let (s, v) = upload(ct, body).await;
        assert_useapi_error(s, &v, 400, needle);
    }
    let (_, v) = t
        .get(
            &format!("{BASE}/assets/uploaded/?contentType=video"),
            Some(key),
        )
        .await;
    assert_eq!(
        v["uploadAssetsList"].as_array().unwrap().len(),
        2,
        "refused clips are not kept: {v}"
    );
    t.server.shutdown().await;
}
