//! Abusive nodes and strangers (issue 15), each attack run against the real service: the
//! HTTP API on loopback, real SQLite, the development chain.
mod common;

use std::time::Duration;

use base64::Engine;
use common::*;
use reqwest::StatusCode;
use serde_json::{json, Value};
use solana_sdk::signature::{Keypair, Signer};
use tessera_orchestrator::protocol;

async fn setup(tweak: impl FnOnce(&mut tessera_orchestrator::Config)) -> (TestChain, TestOrch) {
    let chain = TestChain::start().await;
    let orch = TestOrch::start(&chain, tweak).await;
    (chain, orch)
}

/// Sends a request's headers and 1 KiB of a `content_length` body, and returns the
/// response head, which must come within 5 s.
async fn head_only(
    url: &str,
    path: &str,
    headers: &[(&str, String)],
    content_length: usize,
) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = url.trim_start_matches("http://");
    let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut req =
        format!("POST {path} HTTP/1.1\r\nhost: {addr}\r\ncontent-length: {content_length}\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    tcp.write_all(req.as_bytes()).await.unwrap();
    tcp.write_all(&[b' '; 1024]).await.unwrap();
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(5), tcp.read(&mut buf))
        .await
        .expect("the server waited for the body")
        .unwrap();
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

fn metric(orch: &TestOrch, name: &str) -> f64 {
    let text = orch.orch.as_ref().unwrap().metrics().render();
    text.lines()
        .filter(|l| l.starts_with(name))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

async fn heartbeat(node: &SimNode, url: &str, lease: &Value) -> (StatusCode, Value) {
    let path = format!("/v1/leases/{}/heartbeat", lease["lease_id"]);
    node.request(url, "POST", &path, vec![]).await
}

on_both! {
/// Before: one node leased all 16 tiles of a job and kept them by heartbeating forever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lease_hoarding_is_capped_and_leases_have_a_lifetime() {
    let (chain, orch) = setup(|c| {
        c.lease_ms = 500;
        c.max_lease_lifetime_ms = 1_500;
        c.max_leases_per_node_per_job = 4;
        c.max_leases_per_node = 6;
    })
    .await;
    let (a, b) = (
        chain.create_job(1, 100).await,
        chain.create_job(1, 100).await,
    );
    orch.register(json!({"job_id": a})).await;
    orch.register(json!({"job_id": b})).await;
    let hoarder = SimNode::new(chain.register_node(MIN_STAKE).await.1);
    let honest = SimNode::new(chain.register_node(MIN_STAKE).await.1);
    let url = &orch.url;

    // At most 4 in one job, 6 in all; then 429 `lease-limit`, not more tiles.
    let first_granted = std::time::Instant::now();
    let mut held = Vec::new();
    let refusal = loop {
        let (st, v) = hoarder
            .request(url, "POST", "/v1/leases", b"{}".to_vec())
            .await;
        if st != StatusCode::OK {
            break (st, v);
        }
        held.push(v);
        assert!(held.len() <= 6, "the node got more leases than its cap");
    };
    assert_eq!(refusal.0, StatusCode::TOO_MANY_REQUESTS, "{}", refusal.1);
    assert_eq!(refusal.1["title"], "lease-limit");
    assert_eq!(held.len(), 6);
    for job in [a, b] {
        let n = held.iter().filter(|l| l["job_id"] == job).count();
        assert!(n <= 4, "{n} leases in job {job}");
    }
    // The other node still gets work.
    assert!(honest.lease(url).await.is_some());

    // Heartbeats extend a lease, but not past its total lifetime: then 410 and the tile
    // goes to another node.
    let kept = &held[0];
    let started = std::time::Instant::now();
    let gone = loop {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let (st, v) = heartbeat(&hoarder, url, kept).await;
        if st != StatusCode::OK {
            break (st, v);
        }
        assert!(
            v["deadline_ms"].as_i64().unwrap() <= now_ms() + 1_500,
            "{v}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "heartbeats never stopped"
        );
    };
    assert_eq!(gone.0, StatusCode::GONE, "{}", gone.1);
    // Timed from before the grant (not from the first heartbeat, which a loaded machine
    // delays): heartbeats carried the lease past its 500 ms term towards its lifetime.
    assert!(first_granted.elapsed() >= Duration::from_millis(900));
    tokio::time::sleep(Duration::from_millis(700)).await;
    let mut seen = false;
    while let Some(l) = honest.lease(url).await {
        seen |= l["job_id"] == kept["job_id"]
            && l["frame"] == kept["frame"]
            && l["tile"] == kept["tile"];
        assert_eq!(honest.submit(url, &l).await.0, StatusCode::OK);
    }
    assert!(seen, "the hoarded tile went to another node");
}
}

on_both! {
/// A PNG of 4096×4096 zero pixels for a 16×16 tile. Before: decoded every time (≈ 110 ms,
/// ≈ 135 MB) and the lease survived, so it could be repeated.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn decompression_bomb_is_refused_from_its_header_and_counts_against_the_node() {
    let (chain, orch) = setup(|_| {}).await;
    let id = chain.create_job(1, 100).await;
    orch.register(json!({"job_id": id})).await;
    let node = SimNode::new(chain.register_node(MIN_STAKE).await.1);
    let lease = node.lease(&orch.url).await.unwrap();
    let bomb = png(4096, 4096, vec![0u8; 4096 * 4096 * 4]);
    assert!(bomb.len() < 400_000);
    let (w, h, px) = pixels(&lease, false);
    let mut body: Value = serde_json::from_slice(&node.submit_body(&lease, w, h, px)).unwrap();
    body["png"] = json!(base64::engine::general_purpose::STANDARD.encode(&bomb));
    let path = format!("/v1/leases/{}/submit", lease["lease_id"]);
    let body = serde_json::to_vec(&body).unwrap();
    let (st, v) = node.request(&orch.url, "POST", &path, body.clone()).await;
    assert_eq!(
        (st, v["title"].as_str()),
        (StatusCode::BAD_REQUEST, Some("bad-image")),
        "{v}"
    );
    assert!(v["detail"].as_str().unwrap().contains("4096×4096"), "{v}");
    // The lease is released: repeating it is refused, the tile is queued again and the
    // failure is on record (tile failures, the node's reputation, the metric).
    let (st, _) = node.request(&orch.url, "POST", &path, body).await;
    assert_eq!(st, StatusCode::GONE);
    let s = orch.status(id).await;
    assert_eq!(
        (
            s["counts"]["queued"].as_u64(),
            s["counts"]["failed"].as_u64()
        ),
        (Some(16), Some(1)),
        "{s}"
    );
    let (_, standing) = orch
        .get_json(&format!("/v1/nodes/{}", node.key.pubkey()))
        .await;
    assert!(standing["reputation"].as_f64().unwrap() < 0.5, "{standing}");
    assert_eq!(
        metric(
            &orch,
            "tessera_verification_failures_total{kind=\"malformed\"}"
        ),
        1.0
    );
    // A body that is not even JSON is a malformed submission too.
    let lease = node.lease(&orch.url).await.unwrap();
    let path = format!("/v1/leases/{}/submit", lease["lease_id"]);
    let (st, _) = node
        .request(&orch.url, "POST", &path, b"garbage".to_vec())
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    let (st, _) = node.submit(&orch.url, &lease).await;
    assert_eq!(st, StatusCode::GONE);
}
}

on_both! {
/// Before: bodies up to 16 MiB were read and hashed before the key was looked at, a fresh
/// key per request wrote a replay row and cost two chain reads, every time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strangers_are_refused_before_their_body_is_read_and_cost_one_chain_read() {
    let (chain, orch) = setup(|_| {}).await;
    let node = SimNode::new(chain.register_node(MIN_STAKE).await.1);
    let url = &orch.url;
    let stranger = Keypair::new();
    let me = orch.key().await;
    // An unknown key announcing 8 MiB and sending 1 KiB of it: answered 403 at once, so the
    // body was never waited for (reading it would hang until the 5 s timeout).
    let lookups = metric(&orch, "tessera_chain_lookups_total");
    for _ in 0..5 {
        let h = protocol::sign_request(&stranger, &me, "POST", "/v1/leases", now_ms(), b"");
        let head = head_only(url, "/v1/leases", &h, 8 << 20).await;
        assert!(head.starts_with("HTTP/1.1 403"), "{head}");
    }
    // The refusal is cached: one chain read for five requests.
    assert_eq!(metric(&orch, "tessera_chain_lookups_total") - lookups, 1.0);
    // No replay row was written for any of them.
    let rows = orch.count_rows("seen_sigs").await;
    assert_eq!(rows, 0);
    // A registered node's lease request has a small body limit.
    let (st, v) = node
        .request(url, "POST", "/v1/leases", vec![b' '; 64 << 10])
        .await;
    assert_eq!(
        (st, v["title"].as_str()),
        (StatusCode::PAYLOAD_TOO_LARGE, Some("too-large")),
        "{v}"
    );
    // (The server closed that connection, with the unread body on it: a fresh client.)
    let node = SimNode::new(node.key.insecure_clone());
    let (st, _) = node
        .request(url, "POST", "/v1/leases", b"{}".to_vec())
        .await;
    assert_eq!(st, StatusCode::NO_CONTENT);
}
}

on_both! {
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_are_rate_limited_per_key_and_per_address() {
    let (chain, orch) = setup(|c| c.rate_per_key = 5).await;
    let node = SimNode::new(chain.register_node(MIN_STAKE).await.1);
    let mut codes = Vec::new();
    for _ in 0..30 {
        codes.push(
            node.request(&orch.url, "POST", "/v1/leases", b"{}".to_vec())
                .await
                .0,
        );
    }
    // A burst of twice the rate passes, then the key is refused.
    assert!(
        codes[..10].iter().all(|c| *c == StatusCode::NO_CONTENT),
        "{codes:?}"
    );
    assert!(codes.contains(&StatusCode::TOO_MANY_REQUESTS), "{codes:?}");
    // Another key is not affected.
    let other = SimNode::new(chain.register_node(MIN_STAKE).await.1);
    assert_eq!(
        other
            .request(&orch.url, "POST", "/v1/leases", b"{}".to_vec())
            .await
            .0,
        StatusCode::NO_CONTENT
    );

    let orch = TestOrch::start(&chain, |c| c.rate_per_addr = 5).await;
    let mut codes = Vec::new();
    for _ in 0..30 {
        let r = orch
            .http
            .get(format!("{}/v1/jobs/1", orch.url))
            .send()
            .await
            .unwrap();
        codes.push(r.status());
    }
    assert!(
        codes[..10]
            .iter()
            .all(|c| *c != StatusCode::TOO_MANY_REQUESTS),
        "{codes:?}"
    );
    assert!(codes.contains(&StatusCode::TOO_MANY_REQUESTS), "{codes:?}");
}
}

on_both! {
/// Before: the signed message named no orchestrator, so a request captured by one
/// instance was accepted by another.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signatures_are_bound_to_one_orchestrator_which_returns_its_time() {
    let (chain, orch) = setup(|_| {}).await;
    let other = TestOrch::start(&chain, |c| {
        c.keypair = std::sync::Arc::new(Keypair::new());
    })
    .await;
    let node = SimNode::new(chain.register_node(MIN_STAKE).await.1);
    let me = orch.key().await;
    assert_eq!(me, chain.orchestrator.pubkey());
    let h = protocol::sign_request(&node.key, &me, "POST", "/v1/leases", now_ms(), b"{}");
    let (st, v) = node
        .raw(&other.url, "POST", "/v1/leases", b"{}".to_vec(), &h)
        .await;
    assert_eq!(
        (st, v["title"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("bad-signature")),
        "{v}"
    );
    let (st, _) = node
        .raw(&orch.url, "POST", "/v1/leases", b"{}".to_vec(), &h)
        .await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    // Every response carries the server's clock; /v1/info too.
    let r = orch
        .http
        .get(format!("{}/healthz", orch.url))
        .send()
        .await
        .unwrap();
    let server: i64 = r.headers()[protocol::HEADER_SERVER_TIME]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((server - now_ms()).abs() < 5_000);
    let (_, info) = orch.get_json("/v1/info").await;
    assert!((info["time_ms"].as_i64().unwrap() - now_ms()).abs() < 5_000);
    // A node whose clock is 5 minutes behind is refused, and signs fresh requests once it
    // corrects by the server's time.
    let mut late = SimNode::new(chain.register_node(MIN_STAKE).await.1);
    late.skew_ms = -300_000;
    let (st, v) = late
        .request(&orch.url, "POST", "/v1/leases", b"{}".to_vec())
        .await;
    assert_eq!(
        (st, v["title"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("stale-timestamp"))
    );
    late.skew_ms += info["time_ms"].as_i64().unwrap() - (now_ms() - 300_000);
    let (st, _) = late
        .request(&orch.url, "POST", "/v1/leases", b"{}".to_vec())
        .await;
    assert_eq!(st, StatusCode::NO_CONTENT);
}
}

on_both! {
/// Before: anyone could upload 256 MiB without a signature, kept forever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scene_uploads_are_signed_by_the_jobs_artist_and_unused_scenes_expire() {
    let (chain, orch) = setup(|c| c.scene_ttl_ms = 300).await;
    let id = chain.create_job(1, 100).await;
    // Unsigned.
    let r = orch
        .http
        .post(format!("{}/v1/scenes?job_id={id}", orch.url))
        .body(SCENE.to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    // Signed by someone else than the job's artist.
    let (st, v) = orch.upload_as(&Keypair::new(), id, SCENE).await;
    assert_eq!(
        (st, v["title"].as_str()),
        (StatusCode::FORBIDDEN, Some("scene-refused")),
        "{v}"
    );
    // For a job that does not exist.
    let (st, _) = orch.upload_scene(9_999).await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    // The artist, for their open job: stored.
    let (st, v) = orch.upload_scene(id).await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    let head = |o: &TestOrch| {
        let url = format!(
            "{}/v1/scenes/{}",
            o.url,
            tessera_orchestrator::receipt::hex(&scene_hash())
        );
        let http = o.http.clone();
        async move { http.head(url).send().await.unwrap().status() }
    };
    assert_eq!(head(&orch).await, StatusCode::OK);
    // No job registered with it: it expires (row and blob).
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    assert_eq!(head(&orch).await, StatusCode::NOT_FOUND);
    let blob = orch
        .dir
        .path()
        .join("blobs")
        .join(&tessera_orchestrator::receipt::hex(&scene_hash())[..2]);
    assert!(std::fs::read_dir(&blob).map(|d| d.count()).unwrap_or(0) == 0);
    // Uploaded again and used by a registered job: kept while the job runs.
    let (st, v) = orch.register(json!({"job_id": id})).await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    assert_eq!(head(&orch).await, StatusCode::OK);
}
}

/// A `.glb` of one triangle under a parent scaled 10×, whose own scale is animated from 1 at
/// t = 0 to 3·10³⁸ at t = 1 s: fine at frame 1, a non-finite world transform at frame 25. It
/// has a camera: the automatic one frames the bounds of the whole animation, which would fail
/// at every frame.
fn scene_that_breaks_at_one_second() -> Vec<u8> {
    let floats: [f32; 17] = [
        0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0, 0.0, // triangle
        0.0, 1.0, // key times
        1.0, 1.0, 1.0, 3e38, 3e38, 3e38, // scale keys
    ];
    let bin: Vec<u8> = floats.iter().flat_map(|f| f.to_le_bytes()).collect();
    let gltf = json!({
        "asset": {"version": "2.0"}, "scene": 0, "scenes": [{"nodes": [0, 2]}],
        "nodes": [{"scale": [10.0, 10.0, 10.0], "children": [1]}, {"mesh": 0},
                  {"camera": 0, "translation": [0.0, 0.0, 5.0]}],
        "cameras": [{"type": "perspective", "perspective": {"yfov": 0.8, "znear": 0.1}}],
        "meshes": [{"primitives": [{"attributes": {"POSITION": 0}}]}],
        "buffers": [{"byteLength": bin.len()}],
        "bufferViews": [
            {"buffer": 0, "byteOffset": 0, "byteLength": 36},
            {"buffer": 0, "byteOffset": 36, "byteLength": 8},
            {"buffer": 0, "byteOffset": 44, "byteLength": 24}],
        "accessors": [
            {"bufferView": 0, "componentType": 5126, "count": 3, "type": "VEC3",
             "min": [0.0, 0.0, 0.0], "max": [1.0, 1.0, 0.0]},
            {"bufferView": 1, "componentType": 5126, "count": 2, "type": "SCALAR",
             "min": [0.0], "max": [1.0]},
            {"bufferView": 2, "componentType": 5126, "count": 2, "type": "VEC3"}],
        "animations": [{"samplers": [{"input": 1, "output": 2}],
                        "channels": [{"sampler": 0, "target": {"node": 1, "path": "scale"}}]}]
    });
    tessera_render::encode_glb(&gltf, &bin)
}

on_both! {
/// The upload check loads the scene at the job's first and last frame (as `node-agent check`
/// and `tessera job submit` do), so a scene that breaks late in its animation is refused for a
/// job that renders that far and accepted for a job of frame 1 only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scene_uploads_are_checked_at_the_jobs_last_frame() {
    let (chain, orch) = setup(|_| {}).await;
    let scene = scene_that_breaks_at_one_second();
    let job = |frame_end| tessera_sdk::JobParams {
        scene_hash: *blake3::hash(&scene).as_bytes(),
        frame_start: 1,
        frame_end,
        width: 64,
        height: 64,
        tile_size: 64,
        samples_per_pixel: 1,
        price_per_tile: 1,
        budget: 1_000,
        deadline: now_ms() / 1000 + 3_600,
        frame_rate_num: 24,
        frame_rate_den: 1,
    };
    let long = chain.create_job_with(job(25)).await;
    let (st, v) = orch.upload_as(&orch.artist, long, &scene).await;
    assert_eq!(
        (st, v["title"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("bad-scene")),
        "{v}"
    );
    let detail = v.to_string();
    assert!(
        detail.contains("frame 25") && detail.contains("non-finite"),
        "{v}"
    );
    let short = chain.create_job_with(job(1)).await;
    let (st, v) = orch.upload_as(&orch.artist, short, &scene).await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
}
}

on_both! {
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn public_image_endpoints_shed_load_beyond_their_concurrency() {
    let (chain, orch) = setup(|c| c.public_concurrency = 1).await;
    let id = chain
        .create_job_with(tessera_sdk::JobParams {
            scene_hash: scene_hash(),
            frame_start: 1,
            frame_end: 1,
            width: 2048,
            height: 2048,
            tile_size: 256,
            samples_per_pixel: 4,
            price_per_tile: 1,
            budget: 1_000,
            deadline: now_ms() / 1000 + 3_600,
            frame_rate_num: 24,
            frame_rate_den: 1,
        })
        .await;
    let (st, v) = orch.register(json!({"job_id": id})).await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    let url = format!("{}/v1/jobs/{id}/frames/1/preview", orch.url);
    let calls = (0..8).map(|_| {
        let (http, url) = (orch.http.clone(), url.clone());
        async move { http.get(url).send().await.unwrap().status() }
    });
    let codes = futures::future::join_all(calls).await;
    assert!(
        codes
            .iter()
            .all(|c| *c == StatusCode::OK || *c == StatusCode::SERVICE_UNAVAILABLE),
        "{codes:?}"
    );
    assert!(codes.contains(&StatusCode::OK), "{codes:?}");
    assert!(
        codes.contains(&StatusCode::SERVICE_UNAVAILABLE),
        "{codes:?}"
    );
}
}

/// `POST /v1/sessions`, signed with `node`'s key for the orchestrator at `url`.
async fn open_session(node: &SimNode, url: &str) -> (StatusCode, Value) {
    node.request(url, "POST", "/v1/sessions", b"{}".to_vec())
        .await
}

fn session_of(v: &Value) -> (String, [u8; 32]) {
    let key = tessera_orchestrator::receipt::hex32(v["key"].as_str().unwrap()).unwrap();
    (v["session"].as_str().unwrap().to_string(), key)
}

on_both! {
/// Issue 15, sessions: one ed25519-signed request bound to this orchestrator opens a
/// session; its MACed requests lease and submit (the tile signature stays ed25519), and
/// `submit?next=1` answers with the next lease. A replayed MAC, a MAC under another key, a
/// token naming another node, a session opened with a MAC, or for another orchestrator,
/// and an expired session are all refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_mac_requests_and_refuse_replays_wrong_keys_and_expiry() {
    let (chain, orch) = setup(|c| c.session_ttl_ms = 1_500).await;
    let id = chain.create_job(1, 100).await;
    orch.register(json!({"job_id": id})).await;
    let node = SimNode::new(chain.register_node(MIN_STAKE).await.1);
    let other = SimNode::new(chain.register_node(MIN_STAKE).await.1);
    let server = orch.key().await;
    let (st, v) = open_session(&node, &orch.url).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let (token, key) = session_of(&v);
    assert!(v["expires_ms"].as_i64().unwrap() > now_ms());
    let mac = |path: &str, body: &[u8], key: &[u8; 32], token: &str, ts: i64| {
        protocol::mac_request(token, key, &server, "POST", path, ts, body)
    };

    // Lease and submit in the session; the submit hands over the next lease.
    let ts = now_ms();
    let h = mac("/v1/leases", b"{}", &key, &token, ts);
    let (st, lease) = node.raw(&orch.url, "POST", "/v1/leases", b"{}".to_vec(), &h).await;
    assert_eq!(st, StatusCode::OK, "{lease}");
    // The same request again: a replay.
    let (st, v) = node.raw(&orch.url, "POST", "/v1/leases", b"{}".to_vec(), &h).await;
    assert_eq!((st, v["title"].as_str()), (StatusCode::UNAUTHORIZED, Some("replay")));
    let (w, hh, px) = pixels(&lease, false);
    let body = node.submit_body(&lease, w, hh, px);
    let path = format!("/v1/leases/{}/submit?next=1", lease["lease_id"]);
    let h = mac(&path, &body, &key, &token, now_ms());
    let (st, v) = node.raw(&orch.url, "POST", &path, body, &h).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert!(v["ack"].is_string(), "{v}");
    let next = v["next"].clone();
    assert!(next["lease_id"].as_i64().unwrap() > lease["lease_id"].as_i64().unwrap(), "{v}");
    let bad_query = format!("/v1/leases/{}/submit?nxt=1", next["lease_id"]);
    let h = mac(&bad_query, b"{}", &key, &token, now_ms());
    let (st, _) = node.raw(&orch.url, "POST", &bad_query, b"{}".to_vec(), &h).await;
    assert_eq!(st, StatusCode::BAD_REQUEST);

    // Another key, and a token that names another node: neither verifies.
    let h = mac("/v1/leases", b"{}", &[7u8; 32], &token, now_ms());
    let (st, v) = node.raw(&orch.url, "POST", "/v1/leases", b"{}".to_vec(), &h).await;
    assert_eq!((st, v["title"].as_str()), (StatusCode::UNAUTHORIZED, Some("bad-signature")));
    let forged = format!(
        "{}{}",
        tessera_orchestrator::receipt::hex(other.key.pubkey().as_ref()),
        &token[64..]
    );
    let h = mac("/v1/leases", b"{}", &key, &forged, now_ms());
    let (st, v) = node.raw(&orch.url, "POST", "/v1/leases", b"{}".to_vec(), &h).await;
    assert_eq!((st, v["title"].as_str()), (StatusCode::UNAUTHORIZED, Some("bad-signature")));

    // A session is opened with the node key's signature, for this orchestrator only.
    let h = mac("/v1/sessions", b"{}", &key, &token, now_ms());
    let (st, _) = node.raw(&orch.url, "POST", "/v1/sessions", b"{}".to_vec(), &h).await;
    assert_eq!(st, StatusCode::UNAUTHORIZED);
    let elsewhere = Keypair::new().pubkey();
    let h = protocol::sign_request(&node.key, &elsewhere, "POST", "/v1/sessions", now_ms(), b"{}");
    let (st, v) = node.raw(&orch.url, "POST", "/v1/sessions", b"{}".to_vec(), &h).await;
    assert_eq!((st, v["title"].as_str()), (StatusCode::UNAUTHORIZED, Some("bad-signature")));

    // Past its expiry the session is refused before anything else.
    let left = v_expiry(&token) - now_ms();
    tokio::time::sleep(Duration::from_millis(left.max(0) as u64 + 50)).await;
    let h = mac("/v1/leases", b"{}", &key, &token, now_ms());
    let (st, v) = node.raw(&orch.url, "POST", "/v1/leases", b"{}".to_vec(), &h).await;
    assert_eq!((st, v["title"].as_str()), (StatusCode::UNAUTHORIZED, Some("session-expired")));
    // A fresh session works again, and its submit of the handed-over lease is accepted.
    let (st, v) = open_session(&node, &orch.url).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let (token, key) = session_of(&v);
    let (w, hh, px) = pixels(&next, false);
    let body = node.submit_body(&next, w, hh, px);
    let path = format!("/v1/leases/{}/submit", next["lease_id"]);
    let h = mac(&path, &body, &key, &token, now_ms());
    let (st, v) = node.raw(&orch.url, "POST", &path, body, &h).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert!(v.get("next").is_none(), "{v}");
}
}

/// The expiry (unix ms) a session token carries.
fn v_expiry(token: &str) -> i64 {
    let b: Vec<u8> = (0..8)
        .map(|i| u8::from_str_radix(&token[64 + 2 * i..66 + 2 * i], 16).unwrap())
        .collect();
    i64::from_le_bytes(b.try_into().unwrap())
}

on_both! {
/// A session request recorded before a restart cannot be replayed after it. SQLite keeps
/// session requests' records in the process and binds sessions to it: after the restart the
/// old session's MACs do not verify at all (the node opens a new session). PostgreSQL keeps a
/// row per request and shares sessions between instances (and restarts): the old session
/// still works, its recorded request is still a replay.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_request_from_before_a_restart_is_not_accepted_again() {
    let (chain, mut orch) = setup(|_| {}).await;
    let id = chain.create_job(1, 100).await;
    orch.register(json!({"job_id": id})).await;
    let node = SimNode::new(chain.register_node(MIN_STAKE).await.1);
    let server = orch.key().await;
    let (st, v) = open_session(&node, &orch.url).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let (token, key) = session_of(&v);
    let mac = |ts: i64| protocol::mac_request(&token, &key, &server, "POST", "/v1/leases", ts, b"{}");
    let h = mac(now_ms());
    let (st, lease) = node.raw(&orch.url, "POST", "/v1/leases", b"{}".to_vec(), &h).await;
    assert_eq!(st, StatusCode::OK, "{lease}");

    orch.restart(&chain, |_| {}).await;
    let (st, v) = node.raw(&orch.url, "POST", "/v1/leases", b"{}".to_vec(), &h).await;
    let fresh = mac(now_ms());
    let (fresh_st, fresh_v) = node.raw(&orch.url, "POST", "/v1/leases", b"{}".to_vec(), &fresh).await;
    if db() == Db::Postgres {
        assert_eq!((st, v["title"].as_str()), (StatusCode::UNAUTHORIZED, Some("replay")));
        assert_eq!(fresh_st, StatusCode::OK, "the session outlives the process: {fresh_v}");
    } else {
        assert_eq!((st, v["title"].as_str()), (StatusCode::UNAUTHORIZED, Some("bad-signature")));
        assert_eq!(
            (fresh_st, fresh_v["title"].as_str()),
            (StatusCode::UNAUTHORIZED, Some("bad-signature")),
            "the session ended with the process"
        );
        let (st, v) = open_session(&node, &orch.url).await;
        assert_eq!(st, StatusCode::OK, "a new session opens: {v}");
    }
}
}
