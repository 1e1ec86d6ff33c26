//! `~/.config/tessera/config.yml`: defaults for `--url`, `--keypair` and `--orchestrator`,
//! in the spirit of the Solana CLI's `config.yml`. Flags override it; it overrides built-ins.
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{input, CliResult};

pub const DEFAULT_URL: &str = "http://127.0.0.1:8899";
pub const DEFAULT_ORCHESTRATOR: &str = "http://127.0.0.1:8080";

#[derive(Debug, Default, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keypair: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub orchestrator: Option<String>,
}

/// The settings a command runs with, after flags, file and defaults are merged.
#[derive(Debug, Clone, Serialize)]
pub struct Settings {
    pub url: String,
    pub keypair: PathBuf,
    pub orchestrator: String,
}

pub const KEYS: [&str; 3] = ["url", "keypair", "orchestrator"];

fn home() -> PathBuf {
    std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// `$TESSERA_CONFIG`, else `~/.config/tessera/config.yml`.
pub fn default_path() -> PathBuf {
    std::env::var_os("TESSERA_CONFIG")
        .map(PathBuf::from)
        .unwrap_or_else(|| home().join(".config/tessera/config.yml"))
}

/// The Solana CLI's default keypair.
pub fn default_keypair() -> PathBuf {
    home().join(".config/solana/id.json")
}

/// Expands the Solana CLI's monikers (`localhost`, `devnet`, ...) to URLs.
pub fn expand_url(url: &str) -> String {
    match url {
        "localhost" | "l" => DEFAULT_URL.into(),
        "devnet" | "d" => "https://api.devnet.solana.com".into(),
        "testnet" | "t" => "https://api.testnet.solana.com".into(),
        "mainnet-beta" | "m" => "https://api.mainnet-beta.solana.com".into(),
        other => other.into(),
    }
}

impl Config {
    /// Reads the file; a missing file is an empty config.
    pub fn load(path: &Path) -> CliResult<Config> {
        match std::fs::read_to_string(path) {
            Ok(text) if text.trim().is_empty() => Ok(Config::default()),
            Ok(text) => serde_yaml_ng::from_str(&text)
                .map_err(|e| input(format!("config file {}: {e}", path.display()))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Config::default()),
            Err(e) => Err(input(format!("config file {}: {e}", path.display()))),
        }
    }

    pub fn save(&self, path: &Path) -> CliResult<()> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let text = serde_yaml_ng::to_string(self).map_err(|e| input(e.to_string()))?;
        let tmp = path.with_extension("yml.tmp");
        std::fs::write(&tmp, text)?;
        std::fs::rename(&tmp, path)?;
        Ok(())
    }

    /// Sets one key (`url`, `keypair`, `orchestrator`).
    pub fn set(&mut self, key: &str, value: &str) -> CliResult<()> {
        match key {
            "url" => self.url = Some(expand_url(value)),
            "keypair" => self.keypair = Some(PathBuf::from(value)),
            "orchestrator" => self.orchestrator = Some(value.trim_end_matches('/').into()),
            _ => return Err(unknown_key(key)),
        }
        Ok(())
    }

    /// Merges flags over this file over the built-in defaults.
    pub fn settings(
        &self,
        url: Option<&str>,
        keypair: Option<&Path>,
        orchestrator: Option<&str>,
    ) -> Settings {
        Settings {
            url: expand_url(url.or(self.url.as_deref()).unwrap_or(DEFAULT_URL)),
            keypair: keypair
                .map(Path::to_path_buf)
                .or_else(|| self.keypair.clone())
                .unwrap_or_else(default_keypair),
            orchestrator: orchestrator
                .or(self.orchestrator.as_deref())
                .unwrap_or(DEFAULT_ORCHESTRATOR)
                .trim_end_matches('/')
                .to_string(),
        }
    }
}

pub fn unknown_key(key: &str) -> crate::error::CliError {
    input(format!(
        "unknown config key {key:?} (one of: {})",
        KEYS.join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_override_file_override_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c/config.yml");
        assert_eq!(Config::load(&path).unwrap(), Config::default());
        let mut c = Config::default();
        c.set("url", "localhost").unwrap();
        c.set("orchestrator", "http://o:1/").unwrap();
        assert!(c.set("colour", "x").is_err());
        c.save(&path).unwrap();
        let c = Config::load(&path).unwrap();
        let s = c.settings(None, Some(Path::new("k.json")), None);
        assert_eq!(s.url, DEFAULT_URL);
        assert_eq!(s.orchestrator, "http://o:1");
        assert_eq!(s.keypair, PathBuf::from("k.json"));
        let s = c.settings(Some("http://x:2"), None, Some("http://p:3"));
        assert_eq!(
            (s.url.as_str(), s.orchestrator.as_str()),
            ("http://x:2", "http://p:3")
        );
        std::fs::write(&path, "colour: red\n").unwrap();
        assert!(Config::load(&path).is_err());
    }
}
