//! The orchestrator's public HTTP API, as artists, operators and auditors call it.
use std::time::Duration;

use futures::StreamExt;
use serde::Deserialize;
use serde_json::{json, Value};
use tessera_sdk::standing::NodeStanding;

use crate::error::{CliError, CliResult};

/// The PEM file of CA certificates every [`Orchestrator`] client trusts
/// (`--orchestrator-ca`, `TESSERA_CA`).
static CA: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();

/// Sets the CA file of [`CA`] (once, at start).
pub fn trust_ca(path: std::path::PathBuf) {
    let _ = CA.set(path);
}

pub struct Orchestrator {
    base: String,
    http: reqwest::Client,
    /// Signs status requests: the job's artist gets every tile state, anyone else (or no
    /// signer) the public totals and verified counts.
    signer: Option<solana_sdk::signature::Keypair>,
    /// Timestamps of signed requests, strictly increasing.
    stamps: tessera_sdk::protocol::RequestStamps,
}

/// `GET /v1/jobs/{id}`. Unsigned (or signed by anyone but the job's artist) the counts are
/// only `total` and `verified`; the others read 0.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
pub struct JobProgress {
    pub state: String,
    pub counts: Counts,
    pub frames: Vec<FrameProgress>,
    pub eta_seconds: Option<f64>,
    pub receipt_signature: Option<String>,
    pub error: Option<String>,
}

#[derive(Debug, Clone, Copy, Default, Deserialize, serde::Serialize)]
#[serde(default)]
pub struct Counts {
    pub total: u64,
    pub queued: u64,
    pub leased: u64,
    pub rendered: u64,
    pub verified: u64,
    /// Left out after two rounds without a quorum: in no receipt (the job ends partial).
    pub unsettled: u64,
    pub failed: u64,
}

#[derive(Debug, Clone, Deserialize, serde::Serialize)]
pub struct FrameProgress {
    pub frame: u32,
    pub verified: u64,
    pub total: u64,
    pub complete: bool,
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

impl Orchestrator {
    /// A client of the orchestrator at `base` (`http://` or `https://`), trusting the CA of
    /// [`trust_ca`] besides the public roots (an unreadable file is reported and ignored:
    /// requests then fail on the certificate).
    pub fn new(base: &str) -> Orchestrator {
        let mut b = reqwest::Client::builder().connect_timeout(Duration::from_secs(5));
        if let Some(ca) = CA.get() {
            let certs = std::fs::read(ca)
                .map_err(|e| e.to_string())
                .and_then(|pem| {
                    reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| e.to_string())
                });
            match certs {
                Ok(certs) => {
                    for c in certs {
                        b = b.add_root_certificate(c);
                    }
                }
                Err(e) => eprintln!("--orchestrator-ca {}: {e}", ca.display()),
            }
        }
        let http = b.build().expect("an HTTP client builds");
        Orchestrator {
            base: base.trim_end_matches('/').to_string(),
            http,
            signer: None,
            stamps: Default::default(),
        }
    }

    /// Signs status requests with `signer` (the artist's wallet: the full tile breakdown).
    pub fn with_signer(mut self, signer: solana_sdk::signature::Keypair) -> Orchestrator {
        self.signer = Some(signer);
        self
    }

    pub fn url(&self) -> &str {
        &self.base
    }

    fn unreachable(&self, e: reqwest::Error) -> CliError {
        CliError::OrchestratorUnreachable {
            url: self.base.clone(),
            reason: e.without_url().to_string(),
        }
    }

    /// Turns a problem document (RFC 9457) into one line.
    async fn check(&self, resp: reqwest::Response) -> CliResult<reqwest::Response> {
        if resp.status().is_success() {
            return Ok(resp);
        }
        let status = resp.status();
        let body: Value = resp.json().await.unwrap_or(Value::Null);
        let detail = body["detail"]
            .as_str()
            .or(body["title"].as_str())
            .unwrap_or("no detail");
        Err(CliError::Orchestrator(format!("{status}: {detail}")))
    }

    async fn get(&self, path: &str) -> CliResult<reqwest::Response> {
        let resp = self
            .http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .map_err(|e| self.unreachable(e))?;
        self.check(resp).await
    }

    /// `GET /healthz`: refuses early when the orchestrator is not there.
    pub async fn ping(&self) -> CliResult<()> {
        self.get("/healthz").await.map(|_| ())
    }

    pub async fn has_scene(&self, hash_hex: &str) -> CliResult<bool> {
        let resp = self
            .http
            .head(format!("{}/v1/scenes/{hash_hex}", self.base))
            .send()
            .await
            .map_err(|e| self.unreachable(e))?;
        Ok(resp.status().is_success())
    }

    /// `GET /v1/info`: the orchestrator's key (requests are signed for it) and its clock.
    async fn info(&self) -> CliResult<(solana_sdk::pubkey::Pubkey, i64)> {
        let sent = now_ms();
        let v: Value = self
            .get("/v1/info")
            .await?
            .json()
            .await
            .map_err(|e| self.unreachable(e))?;
        let key = v["orchestrator"]
            .as_str()
            .and_then(|k| k.parse().ok())
            .ok_or_else(|| CliError::Orchestrator(format!("/v1/info answered {v}")))?;
        let offset = v["time_ms"].as_i64().unwrap_or(sent) - (sent + now_ms()) / 2;
        Ok((key, offset))
    }

    /// A timestamp for a signed request: the orchestrator's clock (our clock plus `offset`),
    /// and always later than the one before, whatever `offset` did since.
    fn stamp(&self, offset: i64) -> i64 {
        self.stamps.next(now_ms() + offset)
    }

    /// Uploads the scene of `job_id` (created on-chain, its escrow funded), signed by the
    /// job's artist; returns the hash the orchestrator stored it under.
    pub async fn upload_scene(
        &self,
        bytes: Vec<u8>,
        job_id: u64,
        artist: &solana_sdk::signature::Keypair,
    ) -> CliResult<String> {
        let (orchestrator, offset) = self.info().await?;
        let path = format!("/v1/scenes?job_id={job_id}");
        let headers = tessera_sdk::protocol::sign_request(
            artist,
            &orchestrator,
            "POST",
            &path,
            self.stamp(offset),
            &bytes,
        );
        let mut rb = self
            .http
            .post(format!("{}{path}", self.base))
            .timeout(Duration::from_secs(600));
        for (k, v) in headers {
            rb = rb.header(k, v);
        }
        let resp = rb
            .body(bytes)
            .send()
            .await
            .map_err(|e| self.unreachable(e))?;
        let body: Value = self
            .check(resp)
            .await?
            .json()
            .await
            .map_err(|e| self.unreachable(e))?;
        body["hash"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| CliError::Orchestrator(format!("upload answered {body}")))
    }

    /// Registers an escrowed job, stating what the artist paid for so a mismatch is refused.
    pub async fn register_job(&self, job_id: u64, expect: Value) -> CliResult<()> {
        let resp = self
            .http
            .post(format!("{}/v1/jobs", self.base))
            .json(&json!({"job_id": job_id, "expect": expect}))
            .send()
            .await
            .map_err(|e| self.unreachable(e))?;
        self.check(resp).await.map(|_| ())
    }

    /// The job's progress; `None` when this orchestrator does not know the job.
    pub async fn progress(&self, job_id: u64) -> CliResult<Option<JobProgress>> {
        let path = format!("/v1/jobs/{job_id}");
        let mut rb = self.http.get(format!("{}{path}", self.base));
        if let Some(signer) = &self.signer {
            let (orchestrator, offset) = self.info().await?;
            let ts = self.stamp(offset);
            for (k, v) in
                tessera_sdk::protocol::sign_request(signer, &orchestrator, "GET", &path, ts, b"")
            {
                rb = rb.header(k, v);
            }
        }
        let resp = rb.send().await.map_err(|e| self.unreachable(e))?;
        if resp.status() == reqwest::StatusCode::FORBIDDEN && self.signer.is_some() {
            // Not the job's artist: the public view.
            return self.progress_unsigned(job_id).await;
        }
        self.progress_of(resp).await
    }

    async fn progress_unsigned(&self, job_id: u64) -> CliResult<Option<JobProgress>> {
        let resp = self
            .http
            .get(format!("{}/v1/jobs/{job_id}", self.base))
            .send()
            .await
            .map_err(|e| self.unreachable(e))?;
        self.progress_of(resp).await
    }

    async fn progress_of(&self, resp: reqwest::Response) -> CliResult<Option<JobProgress>> {
        if resp.status() == reqwest::StatusCode::NOT_FOUND {
            return Ok(None);
        }
        let resp = self.check(resp).await?;
        resp.json().await.map(Some).map_err(|e| self.unreachable(e))
    }

    /// A frame's preview PNG (reduced resolution; served at any time).
    pub async fn preview_png(&self, job_id: u64, frame: u32) -> CliResult<Vec<u8>> {
        self.get_bytes(&format!("/v1/jobs/{job_id}/frames/{frame}/preview"))
            .await
    }

    /// The final PNG of a frame (409 while incomplete, 403 until the job is settled).
    pub async fn frame_png(&self, job_id: u64, frame: u32) -> CliResult<Vec<u8>> {
        self.get_bytes(&format!("/v1/jobs/{job_id}/frames/{frame}/image"))
            .await
    }

    /// The body of a successful GET.
    async fn get_bytes(&self, path: &str) -> CliResult<Vec<u8>> {
        let resp = self.get(path).await?;
        Ok(resp
            .bytes()
            .await
            .map_err(|e| self.unreachable(e))?
            .to_vec())
    }

    /// The manifest as raw JSON text (kept verbatim so `--manifest` files can be saved).
    pub async fn manifest_json(&self, job_id: u64) -> CliResult<String> {
        let resp = self.get(&format!("/v1/jobs/{job_id}/manifest")).await?;
        resp.text().await.map_err(|e| self.unreachable(e))
    }

    /// `GET /v1/nodes/{key}`.
    pub async fn node_standing(&self, node: &str) -> CliResult<NodeStanding> {
        let resp = self.get(&format!("/v1/nodes/{node}")).await?;
        resp.json().await.map_err(|e| self.unreachable(e))
    }

    /// Server-sent events of a job: calls `on_event(name)` for each until the stream ends.
    pub async fn follow_events(
        &self,
        job_id: u64,
        mut on_event: impl FnMut(&str),
    ) -> CliResult<()> {
        let resp = self.get(&format!("/v1/jobs/{job_id}/events")).await?;
        let mut stream = resp.bytes_stream();
        let mut buf = String::new();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| self.unreachable(e))?;
            buf.push_str(&String::from_utf8_lossy(&chunk));
            while let Some(end) = buf.find("\n\n") {
                let block: String = buf.drain(..end + 2).collect();
                if let Some(name) = block.lines().find_map(|l| l.strip_prefix("event:")) {
                    on_event(name.trim());
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::Orchestrator;

    #[test]
    fn signed_request_timestamps_never_repeat_even_when_the_clock_offset_moves_back() {
        let o = Orchestrator::new("http://127.0.0.1:1");
        let mut stamps = vec![o.stamp(0), o.stamp(0), o.stamp(-5_000), o.stamp(0)];
        stamps.extend((0..1000).map(|_| o.stamp(0)));
        assert!(stamps.windows(2).all(|w| w[1] > w[0]), "{stamps:?}");
    }
}
