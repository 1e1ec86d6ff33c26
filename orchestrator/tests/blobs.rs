//! Blob backends: the S3 backend against a real S3-protocol server (moto's `moto_server`,
//! installed by `scripts/deps.sh` from PyPI, started here on loopback), and deletion of
//! closed jobs' results and expired scenes on both backends, through the HTTP API on the
//! development chain.
mod common;

use std::time::{Duration, Instant};

use bytes::Bytes;
use common::moto::Moto;
use common::*;
use futures::StreamExt;
use reqwest::StatusCode;
use serde_json::json;
use solana_sdk::signature::Keypair;
use tessera_orchestrator::blob::{self, BlobError, BlobStore, Location};
use tessera_orchestrator::protocol;
use tessera_sdk::JobParams;

async fn open(loc: &Location) -> std::sync::Arc<dyn BlobStore> {
    let seconds =
        prometheus::HistogramVec::new(prometheus::HistogramOpts::new("t", "t"), &["backend", "op"])
            .unwrap();
    blob::open(loc, seconds).await.unwrap()
}

/// `n` bytes in 1 MiB chunks, as a body arrives.
fn chunks(bytes: &Bytes) -> blob::ByteStream {
    let parts: Vec<_> = (0..bytes.len())
        .step_by(1 << 20)
        .map(|i| Ok(bytes.slice(i..(i + (1 << 20)).min(bytes.len()))))
        .collect();
    futures::stream::iter(parts).boxed()
}

fn noise(n: usize, seed: u64) -> Bytes {
    let mut x = seed | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect::<Vec<u8>>()
        .into()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_backend_streams_multipart_uploads_ranges_and_reports_missing_objects() {
    let Some(moto) = Moto::start("tessera-blobs").await else {
        return;
    };
    let spool = tempfile::tempdir().unwrap();
    let s3 = open(&moto.location("tessera-blobs", "unit", spool.path())).await;
    assert_eq!(s3.backend(), "s3");

    // 12 MiB + 3 bytes: three parts of 5, 5 and 2 MiB.
    let big = noise(12 * (1 << 20) + 3, 7);
    let address = blake3::hash(&big).to_hex().to_string();
    assert!(s3.put(&address, chunks(&big)).await.unwrap());
    assert!(
        !s3.put(&address, chunks(&big)).await.unwrap(),
        "stored once"
    );
    assert_eq!(s3.head(&address).await.unwrap(), Some(big.len() as u64));
    assert_eq!(s3.get_bytes(&address).await.unwrap().unwrap(), big);
    let mut part = s3
        .get(&address, Some(6_000_000..6_000_010))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(part.size, big.len() as u64);
    assert_eq!(
        part.stream.next().await.unwrap().unwrap(),
        big.slice(6_000_000..6_000_010)
    );

    // Bytes that do not hash to their address are never visible: the multipart upload is
    // aborted (and a one-part body is never sent).
    for n in [11 << 20, 1000] {
        let forged = noise(n, 9);
        let wanted = blake3::hash(b"what the job paid for").to_hex().to_string();
        let err = s3.put(&wanted, chunks(&forged)).await.unwrap_err();
        assert!(matches!(err, BlobError::HashMismatch { .. }), "{err}");
        assert_eq!(s3.head(&wanted).await.unwrap(), None);
    }

    // A missing object is `None` (the API's 404), not an error; so is a bad address.
    let missing = blake3::hash(b"never stored").to_hex().to_string();
    assert!(s3.get(&missing, None).await.unwrap().is_none());
    assert!(s3.get("../../etc/passwd", None).await.unwrap().is_none());
    assert_eq!(s3.head(&missing).await.unwrap(), None);
    s3.delete(&missing).await.unwrap();

    let (small, _) = s3.put_bytes(Bytes::from_static(b"a tile")).await.unwrap();
    let mut listed: Vec<_> = s3
        .list()
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.hash)
        .collect();
    listed.sort();
    let mut want = vec![address.clone(), small.clone()];
    want.sort();
    assert_eq!(listed, want);
    s3.delete(&address).await.unwrap();
    assert_eq!(s3.head(&address).await.unwrap(), None);
    assert_eq!(s3.list().await.unwrap().len(), 1);
}

/// A tar bundle of the test scene and `padding` bytes of noise (a scene with a large
/// texture-like payload), and a job for it.
fn padded_scene(padding: usize) -> Vec<u8> {
    let mut ar = tar::Builder::new(Vec::new());
    let mut add = |name: &str, bytes: &[u8]| {
        let mut h = tar::Header::new_gnu();
        h.set_size(bytes.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        ar.append_data(&mut h, name, bytes).unwrap();
    };
    add("scene.glb", SCENE);
    add("padding.bin", &noise(padding, 3));
    ar.into_inner().unwrap()
}

async fn job_for(chain: &TestChain, scene: &[u8]) -> u64 {
    let price = 100;
    chain
        .create_job_with(JobParams {
            scene_hash: *blake3::hash(scene).as_bytes(),
            frame_start: 1,
            frame_end: 1,
            width: 64,
            height: 64,
            tile_size: 16,
            samples_per_pixel: 4,
            price_per_tile: price,
            budget: price * 16 * 2,
            deadline: now_ms() / 1000 + 86_400,
            frame_rate_num: 24,
            frame_rate_den: 1,
        })
        .await
}

/// Signed `GET /v1/scenes/{hash}` as a node: (status, body bytes).
async fn fetch_scene(orch: &TestOrch, node: &Keypair, hash: &str) -> (StatusCode, Bytes) {
    let (st, _, body) = fetch_range(orch, node, hash, None).await;
    (st, body)
}

/// The same with a `Range` header: (status, `Content-Range`, body bytes).
async fn fetch_range(
    orch: &TestOrch,
    node: &Keypair,
    hash: &str,
    range: Option<&str>,
) -> (StatusCode, Option<String>, Bytes) {
    let path = format!("/v1/scenes/{hash}");
    let key = orch.key().await;
    let mut rb = orch.http.get(format!("{}{path}", orch.url));
    // Two identical requests signed in one millisecond would be one signature (a replay):
    // each request gets a timestamp of its own, as the node agent's do.
    use std::sync::atomic::{AtomicI64, Ordering::SeqCst};
    static LAST: AtomicI64 = AtomicI64::new(0);
    let now = now_ms();
    let prev = LAST
        .fetch_update(SeqCst, SeqCst, |last| Some(now.max(last + 1)))
        .expect("always Some");
    let ts = now.max(prev + 1);
    for (k, v) in protocol::sign_request(node, &key, "GET", &path, ts, b"") {
        rb = rb.header(k, v);
    }
    if let Some(r) = range {
        rb = rb.header("range", r);
    }
    let r = rb.send().await.unwrap();
    let content_range = r
        .headers()
        .get("content-range")
        .map(|v| v.to_str().unwrap().to_string());
    (r.status(), content_range, r.bytes().await.unwrap())
}

/// Ranged scene downloads (a node resuming): one range → 206 with `Content-Range` and
/// those bytes, several → the whole scene, outside the scene → 416 `bytes */size`.
async fn scene_ranges(orch: &TestOrch, node: &Keypair, hash: &str, scene: &[u8]) {
    let n = scene.len();
    let mid = n / 2;
    let cases = [
        (format!("bytes={mid}-"), mid..n),
        ("bytes=10-19".to_string(), 10..20),
        ("bytes=-7".to_string(), n - 7..n),
    ];
    for (range, want) in cases {
        let (st, cr, body) = fetch_range(orch, node, hash, Some(&range)).await;
        assert_eq!(st, StatusCode::PARTIAL_CONTENT, "{range}");
        let expect = format!("bytes {}-{}/{n}", want.start, want.end - 1);
        assert_eq!(cr.as_deref(), Some(expect.as_str()), "{range}");
        assert!(body == scene[want], "{range}: the bytes of that range");
    }
    let (st, _, body) = fetch_range(orch, node, hash, Some("bytes=0-0,5-9")).await;
    assert_eq!(st, StatusCode::OK, "several ranges: the whole scene");
    assert_eq!(body.len(), n);
    let (st, cr, body) = fetch_range(orch, node, hash, Some(&format!("bytes={n}-"))).await;
    assert_eq!(st, StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(cr, Some(format!("bytes */{n}")));
    let problem: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(problem["title"], "range-not-satisfiable", "{problem}");
}

/// A whole job through the HTTP API on `loc`: a `padding`-padded scene uploaded, every
/// tile rendered and stored, the receipt posted, the job approved (settled), its clean
/// frame served; then, past the retention, its tile blobs and its scene deleted and the
/// clean frame answering 410. Returns the orchestrator's `/metrics` text.
async fn job_then_deletion(loc: Location, padding: usize) -> String {
    let chain = TestChain::start().await;
    let reader = open(&loc).await;
    let orch = TestOrch::start(&chain, |c| {
        c.blobs = loc;
        c.result_retention_ms = 1_500;
        c.retention_sweep_ms = 200;
        c.scene_ttl_ms = 3_000;
    })
    .await;
    let scene = padded_scene(padding);
    let scene_hash = blake3::hash(&scene).to_hex().to_string();
    let id = job_for(&chain, &scene).await;
    let artist = orch.artist.insecure_clone();
    let (st, v) = orch.upload_as(&artist, id, &scene).await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    assert_eq!(v["size"], scene.len());
    assert_eq!(
        reader.head(&scene_hash).await.unwrap(),
        Some(scene.len() as u64)
    );
    let stored = orch
        .http
        .head(format!("{}/v1/scenes/{scene_hash}", orch.url));
    assert_eq!(stored.send().await.unwrap().status(), StatusCode::OK);
    let (st, status) = orch.register_only(json!({"job_id": id})).await;
    assert_eq!(st, StatusCode::CREATED, "{status}");

    let node_key = chain.register_node(MIN_STAKE).await.1;
    let (st, got) = fetch_scene(&orch, &node_key, &scene_hash).await;
    assert_eq!(st, StatusCode::OK);
    assert!(got == scene, "the node gets the uploaded bytes");
    scene_ranges(&orch, &node_key, &scene_hash, &scene).await;
    let missing = blake3::hash(b"no such scene").to_hex().to_string();
    let (st, body) = fetch_scene(&orch, &node_key, &missing).await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    let problem: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(problem["title"], "not-found", "{problem}");

    let a = SimNode::new(node_key);
    let b = SimNode::new(chain.register_node(MIN_STAKE).await.1);
    assert_eq!(work_until_idle(&orch.url, &[&a, &b]).await, 16);
    orch.wait_state(id, "posted", 60).await;
    chain.approve(id).await;
    let (st, frame) = orch
        .get_bytes(&format!("/v1/jobs/{id}/frames/1/image"))
        .await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(
        tessera_orchestrator::imaging::decode_png(&frame).unwrap().0,
        64
    );
    let tiles = reader.list().await.unwrap().len();
    assert!(tiles > 1, "the scene and the tile PNGs are stored: {tiles}");

    // Closed on-chain (settled): past the retention its results and its scene are gone.
    let until = Instant::now() + Duration::from_secs(30);
    loop {
        let (st, _) = orch
            .get_bytes(&format!("/v1/jobs/{id}/frames/1/image"))
            .await;
        let left = reader.list().await.unwrap();
        if st == StatusCode::GONE && left.is_empty() {
            break;
        }
        assert!(
            Instant::now() < until,
            "not deleted: {st}, {} blobs left",
            left.len()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (st, _) = orch.get_json(&format!("/v1/jobs/{id}/manifest")).await;
    assert_eq!(st, StatusCode::OK, "the manifest (hashes, proofs) stays");
    let (_, metrics) = orch.get_bytes("/metrics").await;
    String::from_utf8(metrics).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_on_s3_multipart_scene_tiles_settlement_and_deletion() {
    let Some(moto) = Moto::start("tessera-job").await else {
        return;
    };
    let spool = tempfile::tempdir().unwrap();
    // 11 MiB of padding: the scene goes up in three parts of 5 MiB.
    let metrics = job_then_deletion(
        moto.location("tessera-job", "orch-a", spool.path()),
        11 << 20,
    )
    .await;
    for op in ["put", "get", "head", "delete"] {
        let line = format!("tessera_blob_seconds_count{{backend=\"s3\",op=\"{op}\"}}");
        assert!(metrics.contains(&line), "{line} in\n{metrics}");
    }
    assert!(
        metrics.contains("tessera_blobs_deleted_total{kind=\"result\"}"),
        "{metrics}"
    );
    assert!(
        metrics.contains("tessera_blobs_deleted_total{kind=\"scene\"} 1"),
        "{metrics}"
    );
    assert_eq!(
        std::fs::read_dir(spool.path()).unwrap().count(),
        0,
        "no spool left"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_jobs_results_and_its_expired_scene_are_deleted_from_the_local_folder() {
    let dir = tempfile::tempdir().unwrap();
    let metrics = job_then_deletion(Location::Local(dir.path().join("blobs")), 1 << 20).await;
    assert!(
        metrics.contains("tessera_blob_seconds_count{backend=\"local\",op=\"put\"}"),
        "{metrics}"
    );
    assert_eq!(
        std::fs::read_dir(dir.path().join("blobs/tmp"))
            .unwrap()
            .count(),
        0
    );
}

/// A blob no row references (what a crash between a put and its row's commit leaves, or a
/// submit refused after its PNG was stored) is deleted by the leader once it is older than
/// `orphan_grace_ms`, not before; the scene and the tile PNGs the job's rows reference stay,
/// however old. `mtime_ms`: how coarse the backend's modification time is (the sweep
/// compares whole milliseconds, so a few on the folder).
async fn orphans_are_swept(loc: Location, mtime_ms: u64) -> String {
    let chain = TestChain::start().await;
    let reader = open(&loc).await;
    let grace = 2_000;
    let orch = TestOrch::start(&chain, |c| {
        c.blobs = loc;
        c.orphan_grace_ms = grace as i64;
        c.orphan_sweep_ms = 100;
        c.retention_sweep_ms = 100;
    })
    .await;
    let id = chain.create_job(1, 100).await;
    let (st, v) = orch.register(json!({"job_id": id})).await;
    assert!(st.is_success(), "{v}");
    let a = SimNode::new(chain.register_node(MIN_STAKE).await.1);
    for _ in 0..3 {
        let lease = a.lease(&orch.url).await.unwrap();
        assert_eq!(a.submit(&orch.url, &lease).await.0, StatusCode::OK);
    }
    let kept: Vec<String> = reader
        .list()
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.hash)
        .collect();
    assert_eq!(kept.len(), 4, "the scene and three tile PNGs");

    let put_at = Instant::now();
    let (orphan, _) = reader
        .put_bytes(Bytes::from_static(b"no row names me"))
        .await
        .unwrap();
    let until = put_at + Duration::from_secs(30);
    while reader.head(&orphan).await.unwrap().is_some() {
        assert!(Instant::now() < until, "the orphan was never deleted");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let waited = put_at.elapsed();
    assert!(
        waited + Duration::from_millis(mtime_ms) >= Duration::from_millis(grace),
        "deleted after {waited:?}, before the grace"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    for h in &kept {
        assert!(
            reader.head(h).await.unwrap().is_some(),
            "referenced blob {h} kept"
        );
    }
    let (_, metrics) = orch.get_bytes("/metrics").await;
    String::from_utf8(metrics).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orphan_blobs_are_deleted_after_their_grace_from_the_local_folder() {
    let dir = tempfile::tempdir().unwrap();
    let metrics = orphans_are_swept(Location::Local(dir.path().join("blobs")), 5).await;
    assert!(
        metrics.contains("tessera_blobs_deleted_total{kind=\"orphan\"} 1"),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orphan_blobs_are_deleted_after_their_grace_from_s3() {
    let Some(moto) = Moto::start("tessera-orphans").await else {
        return;
    };
    let spool = tempfile::tempdir().unwrap();
    let loc = moto.location("tessera-orphans", "orch", spool.path());
    // S3's Last-Modified has whole seconds.
    let metrics = orphans_are_swept(loc, 1_000).await;
    assert!(
        metrics.contains("tessera_blobs_deleted_total{kind=\"orphan\"} 1"),
        "{metrics}"
    );
}
