//! The default backend: blobs under `<root>/<first two hex>/<hash>`.
//!
//! Durable before visible: bytes go to `<root>/tmp/`, are hashed on the way, fsynced, and
//! renamed into place (then the folder is fsynced), so a crash leaves either the whole
//! blob or a temp file, and temp files are removed when the folder is opened (one process
//! owns a folder).
use std::ops::Range;
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use futures::StreamExt;
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};

use super::{relative_path, BlobError, BlobMeta, BlobStore, ByteStream, Fetched, Hashing};

pub struct LocalBlobs {
    root: PathBuf,
    fsync: bool,
}

impl LocalBlobs {
    /// Opens (creating) the folder and removes the temp files a crash left in it.
    pub fn open(root: &Path) -> Result<Self, BlobError> {
        let tmp = root.join("tmp");
        std::fs::create_dir_all(&tmp)?;
        let removed = super::remove_stale(&tmp, std::time::Duration::ZERO)?;
        if removed > 0 {
            tracing::info!(removed, "temp files of an interrupted write removed");
        }
        Ok(Self {
            root: root.to_path_buf(),
            fsync: true,
        })
    }

    /// Whether a put fsyncs the file and its folder before it returns (the default). Without
    /// (the store at `synchronous=NORMAL`): written and renamed into place, so it survives
    /// `kill -9` like the commit that references it (the page cache outlives the process),
    /// and like that commit not a power loss; it saves ≈ 8 ms per put on this machine's disk.
    pub fn fsync(mut self, on: bool) -> Self {
        self.fsync = on;
        self
    }

    fn path(&self, hash: &str) -> Result<PathBuf, BlobError> {
        Ok(self.root.join(relative_path(hash)?))
    }

    /// fsync, rename into place, fsync the folder: visible only when durable.
    async fn publish(&self, tmp: &Path, file: tokio::fs::File, to: &Path) -> Result<(), BlobError> {
        if self.fsync {
            file.sync_all().await?;
        }
        drop(file);
        let dir = to.parent().expect("blob paths have a folder");
        tokio::fs::create_dir_all(dir).await?;
        tokio::fs::rename(tmp, to).await?;
        if self.fsync {
            if let Ok(d) = tokio::fs::File::open(dir).await {
                let _ = d.sync_all().await;
            }
        }
        Ok(())
    }
}

/// Blobs up to this size are written on the request's own thread when no fsync is asked
/// for (`fsync(false)`): a page-cache write of a tile PNG (a stat, and for a new blob a
/// create, write and rename) costs less than the hop to the blocking pool and back.
const INLINE_PUT_BYTES: usize = 256 * 1024;

/// [`BlobStore::put_hashed`] on the folder, as one blocking call: the same steps as `put`
/// and `publish` (temp file, fsync when configured, rename, folder fsync).
fn put_small(tmp: PathBuf, to: &Path, bytes: &[u8], fsync: bool) -> Result<bool, BlobError> {
    use std::io::Write;
    if to.try_exists()? {
        return Ok(false);
    }
    let tmp = TempFile(tmp);
    let mut file = std::fs::File::create(&tmp.0)?;
    file.write_all(bytes)?;
    if fsync {
        file.sync_all()?;
    }
    drop(file);
    let dir = to.parent().expect("blob paths have a folder");
    std::fs::create_dir_all(dir)?;
    std::fs::rename(&tmp.0, to)?;
    if fsync {
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
    }
    Ok(true)
}

/// Removes the temp file unless it was published.
struct TempFile(PathBuf);

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[async_trait]
impl BlobStore for LocalBlobs {
    fn backend(&self) -> &'static str {
        "local"
    }

    async fn put(&self, hash: &str, mut body: ByteStream) -> Result<bool, BlobError> {
        let to = self.path(hash)?;
        if tokio::fs::try_exists(&to).await? {
            return Ok(false);
        }
        let tmp = TempFile(self.spool_dir().join(format!("put-{}", super::unique())));
        let mut file = tokio::fs::File::create(&tmp.0).await?;
        let mut hashing = Hashing::new(hash);
        while let Some(chunk) = body.next().await {
            let chunk = chunk?;
            hashing.update(&chunk);
            file.write_all(&chunk).await?;
        }
        file.flush().await?;
        hashing.check()?;
        self.publish(&tmp.0, file, &to).await?;
        Ok(true)
    }

    async fn put_hashed(&self, bytes: bytes::Bytes) -> Result<(String, bool), BlobError> {
        let hash = blake3::hash(&bytes).to_hex().to_string();
        let to = self.path(&hash)?;
        let tmp = self.spool_dir().join(format!("put-{}", super::unique()));
        let fsync = self.fsync;
        if !fsync && bytes.len() <= INLINE_PUT_BYTES {
            return Ok((hash, put_small(tmp, &to, &bytes, false)?));
        }
        let new = tokio::task::spawn_blocking(move || put_small(tmp, &to, &bytes, fsync))
            .await
            .map_err(|e| BlobError::Io(std::io::Error::other(e)))??;
        Ok((hash, new))
    }

    /// A spooled file in this folder's `tmp/` is checked and renamed, not copied.
    async fn put_file(&self, hash: &str, path: &Path) -> Result<bool, BlobError> {
        let tmp = TempFile(path.to_path_buf());
        let to = self.path(hash)?;
        if tokio::fs::try_exists(&to).await? {
            return Ok(false);
        }
        if path.parent() != Some(self.spool_dir().as_path()) {
            return self.put(hash, super::file_stream(path).await?).await;
        }
        let mut file = tokio::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .await?;
        let mut hashing = Hashing::new(hash);
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = file.read(&mut buf).await?;
            if n == 0 {
                break;
            }
            hashing.update(&buf[..n]);
        }
        hashing.check()?;
        self.publish(&tmp.0, file, &to).await?;
        Ok(true)
    }

    async fn get(
        &self,
        hash: &str,
        range: Option<Range<u64>>,
    ) -> Result<Option<Fetched>, BlobError> {
        let Ok(path) = self.path(hash) else {
            return Ok(None);
        };
        let mut file = match tokio::fs::File::open(&path).await {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let size = file.metadata().await?.len();
        let stream = match range {
            None => tokio_util::io::ReaderStream::with_capacity(file, 1 << 20).boxed(),
            Some(r) => {
                file.seek(std::io::SeekFrom::Start(r.start)).await?;
                let len = r.end.min(size).saturating_sub(r.start);
                tokio_util::io::ReaderStream::with_capacity(file.take(len), 1 << 20).boxed()
            }
        };
        Ok(Some(Fetched {
            size,
            stream: stream.map(|r| r.map_err(BlobError::from)).boxed(),
        }))
    }

    async fn head(&self, hash: &str) -> Result<Option<u64>, BlobError> {
        let Ok(path) = self.path(hash) else {
            return Ok(None);
        };
        match tokio::fs::metadata(path).await {
            Ok(m) => Ok(Some(m.len())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    async fn delete(&self, hash: &str) -> Result<(), BlobError> {
        let Ok(path) = self.path(hash) else {
            return Ok(());
        };
        match tokio::fs::remove_file(path).await {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e.into()),
            _ => Ok(()),
        }
    }

    async fn list(&self) -> Result<Vec<BlobMeta>, BlobError> {
        let root = self.root.clone();
        tokio::task::spawn_blocking(move || list_folder(&root))
            .await
            .map_err(|e| BlobError::Io(std::io::Error::other(e.to_string())))?
    }

    fn spool_dir(&self) -> PathBuf {
        self.root.join("tmp")
    }
}

fn list_folder(root: &Path) -> Result<Vec<BlobMeta>, BlobError> {
    let mut out = Vec::new();
    for shard in std::fs::read_dir(root)? {
        let shard = shard?;
        let name = shard.file_name();
        let is_shard = name.len() == 2 && shard.file_type()?.is_dir();
        if !is_shard {
            continue;
        }
        for e in std::fs::read_dir(shard.path())? {
            let e = e?;
            let hash = e.file_name().to_string_lossy().into_owned();
            if super::is_address(&hash) {
                let meta = e.metadata()?;
                let modified_ms = meta
                    .modified()?
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_millis() as i64);
                out.push(BlobMeta {
                    hash,
                    size: meta.len(),
                    modified_ms,
                });
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::blob::BlobStore;

    fn store(dir: &Path) -> Box<dyn BlobStore> {
        Box::new(LocalBlobs::open(dir).unwrap())
    }

    #[tokio::test]
    async fn same_bytes_same_name_stored_once_and_ranges_read() {
        let dir = tempfile::tempdir().unwrap();
        let s = store(dir.path());
        let (a, new_a) = s.put_bytes("hello".into()).await.unwrap();
        let (b, new_b) = s.put_bytes("hello".into()).await.unwrap();
        assert_eq!(a, b);
        assert!(new_a && !new_b);
        assert_eq!(&s.get_bytes(&a).await.unwrap().unwrap()[..], b"hello");
        let mut part = s.get(&a, Some(1..3)).await.unwrap().unwrap();
        assert_eq!(part.size, 5);
        assert_eq!(&part.stream.next().await.unwrap().unwrap()[..], b"el");
        assert!(s.get("../../etc/passwd", None).await.unwrap().is_none());
        assert_eq!(s.list().await.unwrap().len(), 1);
        s.delete(&a).await.unwrap();
        assert!(s.head(&a).await.unwrap().is_none());
        s.delete(&a).await.unwrap();
    }

    #[tokio::test]
    async fn wrong_content_is_never_visible_and_crash_temp_files_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        let s = store(dir.path());
        let address = blake3::hash(b"the real bytes").to_hex().to_string();
        let forged = futures::stream::once(async { Ok(bytes::Bytes::from("forged")) }).boxed();
        let err = s.put(&address, forged).await.unwrap_err();
        assert!(matches!(err, BlobError::HashMismatch { .. }), "{err}");
        assert!(s.head(&address).await.unwrap().is_none());
        assert_eq!(
            std::fs::read_dir(dir.path().join("tmp")).unwrap().count(),
            0
        );
        // A write interrupted by a crash leaves a temp file: removed at the next open.
        std::fs::write(dir.path().join("tmp/put-123.456.0"), b"partial").unwrap();
        drop(s);
        let _s = store(dir.path());
        assert_eq!(
            std::fs::read_dir(dir.path().join("tmp")).unwrap().count(),
            0
        );
    }
}
