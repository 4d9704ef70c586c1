//! A render whose inputs and output live in S3: a real S3-protocol server
//! (s3s-fs, S3 over a folder) on loopback, spoken to through `object_store`.
//! The output is downloadable through the API node and, on a node with
//! presigning on, through a presigned URL straight from the bucket.

mod common;

use common::*;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder as ConnBuilder;
use mouthpiece_storage::s3::{S3BlobStore, S3Config};
use mouthpiece_storage::BlobStore;
use s3s::auth::SimpleAuth;
use s3s::service::S3ServiceBuilder;
use serde_json::json;
use std::time::Duration;

async fn s3_server(root: &std::path::Path, bucket: &str) -> String {
    std::fs::create_dir_all(root.join(bucket)).unwrap();
    let fs = s3s_fs::FileSystem::new(root).unwrap();
    let mut b = S3ServiceBuilder::new(fs);
    b.set_auth(SimpleAuth::from_single("test-ak", "test-sk"));
    let service = b.build();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((socket, _)) = listener.accept().await else {
                continue;
            };
            let service = service.clone();
            tokio::spawn(async move {
                let _ = ConnBuilder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(socket), service)
                    .await;
            });
        }
    });
    format!("http://{addr}")
}

fn use_s3(s: &mut mouthpiece_api::Settings, endpoint: &str) {
    s.blob_url = Some("s3://media/deploy-1".into());
    s.s3.endpoint = Some(endpoint.into());
    s.s3.region = Some("us-east-1".into());
    s.s3.access_key_id = Some("test-ak".into());
    s.s3.secret_access_key = Some("test-sk".into());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_render_lands_in_s3_and_downloads_through_the_api_and_presigned() {
    let s3_root = tempfile::tempdir().unwrap();
    let endpoint = s3_server(s3_root.path(), "media").await;
    let t = TestServer::start(|s| use_s3(s, &endpoint)).await;
    let acct = t.account("s3", None).await;
    let key = acct.api_key.as_str();
    let body =
        json!({"image": b64(&sample("obama.jpg")), "sound_file": b64(&short_speech(t.dir.path()))});
    let (status, v) = t.create(key, &body).await;
    assert_eq!(status, 200, "{v}");
    let id = v["data"]["task_id"].as_str().unwrap().to_string();
    let done = t.wait_done(key, &id, Duration::from_secs(120)).await;
    assert_eq!(done["task_status"], "succeed", "{done}");
    let url = done["task_result"]["videos"][0]["url"]
        .as_str()
        .unwrap()
        .to_string();

    // The video is in the bucket, under the deployment's prefix.
    let bucket = S3BlobStore::new(&S3Config {
        bucket: "media".into(),
        prefix: String::new(),
        endpoint: Some(endpoint.clone()),
        region: Some("us-east-1".into()),
        access_key_id: Some("test-ak".into()),
        secret_access_key: Some("test-sk".into()),
        path_style: true,
    })
    .unwrap();
    let keys = bucket.list(Some("deploy-1/tasks")).await.unwrap();
    let video_key = format!("deploy-1/tasks/{id}/a1/video.mp4");
    assert!(keys.contains(&video_key), "{keys:?}");
    let stored = bucket.get(&video_key).await.unwrap();

    // Through the API node: the same bytes, with ranges.
    let probe = download_mp4(t.dir.path(), &url, 720).await;
    assert!(probe["format"]["duration"].as_str().is_some());
    let via_api = client()
        .get(&url)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(via_api, stored);
    let part = client()
        .get(&url)
        .header("range", "bytes=4-11")
        .send()
        .await
        .unwrap();
    assert_eq!(part.status().as_u16(), 206);
    assert_eq!(&part.bytes().await.unwrap()[..], &stored[4..12]);

    // A second API node on the same stores, with presigned URLs: the same
    // signed link now redirects straight to the bucket.
    let db = t.server_database_url();
    let presigning = TestServer::start(|s| {
        use_s3(s, &endpoint);
        s.database_url = Some(db.clone());
        s.workers.enabled = false;
        s.s3.presign_seconds = Some(300);
    })
    .await;
    let other = url.replace(&t.url, &presigning.url);
    let no_redirect = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let resp = no_redirect.get(&other).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 307);
    let location = resp.headers()["location"].to_str().unwrap().to_string();
    assert!(location.starts_with(&endpoint), "{location}");
    assert!(location.contains("X-Amz-Signature="), "{location}");
    let direct = client().get(&location).send().await.unwrap();
    assert_eq!(direct.status().as_u16(), 200);
    assert_eq!(direct.bytes().await.unwrap(), stored);
    presigning.server.shutdown().await;
    t.server.shutdown().await;
}
