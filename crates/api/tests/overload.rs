//! Overload: per-account request rates and the service's queue depth are
//! refused in each dialect's own 429 (Kling 1302 / 1303, useapi and kie
//! with `Retry-After`, AI/ML API without rate-limit headers, as theirs);
//! with the workers saturated, submissions within the limits are still
//! accepted and all of them finish.

mod common;

use common::*;
use serde_json::{json, Value};
use std::time::Duration;

async fn get_with_headers(
    t: &TestServer,
    path: &str,
    key: &str,
) -> (u16, Value, reqwest::header::HeaderMap) {
    let resp = client()
        .get(format!("{}{path}", t.url))
        .bearer_auth(key)
        .send()
        .await
        .expect("GET");
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    (status, resp.json().await.expect("JSON body"), headers)
}

/// Sends `path` until it is refused with 429; returns how many passed
/// before and the refusal.
async fn until_refused(
    t: &TestServer,
    path: &str,
    key: &str,
) -> (usize, Value, reqwest::header::HeaderMap) {
    for passed in 0..50 {
        let (s, v, h) = get_with_headers(t, path, key).await;
        if s == 429 {
            return (passed, v, h);
        }
    }
    panic!("{path} was never rate limited");
}

fn retry_after(h: &reqwest::header::HeaderMap) -> Option<u64> {
    h.get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_dialect_answers_its_own_429_when_an_account_is_too_fast() {
    let t = TestServer::start(|s| {
        s.workers.enabled = false;
        s.limits.requests_per_second = 1;
        s.limits.burst = 3;
    })
    .await;

    let kling = t.account("kling", None).await;
    let (passed, v, h) = until_refused(
        &t,
        "/v1/videos/avatar/image2video?pageNum=1&pageSize=1",
        &kling.api_key,
    )
    .await;
    assert!(passed >= 3, "the burst passes first: {passed}");
    assert_eq!(v["code"], 1302, "{v}");
    assert!(v["message"].as_str().unwrap().contains("rate limit"), "{v}");
    assert!(retry_after(&h).is_some_and(|s| s >= 1), "{h:?}");
    // Another account has its own budget.
    let other = t.account("other", None).await;
    let (s, v, _) = get_with_headers(
        &t,
        "/v1/videos/avatar/image2video?pageNum=1&pageSize=1",
        &other.api_key,
    )
    .await;
    assert_eq!(s, 200, "{v}");

    let kie = t.account("kie", None).await;
    let (passed, v, h) = until_refused(&t, "/api/v1/jobs/recordInfo?taskId=1", &kie.api_key).await;
    assert!(passed >= 3);
    assert_eq!(v["code"], 429, "{v}");
    assert!(v["msg"].as_str().unwrap().contains("rate limit"), "{v}");
    assert!(retry_after(&h).is_some(), "{h:?}");

    let aiml = t.account("aiml", None).await;
    let (passed, v, h) =
        until_refused(&t, "/v2/video/generations?generation_id=x", &aiml.api_key).await;
    assert!(passed >= 3);
    assert_eq!(v["statusCode"], 429, "{v}");
    assert!(v["message"].as_str().unwrap().contains("retry in"), "{v}");
    assert!(
        retry_after(&h).is_none(),
        "AI/ML API sends no rate-limit headers"
    );

    let useapi = t.account("useapi", None).await;
    let (passed, v, h) = until_refused(&t, "/v1/kling/accounts", &useapi.api_key).await;
    assert!(passed >= 3);
    assert_eq!(v["code"], 429, "{v}");
    assert!(
        v["retryAfter"].as_str().is_some_and(|s| s.ends_with('Z')),
        "{v}"
    );
    assert!(retry_after(&h).is_some(), "{h:?}");

    let metrics = client()
        .get(format!("{}/metrics", t.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("mouthpiece_requests_shed_total{reason=\"rate_limit\"} 4"),
        "{metrics}"
    );
    t.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_queue_refuses_new_tasks_of_any_account() {
    let t = TestServer::start(|s| {
        s.workers.enabled = false;
        s.limits.max_queued_tasks = 2;
    })
    .await;
    let speech = short_speech(t.dir.path());
    let body = json!({"image": b64(&sample("obama.jpg")), "sound_file": b64(&speech)});
    let a = t.account("a", None).await;
    let b = t.account("b", None).await;
    for key in [&a.api_key, &b.api_key] {
        let (s, v) = t.create(key, &body).await;
        assert_eq!(s, 200, "{v}");
    }
    // A third account, well within its own limit, meets the global one.
    let c = t.account("c", None).await;
    let (s, v, h) = t
        .post("/v1/videos/avatar/image2video", Some(&c.api_key), &body)
        .await;
    assert_eq!(s, 429, "{v}");
    assert_eq!(v["code"], 1303, "{v}");
    assert!(
        v["message"].as_str().unwrap().contains("server is busy"),
        "{v}"
    );
    assert!(retry_after(&h).is_some(), "{h:?}");
    let aiml = json!({"model": "klingai/avatar-standard",
        "image_url": b64(&sample("obama.jpg")), "audio_url": b64(&speech)});
    let (s, v, _) = t
        .post("/v2/video/generations", Some(&c.api_key), &aiml)
        .await;
    assert_eq!(s, 429, "{v}");
    assert_eq!(v["statusCode"], 429, "{v}");
    t.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn saturated_workers_keep_accepting_within_limits_and_all_finish() {
    let t = TestServer::start(|s| {
        s.workers.concurrency = 1;
        s.limits.max_queued_tasks = 6;
    })
    .await;
    let acct = t.account("busy", Some(6)).await;
    let speech = short_speech(t.dir.path());
    let body = json!({"image": b64(&sample("obama.jpg")), "sound_file": b64(&speech)});
    // One worker, six submissions in a row: all are queued.
    let mut ids = Vec::new();
    for _ in 0..6 {
        let (s, v) = t.create(&acct.api_key, &body).await;
        assert_eq!(s, 200, "{v}");
        ids.push(v["data"]["task_id"].as_str().unwrap().to_string());
    }
    // The seventh is over both limits and refused, not lost.
    let (s, v) = t.create(&acct.api_key, &body).await;
    assert_eq!(s, 429, "{v}");
    for id in &ids {
        let done = t
            .wait_done(&acct.api_key, id, Duration::from_secs(300))
            .await;
        assert_eq!(done["task_status"], "succeed", "{done}");
    }
    t.server.shutdown().await;
}

/// A request whose body of `declared` bytes arrives a KiB at a time, every
/// `gap`: an upload on a slow link.
fn slow_upload(
    t: &TestServer,
    path: &str,
    key: &str,
    declared: usize,
    gap: Duration,
) -> tokio::task::JoinHandle<(u16, String)> {
    let url = format!("{}{path}", t.url);
    let key = key.to_string();
    tokio::spawn(async move {
        let chunks = futures::stream::unfold(0usize, move |sent| async move {
            if sent >= declared {
                return None;
            }
            tokio::time::sleep(gap).await;
            let n = 1024.min(declared - sent);
            Some((Ok::<_, std::io::Error>(vec![b' '; n]), sent + n))
        });
        let resp = client()
            .post(url)
            .bearer_auth(key)
            .header("content-type", "application/json")
            .header("content-length", declared.to_string())
            .body(reqwest::Body::wrap_stream(chunks))
            .send()
            .await;
        match resp {
            Ok(r) => (r.status().as_u16(), r.text().await.unwrap_or_default()),
            Err(e) => (0, e.to_string()),
        }
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_in_flight_have_a_memory_budget() {
    let t = TestServer::start(|s| {
        s.workers.enabled = false;
        s.max_request_mb = 1;
        s.limits.max_inflight_body_mb = 2;
    })
    .await;
    let a = t.account("uploader", None).await;
    let b = t.account("other", None).await;
    // Two slow 1 MB uploads take the whole 2 MB budget for about 8 s.
    let path = "/v1/videos/avatar/image2video";
    let slow: Vec<_> = (0..2)
        .map(|_| slow_upload(&t, path, &a.api_key, 1 << 20, Duration::from_millis(8)))
        .collect();
    tokio::time::sleep(Duration::from_millis(500)).await;

    // Meanwhile another account's small body waits, then hears "busy" in
    // the dialect's own envelope.
    let body = json!({"image": "x"});
    let started = std::time::Instant::now();
    let (s, v, h) = t.post(path, Some(&b.api_key), &body).await;
    assert_eq!((s, v["code"].as_u64()), (429, Some(1303)), "{v}");
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .contains("busy receiving other uploads"),
        "{v}"
    );
    assert_eq!(retry_after(&h), Some(1), "{h:?}");
    assert!(started.elapsed() >= Duration::from_millis(1500));
    let (s, v, h) = t
        .post("/api/v1/jobs/createTask", Some(&b.api_key), &body)
        .await;
    assert_eq!((s, v["code"].as_u64()), (429, Some(429)), "{v}");
    assert!(retry_after(&h).is_some(), "{h:?}");
    let (s, v, _) = t
        .post("/v1/kling/avatars/video", Some(&b.api_key), &body)
        .await;
    assert_eq!(s, 429, "{v}");
    assert!(v["error"].as_str().unwrap().contains("busy"), "{v}");
    // Requests without a body are not held up.
    let (s, v, _) =
        get_with_headers(&t, "/v1/videos/avatar/image2video?pageSize=1", &b.api_key).await;
    assert_eq!(s, 200, "{v}");

    // The slow uploads themselves were served (a 1 MB body of spaces is not
    // a request: 400), and then the budget is free again.
    for h in slow {
        assert_eq!(h.await.unwrap().0, 400);
    }
    let (s, v, _) = t.post(path, Some(&b.api_key), &body).await;
    assert_eq!((s, v["code"].as_u64()), (400, Some(1201)), "{v}");
    t.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_that_drips_is_cut_off_at_its_deadline() {
    let t = TestServer::start(|s| {
        s.workers.enabled = false;
        s.max_request_mb = 1;
        s.limits.max_inflight_body_mb = 1;
        s.limits.body_timeout_seconds = 2.0;
    })
    .await;
    let a = t.account("dripper", None).await;
    // 1 MB a KiB every 8 ms would take over 8 s; it gets 2 s.
    let started = std::time::Instant::now();
    let drip = slow_upload(
        &t,
        "/v1/videos/avatar/image2video",
        &a.api_key,
        1 << 20,
        Duration::from_millis(8),
    );
    let (status, text) = drip.await.unwrap();
    let took = started.elapsed();
    assert_eq!(status, 400, "{text}");
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["code"], 1200, "{v}");
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .contains("did not arrive within 2 s"),
        "{v}"
    );
    assert!(took < Duration::from_secs(6), "{took:?}");
    // Its share of the budget is free again at once.
    let (s, v, _) = t
        .post(
            "/v1/videos/avatar/image2video",
            Some(&a.api_key),
            &json!({"image": "x"}),
        )
        .await;
    assert_eq!((s, v["code"].as_u64()), (400, Some(1201)), "{v}");
    assert!(!v["message"].as_str().unwrap().contains("busy"), "{v}");
    t.server.shutdown().await;
}
