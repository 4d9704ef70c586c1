//! Blobs in any S3-compatible object store (AWS S3, MinIO, Ceph, R2...),
//! through the `object_store` crate. Keys live under an optional prefix of
//! the bucket, so several deployments can share one bucket.

use crate::blob::{validate_key, BlobStore, ByteStream};
use crate::error::{Result, StorageError};
use async_trait::async_trait;
use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::buffered::BufWriter;
use object_store::path::Path as ObjectPath;
use object_store::signer::Signer;
use object_store::{GetOptions, GetRange, ObjectStore, PutPayload};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncWriteExt;

/// Where the bucket is and how to sign requests. Empty fields fall back to
/// the usual `AWS_*` environment variables (read by `object_store`).
#[derive(Debug, Clone, Default)]
pub struct S3Config {
    pub bucket: String,
    /// Key prefix inside the bucket, without slashes at the ends.
    pub prefix: String,
    /// `http://127.0.0.1:9000` for MinIO and friends; AWS when `None`.
    pub endpoint: Option<String>,
    pub region: Option<String>,
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
    /// Path-style requests (`endpoint/bucket/key`), which most non-AWS
    /// servers need. Virtual-hosted style otherwise.
    pub path_style: bool,
}

impl S3Config {
    /// `s3://bucket` or `s3://bucket/some/prefix`.
    pub fn from_url(url: &str) -> Result<Self> {
        let rest = url
            .strip_prefix("s3://")
            .ok_or_else(|| StorageError::Database(format!("not an s3:// URL: {url}")))?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(StorageError::Database(format!("no bucket in {url}")));
        }
        Ok(Self {
            bucket: bucket.to_string(),
            prefix: prefix.trim_matches('/').to_string(),
            path_style: true,
            ..Self::default()
        })
    }
}

pub struct S3BlobStore {
    store: Arc<AmazonS3>,
    prefix: String,
}

fn object_err(e: object_store::Error) -> StorageError {
    match e {
        object_store::Error::NotFound { path, .. } => StorageError::NotFound(path),
        other => StorageError::Io(std::io::Error::other(other.to_string())),
    }
}

impl S3BlobStore {
    pub fn new(config: &S3Config) -> Result<Self> {
        let mut b = AmazonS3Builder::from_env()
            .with_bucket_name(&config.bucket)
            .with_virtual_hosted_style_request(!config.path_style);
        if let Some(e) = &config.endpoint {
            b = b.with_endpoint(e).with_allow_http(e.starts_with("http://"));
        }
        if let Some(r) = &config.region {
            b = b.with_region(r);
        }
        if let Some(k) = &config.access_key_id {
            b = b.with_access_key_id(k);
        }
        if let Some(s) = &config.secret_access_key {
            b = b.with_secret_access_key(s);
        }
        let store = b
            .build()
            .map_err(|e| StorageError::Database(format!("S3 configuration: {e}")))?;
        Ok(Self {
            store: Arc::new(store),
            prefix: config.prefix.clone(),
        })
    }

    fn path(&self, key: &str) -> Result<ObjectPath> {
        validate_key(key)?;
        Ok(if self.prefix.is_empty() {
            ObjectPath::from(key)
        } else {
            ObjectPath::from(format!("{}/{key}", self.prefix))
        })
    }

    /// The key of an object path, without the store's prefix.
    fn key_of(&self, path: &ObjectPath) -> String {
        let p = path.as_ref();
        if self.prefix.is_empty() {
            p.to_string()
        } else {
            p.strip_prefix(&format!("{}/", self.prefix))
                .unwrap_or(p)
                .to_string()
        }
    }
}

#[async_trait]
impl BlobStore for S3BlobStore {
    async fn put(&self, key: &str, data: Bytes) -> Result<()> {
        let path = self.path(key)?;
        self.store
            .put(&path, PutPayload::from(data))
            .await
            .map_err(object_err)?;
        Ok(())
    }

    async fn put_file(&self, key: &str, file: &Path) -> Result<()> {
        let path = self.path(key)?;
        let mut src = tokio::fs::File::open(file).await?;
        // Multipart above the buffer size, a single PUT below it.
        let mut dst = BufWriter::new(self.store.clone(), path);
        if let Err(e) = tokio::io::copy(&mut src, &mut dst).await {
            let _ = dst.abort().await;
            return Err(e.into());
        }
        dst.shutdown().await?;
        Ok(())
    }

    async fn get(&self, key: &str) -> Result<Bytes> {
        let path = self.path(key)?;
        let got = self.store.get(&path).await.map_err(object_err)?;
        got.bytes().await.map_err(object_err)
    }

    async fn download(&self, key: &str, dest: &Path) -> Result<()> {
        let path = self.path(key)?;
        let got = self.store.get(&path).await.map_err(object_err)?;
        let mut stream = got.into_stream();
        let mut out = tokio::fs::File::create(dest).await?;
        while let Some(chunk) = stream.next().await {
            out.write_all(&chunk.map_err(object_err)?).await?;
        }
        out.flush().await?;
        Ok(())
    }

    async fn size(&self, key: &str) -> Result<Option<u64>> {
        let path = self.path(key)?;
        match self.store.head(&path).await {
            Ok(meta) => Ok(Some(meta.size)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(object_err(e)),
        }
    }

    async fn read_range(&self, key: &str, start: u64, len: u64) -> Result<ByteStream> {
        let path = self.path(key)?;
        if len == 0 {
            return Ok(futures::stream::empty().boxed());
        }
        let opts = GetOptions {
            range: Some(GetRange::Bounded(start..start.saturating_add(len))),
            ..GetOptions::default()
        };
        let got = self.store.get_opts(&path, opts).await.map_err(object_err)?;
        Ok(got
            .into_stream()
            .map_err(|e| std::io::Error::other(e.to_string()))
            .boxed())
    }

    async fn delete(&self, key: &str) -> Result<()> {
        let path = self.path(key)?;
        match self.store.delete(&path).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(object_err(e)),
        }
    }

    async fn delete_prefix(&self, prefix: &str) -> Result<()> {
        let path = self.path(prefix)?;
        let listed: Vec<_> = self
            .store
            .list(Some(&path))
            .map_ok(|m| m.location)
            .try_collect()
            .await
            .map_err(object_err)?;
        for location in listed {
            match self.store.delete(&location).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(object_err(e)),
            }
        }
        Ok(())
    }

    async fn list(&self, prefix: Option<&str>) -> Result<Vec<String>> {
        let path = prefix.map(|p| self.path(p)).transpose()?;
        let base = match (&path, self.prefix.is_empty()) {
            (Some(p), _) => Some(p.clone()),
            (None, false) => Some(ObjectPath::from(self.prefix.as_str())),
            (None, true) => None,
        };
        let listed: Vec<_> = self
            .store
            .list(base.as_ref())
            .map_ok(|m| self.key_of(&m.location))
            .try_collect()
            .await
            .map_err(object_err)?;
        Ok(listed)
    }

    async fn presigned_url(&self, key: &str, expires_in: Duration) -> Result<Option<String>> {
        let path = self.path(key)?;
        let url = self
            .store
            .signed_url(http::Method::GET, &path, expires_in)
            .await
            .map_err(object_err)?;
        Ok(Some(url.to_string()))
    }
}
