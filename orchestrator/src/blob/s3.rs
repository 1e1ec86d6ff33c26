//! Any S3-compatible store through `object_store` (`--blobs s3://bucket/prefix`).
//!
//! Credentials, region and endpoint come from the standard AWS environment variables
//! (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_REGION`, `AWS_ENDPOINT_URL`,
//! `AWS_ALLOW_HTTP`, …) as `AmazonS3Builder::from_env` reads them; `S3Config::options`
//! override them (tests). A body up to one part is hashed in memory and written with one
//! PUT; a larger one goes up as a multipart upload, hashed as its parts leave, and the
//! upload is completed (made visible) only when the hash is the address, aborted
//! otherwise. At most `PARTS_IN_FLIGHT` parts are buffered, so a 256 MiB scene costs a few
//! parts of memory. Durability is the store's: S3 acknowledges a PUT or a completed upload
//! once it is stored redundantly.
use std::ops::Range;
use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use futures::{StreamExt, TryStreamExt};
use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::path::Path as ObjectPath;
use object_store::{GetOptions, GetRange, ObjectStore, PutPayload, WriteMultipart};

use super::{relative_path, BlobError, BlobMeta, BlobStore, ByteStream, Fetched, Hashing};

/// Parts of a multipart upload buffered or in flight at once.
const PARTS_IN_FLIGHT: usize = 4;

#[derive(Clone, Debug)]
pub struct S3Config {
    /// `s3://bucket`.
    pub bucket_url: String,
    /// Key prefix inside the bucket (no leading or trailing `/`), may be empty.
    pub prefix: String,
    /// `AmazonS3ConfigKey` names and values applied over the environment
    /// (e.g. `aws_endpoint`, `aws_allow_http`, `aws_access_key_id`).
    pub options: Vec<(String, String)>,
    /// Size of one part of a multipart upload (S3: at least 5 MiB but for the last).
    pub part_bytes: usize,
    /// Local folder for uploads being received before they are checked.
    pub spool_dir: PathBuf,
}

impl S3Config {
    pub fn from_url(url: &str) -> Result<Self, BlobError> {
        let rest = url
            .strip_prefix("s3://")
            .ok_or_else(|| BlobError::Location(url.into(), "not an s3:// URL".into()))?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(BlobError::Location(url.into(), "no bucket".into()));
        }
        Ok(Self {
            bucket_url: format!("s3://{bucket}"),
            prefix: prefix.trim_matches('/').to_string(),
            options: Vec::new(),
            part_bytes: 8 << 20,
            spool_dir: std::env::temp_dir().join("tessera-orchestrator-spool"),
        })
    }
}

pub struct S3Blobs {
    store: Arc<dyn ObjectStore>,
    prefix: String,
    part_bytes: usize,
    spool_dir: PathBuf,
}

impl S3Blobs {
    /// Builds the client (no request is made) and removes spooled uploads older than an
    /// hour (a crash left them; younger ones may be another process's in flight).
    /// Incomplete multipart uploads a crash left are invisible; a bucket lifecycle rule
    /// aborts them (README).
    pub async fn open(cfg: &S3Config) -> Result<Self, BlobError> {
        let mut b = AmazonS3Builder::from_env().with_url(&cfg.bucket_url);
        for (k, v) in &cfg.options {
            let key: AmazonS3ConfigKey = k
                .parse()
                .map_err(|e| BlobError::Location(cfg.bucket_url.clone(), format!("{e}")))?;
            b = b.with_config(key, v);
        }
        let store = b.build()?;
        std::fs::create_dir_all(&cfg.spool_dir)?;
        let removed = super::remove_stale(&cfg.spool_dir, std::time::Duration::from_secs(3600))?;
        if removed > 0 {
            tracing::info!(removed, "stale spooled uploads removed");
        }
        Ok(Self {
            store: Arc::new(store),
            prefix: cfg.prefix.clone(),
            part_bytes: cfg.part_bytes.max(5 << 20),
            spool_dir: cfg.spool_dir.clone(),
        })
    }

    fn key(&self, hash: &str) -> Result<ObjectPath, BlobError> {
        let rel = relative_path(hash)?;
        Ok(if self.prefix.is_empty() {
            ObjectPath::from(rel)
        } else {
            ObjectPath::from(format!("{}/{rel}", self.prefix))
        })
    }

    /// The rest of a body larger than one part, as a multipart upload.
    async fn put_multipart(
        &self,
        key: &ObjectPath,
        first: Bytes,
        mut body: ByteStream,
        mut hashing: Hashing,
    ) -> Result<(), BlobError> {
        let upload = self.store.put_multipart(key).await?;
        let mut w = WriteMultipart::new_with_chunk_size(upload, self.part_bytes);
        w.put(first);
        let sent: Result<(), BlobError> = async {
            while let Some(chunk) = body.next().await {
                let chunk = chunk?;
                hashing.update(&chunk);
                w.wait_for_capacity(PARTS_IN_FLIGHT).await?;
                w.put(chunk);
            }
            hashing.check()
        }
        .await;
        match sent {
            Ok(()) => {
                w.finish().await?;
                Ok(())
            }
            Err(e) => {
                if let Err(abort) = w.abort().await {
                    tracing::warn!(error = %abort, "aborting a multipart upload failed");
                }
                Err(e)
            }
        }
    }
}

fn not_found(e: &object_store::Error) -> bool {
    matches!(e, object_store::Error::NotFound { .. })
}

#[async_trait]
impl BlobStore for S3Blobs {
    fn backend(&self) -> &'static str {
        "s3"
    }

    async fn put(&self, hash: &str, mut body: ByteStream) -> Result<bool, BlobError> {
        let key = self.key(hash)?;
        if self.head(hash).await?.is_some() {
            return Ok(false);
        }
        let mut hashing = Hashing::new(hash);
        let mut first = BytesMut::new();
        while first.len() < self.part_bytes {
            let Some(chunk) = body.next().await else {
                hashing.check()?;
                self.store
                    .put(&key, PutPayload::from(first.freeze()))
                    .await?;
                return Ok(true);
            };
            let chunk = chunk?;
            hashing.update(&chunk);
            first.extend_from_slice(&chunk);
        }
        self.put_multipart(&key, first.freeze(), body, hashing)
            .await?;
        Ok(true)
    }

    async fn get(
        &self,
        hash: &str,
        range: Option<Range<u64>>,
    ) -> Result<Option<Fetched>, BlobError> {
        let Ok(key) = self.key(hash) else {
            return Ok(None);
        };
        let opts = GetOptions {
            range: range.map(GetRange::Bounded),
            ..Default::default()
        };
        match self.store.get_opts(&key, opts).await {
            Ok(r) => Ok(Some(Fetched {
                size: r.meta.size,
                stream: r.into_stream().map_err(BlobError::from).boxed(),
            })),
            Err(e) if not_found(&e) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    async fn head(&self, hash: &str) -> Result<Option<u64>, BlobError> {
        let Ok(key) = self.key(hash) else {
            return Ok(None);
        };
        match self.store.head(&key).await {
            Ok(m) => Ok(Some(m.size)),
            Err(e) if not_found(&e) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    async fn delete(&self, hash: &str) -> Result<(), BlobError> {
        let Ok(key) = self.key(hash) else {
            return Ok(());
        };
        match self.store.delete(&key).await {
            Err(e) if !not_found(&e) => Err(e.into()),
            _ => Ok(()),
        }
    }

    async fn list(&self) -> Result<Vec<BlobMeta>, BlobError> {
        let prefix = (!self.prefix.is_empty()).then(|| ObjectPath::from(self.prefix.as_str()));
        self.store
            .list(prefix.as_ref())
            .map_err(BlobError::from)
            .try_filter_map(|m| async move {
                let hash = m.location.filename().unwrap_or_default().to_string();
                Ok(super::is_address(&hash).then_some(BlobMeta {
                    hash,
                    size: m.size,
                    modified_ms: m.last_modified.timestamp_millis(),
                }))
            })
            .try_collect()
            .await
    }

    fn spool_dir(&self) -> PathBuf {
        self.spool_dir.clone()
    }
}
