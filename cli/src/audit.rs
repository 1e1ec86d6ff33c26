//! `tessera audit JOB`: proves from the chain, the manifest and the frames alone that a job
//! was rendered and paid as recorded. The checks are `tessera_sdk::audit`; this module only
//! gathers their inputs. With `--frames` and `--manifest` the orchestrator is never contacted.
use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use serde::Serialize;
use tessera_sdk::audit::{audit, AuditInput, AuditReport, FrameImage};
use tessera_sdk::manifest::Manifest;
use tessera_sdk::{pda, Claim, Contest, JobState};

use crate::context::Ctx;
use crate::error::{input, state, CliError, CliResult};
use crate::frames::{decode_png, frame_path};

#[derive(clap::Args, Debug)]
pub struct AuditArgs {
    pub job: u64,
    /// Read the frames from this directory (frame-0001.png, ...) instead of the orchestrator.
    #[arg(long)]
    pub frames: Option<PathBuf>,
    /// Read the manifest from this file instead of the orchestrator.
    #[arg(long)]
    pub manifest: Option<PathBuf>,
}

#[derive(Debug, Serialize)]
pub struct Verdict {
    pub verdict: &'static str,
    pub manifest_source: String,
    pub frames_source: String,
    pub claims_on_chain: usize,
    /// The artist cancelled the job (else, for a partial receipt, the deadline ended it).
    #[serde(skip)]
    pub cancelled: bool,
    #[serde(flatten)]
    pub report: AuditReport,
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        let r = &self.report;
        writeln!(f, "Audit of job {} ({})", r.job_id, r.job_key)?;
        writeln!(
            f,
            "  manifest from {}, frames from {}",
            self.manifest_source, self.frames_source
        )?;
        for c in &r.checks {
            writeln!(
                f,
                "  {:<4} {:<16} {} checked",
                if c.ok { "ok" } else { "FAIL" },
                c.name,
                c.passed
            )?;
        }
        if let Some(c) = &r.coverage {
            let ended = if self.cancelled {
                "cancelled"
            } else {
                "deadline"
            };
            for fc in &c.frames {
                let tiles: Vec<u32> = fc.missing.iter().map(|m| m.tile).collect();
                let reasons: std::collections::BTreeSet<String> = fc
                    .missing
                    .iter()
                    .map(|m| crate::job::download::describe(&m.reason, ended))
                    .collect();
                writeln!(
                    f,
                    "  frame {:>5}  {}/{} tiles in the receipt; missing {}: {}",
                    fc.frame,
                    fc.covered,
                    fc.total,
                    crate::job::download::tile_ranges(&tiles),
                    reasons.into_iter().collect::<Vec<_>>().join("; ")
                )?;
            }
            let refund = c.refund.map_or("due at settlement".into(), |r| {
                format!("refunded {r} ≥ {} for them", c.uncovered_price)
            });
            writeln!(
                f,
                "  partial: {} of {} tiles in the receipt, none outside it paid; {} missing tiles priced {}, {refund}",
                c.covered,
                c.tiles,
                c.tiles - c.covered,
                c.uncovered_price
            )?;
        }
        match &r.discrepancy {
            None => writeln!(f, "PASS: the frames, the manifest and the chain agree"),
            Some(d) => writeln!(f, "FAIL: {d}"),
        }
    }
}

pub async fn run(ctx: &Ctx, args: &AuditArgs) -> CliResult<Verdict> {
    let job = ctx.job(args.job).await?;
    if job.state == JobState::Open {
        return Err(state(format!(
            "job {} has no receipt on-chain yet; nothing to audit",
            args.job
        )));
    }
    let job_key = pda::job(args.job);
    let (manifest, manifest_source) = match &args.manifest {
        Some(path) => (read_manifest(path)?, path.display().to_string()),
        None => (
            crate::node::claim::manifest(ctx, args.job).await?,
            ctx.settings.orchestrator.clone(),
        ),
    };
    let (frames, frames_source) = match &args.frames {
        Some(dir) => (
            frames_from_dir(dir, job.frame_start, job.frame_end)?,
            dir.display().to_string(),
        ),
        None => (
            frames_from_orchestrator(ctx, args.job, &receipt_frames(&manifest)).await?,
            ctx.settings.orchestrator.clone(),
        ),
    };
    // Claim and contest layout: discriminator (8), job (32), node_key (32).
    let claims: BTreeMap<_, Claim> = ctx
        .chain
        .program_accounts_holding::<Claim>(8, &job_key)
        .await
        .map_err(|e| ctx.rpc_error(e))?
        .into_iter()
        .map(|(_, c)| (c.node_key, c))
        .collect();
    // Contest layout: discriminator (8), job (32), node_key (32), like a claim's.
    let contests: BTreeMap<_, Contest> = ctx
        .chain
        .program_accounts_holding::<Contest>(8, &job_key)
        .await
        .map_err(|e| ctx.rpc_error(e))?
        .into_iter()
        .map(|(_, c)| (c.node_key, c))
        .collect();
    let report = audit(&AuditInput {
        job_key: &job_key,
        job: &job,
        manifest: &manifest,
        frames: &frames,
        claims: &claims,
        contests: &contests,
    });
    let verdict = Verdict {
        verdict: if report.passed() { "pass" } else { "fail" },
        manifest_source,
        frames_source,
        claims_on_chain: claims.len(),
        cancelled: job.cancel_requested_at != 0,
        report,
    };
    ctx.output.print(&verdict);
    match &verdict.report.discrepancy {
        None => Ok(verdict),
        Some(d) => Err(CliError::Failed(format!(
            "audit of job {} failed: {d}",
            args.job
        ))),
    }
}

fn read_manifest(path: &PathBuf) -> CliResult<Manifest> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| input(format!("cannot read the manifest {}: {e}", path.display())))?;
    serde_json::from_str(&text)
        .map_err(|e| input(format!("manifest {} does not parse: {e}", path.display())))
}

/// Frames that are missing stay absent: the audit names the first one.
fn frames_from_dir(
    dir: &std::path::Path,
    start: u32,
    end: u32,
) -> CliResult<BTreeMap<u32, FrameImage>> {
    if !dir.is_dir() {
        return Err(input(format!(
            "--frames {} is not a directory",
            dir.display()
        )));
    }
    let mut frames = BTreeMap::new();
    for frame in start..=end {
        let path = frame_path(dir, frame);
        if let Ok(bytes) = std::fs::read(&path) {
            frames.insert(frame, decode_png(&bytes, &path.display().to_string())?);
        }
    }
    Ok(frames)
}

/// The frames the manifest's receipt tiles are in: those are the images the audit reads (a
/// partial receipt may hold no tile of some frames, and those are not served).
fn receipt_frames(manifest: &Manifest) -> std::collections::BTreeSet<u32> {
    manifest.receipt_tiles().map(|t| t.frame).collect()
}

async fn frames_from_orchestrator(
    ctx: &Ctx,
    job_id: u64,
    wanted: &std::collections::BTreeSet<u32>,
) -> CliResult<BTreeMap<u32, FrameImage>> {
    let o = ctx.orchestrator();
    let mut frames = BTreeMap::new();
    for &frame in wanted {
        let png = o.frame_png(job_id, frame).await?;
        frames.insert(frame, decode_png(&png, &format!("frame {frame}"))?);
    }
    Ok(frames)
}
