//! `tessera job download JOB --out DIR`: every frame of a settled job, each checked tile by
//! tile against the on-chain tile root before it is written. A frame that fails is reported,
//! not written. Before settlement the orchestrator serves only previews.
//!
//! A partial receipt (the artist cancelled, the deadline passed, or tiles were left
//! unsettled) pays only the tiles verified by then: a frame it holds in full is written as
//! served; a frame it holds in part is written with its receipt tiles checked and every
//! other tile transparent (RGBA 0, 0, 0, 0), whatever the orchestrator served there; a frame
//! it holds none of is not written. Each missing tile is reported with the manifest's reason.
use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use serde::Serialize;
use tessera_sdk::audit::{tile_pixel_hash, FrameImage};
use tessera_sdk::manifest::{gap, FrameCoverage, Manifest, ManifestTile, MissingTile};
use tessera_sdk::receipt::verify_tile;
pub use tessera_sdk::tiles::tile_ranges;
use tessera_sdk::tiles::TileGrid;
use tessera_sdk::{hex, pda, Job, JobState};

use crate::context::Ctx;
use crate::error::{state, CliError, CliResult};
use crate::frames::{clear_tile, decode_png, encode_png, frame_path, write_atomic};

#[derive(clap::Args, Debug)]
pub struct DownloadArgs {
    pub job: u64,
    /// Directory for the frames (frame-0001.png, ...).
    #[arg(long, default_value = ".")]
    pub out: PathBuf,
}

/// What became of one frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FrameStatus {
    /// Every tile in the receipt, checked and written.
    Complete,
    /// Some tiles in the receipt: those checked and written, the others transparent.
    Partial,
    /// No tile in the receipt: not written.
    NotCovered,
    /// A tile the receipt holds does not match it: not written.
    Failed,
}

#[derive(Debug, Serialize)]
pub struct FrameResult {
    pub frame: u32,
    /// Every tile written matches the receipt (false when nothing was written).
    pub verified: bool,
    pub status: FrameStatus,
    pub path: Option<PathBuf>,
    /// Tiles of the receipt in this frame, and tiles of a frame.
    pub covered: u32,
    pub tiles: u32,
    /// The frame's tiles the receipt does not hold, with the manifest's reason.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub missing: Vec<MissingTile>,
    pub problem: Option<String>,
}

/// What a partial receipt leaves out of the job.
#[derive(Debug, Serialize)]
pub struct Partial {
    /// Tiles of the job, and tiles the receipt holds.
    pub tiles: u64,
    pub covered: u64,
    /// Receipt tiles written and verified.
    pub written: u64,
    /// `cancelled` or `deadline`: what ended the job before every tile was verified.
    pub ended_by: &'static str,
    /// What the missing tiles' pixels are in a partial frame.
    pub missing_pixels: &'static str,
}

#[derive(Debug, Serialize)]
pub struct Download {
    pub job_id: u64,
    pub tile_root: String,
    pub manifest: PathBuf,
    pub frames: Vec<FrameResult>,
    /// Set when the receipt is partial.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub partial: Option<Partial>,
}

impl Download {
    /// No tile the receipt holds failed its check.
    pub fn all_verified(&self) -> bool {
        self.frames.iter().all(|f| f.status != FrameStatus::Failed)
    }

    fn ended_by(&self) -> &'static str {
        self.partial.as_ref().map_or("cancelled", |p| p.ended_by)
    }
}

/// A missing tile's reason in words, for the job's end (`cancelled` or `deadline`).
pub fn describe(reason: &str, ended_by: &str) -> String {
    let before = if ended_by == "cancelled" {
        "before the job was cancelled"
    } else {
        "before the deadline"
    };
    match reason {
        gap::UNSETTLED => "unsettled (no quorum among its renders)".into(),
        gap::NEVER_RENDERED => format!("never rendered {before}"),
        gap::UNVERIFIED => format!("rendered, not verified {before}"),
        gap::UNKNOWN => "not in the receipt (the manifest does not say why)".into(),
        other => format!("not in the receipt: {other}"),
    }
}

/// `tile 5: rendered, not verified ...; tiles 7-9: never rendered ...`: the tiles grouped
/// by reason.
fn missing_line(missing: &[MissingTile], ended_by: &str) -> String {
    let mut by_reason: BTreeMap<&str, Vec<u32>> = BTreeMap::new();
    for m in missing {
        by_reason.entry(m.reason.as_str()).or_default().push(m.tile);
    }
    by_reason
        .iter()
        .map(|(reason, tiles)| {
            let s = if tiles.len() == 1 { "" } else { "s" };
            format!(
                "tile{s} {}: {}",
                tile_ranges(tiles),
                describe(reason, ended_by)
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

impl fmt::Display for Download {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        let ended = self.ended_by();
        for r in &self.frames {
            let n = r.frame;
            match (r.status, &r.path, &r.problem) {
                (FrameStatus::Complete, Some(p), _) => {
                    writeln!(f, "frame {n:>5}  verified  → {}", p.display())?
                }
                (FrameStatus::Partial, Some(p), _) => writeln!(
                    f,
                    "frame {n:>5}  partial   {}/{} tiles verified → {}\n             missing (transparent): {}",
                    r.covered,
                    r.tiles,
                    p.display(),
                    missing_line(&r.missing, ended)
                )?,
                (FrameStatus::NotCovered, _, _) => writeln!(
                    f,
                    "frame {n:>5}  not in the receipt, not written: {}",
                    missing_line(&r.missing, ended)
                )?,
                (_, _, Some(why)) => writeln!(f, "frame {n:>5}  FAILED    {why}")?,
                _ => {}
            }
        }
        writeln!(f, "manifest     → {}", self.manifest.display())?;
        match &self.partial {
            None => {
                let good = self.frames.iter().filter(|r| r.verified).count();
                writeln!(
                    f,
                    "{good}/{} frames match the on-chain tile root {}",
                    self.frames.len(),
                    self.tile_root
                )
            }
            Some(p) => writeln!(
                f,
                "partial: {} of {} tiles ({}); {} written and verified against the on-chain tile root {}",
                p.covered,
                p.tiles,
                if p.ended_by == "cancelled" {
                    "the job was cancelled"
                } else {
                    "the deadline passed"
                },
                p.written,
                self.tile_root
            ),
        }
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
    let grid = TileGrid::new(job.width, job.height, job.tile_size)
        .ok_or_else(|| state(format!("job {} has an invalid tile grid", args.job)))?;
    std::fs::create_dir_all(&args.out)?;
    // Kept beside the frames: with them, `tessera audit --frames --manifest` needs no orchestrator.
    let manifest_path = args.out.join("manifest.json");
    std::fs::write(&manifest_path, &manifest_text)?;
    let orchestrator = ctx.orchestrator();
    let total = job.total_tiles().unwrap_or(0);
    let full = u64::from(job.tile_count) >= total;
    let mut coverage = manifest.coverage(job.frame_start..=job.frame_end, grid.tiles_per_frame());
    let listed: u64 = coverage.iter().map(|c| u64::from(c.covered)).sum();
    if full {
        // A full receipt holds every tile: one the manifest lacks fails its frame.
        for c in &mut coverage {
            c.missing.clear();
            c.covered = c.total;
        }
    } else if listed != u64::from(job.tile_count) {
        return Err(CliError::Orchestrator(format!(
            "the manifest of job {} holds {listed} tiles, the on-chain receipt {}",
            args.job, job.tile_count
        )));
    }
    let mut frames = Vec::new();
    for cover in coverage {
        let png = if cover.is_empty() {
            None
        } else {
            Some(orchestrator.frame_png(args.job, cover.frame).await?)
        };
        frames.push(save_frame(
            &job,
            &manifest,
            cover,
            png.as_deref(),
            &args.out,
        )?);
    }
    let partial = (!full).then(|| Partial {
        tiles: total,
        covered: job.tile_count.into(),
        written: frames
            .iter()
            .filter(|f| f.verified)
            .map(|f| u64::from(f.covered))
            .sum(),
        ended_by: if job.cancel_requested_at != 0 {
            "cancelled"
        } else {
            "deadline"
        },
        missing_pixels: "transparent (RGBA 0,0,0,0)",
    });
    let report = Download {
        job_id: args.job,
        tile_root: hex::encode(&job.tile_root),
        manifest: manifest_path,
        frames,
        partial,
    };
    ctx.output.print(&report);
    if !report.all_verified() {
        return Err(CliError::State(format!(
            "{} frame(s) of job {} do not match the on-chain receipt and were not written",
            report
                .frames
                .iter()
                .filter(|f| f.status == FrameStatus::Failed)
                .count(),
            args.job
        )));
    }
    Ok(report)
}

/// Checks one served frame against the receipt and writes what it holds (see the module
/// comment); `png` is `None` for a frame the receipt holds no tile of.
pub fn save_frame(
    job: &Job,
    manifest: &Manifest,
    cover: FrameCoverage,
    png: Option<&[u8]>,
    out: &std::path::Path,
) -> CliResult<FrameResult> {
    let mut result = FrameResult {
        frame: cover.frame,
        verified: false,
        status: FrameStatus::NotCovered,
        path: None,
        covered: cover.covered,
        tiles: cover.total,
        missing: cover.missing,
        problem: None,
    };
    let Some(png) = png else {
        return Ok(result);
    };
    let frame = cover.frame;
    let missing: Vec<u32> = result.missing.iter().map(|m| m.tile).collect();
    let image = match check_tiles(job, manifest, frame, png, &missing) {
        Ok(image) => image,
        Err(problem) => {
            result.status = FrameStatus::Failed;
            result.problem = Some(problem);
            return Ok(result);
        }
    };
    let path = frame_path(out, frame);
    if missing.is_empty() {
        write_atomic(&path, png)?;
        result.status = FrameStatus::Complete;
    } else {
        let mut image = image;
        let grid = TileGrid::new(job.width, job.height, job.tile_size).expect("checked");
        for tile in &missing {
            clear_tile(&mut image, &grid.rect(*tile).expect("in the grid"));
        }
        write_atomic(&path, &encode_png(&image)?)?;
        result.status = FrameStatus::Partial;
    }
    result.verified = true;
    result.path = Some(path);
    Ok(result)
}

/// Every tile of `frame` in the receipt (all but `missing`): its pixels hash to the
/// manifest's hash, and that record proves against the tile root on-chain. Returns the
/// decoded image.
pub fn check_tiles(
    job: &Job,
    manifest: &Manifest,
    frame: u32,
    png: &[u8],
    missing: &[u32],
) -> Result<FrameImage, String> {
    let image = decode_png(png, &format!("frame {frame}")).map_err(|e| e.to_string())?;
    if (image.width, image.height) != (job.width, job.height) {
        return Err(format!(
            "image is {}x{}, the job is {}x{}",
            image.width, image.height, job.width, job.height
        ));
    }
    let grid = TileGrid::new(job.width, job.height, job.tile_size).ok_or("invalid job grid")?;
    let job_key = pda::job(job.job_id);
    let held: BTreeMap<u32, &ManifestTile> = manifest
        .receipt_tiles()
        .filter(|t| t.frame == frame)
        .map(|t| (t.tile, t))
        .collect();
    for (index, rect) in grid.rects().filter(|(i, _)| !missing.contains(i)) {
        let t = held
            .get(&index)
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
    Ok(image)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_tiles_are_grouped_by_reason_in_runs() {
        let missing: Vec<MissingTile> = [
            (5, gap::UNVERIFIED),
            (7, gap::NEVER_RENDERED),
            (8, gap::NEVER_RENDERED),
        ]
        .iter()
        .map(|&(tile, reason)| MissingTile {
            tile,
            reason: reason.into(),
        })
        .collect();
        assert_eq!(
            missing_line(&missing, "deadline"),
            "tiles 7-8: never rendered before the deadline; tile 5: rendered, not verified before the deadline"
        );
        assert_eq!(
            describe(gap::UNSETTLED, "cancelled"),
            "unsettled (no quorum among its renders)"
        );
    }
}
