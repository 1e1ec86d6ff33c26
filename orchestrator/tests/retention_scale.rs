//! Retention's lookups on a SQLite store with history (issue 15), `#[ignore]`d: it prints
//! timings, and asserts only what the lookups return.
//!
//! `cargo test -p tessera-orchestrator --test retention_scale -- --ignored --nocapture`
//! (`RETENTION_HISTORY` rows of history, 1 000 000 by default).
//!
//! A store with `RETENTION_HISTORY` result rows of a finished job (live: not purged), a
//! closed job of 16 384 result rows to purge (1 000 of its blobs also in the history), and a
//! running job that four submitters lease and submit into throughout, each submit under
//! `gc` held for reading as `api/leases.rs` holds `blob_gc` (put to commit). Measured: the
//! purge's lookup (the scan without the lock, then the part under it) and the orphan sweep's
//! lookups over a listing of every result blob plus 256 orphans, and the lease+submit pairs' latency
//! (writer and lock waits included) while each runs against a quiet interval before.
mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use tessera_orchestrator::metrics::Metrics;
use tessera_orchestrator::scheduler::{Grant, LeasePolicy, Verifies};
use tessera_orchestrator::store::{self, job_state, DbConfig, JobRow, Replay, Store, SubmitInput};
use tessera_orchestrator::verify::Submission;
use tokio::sync::RwLock;

/// Orphan candidates per lock, as `retention::ORPHAN_BATCH`.
const ORPHAN_BATCH: usize = 256;

// The lookups as `retention.rs` runs them. (The "before" figures ran this file on `main`
// with these two functions calling `doomed_blobs(job)` / `unreferenced_blobs(batch)` under
// the lock, main's API, and no scan.)

/// The purge's lookup: (doomed blobs, time without the lock, time under it).
async fn purge_lookup(s: &dyn Store, gc: &RwLock<()>, job: u64) -> (usize, Duration, Duration) {
    let t = Instant::now();
    let scan = s.doomed_scan(job).await.unwrap();
    let unlocked = t.elapsed();
    let _alone = gc.write().await;
    let t = Instant::now();
    let doomed = s.doomed_blobs(job, scan).await.unwrap();
    (doomed.len(), unlocked, t.elapsed())
}

/// The orphan sweep's lookups: (orphans, time without the lock, time under it summed over
/// the batches, batches, longest batch under the lock).
async fn orphan_lookup(
    s: &dyn Store,
    gc: &RwLock<()>,
    listed: Vec<String>,
) -> (usize, Duration, Duration, usize, Duration) {
    let t = Instant::now();
    let scan = s.unreferenced_scan(listed).await.unwrap();
    let unlocked = t.elapsed();
    let (mut orphans, mut locked, mut batches, mut longest) =
        (0, Duration::ZERO, 0, Duration::ZERO);
    for batch in scan.blobs.chunks(ORPHAN_BATCH) {
        let _alone = gc.write().await;
        let t = Instant::now();
        orphans += s
            .unreferenced_blobs(batch.to_vec(), scan.mark)
            .await
            .unwrap()
            .len();
        let d = t.elapsed();
        (locked, batches, longest) = (locked + d, batches + 1, longest.max(d));
    }
    (orphans, unlocked, locked, batches, longest)
}

fn job(id: u64, frames: u32, state: &str) -> JobRow {
    JobRow {
        job_id: id,
        job_key: format!("job{id}"),
        scene_hash: "scene".into(),
        frame_start: 1,
        frame_end: frames,
        // 16 × 16 tiles a frame.
        width: 128,
        height: 128,
        tile_size: 8,
        spp: 1,
        price_per_tile: 10,
        budget: 1 << 40,
        deadline: i64::MAX / 2000,
        state: state.into(),
        created_ms: now_ms(),
        leases_issued: 0,
        pass: 0.0,
        receipt_sig: None,
        error: None,
        frame_rate: (24, 1),
        verify_bps: 0,
    }
}

/// A fresh 64-hex name, as a blob's.
fn random_hex() -> String {
    static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    blake3::hash(format!("{n}-{}", now_ms()).as_bytes())
        .to_hex()
        .to_string()
}

const POLICY: LeasePolicy = LeasePolicy {
    lease_ms: 600_000,
    max_per_node: 10_000,
    max_per_node_per_job: 10_000,
    witness_wait_ms: 20_000,
};

/// Leases and submits in the running job until `stop`; (start, latency) of each pair (the
/// lease waits for the writer, the submit for `gc` and the writer).
async fn submitter(
    s: Arc<dyn Store>,
    gc: Arc<RwLock<()>>,
    node: String,
    stop: Arc<AtomicBool>,
    out: Arc<Mutex<Vec<(Instant, Duration)>>>,
) {
    let mut n = 0u64;
    while !stop.load(Ordering::Relaxed) {
        n += 1;
        let replay = |t: &str| Replay {
            signature: format!("{node}-{t}-{n}"),
            timestamp_ms: now_ms(),
        };
        let t = Instant::now();
        let grant = s.lease(
            replay("l"),
            node.clone(),
            node.clone(),
            0,
            now_ms(),
            POLICY,
            Verifies::all(),
        );
        let Grant::Lease(l) = grant.await.unwrap() else {
            eprintln!("no tile left for {node}");
            return;
        };
        let input = SubmitInput {
            submission: Submission {
                node: node.clone(),
                operator: node.clone(),
                witness: true,
                pixel_hash: random_hex(),
                signature: "sig".into(),
                blob: random_hex(),
            },
            salt: [7; 32],
            job_key: "job3".into(),
            base_share: 0.0,
            new_node_share: 0.0,
            replay: Some(replay("s")),
        };
        let reuse = gc.read().await;
        s.submit(l.lease_id, input).await.unwrap();
        drop(reuse);
        out.lock().unwrap().push((t, t.elapsed()));
    }
}

/// Pairs started in `[from, to)`: (count per second, p99 ms, max ms).
fn window(lat: &[(Instant, Duration)], from: Instant, to: Instant) -> (f64, f64, f64) {
    let mut ms: Vec<f64> = lat
        .iter()
        .filter(|(t, _)| *t >= from && *t < to)
        .map(|(_, d)| d.as_secs_f64() * 1e3)
        .collect();
    ms.sort_by(f64::total_cmp);
    let secs = (to - from).as_secs_f64().max(1e-9);
    let p99 = ms
        .get((ms.len() * 99 / 100).min(ms.len().saturating_sub(1)))
        .copied();
    (
        ms.len() as f64 / secs,
        p99.unwrap_or(0.0),
        ms.last().copied().unwrap_or(0.0),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement: prints timings (minutes on 2 cores)"]
async fn retention_lookups_with_a_million_rows_of_history() {
    let history: i64 = std::env::var("RETENTION_HISTORY")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let dir = tempfile::tempdir().unwrap();
    let cfg = DbConfig::new(dir.path().join("db.sqlite").display().to_string());
    let s = store::open(&cfg, &Metrics::new().store).await.unwrap();
    s.job_insert(job(1, 1, job_state::POSTED), 1).await.unwrap();
    s.job_insert(job(2, 1, job_state::POSTED), 1).await.unwrap();
    s.job_insert(job(3, 1024, job_state::RENDERING), 256)
        .await
        .unwrap();
    let t = Instant::now();
    let db = rusqlite::Connection::open(&cfg.url).unwrap();
    db.busy_timeout(Duration::from_secs(30)).unwrap();
    let series = |to: i64| {
        format!("WITH RECURSIVE s(n) AS (SELECT 0 UNION ALL SELECT n+1 FROM s WHERE n < {to}) SELECT n FROM s")
    };
    let rows = |job: u64, blob: &str, n: i64| {
        format!(
            "INSERT INTO results(job_id, frame, tile, node, role, pixel_hash, signature, blob,
               submitted_ms, verdict) SELECT {job}, n / 256, n % 256, 'history-node', 'primary',
               lower(hex(randomblob(32))), 's', {blob}, 0, 'accepted' FROM ({}) AS q",
            series(n - 1)
        )
    };
    db.execute_batch(&format!(
        "BEGIN; {}; {}; INSERT INTO results(job_id, frame, tile, node, role, pixel_hash,
           signature, blob, submitted_ms, verdict) SELECT 2, 0, id, 'n', 'primary', 'h', 's', blob,
           0, 'accepted' FROM results WHERE job_id = 1 ORDER BY id LIMIT 1000; COMMIT;",
        rows(1, "lower(hex(randomblob(32)))", history),
        rows(2, "lower(hex(randomblob(32)))", 16_384 - 1_000),
    ))
    .unwrap();
    let listed: Vec<String> = {
        let mut st = db.prepare("SELECT DISTINCT blob FROM results").unwrap();
        let mut v: Vec<String> = (0..ORPHAN_BATCH).map(|_| random_hex()).collect();
        v.extend(st.query_map([], |r| r.get(0)).unwrap().map(Result::unwrap));
        v
    };
    let indexes: Vec<String> = db
        .prepare("SELECT name FROM sqlite_master WHERE type='index' AND tbl_name='results'")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    eprintln!(
        "history: {history} result rows in {:.1}s; listed {} blobs; results indexes {indexes:?}",
        t.elapsed().as_secs_f64(),
        listed.len()
    );
    s.mark_closed(2, now_ms()).await.unwrap();

    let gc = Arc::new(RwLock::new(()));
    let stop = Arc::new(AtomicBool::new(false));
    let lat = Arc::new(Mutex::new(Vec::new()));
    let tasks: Vec<_> = (0..4)
        .map(|i| {
            let (s, gc, stop, lat) = (s.clone(), gc.clone(), stop.clone(), lat.clone());
            tokio::spawn(submitter(s, gc, format!("node{i}"), stop, lat))
        })
        .collect();
    println!("| step | lookup | without the lock s | under the lock s | batches (longest s) | pairs/s quiet → during | pair p99 ms quiet → during | pair max ms quiet → during |");
    println!("|---|---|---|---|---|---|---|---|");
    let pct =
        |lat: &Arc<Mutex<Vec<(Instant, Duration)>>>, q0: Instant, q1: Instant, t1: Instant| {
            let l = lat.lock().unwrap();
            (window(&l, q0, q1), window(&l, q1, t1))
        };
    for round in 0..3 {
        let q0 = Instant::now();
        tokio::time::sleep(Duration::from_secs(2)).await;
        let q1 = Instant::now();
        let (doomed, unlocked, locked) = purge_lookup(&*s, &gc, 2).await;
        let t1 = Instant::now();
        assert_eq!(
            doomed,
            16_384 - 1_000,
            "the purged job's blobs not in the history"
        );
        let (q, d) = pct(&lat, q0, q1, t1);
        println!(
            "| {round} | purge | {:.3} | {:.3} | 1 | {:.0} → {:.0} | {:.1} → {:.1} | {:.1} → {:.1} |",
            unlocked.as_secs_f64(), locked.as_secs_f64(), q.0, d.0, q.1, d.1, q.2, d.2
        );
        let listing = listed.clone();
        let q0 = Instant::now();
        tokio::time::sleep(Duration::from_secs(2)).await;
        let q1 = Instant::now();
        let (orphans, unlocked, locked, batches, longest) = orphan_lookup(&*s, &gc, listing).await;
        let t1 = Instant::now();
        assert_eq!(orphans, ORPHAN_BATCH, "the listed blobs no row references");
        let (q, d) = pct(&lat, q0, q1, t1);
        println!(
            "| {round} | orphans | {:.3} | {:.3} | {batches} ({:.3}) | {:.0} → {:.0} | {:.1} → {:.1} | {:.1} → {:.1} |",
            unlocked.as_secs_f64(), locked.as_secs_f64(), longest.as_secs_f64(), q.0, d.0, q.1, d.1, q.2, d.2
        );
    }
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        t.await.unwrap();
    }
}
