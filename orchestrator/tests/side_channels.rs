//! Blind verification, the last side channels (issue 14): a node cannot tell a check from a
//! primary by the order of its leases, nor by how its submit is answered.
mod common;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use common::*;
use reqwest::StatusCode;
use serde_json::{json, Value};
use solana_sdk::signature::Signer;
use tessera_orchestrator::metrics::Metrics;
use tessera_orchestrator::scheduler::{Grant, LeasePolicy, Verifies, ORDER_BAND_FRAMES};
use tessera_orchestrator::store::{self, job_state, DbConfig, JobRow, Replay, Store, SubmitInput};
use tessera_orchestrator::verify::{Outcome, Submission};

const FRAMES: u32 = 24;
const TILES_PER_FRAME: u32 = 16;
const NODES: usize = 4;
/// The largest advantage (true-positive rate on checks minus false-positive rate on
/// primaries) the best threshold classifier below may reach.
const MAX_ADVANTAGE: f64 = 0.25;

fn db_config(dir: &tempfile::TempDir) -> DbConfig {
    DbConfig::new(
        fresh_database().unwrap_or_else(|| dir.path().join("db.sqlite").display().to_string()),
    )
}

/// Fixes the store's secret salt before anything uses it: the lease order is deterministic.
async fn fix_salt(cfg: &DbConfig, dir: &tempfile::TempDir) {
    let sql = "INSERT INTO meta(key, value) VALUES('salt', $1)".to_string();
    let salt = vec![42u8; 32];
    if cfg.is_postgres() {
        let url = cfg.url.clone();
        std::thread::spawn(move || {
            let mut c = postgres::Client::connect(&url, postgres::NoTls).unwrap();
            c.execute(&sql, &[&salt]).unwrap();
        })
        .join()
        .unwrap();
    } else {
        let db = rusqlite::Connection::open(dir.path().join("db.sqlite")).unwrap();
        db.busy_timeout(Duration::from_secs(5)).unwrap();
        db.execute(&sql.replace("$1", "?1"), [&salt]).unwrap();
    }
}

fn job() -> JobRow {
    JobRow {
        job_id: 1,
        job_key: "job1".into(),
        scene_hash: "scene".into(),
        frame_start: 1,
        frame_end: FRAMES,
        width: 64,
        height: 64,
        tile_size: 16,
        spp: 1,
        price_per_tile: 10,
        budget: 1_000_000,
        deadline: i64::MAX / 2000,
        state: job_state::RENDERING.into(),
        created_ms: now_ms(),
        leases_issued: 0,
        pass: 0.0,
        receipt_sig: None,
        error: None,
        frame_rate: (24, 1),
        verify_bps: 10_000,
    }
}

fn replay(n: usize) -> Replay {
    Replay {
        signature: format!("r{n}"),
        timestamp_ms: now_ms(),
    }
}

fn input(node: &str, n: usize) -> SubmitInput {
    SubmitInput {
        submission: Submission {
            node: node.into(),
            operator: format!("op-{node}"),
            witness: true,
            pixel_hash: "00".repeat(32),
            signature: "sig".into(),
            blob: "blob".into(),
        },
        salt: [7; 32],
        job_key: "job1".into(),
        base_share: 0.2,
        new_node_share: 0.2,
        replay: Some(replay(n)),
    }
}

const POLICY: LeasePolicy = LeasePolicy {
    lease_ms: 60_000,
    max_per_node: 10_000,
    max_per_node_per_job: 10_000,
    witness_wait_ms: 20_000,
};

/// What one node observed: each of its leases, (position, role), where position is
/// `frame × tiles + tile`, and the furthest position it had seen by then (its own earlier
/// leases and every tile the public event stream had announced verified).
type Seen = Vec<(i64, i64, String)>;

/// Nodes of distinct operators each hold one lease at a time and take turns submitting it
/// and leasing the next (so a tile's check waits while the other nodes' leases go out, as
/// when they render at once), until the job is done; a check's verdict is recorded right
/// after its submit, as the background verifier does.
async fn record_leases(s: Arc<dyn Store>) -> HashMap<String, Seen> {
    let pos = |f: u32, t: u32| i64::from(f) * i64::from(TILES_PER_FRAME) + i64::from(t);
    let nodes: Vec<String> = (0..NODES).map(|i| format!("node{i}")).collect();
    let mut held: Vec<Option<tessera_orchestrator::scheduler::Lease>> = vec![None; NODES];
    let mut verified = -1;
    let mut furthest: HashMap<String, i64> = HashMap::new();
    let mut seen: HashMap<String, Seen> = HashMap::new();
    let (mut n, mut idle) = (0, 0);
    while idle < NODES {
        let i = n % NODES;
        let node = &nodes[i];
        n += 1;
        if let Some(l) = held[i].take() {
            let p = pos(l.frame, l.tile);
            let (outcome, _, _) = s.submit(l.lease_id, input(node, n)).await.unwrap();
            match outcome {
                Outcome::Accepted => verified = verified.max(p),
                Outcome::AwaitingCheck => {}
                Outcome::AwaitingVerdict => {
                    let pending = s.comparison(1, l.frame, l.tile).await.unwrap().unwrap();
                    let rgba = pending.iter().map(|r| (r.id, Vec::new())).collect();
                    let settled = s
                        .settle_comparison(1, l.frame, l.tile, rgba, 35.0)
                        .await
                        .unwrap();
                    assert!(
                        matches!(settled, Some((Outcome::Verified { .. }, _, _))),
                        "{settled:?}"
                    );
                    verified = verified.max(p);
                }
                other => panic!("{other:?}"),
            }
        }
        n += 1;
        let op = format!("op-{node}");
        let g = s
            .lease(
                replay(n),
                node.clone(),
                op,
                0,
                now_ms(),
                POLICY,
                Verifies::all(),
            )
            .await
            .unwrap();
        let Grant::Lease(l) = g else {
            idle += 1;
            continue;
        };
        idle = 0;
        let p = pos(l.frame, l.tile);
        let mine = furthest.entry(node.clone()).or_insert(-1);
        seen.entry(node.clone())
            .or_default()
            .push((p, (*mine).max(verified), l.role.clone()));
        *mine = (*mine).max(p);
        held[i] = Some(l);
    }
    seen
}

/// The best classifier of the family "a check iff the lease is more than `d` positions
/// behind the furthest one seen", over every `d`: its advantage (rate on checks − rate on
/// primaries), the number of checks and of primaries.
fn best_order_classifier(seen: &HashMap<String, Seen>) -> (f64, usize, usize) {
    let all: Vec<&(i64, i64, String)> = seen.values().flatten().collect();
    let checks: Vec<i64> = all
        .iter()
        .filter(|x| x.2 != "primary")
        .map(|x| x.1 - x.0)
        .collect();
    let primaries: Vec<i64> = all
        .iter()
        .filter(|x| x.2 == "primary")
        .map(|x| x.1 - x.0)
        .collect();
    let band = ORDER_BAND_FRAMES * i64::from(TILES_PER_FRAME);
    let rate = |v: &[i64], d: i64| v.iter().filter(|b| **b > d).count() as f64 / v.len() as f64;
    let best = (-1..=2 * band)
        .map(|d| (rate(&checks, d) - rate(&primaries, d)).abs())
        .fold(0.0, f64::max);
    (best, checks.len(), primaries.len())
}

on_both! {
/// Before, leases went out in (frame, tile) order with second renders first: a check was
/// always behind the tiles a node had seen leased or verified, a primary never was, and
/// "behind the frontier" told them apart with an advantage of ≈ 1. Now every free tile is in
/// one line ordered by a keyed hash within a band of frames, checks included.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lease_order_does_not_tell_a_check_from_a_primary() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = db_config(&dir);
    let c = cfg.clone();
    tokio::task::spawn_blocking(move || store::migrate(&c).unwrap()).await.unwrap();
    fix_salt(&cfg, &dir).await;
    let s = store::open(&cfg, &Metrics::new().store).await.unwrap();
    assert!(s.job_insert(job(), TILES_PER_FRAME).await.unwrap());
    let seen = record_leases(s.clone()).await;
    let (advantage, checks, primaries) = best_order_classifier(&seen);
    eprintln!("best order classifier: advantage {advantage:.3} over {checks} checks and {primaries} primaries");
    assert!(checks >= 60, "enough checks to judge: {checks}");
    assert!(advantage <= MAX_ADVANTAGE, "the order tells checks apart: {advantage:.3}");
    // Frames still finish roughly in order: no lease is further than the band behind the
    // furthest tile verified before it.
    let band = ORDER_BAND_FRAMES * i64::from(TILES_PER_FRAME);
    let worst = seen.values().flatten().map(|x| x.1 - x.0).max().unwrap();
    assert!(worst < 2 * band, "{worst}");
    let t = s.tiles_of_job(1).await.unwrap();
    assert!(t.iter().all(|t| t.state == "verified"), "every tile rendered");
}
}

/// The reply of a submit, without what differs per lease (its id and signed ack).
fn shape(v: &Value) -> Value {
    let mut v = v.clone();
    let o = v.as_object_mut().unwrap();
    assert!(
        o.remove("ack").is_some_and(|a| a.is_string()),
        "an ack: {v}"
    );
    o.remove("lease_id");
    v
}

/// (pending, agreed) renders of the lease's tile.
async fn verdicts(orch: &TestOrch, l: &Value) -> (i64, i64) {
    let at = format!("results WHERE frame={} AND tile={}", l["frame"], l["tile"]);
    let pending = orch
        .count_where(&format!("{at} AND verdict='pending'"))
        .await;
    (
        pending,
        orch.count_where(&format!("{at} AND verdict='agreed'"))
            .await,
    )
}

fn blob_reads(orch: &TestOrch) -> u64 {
    orch.orch
        .as_ref()
        .unwrap()
        .metrics()
        .blob_seconds
        .with_label_values(&["local", "get"])
        .get_sample_count()
}

on_both! {
/// Before, a check whose bytes differed from the primary was compared on the submit's
/// request path (the earlier PNG read and decoded, the PSNR) and answered 4–8 ms later than
/// one whose bytes agreed. Now the submit stores the render and answers; the background
/// verifier decides after. With it held, both checks get the same answer, no earlier render
/// is read and no verdict is recorded; the process dies (aborted) and, restarted, the
/// verifier decides both: the agreeing check verifies its tile, the differing one sends its
/// tile to a tiebreak, which convicts it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_check_is_answered_before_it_is_compared_and_compared_after_a_restart() {
    let (chain, mut orch) = TestOrch::every_tile_checked(|c| c.hold_verdicts = true).await;
    let url = orch.url.clone();
    let primary = SimNode::new(chain.register_node(MIN_STAKE).await.1);
    let agrees = SimNode::new(chain.register_node(MIN_STAKE).await.1);
    let mut differs = SimNode::new(chain.register_node(MIN_STAKE).await.1);
    differs.wrong = true;
    let third = SimNode::new(chain.register_node(MIN_STAKE).await.1);
    // Checkers qualify as witnesses of the job only if registered before it.
    chain.advance_clock(2).await;
    let id = chain.create_job(1, 100).await;
    orch.register(json!({"job_id": id})).await;

    let mut rendered = Vec::new();
    for _ in 0..2 {
        let l = primary.lease(&url).await.unwrap();
        assert_eq!(primary.submit(&url, &l).await.0, StatusCode::OK);
        rendered.push(tile_of(&l));
    }
    let (a, d) = (agrees.lease(&url).await.unwrap(), differs.lease(&url).await.unwrap());
    for l in [&a, &d] {
        assert!(rendered.contains(&tile_of(l)), "a check of a rendered tile: {l}");
    }
    let reads = blob_reads(&orch);
    let (sa, ra) = agrees.submit(&url, &a).await;
    let (sd, rd) = differs.submit(&url, &d).await;
    assert_eq!((sa, sd), (StatusCode::OK, StatusCode::OK), "{ra} {rd}");
    assert_eq!(shape(&ra), shape(&rd), "the same answer either way");
    assert_eq!(shape(&ra), json!({"outcome": "accepted"}));
    assert_eq!(blob_reads(&orch), reads, "no earlier render read on the request path");
    tokio::time::sleep(Duration::from_millis(300)).await;
    for l in [&a, &d] {
        assert_eq!(verdicts(&orch, l).await, (2, 0), "undecided: {l}");
    }
    assert_eq!(orch.count_where("tiles WHERE need='compare'").await, 2);
    assert_eq!(orch.count_rows("evidence").await, 0);
    // Nobody else can take either tile meanwhile.
    let other = third.lease(&url).await.unwrap();
    assert!(!rendered.contains(&tile_of(&other)), "{other}");
    assert_eq!(third.submit(&url, &other).await.0, StatusCode::OK);

    // As close to kill -9 as in-process gets, then a restart that compares.
    orch.restart(&chain, |c| c.verify_share = 1.0).await;
    let url = orch.url.clone();
    orch.wait_verdicts().await;
    assert_eq!(verdicts(&orch, &a).await, (0, 2), "the agreeing check verified its tile");
    assert_eq!(verdicts(&orch, &d).await, (2, 0), "the differing one waits for a tiebreak");
    assert_eq!(orch.count_rows("evidence").await, 0, "a disagreement convicts nobody alone");
    // The differing check's tile goes to a third operator, who agrees with the primary.
    let t = third.lease(&url).await.unwrap();
    assert_eq!(tile_of(&t), tile_of(&d), "the tiebreak: {t}");
    assert_eq!(third.submit(&url, &t).await.0, StatusCode::OK);
    orch.wait_verdicts().await;
    let (_, ev) = orch.get_json(&format!("/v1/jobs/{id}/evidence")).await;
    let faulty: Vec<&str> = ev["evidence"].as_array().unwrap().iter()
        .map(|e| e["faulty_node"].as_str().unwrap()).collect();
    assert_eq!(faulty, vec![differs.key.pubkey().to_string().as_str()]);
}
}

on_both! {
/// Verification is paid (issue 14): the artist cancels while two checks are stored and not
/// yet compared (the background verifier held). Before building the receipt the poster
/// compares them: the agreeing check is paid beside its tile's primary render, the
/// differing one sends its tile to a tiebreak, out of the receipt; none is left undecided.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_check_stored_before_a_cancel_is_compared_and_paid_in_the_receipt() {
    let (chain, orch) = TestOrch::every_tile_checked(|c| c.hold_verdicts = true).await;
    let url = orch.url.clone();
    let primary = SimNode::new(chain.register_node(MIN_STAKE).await.1);
    let agrees = SimNode::new(chain.register_node(MIN_STAKE).await.1);
    let mut differs = SimNode::new(chain.register_node(MIN_STAKE).await.1);
    differs.wrong = true;
    // Checkers qualify as witnesses of the job only if registered before it.
    chain.advance_clock(2).await;
    let id = chain.create_job(1, 100).await;
    orch.register(json!({"job_id": id})).await;
    for _ in 0..2 {
        let l = primary.lease(&url).await.unwrap();
        assert_eq!(primary.submit(&url, &l).await.0, StatusCode::OK);
    }
    let (a, d) = (agrees.lease(&url).await.unwrap(), differs.lease(&url).await.unwrap());
    assert_eq!(agrees.submit(&url, &a).await.0, StatusCode::OK);
    assert_eq!(differs.submit(&url, &d).await.0, StatusCode::OK);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(orch.count_where("tiles WHERE need='compare'").await, 2, "both held");

    let artist = chain.payer.pubkey();
    chain.send(&[tessera_sdk::ix::cancel_job(&artist, id)], &[]).await.unwrap();
    let status = orch.wait_state(id, "posted", 30).await;
    assert_eq!(status["counts"]["verified"], 1, "{status}");
    assert_eq!(orch.count_where("tiles WHERE need='compare'").await, 0, "all decided");
    assert_eq!(verdicts(&orch, &a).await, (0, 2), "the agreeing check was compared");
    assert_eq!(verdicts(&orch, &d).await, (2, 0), "the differing one awaits a tiebreak");
    let job = chain.job(id).await;
    // One tile: its primary render and the agreeing check, 100 each, to two nodes.
    assert_eq!(
        (job.state, job.tile_count, job.node_count, job.total_payout),
        (tessera_sdk::JobState::Rendered, 1, 2, 200)
    );
}
}

fn tile_of(l: &Value) -> (u64, u64) {
    (l["frame"].as_u64().unwrap(), l["tile"].as_u64().unwrap())
}
