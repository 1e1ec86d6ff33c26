//! Queries of the receipt reconciliation (`crate::reconcile`): which jobs to compare with
//! the chain next, and what the chain said about each at `finalized`; and the agreed
//! renders a node reconciles its acknowledgements with (`GET /v1/jobs/{id}/checks`).
use super::job_state;
use super::queries::all;
use super::sql::{p, row, Sql};
use crate::error::StoreError;

/// Jobs read from the chain per round.
pub const CHECKS_PER_ROUND: i64 = 64;

/// Chain states after which a job is not read again: its account is gone.
pub const CLOSED: &str = "closed";
pub const REFUNDED: &str = "refunded";

/// (job, store state) of the jobs to compare with the chain, least recently checked first:
/// rendering (is the account still there?), posted (is the receipt still there?) and
/// failed ones, until their account is gone. Ready and posting jobs are the poster's.
pub fn due(c: &mut dyn Sql) -> Result<Vec<(u64, String)>, StoreError> {
    all(
        c.rows(
            "SELECT j.job_id, j.state FROM jobs j LEFT JOIN job_chain c ON c.job_id=j.job_id
             WHERE j.state IN (?1, ?2, ?3)
               AND (c.chain_state IS NULL OR c.chain_state NOT IN (?4, ?5))
             ORDER BY COALESCE(c.checked_ms, 0), j.job_id LIMIT ?6",
            p![
                job_state::RENDERING,
                job_state::POSTED,
                job_state::FAILED,
                CLOSED,
                REFUNDED,
                CHECKS_PER_ROUND
            ],
        )?,
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
}

/// Records what the chain said about a job at `now`.
pub fn mark(c: &mut dyn Sql, job_id: u64, chain_state: &str, now: i64) -> Result<(), StoreError> {
    c.exec(
        "INSERT INTO job_chain(job_id, chain_state, checked_ms) VALUES(?1, ?2, ?3)
         ON CONFLICT(job_id) DO UPDATE SET chain_state=excluded.chain_state, checked_ms=excluded.checked_ms",
        p![job_id, chain_state, now],
    )?;
    Ok(())
}

/// The job's last recorded chain state.
pub fn get(c: &mut dyn Sql, job_id: u64) -> Result<Option<String>, StoreError> {
    row(
        c,
        "SELECT chain_state FROM job_chain WHERE job_id=?1",
        p![job_id],
    )?
    .map(|r| r.get(0))
    .transpose()
}

/// (frame, tile, node, pixel hash) of the job's renders a quorum agreed with.
pub fn agreed(c: &mut dyn Sql, job_id: u64) -> Result<Vec<(u32, u32, String, String)>, StoreError> {
    all(
        c.rows(
            "SELECT frame, tile, node, pixel_hash FROM results WHERE job_id=?1 AND verdict='agreed'
             ORDER BY frame, tile, id",
            p![job_id],
        )?,
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
    )
}
