//! The background verifier (issue 14, blind verification): compares a stored check or
//! tiebreak render with the tile's earlier renders and records the verdict, after the
//! submit was answered. Done on the request path, the comparison (reading and decoding the
//! earlier render, the PSNR) made a submit whose bytes differ a few ms slower than one
//! whose bytes agree, which told the checker that it was a check and that it disagreed.
//!
//! Work comes from the store (`tiles.need = 'compare'`), not from memory: a render stored
//! before a crash is compared after the restart. A submit on this instance wakes it at
//! once; otherwise the leader looks every `sweep_ms` (on PostgreSQL a render submitted to
//! another instance). Safe on several instances: `settle_comparison` decides a tile once,
//! inside a transaction that locks its job and re-reads its renders.
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tracing::warn;

use crate::api::AppState;
use crate::error::{ApiError, StoreError};
use crate::verify::Outcome;

/// Runs until `stop`: a pass on every wake-up, and every `sweep_ms` on the leader.
pub async fn run(state: Arc<AppState>, mut stop: watch::Receiver<bool>) {
    loop {
        let woken = tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(state.cfg.sweep_ms)) => false,
            _ = state.verifier_wake.notified() => true,
            _ = stop.changed() => return,
        };
        if state.cfg.hold_verdicts || (!woken && !crate::leads(&state).await) {
            continue;
        }
        if let Err(e) = pass(&state).await {
            warn!(error = %e, "verification pass failed");
        }
    }
}

/// Decides every tile waiting for its comparison; how many it decided.
pub async fn pass(state: &AppState) -> Result<usize, ApiError> {
    let mut decided = 0;
    loop {
        let due = state.store.comparisons_due().await?;
        let batch = due.len();
        let mut n = 0;
        for at in due {
            match compare(state, at).await {
                Ok(done) => n += usize::from(done),
                Err(e) => warn!(error = %e, ?at, "comparing a tile failed"),
            }
        }
        decided += n;
        // A full batch may have more behind it; one that decided nothing will not change.
        if batch < 64 || n == 0 {
            return Ok(decided);
        }
    }
}

/// Decides, now, every tile of one stopped job still waiting for its comparison: the
/// poster's step before the job's receipt is built, whatever `hold_verdicts` says, so a
/// check stored before the cancel or the deadline is paid (it agreed) or decided (it did
/// not, and the tile leaves the receipt). Bounded by the job's tiles; an error leaves the
/// receipt for the poster's next round.
pub async fn settle_job(state: &AppState, job_id: u64) -> Result<usize, ApiError> {
    let due = state.store.job_comparisons_due(job_id).await?;
    let mut decided = 0;
    for (frame, tile) in due {
        decided += usize::from(compare(state, (job_id, frame, tile)).await?);
    }
    Ok(decided)
}

/// Compares one tile's renders and records the verdict; false when another pass (or
/// instance) got there first.
async fn compare(state: &AppState, at: (u64, u32, u32)) -> Result<bool, ApiError> {
    let (job, frame, tile) = at;
    let Some(pending) = state.store.comparison(job, frame, tile).await? else {
        return Ok(false);
    };
    let decode = crate::verify::needs_pixels(&pending);
    let mut pngs = Vec::with_capacity(pending.len());
    for r in &pending {
        let png = if decode {
            Some(
                state
                    .blobs
                    .get_bytes(&r.blob)
                    .await?
                    .ok_or_else(|| StoreError::Corrupt(format!("blob {} missing", r.blob)))?,
            )
        } else {
            None
        };
        pngs.push((r.id, png));
    }
    let rgba = tokio::task::spawn_blocking(move || -> Result<Vec<(i64, Vec<u8>)>, ApiError> {
        pngs.into_iter()
            .map(|(id, png)| {
                let Some(png) = png else {
                    return Ok((id, Vec::new()));
                };
                let rgba = crate::imaging::decode_png(&png)
                    .map_err(ApiError::BadImage)?
                    .2;
                Ok((id, rgba))
            })
            .collect()
    })
    .await
    .map_err(|e| StoreError::Join(e.to_string()))??;
    let min_psnr = state.cfg.min_psnr_db;
    let settled = state
        .store
        .settle_comparison(job, frame, tile, rgba, min_psnr)
        .await?;
    let Some((outcome, redo, ready)) = settled else {
        return Ok(false);
    };
    tracing::debug!(
        job,
        frame,
        tile,
        ?outcome,
        requeued = redo.len(),
        "tile compared"
    );
    let submitter = pending.last().map(|r| r.node.clone()).unwrap_or_default();
    publish(state, at, &outcome, &submitter, ready);
    Ok(true)
}

/// Metrics and public events of an outcome (`node`: the render's submitter). Only verified
/// tiles (and convictions) are published: see `api::PUBLIC_EVENTS`. The event names the
/// render the tile took, not whose render settled it (a checker's).
pub(crate) fn publish(
    s: &AppState,
    (job_id, frame, tile): (u64, u32, u32),
    outcome: &Outcome,
    node: &str,
    ready: bool,
) {
    let failure = |kind: &str| {
        s.metrics
            .verification_failures
            .with_label_values(&[kind])
            .inc()
    };
    let verified = match outcome {
        Outcome::Accepted => Some(node.to_string()),
        Outcome::Verified { accepted } => Some(accepted.clone()),
        Outcome::AwaitingCheck | Outcome::AwaitingVerdict => None,
        Outcome::AwaitingTiebreak => {
            failure("check-disagree");
            None
        }
        Outcome::Resolved { accepted, faulty } => {
            for f in faulty {
                failure("fault");
                s.emit(job_id, frame, tile, "fault", Some(f.clone()));
            }
            Some(accepted.clone())
        }
        // Lost the vote without a quorum of witnesses: unpaid, not convicted (no event).
        Outcome::Outvoted { accepted, outvoted } => {
            for _ in outvoted {
                failure("outvoted");
            }
            Some(accepted.clone())
        }
        Outcome::Inconclusive | Outcome::Unsettled => {
            failure("inconclusive");
            None
        }
    };
    if let Some(node) = verified {
        s.metrics.tiles_verified.inc();
        s.emit(job_id, frame, tile, "verified", Some(node));
    }
    if ready {
        s.emit(job_id, frame, tile, "job-ready", None);
        s.poster_wake.notify_one();
    }
}
