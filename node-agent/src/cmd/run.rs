//! `node-agent run --orchestrator URL --keypair PATH`: lease → render → submit, forever.
//!
//! Every request is signed with the node key for this orchestrator
//! ([`tessera_sdk::protocol::sign_request`]: the orchestrator's key from `GET /v1/info`,
//! method, path, timestamp, body hash), timestamped on the orchestrator's clock (the offset
//! is measured from `/v1/info` at start). While a tile
//! renders, a background task heartbeats the lease. A tile counts as done once the
//! orchestrator's acknowledgement verifies and is fsynced to the journal (`acks`), which
//! is checked against the receipt once it lands. Ctrl-C finishes and submits the tile in
//! hand, then exits.
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use base64::Engine;
use clap::Args;
use serde::Deserialize;
use solana_sdk::pubkey::Pubkey;
use solana_sdk::signature::{Keypair, Signer};
use tessera_render::{hex, TileRequest};

use super::DeviceArgs;

#[derive(Args, Debug)]
pub struct RunArgs {
    /// Orchestrator base URL.
    #[arg(long, env = "TESSERA_ORCHESTRATOR")]
    pub orchestrator: String,
    /// Node keypair (Solana CLI JSON), the key registered on-chain.
    #[arg(long, env = "TESSERA_NODE_KEYPAIR")]
    pub keypair: PathBuf,
    /// Path-tracing bounces.
    #[arg(long, default_value_t = 6)]
    pub bounces: u32,
    /// JSON-RPC URL of the chain, for automatic claims.
    #[arg(long, env = "TESSERA_RPC_URL", default_value = "http://127.0.0.1:8899")]
    pub url: String,
    /// Do not claim payouts automatically when a job this node worked on settles.
    #[arg(long)]
    pub no_claim: bool,
    /// Where the agent keeps its acknowledgement journal (`acks-<node key>.jsonl`, see `acks`).
    #[arg(long, env = "TESSERA_NODE_DATA", default_value = "data/node")]
    pub data_dir: PathBuf,
    /// Seconds to wait when there is no work.
    #[arg(long, default_value_t = 2)]
    pub idle_secs: u64,
    #[command(flatten)]
    pub device: DeviceArgs,
}

#[derive(Debug, Deserialize)]
struct Rect {
    x: u32,
    y: u32,
    width: u32,
    height: u32,
}

#[derive(Debug, Deserialize)]
struct Lease {
    lease_id: i64,
    job_id: u64,
    job_key: String,
    frame: u32,
    tile: u32,
    rect: Rect,
    frame_width: u32,
    frame_height: u32,
    spp: u32,
    seed: u64,
    scene_hash: String,
    deadline_ms: i64,
    /// `[num, den]` frames per second, recorded with the job.
    frame_rate: [u32; 2],
}

struct Client {
    http: reqwest::Client,
    base: String,
    key: Arc<Keypair>,
    /// The orchestrator's key: requests are signed for it alone.
    orchestrator: Pubkey,
    /// Orchestrator clock minus ours (ms), so a skewed local clock still signs fresh requests.
    offset_ms: i64,
    /// Strictly increasing timestamps: identical requests in one millisecond would carry
    /// identical signatures, and the orchestrator refuses the second as a replay.
    last_ts: std::sync::atomic::AtomicI64,
}

/// Requests a scene download may take (the first and its resumptions).
const SCENE_ATTEMPTS: u32 = 4;

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

#[derive(Debug, Deserialize)]
struct Info {
    orchestrator: String,
    time_ms: i64,
}

impl Client {
    /// Asks the orchestrator whom to sign for and what time it is.
    async fn connect(
        http: reqwest::Client,
        base: String,
        key: Arc<Keypair>,
    ) -> anyhow::Result<Self> {
        let sent = now_ms();
        let info: Info = http
            .get(format!("{base}/v1/info"))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await
            .context("GET /v1/info")?;
        let offset_ms = info.time_ms - (sent + now_ms()) / 2;
        Ok(Self {
            http,
            base,
            key,
            orchestrator: Pubkey::from_str(&info.orchestrator)?,
            offset_ms,
            last_ts: Default::default(),
        })
    }

    /// Now on the orchestrator's clock.
    fn now(&self) -> i64 {
        now_ms() + self.offset_ms
    }

    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Vec<u8>,
    ) -> anyhow::Result<reqwest::Response> {
        self.send_with(method, path, body, None).await
    }

    /// [`Self::send`] with a `Range` header (not signed: it selects bytes of what is).
    async fn send_with(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Vec<u8>,
        range: Option<String>,
    ) -> anyhow::Result<reqwest::Response> {
        let now = self.now();
        let prev = self.last_ts.fetch_max(now, Ordering::SeqCst);
        let ts = if prev >= now {
            self.last_ts.fetch_add(1, Ordering::SeqCst) + 1
        } else {
            now
        };
        let headers = tessera_sdk::protocol::sign_request(
            &self.key,
            &self.orchestrator,
            method.as_str(),
            path,
            ts,
            &body,
        );
        let mut rb = self
            .http
            .request(method, format!("{}{path}", self.base))
            .header("content-type", "application/json");
        for (k, v) in headers {
            rb = rb.header(k, v);
        }
        if let Some(range) = range {
            rb = rb.header(reqwest::header::RANGE, range);
        }
        let r = rb.body(body).send().await?;
        if r.status().is_client_error() || r.status().is_server_error() {
            let status = r.status();
            let text = r.text().await.unwrap_or_default();
            bail!("{path}: {status}: {text}");
        }
        Ok(r)
    }

    async fn lease(&self) -> anyhow::Result<Option<Lease>> {
        let r = self
            .send(reqwest::Method::POST, "/v1/leases", b"{}".to_vec())
            .await?;
        if r.status() == reqwest::StatusCode::NO_CONTENT {
            return Ok(None);
        }
        Ok(Some(r.json().await?))
    }

    async fn heartbeat(&self, id: i64) -> anyhow::Result<()> {
        self.send(
            reqwest::Method::POST,
            &format!("/v1/leases/{id}/heartbeat"),
            Vec::new(),
        )
        .await?;
        Ok(())
    }

    /// The scene bundle; a download that breaks off is resumed where it stopped (a signed
    /// request with `Range: bytes=N-`), up to [`SCENE_ATTEMPTS`] requests in all.
    async fn scene(&self, hash: &str) -> anyhow::Result<Vec<u8>> {
        let path = format!("/v1/scenes/{hash}");
        let mut bytes = Vec::new();
        for attempt in 1.. {
            match self.scene_part(&path, &mut bytes).await {
                Ok(()) => break,
                Err(e) if attempt < SCENE_ATTEMPTS => {
                    eprintln!("scene {hash}: {e:#}; resuming at byte {}", bytes.len())
                }
                Err(e) => return Err(e),
            }
        }
        if blake3::hash(&bytes).to_hex().as_str() != hash {
            bail!("scene {hash} arrived with another hash");
        }
        Ok(bytes)
    }

    /// Appends the rest of the scene at `path` to `into` (all of it if the server does not
    /// answer the range with 206).
    async fn scene_part(&self, path: &str, into: &mut Vec<u8>) -> anyhow::Result<()> {
        let range = (!into.is_empty()).then(|| format!("bytes={}-", into.len()));
        let resumed = range.is_some();
        let mut r = self
            .send_with(reqwest::Method::GET, path, Vec::new(), range)
            .await?;
        if resumed && r.status() != reqwest::StatusCode::PARTIAL_CONTENT {
            into.clear();
        }
        while let Some(chunk) = r.chunk().await? {
            into.extend_from_slice(&chunk);
        }
        Ok(())
    }

    async fn submit(
        &self,
        lease: &Lease,
        png: &[u8],
        hash: &[u8; 32],
    ) -> anyhow::Result<serde_json::Value> {
        let job = Pubkey::from_str(&lease.job_key)?;
        let msg = tessera_sdk::protocol::tile_message(&job, lease.frame, lease.tile, hash);
        let body = serde_json::json!({
            "pixel_hash": hex(hash),
            "signature": self.key.sign_message(&msg).to_string(),
            "png": base64::engine::general_purpose::STANDARD.encode(png),
        });
        let r = self
            .send(
                reqwest::Method::POST,
                &format!("/v1/leases/{}/submit", lease.lease_id),
                serde_json::to_vec(&body)?,
            )
            .await?;
        Ok(r.json().await?)
    }
}

pub(crate) fn read_keypair(path: &PathBuf) -> anyhow::Result<Keypair> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let bytes: Vec<u8> = serde_json::from_str(&text).context("keypair JSON")?;
    Keypair::try_from(bytes.as_slice()).map_err(|e| anyhow::anyhow!("keypair: {e}"))
}

pub fn run(args: RunArgs) -> anyhow::Result<()> {
    let rt = tokio::runtime::Runtime::new()?;
    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = stop.clone();
        rt.spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                eprintln!("stopping after the current tile");
                stop.store(true, Ordering::SeqCst);
            }
        });
    }
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()?;
    let base = args.orchestrator.trim_end_matches('/').to_string();
    let key = Arc::new(read_keypair(&args.keypair)?);
    let client = Arc::new(rt.block_on(Client::connect(http, base, key))?);
    eprintln!("node {}", client.key.pubkey());
    let mut claims = (!args.no_claim).then(|| {
        super::claims::AutoClaim::new(&args.url, &client.base, &client.key)
            .with_acks(&args.data_dir)
    });
    let node_key = client.key.pubkey();
    let mut journal = super::acks::Journal::open(&args.data_dir, &node_key)
        .with_context(|| format!("opening the journal in {}", args.data_dir.display()))?;
    let mut acks = super::acks::AckWatch::new(&args.data_dir, &node_key, &args.url);
    let mut renderer = args.device.renderer()?;
    let mut scenes = super::scene_cache::SceneCache::default();
    while !stop.load(Ordering::SeqCst) {
        if let Some(c) = claims.as_mut() {
            rt.block_on(c.tick());
        }
        rt.block_on(acks.tick());
        let lease = match rt.block_on(client.lease()) {
            Ok(Some(l)) => l,
            Ok(None) => {
                std::thread::sleep(Duration::from_secs(args.idle_secs));
                continue;
            }
            Err(e) => {
                eprintln!("lease: {e:#}");
                std::thread::sleep(Duration::from_secs(args.idle_secs));
                continue;
            }
        };
        // The scene posed at the lease's frame (loaded once per frame, or once for a static scene).
        let [num, den] = lease.frame_rate;
        let rate = tessera_render::FrameRate { num, den };
        let (scene, key) = scenes.get(&lease.scene_hash, lease.frame, rate, || {
            rt.block_on(client.scene(&lease.scene_hash))
        })?;
        // Heartbeat at a third of the remaining lease while rendering.
        let every = Duration::from_millis(
            ((lease.deadline_ms - client.now()) / 3).clamp(200, 20_000) as u64,
        );
        let hb = {
            let (c, id) = (client.clone(), lease.lease_id);
            rt.spawn(async move {
                loop {
                    tokio::time::sleep(every).await;
                    if let Err(e) = c.heartbeat(id).await {
                        eprintln!("heartbeat: {e:#}");
                    }
                }
            })
        };
        let req = TileRequest {
            frame: lease.frame,
            frame_width: lease.frame_width,
            frame_height: lease.frame_height,
            x: lease.rect.x,
            y: lease.rect.y,
            width: lease.rect.width,
            height: lease.rect.height,
            spp: lease.spp,
            max_bounces: args.bounces,
            seed: lease.seed,
            linear: false,
        };
        let rendered = renderer.render_tile(&key, scene, &req);
        hb.abort();
        let img = match rendered {
            Ok(img) => img,
            Err(e) => {
                eprintln!("render failed (the lease will expire): {e:#}");
                continue;
            }
        };
        let reply = match rt.block_on(client.submit(&lease, &img.png()?, &img.hash)) {
            Ok(v) => v,
            Err(e) => {
                eprintln!("submit: {e:#}");
                continue;
            }
        };
        // Done only once the orchestrator's acknowledgement verifies and is on disk.
        let job_key = Pubkey::from_str(&lease.job_key)?;
        let accepted = super::acks::Accepted {
            url: &client.base,
            orchestrator: &client.orchestrator,
            job_id: lease.job_id,
            job_key: &job_key,
            frame: lease.frame,
            tile: lease.tile,
            node: &client.key.pubkey(),
            pixel_hash: &img.hash,
        };
        match accepted.entry(&reply, client.now()) {
            Ok(entry) => {
                journal
                    .record(&entry)
                    .context("journaling an acknowledgement")?;
                acks.acknowledged(lease.job_id);
                if let Some(c) = claims.as_mut() {
                    c.worked_on(lease.job_id);
                }
                eprintln!(
                    "job {} frame {} tile {}: {} (acknowledged)",
                    lease.job_key, lease.frame, lease.tile, reply["outcome"]
                );
            }
            Err(e) => eprintln!(
                "job {} frame {} tile {}: not counted as done: {e}",
                lease.job_key, lease.frame, lease.tile
            ),
        }
    }
    Ok(())
}

/// The scene's blake3 hash from its hex (the renderer key of a static scene; see `scene_cache`).
pub fn scene_key(hash_hex: &str) -> [u8; 32] {
    let mut out = [0u8; 32];
    for (i, b) in out.iter_mut().enumerate() {
        *b = hash_hex
            .get(2 * i..2 * i + 2)
            .and_then(|h| u8::from_str_radix(h, 16).ok())
            .unwrap_or(0);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// Reads a request's head; the `Range: bytes=N-` start it asks for.
    async fn read_head(sock: &mut tokio::net::TcpStream) -> Option<usize> {
        let mut head = Vec::new();
        let mut buf = [0u8; 1024];
        while !head.ends_with(b"\r\n\r\n") {
            let n = sock.read(&mut buf).await.unwrap();
            assert!(n > 0, "request cut short");
            head.extend_from_slice(&buf[..n]);
        }
        let head = String::from_utf8_lossy(&head).to_lowercase();
        head.lines()
            .find_map(|l| l.strip_prefix("range: bytes="))
            .map(|r| r.trim().trim_end_matches('-').parse().unwrap())
    }

    /// A server that breaks the first download off half-way (fewer bytes than its
    /// `content-length`, then a close) and answers the resumption with the rest (206).
    #[tokio::test]
    async fn a_broken_scene_download_resumes_where_it_stopped() {
        let scene: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let hash = blake3::hash(&scene).to_hex().to_string();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (served, seen) = (scene.clone(), Arc::new(std::sync::Mutex::new(Vec::new())));
        let ranges = seen.clone();
        tokio::spawn(async move {
            loop {
                let (mut sock, _) = listener.accept().await.unwrap();
                let range = read_head(&mut sock).await;
                seen.lock().unwrap().push(range);
                let n = served.len();
                let (head, body) = match range {
                    None => (format!("HTTP/1.1 200 OK\r\ncontent-length: {n}\r\n\r\n"), &served[..n / 2]),
                    Some(from) => (
                        format!(
                            "HTTP/1.1 206 Partial Content\r\ncontent-length: {}\r\ncontent-range: bytes {from}-{}/{n}\r\n\r\n",
                            n - from,
                            n - 1
                        ),
                        &served[from..],
                    ),
                };
                sock.write_all(head.as_bytes()).await.unwrap();
                sock.write_all(body).await.unwrap();
                let _ = sock.shutdown().await;
            }
        });
        let client = Client {
            http: reqwest::Client::new(),
            base: format!("http://{addr}"),
            key: Arc::new(Keypair::new()),
            orchestrator: Pubkey::new_unique(),
            offset_ms: 0,
            last_ts: Default::default(),
        };
        assert!(
            client.scene(&hash).await.unwrap() == scene,
            "the whole scene"
        );
        let asked = ranges.lock().unwrap().clone();
        assert_eq!(
            asked,
            vec![None, Some(scene.len() / 2)],
            "resumed at the break"
        );
    }
}
