//! Queries of the result retention (`crate::retention`): jobs closed on-chain, the
//! blobs of those past retention that no other unpurged job references, and blobs no row
//! references at all (orphans).
//!
//! Blob references are looked up in `results` alone: a tile's `blob` is always the blob of
//! one of its job's result rows (`verify.rs` copies it from the submission it inserts as a
//! result, or from the winning result), and result rows are never deleted (nor their `blob`
//! or `job_id` changed). So `tiles` needs no index by blob (dropped in V9: one b-tree insert
//! at a random place less per accepted tile).
//!
//! On PostgreSQL they are looked up by the `results_blob` index, with `blob_gc` held (so no
//! put that may reuse a blob is between its put and its commit). SQLite has no such index
//! since V10 (one insert less per result row): retention **scans** `results` first, on the
//! read-only connection, without the lock and off the writer ([`doomed_scan`],
//! [`unreferenced_scan`]), noting the highest `results.id` the scan's snapshot holds (its
//! *mark*); then, with `blob_gc` held, re-checks only the rows above the mark, a rowid range
//! ([`doomed_since`], [`unreferenced_since`]). Why the rows above the mark are all that can
//! be missing: one writer connection hands out rowids, one transaction at a time, each above
//! every id in the table, and results are never deleted; so a row the snapshot does not hold
//! (committed after it, or still uncommitted then) got its id after every row it holds, and
//! an id that a rolled-back body had (and that is handed out again) is above the mark too.
//! A PostgreSQL sequence hands out ids in one order and transactions commit them in
//! another, so there a mark could miss a lower id committed late: it keeps the index.
use std::collections::HashSet;

use super::job_state;
use super::queries::all;
use super::sql::{p, row, Sql, V};
use crate::error::StoreError;

/// What a scan found before `blob_gc` was taken: candidate blobs, and the highest
/// `results.id` its snapshot held (`None`: not scanned; look references up by index).
#[derive(Clone, Debug, Default)]
pub struct Scanned {
    pub blobs: Vec<String>,
    pub mark: Option<i64>,
}

/// Jobs whose results were purged: their rows keep the hashes of deleted blobs.
const PURGED: &str = "SELECT job_id FROM job_closed WHERE purged_ms IS NOT NULL";

/// The highest `results.id` (0 in an empty table): the rowid's b-tree end, no scan.
fn mark(c: &mut dyn Sql) -> Result<i64, StoreError> {
    Ok(row(c, "SELECT COALESCE(MAX(id), 0) FROM results", &[])?
        .map(|r| r.get(0))
        .transpose()?
        .unwrap_or(0))
}

fn text(r: &super::sql::Row) -> Option<&str> {
    match r.0.first() {
        Some(V::T(s)) => Some(s),
        _ => None,
    }
}

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

/// The job's blobs that no other unpurged job references, by index (PostgreSQL).
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

/// In one snapshot (SQLite's read connection): the job's blobs that no other unpurged job's
/// result row up to the mark references, by one pass over `results` in rowid order.
pub fn doomed_scan(c: &mut dyn Sql, job_id: u64) -> Result<Scanned, StoreError> {
    let mark = mark(c)?;
    let mine: Vec<String> = all(
        c.rows(
            "SELECT DISTINCT blob FROM results WHERE job_id=?1 AND id<=?2",
            p![job_id, mark],
        )?,
        |r| r.get(0),
    )?;
    let mut left: HashSet<String> = mine.into_iter().collect();
    let sql = format!(
        "SELECT blob FROM results WHERE id<=?2 AND job_id<>?1 AND job_id NOT IN ({PURGED})"
    );
    c.each(&sql, p![job_id, mark], &mut |r| {
        if let Some(b) = text(&r) {
            left.remove(b);
        }
        Ok(())
    })?;
    Ok(Scanned {
        blobs: left.into_iter().collect(),
        mark: Some(mark),
    })
}

/// Under `blob_gc`: those of a [`doomed_scan`]'s `blobs` that no other unpurged job's
/// result row above its `mark` references (the rows committed since the scan).
pub fn doomed_since(
    c: &mut dyn Sql,
    job_id: u64,
    blobs: &[String],
    mark: i64,
) -> Result<Vec<String>, StoreError> {
    let sql = format!(
        "SELECT DISTINCT blob FROM results WHERE id>?2 AND job_id<>?1 AND job_id NOT IN ({PURGED})"
    );
    let newer: HashSet<String> = all(c.rows(&sql, p![job_id, mark])?, |r| r.get(0))?
        .into_iter()
        .collect();
    Ok(blobs
        .iter()
        .filter(|b| !newer.contains(*b))
        .cloned()
        .collect())
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
/// of deleted blobs). By index (PostgreSQL).
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

/// In one snapshot (SQLite's read connection): those of `hashes` that no result row of an
/// unpurged job up to the mark references, by one pass over `results`. Scene rows are not
/// looked at (they are checked under `scene_gc`, by [`unreferenced_since`]).
pub fn unreferenced_scan(c: &mut dyn Sql, hashes: &[String]) -> Result<Scanned, StoreError> {
    let mark = mark(c)?;
    let mut left: HashSet<&str> = hashes.iter().map(String::as_str).collect();
    let sql = format!("SELECT blob FROM results WHERE id<=?1 AND job_id NOT IN ({PURGED})");
    c.each(&sql, p![mark], &mut |r| {
        if let Some(b) = text(&r) {
            left.remove(b);
        }
        Ok(())
    })?;
    Ok(Scanned {
        blobs: hashes
            .iter()
            .filter(|h| left.contains(h.as_str()))
            .cloned()
            .collect(),
        mark: Some(mark),
    })
}

/// Under `blob_gc` and `scene_gc`: those of `hashes` (candidates of an
/// [`unreferenced_scan`] with `mark`) with no scene row and no result row of an unpurged job
/// above the mark. One pass over the rows committed since the scan (a rowid range).
pub fn unreferenced_since(
    c: &mut dyn Sql,
    hashes: &[String],
    mark: i64,
) -> Result<Vec<String>, StoreError> {
    let sql = format!("SELECT DISTINCT blob FROM results WHERE id>?1 AND job_id NOT IN ({PURGED})");
    let newer: HashSet<String> = all(c.rows(&sql, p![mark])?, |r| r.get(0))?
        .into_iter()
        .collect();
    let mut out = Vec::new();
    for h in hashes.iter().filter(|h| !newer.contains(*h)) {
        if row(c, "SELECT 1 FROM scenes WHERE hash=?1", p![h])?.is_none() {
            out.push(h.clone());
        }
    }
    Ok(out)
}
