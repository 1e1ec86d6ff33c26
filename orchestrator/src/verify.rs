//! Redundant verification: which tiles are rendered twice, how two renders are compared,
//! and what happens to a node whose pixels are wrong.
//!
//! * Sampling: each primary render is re-rendered by another operator with probability
//!   `verify_share` (default 5%), or `new_node_share` (default 25%) while the node is new
//!   (< `NEW_NODE_TILES` verified checks) or its reputation is below `LOW_REPUTATION`.
//!   The draw is `blake3(salt ‖ job ‖ frame ‖ tile ‖ node)`, salt secret to the orchestrator.
//! * Independence: a check or tiebreak lease never goes to a node whose on-chain operator
//!   (the stake owner) already rendered the tile (`scheduler::pick_tile`), so two keys of
//!   one operator never both vote on a tile.
//! * Witnesses: a check or tiebreak goes first to a node that qualifies as a witness of
//!   the job on-chain (`Node::witness_refusal`: registered and staked before the job); any
//!   other node takes it only once the tile has waited `witness_wait_ms` for one. Each
//!   render records whether its node qualified (`results.witness`).
//! * Comparison (by the background verifier, `verifier`, after the check's submit was
//!   answered: its cost must not tell the checker anything): equal pixel hashes agree. Otherwise both PNGs are decoded and compared by
//!   PSNR over RGB; `PSNR ≥ min_psnr_db` (default 35 dB, i.e. RMS error ≤ ~4.5 of 255 levels)
//!   agrees (different GPUs do not give identical bytes).
//! * Verdict ([`settle`]): a tile is settled when the renders agreeing with one of them
//!   come from at least [`QUORUM`] (2) distinct operators; that render is accepted. Every
//!   render agreeing with none of them is faulty (convicted) when the accepting renders
//!   include witnesses of [`QUORUM`] distinct operators, else only `outvoted`: unpaid for
//!   the tile, nobody banned, no reputation change, no other tile re-queued, and an
//!   evidence row saying why the conviction was withheld (renders by nodes registered
//!   after the job could otherwise convict an honest node). Until then another operator renders it
//!   (a tiebreak, then an escalation), at most [`MAX_RENDERS`] (4) renders a round; a round
//!   without a quorum is inconclusive (nobody is convicted, the tile starts over, and its
//!   next primary is always checked). After [`MAX_ROUNDS`] (2) inconclusive rounds the tile
//!   is left `unsettled`: never leased again, in no receipt (the job ends partial, at the
//!   artist's cancel or the deadline), and nobody is convicted. Accepting a render without
//!   a quorum would let one operator decide the tile; a round ends inconclusive only when
//!   no two operators' renders agree, so there is no render to trust.
//! * Paid share ([`room_for_check`]): the job pays at most `⌈tiles × verify_bps / 10 000⌉`
//!   verification renders. A check is drawn only while the job's agreed check and tiebreak
//!   renders so far plus [`RESERVED_PER_CHECK`] (3) for every tile in an open verification
//!   (its round and any later one) and 3 for this one stay within that share, so every
//!   check, tiebreak and escalation the orchestrator asks for fits in the receipt.
//! * A fault: the node's reputation drops, it is banned from the job, every other tile of
//!   the job it rendered goes back to the queue, and the evidence (hashes, blobs, PSNR,
//!   operators) is kept.
use crate::store::sql::{p, Sql};
use serde_json::json;

use crate::error::StoreError;
use crate::store::{self, now_ms, tile_state as ts, ResultRow, TileRow};

pub const NEW_NODE_TILES: i64 = 10;
pub const LOW_REPUTATION: f64 = 0.7;
/// Distinct operators whose renders must agree to accept a disputed tile and convict the
/// renders that disagree: no single operator can convict anyone.
pub const QUORUM: usize = 2;
/// Renders of one tile in one verification round (primary, check, tiebreak, escalation):
/// the extra work a dispute may cost before it is declared inconclusive.
pub const MAX_RENDERS: usize = 4;
/// Inconclusive rounds a tile may have before it is left unsettled.
pub const MAX_ROUNDS: u64 = 2;
/// Verification renders one drawn check may add to the receipt (check, tiebreak,
/// escalation): held against the job's share from the draw until the tile settles.
pub const RESERVED_PER_CHECK: u64 = (MAX_RENDERS - 1) as u64;

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

/// Whether comparing a tile's pending renders needs their pixels: only when some hash
/// differs (equal hashes agree without decoding). The background verifier's shortcut; the
/// submit itself never compares (see `verifier`).
pub fn needs_pixels(pending: &[ResultRow]) -> bool {
    pending
        .iter()
        .any(|r| r.pixel_hash != pending[0].pixel_hash)
}

/// A verified submission, about to be written.
pub struct Submission {
    pub node: String,
    /// The node's on-chain operator (stake owner), base58.
    pub operator: String,
    /// Whether the node qualifies as a witness of the job (`Node::witness_refusal`) now.
    pub witness: bool,
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
    /// A check or tiebreak render, stored: the background verifier compares it with the
    /// tile's earlier renders and decides the tile after the submit was answered.
    AwaitingVerdict,
    /// A quorum agreed with `accepted`'s render, which the tile takes.
    Verified { accepted: String },
    /// The renders so far reach no quorum: another operator will render it.
    AwaitingTiebreak,
    /// A quorum agreed with `accepted`'s render; `faulty` lost the vote.
    Resolved {
        accepted: String,
        faulty: Vec<String>,
    },
    /// A quorum agreed with `accepted`'s render, but without witnesses of [`QUORUM`]
    /// operators: `outvoted` lost the vote, unpaid for the tile and not convicted.
    Outvoted {
        accepted: String,
        outvoted: Vec<String>,
    },
    /// No quorum within [`MAX_RENDERS`] renders: nobody is convicted, the tile starts over.
    Inconclusive,
    /// The tile's [`MAX_ROUNDS`]th inconclusive round: nobody is convicted and the tile is
    /// left out (state `unsettled`, never leased again, in no receipt).
    Unsettled,
}

/// Inconclusive rounds the tile has had (each has one primary render marked so).
fn inconclusive_rounds(tx: &mut dyn Sql, t: &TileRow) -> Result<u64, StoreError> {
    store::count(
        tx,
        "SELECT COUNT(*) FROM results WHERE job_id=?1 AND frame=?2 AND tile=?3
           AND verdict='inconclusive' AND role='primary'",
        p![t.job_id, t.frame, t.tile],
    )
}

/// Whether the job's paid verification share has room for one more drawn check: its agreed
/// check and tiebreak renders so far (an upper bound of what the receipt pays: each is paid
/// unless its own node's render was the one accepted) plus [`RESERVED_PER_CHECK`] for every
/// tile in an open verification (waiting for a check or tiebreak, or started over after an
/// inconclusive round) and for this one, within `⌈tiles × verify_bps / 10 000⌉`.
pub fn room_for_check(tx: &mut dyn Sql, job_id: u64) -> Result<bool, StoreError> {
    let job = store::job_get(tx, job_id)?
        .ok_or_else(|| StoreError::Corrupt(format!("job {job_id} missing")))?;
    let per_frame = tessera_sdk::tiles::TileGrid::new(job.width, job.height, job.tile_size)
        .ok_or_else(|| StoreError::Corrupt(format!("job {job_id} dimensions")))?
        .tiles_per_frame() as u64;
    let frames = u64::from(job.frame_end.saturating_sub(job.frame_start)) + 1;
    let share = tessera_sdk::receipt::max_verification_renders(per_frame * frames, job.verify_bps);
    let paid = store::count(
        tx,
        "SELECT COUNT(*) FROM results WHERE job_id=?1 AND verdict='agreed'
           AND role IN ('check', 'tiebreak')",
        p![job_id],
    )?;
    let open = store::count(
        tx,
        "SELECT COUNT(*) FROM (
           SELECT frame, tile FROM tiles WHERE job_id=?1 AND state IN ('leased', 'rendered')
             AND need IN ('check', 'tiebreak', 'compare')
           UNION
           SELECT r.frame, r.tile FROM results r JOIN tiles t
               ON t.job_id=r.job_id AND t.frame=r.frame AND t.tile=r.tile
             WHERE r.job_id=?1 AND r.verdict='inconclusive' AND r.role='primary'
               AND t.state NOT IN ('verified', 'unsettled')) open_rounds",
        p![job_id],
    )?;
    Ok(paid + RESERVED_PER_CHECK * (open + 1) <= share)
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
        "INSERT INTO results(job_id, frame, tile, node, role, pixel_hash, signature, blob, submitted_ms, verdict, lease_id, operator, witness)
         VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13)",
        p![t.job_id, t.frame, t.tile, &s.node, role, &s.pixel_hash, &s.signature, &s.blob, now_ms(), verdict, t.lease_id, &s.operator, i64::from(s.witness)],
    )?;
    Ok(ResultRow {
        id,
        node: s.node.clone(),
        operator: s.operator.clone(),
        role: role.into(),
        pixel_hash: s.pixel_hash.clone(),
        signature: s.signature.clone(),
        blob: s.blob.clone(),
        verdict: verdict.into(),
        witness: s.witness,
    })
}

/// Marks `faulty` as having delivered wrong pixels in this job: evidence, reputation,
/// ban from the job, and every other tile it rendered in the job re-queued (listed in the
/// evidence as `requeued`). Returns the re-queued tiles.
pub fn record_fault(
    tx: &mut dyn Sql,
    t: &TileRow,
    faulty: &str,
    detail: serde_json::Value,
) -> Result<Vec<(u32, u32)>, StoreError> {
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
    // The re-queued tiles are in the evidence: a node whose acknowledged render of one of
    // them is not in the receipt sees why (`node-agent acks verify`).
    let mut detail = detail;
    detail["requeued"] = json!(redo);
    tx.exec("INSERT INTO evidence(job_id, frame, tile, node, created_ms, detail) VALUES(?1,?2,?3,?4,?5,?6)",
        p![t.job_id, t.frame, t.tile, faulty, now_ms(), detail.to_string()],
    )?;
    // Leases the faulty node still holds in this job go back to the queue.
    tx.exec(
        "UPDATE tiles SET lease_id=NULL, lease_node=NULL, lease_deadline=NULL,
           state=CASE need WHEN 'primary' THEN 'queued' ELSE 'rendered' END
         WHERE job_id=?1 AND lease_node=?2",
        p![t.job_id, faulty],
    )?;
    Ok(redo)
}

/// Pairwise comparisons of a tile's renders: `agree[i][j]` and the PSNRs for the evidence.
struct Votes {
    agree: Vec<Vec<bool>>,
    psnr: serde_json::Map<String, serde_json::Value>,
}

/// Role names as the evidence spells them: primary, check, tiebreak, tiebreak2, …
fn role_names(renders: &[(&ResultRow, &[u8])]) -> Vec<String> {
    let mut tiebreaks = 0;
    renders
        .iter()
        .map(|(r, _)| match r.role.as_str() {
            "tiebreak" => {
                tiebreaks += 1;
                if tiebreaks == 1 {
                    "tiebreak".to_string()
                } else {
                    format!("tiebreak{tiebreaks}")
                }
            }
            other => other.to_string(),
        })
        .collect()
}

fn votes(renders: &[(&ResultRow, &[u8])], names: &[String], min_psnr_db: f64) -> Votes {
    let n = renders.len();
    let mut agree = vec![vec![false; n]; n];
    let mut psnr = serde_json::Map::new();
    for i in 0..n {
        agree[i][i] = true;
        for j in i + 1..n {
            let (a, b) = (renders[i], renders[j]);
            let c = compare(&a.0.pixel_hash, a.1, &b.0.pixel_hash, b.1, min_psnr_db);
            agree[i][j] = c.agree;
            agree[j][i] = c.agree;
            psnr.insert(format!("{}_{}", names[i], names[j]), json!(c.psnr_db));
        }
    }
    Votes { agree, psnr }
}

/// The render whose agreeing renders span the most distinct operators (the earliest on a
/// tie), and those renders, when they reach [`QUORUM`].
fn winner(renders: &[(&ResultRow, &[u8])], agree: &[Vec<bool>]) -> Option<(usize, Vec<usize>)> {
    let mut best: Option<(usize, Vec<usize>, usize)> = None;
    for (i, row) in agree.iter().enumerate() {
        let with: Vec<usize> = (0..renders.len()).filter(|&j| row[j]).collect();
        let n = distinct_operators(with.iter().map(|&j| renders[j].0));
        if best.as_ref().is_none_or(|(_, _, most)| n > *most) {
            best = Some((i, with, n));
        }
    }
    best.filter(|(_, _, n)| *n >= QUORUM)
        .map(|(i, with, _)| (i, with))
}

/// Distinct operators among the renders `with` whose nodes qualified as witnesses of the
/// job when they submitted.
fn witness_operators(renders: &[(&ResultRow, &[u8])], with: &[usize]) -> usize {
    distinct_operators(with.iter().map(|&j| renders[j].0).filter(|r| r.witness))
}

/// How many distinct operators rendered `rows` (votes are counted by operator, not key).
fn distinct_operators<'a>(rows: impl Iterator<Item = &'a ResultRow>) -> usize {
    let mut ops: Vec<&str> = rows.map(|r| r.operator.as_str()).collect();
    ops.sort_unstable();
    ops.dedup();
    ops.len()
}

/// Records why the renders in `outvoted` lost the vote without a conviction: the quorum
/// that accepted the tile had witnesses of fewer than [`QUORUM`] operators.
fn withhold(
    tx: &mut dyn Sql,
    t: &TileRow,
    outvoted: &[String],
    witnesses: usize,
    detail: serde_json::Value,
) -> Result<(), StoreError> {
    let mut ev = detail;
    ev["outvoted"] = json!(outvoted);
    ev["witness_operators"] = json!(witnesses);
    ev["withheld"] = json!(format!(
        "no conviction: the renders that agree with the accepted one include witnesses of \
         {witnesses} operator(s), fewer than {QUORUM} (a witness registered and staked before \
         the job); the outvoted renders are unpaid, nobody is banned"
    ));
    tx.exec("INSERT INTO evidence(job_id, frame, tile, node, created_ms, detail) VALUES(?1,?2,?3,'',?4,?5)",
        p![t.job_id, t.frame, t.tile, now_ms(), ev.to_string()],
    )?;
    Ok(())
}

/// Decides a tile from all its renders of this round (the newest last): accepted with a
/// quorum, escalated to another operator below [`MAX_RENDERS`], inconclusive at it.
fn settle(
    tx: &mut dyn Sql,
    t: &TileRow,
    renders: &[(&ResultRow, &[u8])],
    min_psnr_db: f64,
) -> Result<(Outcome, Vec<(u32, u32)>), StoreError> {
    let names = role_names(renders);
    let v = votes(renders, &names, min_psnr_db);
    let detail = |faulty: &str| {
        let all: Vec<_> = renders
            .iter()
            .zip(&names)
            .map(|((r, _), role)| {
                json!({"node": r.node, "operator": r.operator, "role": role,
                "pixel_hash": r.pixel_hash, "blob": r.blob, "signature": r.signature,
                "witness": r.witness})
            })
            .collect();
        json!({"renders": all, "psnr_db": v.psnr, "threshold_db": min_psnr_db,
               "quorum": QUORUM, "faulty": faulty})
    };
    let Some((accepted, agreeing)) = winner(renders, &v.agree) else {
        if renders.len() < MAX_RENDERS {
            tx.exec("UPDATE tiles SET state='rendered', need='tiebreak', lease_id=NULL, lease_node=NULL, lease_deadline=NULL,
                   wait_ms=?4
                 WHERE job_id=?1 AND frame=?2 AND tile=?3",
                p![t.job_id, t.frame, t.tile, now_ms()],
            )?;
            return Ok((Outcome::AwaitingTiebreak, vec![]));
        }
        let round = inconclusive_rounds(tx, t)? + 1;
        for (r, _) in renders {
            set_verdict(tx, r.id, "inconclusive")?;
        }
        let mut ev = detail("");
        (ev["round"], ev["max_rounds"]) = (json!(round), json!(MAX_ROUNDS));
        tx.exec("INSERT INTO evidence(job_id, frame, tile, node, created_ms, detail) VALUES(?1,?2,?3,'',?4,?5)",
            p![t.job_id, t.frame, t.tile, now_ms(), ev.to_string()],
        )?;
        // The last round: the tile is left out rather than decided without a quorum.
        let (state, need, outcome) = if round >= MAX_ROUNDS {
            (ts::UNSETTLED, ts::NEED_NONE, Outcome::Unsettled)
        } else {
            (ts::QUEUED, ts::NEED_PRIMARY, Outcome::Inconclusive)
        };
        tx.exec("UPDATE tiles SET state=?4, need=?5, node=NULL, pixel_hash=NULL, signature=NULL, blob=NULL,
               lease_id=NULL, lease_node=NULL, lease_deadline=NULL, failures=failures+1
             WHERE job_id=?1 AND frame=?2 AND tile=?3",
            p![t.job_id, t.frame, t.tile, state, need],
        )?;
        return Ok((outcome, vec![]));
    };
    set_verified(tx, t, renders[accepted].0)?;
    // Only witnesses of the job (registered and staked before it) can convict: keys made
    // after it was seen could otherwise outvote an honest node and have it banned.
    let witnesses = witness_operators(renders, &agreeing);
    let convicts = witnesses >= QUORUM;
    let mut lost = Vec::new();
    let mut redo = Vec::new();
    for (i, (r, _)) in renders.iter().enumerate() {
        if agreeing.contains(&i) {
            set_verdict(tx, r.id, "agreed")?;
            store::node_adjust(tx, &r.node, 0.05, 1, 0, 0)?;
        } else if agreeing.iter().all(|&j| !v.agree[i][j]) {
            if convicts {
                set_verdict(tx, r.id, "faulty")?;
                redo.extend(record_fault(tx, t, &r.node, detail(&r.node))?);
            } else {
                set_verdict(tx, r.id, "outvoted")?;
            }
            lost.push(r.node.clone());
        } else {
            // Close to some of the quorum but not to the accepted render: not convicted.
            set_verdict(tx, r.id, "superseded")?;
        }
    }
    let accepted = renders[accepted].0.node.clone();
    if lost.is_empty() {
        return Ok((Outcome::Verified { accepted }, redo));
    }
    if !convicts {
        withhold(tx, t, &lost, witnesses, detail(""))?;
        return Ok((
            Outcome::Outvoted {
                accepted,
                outvoted: lost,
            },
            redo,
        ));
    }
    Ok((
        Outcome::Resolved {
            accepted,
            faulty: lost,
        },
        redo,
    ))
}

/// Inputs the state machine needs beyond the database.
pub struct Decision<'a> {
    pub salt: &'a [u8; 32],
    pub job_key: &'a str,
    pub base_share: f64,
    pub new_node_share: f64,
    /// The submit's time: a sampled tile waits for its check from then (`tiles.wait_ms`).
    pub now: i64,
}

/// Applies one hash-checked submission to its tile (inside the caller's transaction).
/// `t` is the tile as it is now (its lease already checked); `pending` its pending results.
/// A second render is only stored (`need = 'compare'`): comparing it would make the submit's
/// answer slower when the bytes differ, telling the checker it was a check and disagreed.
pub fn apply(
    tx: &mut dyn Sql,
    t: &TileRow,
    pending: &[ResultRow],
    s: &Submission,
    d: &Decision,
) -> Result<(Outcome, Vec<(u32, u32)>), StoreError> {
    match t.need.as_str() {
        ts::NEED_PRIMARY => {
            let (rep, verified) = store::node_standing(tx, &s.node)?;
            let share = share_for(d.base_share, d.new_node_share, rep, verified);
            store::node_adjust(tx, &s.node, 0.01, 0, 0, 1)?;
            // A tile started over after an inconclusive round is always checked (its share
            // is still reserved); any other is drawn, then only if the job pays for it.
            let later_round = t.failures > 0 && inconclusive_rounds(tx, t)? > 0;
            let drawn = later_round
                || (sampled(d.salt, d.job_key, t.frame, t.tile, &s.node, share)
                    && room_for_check(tx, t.job_id)?);
            if drawn {
                insert_result(tx, t, s, "primary", "pending")?;
                tx.exec("UPDATE tiles SET state='rendered', need='check', node=?4, pixel_hash=?5, signature=?6, blob=?7,
                       lease_id=NULL, lease_node=NULL, lease_deadline=NULL, wait_ms=?8
                     WHERE job_id=?1 AND frame=?2 AND tile=?3",
                    p![t.job_id, t.frame, t.tile, &s.node, &s.pixel_hash, &s.signature, &s.blob, d.now],
                )?;
                Ok((Outcome::AwaitingCheck, vec![]))
            } else {
                let r = insert_result(tx, t, s, "primary", "accepted")?;
                set_verified(tx, t, &r)?;
                Ok((Outcome::Accepted, vec![]))
            }
        }
        ts::NEED_CHECK | ts::NEED_TIEBREAK => {
            if pending.iter().all(|r| r.role != "primary") {
                return Err(StoreError::Corrupt(
                    "second render without a pending primary".into(),
                ));
            }
            let role = if t.need == ts::NEED_CHECK {
                "check"
            } else {
                "tiebreak"
            };
            insert_result(tx, t, s, role, "pending")?;
            store::node_adjust(tx, &s.node, 0.0, 0, 0, 1)?;
            tx.exec(
                "UPDATE tiles SET state='rendered', need='compare', lease_id=NULL, lease_node=NULL,
                   lease_deadline=NULL
                 WHERE job_id=?1 AND frame=?2 AND tile=?3",
                p![t.job_id, t.frame, t.tile],
            )?;
            Ok((Outcome::AwaitingVerdict, vec![]))
        }
        other => Err(StoreError::Corrupt(format!("tile needs {other:?}"))),
    }
}

/// Decides a tile whose latest second render waits for its comparison (`need = 'compare'`,
/// inside the verifier's transaction): `renders` are the round's pending results, oldest
/// first, with their decoded RGBA (empty when every hash is equal: nothing is decoded).
pub fn decide(
    tx: &mut dyn Sql,
    t: &TileRow,
    renders: &[(ResultRow, Vec<u8>)],
    min_psnr_db: f64,
) -> Result<(Outcome, Vec<(u32, u32)>), StoreError> {
    if t.need != ts::NEED_COMPARE || renders.iter().all(|(r, _)| r.role != "primary") {
        return Err(StoreError::Corrupt(format!(
            "tile {}/{}/{} has no render to compare",
            t.job_id, t.frame, t.tile
        )));
    }
    let renders: Vec<(&ResultRow, &[u8])> =
        renders.iter().map(|(r, px)| (r, px.as_slice())).collect();
    settle(tx, t, &renders, min_psnr_db)
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
