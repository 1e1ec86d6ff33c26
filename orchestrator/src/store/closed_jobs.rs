//! Queries of the result retention (`crate::retention`): jobs closed on-chain, the
//! blobs of those past retention that no other unpurged job references, and blobs no row
//! references at all (orphans).
//!
//! Blob references are looked up in `results` alone (its `results_blob` index): a tile's
//! `blob` is always the blob of one of its job's result rows (`verify.rs` copies it from
//! the submission it inserts as a result, or from the winning result), and result rows are
//! never deleted. So `tiles` needs no index by blob (dropped in V9: one b-tree insert at a
//! random place less per accepted tile).
use super::job_state;
use super::queries::all;
use super::sql::{p, row, Sql, V};
use crate::error::StoreError;

/// Closed jobs checked against the chain per sweep, and jobs purged per sweep.
pub const CHECKS_PER_SWEEP: i64 = 64;
pub const PURGES_PER_SWEEP: i64 = 8;

fn ids(c: &mut dyn Sql, sql: &str, p: &[V]) -> Result<Vec<u64>, StoreError> {
    all(c.rows(sql, p)?, |r| r.get(0))
}

/// Jobs whose receipt is done (posted or failed) not yet seen closed on-chain.
pub fn unchecked(c: &mut dyn Sql) -> Result<Vec<u64>, StoreError> {
    ids(
        c,
        "SELECT job_id FROM jobs WHERE state IN (?1, ?2)
         AND job_id NOT IN (SELECT job_id FROM job_closed) ORDER BY job_id LIMIT ?3",
        p![job_state::POSTED, job_state::FAILED, CHECKS_PER_SWEEP],
    )
}

pub fn mark_closed(c: &mut dyn Sql, job_id: u64, now: i64) -> Result<(), StoreError> {
    c.exec(
        "INSERT INTO job_closed(job_id, closed_ms) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
        p![job_id, now],
    )?;
    Ok(())
}

/// Closed jobs past their retention, not purged yet.
pub fn due(c: &mut dyn Sql, now: i64, retention_ms: i64) -> Result<Vec<u64>, StoreError> {
    ids(
        c,
        "SELECT job_id FROM job_closed WHERE purged_ms IS NULL AND closed_ms + ?1 <= ?2
         ORDER BY closed_ms LIMIT ?3",
        p![retention_ms, now, PURGES_PER_SWEEP],
    )
}

/// The job's blobs that no other unpurged job references.
pub fn doomed_blobs(c: &mut dyn Sql, job_id: u64) -> Result<Vec<String>, StoreError> {
    const ELSEWHERE: &str = "job_id <> ?1 AND job_id NOT IN
        (SELECT job_id FROM job_closed WHERE purged_ms IS NOT NULL)";
    let sql = format!(
        "WITH mine(blob) AS (SELECT DISTINCT blob FROM results WHERE job_id=?1)
         SELECT blob FROM mine
         WHERE NOT EXISTS (SELECT 1 FROM results WHERE results.blob=mine.blob AND {ELSEWHERE})"
    );
    all(c.rows(&sql, p![job_id])?, |r| r.get(0))
}

pub fn mark_purged(c: &mut dyn Sql, job_id: u64, now: i64) -> Result<(), StoreError> {
    c.exec(
        "UPDATE job_closed SET purged_ms=?2 WHERE job_id=?1",
        p![job_id, now],
    )?;
    Ok(())
}

/// Those of `hashes` that no row references: no scene row, and no result row (so no tile
/// row either) of a job whose results were not purged (a purged job's rows keep the hashes
/// of deleted blobs).
pub fn unreferenced(c: &mut dyn Sql, hashes: &[String]) -> Result<Vec<String>, StoreError> {
    const LIVE: &str = "job_id NOT IN (SELECT job_id FROM job_closed WHERE purged_ms IS NOT NULL)";
    let sql = format!(
        "SELECT CASE WHEN EXISTS (SELECT 1 FROM scenes WHERE hash=?1)
           OR EXISTS (SELECT 1 FROM results WHERE blob=?1 AND {LIVE}) THEN 1 ELSE 0 END"
    );
    let mut out = Vec::new();
    for h in hashes {
        let used: Option<bool> = match row(c, &sql, p![h])? {
            Some(r) => Some(r.get(0)?),
            None => None,
        };
        if used == Some(false) {
            out.push(h.clone());
        }
    }
    Ok(out)
}
