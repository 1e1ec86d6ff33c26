//! Leasing: which tile a node gets next, lease deadlines and expiry.
//!
//! Job choice (fair share, stride scheduling): every job has a `pass`; each lease adds
//! `1 / weight` to it, `weight = price_per_tile × (1 + age_seconds / 300)`, so a higher
//! price and a longer wait both earn a larger share and no job starves another. A new job
//! starts at the smallest pass of the running jobs (it does not monopolise the queue).
//! Among running jobs with work this node may take, the smallest `pass + stride + penalties`
//! wins: half a stride when the node has not fetched the job's scene yet, one stride when the node's on-chain benchmark predicts a tile would take longer than
//! `MAX_TILE_SECONDS` (slow node, heavy job) or shorter than `MIN_TILE_SECONDS` (fast node,
//! trivial job). Within a job: the free tile (queued, or waiting for a check or tiebreak
//! this node may give) with the smallest [`pick_key`]: a keyed hash under the store's secret
//! salt, so the order says nothing about which lease is a second render (issue 14).
//! Second renders go to nodes that qualify as witnesses of the job ([`Verifies`]); a node
//! that does not may take one only once its tile has waited `witness_wait_ms` for one that
//! does ([`LeasePolicy::witness_wait_ms`]), so a network where none qualifies still ends
//! its jobs (and `verify::settle` convicts nobody on such renders).
use std::sync::Arc;

use crate::store::sql::{p, row, Sql};
use tessera_sdk::protocol::Lease as WireLease;
use tessera_sdk::tiles::TileGrid;

use crate::error::StoreError;
use crate::store::{self, job_state, tile_state, JobRow};

pub const MAX_TILE_SECONDS: f64 = 120.0;
pub const MIN_TILE_SECONDS: f64 = 0.05;

/// A granted lease: what the node is sent ([`WireLease`], read through `Deref`) and the
/// role the orchestrator keeps to itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lease {
    pub wire: WireLease,
    /// `primary`, `check` or `tiebreak`. Never sent to the node: a node must not know
    /// whether its render is a check (it renders the same tile with the same seed anyway).
    pub role: String,
}

impl std::ops::Deref for Lease {
    type Target = WireLease;

    fn deref(&self) -> &WireLease {
        &self.wire
    }
}

/// The render seed of a tile: the same for every node, so honest renders agree.
pub fn seed(job_key: &str, frame: u32, tile: u32) -> u64 {
    let mut h = blake3::Hasher::new();
    h.update(b"tessera-seed-v1");
    h.update(job_key.as_bytes());
    h.update(&frame.to_le_bytes());
    h.update(&tile.to_le_bytes());
    u64::from_le_bytes(h.finalize().as_bytes()[..8].try_into().expect("8 bytes"))
}

/// Frames over which a tile's place in line is drawn: tiles of frame `f` are leased
/// among those of frames `f − BAND + 1 ..= f + BAND − 1`, in an order only the
/// orchestrator knows, so frames still finish roughly in order (within this many) for an
/// artist watching previews, and a check's tile is as far "behind" the tiles a node has
/// seen as a primary's.
pub const ORDER_BAND_FRAMES: i64 = 8;
/// Positions a frame spans on the line (2^24): keys stay within `i64` for any `u32` frame.
const KEY_SCALE: i64 = 1 << 24;

/// A tile's place in the lease line (smaller first): its frame's offset in the job plus a
/// keyed hash of (job, frame, tile) spread over [`ORDER_BAND_FRAMES`] frames. A second
/// render keeps its tile's key, so checks, tiebreaks and primaries share one line, and
/// without the salt a node cannot tell from (frame, tile) where a lease sat in it.
pub fn pick_key(salt: &[u8; 32], job_key: &str, frame_offset: u32, frame: u32, tile: u32) -> i64 {
    let mut h = blake3::Hasher::new_keyed(salt);
    h.update(b"tessera-pick-v1");
    h.update(job_key.as_bytes());
    h.update(&frame.to_le_bytes());
    h.update(&tile.to_le_bytes());
    let x = u64::from_le_bytes(h.finalize().as_bytes()[..8].try_into().expect("8 bytes"));
    let jitter = (x % (ORDER_BAND_FRAMES * KEY_SCALE) as u64) as i64;
    i64::from(frame_offset) * KEY_SCALE + jitter
}

/// Which jobs a node qualifies as a witness of on-chain (`Node::witness_refusal`, issue
/// 14): it gets their second renders (checks, tiebreaks) first, and its submits count
/// towards a conviction (`verify::settle`); a node that does not qualify takes a second
/// render only after [`LeasePolicy::witness_wait_ms`] and never convicts anyone. The lease
/// handler builds it from the chain state it caches (`eligibility`).
#[derive(Clone)]
pub struct Verifies(Arc<dyn Fn(&JobRow) -> bool + Send + Sync>);

impl Verifies {
    pub fn new(f: impl Fn(&JobRow) -> bool + Send + Sync + 'static) -> Self {
        Self(Arc::new(f))
    }

    /// Every job (store tests that are not about witnesses).
    pub fn all() -> Self {
        Self::new(|_| true)
    }

    /// Whether the node qualifies as a witness of `job`.
    pub fn job(&self, job: &JobRow) -> bool {
        (self.0)(job)
    }
}

impl std::fmt::Debug for Verifies {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Verifies(..)")
    }
}

/// The newest `tiles.wait_ms` of a second render a node may take at `now`: any, for a
/// witness of the job; for another node, only those that waited `witness_wait_ms`.
pub fn waited_since(witness: bool, now: i64, policy: LeasePolicy) -> i64 {
    if witness {
        i64::MAX
    } else {
        now.saturating_sub(policy.witness_wait_ms)
    }
}

/// The next tile of `job` that `node` may render: (frame, tile, need). The smallest
/// [`pick_key`] of the job's queued tiles and of its tiles waiting for a tiebreak or a
/// check since `since` or before ([`waited_since`]; never of a render by the node
/// or by another node of its `operator`: votes on a tile come from distinct operators, see
/// `verify`); each an indexed range scan of `tiles_pick` that stops at the first row it may
/// take, so the cost does not grow with the job.
fn pick_tile(
    tx: &mut dyn Sql,
    job_id: u64,
    node: &str,
    operator: &str,
    since: i64,
) -> Result<Option<(u32, u32, String)>, StoreError> {
    const SECOND_RENDER: &str = "SELECT frame, tile, pick_key FROM tiles t
        WHERE job_id=?1 AND state='rendered' AND need=?3 AND lease_id IS NULL
          AND COALESCE(t.wait_ms, 0) <= ?5
          AND NOT EXISTS (SELECT 1 FROM results r WHERE r.job_id=t.job_id AND r.frame=t.frame
              AND r.tile=t.tile AND (r.node=?2 OR r.operator=?4)
              AND r.verdict IN ('pending','agreed','accepted'))
        ORDER BY pick_key, frame, tile LIMIT 1";
    const QUEUED: &str = "SELECT frame, tile, pick_key FROM tiles t
         WHERE job_id=?1 AND state='queued' AND need='primary'
         ORDER BY pick_key, frame, tile LIMIT 1";
    let mut best: Option<(i64, u32, u32, &str)> = None;
    let mut consider = |r: crate::store::sql::Row, need: &'static str| -> Result<(), StoreError> {
        let cand = (r.get::<i64>(2)?, r.get(0)?, r.get(1)?, need);
        if best.is_none_or(|b| (cand.0, cand.1, cand.2) < (b.0, b.1, b.2)) {
            best = Some(cand);
        }
        Ok(())
    };
    let second = lock(tx, SECOND_RENDER);
    for need in [tile_state::NEED_TIEBREAK, tile_state::NEED_CHECK] {
        if let Some(r) = row(tx, &second, p![job_id, node, need, operator, since])? {
            consider(r, need)?;
        }
    }
    let queued = lock(tx, QUEUED);
    if let Some(r) = row(tx, &queued, p![job_id])? {
        consider(r, tile_state::NEED_PRIMARY)?;
    }
    Ok(best.map(|(_, f, t, need)| (f, t, need.to_string())))
}

/// On PostgreSQL the picked row is locked and rows other transactions hold are skipped,
/// so two instances leasing at once never pick the same tile.
fn lock(tx: &dyn Sql, sql: &str) -> String {
    if tx.locks_rows() {
        format!("{sql} FOR UPDATE OF t SKIP LOCKED")
    } else {
        sql.to_string()
    }
}

/// Seconds a tile of `job` should take on a node with `benchmark_score` (Msamples/s × 100).
pub fn expected_tile_seconds(job: &JobRow, benchmark_score: u64) -> Option<f64> {
    if benchmark_score == 0 {
        return None;
    }
    let samples = (job.tile_size as f64).powi(2) * job.spp as f64;
    Some(samples / (benchmark_score as f64 * 1e4))
}

/// A job's fair-share weight: its price, growing with its age.
pub fn weight(job: &JobRow, now_ms: i64) -> f64 {
    let age_s = ((now_ms - job.created_ms).max(0) as f64) / 1000.0;
    (job.price_per_tile.max(1) as f64) * (1.0 + age_s / 300.0)
}

/// The fair-share key of a job for a node (smaller goes first): the job's pass plus
/// penalties worth half a lease (scene not on the node) or one lease (poor fit).
pub fn share_key(job: &JobRow, now_ms: i64, holds_scene: bool, benchmark_score: u64) -> f64 {
    let stride = 1.0 / weight(job, now_ms);
    let mut key = job.pass + stride;
    if !holds_scene {
        key += 0.5 * stride;
    }
    if let Some(secs) = expected_tile_seconds(job, benchmark_score) {
        if !(MIN_TILE_SECONDS..=MAX_TILE_SECONDS).contains(&secs) {
            key += stride;
        }
    }
    key
}

/// How many leases a node may hold and for how long.
#[derive(Clone, Copy, Debug)]
pub struct LeasePolicy {
    /// Deadline of a lease (and how far a heartbeat extends it).
    pub lease_ms: i64,
    /// Leases one node may hold at once, over all jobs.
    pub max_per_node: u32,
    /// Leases one node may hold at once in one job: no node hoards a job's tiles, so the
    /// tiles are shared between the nodes that ask.
    pub max_per_node_per_job: u32,
    /// How long a tile waits for its check or tiebreak by a witness of the job before a
    /// node that does not qualify may take it (so a job whose network has no qualifying
    /// node still ends; such renders convict nobody, see `verify::settle`).
    pub witness_wait_ms: i64,
}

/// The answer to a lease request.
#[derive(Clone, Debug)]
pub enum Grant {
    Lease(Lease),
    /// No tile this node may take now.
    NoWork,
    /// The node holds as many leases as it may (the reason).
    AtLimit(String),
}

/// Grants `node` the best lease there is within its caps (second renders of the jobs it
/// `verifies` as a witness, of others only after `witness_wait_ms`).
pub fn lease(
    tx: &mut dyn Sql,
    node: &str,
    operator: &str,
    benchmark_score: u64,
    now: i64,
    policy: LeasePolicy,
    verifies: &Verifies,
) -> Result<Grant, StoreError> {
    store::lock_node(tx, node)?;
    store::expire_leases(tx, now)?;
    let held = store::leases_held(tx, node)?;
    let total: u32 = held.iter().map(|(_, n)| n).sum();
    if let Some(refused) = at_node_cap(total, policy) {
        return Ok(refused);
    }
    let held_in = |job: u64| held.iter().find(|(j, _)| *j == job).map_or(0, |(_, n)| *n);
    let mut capped = false;
    let mut candidates: Vec<(f64, JobRow)> = Vec::new();
    for job in store::jobs_in_state(tx, job_state::RENDERING)? {
        // Past its deadline the chain refuses the receipt: rendering more is waste.
        if job.deadline.saturating_mul(1000) < now || store::is_banned(tx, job.job_id, node)? {
            continue;
        }
        if held_in(job.job_id) >= policy.max_per_node_per_job {
            capped = true;
            continue;
        }
        let holds = store::node_holds_scene(tx, node, &job.scene_hash)?;
        candidates.push((share_key(&job, now, holds, benchmark_score), job));
    }
    // Best share first; a tile is looked for only until one is found (usually in the
    // first job), not in every job. A stable sort keeps ties in job order.
    candidates.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut best = None;
    for (_, job) in candidates {
        let since = waited_since(verifies.job(&job), now, policy);
        if let Some(pick) = pick_tile(tx, job.job_id, node, operator, since)? {
            best = Some((job, pick));
            break;
        }
    }
    let Some((job, (frame, tile, need))) = best else {
        return Ok(nothing(capped, policy));
    };
    let lease_id = tx.insert_id(
        "INSERT INTO leases(job_id, frame, tile, node, role, issued_ms) VALUES(?1,?2,?3,?4,?5,?6)",
        p![job.job_id, frame, tile, node, &need, now],
    )?;
    let deadline = now + policy.lease_ms;
    tx.exec(
        "UPDATE tiles SET state='leased', lease_id=?4, lease_node=?5, lease_deadline=?6
         WHERE job_id=?1 AND frame=?2 AND tile=?3",
        p![job.job_id, frame, tile, lease_id, node, deadline],
    )?;
    tx.exec(
        "UPDATE jobs SET leases_issued=leases_issued+1, pass=pass+?2 WHERE job_id=?1",
        p![job.job_id, 1.0 / weight(&job, now)],
    )?;
    store::node_add_scene(tx, node, &job.scene_hash)?;
    grant(&job, lease_id, frame, tile, need, deadline).map(Grant::Lease)
}

/// The answer when no tile was found: at a per-job cap in some job, or no work.
pub fn nothing(capped: bool, policy: LeasePolicy) -> Grant {
    if capped {
        Grant::AtLimit(format!(
            "this node holds {} leases in a job, the most one node may hold in one job",
            policy.max_per_node_per_job
        ))
    } else {
        Grant::NoWork
    }
}

/// The refusal of a node that holds `total` leases when its cap is reached.
pub fn at_node_cap(total: u32, policy: LeasePolicy) -> Option<Grant> {
    (total >= policy.max_per_node).then(|| {
        Grant::AtLimit(format!(
            "this node holds {total} leases, the most one node may hold"
        ))
    })
}

/// The lease as sent to the node, for a tile of `job` leased as `lease_id`.
pub fn grant(
    job: &JobRow,
    lease_id: i64,
    frame: u32,
    tile: u32,
    need: String,
    deadline: i64,
) -> Result<Lease, StoreError> {
    let grid = TileGrid::new(job.width, job.height, job.tile_size)
        .ok_or_else(|| StoreError::Corrupt(format!("job {} dimensions", job.job_id)))?;
    let rect = grid
        .rect(tile)
        .ok_or_else(|| StoreError::Corrupt(format!("job {} tile {tile}", job.job_id)))?;
    let wire = WireLease {
        lease_id,
        seed: seed(&job.job_key, frame, tile),
        job_id: job.job_id,
        job_key: job.job_key.clone(),
        frame,
        tile,
        rect,
        frame_width: job.width,
        frame_height: job.height,
        spp: job.spp,
        scene_hash: job.scene_hash.clone(),
        deadline_ms: deadline,
        frame_rate: [job.frame_rate.0, job.frame_rate.1],
    };
    Ok(Lease { wire, role: need })
}
