//! The in-memory scheduler of the embedded SQLite store (one process owns the file).
//!
//! The running jobs' pickable tiles (queued, and rendered ones waiting for a check or a
//! tiebreak with the nodes and operators that rendered them), the jobs' fair-share rows,
//! their bans, every live lease (holder, deadline) and the per-node lease counts live here,
//! loaded from the store on first use. A lease is picked from memory instead of by ~10
//! queries; what it writes (the lease row, the tile, the job's pass, the replay record) is
//! still written in the writer's group commit before the answer, so memory never holds
//! anything the store does not. Memory is a hint the store checks: a tile is claimed with
//! `UPDATE … WHERE` it is still free in the state memory thinks, a submit re-reads its
//! lease's tile, and anything unexpected (a claim that misses, a fault, a body that fails,
//! a job whose state changes) reloads the job or everything from the store, the source
//! of truth. Every method runs on the writer thread, inside the caller's transaction.
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use super::sql::{p, Row, Sql};
use super::{job_state, tile_state as ts, JobRow, TileRow};
use crate::error::StoreError;
use crate::scheduler::{self, Grant, LeasePolicy, Verifies};
use crate::verify::Outcome;

/// A rendered tile, not leased, waiting for its check or tiebreak.
struct Second {
    need: &'static str,
    /// Its place in the lease line (`tiles.pick_key`).
    key: i64,
    /// When it began waiting (`tiles.wait_ms`): a node that is no witness of the job may
    /// take it only `witness_wait_ms` later.
    wait_ms: i64,
    /// (node, operator) of the renders that count in this round: none of them may vote again.
    voters: Vec<(String, String)>,
}

/// A running job's schedule.
struct Job {
    row: JobRow,
    /// (pick_key, frame, tile) of the queued tiles: first in line first.
    queued: BTreeSet<(i64, u32, u32)>,
    second: BTreeMap<(u32, u32), Second>,
    banned: HashSet<String>,
}

/// A live lease.
struct Held {
    job_id: u64,
    frame: u32,
    tile: u32,
    node: String,
    need: &'static str,
    deadline: i64,
    /// The tile's `pick_key` and `wait_ms`, for when it is released.
    key: i64,
    wait_ms: i64,
}

/// See the module documentation.
#[derive(Default)]
pub struct MemSched {
    loaded: bool,
    jobs: BTreeMap<u64, Job>,
    leases: HashMap<i64, Held>,
    by_tile: HashMap<(u64, u32, u32), i64>,
    deadlines: BTreeSet<(i64, i64)>,
    per_node: HashMap<String, HashMap<u64, u32>>,
    /// (node → scenes) it is known to hold (`node_scenes` only grows).
    scenes: HashMap<String, HashSet<String>>,
}

fn need_of(s: &str) -> Result<&'static str, StoreError> {
    [
        ts::NEED_PRIMARY,
        ts::NEED_CHECK,
        ts::NEED_TIEBREAK,
        ts::NEED_NONE,
    ]
    .into_iter()
    .find(|n| *n == s)
    .ok_or_else(|| StoreError::Corrupt(format!("tile need {s:?}")))
}

/// The renders of a tile that vote in its round (as `scheduler::pick_tile` excludes them).
fn voters(
    tx: &mut dyn Sql,
    job: u64,
    frame: u32,
    tile: u32,
) -> Result<Vec<(String, String)>, StoreError> {
    tx.rows(
        "SELECT node, COALESCE(operator, node) FROM results WHERE job_id=?1 AND frame=?2 AND tile=?3
           AND verdict IN ('pending','agreed','accepted')",
        p![job, frame, tile],
    )?
    .iter()
    .map(|r| Ok((r.get(0)?, r.get(1)?)))
    .collect()
}

fn load_job(tx: &mut dyn Sql, row: JobRow) -> Result<Job, StoreError> {
    let id = row.job_id;
    let pair = |r: &Row| -> Result<(u32, u32), StoreError> { Ok((r.get(0)?, r.get(1)?)) };
    let queued = tx
        .rows(
            "SELECT pick_key, frame, tile FROM tiles WHERE job_id=?1 AND state='queued' AND need='primary'",
            p![id],
        )?
        .iter()
        .map(|r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .collect::<Result<_, StoreError>>()?;
    let mut second = BTreeMap::new();
    // Tiles whose second render is stored and waiting for its comparison are not pickable.
    for r in tx.rows(
        "SELECT frame, tile, need, pick_key, COALESCE(wait_ms, 0) FROM tiles WHERE job_id=?1
           AND state='rendered' AND need IN ('check', 'tiebreak') AND lease_id IS NULL",
        p![id],
    )? {
        let need = need_of(&r.get::<String>(2)?)?;
        let (voters, key, wait_ms) = (Vec::new(), r.get(3)?, r.get(4)?);
        let s = Second {
            need,
            key,
            wait_ms,
            voters,
        };
        second.insert(pair(&r)?, s);
    }
    for r in tx.rows(
        "SELECT r.frame, r.tile, r.node, COALESCE(r.operator, r.node) FROM results r
           JOIN tiles t ON t.job_id=r.job_id AND t.frame=r.frame AND t.tile=r.tile
         WHERE t.job_id=?1 AND t.state='rendered' AND t.need IN ('check', 'tiebreak')
           AND t.lease_id IS NULL
           AND r.verdict IN ('pending','agreed','accepted')",
        p![id],
    )? {
        if let Some(s) = second.get_mut(&pair(&r)?) {
            s.voters.push((r.get(2)?, r.get(3)?));
        }
    }
    let banned = tx
        .rows("SELECT node_key FROM job_bans WHERE job_id=?1", p![id])?
        .iter()
        .map(|r| r.get(0))
        .collect::<Result<_, _>>()?;
    Ok(Job {
        row,
        queued,
        second,
        banned,
    })
}

const LEASES: &str =
    "SELECT job_id, frame, tile, need, lease_id, lease_node, lease_deadline, pick_key, COALESCE(wait_ms, 0)
     FROM tiles WHERE lease_id IS NOT NULL";

impl MemSched {
    /// Forgets everything: the next use reloads from the store.
    pub fn invalidate(&mut self) {
        self.loaded = false;
    }

    fn ensure(&mut self, tx: &mut dyn Sql) -> Result<(), StoreError> {
        if self.loaded {
            return Ok(());
        }
        self.jobs.clear();
        self.leases.clear();
        self.by_tile.clear();
        self.deadlines.clear();
        self.per_node.clear();
        for row in super::jobs_in_state(tx, job_state::RENDERING)? {
            let id = row.job_id;
            self.jobs.insert(id, load_job(tx, row)?);
        }
        let rows = tx.rows(LEASES, &[])?;
        self.add_leases(&rows)?;
        self.loaded = true;
        Ok(())
    }

    fn add_leases(&mut self, rows: &[Row]) -> Result<(), StoreError> {
        for r in rows {
            let held = Held {
                job_id: r.get(0)?,
                frame: r.get(1)?,
                tile: r.get(2)?,
                need: need_of(&r.get::<String>(3)?)?,
                node: r.get(5)?,
                deadline: r.get(6)?,
                key: r.get(7)?,
                wait_ms: r.get(8)?,
            };
            self.add_lease(r.get(4)?, held);
        }
        Ok(())
    }

    fn add_lease(&mut self, id: i64, h: Held) {
        self.by_tile.insert((h.job_id, h.frame, h.tile), id);
        self.deadlines.insert((h.deadline, id));
        *self
            .per_node
            .entry(h.node.clone())
            .or_default()
            .entry(h.job_id)
            .or_default() += 1;
        self.leases.insert(id, h);
    }

    fn remove_lease(&mut self, id: i64) -> Option<Held> {
        let h = self.leases.remove(&id)?;
        self.by_tile.remove(&(h.job_id, h.frame, h.tile));
        self.deadlines.remove(&(h.deadline, id));
        if let Some(jobs) = self.per_node.get_mut(&h.node) {
            if let Some(n) = jobs.get_mut(&h.job_id) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    jobs.remove(&h.job_id);
                }
            }
            if jobs.is_empty() {
                self.per_node.remove(&h.node);
            }
        }
        Some(h)
    }

    /// Reads one job again (its tiles, bans and leases) after memory missed the store.
    fn reload_job(&mut self, tx: &mut dyn Sql, id: u64) -> Result<(), StoreError> {
        let ids: Vec<i64> = self
            .leases
            .iter()
            .filter(|(_, h)| h.job_id == id)
            .map(|(l, _)| *l)
            .collect();
        for l in ids {
            self.remove_lease(l);
        }
        self.jobs.remove(&id);
        if let Some(row) = super::job_get(tx, id)? {
            if row.state == job_state::RENDERING {
                self.jobs.insert(id, load_job(tx, row)?);
            }
        }
        let rows = tx.rows(&format!("{LEASES} AND job_id=?1"), p![id])?;
        self.add_leases(&rows)
    }

    fn holds_scene(
        &mut self,
        tx: &mut dyn Sql,
        node: &str,
        scene: &str,
    ) -> Result<bool, StoreError> {
        if self.scenes.get(node).is_some_and(|s| s.contains(scene)) {
            return Ok(true);
        }
        let holds = super::node_holds_scene(tx, node, scene)?;
        if holds {
            self.scenes
                .entry(node.to_string())
                .or_default()
                .insert(scene.to_string());
        }
        Ok(holds)
    }

    /// Grants `node` the best lease within its caps: `scheduler::lease` from memory.
    #[allow(clippy::too_many_arguments)] // `scheduler::lease`'s parameters and `self`
    pub fn lease(
        &mut self,
        tx: &mut dyn Sql,
        node: &str,
        operator: &str,
        benchmark_score: u64,
        now: i64,
        policy: LeasePolicy,
        verifies: &Verifies,
    ) -> Result<Grant, StoreError> {
        self.expire(tx, now)?;
        let held = self.per_node.get(node);
        let held_in = |job: u64| held.and_then(|h| h.get(&job)).copied().unwrap_or(0);
        let total: u32 = held.map_or(0, |h| h.values().sum());
        if let Some(refused) = scheduler::at_node_cap(total, policy) {
            return Ok(refused);
        }
        let mut capped = false;
        let mut open = Vec::new();
        for (id, job) in &self.jobs {
            // Past its deadline the chain refuses the receipt: rendering more is waste.
            if job.row.deadline.saturating_mul(1000) < now || job.banned.contains(node) {
                continue;
            }
            if held_in(*id) >= policy.max_per_node_per_job {
                capped = true;
                continue;
            }
            open.push(*id);
        }
        let mut candidates = Vec::with_capacity(open.len());
        for id in open {
            let scene = self.jobs[&id].row.scene_hash.clone();
            let holds = self.holds_scene(tx, node, &scene)?;
            let key = scheduler::share_key(&self.jobs[&id].row, now, holds, benchmark_score);
            let witness = verifies.job(&self.jobs[&id].row);
            let since = scheduler::waited_since(witness, now, policy);
            candidates.push((key, id, holds, since));
        }
        // Best share first (a stable sort keeps ties in job order).
        candidates.sort_by(|a, b| a.0.total_cmp(&b.0));
        for (_, id, holds, since) in candidates {
            // A claim that misses means memory was behind the store: reload the job, pick again.
            for _ in 0..3 {
                let Some((key, frame, tile, need, wait_ms)) = self.pick(id, node, operator, since)
                else {
                    break;
                };
                let claim = Claim {
                    job: id,
                    frame,
                    tile,
                    need,
                    holds,
                    key,
                    wait_ms,
                };
                match self.claim(tx, claim, node, now, policy)? {
                    Some(lease) => return Ok(Grant::Lease(lease)),
                    None => self.reload_job(tx, id)?,
                }
            }
        }
        Ok(scheduler::nothing(capped, policy))
    }

    /// The smallest (pick_key, frame, tile) of the queued tiles and of the tiles waiting
    /// for a check or tiebreak since `since` or before (`scheduler::waited_since`) that
    /// this node may give (never a node or operator that already voted), with its
    /// `wait_ms`: `scheduler::pick_tile`'s order.
    fn pick(
        &self,
        id: u64,
        node: &str,
        operator: &str,
        since: i64,
    ) -> Option<(i64, u32, u32, &'static str, i64)> {
        let job = self.jobs.get(&id)?;
        let second = job
            .second
            .iter()
            .filter(|(_, s)| s.wait_ms <= since)
            .filter(|(_, s)| !s.voters.iter().any(|(n, o)| n == node || o == operator))
            .map(|(&(f, t), s)| (s.key, f, t, s.need, s.wait_ms));
        let queued = job
            .queued
            .first()
            .map(|&(k, f, t)| (k, f, t, ts::NEED_PRIMARY, 0));
        second.chain(queued).min_by_key(|&(k, f, t, ..)| (k, f, t))
    }

    /// Writes the lease if the tile is still free in the store; None when it is not.
    fn claim(
        &mut self,
        tx: &mut dyn Sql,
        c: Claim,
        node: &str,
        now: i64,
        policy: LeasePolicy,
    ) -> Result<Option<scheduler::Lease>, StoreError> {
        let state = if c.need == ts::NEED_PRIMARY {
            ts::QUEUED
        } else {
            ts::RENDERED
        };
        let lease_id = tx.insert_id(
            "INSERT INTO leases(job_id, frame, tile, node, role, issued_ms) VALUES(?1,?2,?3,?4,?5,?6)",
            p![c.job, c.frame, c.tile, node, c.need, now],
        )?;
        let deadline = now + policy.lease_ms;
        let n = tx.exec(
            "UPDATE tiles SET state='leased', lease_id=?4, lease_node=?5, lease_deadline=?6
             WHERE job_id=?1 AND frame=?2 AND tile=?3 AND state=?7 AND need=?8 AND lease_id IS NULL",
            p![c.job, c.frame, c.tile, lease_id, node, deadline, state, c.need],
        )?;
        if n != 1 {
            tx.exec("DELETE FROM leases WHERE id=?1", p![lease_id])?;
            return Ok(None);
        }
        let job = self.jobs.get_mut(&c.job).expect("picked from this job");
        let stride = 1.0 / scheduler::weight(&job.row, now);
        tx.exec(
            "UPDATE jobs SET leases_issued=leases_issued+1, pass=pass+?2 WHERE job_id=?1",
            p![c.job, stride],
        )?;
        if !c.holds {
            super::node_add_scene(tx, node, &job.row.scene_hash)?;
        }
        // Every statement succeeded: memory follows.
        job.row.pass += stride;
        job.row.leases_issued += 1;
        job.queued.remove(&(c.key, c.frame, c.tile));
        job.second.remove(&(c.frame, c.tile));
        let lease = scheduler::grant(&job.row, lease_id, c.frame, c.tile, c.need.into(), deadline)?;
        let scene = job.row.scene_hash.clone();
        self.scenes
            .entry(node.to_string())
            .or_default()
            .insert(scene);
        let held = Held {
            job_id: c.job,
            frame: c.frame,
            tile: c.tile,
            node: node.to_string(),
            need: c.need,
            deadline,
            key: c.key,
            wait_ms: c.wait_ms,
        };
        self.add_lease(lease_id, held);
        Ok(Some(lease))
    }

    /// Returns every lease past `now` to the queue (the store's `expire_leases`, run only
    /// when memory knows a lease expired); the tiles they held.
    pub fn expire(
        &mut self,
        tx: &mut dyn Sql,
        now: i64,
    ) -> Result<Vec<(u64, u32, u32)>, StoreError> {
        self.ensure(tx)?;
        if self.deadlines.first().is_none_or(|(d, _)| *d >= now) {
            return Ok(Vec::new());
        }
        let expired = super::expire_leases(tx, now)?;
        for &(job, frame, tile) in &expired {
            self.release(tx, job, frame, tile)?;
        }
        if self.deadlines.first().is_some_and(|(d, _)| *d < now) {
            // Memory held leases the store no longer has.
            self.invalidate();
            self.ensure(tx)?;
        }
        Ok(expired)
    }

    /// A lease the store released (expiry, refusal): its tile is pickable again.
    fn release(
        &mut self,
        tx: &mut dyn Sql,
        job: u64,
        frame: u32,
        tile: u32,
    ) -> Result<(), StoreError> {
        let held = self
            .by_tile
            .get(&(job, frame, tile))
            .copied()
            .and_then(|id| self.remove_lease(id));
        let Some(h) = held else {
            return self.reload_job(tx, job);
        };
        if !self.jobs.contains_key(&job) {
            return Ok(());
        }
        let second = if h.need == ts::NEED_PRIMARY {
            None
        } else {
            Some(voters(tx, job, frame, tile)?)
        };
        let j = self.jobs.get_mut(&job).expect("checked");
        match second {
            None => {
                j.queued.insert((h.key, frame, tile));
            }
            Some(voters) => {
                let (need, key, wait_ms) = (h.need, h.key, h.wait_ms);
                let s = Second {
                    need,
                    key,
                    wait_ms,
                    voters,
                };
                j.second.insert((frame, tile), s);
            }
        }
        Ok(())
    }

    /// The tile and job of a live lease of a running job, as memory has them (the submit
    /// re-reads the tile in its transaction); None when memory is not loaded or misses.
    pub fn peek(&self, lease_id: i64) -> Option<(TileRow, JobRow)> {
        if !self.loaded {
            return None;
        }
        let h = self.leases.get(&lease_id)?;
        let job = self.jobs.get(&h.job_id)?;
        let tile = TileRow {
            job_id: h.job_id,
            frame: h.frame,
            tile: h.tile,
            state: ts::LEASED.into(),
            need: h.need.into(),
            node: None,
            pixel_hash: None,
            signature: None,
            blob: None,
            lease_id: Some(lease_id),
            lease_node: Some(h.node.clone()),
            lease_deadline: Some(h.deadline),
            failures: 0,
        };
        Some((tile, job.row.clone()))
    }

    /// A lease memory may hold that the store does not (the submit found no tile for it).
    pub fn gone(&mut self, tx: &mut dyn Sql, lease_id: i64) -> Result<(), StoreError> {
        match self.leases.get(&lease_id) {
            Some(h) => {
                let job = h.job_id;
                self.reload_job(tx, job)
            }
            None => Ok(()),
        }
    }

    /// Follows an applied submission of `lease_id` (tile `t`) by `voter` (node, operator),
    /// applied at `now` (a sampled tile's `wait_ms`).
    pub fn submitted(
        &mut self,
        tx: &mut dyn Sql,
        lease_id: i64,
        t: &TileRow,
        applied: &(Outcome, Vec<(u32, u32)>, bool),
        voter: (&str, &str),
        now: i64,
    ) -> Result<(), StoreError> {
        let held = self.remove_lease(lease_id);
        let (outcome, redo, ready) = applied;
        if *ready {
            self.jobs.remove(&t.job_id);
            return Ok(());
        }
        let key = held.as_ref().map(|h| h.key);
        match (key.filter(|_| redo.is_empty()), outcome) {
            // A second render stored for the verifier: the tile is not pickable until then.
            (Some(_), Outcome::Accepted | Outcome::Verified { .. } | Outcome::AwaitingVerdict) => {
                Ok(())
            }
            (Some(key), Outcome::AwaitingCheck) => {
                let Some(j) = self.jobs.get_mut(&t.job_id) else {
                    return Ok(());
                };
                let voters = vec![(voter.0.to_string(), voter.1.to_string())];
                let need = ts::NEED_CHECK;
                let s = Second {
                    need,
                    key,
                    wait_ms: now,
                    voters,
                };
                j.second.insert((t.frame, t.tile), s);
                Ok(())
            }
            // Tiebreaks, faults (bans, re-queued tiles, released leases), inconclusive
            // rounds: rare, so the job is read again rather than followed step by step.
            _ => self.reload_job(tx, t.job_id),
        }
    }

    /// Follows a verdict of the background verifier on tile (job, frame, tile).
    pub fn compared(
        &mut self,
        tx: &mut dyn Sql,
        (job, frame, tile): (u64, u32, u32),
        applied: &(Outcome, Vec<(u32, u32)>, bool),
    ) -> Result<(), StoreError> {
        self.ensure(tx)?;
        let (outcome, redo, ready) = applied;
        if *ready {
            self.jobs.remove(&job);
            return Ok(());
        }
        match (redo.is_empty(), outcome) {
            // Nobody banned, no tile re-queued: the tile is settled and nothing else moves.
            (true, Outcome::Verified { .. } | Outcome::Outvoted { .. }) => Ok(()),
            (true, Outcome::AwaitingTiebreak) if self.jobs.contains_key(&job) => {
                let voters = voters(tx, job, frame, tile)?;
                let r = super::sql::row(
                    tx,
                    "SELECT pick_key, COALESCE(wait_ms, 0) FROM tiles
                     WHERE job_id=?1 AND frame=?2 AND tile=?3",
                    p![job, frame, tile],
                )?
                .ok_or_else(|| StoreError::Corrupt(format!("tile {job}/{frame}/{tile}")))?;
                let need = ts::NEED_TIEBREAK;
                let (key, wait_ms) = (r.get(0)?, r.get(1)?);
                let s = Second {
                    need,
                    key,
                    wait_ms,
                    voters,
                };
                self.jobs
                    .get_mut(&job)
                    .expect("checked")
                    .second
                    .insert((frame, tile), s);
                Ok(())
            }
            // Faults and inconclusive rounds: rare, the job is read again.
            _ => self.reload_job(tx, job),
        }
    }

    /// Follows `queries::refuse_submission`: the lease, if `node` held it, is released.
    pub fn refused(
        &mut self,
        tx: &mut dyn Sql,
        lease_id: i64,
        node: &str,
    ) -> Result<(), StoreError> {
        self.ensure(tx)?;
        let Some(h) = self.leases.get(&lease_id).filter(|h| h.node == node) else {
            return Ok(());
        };
        let (job, frame, tile) = (h.job_id, h.frame, h.tile);
        self.release(tx, job, frame, tile)
    }

    /// Follows a heartbeat that moved a lease's deadline to `deadline` (or kept a later one).
    pub fn extended(&mut self, lease_id: i64, deadline: i64) {
        if let Some(h) = self.leases.get_mut(&lease_id) {
            if deadline > h.deadline {
                self.deadlines.remove(&(h.deadline, lease_id));
                self.deadlines.insert((deadline, lease_id));
                h.deadline = deadline;
            }
        }
    }
}

/// A tile picked from memory, to be claimed in the store.
struct Claim {
    job: u64,
    frame: u32,
    tile: u32,
    need: &'static str,
    holds: bool,
    key: i64,
    wait_ms: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn held(job: u64, tile: u32, node: &str, deadline: i64) -> Held {
        Held {
            job_id: job,
            frame: 1,
            tile,
            node: node.into(),
            need: ts::NEED_PRIMARY,
            deadline,
            key: 0,
            wait_ms: 0,
        }
    }

    /// Lease counts per node and job and the deadline order follow adds, removals and
    /// extensions (the caps and the expiry read them).
    #[test]
    fn lease_counts_and_deadlines_follow_adds_removals_and_extensions() {
        let mut m = MemSched::default();
        m.add_lease(1, held(7, 0, "a", 100));
        m.add_lease(2, held(7, 1, "a", 50));
        m.add_lease(3, held(8, 0, "b", 70));
        assert_eq!(m.per_node["a"][&7], 2);
        assert_eq!(m.deadlines.first(), Some(&(50, 2)));
        m.extended(2, 200);
        m.extended(2, 150); // a heartbeat never shortens a lease
        assert_eq!(m.leases[&2].deadline, 200);
        assert_eq!(m.deadlines.first(), Some(&(70, 3)));
        assert!(m.remove_lease(1).is_some());
        assert!(m.remove_lease(1).is_none());
        assert_eq!(m.per_node["a"][&7], 1);
        m.remove_lease(2);
        assert!(!m.per_node.contains_key("a"), "no empty entries kept");
        assert_eq!(m.by_tile.len(), 1);
        assert_eq!(m.deadlines.len(), 1);
    }
}
