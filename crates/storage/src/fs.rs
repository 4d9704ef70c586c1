//! Blobs as files under one root folder.

use crate::blob::{validate_key, BlobStore, ByteStream};
use crate::error::{Result, StorageError};
use async_trait::async_trait;
use bytes::Bytes;
use futures::StreamExt;
use std::io::SeekFrom;
use std::path::{Path, PathBuf};
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};
use tokio_util::io::ReaderStream;

pub struct FsBlobStore {
    root: PathBuf,
}

impl FsBlobStore {
    /// Creates the root folder when missing.
    pub async fn open(root: impl Into<PathBuf>) -> Result<Self> {
        let root = root.into();
        tokio::fs::create_dir_all(&root).await?;
        Ok(Self { root })
    }

    fn path(&self, key: &str) -> Result<PathBuf> {
        validate_key(key)?;
        Ok(self.root.join(key))
    }

    async fn parent_dir(path: &Path) -> Result<()> {
        if let Some(parent) = path.parent() {
            tokio::fs::create_dir_all(parent).await?;
        }
        Ok(())
    }

    /// A temporary name beside the target, renamed into place when complete,
    /// so a reader never sees half a file.
    fn partial(path: &Path) -> PathBuf {
        let mut name = path
            .file_name()
            .map(|n| n.to_os_string())
            .unwrap_or_default();
        name.push(format!(".partial-{}", std::process::id()));
        path.with_file_name(name)
    }
}

fn not_found(key: &str, e: std::io::Error) -> StorageError {
    if e.kind() == std::io::ErrorKind::NotFound {
        StorageError::NotFound(key.to_string())
    } else {
        StorageError::Io(e)
    }
}

#[async_trait]
impl BlobStore for FsBlobStore {
    async fn put(&self, key: &str, data: Bytes) -> Result<()> {
        let path = self.path(key)?;
        Self::parent_dir(&path).await?;
        let tmp = Self::partial(&path);
        let mut f = tokio::fs::File::create(&tmp).await?;
        f.write_all(&data).await?;
        f.sync_all().await?;
        drop(f);
        tokio::fs::rename(&tmp, &path).await?;
        Ok(())
    }

    async fn put_file(&self, key: &str, src: &Path) -> Result<()> {
        let path = self.path(key)?;
        Self::parent_dir(&path).await?;
        let tmp = Self::partial(&path);
        tokio::fs::copy(src, &tmp).await?;
        tokio::fs::File::open(&tmp).await?.sync_all().await?;
        tokio::fs::rename(&tmp, &path).await?;
        Ok(())
    }

    async fn get(&self, key: &str) -> Result<Bytes> {
        let path = self.path(key)?;
        tokio::fs::read(&path)
            .await
            .map(Bytes::from)
            .map_err(|e| not_found(key, e))
    }

    async fn download(&self, key: &str, dest: &Path) -> Result<()> {
        let path = self.path(key)?;
        tokio::fs::copy(&path, dest)
            .await
            .map(|_| ())
            .map_err(|e| not_found(key, e))
    }

    async fn size(&self, key: &str) -> Result<Option<u64>> {
        let path = self.path(key)?;
        match tokio::fs::metadata(&path).await {
            Ok(m) if m.is_file() => Ok(Some(m.len())),
            Ok(_) => Ok(None),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    async fn read_range(&self, key: &str, start: u64, len: u64) -> Result<ByteStream> {
        let path = self.path(key)?;
        let mut f = tokio::fs::File::open(&path)
            .await
            .map_err(|e| not_found(key, e))?;
        f.seek(SeekFrom::Start(start)).await?;
        Ok(ReaderStream::with_capacity(f.take(len), 64 * 1024).boxed())
    }

    async fn delete(&self, key: &str) -> Result<()> {
        let path = self.path(key)?;
        match tokio::fs::remove_file(&path).await {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e.into()),
            _ => Ok(()),
        }
    }

    async fn delete_prefix(&self, prefix: &str) -> Result<()> {
        let path = self.path(prefix.trim_end_matches('/'))?;
        match tokio::fs::metadata(&path).await {
            Ok(m) if m.is_dir() => tokio::fs::remove_dir_all(&path).await?,
            Ok(_) => tokio::fs::remove_file(&path).await?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e.into()),
        }
        Ok(())
    }

    async fn list(&self, prefix: Option<&str>) -> Result<Vec<String>> {
        let start = match prefix {
            Some(p) => self.path(p.trim_end_matches('/'))?,
            None => self.root.clone(),
        };
        let mut keys = Vec::new();
        let mut dirs = vec![start];
        while let Some(dir) = dirs.pop() {
            let mut entries = match tokio::fs::read_dir(&dir).await {
                Ok(e) => e,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e.into()),
            };
            while let Some(entry) = entries.next_entry().await? {
                let path = entry.path();
                if entry.file_type().await?.is_dir() {
                    dirs.push(path);
                    continue;
                }
                let Ok(rel) = path.strip_prefix(&self.root) else {
                    continue;
                };
                let key = rel.to_string_lossy().replace('\\', "/");
                // Half-written files and anything that is not a valid key
                // (left by other tools) are not blobs.
                if !key.contains(".partial-") && validate_key(&key).is_ok() {
                    keys.push(key);
                }
            }
        }
        Ok(keys)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn put_get_range_delete() {
        let dir = tempfile::tempdir().unwrap();
        let store = FsBlobStore::open(dir.path().join("blobs")).await.unwrap();
        store
            .put("a/b/c.bin", Bytes::from_static(b"0123456789"))
            .await
            .unwrap();
        assert_eq!(store.size("a/b/c.bin").await.unwrap(), Some(10));
        assert_eq!(&store.get("a/b/c.bin").await.unwrap()[..], b"0123456789");
        let mut s = store.read_range("a/b/c.bin", 3, 4).await.unwrap();
        let mut got = Vec::new();
        while let Some(chunk) = s.next().await {
            got.extend_from_slice(&chunk.unwrap());
        }
        assert_eq!(got, b"3456");
        store.delete_prefix("a").await.unwrap();
        assert_eq!(store.size("a/b/c.bin").await.unwrap(), None);
        assert!(matches!(
            store.get("a/b/c.bin").await,
            Err(StorageError::NotFound(_))
        ));
        assert!(store.put("../x", Bytes::new()).await.is_err());
    }
}
