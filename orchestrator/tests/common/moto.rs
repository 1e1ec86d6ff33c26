//! A real S3-protocol server for the tests: moto's `moto_server` (PyPI, installed by
//! `scripts/deps.sh`), started on a free loopback port with one bucket, killed on drop.
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tessera_orchestrator::blob::{s3::S3Config, Location};

/// The multipart part size the tests use (S3's smallest).
pub const PART: usize = 5 << 20;

/// A `moto_server` on a free loopback port with one bucket; killed on drop.
pub struct Moto {
    child: Child,
    pub endpoint: String,
}

impl Moto {
    /// `None` (the test is skipped, said on stderr) when `moto_server` is not installed,
    /// except in CI, where it must be (`scripts/deps.sh`).
    pub async fn start(bucket: &str) -> Option<Self> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let spawned = Command::new("moto_server")
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        let child = match spawned {
            Ok(c) => c,
            Err(e) if std::env::var_os("CI").is_none() => {
                // Written to stderr itself, not through the test harness's capture.
                use std::io::Write;
                let _ = writeln!(
                    std::io::stderr(),
                    "SKIPPED: moto_server not found ({e}); scripts/deps.sh installs it"
                );
                return None;
            }
            Err(e) => panic!("moto_server must be installed in CI (scripts/deps.sh): {e}"),
        };
        let moto = Self {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
        };
        let http = reqwest::Client::new();
        let until = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(r) = http.put(format!("{}/{bucket}", moto.endpoint)).send().await {
                assert!(
                    r.status().is_success(),
                    "creating the bucket: {}",
                    r.status()
                );
                return Some(moto);
            }
            assert!(Instant::now() < until, "moto_server did not start");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub fn location(&self, bucket: &str, prefix: &str, spool: &std::path::Path) -> Location {
        let mut cfg = S3Config::from_url(&format!("s3://{bucket}/{prefix}")).unwrap();
        cfg.options = [
            ("aws_endpoint", self.endpoint.as_str()),
            ("aws_allow_http", "true"),
            ("aws_access_key_id", "test"),
            ("aws_secret_access_key", "test"),
            ("aws_region", "us-east-1"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        cfg.part_bytes = PART;
        cfg.spool_dir = spool.to_path_buf();
        Location::S3(cfg)
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Moto {
    /// The environment a `tessera-orchestrator` process needs for `--blobs s3://…` here.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT_URL", self.endpoint.clone()),
            ("AWS_ALLOW_HTTP", "true".into()),
            ("AWS_ACCESS_KEY_ID", "test".into()),
            ("AWS_SECRET_ACCESS_KEY", "test".into()),
            ("AWS_REGION", "us-east-1".into()),
        ]
    }
}
