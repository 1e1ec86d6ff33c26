//! `tessera job download JOB --out DIR`: every frame of a settled job, each checked tile by
//! tile against the on-chain tile root before it is written. A frame that fails is reported,
//! not written. Before settlement the orchestrator serves only previews.
use std::fmt;
use std::path::PathBuf;

use serde::Serialize;
use tessera_sdk::audit::tile_pixel_hash;
use tessera_sdk::manifest::Manifest;
use tessera_sdk::receipt::verify_tile;
use tessera_sdk::tiles::TileGrid;
use tessera_sdk::{hex, pda, Job, JobState};

use crate::context::Ctx;
use crate::error::{state, CliError, CliResult};
use crate::frames::{decode_png, frame_path, write_atomic};

#[derive(clap::Args, Debug)]
pub struct DownloadArgs {
    pub job: u64,
    /// Directory for the frames (frame-0001.png, ...).
    #[arg(long, default_value = ".")]
    pub out: PathBuf,
}

#[derive(Debug, Serialize)]
pub struct FrameResult {
    pub frame: u32,
    pub verified: bool,
    pub path: Option<PathBuf>,
    pub problem: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct Download {
    pub job_id: u64,
    pub tile_root: String,
    pub manifest: PathBuf,
    pub frames: Vec<FrameResult>,
}

impl Download {
    pub fn all_verified(&self) -> bool {
        self.frames.iter().all(|f| f.verified)
    }
}

impl fmt::Display for Download {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        for r in &self.frames {
            match (&r.path, &r.problem) {
                (Some(p), _) => writeln!(f, "frame {:>5}  verified  → {}", r.frame, p.display())?,
                (None, Some(why)) => writeln!(f, "frame {:>5}  FAILED    {why}", r.frame)?,
                _ => {}
            }
        }
        writeln!(f, "manifest     → {}", self.manifest.display())?;
        let good = self.frames.iter().filter(|r| r.verified).count();
        writeln!(
            f,
            "{good}/{} frames match the on-chain tile root {}",
            self.frames.len(),
            self.tile_root
        )
    }
}

pub async fn run(ctx: &Ctx, args: &DownloadArgs) -> CliResult<Download> {
    let job = ctx.job(args.job).await?;
    if matches!(job.state, JobState::Open | JobState::CancelRequested) {
        return Err(state(format!(
            "job {} has no receipt on-chain yet; there is nothing to verify frames against (`tessera job watch {}`)",
            args.job, args.job
        )));
    }
    if matches!(job.state, JobState::Rendered | JobState::Disputed) {
        return Err(state(format!(
            "job {} is {}; the orchestrator serves clean frames only once it is settled: approve it (`tessera job approve {}`) or wait for it to be finalized; until then `tessera job watch {} --out DIR` writes previews",
            args.job,
            super::status::state_name(job.state),
            args.job,
            args.job
        )));
    }
    let manifest_text = ctx.orchestrator().manifest_json(args.job).await?;
    let manifest: Manifest = serde_json::from_str(&manifest_text).map_err(|e| {
        CliError::Orchestrator(format!("manifest of job {} does not parse: {e}", args.job))
    })?;
    std::fs::create_dir_all(&args.out)?;
    // Kept beside the frames: with them, `tessera audit --frames --manifest` needs no orchestrator.
    let manifest_path = args.out.join("manifest.json");
    std::fs::write(&manifest_path, &manifest_text)?;
    let orchestrator = ctx.orchestrator();
    let mut frames = Vec::new();
    for frame in job.frame_start..=job.frame_end {
        let png = orchestrator.frame_png(args.job, frame).await?;
        let result = match check_frame(&job, &manifest, frame, &png) {
            Ok(()) => {
                let path = frame_path(&args.out, frame);
                write_atomic(&path, &png)?;
                FrameResult {
                    frame,
                    verified: true,
                    path: Some(path),
                    problem: None,
                }
            }
            Err(problem) => FrameResult {
                frame,
                verified: false,
                path: None,
                problem: Some(problem),
            },
        };
        frames.push(result);
    }
    let report = Download {
        job_id: args.job,
        tile_root: hex::encode(&job.tile_root),
        manifest: manifest_path,
        frames,
    };
    ctx.output.print(&report);
    if !report.all_verified() {
        return Err(CliError::State(format!(
            "{} frame(s) of job {} do not match the on-chain receipt and were not written",
            report.frames.iter().filter(|f| !f.verified).count(),
            args.job
        )));
    }
    Ok(report)
}

/// Every tile of `frame`: its pixels hash to the manifest's hash, and that record proves
/// against the tile root on-chain.
pub fn check_frame(job: &Job, manifest: &Manifest, frame: u32, png: &[u8]) -> Result<(), String> {
    let image = decode_png(png, &format!("frame {frame}")).map_err(|e| e.to_string())?;
    if (image.width, image.height) != (job.width, job.height) {
        return Err(format!(
            "image is {}x{}, the job is {}x{}",
            image.width, image.height, job.width, job.height
        ));
    }
    let grid = TileGrid::new(job.width, job.height, job.tile_size).ok_or("invalid job grid")?;
    let job_key = pda::job(job.job_id);
    for (index, rect) in grid.rects() {
        let t = manifest
            .tiles
            .iter()
            .find(|t| t.frame == frame && t.tile == index)
            .ok_or_else(|| format!("tile {index} is not in the manifest"))?;
        let record = t.record().map_err(|e| e.to_string())?;
        let proof = t.proof().map_err(|e| e.to_string())?.unwrap_or_default();
        let found = tile_pixel_hash(&image, &rect).ok_or("tile outside the image")?;
        if found != record.pixel_hash {
            return Err(format!(
                "tile {index} (node {}): pixels hash to {}, the receipt has {}",
                record.node,
                hex::encode(&found),
                hex::encode(&record.pixel_hash)
            ));
        }
        if !verify_tile(&job_key, &job.tile_root, &record, &proof) {
            return Err(format!(
                "tile {index}: its proof does not lead to the on-chain tile root"
            ));
        }
    }
    Ok(())
}
