//! `tessera job watch`: live progress of a job (one bar per frame and a total with tiles/s,
//! ETA and tokens spent), each frame written to `--out` as it completes: its preview
//! (`preview-0001.png`, reduced resolution) until the job is settled on-chain, the clean frame
//! (`frame-0001.png`) once it is. Ctrl-C detaches and leaves the job running.
use std::collections::BTreeSet;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;
use tokio::sync::Notify;

use tessera_sdk::JobState;

use crate::context::Ctx;
use crate::error::{CliError, CliResult};
use crate::frames::{frame_path, preview_path, write_atomic};
use crate::orchestrator::JobProgress;

/// Frames beyond this many get no bar of their own (the total bar still counts them).
const MAX_FRAME_BARS: usize = 12;
/// Progress is re-read at least this often, events or not.
const POLL: Duration = Duration::from_secs(1);

#[derive(clap::Args, Debug)]
pub struct WatchArgs {
    /// The job id.
    pub job: u64,
    /// Write each frame here as it completes: previews (preview-0001.png, ...) until the job
    /// is settled, clean frames (frame-0001.png, ...) after.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

#[derive(Debug, Clone, Serialize)]
pub struct WatchOutcome {
    pub job_id: u64,
    /// The orchestrator's state when watching stopped: posted (receipt on-chain), failed,
    /// or still rendering when detached / not waited for.
    pub state: String,
    pub detached: bool,
    pub tiles_verified: u64,
    pub tiles_total: u64,
    pub frames_written: Vec<PathBuf>,
    pub receipt_signature: Option<String>,
}

impl WatchOutcome {
    pub fn registered(job_id: u64) -> WatchOutcome {
        WatchOutcome {
            job_id,
            state: "rendering".into(),
            detached: true,
            tiles_verified: 0,
            tiles_total: 0,
            frames_written: vec![],
            receipt_signature: None,
        }
    }
}

pub async fn run(ctx: &Ctx, args: &WatchArgs) -> CliResult<WatchOutcome> {
    let outcome = watch(ctx, args.job, args.out.as_deref()).await?;
    if ctx.output.is_json() {
        ctx.output.json(&outcome);
    }
    Ok(outcome)
}

struct Bars {
    multi: MultiProgress,
    total: ProgressBar,
    frames: Vec<(u32, ProgressBar)>,
    tty: bool,
}

impl Bars {
    fn new(job_id: u64, first: &JobProgress, json: bool) -> Bars {
        let tty = std::io::stderr().is_terminal() && !json;
        let multi = MultiProgress::with_draw_target(if tty {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        });
        let frame_style =
            ProgressStyle::with_template("  frame {prefix:>5} [{bar:30}] {pos}/{len}")
                .expect("template")
                .progress_chars("=> ");
        let frames = first
            .frames
            .iter()
            .take(MAX_FRAME_BARS)
            .map(|f| {
                let bar = multi.add(ProgressBar::new(f.total).with_style(frame_style.clone()));
                bar.set_prefix(f.frame.to_string());
                (f.frame, bar)
            })
            .collect();
        let total = multi.add(
            ProgressBar::new(first.counts.total).with_style(
                ProgressStyle::with_template(
                    "job {prefix} [{bar:30}] {pos}/{len} tiles  {per_sec}  ETA {eta}  {msg}",
                )
                .expect("template")
                .progress_chars("=> "),
            ),
        );
        total.set_prefix(job_id.to_string());
        Bars {
            multi,
            total,
            frames,
            tty,
        }
    }

    fn update(&self, p: &JobProgress, spent: &str) {
        for (frame, bar) in &self.frames {
            if let Some(f) = p.frames.iter().find(|f| f.frame == *frame) {
                bar.set_position(f.verified);
            }
        }
        self.total.set_position(p.counts.verified);
        self.total.set_message(spent.to_string());
    }

    /// A line that stays above the bars (or on its own without a terminal).
    fn println(&self, ctx: &Ctx, line: String) {
        if self.tty {
            let _ = self.multi.println(line);
        } else {
            ctx.output.note(line);
        }
    }
}

pub async fn watch(ctx: &Ctx, job_id: u64, out: Option<&Path>) -> CliResult<WatchOutcome> {
    // Listen for Ctrl-C from the start: a permit stored by `notify_one` is never lost, even
    // when the signal lands while progress is being fetched.
    let interrupted = std::sync::Arc::new(Notify::new());
    {
        let interrupted = interrupted.clone();
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                interrupted.notify_one();
            }
        });
    }
    let job = ctx.job(job_id).await?;
    let settled = matches!(job.state, JobState::Settled | JobState::Resolved);
    let tokens = ctx.network().await?.tokens;
    let orchestrator = ctx.orchestrator();
    let mut progress = orchestrator.progress(job_id).await?.ok_or_else(|| {
        CliError::Orchestrator(format!("{} does not know job {job_id}", orchestrator.url()))
    })?;
    if let Some(dir) = out {
        std::fs::create_dir_all(dir)?;
    }
    // Each tile event wakes the loop at once; the poll covers events lost on reconnects.
    let wake = std::sync::Arc::new(Notify::new());
    let events = {
        let wake = wake.clone();
        let url = orchestrator.url().to_string();
        tokio::spawn(async move {
            let o = crate::orchestrator::Orchestrator::new(&url);
            let _ = o.follow_events(job_id, |_| wake.notify_one()).await;
        })
    };
    let bars = Bars::new(job_id, &progress, ctx.output.is_json());
    let mut written = BTreeSet::new();
    let mut outcome_paths = Vec::new();
    let detached = loop {
        let spent = progress.counts.verified * job.price_per_tile;
        bars.update(
            &progress,
            &format!(
                "{} of {} spent",
                tokens.format(spent),
                tokens.format(job.budget)
            ),
        );
        for f in progress.frames.iter().filter(|f| f.complete) {
            if written.insert(f.frame) {
                let line = match out {
                    Some(dir) => {
                        let path =
                            write_frame(&orchestrator, job_id, f.frame, dir, settled).await?;
                        outcome_paths.push(path.clone());
                        format!("frame {} complete → {}", f.frame, path.display())
                    }
                    None => format!("frame {} complete", f.frame),
                };
                bars.println(ctx, line);
            }
        }
        match progress.state.as_str() {
            "posted" => break false,
            "failed" => {
                events.abort();
                return Err(CliError::Orchestrator(format!(
                    "job {job_id} failed: {}",
                    progress.error.as_deref().unwrap_or("no reason given")
                )));
            }
            _ => {}
        }
        tokio::select! {
            _ = wake.notified() => {}
            _ = tokio::time::sleep(POLL) => {}
            _ = interrupted.notified() => break true,
        }
        progress = orchestrator
            .progress(job_id)
            .await?
            .ok_or_else(|| CliError::Orchestrator(format!("job {job_id} vanished")))?;
    };
    events.abort();
    bars.total.finish();
    if detached {
        ctx.output.note(format!(
            "detached; job {job_id} keeps rendering. Re-attach with `tessera job watch {job_id}`"
        ));
    } else {
        let next = if settled {
            format!("Next: `tessera job download {job_id}`")
        } else {
            format!("Frames are previews until the job is settled. Next: `tessera job approve {job_id}` (or `dispute`), then `tessera job download {job_id}`")
        };
        ctx.output.note(format!(
            "job {job_id}: {} of {} tiles verified, receipt on-chain (tx {}). {next}",
            progress.counts.verified,
            progress.counts.total,
            progress.receipt_signature.as_deref().unwrap_or("?")
        ));
    }
    Ok(WatchOutcome {
        job_id,
        state: progress.state,
        detached,
        tiles_verified: progress.counts.verified,
        tiles_total: progress.counts.total,
        frames_written: outcome_paths,
        receipt_signature: progress.receipt_signature,
    })
}

/// Writes the clean frame of a settled job, else its preview; returns the path.
async fn write_frame(
    orchestrator: &crate::orchestrator::Orchestrator,
    job_id: u64,
    frame: u32,
    dir: &Path,
    settled: bool,
) -> CliResult<PathBuf> {
    let (png, path) = if settled {
        (
            orchestrator.frame_png(job_id, frame).await?,
            frame_path(dir, frame),
        )
    } else {
        (
            orchestrator.preview_png(job_id, frame).await?,
            preview_path(dir, frame),
        )
    };
    write_atomic(&path, &png)?;
    Ok(path)
}
