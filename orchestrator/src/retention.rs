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
use std::sync::Arc;
use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use rusqlite::{params, Connection, OptionalExtension};
use tessera_sdk::JobState;
use tokio::sync::watch;
use tracing::{info, warn};

use crate::api::AppState;
use crate::error::StoreError;
use crate::store::{job_state, now_ms};

/// Closed jobs checked against the chain per sweep, and jobs purged per sweep.
const CHECKS_PER_SWEEP: usize = 64;
const PURGES_PER_SWEEP: usize = 8;
/// Blob deletions in flight at once.
const PARALLEL_DELETES: usize = 16;

pub fn init(c: &Connection) -> Result<(), StoreError> {
    c.execute_batch(
        "CREATE TABLE IF NOT EXISTS job_closed(job_id INTEGER PRIMARY KEY,
           closed_ms INTEGER NOT NULL, purged_ms INTEGER);
         CREATE INDEX IF NOT EXISTS tiles_blob ON tiles(blob) WHERE blob IS NOT NULL;
         CREATE INDEX IF NOT EXISTS results_blob ON results(blob);",
    )?;
    Ok(())
}

/// Jobs whose receipt is done (posted or failed) not yet seen closed on-chain.
fn unchecked(c: &Connection) -> Result<Vec<u64>, StoreError> {
    let ids = c
        .prepare_cached(
            "SELECT job_id FROM jobs WHERE state IN (?1, ?2)
             AND job_id NOT IN (SELECT job_id FROM job_closed) ORDER BY job_id LIMIT ?3",
        )?
        .query_map(
            params![
                job_state::POSTED,
                job_state::FAILED,
                CHECKS_PER_SWEEP as i64
            ],
            |r| r.get::<_, i64>(0),
        )?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(ids.into_iter().map(|i| i as u64).collect())
}

fn mark_closed(c: &Connection, job_id: u64, now: i64) -> Result<(), StoreError> {
    c.prepare_cached("INSERT OR IGNORE INTO job_closed(job_id, closed_ms) VALUES (?1, ?2)")?
        .execute(params![job_id as i64, now])?;
    Ok(())
}

/// Closed jobs past their retention, not purged yet.
fn due(c: &Connection, now: i64, retention_ms: i64) -> Result<Vec<u64>, StoreError> {
    let ids = c
        .prepare_cached(
            "SELECT job_id FROM job_closed WHERE purged_ms IS NULL AND closed_ms + ?1 <= ?2
             ORDER BY closed_ms LIMIT ?3",
        )?
        .query_map(params![retention_ms, now, PURGES_PER_SWEEP as i64], |r| {
            r.get::<_, i64>(0)
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(ids.into_iter().map(|i| i as u64).collect())
}

/// The job's blobs that no other unpurged job references.
fn doomed_blobs(c: &Connection, job_id: u64) -> Result<Vec<String>, StoreError> {
    const ELSEWHERE: &str = "job_id <> ?1 AND job_id NOT IN
        (SELECT job_id FROM job_closed WHERE purged_ms IS NOT NULL)";
    let sql = format!(
        "WITH mine(blob) AS (SELECT blob FROM tiles WHERE job_id=?1 AND blob IS NOT NULL
                             UNION SELECT blob FROM results WHERE job_id=?1)
         SELECT blob FROM mine
         WHERE NOT EXISTS (SELECT 1 FROM tiles WHERE tiles.blob=mine.blob AND {ELSEWHERE})
           AND NOT EXISTS (SELECT 1 FROM results WHERE results.blob=mine.blob AND {ELSEWHERE})"
    );
    Ok(c.prepare(&sql)?
        .query_map([job_id as i64], |r| r.get(0))?
        .collect::<Result<_, _>>()?)
}

fn mark_purged(c: &Connection, job_id: u64, now: i64) -> Result<(), StoreError> {
    c.prepare_cached("UPDATE job_closed SET purged_ms=?2 WHERE job_id=?1")?
        .execute(params![job_id as i64, now])?;
    Ok(())
}

/// Whether a job's results were purged (tests, audits).
pub fn purged(c: &Connection, job_id: u64) -> Result<bool, StoreError> {
    Ok(
        c.prepare_cached("SELECT purged_ms FROM job_closed WHERE job_id=?1")?
            .query_row([job_id as i64], |r| r.get::<_, Option<i64>>(0))
            .optional()?
            .flatten()
            .is_some(),
    )
}

/// Every `retention_sweep_ms`: records jobs newly closed on-chain, purges those due.
pub async fn run(state: Arc<AppState>, mut stop: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(state.cfg.retention_sweep_ms)) => {}
            _ = stop.changed() => return,
        }
        if let Err(e) = sweep(&state).await {
            warn!(error = %e, "result retention sweep failed");
        }
    }
}

async fn sweep(s: &AppState) -> Result<(), crate::error::ApiError> {
    for id in s.store.tx(|tx| unchecked(tx)).await? {
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
            s.store.tx(move |tx| mark_closed(tx, id, now)).await?;
            info!(
                job_id = id,
                "job closed on-chain; results kept for the retention period"
            );
        }
    }
    let (now, keep) = (now_ms(), s.cfg.result_retention_ms);
    for id in s.store.tx(move |tx| due(tx, now, keep)).await? {
        purge(s, id).await?;
    }
    Ok(())
}

/// Deletes a due job's blobs, then records it purged. Alone against puts that may reuse a
/// blob (`AppState::blob_gc`); a crash in between deletes the rest at the next sweep.
async fn purge(s: &AppState, id: u64) -> Result<(), crate::error::ApiError> {
    let _alone = s.blob_gc.write().await;
    let doomed = s.store.tx(move |tx| doomed_blobs(tx, id)).await?;
    let n = doomed.len();
    futures::stream::iter(doomed)
        .map(|h| async move { s.blobs.delete(&h).await })
        .buffer_unordered(PARALLEL_DELETES)
        .try_collect::<Vec<()>>()
        .await?;
    let now = now_ms();
    s.store.tx(move |tx| mark_purged(tx, id, now)).await?;
    s.metrics
        .blobs_deleted
        .with_label_values(&["result"])
        .inc_by(n as u64);
    info!(job_id = id, blobs = n, "closed job's results deleted");
    Ok(())
}
