//! Redundant verification: which tiles are rendered twice, how two renders are compared,
//! and what happens to a node whose pixels are wrong.
//!
//! * Sampling: each primary render is re-rendered by a different node with probability
//!   `verify_share` (default 5%), or `new_node_share` (default 25%) while the node is new
//!   (< `NEW_NODE_TILES` verified checks) or its reputation is below `LOW_REPUTATION`.
//!   The draw is `blake3(salt ‖ job ‖ frame ‖ tile ‖ node)`, salt secret to the orchestrator.
//! * Comparison: equal pixel hashes agree. Otherwise both PNGs are decoded and compared by
//!   PSNR over RGB; `PSNR ≥ min_psnr_db` (default 35 dB, i.e. RMS error ≤ ~4.5 of 255 levels)
//!   agrees (different GPUs do not give identical bytes). Below it is inconclusive and a
//!   third node renders the tile; the render that disagrees with the other two is faulty.
//! * A fault: the node's reputation drops, it is banned from the job, every other tile of
//!   the job it rendered goes back to the queue, and the evidence (hashes, blobs, PSNR) is kept.
use crate::store::sql::{p, Sql};
use serde_json::json;

use crate::error::StoreError;
use crate::store::{self, now_ms, tile_state as ts, ResultRow, TileRow};

pub const NEW_NODE_TILES: i64 = 10;
pub const LOW_REPUTATION: f64 = 0.7;

/// The share of a node's tiles to check.
pub fn share_for(base: f64, new_node_share: f64, reputation: f64, verified: i64) -> f64 {
    if verified < NEW_NODE_TILES || reputation < LOW_REPUTATION {
        base.max(new_node_share)
    } else {
        base
    }
}

/// Whether this primary render is drawn for a check.
pub fn sampled(
    salt: &[u8; 32],
    job_key: &str,
    frame: u32,
    tile: u32,
    node: &str,
    share: f64,
) -> bool {
    if share <= 0.0 {
        return false;
    }
    if share >= 1.0 {
        return true;
    }
    let mut h = blake3::Hasher::new();
    h.update(salt);
    h.update(job_key.as_bytes());
    h.update(&frame.to_le_bytes());
    h.update(&tile.to_le_bytes());
    h.update(node.as_bytes());
    let x = u64::from_le_bytes(h.finalize().as_bytes()[..8].try_into().expect("8 bytes"));
    (x as f64 / u64::MAX as f64) < share
}

/// How two renders compare.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Comparison {
    pub agree: bool,
    /// `None` when the hashes were equal (no decoding needed).
    pub psnr_db: Option<f64>,
}

/// Compares two renders by hash, then by PSNR of their decoded pixels.
pub fn compare(
    hash_a: &str,
    rgba_a: &[u8],
    hash_b: &str,
    rgba_b: &[u8],
    min_psnr_db: f64,
) -> Comparison {
    if hash_a == hash_b {
        return Comparison {
            agree: true,
            psnr_db: None,
        };
    }
    let p = crate::imaging::psnr(rgba_a, rgba_b);
    Comparison {
        agree: p >= min_psnr_db,
        psnr_db: Some(if p.is_finite() { p } else { 999.0 }),
    }
}

/// A verified submission, about to be written.
pub struct Submission {
    pub node: String,
    pub pixel_hash: String,
    pub signature: String,
    pub blob: String,
}

/// What a submission did to its tile.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// Accepted without a check.
    Accepted,
    /// Waits for a second render by another node.
    AwaitingCheck,
    /// Two renders agreed.
    Verified,
    /// Two renders disagreed: a third node will render it.
    AwaitingTiebreak,
    /// A tiebreak settled it; `faulty` lost the vote.
    Resolved { faulty: String },
    /// No two renders agreed: the tile starts over.
    Inconclusive,
}

fn set_verified(tx: &mut dyn Sql, t: &TileRow, winner: &ResultRow) -> Result<(), StoreError> {
    tx.exec("UPDATE tiles SET state='verified', need='none', node=?4, pixel_hash=?5, signature=?6, blob=?7,
           lease_id=NULL, lease_node=NULL, lease_deadline=NULL, done_ms=?8
         WHERE job_id=?1 AND frame=?2 AND tile=?3",
        p![t.job_id, t.frame, t.tile, &winner.node, &winner.pixel_hash, &winner.signature, &winner.blob, now_ms()],
    )?;
    Ok(())
}

fn set_verdict(tx: &mut dyn Sql, id: i64, verdict: &str) -> Result<(), StoreError> {
    tx.exec("UPDATE results SET verdict=?2 WHERE id=?1", p![id, verdict])?;
    Ok(())
}

fn insert_result(
    tx: &mut dyn Sql,
    t: &TileRow,
    s: &Submission,
    role: &str,
    verdict: &str,
) -> Result<ResultRow, StoreError> {
    // `lease_id` is unique: one lease yields one result, whichever instance receives it.
    let id = tx.insert_id(
        "INSERT INTO results(job_id, frame, tile, node, role, pixel_hash, signature, blob, submitted_ms, verdict, lease_id)
         VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11)",
        p![t.job_id, t.frame, t.tile, &s.node, role, &s.pixel_hash, &s.signature, &s.blob, now_ms(), verdict, t.lease_id],
    )?;
    Ok(ResultRow {
        id,
        node: s.node.clone(),
        role: role.into(),
        pixel_hash: s.pixel_hash.clone(),
        signature: s.signature.clone(),
        blob: s.blob.clone(),
        verdict: verdict.into(),
    })
}

/// Marks `faulty` as having delivered wrong pixels in this job: evidence, reputation,
/// ban from the job, and every other tile it rendered in the job re-queued.
/// Returns the re-queued tiles.
pub fn record_fault(
    tx: &mut dyn Sql,
    t: &TileRow,
    faulty: &str,
    detail: serde_json::Value,
) -> Result<Vec<(u32, u32)>, StoreError> {
    tx.exec("INSERT INTO evidence(job_id, frame, tile, node, created_ms, detail) VALUES(?1,?2,?3,?4,?5,?6)",
        p![t.job_id, t.frame, t.tile, faulty, now_ms(), detail.to_string()],
    )?;
    store::node_adjust(tx, faulty, -0.3, 0, 1, 0)?;
    tx.exec(
        "INSERT INTO job_bans(job_id, node_key) VALUES(?1, ?2) ON CONFLICT DO NOTHING",
        p![t.job_id, faulty],
    )?;
    let redo: Vec<(u32, u32)> = tx
        .rows(
            "SELECT frame, tile FROM tiles WHERE job_id=?1 AND node=?2 AND NOT (frame=?3 AND tile=?4)",
            p![t.job_id, faulty, t.frame, t.tile],
        )?
        .iter()
        .map(|r| Ok((r.get(0)?, r.get(1)?)))
        .collect::<Result<_, StoreError>>()?;
    for (frame, tile) in &redo {
        tx.exec("UPDATE results SET verdict='superseded' WHERE job_id=?1 AND frame=?2 AND tile=?3 AND verdict!='faulty'",
            p![t.job_id, *frame, *tile],
        )?;
        tx.exec("UPDATE tiles SET state='queued', need='primary', node=NULL, pixel_hash=NULL, signature=NULL,
               blob=NULL, lease_id=NULL, lease_node=NULL, lease_deadline=NULL, done_ms=NULL,
               failures=failures+1
             WHERE job_id=?1 AND frame=?2 AND tile=?3",
            p![t.job_id, *frame, *tile],
        )?;
    }
    // Leases the faulty node still holds in this job go back to the queue.
    tx.exec(
        "UPDATE tiles SET lease_id=NULL, lease_node=NULL, lease_deadline=NULL,
           state=CASE need WHEN 'primary' THEN 'queued' ELSE 'rendered' END
         WHERE job_id=?1 AND lease_node=?2",
        p![t.job_id, faulty],
    )?;
    Ok(redo)
}

/// Inputs the state machine needs beyond the database.
pub struct Decision<'a> {
    pub salt: &'a [u8; 32],
    pub job_key: &'a str,
    pub base_share: f64,
    pub new_node_share: f64,
    pub min_psnr_db: f64,
    /// Decoded RGBA of the submission and of the earlier pending renders (by result id).
    pub rgba: &'a [u8],
    pub pending_rgba: &'a [(i64, Vec<u8>)],
}

/// Applies one hash-checked submission to its tile (inside the caller's transaction).
/// `t` is the tile as it is now (its lease already checked); `pending` its pending results.
pub fn apply(
    tx: &mut dyn Sql,
    t: &TileRow,
    pending: &[ResultRow],
    s: &Submission,
    d: &Decision,
) -> Result<(Outcome, Vec<(u32, u32)>), StoreError> {
    let rgba_of = |id: i64| {
        d.pending_rgba
            .iter()
            .find(|(i, _)| *i == id)
            .map(|(_, v)| v.as_slice())
            .unwrap_or(&[])
    };
    match t.need.as_str() {
        ts::NEED_PRIMARY => {
            let (rep, verified) = store::node_standing(tx, &s.node)?;
            let share = share_for(d.base_share, d.new_node_share, rep, verified);
            store::node_adjust(tx, &s.node, 0.01, 0, 0, 1)?;
            if sampled(d.salt, d.job_key, t.frame, t.tile, &s.node, share) {
                insert_result(tx, t, s, "primary", "pending")?;
                tx.exec("UPDATE tiles SET state='rendered', need='check', node=?4, pixel_hash=?5, signature=?6, blob=?7,
                       lease_id=NULL, lease_node=NULL, lease_deadline=NULL
                     WHERE job_id=?1 AND frame=?2 AND tile=?3",
                    p![t.job_id, t.frame, t.tile, &s.node, &s.pixel_hash, &s.signature, &s.blob],
                )?;
                Ok((Outcome::AwaitingCheck, vec![]))
            } else {
                let r = insert_result(tx, t, s, "primary", "accepted")?;
                set_verified(tx, t, &r)?;
                Ok((Outcome::Accepted, vec![]))
            }
        }
        ts::NEED_CHECK => {
            let primary = pending
                .iter()
                .find(|r| r.role == "primary")
                .ok_or_else(|| StoreError::Corrupt("check without a pending primary".into()))?;
            let c = compare(
                &primary.pixel_hash,
                rgba_of(primary.id),
                &s.pixel_hash,
                d.rgba,
                d.min_psnr_db,
            );
            if c.agree {
                let r = insert_result(tx, t, s, "check", "agreed")?;
                set_verdict(tx, primary.id, "agreed")?;
                set_verified(tx, t, primary)?;
                store::node_adjust(tx, &primary.node, 0.05, 1, 0, 0)?;
                store::node_adjust(tx, &r.node, 0.05, 1, 0, 1)?;
                Ok((Outcome::Verified, vec![]))
            } else {
                insert_result(tx, t, s, "check", "pending")?;
                tx.exec("UPDATE tiles SET state='rendered', need='tiebreak', lease_id=NULL, lease_node=NULL, lease_deadline=NULL
                     WHERE job_id=?1 AND frame=?2 AND tile=?3",
                    p![t.job_id, t.frame, t.tile],
                )?;
                Ok((Outcome::AwaitingTiebreak, vec![]))
            }
        }
        ts::NEED_TIEBREAK => {
            let p = pending.iter().find(|r| r.role == "primary");
            let c = pending.iter().find(|r| r.role == "check");
            let (Some(p), Some(c)) = (p, c) else {
                return Err(StoreError::Corrupt(
                    "tiebreak without two pending renders".into(),
                ));
            };
            let tp = compare(
                &p.pixel_hash,
                rgba_of(p.id),
                &s.pixel_hash,
                d.rgba,
                d.min_psnr_db,
            );
            let tc = compare(
                &c.pixel_hash,
                rgba_of(c.id),
                &s.pixel_hash,
                d.rgba,
                d.min_psnr_db,
            );
            let pc = compare(
                &p.pixel_hash,
                rgba_of(p.id),
                &c.pixel_hash,
                rgba_of(c.id),
                d.min_psnr_db,
            );
            let r = insert_result(tx, t, s, "tiebreak", "agreed")?;
            let detail = |faulty: &ResultRow| {
                json!({
                    "renders": [
                        {"node": p.node, "role": "primary", "pixel_hash": p.pixel_hash, "blob": p.blob, "signature": p.signature},
                        {"node": c.node, "role": "check", "pixel_hash": c.pixel_hash, "blob": c.blob, "signature": c.signature},
                        {"node": r.node, "role": "tiebreak", "pixel_hash": r.pixel_hash, "blob": r.blob, "signature": r.signature},
                    ],
                    "psnr_db": {"primary_check": pc.psnr_db, "primary_tiebreak": tp.psnr_db, "check_tiebreak": tc.psnr_db},
                    "threshold_db": d.min_psnr_db,
                    "faulty": faulty.node,
                })
            };
            if tp.agree {
                set_verdict(tx, p.id, "agreed")?;
                set_verdict(tx, c.id, "faulty")?;
                set_verified(tx, t, p)?;
                store::node_adjust(tx, &p.node, 0.05, 1, 0, 0)?;
                store::node_adjust(tx, &r.node, 0.05, 1, 0, 1)?;
                let redo = record_fault(tx, t, &c.node, detail(c))?;
                Ok((
                    Outcome::Resolved {
                        faulty: c.node.clone(),
                    },
                    redo,
                ))
            } else if tc.agree {
                set_verdict(tx, c.id, "agreed")?;
                set_verdict(tx, p.id, "faulty")?;
                set_verified(tx, t, c)?;
                store::node_adjust(tx, &c.node, 0.05, 1, 0, 0)?;
                store::node_adjust(tx, &r.node, 0.05, 1, 0, 1)?;
                let redo = record_fault(tx, t, &p.node, detail(p))?;
                Ok((
                    Outcome::Resolved {
                        faulty: p.node.clone(),
                    },
                    redo,
                ))
            } else {
                for id in [p.id, c.id, r.id] {
                    set_verdict(tx, id, "inconclusive")?;
                }
                tx.exec("INSERT INTO evidence(job_id, frame, tile, node, created_ms, detail) VALUES(?1,?2,?3,'',?4,?5)",
                    p![t.job_id, t.frame, t.tile, now_ms(), detail(&r).to_string()],
                )?;
                tx.exec("UPDATE tiles SET state='queued', need='primary', node=NULL, pixel_hash=NULL, signature=NULL, blob=NULL,
                       lease_id=NULL, lease_node=NULL, lease_deadline=NULL, failures=failures+1
                     WHERE job_id=?1 AND frame=?2 AND tile=?3",
                    p![t.job_id, t.frame, t.tile],
                )?;
                Ok((Outcome::Inconclusive, vec![]))
            }
        }
        other => Err(StoreError::Corrupt(format!("tile needs {other:?}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sampling_rate_is_close_to_the_share() {
        let salt = [9u8; 32];
        let hits = (0..10_000u32)
            .filter(|i| sampled(&salt, "job", 1, *i, "node", 0.05))
            .count();
        assert!((400..600).contains(&hits), "{hits}");
        assert_eq!(share_for(0.05, 0.25, 0.5, 0), 0.25);
        assert_eq!(share_for(0.05, 0.25, 0.9, 50), 0.05);
    }
}
