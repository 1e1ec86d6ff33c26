//! `tessera job quote`: tiles, price, fee, budget and an estimated wall time. Pays nothing.
use std::fmt;
use std::path::PathBuf;

use serde::Serialize;
use tessera_sdk::Node;

use tessera_render::FrameRate;

use super::scene::{check_scene, SceneFile};
use super::spec::{parse_fps, FrameRange, JobSpec, Size};
use crate::amount::Tokens;
use crate::context::{Ctx, NetworkInfo};
use crate::error::CliResult;

/// The job flags `quote` and `submit` share.
#[derive(clap::Args, Debug, Clone)]
pub struct JobArgs {
    /// The scene: .glb, self-contained .gltf, or a tar bundle.
    pub scene: PathBuf,
    /// Frames to render, inclusive (e.g. 1-48).
    #[arg(long, default_value = "1")]
    pub frames: FrameRange,
    /// Image size in pixels, WIDTHxHEIGHT.
    #[arg(long, default_value = "1920x1080")]
    pub size: Size,
    /// Tile edge in pixels (the unit nodes render and are paid for).
    #[arg(long, default_value_t = 256)]
    pub tile: u32,
    /// Samples per pixel.
    #[arg(long, default_value_t = 64)]
    pub spp: u32,
    /// Frames per second (24, 25, 30000/1001): recorded in the job, so frame N is the scene
    /// at (N − 1) / fps seconds on every node.
    #[arg(long, default_value = "24", value_parser = parse_fps)]
    pub fps: FrameRate,
    /// Price per tile, in tokens.
    #[arg(long, default_value = "0.01")]
    pub price: String,
}

impl JobArgs {
    pub fn spec(&self, tokens: Tokens) -> CliResult<JobSpec> {
        let spec = JobSpec {
            frames: self.frames,
            size: self.size,
            tile_size: self.tile,
            spp: self.spp,
            price_per_tile: tokens.parse(&self.price)?,
            frame_rate: self.fps,
        };
        spec.validate()?;
        Ok(spec)
    }
}

#[derive(Debug, Serialize)]
pub struct Quote {
    pub scene: SceneFile,
    pub spec: JobSpec,
    pub tiles: u64,
    pub tiles_per_frame: u64,
    /// price × tiles.
    pub cost: u64,
    /// The most check and tiebreak renders the job pays (the network's share of the tiles).
    pub verification_renders: u64,
    pub verify_bps: u16,
    /// price × verification renders, at most; what the receipt does not use is refunded.
    pub verification: u64,
    pub fee: u64,
    pub fee_bps: u16,
    /// cost + verification + fee: the least budget the program accepts.
    pub budget: u64,
    pub decimals: u8,
    /// Nodes with a benchmark score on-chain, and their summed score (100 = 10 Msamples/s).
    pub scored_nodes: usize,
    pub total_score: u64,
    pub estimated_seconds: Option<f64>,
}

/// Builds the quote; `submit` starts from the same numbers.
pub async fn quote(ctx: &Ctx, args: &JobArgs, info: &NetworkInfo) -> CliResult<Quote> {
    let scene = check_scene(&args.scene, args.frames, args.fps)?;
    let spec = args.spec(info.tokens)?;
    let c = spec.cost(info.network.fee_bps, info.network.verify_bps)?;
    let nodes: Vec<(_, Node)> = ctx
        .chain
        .list_program_accounts(vec![])
        .await
        .map_err(|e| ctx.rpc_error(e))?;
    let scores: Vec<u64> = nodes
        .iter()
        .map(|(_, n)| n.benchmark_score)
        .filter(|s| *s > 0)
        .collect();
    let total_score: u64 = scores.iter().sum();
    let estimated_seconds = tessera_sdk::estimate::render_seconds(spec.samples(), total_score);
    Ok(Quote {
        tiles: spec.tile_count(),
        tiles_per_frame: spec.tiles_per_frame(),
        cost: c.tiles,
        verification_renders: c.verification_renders,
        verify_bps: info.network.verify_bps,
        verification: c.verification,
        fee: c.fee,
        fee_bps: info.network.fee_bps,
        budget: c.budget,
        decimals: info.tokens.decimals,
        scored_nodes: scores.len(),
        total_score,
        estimated_seconds,
        scene,
        spec,
    })
}

pub async fn run(ctx: &Ctx, args: &JobArgs) -> CliResult<()> {
    let info = ctx.network().await?;
    let q = quote(ctx, args, &info).await?;
    ctx.output.print(&q);
    Ok(())
}

pub fn duration(seconds: f64) -> String {
    humantime::format_duration(std::time::Duration::from_secs(seconds.ceil() as u64)).to_string()
}

impl fmt::Display for Quote {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        let t = Tokens {
            decimals: self.decimals,
        };
        let s = &self.spec;
        writeln!(
            f,
            "Scene:       {} ({} triangles, {} lights, {} textures, {} bytes{})",
            self.scene.path.display(),
            self.scene.triangles,
            self.scene.lights,
            self.scene.textures,
            self.scene.size_bytes,
            if self.scene.animated {
                ", animated at 24 fps"
            } else {
                ""
            }
        )?;
        for w in &self.scene.warnings {
            writeln!(f, "  warning:   {w}")?;
        }
        writeln!(
            f,
            "Frames:      {}-{} ({} frames of {}x{}, {} spp)",
            s.frames.start,
            s.frames.end,
            s.frames.count(),
            s.size.width,
            s.size.height,
            s.spp
        )?;
        writeln!(
            f,
            "Tiles:       {} ({} per frame, {} px)",
            self.tiles, self.tiles_per_frame, s.tile_size
        )?;
        writeln!(f, "Price:       {} per tile", t.format(s.price_per_tile))?;
        writeln!(f, "Cost:        {}", t.format(self.cost))?;
        writeln!(
            f,
            "Verification: up to {} ({} check or tiebreak renders at the tile price, {:.2}% of the tiles; what is not used is refunded)",
            t.format(self.verification),
            self.verification_renders,
            self.verify_bps as f64 / 100.0
        )?;
        writeln!(
            f,
            "Fee:         {} ({:.2}%)",
            t.format(self.fee),
            self.fee_bps as f64 / 100.0
        )?;
        writeln!(
            f,
            "Budget:      {} (escrowed at submit)",
            t.format(self.budget)
        )?;
        match self.estimated_seconds {
            Some(secs) => writeln!(
                f,
                "Estimate:    {} on {} benchmarked nodes (total score {})",
                duration(secs),
                self.scored_nodes,
                self.total_score
            ),
            None => writeln!(
                f,
                "Estimate:    unknown (no registered node has a benchmark score)"
            ),
        }
    }
}
