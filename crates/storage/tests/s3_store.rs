//! The blob-store contract on a real S3-protocol server: s3s-fs (S3 over a
//! folder) on a loopback port, spoken to by `object_store` like AWS or MinIO.

use bytes::Bytes;
use futures::StreamExt;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder as ConnBuilder;
use mouthpiece_storage::s3::{S3BlobStore, S3Config};
use mouthpiece_storage::{BlobStore, StorageError};
use s3s::auth::SimpleAuth;
use s3s::service::S3ServiceBuilder;
use std::time::Duration;

/// Starts an S3 server over `root` with one bucket; returns its endpoint.
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

fn config(endpoint: &str, bucket: &str, prefix: &str) -> S3Config {
    S3Config {
        bucket: bucket.into(),
        prefix: prefix.into(),
        endpoint: Some(endpoint.into()),
        region: Some("us-east-1".into()),
        access_key_id: Some("test-ak".into()),
        secret_access_key: Some("test-sk".into()),
        path_style: true,
    }
}

async fn collect(mut s: mouthpiece_storage::ByteStream) -> Vec<u8> {
    let mut got = Vec::new();
    while let Some(chunk) = s.next().await {
        got.extend_from_slice(&chunk.unwrap());
    }
    got
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_blob_store_put_get_range_list_delete_and_presign() {
    let dir = tempfile::tempdir().unwrap();
    let endpoint = s3_server(&dir.path().join("s3"), "media").await;
    let store = S3BlobStore::new(&config(&endpoint, "media", "node-a")).unwrap();

    store
        .put("tasks/1/a1/video.mp4", Bytes::from_static(b"0123456789"))
        .await
        .unwrap();
    assert_eq!(store.size("tasks/1/a1/video.mp4").await.unwrap(), Some(10));
    assert_eq!(store.size("tasks/1/none.mp4").await.unwrap(), None);
    assert_eq!(
        &store.get("tasks/1/a1/video.mp4").await.unwrap()[..],
        b"0123456789"
    );
    let range = store
        .read_range("tasks/1/a1/video.mp4", 3, 4)
        .await
        .unwrap();
    assert_eq!(collect(range).await, b"3456");
    // The prefix is really used in the bucket (another deployment's view).
    let bare = S3BlobStore::new(&config(&endpoint, "media", "")).unwrap();
    assert_eq!(
        bare.size("node-a/tasks/1/a1/video.mp4").await.unwrap(),
        Some(10)
    );

    // A file larger than one multipart part, byte-exact after the round trip.
    let big: Vec<u8> = (0..12 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect();
    let src = dir.path().join("big.bin");
    std::fs::write(&src, &big).unwrap();
    store.put_file("tasks/2/big.bin", &src).await.unwrap();
    let back = dir.path().join("back.bin");
    store.download("tasks/2/big.bin", &back).await.unwrap();
    assert!(std::fs::read(&back).unwrap() == big);
    let tail = store
        .read_range("tasks/2/big.bin", big.len() as u64 - 5, 5)
        .await
        .unwrap();
    assert_eq!(collect(tail).await, &big[big.len() - 5..]);

    let mut keys = store.list(None).await.unwrap();
    keys.sort();
    assert_eq!(keys, ["tasks/1/a1/video.mp4", "tasks/2/big.bin"]);
    assert_eq!(
        store.list(Some("tasks/2")).await.unwrap(),
        ["tasks/2/big.bin"]
    );

    // A presigned URL works with no credentials, until it is deleted.
    let url = store
        .presigned_url("tasks/1/a1/video.mp4", Duration::from_secs(60))
        .await
        .unwrap()
        .unwrap();
    let resp = reqwest::get(&url).await.unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(&resp.bytes().await.unwrap()[..], b"0123456789");
    let unsigned = url.split('?').next().unwrap().to_string();
    assert_eq!(
        reqwest::get(&unsigned).await.unwrap().status().as_u16(),
        403
    );

    store.delete_prefix("tasks/1").await.unwrap();
    store.delete("tasks/1/a1/video.mp4").await.unwrap(); // already gone: fine
    assert!(matches!(
        store.get("tasks/1/a1/video.mp4").await,
        Err(StorageError::NotFound(_))
    ));
    assert_eq!(store.list(None).await.unwrap(), ["tasks/2/big.bin"]);
    assert!(store.put("../x", Bytes::new()).await.is_err());
}
