//! `node-agent run --orchestrator URL --keypair PATH`: lease → render → submit, forever.
//!
//! Requests go through [`super::client::Client`]: in a session (one ed25519-signed
//! request per session, then MACs) over HTTPS or to a loopback orchestrator, signed one by
//! one otherwise. Each submit asks for the next lease in the same round trip
//! (`submit?next=1`), except the last one before stopping. While a tile renders, a
//! background task heartbeats the lease. A tile counts as done once the orchestrator's
//! acknowledgement verifies and is fsynced to the journal (`acks`), which is checked
//! against the receipt once it lands. Ctrl-C finishes and submits the tile in hand, then
//! exits.
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use solana_sdk::pubkey::Pubkey;
use solana_sdk::signature::Signer;
use tessera_render::TileRequest;

use super::client::{http_client, Client, Lease};
use super::DeviceArgs;

#[derive(Args, Debug)]
pub struct RunArgs {
    /// Orchestrator base URL (`https://…`, or `http://` on a loopback or private network).
    #[arg(long, env = "TESSERA_ORCHESTRATOR")]
    pub orchestrator: String,
    /// A PEM file of CA certificates to trust for the orchestrator's HTTPS certificate,
    /// besides the public roots (a private CA or a self-signed certificate).
    #[arg(long, env = "TESSERA_CA")]
    pub orchestrator_ca: Option<PathBuf>,
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
    let http = http_client(args.orchestrator_ca.as_deref())?;
    let base = args.orchestrator.trim_end_matches('/').to_string();
    let key = Arc::new(tessera_sdk::keys::read_keypair(&args.keypair)?);
    let client = Arc::new(rt.block_on(Client::connect(http.clone(), base, key))?);
    eprintln!("node {}", client.key.pubkey());
    let mut claims = (!args.no_claim).then(|| {
        super::claims::AutoClaim::new(&args.url, &client.base, &client.key)
            .with_http(http.clone())
            .with_acks(&args.data_dir)
    });
    let node_key = client.key.pubkey();
    let mut journal = super::acks::Journal::open(&args.data_dir, &node_key)
        .with_context(|| format!("opening the journal in {}", args.data_dir.display()))?;
    let mut acks = super::acks::AckWatch::new(&args.data_dir, &node_key, &args.url).with_http(http);
    // A lease the last submit handed over (`submit?next=1`).
    let mut next: Option<Lease> = None;
    let mut renderer = args.device.renderer()?;
    let mut scenes = super::scene_cache::SceneCache::default();
    while !stop.load(Ordering::SeqCst) {
        if let Some(c) = claims.as_mut() {
            rt.block_on(c.tick());
        }
        rt.block_on(acks.tick());
        let lease = match next.take() {
            Some(l) => Ok(Some(l)),
            None => rt.block_on(client.lease()),
        };
        let lease = match lease {
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
        // No next lease once stopping: it would sit unrendered until it expired.
        let want_next = !stop.load(Ordering::SeqCst);
        let png = img.png()?;
        let submitted = client.submit(&lease, &png, &img.hash, want_next);
        let reply = match rt.block_on(submitted) {
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
        next = reply
            .get("next")
            .filter(|v| !v.is_null())
            .and_then(|v| serde_json::from_value(v.clone()).ok());
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
