//! Stores chosen by URL: `sqlite://path` or `postgres://...` for metadata,
//! `file://path` or `s3://bucket/prefix` for blobs.

use crate::blob::BlobStore;
use crate::error::{Result, StorageError};
use crate::fs::FsBlobStore;
use crate::metadata::Stores;
use crate::s3::{S3BlobStore, S3Config};
use crate::sql::SqlStore;
use std::path::Path;
use std::sync::Arc;

fn unsupported(what: &str, url: &str, expected: &str) -> StorageError {
    StorageError::Database(format!(
        "unsupported {what} URL {url:?}: expected {expected}"
    ))
}

/// Opens and migrates the metadata store at `url`.
pub async fn open_metadata(url: &str) -> Result<Stores> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return Ok(Stores::of(Arc::new(SqlStore::open_postgres(url).await?)));
    }
    if let Some(rest) = url.strip_prefix("sqlite://") {
        // A plain path: create its folder too. With options, sqlx parses it.
        let store = if rest.contains('?') {
            SqlStore::open_sqlite_url(url).await?
        } else {
            SqlStore::open_sqlite(Path::new(rest)).await?
        };
        return Ok(Stores::of(Arc::new(store)));
    }
    Err(unsupported(
        "database",
        url,
        "sqlite://PATH or postgres://USER@HOST/DB",
    ))
}

/// Opens the blob store at `url`. For `s3://`, `s3` holds the endpoint,
/// region and credentials (bucket and prefix come from the URL).
pub async fn open_blobs(url: &str, s3: &S3Config) -> Result<Arc<dyn BlobStore>> {
    if let Some(path) = url.strip_prefix("file://") {
        return Ok(Arc::new(FsBlobStore::open(path).await?));
    }
    if url.starts_with("s3://") {
        let from_url = S3Config::from_url(url)?;
        let config = S3Config {
            bucket: from_url.bucket,
            prefix: from_url.prefix,
            ..s3.clone()
        };
        return Ok(Arc::new(S3BlobStore::new(&config)?));
    }
    Err(unsupported(
        "blob store",
        url,
        "file://PATH or s3://BUCKET/PREFIX",
    ))
}
