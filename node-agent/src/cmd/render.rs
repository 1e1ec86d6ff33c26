//! `node-agent render SCENE --frame N --width W --height H --tile X,Y,W,H --spp S --out tile.png`

use super::DeviceArgs;
use anyhow::{bail, Context};
use clap::Args;
use std::path::PathBuf;
use tessera_render::{hex, FrameRate, LoadOptions, Scene, TileRequest};

#[derive(Args, Debug)]
pub struct RenderArgs {
    /// Scene: .glb, .gltf (files beside it) or .tar bundle.
    pub scene: PathBuf,
    /// Frame number: the scene is posed at t = (frame − 1) / fps (frame 1 is t = 0).
    #[arg(long, default_value_t = 1)]
    pub frame: u32,
    /// Frames per second as NUM/DEN (a job's rate, e.g. 24/1 or 30000/1001).
    #[arg(long, default_value = "24/1")]
    pub fps: FrameRate,
    #[arg(long)]
    pub width: u32,
    #[arg(long)]
    pub height: u32,
    /// Tile as X,Y,W,H (default: the whole frame).
    #[arg(long, value_parser = parse_tile)]
    pub tile: Option<[u32; 4]>,
    #[arg(long, default_value_t = 16)]
    pub spp: u32,
    #[arg(long, default_value_t = 6)]
    pub bounces: u32,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Camera node/camera name or index, or "auto" for an automatic camera framing the scene
    /// (default: the first camera, or the automatic one when the scene has none).
    #[arg(long)]
    pub camera: Option<String>,
    /// Write the tile as PNG here.
    #[arg(long)]
    pub out: Option<PathBuf>,
    #[command(flatten)]
    pub device: DeviceArgs,
}

fn parse_tile(s: &str) -> Result<[u32; 4], String> {
    let v: Vec<u32> = s
        .split(',')
        .map(|p| p.trim().parse::<u32>().map_err(|e| format!("{p:?}: {e}")))
        .collect::<Result<_, _>>()?;
    v.try_into().map_err(|_| "expected X,Y,W,H".to_string())
}

pub fn run(args: RenderArgs) -> anyhow::Result<()> {
    // The device first: its buffer limits refuse a scene too large for it while loading.
    let mut renderer = args.device.renderer()?;
    let opts = LoadOptions {
        camera: args.camera.clone(),
        limits: renderer.scene_limits(),
        ..LoadOptions::at_frame(args.frame, args.fps)
    };
    let scene = Scene::from_path_with(&args.scene, &opts)
        .with_context(|| format!("loading {}", args.scene.display()))?;
    let [x, y, w, h] = args.tile.unwrap_or([0, 0, args.width, args.height]);
    if w == 0 || h == 0 {
        bail!("empty tile");
    }
    let req = TileRequest {
        frame: args.frame,
        frame_width: args.width,
        frame_height: args.height,
        x,
        y,
        width: w,
        height: h,
        spp: args.spp,
        max_bounces: args.bounces,
        seed: args.seed,
        linear: false,
    };
    let mut key = blake3::Hasher::new();
    key.update(&std::fs::read(&args.scene)?);
    if scene.is_animated() {
        key.update(&args.frame.to_le_bytes());
    }
    let key = *key.finalize().as_bytes();
    let t0 = std::time::Instant::now();
    let img = renderer.render_tile(&key, &scene, &req)?;
    eprintln!(
        "rendered {w}×{h} at {x},{y} of {}×{} ({} triangles, {} spp) in {:.3} s",
        args.width,
        args.height,
        scene.triangle_count(),
        args.spp,
        t0.elapsed().as_secs_f64()
    );
    if let Some(out) = &args.out {
        std::fs::write(out, img.png()?).with_context(|| format!("writing {}", out.display()))?;
    }
    println!("{}", hex(&img.hash));
    Ok(())
}
