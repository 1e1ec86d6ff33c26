//! Keypair files in the Solana CLI format (a JSON array of 64 bytes).
use std::io::Write;
use std::path::Path;

use solana_sdk::signature::Keypair;

#[derive(Debug, thiserror::Error)]
pub enum KeyFileError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: not a Solana keypair file (expected a JSON array of 64 bytes)")]
    Format { path: String },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> KeyFileError + '_ {
    move |source| KeyFileError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// Reads a keypair file.
pub fn read_keypair(path: &Path) -> Result<Keypair, KeyFileError> {
    let text = std::fs::read_to_string(path).map_err(io(path))?;
    let format = || KeyFileError::Format {
        path: path.display().to_string(),
    };
    let bytes: Vec<u8> = serde_json::from_str(&text).map_err(|_| format())?;
    Keypair::try_from(bytes.as_slice()).map_err(|_| format())
}

/// Writes a keypair file atomically (temp file, fsync, rename), readable by its owner only.
pub fn write_keypair(path: &Path, keypair: &Keypair) -> Result<(), KeyFileError> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io(dir))?;
    }
    let tmp = path.with_extension("json.tmp");
    let json = serde_json::to_string(&keypair.to_bytes().to_vec()).expect("bytes serialize");
    let mut file = std::fs::File::create(&tmp).map_err(io(&tmp))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))
            .map_err(io(&tmp))?;
    }
    file.write_all(json.as_bytes()).map_err(io(&tmp))?;
    file.sync_all().map_err(io(&tmp))?;
    std::fs::rename(&tmp, path).map_err(io(path))
}

/// Reads the keypair at `path`, creating (and saving) a new one when the file is absent.
pub fn load_or_create(path: &Path) -> Result<Keypair, KeyFileError> {
    if path.exists() {
        return read_keypair(path);
    }
    let keypair = Keypair::new();
    write_keypair(path, &keypair)?;
    Ok(keypair)
}

#[cfg(test)]
mod tests {
    use super::*;
    use solana_sdk::signature::Signer;

    #[test]
    fn round_trips_and_refuses_garbage() {
        let dir = std::env::temp_dir().join(format!("tessera-keys-{}", std::process::id()));
        let path = dir.join("k.json");
        let created = load_or_create(&path).unwrap();
        assert_eq!(load_or_create(&path).unwrap().pubkey(), created.pubkey());
        std::fs::write(&path, "[1,2,3]").unwrap();
        assert!(matches!(
            read_keypair(&path),
            Err(KeyFileError::Format { .. })
        ));
        std::fs::remove_dir_all(dir).unwrap();
    }
}
