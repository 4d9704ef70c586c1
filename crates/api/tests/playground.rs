//! The web playground: its assets and face endpoint over HTTP, then the
//! whole page in Debian's Chromium (Playwright, web/tests/playground.e2e.mjs)
//! against this real server. Node, Chromium and web/node_modules are
//! required (scripts/setup.sh installs them): missing ones fail the test.

mod common;

use common::{client, sample, TestServer};
use std::path::{Path, PathBuf};
use std::time::Duration;

fn web_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../web")
}

fn chromium() -> PathBuf {
    std::env::var_os("PLAYGROUND_CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"))
}

fn require_browser_tools() {
    let node = std::process::Command::new("node").arg("--version").output();
    assert!(
        node.as_ref().is_ok_and(|o| o.status.success()),
        "node is required for the playground tests (scripts/setup.sh installs it): {node:?}"
    );
    assert!(
        chromium().is_file(),
        "Chromium is required at {} (Debian package `chromium`; scripts/setup.sh installs it)",
        chromium().display()
    );
    assert!(
        web_dir().join("node_modules/playwright-core/package.json").is_file(),
        "web/node_modules/playwright-core is missing: run `npm ci` in web/ (scripts/setup.sh does it)"
    );
}

async fn get(url: &str, headers: &[(&str, &str)]) -> reqwest::Response {
    let mut req = client().get(url);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    req.send().await.expect("GET")
}

fn header(r: &reqwest::Response, name: &str) -> String {
    r.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string()
}

async fn face(srv: &TestServer, key: Option<&str>, body: Vec<u8>) -> (u16, serde_json::Value) {
    srv.post_raw("/v1/playground/face", key, "image/jpeg", body)
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn assets_are_embedded_with_types_and_caching() {
    let srv = TestServer::start(|_| {}).await;
    let page = get(&format!("{}/", srv.url), &[]).await;
    assert_eq!(page.status().as_u16(), 200);
    assert_eq!(header(&page, "content-type"), "text/html");
    assert_eq!(header(&page, "cache-control"), "no-cache");
    assert!(header(&page, "content-security-policy").contains("script-src 'self'"));
    let etag = header(&page, "etag");
    assert!(etag.starts_with('"') && etag.len() > 10, "{etag}");
    let html = page.text().await.expect("html");
    assert!(html.contains("<title>Mouthpiece playground</title>"));
    // Only this server's own files: no CDN.
    assert!(!html.contains("http://") && !html.contains("https://"));

    let again = get(&format!("{}/", srv.url), &[("if-none-match", &etag)]).await;
    assert_eq!(again.status().as_u16(), 304);

    let script = html
        .split("src=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("a script tag");
    assert!(
        script.starts_with("/assets/") && script.ends_with(".js"),
        "{script}"
    );
    let js = get(&format!("{}{script}", srv.url), &[]).await;
    assert_eq!(js.status().as_u16(), 200);
    assert_eq!(header(&js, "content-type"), "text/javascript");
    assert_eq!(
        header(&js, "cache-control"),
        "public, max-age=31536000, immutable"
    );
    assert_eq!(header(&js, "x-content-type-options"), "nosniff");
    let css = html
        .split("href=\"")
        .find_map(|s| s.split('"').next().filter(|h| h.ends_with(".css")))
        .expect("a stylesheet");
    let css = get(&format!("{}{css}", srv.url), &[]).await;
    assert_eq!(header(&css, "content-type"), "text/css");

    // Unknown assets are 404; other unknown paths keep the Kling envelope.
    let missing = get(&format!("{}/assets/nope.js", srv.url), &[]).await;
    assert_eq!(missing.status().as_u16(), 404);
    let (status, v) = srv.get("/nope", None).await;
    assert_eq!(status, 404);
    assert!(v["code"].is_number(), "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn face_endpoint_boxes_the_face_or_says_why_not() {
    let srv = TestServer::start(|_| {}).await;
    let key = srv.account("face", None).await.api_key;
    let obama = std::fs::read(sample("obama.jpg")).expect("sample");

    let (status, v) = face(&srv, None, obama.clone()).await;
    assert_eq!(status, 401, "{v}");

    // The models load in the background: the first calls may be 503.
    let (status, v) = loop {
        let (s, v) = face(&srv, Some(&key), obama.clone()).await;
        if s != 503 {
            break (s, v);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(status, 200, "{v}");
    let d = &v["data"];
    let (w, h) = (d["width"].as_f64().unwrap(), d["height"].as_f64().unwrap());
    let img = image::load_from_memory(&obama).expect("decode");
    assert_eq!((w as u32, h as u32), (img.width(), img.height()));
    let f = &d["faces"][0];
    let (x, y, fw, fh) = (
        f["x"].as_f64().unwrap(),
        f["y"].as_f64().unwrap(),
        f["w"].as_f64().unwrap(),
        f["h"].as_f64().unwrap(),
    );
    assert!(x >= 0.0 && y >= 0.0 && x + fw <= w && y + fh <= h, "{f}");
    assert!(fw > w * 0.1 && fw < w * 0.9, "{f}");
    // A face's centre sits in the middle third horizontally on this portrait.
    let cx = x + fw / 2.0;
    assert!(cx > w / 3.0 && cx < 2.0 * w / 3.0, "{f}");

    let no_face = std::fs::read(sample("coffee-no-face.png")).expect("sample");
    let (status, v) = face(&srv, Some(&key), no_face).await;
    assert_eq!(status, 400, "{v}");
    assert_eq!(v["code"], 1201);
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .starts_with("invalid image: no face was found"),
        "{v}"
    );

    let (status, v) = face(&srv, Some(&key), common::png(120, 120)).await;
    assert_eq!(status, 400, "{v}");
    assert!(
        v["message"].as_str().unwrap().contains("at least 300 px"),
        "{v}"
    );
    let (status, v) = face(&srv, Some(&key), b"not a picture".to_vec()).await;
    assert_eq!(status, 400, "{v}");
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .contains("not a JPEG, PNG or WebP"),
        "{v}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_playground_works_in_a_real_browser() {
    require_browser_tools();
    let srv = TestServer::start(|_| {}).await;
    let key = srv.account("browser", None).await.api_key;
    let short = srv.dir.path().join("short.wav");
    std::fs::write(&short, common::wav_of(1.0)).expect("write");
    // A task that fails after it was accepted, for the history.
    let speech = common::short_speech(srv.dir.path());
    let (status, v) = srv
        .create(
            &key,
            &serde_json::json!({"image": common::b64(&sample("coffee-no-face.png")),
                                "sound_file": common::b64(&speech)}),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    let failed = srv
        .wait_done(
            &key,
            v["data"]["task_id"].as_str().unwrap(),
            Duration::from_secs(60),
        )
        .await;
    assert_eq!(failed["task_status"], "failed", "{failed}");
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("playground");
    std::fs::create_dir_all(&out).expect("screenshot dir");

    let run = tokio::process::Command::new("node")
        .arg("tests/playground.e2e.mjs")
        .current_dir(web_dir())
        .env("PLAYGROUND_URL", &srv.url)
        .env("PLAYGROUND_KEY", &key)
        .env("PLAYGROUND_SAMPLES", common::samples())
        .env("PLAYGROUND_SHORT_AUDIO", &short)
        .env("PLAYGROUND_OUT", &out)
        .env("PLAYGROUND_CHROMIUM", chromium())
        .kill_on_drop(true)
        .output();
    let res = tokio::time::timeout(Duration::from_secs(420), run)
        .await
        .expect("the browser test finished within 7 minutes")
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&res.stdout);
    let stderr = String::from_utf8_lossy(&res.stderr);
    println!("{stdout}");
    eprintln!("{stderr}");
    assert!(
        res.status.success() && stdout.contains("all checks passed"),
        "the browser scenario failed:\n{stdout}\n{stderr}"
    );
    for shot in ["playground-desktop.png", "playground-phone.png"] {
        let p = out.join(shot);
        let img = image::open(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        assert!(img.width() >= 375 && img.height() > 600, "{shot}");
    }

    // What the page made is a real task of the account, readable in any
    // dialect; so are the four tasks its curl commands made (and the
    // failed one made above).
    let (status, v) = srv
        .get(
            "/v1/videos/avatar/image2video?pageNum=1&pageSize=10",
            Some(&key),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    let tasks = v["data"].as_array().unwrap();
    assert_eq!(tasks.len(), 6, "{v}");
    let done: Vec<_> = tasks
        .iter()
        .filter(|t| t["task_status"] == "succeed")
        .collect();
    assert!(!done.is_empty(), "{v}");
    let url = done[0]["task_result"]["videos"][0]["url"].as_str().unwrap();
    common::download_mp4(srv.dir.path(), url, 720).await;
    let (_, avatars) = srv
        .call(
            reqwest::Method::GET,
            "/v1/kling/avatars?type=personal",
            Some(&key),
            None,
        )
        .await;
    assert_eq!(avatars[0]["nickname"], "Test presenter", "{avatars}");
}
