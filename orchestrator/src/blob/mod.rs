//! Content-addressed blobs (scene bundles, tile PNGs) behind one async trait.
//!
//! A blob's address is the blake3 hex of its bytes (the on-chain `scene_hash` of a scene).
//! Every backend streams: a put hashes the bytes as they pass and makes the blob visible
//! only once they all arrived and hash to the address (local: temp file, fsync, rename;
//! S3: a multipart upload completed only then), and a get returns a stream or a range.
//!
//! Backends: [`local::LocalBlobs`] (a folder, the default) and [`s3::S3Blobs`] (any
//! S3-compatible store through `object_store`). [`Metered`] wraps either and times every
//! operation into `tessera_blob_seconds{backend,op}`. [`Spool`] receives a large body
//! (a scene upload) into a local temp file, hashing it, before anything is stored.
pub mod local;
pub mod s3;

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::{BoxStream, StreamExt};
use thiserror::Error;
use tokio::io::AsyncWriteExt;

/// Errors of a blob backend.
#[derive(Debug, Error)]
pub enum BlobError {
    #[error("blob io: {0}")]
    Io(#[from] std::io::Error),
    #[error("object store: {0}")]
    ObjectStore(#[from] object_store::Error),
    #[error("blob content hashes to {computed}, not to its address {address}")]
    HashMismatch { address: String, computed: String },
    #[error("not a blob address: {0:?}")]
    BadAddress(String),
    #[error("blob location {0:?}: {1}")]
    Location(String, String),
    #[error("body larger than {0} bytes")]
    TooLarge(u64),
    #[error("reading the body: {0}")]
    Body(String),
}

/// A blob's bytes as they arrive.
pub type ByteStream = BoxStream<'static, Result<Bytes, BlobError>>;

/// A blob being read: its total size and the requested bytes.
pub struct Fetched {
    pub size: u64,
    pub stream: ByteStream,
}

/// One stored blob, as listed for cleanup.
#[derive(Clone, Debug)]
pub struct BlobMeta {
    pub hash: String,
    pub size: u64,
    /// When it was stored (unix ms; file mtime or the object's `Last-Modified`).
    pub modified_ms: i64,
}

/// Where blobs live: `--blobs data/blobs` or `--blobs s3://bucket/prefix`.
#[derive(Clone, Debug)]
pub enum Location {
    Local(PathBuf),
    S3(s3::S3Config),
}

impl Location {
    /// `s3://bucket[/prefix]` → S3 (credentials, region and endpoint from the standard
    /// AWS environment variables); anything else is a folder.
    pub fn parse(s: &str) -> Result<Self, BlobError> {
        if s.starts_with("s3://") {
            Ok(Self::S3(s3::S3Config::from_url(s)?))
        } else {
            Ok(Self::Local(PathBuf::from(s)))
        }
    }
}

impl From<PathBuf> for Location {
    fn from(p: PathBuf) -> Self {
        Self::Local(p)
    }
}

/// Content-addressed blob storage.
#[async_trait]
pub trait BlobStore: Send + Sync {
    /// `local` or `s3` (the metrics label).
    fn backend(&self) -> &'static str;

    /// Stores `body` under `hash` (blake3 hex), visible only once every byte arrived and
    /// hashes to `hash`; `Ok(false)` when the blob was already there.
    async fn put(&self, hash: &str, body: ByteStream) -> Result<bool, BlobError>;

    /// Stores a local file (a [`Spool`]ed upload) under `hash`; the file is consumed.
    async fn put_file(&self, hash: &str, path: &Path) -> Result<bool, BlobError> {
        let stored = self.put(hash, file_stream(path).await?).await;
        let _ = tokio::fs::remove_file(path).await;
        stored
    }

    /// The blob's bytes, or the `range` of them; `None` when there is no such blob.
    async fn get(
        &self,
        hash: &str,
        range: Option<Range<u64>>,
    ) -> Result<Option<Fetched>, BlobError>;

    /// The blob's size, or `None`.
    async fn head(&self, hash: &str) -> Result<Option<u64>, BlobError>;

    /// Deletes a blob (absent is fine).
    async fn delete(&self, hash: &str) -> Result<(), BlobError>;

    /// Every stored blob (for cleanup and audits).
    async fn list(&self) -> Result<Vec<BlobMeta>, BlobError>;

    /// Where [`Spool`] puts uploads before they are checked and stored.
    fn spool_dir(&self) -> PathBuf;

    /// Stores bytes already in memory under their blake3, computed here (so they always
    /// match their address); whether they were new. The local folder writes them in one
    /// blocking call instead of one per file operation (a tile put on every submit).
    async fn put_hashed(&self, bytes: Bytes) -> Result<(String, bool), BlobError> {
        let hash = blake3::hash(&bytes).to_hex().to_string();
        let new = self
            .put(&hash, futures::stream::once(async { Ok(bytes) }).boxed())
            .await?;
        Ok((hash, new))
    }
}

impl dyn BlobStore {
    /// Stores bytes already in memory (tile PNGs) under their blake3.
    pub async fn put_bytes(&self, bytes: Bytes) -> Result<(String, bool), BlobError> {
        self.put_hashed(bytes).await
    }

    /// A whole blob in memory (tile PNGs: at most a few MiB); `None` when absent.
    pub async fn get_bytes(&self, hash: &str) -> Result<Option<Bytes>, BlobError> {
        let Some(mut f) = self.get(hash, None).await? else {
            return Ok(None);
        };
        let mut buf = bytes::BytesMut::with_capacity(f.size as usize);
        while let Some(chunk) = f.stream.next().await {
            buf.extend_from_slice(&chunk?);
        }
        Ok(Some(buf.freeze()))
    }
}

/// Opens the backend at `loc`, timed into `seconds` (`tessera_blob_seconds`).
pub async fn open(
    loc: &Location,
    seconds: prometheus::HistogramVec,
) -> Result<Arc<dyn BlobStore>, BlobError> {
    open_with(loc, seconds, true).await
}

/// [`open`], saying whether a local put fsyncs before it returns (`fsync`: as durable as a
/// store commit that survives power loss; without: as one that survives `kill -9`, the
/// store's `synchronous=NORMAL`, see `LocalBlobs::fsync`).
pub async fn open_with(
    loc: &Location,
    seconds: prometheus::HistogramVec,
    fsync: bool,
) -> Result<Arc<dyn BlobStore>, BlobError> {
    let inner: Arc<dyn BlobStore> = match loc {
        Location::Local(dir) => Arc::new(local::LocalBlobs::open(dir)?.fsync(fsync)),
        Location::S3(cfg) => Arc::new(s3::S3Blobs::open(cfg).await?),
    };
    Ok(Arc::new(Metered { inner, seconds }))
}

/// Whether `s` is a blob address (64 lower- or upper-case hex digits).
pub fn is_address(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// `<first two hex>/<hash>`: the same layout in a folder and in a bucket.
fn relative_path(hash: &str) -> Result<String, BlobError> {
    if !is_address(hash) {
        return Err(BlobError::BadAddress(hash.into()));
    }
    let hash = hash.to_ascii_lowercase();
    Ok(format!("{}/{hash}", &hash[..2]))
}

/// A file as a stream of 1 MiB chunks.
async fn file_stream(path: &Path) -> Result<ByteStream, BlobError> {
    let f = tokio::fs::File::open(path).await?;
    Ok(tokio_util::io::ReaderStream::with_capacity(f, 1 << 20)
        .map(|r| r.map_err(BlobError::from))
        .boxed())
}

/// Streams a body through blake3, checking the digest at the end.
struct Hashing {
    hasher: blake3::Hasher,
    address: String,
}

impl Hashing {
    fn new(address: &str) -> Self {
        Self {
            hasher: blake3::Hasher::new(),
            address: address.to_ascii_lowercase(),
        }
    }

    fn update(&mut self, chunk: &[u8]) {
        self.hasher.update(chunk);
    }

    fn check(&self) -> Result<(), BlobError> {
        let computed = self.hasher.finalize().to_hex().to_string();
        if computed == self.address {
            Ok(())
        } else {
            Err(BlobError::HashMismatch {
                address: self.address.clone(),
                computed,
            })
        }
    }
}

/// An upload received into a local temp file while it is hashed, so a 256 MiB scene is
/// never one buffer in memory; deleted on drop unless stored.
pub struct Spool {
    path: PathBuf,
    pub hash: blake3::Hash,
    pub size: u64,
}

impl Spool {
    /// Receives `body` into `dir`, refusing more than `limit` bytes.
    pub async fn receive(
        dir: &Path,
        body: axum::body::Body,
        limit: u64,
    ) -> Result<Self, BlobError> {
        tokio::fs::create_dir_all(dir).await?;
        let path = dir.join(format!("spool-{}", unique()));
        let mut spool = Self {
            path,
            hash: blake3::hash(b""),
            size: 0,
        };
        let mut file = tokio::fs::File::create(&spool.path).await?;
        let mut hasher = blake3::Hasher::new();
        let mut stream = body.into_data_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| BlobError::Body(e.to_string()))?;
            spool.size += chunk.len() as u64;
            if spool.size > limit {
                return Err(BlobError::TooLarge(limit));
            }
            hasher.update(&chunk);
            file.write_all(&chunk).await?;
        }
        file.flush().await?;
        spool.hash = hasher.finalize();
        Ok(spool)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A read-only mapping of the received bytes (for checks that need them all).
    pub fn map(&self) -> Result<memmap2::Mmap, BlobError> {
        let f = std::fs::File::open(&self.path)?;
        // SAFETY: the spool file is private to this request (a unique name in the
        // orchestrator's own folder) and nothing writes it after `receive` returned.
        Ok(unsafe { memmap2::Mmap::map(&f)? })
    }

    /// Stores the spooled bytes under their hash.
    pub async fn store(self, blobs: &dyn BlobStore) -> Result<bool, BlobError> {
        blobs.put_file(&self.hash.to_hex(), &self.path).await
    }
}

impl Drop for Spool {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// A name no other writer of this folder uses (process id, time, counter).
fn unique() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!(
        "{}.{nanos}.{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// Removes files in `dir` older than `age` (temp files a crashed process left); returns
/// how many. A missing folder has none.
fn remove_stale(dir: &Path, age: std::time::Duration) -> Result<usize, BlobError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e.into()),
    };
    let mut n = 0;
    for e in entries {
        let e = e?;
        let old = e
            .metadata()?
            .modified()
            .ok()
            .and_then(|m| m.elapsed().ok())
            .is_none_or(|elapsed| elapsed >= age);
        if old && e.file_type()?.is_file() {
            std::fs::remove_file(e.path())?;
            n += 1;
        }
    }
    Ok(n)
}

/// Times every operation of a backend into `tessera_blob_seconds{backend,op}` (a get is
/// timed to its first byte's availability: the stream is the caller's to drain).
pub struct Metered {
    inner: Arc<dyn BlobStore>,
    seconds: prometheus::HistogramVec,
}

impl Metered {
    fn time(&self, op: &str, since: Instant) {
        self.seconds
            .with_label_values(&[self.inner.backend(), op])
            .observe(since.elapsed().as_secs_f64());
    }
}

#[async_trait]
impl BlobStore for Metered {
    fn backend(&self) -> &'static str {
        self.inner.backend()
    }

    async fn put(&self, hash: &str, body: ByteStream) -> Result<bool, BlobError> {
        let t = Instant::now();
        let r = self.inner.put(hash, body).await;
        self.time("put", t);
        r
    }

    async fn put_file(&self, hash: &str, path: &Path) -> Result<bool, BlobError> {
        let t = Instant::now();
        let r = self.inner.put_file(hash, path).await;
        self.time("put", t);
        r
    }

    async fn get(
        &self,
        hash: &str,
        range: Option<Range<u64>>,
    ) -> Result<Option<Fetched>, BlobError> {
        let t = Instant::now();
        let r = self.inner.get(hash, range).await;
        self.time("get", t);
        r
    }

    async fn head(&self, hash: &str) -> Result<Option<u64>, BlobError> {
        let t = Instant::now();
        let r = self.inner.head(hash).await;
        self.time("head", t);
        r
    }

    async fn delete(&self, hash: &str) -> Result<(), BlobError> {
        let t = Instant::now();
        let r = self.inner.delete(hash).await;
        self.time("delete", t);
        r
    }

    async fn list(&self) -> Result<Vec<BlobMeta>, BlobError> {
        let t = Instant::now();
        let r = self.inner.list().await;
        self.time("list", t);
        r
    }

    fn spool_dir(&self) -> PathBuf {
        self.inner.spool_dir()
    }

    async fn put_hashed(&self, bytes: Bytes) -> Result<(String, bool), BlobError> {
        let t = Instant::now();
        let r = self.inner.put_hashed(bytes).await;
        self.time("put", t);
        r
    }
}
