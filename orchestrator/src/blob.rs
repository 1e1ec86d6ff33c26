//! Content-addressed blob storage: every blob is named by the blake3 hash of its bytes.
//! Writes go to a temporary file, are fsynced and renamed into place, so a crash never
//! leaves a partial blob under a valid name. Re-putting the same bytes is free.
use std::path::{Path, PathBuf};

use crate::error::StoreError;

/// A blob store. The filesystem backend is the default; an S3-compatible backend can
/// implement the same trait.
pub trait BlobStore: Send + Sync + 'static {
    /// Stores `bytes`; returns their blake3 hex and whether they were new.
    fn put(&self, bytes: &[u8]) -> Result<(String, bool), StoreError>;
    /// Reads a blob, `None` if absent.
    fn get(&self, hash: &str) -> Result<Option<Vec<u8>>, StoreError>;
    fn has(&self, hash: &str) -> Result<bool, StoreError>;
    /// Deletes a blob (absent is fine).
    fn delete(&self, hash: &str) -> Result<(), StoreError>;
}

/// Blobs under `<root>/<first two hex>/<hash>`.
pub struct FsBlobStore {
    root: PathBuf,
}

impl FsBlobStore {
    pub fn open(root: &Path) -> Result<Self, StoreError> {
        std::fs::create_dir_all(root.join("tmp"))?;
        Ok(Self {
            root: root.to_path_buf(),
        })
    }

    fn path(&self, hash: &str) -> Option<PathBuf> {
        if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        Some(self.root.join(&hash[..2]).join(hash))
    }
}

impl BlobStore for FsBlobStore {
    fn put(&self, bytes: &[u8]) -> Result<(String, bool), StoreError> {
        use std::io::Write;
        let hash = blake3::hash(bytes).to_hex().to_string();
        let path = self.path(&hash).expect("hex hash");
        if path.exists() {
            return Ok((hash, false));
        }
        std::fs::create_dir_all(path.parent().expect("has parent"))?;
        let tmp = self.root.join("tmp").join(format!(
            "{hash}.{}.{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0)
        ));
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, &path)?;
        if let Ok(dir) = std::fs::File::open(path.parent().expect("has parent")) {
            let _ = dir.sync_all();
        }
        Ok((hash, true))
    }

    fn get(&self, hash: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let Some(path) = self.path(hash) else {
            return Ok(None);
        };
        match std::fs::read(path) {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    fn has(&self, hash: &str) -> Result<bool, StoreError> {
        Ok(self.path(hash).is_some_and(|p| p.exists()))
    }

    fn delete(&self, hash: &str) -> Result<(), StoreError> {
        let Some(path) = self.path(hash) else {
            return Ok(());
        };
        match std::fs::remove_file(path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e.into()),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_bytes_same_name_stored_once() {
        let dir = tempfile::tempdir().unwrap();
        let s = FsBlobStore::open(dir.path()).unwrap();
        let (a, new_a) = s.put(b"hello").unwrap();
        let (b, new_b) = s.put(b"hello").unwrap();
        assert_eq!(a, b);
        assert!(new_a && !new_b);
        assert_eq!(s.get(&a).unwrap().unwrap(), b"hello");
        assert!(s.get("../../etc/passwd").unwrap().is_none());
        s.delete(&a).unwrap();
        assert!(!s.has(&a).unwrap());
        s.delete(&a).unwrap();
    }
}
