//! Deletion of closed jobs' tile results.
//!
//! Rule: a job is *closed* once the orchestrator posted its receipt (or gave up on it) and
//! the chain says the job is `Settled` or `Resolved`, or its account is gone (closed after
//! the claims, or expired and refunded). Its tile PNGs (accepted, check and tiebreak
//! renders, so the fault evidence's too) are deleted `result_retention_ms` (7 days) after
//! the orchestrator first saw it closed: the artist downloads the frames within that
//! time, and disputes are over by then. Rows (hashes, signatures, proofs) stay: the manifest
//! is served as before, clean frames answer 410 `results-deleted`. A blob another
//! unpurged job also references (identical tiles) stays until that job is purged too.
//! Scenes expire separately (`scene_ttl_ms`, the sweeper in `lib.rs`).
//!
//! Orphans: a blob that no row references (a crash between its put and its row's commit,
//! a submit refused after its PNG was stored, a purge that crashed half-way) is deleted
//! once it is older than `orphan_grace_ms` (1 h: longer than any request between a put and
//! its row), every `orphan_sweep_ms`, by listing the blob store ([`sweep_orphans`]).
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::{StreamExt, TryStreamExt};
use tessera_sdk::JobState;
use tokio::sync::watch;
use tracing::{info, warn};

use crate::api::AppState;
use crate::store::now_ms;

/// Blob deletions in flight at once.
const PARALLEL_DELETES: usize = 16;
/// Orphan candidates checked against the store (and deleted) per lock of `blob_gc`.
const ORPHAN_BATCH: usize = 256;

/// Every `retention_sweep_ms`: records jobs newly closed on-chain, purges those due.
pub async fn run(state: Arc<AppState>, mut stop: watch::Receiver<bool>) {
    let mut orphans_swept: Option<Instant> = None;
    loop {
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(state.cfg.retention_sweep_ms)) => {}
            _ = stop.changed() => return,
        }
        // One instance on a shared store purges; the others' blob locks do not see it, so
        // leading also keeps the purge within the process whose `blob_gc` it takes.
        if !crate::leads(&state).await {
            continue;
        }
        if let Err(e) = sweep(&state).await {
            warn!(error = %e, "result retention sweep failed");
        }
        let every = Duration::from_millis(state.cfg.orphan_sweep_ms);
        if orphans_swept.is_none_or(|t| t.elapsed() >= every) {
            orphans_swept = Some(Instant::now());
            if let Err(e) = sweep_orphans(&state).await {
                warn!(error = %e, "orphan blob sweep failed");
            }
        }
    }
}

/// Deletes the blobs older than `orphan_grace_ms` that no row references; how many.
/// Each batch is checked and deleted alone against puts that may reuse a blob
/// (`AppState::blob_gc`, `scene_gc`; with a scene upload in flight the rest waits for a
/// later round), so a blob a request is about to reference is never taken. On SQLite the
/// candidates come from one scan of `results` before any lock, and a batch re-checks only
/// the rows committed since (`store::closed_jobs`).
pub async fn sweep_orphans(s: &AppState) -> Result<usize, crate::error::ApiError> {
    let cutoff = now_ms() - s.cfg.orphan_grace_ms;
    let old: Vec<String> = s
        .blobs
        .list()
        .await?
        .into_iter()
        .filter(|m| m.modified_ms <= cutoff)
        .map(|m| m.hash.to_ascii_lowercase())
        .collect();
    let scan = s.store.unreferenced_scan(old).await?;
    let mut deleted = 0;
    for batch in scan.blobs.chunks(ORPHAN_BATCH) {
        let Ok(_scenes) = s.scene_gc.try_write() else {
            break;
        };
        let _tiles = s.blob_gc.write().await;
        let orphans = s
            .store
            .unreferenced_blobs(batch.to_vec(), scan.mark)
            .await?;
        let n = orphans.len();
        futures::stream::iter(orphans)
            .map(|h| async move { s.blobs.delete(&h).await })
            .buffer_unordered(PARALLEL_DELETES)
            .try_collect::<Vec<()>>()
            .await?;
        deleted += n;
        s.metrics
            .blobs_deleted
            .with_label_values(&["orphan"])
            .inc_by(n as u64);
    }
    if deleted > 0 {
        info!(deleted, "orphan blobs deleted");
    }
    Ok(deleted)
}

async fn sweep(s: &AppState) -> Result<(), crate::error::ApiError> {
    for id in s.store.closed_unchecked().await? {
        let closed = match s.chain.job(id).await {
            Ok(job) => {
                job.is_none_or(|j| matches!(j.state, JobState::Settled | JobState::Resolved))
            }
            Err(e) => {
                warn!(job_id = id, error = %e, "reading a finished job failed");
                continue;
            }
        };
        if closed {
            let now = now_ms();
            s.store.mark_closed(id, now).await?;
            info!(
                job_id = id,
                "job closed on-chain; results kept for the retention period"
            );
        }
    }
    let (now, keep) = (now_ms(), s.cfg.result_retention_ms);
    for id in s.store.purge_due(now, keep).await? {
        purge(s, id).await?;
    }
    Ok(())
}

/// Deletes a due job's blobs, then records it purged. Alone against puts that may reuse a
/// blob (`AppState::blob_gc`); a crash in between deletes the rest at the next sweep. On
/// SQLite the long part, the scan of `results`, runs before the lock (submits go on), and
/// under it only the rows committed since are read (`store::closed_jobs`).
async fn purge(s: &AppState, id: u64) -> Result<(), crate::error::ApiError> {
    let scan = s.store.doomed_scan(id).await?;
    let _alone = s.blob_gc.write().await;
    let doomed = s.store.doomed_blobs(id, scan).await?;
    let n = doomed.len();
    futures::stream::iter(doomed)
        .map(|h| async move { s.blobs.delete(&h).await })
        .buffer_unordered(PARALLEL_DELETES)
        .try_collect::<Vec<()>>()
        .await?;
    let now = now_ms();
    s.store.mark_purged(id, now).await?;
    s.metrics
        .blobs_deleted
        .with_label_values(&["result"])
        .inc_by(n as u64);
    info!(job_id = id, blobs = n, "closed job's results deleted");
    Ok(())
}
