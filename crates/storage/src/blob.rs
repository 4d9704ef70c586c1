use crate::error::{Result, StorageError};
use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::BoxStream;
use std::path::Path;
use std::time::Duration;

/// A stream of file bytes.
pub type ByteStream = BoxStream<'static, std::io::Result<Bytes>>;

/// Files by key (`tasks/<id>/video.mp4`). Keys are relative paths of
/// `[A-Za-z0-9._-]` segments separated by `/`.
#[async_trait]
pub trait BlobStore: Send + Sync + 'static {
    async fn put(&self, key: &str, data: Bytes) -> Result<()>;
    /// Copies a local file in (a multipart upload for object stores).
    async fn put_file(&self, key: &str, path: &Path) -> Result<()>;
    async fn get(&self, key: &str) -> Result<Bytes>;
    /// Copies the blob to a local file (the engine works on files).
    async fn download(&self, key: &str, dest: &Path) -> Result<()>;
    /// Size in bytes, `None` when absent.
    async fn size(&self, key: &str) -> Result<Option<u64>>;
    /// `len` bytes from `start`.
    async fn read_range(&self, key: &str, start: u64, len: u64) -> Result<ByteStream>;
    /// Absent keys are not an error.
    async fn delete(&self, key: &str) -> Result<()>;
    async fn delete_prefix(&self, prefix: &str) -> Result<()>;
    /// Every key, or those under `prefix` (a folder), in no set order.
    async fn list(&self, prefix: Option<&str>) -> Result<Vec<String>>;
    /// A time-limited URL that fetches the blob straight from the store,
    /// when the store can sign one (object stores); `None` otherwise.
    async fn presigned_url(&self, _key: &str, _expires_in: Duration) -> Result<Option<String>> {
        Ok(None)
    }
}

/// Refuses keys that could escape the store's root.
pub fn validate_key(key: &str) -> Result<()> {
    let ok = !key.is_empty()
        && key.len() <= 512
        && key.split('/').all(|seg| {
            !seg.is_empty()
                && seg != "."
                && seg != ".."
                && seg
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        });
    if ok {
        Ok(())
    } else {
        Err(StorageError::InvalidKey(key.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::validate_key;

    #[test]
    fn keys_cannot_escape() {
        assert!(validate_key("tasks/123/video.mp4").is_ok());
        for bad in [
            "",
            "/etc/passwd",
            "a/../b",
            "a//b",
            "a/./b",
            "a\\b",
            "a b",
            "..",
            "a/",
        ] {
            assert!(validate_key(bad).is_err(), "{bad:?} accepted");
        }
    }
}
