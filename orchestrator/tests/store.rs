//! The `Store` trait on both backends: migrations, replays, and two instances on one
//! database leasing and submitting at once (two `Store`s on one SQLite file, or on one
//! PostgreSQL database, as two orchestrator processes would be).
mod common;

use std::collections::HashSet;
use std::sync::Arc;

use common::*;
use tessera_orchestrator::error::StoreError;
use tessera_orchestrator::metrics::Metrics;
use tessera_orchestrator::scheduler::{Grant, LeasePolicy, Verifies};
use tessera_orchestrator::store::{self, job_state, DbConfig, JobRow, Replay, Store, SubmitInput};
use tessera_orchestrator::verify::{Outcome, Submission};

const FRAMES: u32 = 2;
const TILES_PER_FRAME: u32 = 60;

/// A fresh store of the running test's backend (a SQLite file in `dir`, or a new database).
fn db_config(dir: &tempfile::TempDir) -> DbConfig {
    DbConfig::new(
        fresh_database().unwrap_or_else(|| dir.path().join("db.sqlite").display().to_string()),
    )
}

async fn open(cfg: &DbConfig) -> Arc<dyn Store> {
    store::open(cfg, &Metrics::new().store).await.expect("open")
}

fn job(id: u64) -> JobRow {
    JobRow {
        job_id: id,
        job_key: format!("job{id}"),
        scene_hash: "scene".into(),
        frame_start: 1,
        frame_end: FRAMES,
        width: 64,
        height: 64,
        tile_size: 8,
        spp: 1,
        price_per_tile: 10,
        budget: 10_000,
        deadline: i64::MAX / 2000,
        state: job_state::RENDERING.into(),
        created_ms: now_ms(),
        leases_issued: 0,
        pass: 0.0,
        receipt_sig: None,
        error: None,
        frame_rate: (24, 1),
        verify_bps: 2_000,
    }
}

fn replay(tag: &str) -> Replay {
    Replay {
        signature: format!("{tag}-{}", rand_suffix()),
        timestamp_ms: now_ms(),
    }
}

fn rand_suffix() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed).to_string()
}

const OPEN_POLICY: LeasePolicy = LeasePolicy {
    lease_ms: 60_000,
    max_per_node: 10_000,
    max_per_node_per_job: 10_000,
    witness_wait_ms: 20_000,
};

fn input(node: &str) -> SubmitInput {
    SubmitInput {
        submission: Submission {
            node: node.into(),
            operator: node.into(),
            witness: true,
            pixel_hash: "00".repeat(32),
            signature: "sig".into(),
            blob: "blob".into(),
        },
        salt: [7; 32],
        job_key: "job1".into(),
        base_share: 0.0,
        new_node_share: 0.0,
        replay: None,
    }
}

on_both! {
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrations_apply_once_and_a_reopened_store_keeps_its_data() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = db_config(&dir);
    let s = open(&cfg).await;
    assert!(s.job_insert(job(1), TILES_PER_FRAME).await.unwrap());
    assert!(!s.job_insert(job(1), TILES_PER_FRAME).await.unwrap(), "idempotent");
    let salt = s.salt().await.unwrap();
    drop(s);
    let again = {
        let cfg = cfg.clone();
        tokio::task::spawn_blocking(move || store::migrate(&cfg)).await.unwrap().unwrap()
    };
    assert!(again.is_empty(), "nothing left to apply: {again:?}");
    let s = open(&cfg).await;
    assert_eq!(s.salt().await.unwrap(), salt);
    let (counts, frames, _) = s.job_progress(1, 0).await.unwrap();
    assert_eq!(counts.total, u64::from(FRAMES * TILES_PER_FRAME));
    assert_eq!(counts.queued, counts.total);
    assert_eq!(frames.len(), FRAMES as usize);
}
}

on_both! {
/// The signed receipt transaction, and with it every verification committed before, is
/// flushed to disk before it is sent, even on a store configured not to flush commits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_receipt_transaction_is_committed_durably_whatever_the_setting() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = db_config(&dir);
    cfg.sqlite_synchronous = "OFF".into();
    cfg.pg_synchronous_commit = "off".into();
    let s = open(&cfg).await;
    s.job_insert(job(1), TILES_PER_FRAME).await.unwrap();
    let setting = s.job_set_receipt_tx(1, vec![1, 2, 3], "sig".into()).await.unwrap();
    let durable = if cfg.is_postgres() { "synchronous_commit=on" } else { "synchronous=2" };
    assert_eq!(setting, durable, "FULL (2) / on inside the receipt's transaction");
    assert_eq!(s.job_receipt_tx(1).await.unwrap(), Some(vec![1, 2, 3]));
    assert_eq!(s.job_get(1).await.unwrap().unwrap().state, job_state::POSTING);
}
}

on_both! {
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replayed_request_is_refused_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(&db_config(&dir)).await;
    s.job_insert(job(1), TILES_PER_FRAME).await.unwrap();
    lease_then_replay(&s, replay("lease")).await;
}
}

/// Leases job 1's first tile with `r`, then replays `r`: refused, and nothing more leased.
async fn lease_then_replay(s: &Arc<dyn Store>, r: Replay) {
    let first = s
        .lease(
            r.clone(),
            "n1".into(),
            "n1".into(),
            0,
            now_ms(),
            OPEN_POLICY,
            Verifies::all(),
        )
        .await;
    assert!(matches!(first, Ok(Grant::Lease(_))), "{first:?}");
    let again = s
        .lease(
            r,
            "n1".into(),
            "n1".into(),
            0,
            now_ms(),
            OPEN_POLICY,
            Verifies::all(),
        )
        .await;
    assert!(matches!(again, Err(StoreError::Replay)), "{again:?}");
    let (counts, _, _) = s.job_progress(1, 0).await.unwrap();
    assert_eq!(counts.leased, 1, "the replay leased nothing");
}

on_both! {
/// A session request (a MAC, not a signature) is refused when replayed and, like any
/// request, recorded only when its transaction body succeeds. On SQLite its record lives in
/// the process (no `seen_sigs` row) and the session keys carry a secret of this store's
/// lifetime, so a reopened store accepts no session of the one before; PostgreSQL shares
/// sessions between instances and keeps a row.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_request_is_recorded_once_and_only_when_its_body_succeeds() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = db_config(&dir);
    let s = open(&cfg).await;
    s.job_insert(job(1), TILES_PER_FRAME).await.unwrap();
    let mac = |tag: &str| Replay {
        signature: format!("{}{tag}-{}", store::replay::SESSION_PREFIX, rand_suffix()),
        timestamp_ms: now_ms(),
    };
    // A submit of a lease nobody holds fails: its request is not recorded.
    let r = mac("submit");
    let gone = s.submit(9_999, SubmitInput { replay: Some(r.clone()), ..input("n1") }).await;
    assert!(matches!(gone, Err(StoreError::LeaseGone(_))), "{gone:?}");
    lease_then_replay(&s, r.clone()).await;
    assert!(matches!(s.remember(r).await, Err(StoreError::Replay)));
    let rows = seen_sigs(&cfg);
    if cfg.is_postgres() {
        assert_eq!(rows, 1);
        assert_eq!(s.session_secret(), None, "sessions shared by the instances");
    } else {
        assert_eq!(rows, 0, "session requests are not rows on SQLite");
        let secret = s.session_secret().expect("sessions end with the store");
        drop(s);
        assert_ne!(open(&cfg).await.session_secret(), Some(secret));
    }
}
}

/// `seen_sigs` rows in the test's store.
fn seen_sigs(cfg: &DbConfig) -> i64 {
    let sql = "SELECT COUNT(*) FROM seen_sigs";
    if !cfg.is_postgres() {
        let db = rusqlite::Connection::open(&cfg.url).unwrap();
        return db.query_row(sql, [], |r| r.get(0)).unwrap();
    }
    let url = cfg.url.clone();
    std::thread::spawn(move || {
        let mut c = postgres::Client::connect(&url, postgres::NoTls).unwrap();
        c.query_one(sql, &[]).unwrap().get(0)
    })
    .join()
    .unwrap()
}

on_both! {
/// Two instances on one database, eight nodes each asking at once until no work is left:
/// every tile is leased exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_instances_leasing_at_once_never_lease_a_tile_twice() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = db_config(&dir);
    let a = open(&cfg).await;
    let b = open(&cfg).await;
    a.job_insert(job(1), TILES_PER_FRAME).await.unwrap();
    let mut tasks = Vec::new();
    for n in 0..8 {
        let s = if n % 2 == 0 { a.clone() } else { b.clone() };
        tasks.push(tokio::spawn(async move {
            let mut got = Vec::new();
            loop {
                match s.lease(replay("l"), format!("node{n}"), format!("node{n}"), 0, now_ms(), OPEN_POLICY, Verifies::all()).await {
                    Ok(Grant::Lease(l)) => got.push((l.frame, l.tile, l.lease_id)),
                    Ok(Grant::NoWork) => return got,
                    other => panic!("{other:?}"),
                }
            }
        }));
    }
    let mut tiles = HashSet::new();
    let mut leases = HashSet::new();
    for t in tasks {
        for (frame, tile, id) in t.await.unwrap() {
            assert!(tiles.insert((frame, tile)), "tile {frame}/{tile} leased twice");
            assert!(leases.insert(id), "lease id {id} issued twice");
        }
    }
    assert_eq!(tiles.len(), (FRAMES * TILES_PER_FRAME) as usize);
    let (counts, _, _) = b.job_progress(1, 0).await.unwrap();
    assert_eq!(counts.leased, counts.total);
}
}

on_both! {
/// The same lease submitted to two instances at once, eight times over: each lease is
/// accepted once, the other submit finds it gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_lease_submitted_to_two_instances_at_once_is_accepted_once() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = db_config(&dir);
    let a = open(&cfg).await;
    let b = open(&cfg).await;
    a.job_insert(job(1), TILES_PER_FRAME).await.unwrap();
    for _ in 0..8 {
        let Grant::Lease(l) = a.lease(replay("l"), "n1".into(), "n1".into(), 0, now_ms(), OPEN_POLICY, Verifies::all()).await.unwrap() else {
            panic!("no lease");
        };
        let (ra, rb) = tokio::join!(a.submit(l.lease_id, input("n1")), b.submit(l.lease_id, input("n1")));
        let ok: Vec<_> = [&ra, &rb].into_iter().filter(|r| r.is_ok()).collect();
        assert_eq!(ok.len(), 1, "{ra:?} {rb:?}");
        assert!(matches!(ok[0], Ok((Outcome::Accepted, _, false))), "{ok:?}");
        let gone = if ra.is_ok() { &rb } else { &ra };
        assert!(matches!(gone, Err(StoreError::LeaseGone(id)) if *id == l.lease_id), "{gone:?}");
    }
    let (counts, _, _) = a.job_progress(1, 0).await.unwrap();
    assert_eq!(counts.verified, 8);
    let tiles = a.tiles_of_job(1).await.unwrap();
    let mut results = 0;
    for t in tiles.iter().filter(|t| t.state == "verified") {
        assert_eq!(t.node.as_deref(), Some("n1"));
        results += 1;
    }
    assert_eq!(results, 8);
}
}

/// PostgreSQL only (a SQLite file has one process, which always leads): of two instances
/// one leads the background work; when it goes, the other takes over.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_instance_leads_background_work_and_another_takes_over_when_it_goes() {
    on(Db::Postgres, async {
        let dir = tempfile::tempdir().unwrap();
        let cfg = db_config(&dir);
        let a = open(&cfg).await;
        let b = open(&cfg).await;
        assert!(a.lead().await.unwrap());
        assert!(!b.lead().await.unwrap(), "one leader at a time");
        assert!(a.lead().await.unwrap(), "the leader keeps the lead");
        drop(a);
        let mut took_over = false;
        for _ in 0..50 {
            if b.lead().await.unwrap() {
                took_over = true;
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        assert!(took_over, "the other instance takes over");
    })
    .await
}

on_both! {
/// What the in-memory schedule (SQLite) must follow, as the SQL one does: an expired lease
/// and a refused submission put their tile back first in line, a check goes to another
/// operator only, the per-node caps count live leases, and a job that stops running is
/// leased from no more; then a reopened store (memory read again) agrees.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leases_follow_expiry_refusal_checks_caps_and_job_state() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = db_config(&dir);
    let s = open(&cfg).await;
    s.job_insert(job(1), TILES_PER_FRAME).await.unwrap();
    let lease = |s: Arc<dyn Store>, node: &'static str, op: &'static str, now: i64, policy| async move {
        match s.lease(replay("l"), node.into(), op.into(), 0, now, policy, Verifies::all()).await.unwrap() {
            Grant::Lease(l) => Some(l),
            Grant::NoWork => None,
            Grant::AtLimit(why) => panic!("{why}"),
        }
    };
    let now = now_ms();
    let first = lease(s.clone(), "n1", "op1", now, OPEN_POLICY).await.unwrap();
    // The first in line (a salted order, `scheduler::pick_key`).
    let head = (first.frame, first.tile);
    // Expired (as the sweeper sees it a minute later): it is first in line again.
    let later = now + OPEN_POLICY.lease_ms + 1;
    assert_eq!(s.expire_leases(later).await.unwrap(), vec![(1, head.0, head.1)]);
    let again = lease(s.clone(), "n2", "op2", later, OPEN_POLICY).await.unwrap();
    assert_eq!((again.frame, again.tile), head);
    assert!(matches!(s.submit(first.lease_id, input("n1")).await, Err(StoreError::LeaseGone(_))));
    // A refused submission releases the lease (and records the request).
    s.refuse_submission(again.lease_id, "n2".into(), Some(replay("r"))).await.unwrap();
    let third = lease(s.clone(), "n3", "op3", later, OPEN_POLICY).await.unwrap();
    assert_eq!((third.frame, third.tile), head);
    // Sampled (share 1): the tile waits for a check by another operator.
    let mut sampled = input("n3");
    sampled.submission.operator = "op3".into();
    (sampled.base_share, sampled.new_node_share) = (1.0, 1.0);
    let (outcome, _, _) = s.submit(third.lease_id, sampled).await.unwrap();
    assert_eq!(outcome, Outcome::AwaitingCheck);
    let same_operator = lease(s.clone(), "n4", "op3", later, OPEN_POLICY).await.unwrap();
    assert_ne!((same_operator.frame, same_operator.tile), head, "no check by the same operator");
    // The check keeps its tile's place in line, ahead of every queued tile.
    let check = lease(s.clone(), "n5", "op5", later, OPEN_POLICY).await.unwrap();
    assert_eq!((check.frame, check.tile, check.role.as_str()), (head.0, head.1, "check"));
    // Caps count the leases held: n5 holds one.
    let capped = LeasePolicy { max_per_node: 1, ..OPEN_POLICY };
    let at = s.lease(replay("l"), "n5".into(), "op5".into(), 0, later, capped, Verifies::all()).await.unwrap();
    assert!(matches!(at, Grant::AtLimit(_)), "{at:?}");
    // A reopened store reads the same schedule from the database.
    drop(s);
    let s = open(&cfg).await;
    let at = s.lease(replay("l"), "n5".into(), "op5".into(), 0, later, capped, Verifies::all()).await.unwrap();
    assert!(matches!(at, Grant::AtLimit(_)), "{at:?}");
    let next = lease(s.clone(), "n6", "op6", later, OPEN_POLICY).await.unwrap();
    let leased = [head, (same_operator.frame, same_operator.tile)];
    assert!(!leased.contains(&(next.frame, next.tile)), "the head (its check) and n4's tile are leased");
    assert_eq!(next.role, "primary");
    // The job stops (cancelled on-chain): nothing more is leased from it.
    s.job_set_state(1, job_state::PARTIAL, None).await.unwrap();
    assert!(lease(s.clone(), "n7", "op7", later, OPEN_POLICY).await.is_none());
}
}

on_both! {
/// Second renders go first to nodes that qualify as witnesses of the job (`Verifies`, issue
/// 14), on the SQL schedule and the in-memory one alike: a node that does not is leased the
/// job's primaries only until the check has waited `witness_wait_ms`, then it may take it
/// (so a job on a network where no node qualifies still ends).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checks_go_to_witnesses_first_and_to_other_nodes_only_after_the_wait() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = db_config(&dir);
    let s = open(&cfg).await;
    s.job_insert(job(1), TILES_PER_FRAME).await.unwrap();
    let wait = OPEN_POLICY.witness_wait_ms;
    let lease = |s: Arc<dyn Store>, node: &'static str, verifies: Verifies, now: i64| async move {
        let g = s.lease(replay("l"), node.into(), node.into(), 0, now, OPEN_POLICY, verifies);
        match g.await.unwrap() {
            Grant::Lease(l) => l,
            other => panic!("{other:?}"),
        }
    };
    // Two sampled primaries: the first two tiles in line wait for their checks from
    // between `t0` and `t1`.
    let t0 = now_ms();
    let mut checks = Vec::new();
    for _ in 0..2 {
        let l = lease(s.clone(), "n1", Verifies::all(), now_ms()).await;
        let mut sampled = input("n1");
        (sampled.base_share, sampled.new_node_share) = (1.0, 1.0);
        let (outcome, _, _) = s.submit(l.lease_id, sampled).await.unwrap();
        assert_eq!(outcome, Outcome::AwaitingCheck);
        checks.push((l.frame, l.tile));
    }
    let t1 = now_ms();
    // The checks are first in line (they keep their tiles' keys), yet a node that does not
    // qualify is passed over them, again and again, to primaries, up to the last
    // millisecond of the wait.
    let newcomer = Verifies::new(|job| job.job_id != 1);
    for _ in 0..5 {
        let l = lease(s.clone(), "sybil", newcomer.clone(), t0 + wait - 1).await;
        assert_eq!(l.role, "primary", "{l:?}");
        assert!(!checks.contains(&(l.frame, l.tile)));
    }
    // Reopened (memory read again, the wait from the store): still not hers; a witness
    // gets the first check at once.
    drop(s);
    let s = open(&cfg).await;
    let l = lease(s.clone(), "sybil", newcomer.clone(), t0 + wait - 1).await;
    assert_eq!(l.role, "primary");
    let check = lease(s.clone(), "n2", Verifies::all(), now_ms()).await;
    assert_eq!(((check.frame, check.tile), check.role.as_str()), (checks[0], "check"));
    // Once the second has waited `witness_wait_ms`, the node that does not qualify takes it.
    let late = lease(s.clone(), "sybil", newcomer, t1 + wait).await;
    assert_eq!(((late.frame, late.tile), late.role.as_str()), (checks[1], "check"));
}
}

/// Leases a tile of the running jobs as `node` (its own operator) and submits `blob` for
/// it, checked when `checked` (share 1): the outcome.
async fn render_blob(s: &Arc<dyn Store>, node: &str, blob: &str, checked: bool) -> Outcome {
    let grant = s.lease(
        replay("l"),
        node.into(),
        node.into(),
        0,
        now_ms(),
        OPEN_POLICY,
        Verifies::all(),
    );
    let Grant::Lease(l) = grant.await.unwrap() else {
        panic!("no tile for {node}")
    };
    let mut sub = input(node);
    sub.submission.blob = blob.into();
    if checked {
        (sub.base_share, sub.new_node_share) = (1.0, 1.0);
    }
    s.submit(l.lease_id, sub).await.unwrap().0
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

/// A purge's lookup as retention runs it: the scan (on SQLite, without the lock), then the
/// re-check (under it).
async fn doomed(s: &Arc<dyn Store>, job_id: u64) -> Vec<String> {
    let scan = s.doomed_scan(job_id).await.unwrap();
    sorted(s.doomed_blobs(job_id, scan).await.unwrap())
}

/// An orphan batch's lookup as retention runs it.
async fn unreferenced(s: &Arc<dyn Store>, hashes: Vec<String>) -> Vec<String> {
    let scan = s.unreferenced_scan(hashes).await.unwrap();
    sorted(s.unreferenced_blobs(scan.blobs, scan.mark).await.unwrap())
}

on_both! {
/// Retention's blob queries (issue 15: found through `results` alone, `tiles` has no index
/// by blob since V9, and on SQLite `results` none since V10): a purged job's blobs are those
/// no other unpurged job references, a tile's render waiting for its check included; a blob
/// both jobs reference (identical tiles: blobs are content-addressed) is kept until the
/// second is purged too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blob_another_unpurged_job_references_is_not_doomed() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(&db_config(&dir)).await;
    s.job_insert(job(1), TILES_PER_FRAME).await.unwrap();
    assert_eq!(render_blob(&s, "n1", "shared", false).await, Outcome::Accepted);
    assert_eq!(render_blob(&s, "n2", "only1", false).await, Outcome::Accepted);
    assert_eq!(render_blob(&s, "n3", "waiting1", true).await, Outcome::AwaitingCheck);
    s.job_set_state(1, job_state::PARTIAL, None).await.unwrap();
    s.job_insert(job(2), TILES_PER_FRAME).await.unwrap();
    assert_eq!(render_blob(&s, "n4", "shared", false).await, Outcome::Accepted);
    assert_eq!(render_blob(&s, "n5", "only2", false).await, Outcome::Accepted);
    s.job_set_state(2, job_state::PARTIAL, None).await.unwrap();

    let all = || ["shared", "only1", "waiting1", "only2", "never"].map(String::from).to_vec();
    assert_eq!(unreferenced(&s, all()).await, vec!["never".to_string()]);
    s.mark_closed(1, now_ms()).await.unwrap();
    assert_eq!(doomed(&s, 1).await, vec!["only1", "waiting1"]);
    s.mark_purged(1, now_ms()).await.unwrap();
    assert_eq!(unreferenced(&s, all()).await, vec!["never", "only1", "waiting1"]);
    s.mark_closed(2, now_ms()).await.unwrap();
    assert_eq!(doomed(&s, 2).await, vec!["only2", "shared"]);
}
}

on_both! {
/// A submit whose result row commits after retention's scan and before its lock (the
/// scan runs without `blob_gc` on SQLite) keeps the blob it reuses: neither the purge of a
/// job with the same blob nor the orphan sweep deletes it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blob_referenced_between_the_scan_and_the_lock_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(&db_config(&dir)).await;
    s.job_insert(job(1), TILES_PER_FRAME).await.unwrap();
    assert_eq!(render_blob(&s, "n1", "reused", false).await, Outcome::Accepted);
    assert_eq!(render_blob(&s, "n2", "only1", false).await, Outcome::Accepted);
    s.job_set_state(1, job_state::PARTIAL, None).await.unwrap();
    s.mark_closed(1, now_ms()).await.unwrap();
    s.job_insert(job(2), TILES_PER_FRAME).await.unwrap();

    let purge = s.doomed_scan(1).await.unwrap();
    let orphans = ["reused", "late", "never"].map(String::from).to_vec();
    let sweep = s.unreferenced_scan(orphans).await.unwrap();
    if db() == Db::Sqlite {
        assert_eq!(sorted(purge.blobs.clone()), vec!["only1", "reused"], "before the submit");
        assert_eq!(sorted(sweep.blobs.clone()), vec!["late", "never"]);
    }
    // Between the scan and the lock: job 2 stores a tile byte-identical to one of job 1
    // (the put found the blob stored), and a blob the listing found before its row.
    assert_eq!(render_blob(&s, "n3", "reused", false).await, Outcome::Accepted);
    assert_eq!(render_blob(&s, "n4", "late", false).await, Outcome::Accepted);
    assert_eq!(sorted(s.doomed_blobs(1, purge).await.unwrap()), vec!["only1"]);
    assert_eq!(
        sorted(s.unreferenced_blobs(sweep.blobs, sweep.mark).await.unwrap()),
        vec!["never"]
    );
}
}

/// SQLite (V10): `results` has no index by blob, and a scan's mark is the highest result id
/// its snapshot held: the rows committed after the scan, all the re-check reads, are the
/// rows above it, also when a rolled-back insert had taken (and given back) the next id.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_sqlite_rows_committed_after_a_scan_are_above_its_mark() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = db_config(&dir);
    let s = open(&cfg).await;
    let db = rusqlite::Connection::open(&cfg.url).unwrap();
    db.busy_timeout(std::time::Duration::from_secs(5)).unwrap();
    let count = |sql: &str| -> i64 { db.query_row(sql, [], |r| r.get(0)).unwrap() };
    let blob_index = "SELECT COUNT(*) FROM sqlite_master WHERE name='results_blob'";
    assert_eq!(count(blob_index), 0, "V10 dropped the index");
    s.job_insert(job(1), TILES_PER_FRAME).await.unwrap();
    for n in 0..3 {
        assert_eq!(
            render_blob(&s, &format!("a{n}"), &format!("a{n}"), false).await,
            Outcome::Accepted
        );
    }
    s.job_set_state(1, job_state::PARTIAL, None).await.unwrap();
    s.mark_closed(1, now_ms()).await.unwrap();
    s.job_insert(job(2), TILES_PER_FRAME).await.unwrap();

    let scan = s.doomed_scan(1).await.unwrap();
    let mark = scan.mark.expect("SQLite scans");
    assert_eq!(mark, count("SELECT MAX(id) FROM results"));
    assert_eq!(sorted(scan.blobs.clone()), vec!["a0", "a1", "a2"]);
    // A transaction that inserts a result and rolls back (as a failed body does).
    db.execute_batch(
        "BEGIN IMMEDIATE;
         INSERT INTO results(job_id, frame, tile, node, role, pixel_hash, signature, blob,
           submitted_ms, verdict) VALUES (2, 1, 0, 'x', 'primary', 'h', 's', 'a1', 0, 'pending');
         ROLLBACK;",
    )
    .unwrap();
    assert_eq!(render_blob(&s, "b", "a0", false).await, Outcome::Accepted);
    let since = format!("SELECT COUNT(*) FROM results WHERE id > {mark}");
    assert_eq!(
        count(&since),
        1,
        "the row committed since the scan is above the mark"
    );
    assert_eq!(
        sorted(s.doomed_blobs(1, scan).await.unwrap()),
        vec!["a1", "a2"]
    );
}

/// A SQLite store in `dir` holding job `id`, and a plain connection to its file (to read
/// what the store wrote as SQLite itself sees it).
async fn sqlite_with_job(
    dir: &tempfile::TempDir,
    id: u64,
) -> (DbConfig, Arc<dyn Store>, rusqlite::Connection) {
    let cfg = db_config(dir);
    let s = open(&cfg).await;
    s.job_insert(job(id), TILES_PER_FRAME).await.unwrap();
    let db = rusqlite::Connection::open(&cfg.url).unwrap();
    (cfg, s, db)
}

/// SQLite (V11): the indexes a lease and a submit no longer write are gone, and the lookups
/// by lease (submit, heartbeat, refusal) still search the partial `tiles_lease`, not a scan.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_sqlite_tiles_are_found_by_lease_through_the_partial_index() {
    let dir = tempfile::tempdir().unwrap();
    let (_cfg, _s, db) = sqlite_with_job(&dir, 1).await;
    let indexes: HashSet<String> = db
        .prepare(
            "SELECT name FROM sqlite_master WHERE type='index' AND tbl_name IN ('tiles','results')",
        )
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    for gone in ["tiles_node", "results_tile"] {
        assert!(!indexes.contains(gone), "V11 dropped {gone}: {indexes:?}");
    }
    let partial: String = db
        .query_row(
            "SELECT sql FROM sqlite_master WHERE name='tiles_lease'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(partial.ends_with("WHERE lease_id IS NOT NULL"), "{partial}");
    for by_lease in [
        "SELECT state FROM tiles WHERE lease_id=?1",
        "UPDATE tiles SET lease_deadline=?3 WHERE lease_id=?1 AND lease_node=?2 AND lease_deadline>=?4",
        "UPDATE tiles SET failures=failures+1, lease_id=NULL WHERE lease_id=?1 AND lease_node=?2",
    ] {
        let mut explain = db.prepare(&format!("EXPLAIN QUERY PLAN {by_lease}")).unwrap();
        let nulls = vec![rusqlite::types::Null; explain.parameter_count()];
        let plan: Vec<String> = explain
            .query_map(rusqlite::params_from_iter(nulls), |r| r.get(3))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert!(
            plan.iter().any(|p| p.contains("USING INDEX tiles_lease (lease_id=?)")),
            "{by_lease}: {plan:?}"
        );
    }
}

/// SQLite: committed pages are copied into the database file by the checkpointer thread,
/// off the writer, long before the WAL is long enough for the writer to catch up (8 192
/// frames): read with `immutable=1`, which ignores the WAL, the file alone holds the job.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_sqlite_the_checkpointer_copies_commits_into_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let (cfg, _s, _db) = sqlite_with_job(&dir, 7).await;
    let file_only = format!("file:{}?immutable=1", cfg.url);
    let in_file = || -> i64 {
        let c = rusqlite::Connection::open_with_flags(
            &file_only,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_URI,
        )
        .unwrap();
        c.query_row("SELECT COUNT(*) FROM jobs WHERE job_id=7", [], |r| r.get(0))
            .unwrap_or(0)
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while in_file() == 0 && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(
        in_file(),
        1,
        "the job's pages reached the file while the store is open"
    );
    let wal = std::fs::metadata(format!("{}-wal", cfg.url)).unwrap().len();
    assert!(wal > 0, "the store is still open in WAL mode");
}

/// SQLite: a new store's file has 2 048-byte pages (fewer bytes written per touched page);
/// a file made with another page size keeps it and is migrated and used as before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_sqlite_new_stores_have_small_pages_and_old_files_keep_theirs() {
    let page_size = |c: &rusqlite::Connection| -> i64 {
        c.query_row("PRAGMA page_size", [], |r| r.get(0)).unwrap()
    };
    let dir = tempfile::tempdir().unwrap();
    let (_cfg, _s, db) = sqlite_with_job(&dir, 1).await;
    assert_eq!(page_size(&db), 2048);

    let old_dir = tempfile::tempdir().unwrap();
    let old = db_config(&old_dir);
    let before = rusqlite::Connection::open(&old.url).unwrap();
    before
        .execute_batch("PRAGMA page_size=4096; CREATE TABLE before_tessera(x);")
        .unwrap();
    let s = open(&old).await;
    assert!(s.job_insert(job(1), TILES_PER_FRAME).await.unwrap());
    let (counts, _, _) = s.job_progress(1, 0).await.unwrap();
    assert_eq!(counts.queued, u64::from(FRAMES * TILES_PER_FRAME));
    assert_eq!(page_size(&before), 4096);
}

/// SQLite: a job's tiles are stored in lease order (rowids follow `pick_key`), so tiles
/// leased and submitted one after another share table pages.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_sqlite_a_jobs_tiles_are_stored_in_lease_order() {
    let dir = tempfile::tempdir().unwrap();
    let (_cfg, _s, db) = sqlite_with_job(&dir, 1).await;
    let keys: Vec<(i64, u32, u32)> = db
        .prepare("SELECT pick_key, frame, tile FROM tiles WHERE job_id=1 ORDER BY rowid")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(keys.len(), (FRAMES * TILES_PER_FRAME) as usize);
    assert!(
        keys.windows(2).all(|w| w[0] <= w[1]),
        "rowids follow the lease line"
    );
    let in_frame_order = keys.windows(2).all(|w| (w[0].1, w[0].2) < (w[1].1, w[1].2));
    assert!(!in_frame_order, "the line is salted, not frame by frame");
}

/// SQLite: a `--db` that is not a database, or whose folder cannot be made, is refused
/// with an error that names the file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_sqlite_a_bad_db_path_is_refused_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let not_a_db = dir.path().join("notes.txt");
    std::fs::write(
        &not_a_db,
        "not a database, just some text long enough to have a header",
    )
    .unwrap();
    let blocked = not_a_db.join("db.sqlite");
    for path in [&not_a_db, &blocked] {
        let cfg = DbConfig::new(path.display().to_string());
        let err = store::open(&cfg, &Metrics::new().store)
            .await
            .err()
            .expect("refused");
        let said = err.to_string();
        assert!(said.contains(&path.display().to_string()), "{said}");
    }
}

/// SQLite: the whole-job reads of the public endpoints (a job's progress and tiles, its
/// evidence, the queue depth of `/metrics`) run on the read connection, so they answer
/// while another connection holds the write lock. On the writer they waited for it (5 s,
/// then busy) and, under load, held up every lease and submit queued behind them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_sqlite_public_reads_answer_while_the_writer_is_held() {
    let dir = tempfile::tempdir().unwrap();
    let (_cfg, s, db) = sqlite_with_job(&dir, 3).await;
    db.execute_batch("BEGIN IMMEDIATE").unwrap();
    async fn within<T>(read: impl std::future::Future<Output = T>) -> T {
        tokio::time::timeout(std::time::Duration::from_secs(3), read)
            .await
            .expect("answered while the write lock is held")
    }
    let (counts, _, _) = within(s.job_progress(3, 0)).await.unwrap();
    assert_eq!(counts.total, u64::from(FRAMES * TILES_PER_FRAME));
    assert_eq!(within(s.queue_depth()).await.unwrap(), counts.total);
    let tiles = within(s.tiles_of_job(3)).await.unwrap();
    assert_eq!(tiles.len() as u64, counts.total);
    let frame = within(s.tiles_of_frame(3, 1)).await.unwrap();
    assert_eq!(frame.len() as u32, TILES_PER_FRAME);
    assert!(within(s.evidence_of_job(3)).await.unwrap().is_empty());
    assert!(within(s.paid_verifications(3)).await.unwrap().is_empty());
    db.execute_batch("ROLLBACK").unwrap();
}

/// SQLite: the writer's WAL hook replaces SQLite's autocheckpoint, and the WAL still starts
/// again from its beginning once it is long (the writer catches up after a checkpointer
/// pass): after more than twice the restart length (8 192 frames) written through the
/// store, the WAL file is well below what it took, and every row is there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_sqlite_a_long_wal_starts_again_from_its_beginning() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = db_config(&dir);
    let metrics = Metrics::new();
    let s = store::open(&cfg, &metrics.store).await.unwrap();
    let wal = || std::fs::metadata(format!("{}-wal", cfg.url)).map_or(0, |m| m.len());
    let (jobs, tiles) = (30u64, 10_000u32);
    let mut grown = 0;
    for id in 1..=jobs {
        let before = wal();
        s.job_insert(job(id), tiles).await.unwrap();
        grown += wal().saturating_sub(before);
    }
    let frame = 24 + 2048;
    let written = std::fs::metadata(&cfg.url).unwrap().len();
    assert!(
        written > 2 * 8_192 * frame,
        "the test wrote {written} bytes, not enough to need a restart"
    );
    assert!(
        wal() < written / 2,
        "the WAL is {} bytes after {written} bytes of rows: it never started again",
        wal()
    );
    assert!(grown < written, "appends stopped growing the file");
    let catch_ups = (metrics.store.tx_seconds)
        .with_label_values(&["sqlite", "wal_catch_up"])
        .get_sample_count();
    assert!(catch_ups > 0, "the writer caught up after a pass");
    let (counts, _, _) = s.job_progress(jobs, 0).await.unwrap();
    assert_eq!(counts.total, u64::from(FRAMES * tiles));
}
