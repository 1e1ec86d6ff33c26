//! `tessera-demo`: the main job end to end on the embedded default.
//!
//! Starts the local development chain, bootstraps the network (mint, treasury,
//! `initialize_network`), starts the orchestrator, registers and stakes node operators,
//! escrows a job for the sample scene, runs real `node-agent run` processes that render its
//! tiles on Vulkan, waits for the receipt on-chain, approves it, claims every payout with its
//! merkle proof, checks every tile against the on-chain root like an auditor, writes the
//! frames as PNG and prints who was paid what.
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use clap::Parser;
use serde_json::{json, Value};
use solana_commitment_config::CommitmentConfig;
use solana_sdk::pubkey::Pubkey;
use solana_sdk::signature::{Keypair, Signer};
use tessera_sdk::client::ChainClient;
use tessera_sdk::receipt::{verify_tile, TileRecord};
use tessera_sdk::{ix, keys, pda, token, Job, JobParams, JobState, Network, NetworkParams};

const SOL: u64 = 1_000_000_000;
/// One token of the demo mint (6 decimals).
const TOKEN: u64 = 1_000_000;

#[derive(Parser)]
#[command(about = "Run one Tessera render job end to end on a local chain")]
struct Args {
    /// The scene to render (glTF .glb).
    #[arg(long, default_value = "node-agent/render/assets/cornell.glb")]
    scene: PathBuf,
    /// The node-agent binary (default: beside this binary).
    #[arg(long)]
    node_agent: Option<PathBuf>,
    /// Everything the demo writes: chain, orchestrator store, keys, frames.
    #[arg(long, default_value = "data/demo")]
    data_dir: PathBuf,
    #[arg(long, default_value_t = 320)]
    width: u32,
    #[arg(long, default_value_t = 180)]
    height: u32,
    #[arg(long, default_value_t = 64)]
    tile_size: u32,
    #[arg(long, default_value_t = 16)]
    spp: u32,
    #[arg(long, default_value_t = 2)]
    frames: u32,
    #[arg(long, default_value_t = 2)]
    nodes: usize,
    /// Give up after this many seconds of rendering.
    #[arg(long, default_value_t = 1800)]
    timeout_secs: u64,
}

struct Operator {
    wallet: Keypair,
    node_key: Keypair,
    token: Pubkey,
}

/// Node-agent processes, killed when dropped (also on error paths).
struct Agents(Vec<Child>);

impl Drop for Agents {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

async fn funded(client: &ChainClient) -> Result<Keypair> {
    let k = Keypair::new();
    client.airdrop(&k.pubkey(), 10 * SOL).await?;
    Ok(k)
}

fn decode_hex32(s: &str) -> Result<[u8; 32]> {
    tessera_sdk::hex::decode32(s).with_context(|| format!("not a 32-byte hex string: {s}"))
}

fn proof_of(v: &Value) -> Result<Vec<[u8; 32]>> {
    v.as_array()
        .context("proof missing")?
        .iter()
        .map(|h| decode_hex32(h.as_str().context("proof entry")?))
        .collect()
}

fn tokens(amount: u64) -> String {
    format!("{}.{:06}", amount / TOKEN, amount % TOKEN)
}

fn node_agent_path(arg: Option<PathBuf>) -> Result<PathBuf> {
    let path = match arg {
        Some(p) => p,
        None => std::env::current_exe()?.with_file_name("node-agent"),
    };
    ensure!(
        path.exists(),
        "node-agent binary not found at {} (build it: cargo build -p tessera-node-agent)",
        path.display()
    );
    Ok(path)
}

#[tokio::main]
async fn main() -> Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let agent_bin = node_agent_path(args.node_agent.clone())?;
    let scene = std::fs::read(&args.scene)
        .with_context(|| format!("reading the scene {}", args.scene.display()))?;
    // A fresh demo every time: the chain, the store and the keys live under data_dir.
    let _ = std::fs::remove_dir_all(&args.data_dir);
    std::fs::create_dir_all(&args.data_dir)?;
    let dir = args.data_dir.canonicalize()?;

    println!("== 1. local development chain");
    let net = tessera_localnet::Localnet::start(tessera_localnet::Config::new(
        dir.join("chain"),
        "127.0.0.1:0".parse()?,
    ))
    .await?;
    let client = ChainClient::new(net.url(), CommitmentConfig::confirmed());
    println!("   RPC {}  program {}", net.url(), tessera_sdk::PROGRAM_ID);

    println!("== 2. network bootstrap (migrations)");
    let admin = net.faucet().insecure_clone();
    let orchestrator_key = funded(&client).await?;
    let opts = tessera_migrations::Options {
        mint: None,
        decimals: 6,
        params: NetworkParams {
            orchestrator: orchestrator_key.pubkey(),
            fee_bps: 250,
            min_stake: TOKEN,
            challenge_window: 3_600,
            unstake_cooldown: 86_400,
            claim_grace: 30 * 86_400,
        },
        state_dir: dir.join("migrations"),
    };
    let addresses = tessera_migrations::bootstrap(&client, &admin, &opts).await?;
    let mint: Pubkey = addresses.mint.parse()?;
    let treasury: Pubkey = addresses.treasury.parse()?;
    println!(
        "   network {}  mint {}  treasury {}",
        addresses.network, mint, treasury
    );

    println!("== 3. orchestrator");
    let mut config = tessera_orchestrator::Config::new(
        dir.join("orchestrator.sqlite"),
        dir.join("blobs"),
        net.url().to_string(),
        orchestrator_key.insecure_clone(),
    );
    config.verify_share = 0.2;
    let orchestrator = tessera_orchestrator::Orchestrator::start(config).await?;
    let api = orchestrator.url().to_string();
    println!("   HTTP {api}");

    println!("== 4. node operators stake and register");
    let mut operators = Vec::new();
    for i in 0..args.nodes {
        let wallet = funded(&client).await?;
        let node_key = Keypair::new();
        let token = client
            .create_token_account(&wallet, &mint, &wallet.pubkey())
            .await?;
        client
            .send_instructions(
                &admin,
                &[token::mint_to(&mint, &token, &admin.pubkey(), 5 * TOKEN)],
                &[],
            )
            .await?;
        let register = ix::register_node(
            &wallet.pubkey(),
            &node_key.pubkey(),
            &mint,
            &token,
            2 * TOKEN,
            0,
            "demo node".into(),
        );
        client
            .send_instructions(&wallet, &[register], &[&node_key])
            .await?;
        keys::write_keypair(&dir.join(format!("node-{i}.json")), &node_key)?;
        println!(
            "   node {i}: key {} staked {}",
            node_key.pubkey(),
            tokens(2 * TOKEN)
        );
        operators.push(Operator {
            wallet,
            node_key,
            token,
        });
    }

    println!("== 5. artist uploads the scene and escrows the job");
    let artist = funded(&client).await?;
    let artist_token = client
        .create_token_account(&artist, &mint, &artist.pubkey())
        .await?;
    client
        .send_instructions(
            &admin,
            &[token::mint_to(
                &mint,
                &artist_token,
                &admin.pubkey(),
                100 * TOKEN,
            )],
            &[],
        )
        .await?;
    let http = reqwest::Client::new();
    let upload: Value = http
        .post(format!("{api}/v1/scenes"))
        .body(scene.clone())
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let scene_hash = *blake3::hash(&scene).as_bytes();
    ensure!(
        upload["hash"] == blake3::hash(&scene).to_hex().as_str(),
        "orchestrator stored the scene under another hash: {upload}"
    );
    let network: Network = client
        .get_anchor_account(&pda::network())
        .await?
        .context("network")?;
    let job_id = network.next_job_id;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs() as i64;
    let mut params = JobParams {
        scene_hash,
        frame_start: 1,
        frame_end: args.frames,
        width: args.width,
        height: args.height,
        tile_size: args.tile_size,
        samples_per_pixel: args.spp,
        price_per_tile: TOKEN / 100,
        budget: 0,
        deadline: now + 7 * 86_400,
    };
    params.budget = params.required_budget(network.fee_bps)?;
    client
        .send_instructions(
            &artist,
            &[ix::create_job(
                &artist.pubkey(),
                &mint,
                &artist_token,
                job_id,
                params.clone(),
            )],
            &[],
        )
        .await?;
    let job_key = pda::job(job_id);
    println!(
        "   scene {} ({} bytes)  job {job_id} at {job_key}, escrow {}",
        upload["hash"],
        scene.len(),
        tokens(params.budget)
    );
    http.post(format!("{api}/v1/jobs"))
        .json(&json!({"job_id": job_id}))
        .send()
        .await?
        .error_for_status()?;

    println!(
        "== 6. node agents render ({} × {}×{}, {} spp, tiles of {})",
        args.frames, args.width, args.height, args.spp, args.tile_size
    );
    let mut agents = Agents(Vec::new());
    for i in 0..args.nodes {
        let child = Command::new(&agent_bin)
            .args(["run", "--orchestrator", &api, "--keypair"])
            .arg(dir.join(format!("node-{i}.json")))
            .arg("--idle-secs")
            .arg("1")
            .spawn()
            .context("starting node-agent")?;
        agents.0.push(child);
    }
    let started = Instant::now();
    let mut last = String::new();
    loop {
        let status: Value = http
            .get(format!("{api}/v1/jobs/{job_id}"))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        let line = format!(
            "   state {:<9} tiles {}",
            status["state"].as_str().unwrap_or("?"),
            status["counts"]
        );
        if line != last {
            println!("{line}  ({:.0} s)", started.elapsed().as_secs_f64());
            last = line;
        }
        match status["state"].as_str() {
            Some("posted") => break,
            Some("failed") => bail!("the job failed: {}", status["error"]),
            _ => {}
        }
        for child in &mut agents.0 {
            if let Some(code) = child.try_wait()? {
                bail!("a node agent exited early ({code}); is a Vulkan driver installed? (scripts/deps.sh)");
            }
        }
        ensure!(
            started.elapsed() < Duration::from_secs(args.timeout_secs),
            "rendering timed out"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    drop(agents);
    println!(
        "   rendered and verified in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    println!("== 7. receipt on-chain, auditor check, approval, payouts");
    let job: Job = client.get_anchor_account(&job_key).await?.context("job")?;
    ensure!(
        job.state == JobState::Rendered,
        "job is {:?}, expected Rendered",
        job.state
    );
    let manifest: Value = http
        .get(format!("{api}/v1/jobs/{job_id}/manifest"))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    ensure!(
        decode_hex32(manifest["tile_root"].as_str().unwrap_or(""))? == job.tile_root,
        "manifest root differs from the chain"
    );
    let tiles = manifest["tiles"].as_array().context("manifest tiles")?;
    for t in tiles {
        let record = TileRecord {
            frame: t["frame"].as_u64().context("frame")? as u32,
            tile: t["tile"].as_u64().context("tile")? as u32,
            node: t["node"].as_str().context("node")?.parse()?,
            pixel_hash: decode_hex32(t["pixel_hash"].as_str().context("pixel hash")?)?,
        };
        ensure!(
            verify_tile(&job_key, &job.tile_root, &record, &proof_of(&t["proof"])?),
            "tile {record:?} does not prove"
        );
    }
    println!(
        "   {} tiles proved against the on-chain tile root {}",
        tiles.len(),
        manifest["tile_root"]
    );

    client
        .send_instructions(
            &artist,
            &[ix::approve_job(
                &artist.pubkey(),
                job_id,
                &treasury,
                &artist_token,
            )],
            &[],
        )
        .await?;
    for p in manifest["payouts"].as_array().context("payouts")? {
        let node: Pubkey = p["node"].as_str().context("node")?.parse()?;
        let op = operators
            .iter()
            .find(|o| o.node_key.pubkey() == node)
            .context("payout to an unknown node")?;
        let claim = ix::claim_payout(
            &op.wallet.pubkey(),
            job_id,
            &node,
            &op.token,
            p["amount"].as_u64().context("amount")?,
            p["tiles"].as_u64().context("tiles")? as u32,
            proof_of(&p["proof"])?,
        );
        client.send_instructions(&op.wallet, &[claim], &[]).await?;
    }
    client
        .send_instructions(
            &artist,
            &[ix::close_job(&artist.pubkey(), job_id, &artist_token)],
            &[],
        )
        .await?;

    for frame in params.frame_start..=params.frame_end {
        let png = http
            .get(format!("{api}/v1/jobs/{job_id}/frames/{frame}/image"))
            .send()
            .await?
            .error_for_status()?
            .bytes()
            .await?;
        let path = dir.join(format!("frame-{frame}.png"));
        std::fs::write(&path, &png)?;
        println!("   frame {frame} → {}", display(&path));
    }

    println!("== 8. balances (tokens)");
    println!(
        "   {:<22} {:>12}",
        "artist (paid 100)",
        tokens(client.token_balance(&artist_token).await?)
    );
    println!(
        "   {:<22} {:>12}",
        "treasury (fee)",
        tokens(client.token_balance(&treasury).await?)
    );
    let mut paid_total = 0;
    for (i, op) in operators.iter().enumerate() {
        let balance = client.token_balance(&op.token).await?;
        let node: tessera_sdk::Node = client
            .get_anchor_account(&pda::node(&op.node_key.pubkey()))
            .await?
            .context("node")?;
        paid_total += balance - 3 * TOKEN;
        println!(
            "   {:<22} {:>12}  ({} tiles paid)",
            format!("node {i} operator"),
            tokens(balance),
            node.tiles_rendered
        );
    }
    let expected = job.total_payout;
    ensure!(
        paid_total == expected,
        "nodes were paid {paid_total}, the receipt says {expected}"
    );
    println!(
        "   nodes earned {} for {} tiles; the job account is closed and its rent returned",
        tokens(paid_total),
        job.tile_count
    );

    orchestrator.shutdown().await;
    net.shutdown().await;
    println!("== done: everything is under {}", display(&dir));
    Ok(())
}

fn display(p: &Path) -> String {
    std::env::current_dir()
        .ok()
        .and_then(|cwd| p.strip_prefix(cwd).ok().map(|r| r.display().to_string()))
        .unwrap_or_else(|| p.display().to_string())
}
