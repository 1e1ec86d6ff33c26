//! End-to-end: the HTTP API on loopback, real SQLite, the development chain (never mocked).
mod common;

use std::time::Duration;

use common::*;
use reqwest::StatusCode;
use serde_json::{json, Value};
use solana_sdk::signature::{Keypair, Signer};
use tessera_orchestrator::protocol;
use tessera_sdk::{ix, pda, JobState};

async fn setup(tweak: impl FnOnce(&mut tessera_orchestrator::Config)) -> (TestChain, TestOrch) {
    let chain = TestChain::start().await;
    let orch = TestOrch::start(&chain, tweak).await;
    (chain, orch)
}

on_both! {
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn job_renders_verifies_stitches_and_posts_receipt() {
    let (chain, orch) = setup(|_| {}).await;
    let id = chain.create_job(1, 100).await;
    let (st, v) = orch.upload_scene(id).await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    // Same bytes again: same hash, nothing new.
    let (st, again) = orch.upload_scene(id).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(
        again["hash"],
        tessera_orchestrator::receipt::hex(&scene_hash())
    );
    assert_eq!(again["new"], false);
    let artist = orch.artist.insecure_clone();
    let (st, bad) = orch.upload_as(&artist, id, b"not a scene").await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
    assert_eq!(bad["title"], "bad-scene");

    let (st, status) = orch.register_only(json!({"job_id": id})).await;
    assert_eq!(st, StatusCode::CREATED, "{status}");
    // Registration answers with the public view; the artist's view breaks the tiles down.
    assert_eq!(status["counts"], json!({"total": 16, "verified": 0}));
    assert_eq!(orch.status(id).await["counts"]["queued"], 16);
    let (st, _) = orch.register_only(json!({"job_id": id})).await;
    assert_eq!(st, StatusCode::OK, "registering twice is idempotent");

    let a = SimNode::new(chain.register_node(MIN_STAKE).await.1);
    let b = SimNode::new(chain.register_node(MIN_STAKE * 2).await.1);
    // Tile events stream as server-sent events.
    let mut sse = orch.events(id).await;
    assert_eq!(sse.headers()["content-type"], "text/event-stream");
    // One tile in, the preview shows it.
    let l = a.lease(&orch.url).await.unwrap();
    assert!(
        l.get("role").is_none(),
        "nodes are not told whether a lease is a check"
    );
    // The job's frame rate from the chain, so the node poses the instant the artist paid for.
    assert_eq!(l["frame_rate"], serde_json::json!([24, 1]));
    let (st, v) = a.submit(&orch.url, &l).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    // The orchestrator signs what it recorded; the node can hold it against the manifest.
    let (_, info) = orch.get_json("/v1/info").await;
    let orch_key: solana_sdk::pubkey::Pubkey =
        info["orchestrator"].as_str().unwrap().parse().unwrap();
    let record = tessera_sdk::receipt::TileRecord {
        frame: l["frame"].as_u64().unwrap() as u32,
        tile: l["tile"].as_u64().unwrap() as u32,
        node: a.key.pubkey(),
        pixel_hash: *blake3::hash(&pixels(&l, false).2).as_bytes(),
    };
    let ack: solana_sdk::signature::Signature = v["ack"].as_str().unwrap().parse().unwrap();
    let job_key = l["job_key"].as_str().unwrap().parse().unwrap();
    assert!(tessera_sdk::protocol::verify_ack(&orch_key, &job_key, &record, &ack), "{v}");
    let forged = tessera_sdk::receipt::TileRecord { tile: record.tile + 1, ..record.clone() };
    assert!(!tessera_sdk::protocol::verify_ack(&orch_key, &job_key, &forged, &ack));
    let seen = read_events_until(&mut sse, "event: verified").await;
    assert!(
        !seen.contains("event: leased"),
        "leases are not published (they would mark checks): {seen}"
    );
    let (st, preview) = orch
        .get_bytes(&format!("/v1/jobs/{id}/frames/1/preview"))
        .await;
    assert_eq!(st, StatusCode::OK);
    // Previews are a quarter of each edge: enough to judge, not the deliverable.
    assert_eq!(
        tessera_orchestrator::imaging::decode_png(&preview)
            .unwrap()
            .0,
        64 / tessera_orchestrator::imaging::PREVIEW_SCALE
    );
    let (st, _) = orch
        .get_bytes(&format!("/v1/jobs/{id}/frames/1/image"))
        .await;
    assert_eq!(
        st,
        StatusCode::FORBIDDEN,
        "no clean frame before settlement"
    );

    assert_eq!(work_until_idle(&orch.url, &[&a, &b]).await, 15);
    let status = orch.wait_state(id, "posted", 30).await;
    assert_eq!(status["counts"]["verified"], 16);
    assert_eq!(status["frames"][0]["complete"], true);

    // Every tile verified and the receipt on-chain, but the artist has not approved: still no
    // clean frame, and the manifest names no blob (issue 14: download, then cancel).
    let (st, body) = orch
        .get_bytes(&format!("/v1/jobs/{id}/frames/1/image"))
        .await;
    assert_eq!(
        st,
        StatusCode::FORBIDDEN,
        "{}",
        String::from_utf8_lossy(&body)
    );
    let (_, m) = orch.get_json(&format!("/v1/jobs/{id}/manifest")).await;
    assert!(m["tiles"]
        .as_array()
        .unwrap()
        .iter()
        .all(|t| t["blob"].is_null()));
    chain.approve(id).await;

    // Settled: the stitched frame is exactly the tiles' pixels.
    let (st, frame) = orch
        .get_bytes(&format!("/v1/jobs/{id}/frames/1/image"))
        .await;
    assert_eq!(st, StatusCode::OK);
    let (w, h, rgba) = tessera_orchestrator::imaging::decode_png(&frame).unwrap();
    assert_eq!((w, h), (64, 64));
    let whole = json!({"rect": {"x": 0, "y": 0, "width": 64, "height": 64}, "seed": 0, "frame": 1});
    let (_, _, expect) = pixels(&whole, false);
    // Seeds differ per tile in the synthetic render, so compare G and B (seed-free).
    assert!(rgba
        .chunks(4)
        .zip(expect.chunks(4))
        .all(|(a, b)| a[1] == b[1] && a[2] == b[2]));

    // The receipt is on-chain and the manifest's proofs verify against it.
    let job = chain.job(id).await;
    assert_eq!(job.state, JobState::Settled);
    assert_eq!(job.tile_count, 16);
    assert_eq!(job.node_count, 2);
    assert_eq!(job.total_payout, 1_600);
    let (st, m) = orch.get_json(&format!("/v1/jobs/{id}/manifest")).await;
    assert_eq!(st, StatusCode::OK);
    assert!(m["tiles"][0]["blob"].is_string(), "blobs after settlement");
    assert_eq!(
        m["tile_root"],
        tessera_orchestrator::receipt::hex(&job.tile_root)
    );
    let job_key = pda::job(id);
    for t in m["tiles"].as_array().unwrap() {
        let rec = tessera_sdk::receipt::TileRecord {
            frame: t["frame"].as_u64().unwrap() as u32,
            tile: t["tile"].as_u64().unwrap() as u32,
            node: t["node"].as_str().unwrap().parse().unwrap(),
            pixel_hash: tessera_orchestrator::receipt::hex32(t["pixel_hash"].as_str().unwrap())
                .unwrap(),
        };
        let proof: Vec<[u8; 32]> = t["proof"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| tessera_orchestrator::receipt::hex32(h.as_str().unwrap()).unwrap())
            .collect();
        assert!(tessera_sdk::receipt::verify_tile(
            &job_key,
            &job.tile_root,
            &rec,
            &proof
        ));
        assert!(t["signature"].is_string());
    }
    let metrics = orch
        .http
        .get(format!("{}/metrics", orch.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("tessera_tiles_submitted_total 16"),
        "{metrics}"
    );
    assert!(metrics.contains("tessera_receipts_posted_total 1"));
    assert!(metrics.contains("tessera_lease_latency_seconds_bucket"));
    // Store query latency and pool use, labelled with the backend the test runs on.
    let backend = match db() {
        Db::Sqlite => "sqlite",
        Db::Postgres => "postgres",
    };
    for series in [
        format!("tessera_store_transaction_seconds_count{{backend=\"{backend}\",op=\"lease\"}}"),
        format!("tessera_store_transaction_seconds_count{{backend=\"{backend}\",op=\"submit\"}}"),
        format!("tessera_store_pool_wait_seconds_count{{backend=\"{backend}\"}}"),
        format!("tessera_store_pool_connections{{backend=\"{backend}\"}}"),
        format!("tessera_store_pool_in_use{{backend=\"{backend}\"}}"),
    ] {
        assert!(metrics.contains(&series), "{series} in {metrics}");
    }
}
}

on_both! {
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn job_without_escrow_or_with_different_escrow_is_refused() {
    let (chain, orch) = setup(|_| {}).await;
    // No job account, so no escrow.
    let (st, v) = orch.register(json!({"job_id": 4242})).await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert_eq!(v["title"], "job-refused");
    let id = chain.create_job(1, 100).await;
    // The escrow on-chain is not what the artist expects.
    for expect in [
        json!({"budget": 1}),
        json!({"scene_hash": "00".repeat(32)}),
        json!({"price_per_tile": 7}),
        json!({"width": 128}),
    ] {
        let (st, v) = orch.register(json!({"job_id": id, "expect": expect})).await;
        assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
        assert!(v["detail"].as_str().unwrap().contains("differs"), "{v}");
    }
    // A job whose scene was never uploaded.
    let mut params = tessera_sdk::JobParams {
        scene_hash: [9; 32],
        frame_start: 0,
        frame_end: 0,
        width: 64,
        height: 64,
        tile_size: 16,
        samples_per_pixel: 4,
        price_per_tile: 10,
        budget: 1_000,
        deadline: now_ms() / 1000 + 3_600,
        frame_rate_num: 24,
        frame_rate_den: 1,
    };
    let other = chain.create_job_with(params.clone()).await;
    let (st, v) = orch.register(json!({"job_id": other})).await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    // A job whose artist asked to cancel it.
    params.scene_hash = scene_hash();
    let cancelled = chain.create_job_with(params).await;
    chain
        .send(&[ix::cancel_job(&chain.payer.pubkey(), cancelled)], &[])
        .await
        .expect("cancel");
    let (st, v) = orch.register(json!({"job_id": cancelled})).await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    // Matching expectations are accepted.
    let (st, v) = orch
        .register(json!({"job_id": id, "expect": {"scene_hash": tessera_orchestrator::receipt::hex(&scene_hash()), "budget": 3_200}}))
        .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
}
}

on_both! {
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_between_send_and_confirm_does_not_post_twice() {
    let (chain, mut orch) = setup(|c| c.crash_after_send = true).await;
    let id = chain.create_job(1, 100).await;
    orch.register(json!({"job_id": id})).await;
    let a = SimNode::new(chain.register_node(MIN_STAKE).await.1);
    work_until_idle(&orch.url, &[&a]).await;
    let sent = orch.wait_state(id, "posting", 30).await;
    let sig = sent["receipt_signature"].as_str().unwrap().to_string();
    // "Crash", then restart without the hook: the same transaction is resolved, not a new one.
    orch.restart(&chain, |_| {}).await;
    let done = orch.wait_state(id, "posted", 30).await;
    assert_eq!(done["receipt_signature"], sig.as_str());
    assert_eq!(chain.job(id).await.state, JobState::Rendered);
    let sigs = chain
        .rpc
        .get_signatures_for_address(&pda::job(id))
        .await
        .unwrap();
    let ok: Vec<_> = sigs.iter().filter(|s| s.err.is_none()).collect();
    assert_eq!(
        ok.len(),
        2,
        "create_job and exactly one post_receipt: {sigs:?}"
    );
    assert!(ok.iter().any(|s| s.signature == sig));
    // Re-sending the very same signed receipt (as persisted) is harmless.
    let bytes = orch
        .store()
        .job_receipt_tx(id)
        .await
        .unwrap()
        .expect("the signed receipt is persisted");
    let tx: solana_sdk::transaction::Transaction = bincode::deserialize(&bytes).unwrap();
    assert_eq!(tx.signatures[0].to_string(), sig);
    let _ = chain.rpc.send_transaction(&tx).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let sigs = chain
        .rpc
        .get_signatures_for_address(&pda::job(id))
        .await
        .unwrap();
    assert_eq!(
        sigs.iter().filter(|s| s.err.is_none()).count(),
        2,
        "{sigs:?}"
    );
    assert_eq!(chain.job(id).await.state, JobState::Rendered);
}
}

on_both! {
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_keeps_data_and_recovers_leases() {
    let (chain, mut orch) = setup(|c| c.lease_ms = 3_000).await;
    let id = chain.create_job(1, 100).await;
    orch.register(json!({"job_id": id})).await;
    let a = SimNode::new(chain.register_node(MIN_STAKE).await.1);
    let b = SimNode::new(chain.register_node(MIN_STAKE).await.1);
    let l1 = a.lease(&orch.url).await.unwrap();
    a.submit(&orch.url, &l1).await;
    let held = a.lease(&orch.url).await.unwrap();
    let abandoned = a.lease(&orch.url).await.unwrap();
    orch.restart(&chain, |c| c.lease_ms = 3_000).await;
    let s = orch.status(id).await;
    assert_eq!(s["counts"]["verified"], 1, "{s}");
    assert_eq!(s["counts"]["leased"], 2, "leases survive the restart: {s}");
    // The node that held a lease before the restart can still deliver it.
    let (st, v) = a.submit(&orch.url, &held).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    // The abandoned one expires and goes to another node.
    tokio::time::sleep(Duration::from_millis(3_300)).await;
    let mut seen = false;
    while let Some(l) = b.lease(&orch.url).await {
        seen |= l["frame"] == abandoned["frame"] && l["tile"] == abandoned["tile"];
        b.submit(&orch.url, &l).await;
    }
    assert!(seen, "expired lease re-dispatched after restart");
    orch.wait_state(id, "posted", 30).await;
}
}

on_both! {
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_lease_is_redispatched() {
    let (chain, orch) = setup(|c| c.lease_ms = 600).await;
    let id = chain.create_job(1, 100).await;
    orch.register(json!({"job_id": id})).await;
    let a = SimNode::new(chain.register_node(MIN_STAKE).await.1);
    let b = SimNode::new(chain.register_node(MIN_STAKE).await.1);
    let la = a.lease(&orch.url).await.unwrap();
    // A heartbeat keeps it alive past the first deadline.
    tokio::time::sleep(Duration::from_millis(400)).await;
    let (st, _) = a
        .request(
            &orch.url,
            "POST",
            &format!("/v1/leases/{}/heartbeat", la["lease_id"]),
            vec![],
        )
        .await;
    assert_eq!(st, StatusCode::OK);
    tokio::time::sleep(Duration::from_millis(400)).await;
    let lb = b.lease(&orch.url).await.unwrap();
    assert_ne!(
        (&lb["frame"], &lb["tile"]),
        (&la["frame"], &la["tile"]),
        "heartbeat extended the lease"
    );
    // Then it lapses: the tile goes back to the queue and to another node.
    tokio::time::sleep(Duration::from_millis(900)).await;
    let lc = b.lease(&orch.url).await.unwrap();
    assert!(
        [&lb, &lc]
            .iter()
            .any(|l| l["tile"] == la["tile"] && l["frame"] == la["frame"]),
        "{la} {lb} {lc}"
    );
    let (st, v) = a.submit(&orch.url, &la).await;
    assert_eq!(st, StatusCode::GONE, "{v}");
    assert_eq!(v["title"], "lease-gone");
}
}

on_both! {
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_replayed_stale_and_unstaked_requests_are_refused() {
    let (chain, orch) = setup(|_| {}).await;
    let id = chain.create_job(1, 100).await;
    orch.register(json!({"job_id": id})).await;
    let (operator, key) = chain.register_node(MIN_STAKE).await;
    let node = SimNode::new(key);
    let url = &orch.url;
    let body = b"{}".to_vec();
    let me = orch.key().await;
    // Not registered on-chain.
    let stranger = SimNode::new(Keypair::new());
    let (st, v) = stranger
        .request(url, "POST", "/v1/leases", body.clone())
        .await;
    assert_eq!(
        (st, v["title"].as_str()),
        (StatusCode::FORBIDDEN, Some("node-not-registered"))
    );
    // Signed by another key under the node's name.
    let mut h = protocol::sign_request(&Keypair::new(), &me, "POST", "/v1/leases", now_ms(), &body);
    h[0].1 = node.key.pubkey().to_string();
    let (st, v) = node.raw(url, "POST", "/v1/leases", body.clone(), &h).await;
    assert_eq!(
        (st, v["title"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("bad-signature"))
    );
    // Body changed after signing.
    let h = protocol::sign_request(&node.key, &me, "POST", "/v1/leases", now_ms(), &body);
    let (st, _) = node
        .raw(url, "POST", "/v1/leases", b"{\"x\":1}".to_vec(), &h)
        .await;
    assert_eq!(st, StatusCode::UNAUTHORIZED);
    // Stale timestamp.
    let h = protocol::sign_request(
        &node.key,
        &me,
        "POST",
        "/v1/leases",
        now_ms() - 120_000,
        &body,
    );
    let (st, v) = node.raw(url, "POST", "/v1/leases", body.clone(), &h).await;
    assert_eq!(
        (st, v["title"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("stale-timestamp"))
    );
    // A valid request works once; its replay is refused.
    let h = protocol::sign_request(&node.key, &me, "POST", "/v1/leases", now_ms(), &body);
    let (st, lease) = node.raw(url, "POST", "/v1/leases", body.clone(), &h).await;
    assert_eq!(st, StatusCode::OK);
    let (st, v) = node.raw(url, "POST", "/v1/leases", body.clone(), &h).await;
    assert_eq!(
        (st, v["title"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("replay"))
    );
    // A tile signature forged by another key.
    let forger = SimNode::new(Keypair::new());
    let (w, hh, px) = pixels(&lease, false);
    let forged = forger.submit_body(&lease, w, hh, px);
    let (st, v) = node
        .request(
            url,
            "POST",
            &format!("/v1/leases/{}/submit", lease["lease_id"]),
            forged,
        )
        .await;
    assert_eq!(
        (st, v["title"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("bad-signature")),
        "{v}"
    );
    // Stake below the minimum once unstaking is requested.
    let (op2, key2) = chain.register_node(MIN_STAKE).await;
    chain
        .send(
            &[ix::request_unstake(&op2.pubkey(), &key2.pubkey(), 1)],
            &[&op2],
        )
        .await
        .expect("unstake");
    let low = SimNode::new(key2);
    let (st, v) = low.request(url, "POST", "/v1/leases", body.clone()).await;
    assert_eq!(
        (st, v["title"].as_str()),
        (StatusCode::FORBIDDEN, Some("insufficient-stake")),
        "{v}"
    );
    drop(operator);
}
}

on_both! {
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pixel_hash_mismatch_is_refused() {
    let (chain, orch) = setup(|_| {}).await;
    let id = chain.create_job(1, 100).await;
    orch.register(json!({"job_id": id})).await;
    let node = SimNode::new(chain.register_node(MIN_STAKE).await.1);
    let lease = node.lease(&orch.url).await.unwrap();
    let (w, h, px) = pixels(&lease, false);
    // Claims (and signs) the hash of honest pixels, uploads other pixels.
    let honest = node.submit_body(&lease, w, h, px);
    let mut v: serde_json::Value = serde_json::from_slice(&honest).unwrap();
    let (_, _, other) = pixels(&lease, true);
    v["png"] = json!(base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        png(w, h, other)
    ));
    let (st, p) = node
        .request(
            &orch.url,
            "POST",
            &format!("/v1/leases/{}/submit", lease["lease_id"]),
            serde_json::to_vec(&v).unwrap(),
        )
        .await;
    assert_eq!(
        (st, p["title"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("hash-mismatch")),
        "{p}"
    );
    let s = orch.status(id).await;
    assert_eq!(
        s["counts"]["queued"], 16,
        "the tile went back to the queue: {s}"
    );
    assert_eq!(s["counts"]["failed"], 1);
}
}

on_both! {
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redundancy_catches_a_node_returning_wrong_pixels() {
    // Every tile drawn, within the largest share (a job paying as many verification renders
    // as tiles): a check is drawn while the share has room for its three renders.
    let (chain, orch) = TestOrch::every_tile_checked(|_| {}).await;
    let honest_a = SimNode::new(chain.register_node(MIN_STAKE).await.1);
    let honest_b = SimNode::new(chain.register_node(MIN_STAKE).await.1);
    let mut liar = SimNode::new(chain.register_node(MIN_STAKE).await.1);
    liar.wrong = true;
    // Witnesses of a slash must be registered before the job (`corroborate_tile`).
    let keys = [&honest_a, &honest_b, &liar].map(|n| n.key.pubkey());
    chain.age_nodes(&keys.iter().collect::<Vec<_>>()).await;
    let id = chain.create_job(1, 100).await;
    let created_at = chain.job(id).await.created_at;
    for key in &keys {
        assert!(chain.node(key).await.registered_at < created_at);
    }
    orch.register(json!({"job_id": id})).await;
    work_until_idle(&orch.url, &[&liar, &honest_a, &honest_b]).await;
    orch.wait_state(id, "posted", 30).await;
    let (_, ev) = orch.get_json(&format!("/v1/jobs/{id}/evidence")).await;
    let ev = ev["evidence"].as_array().unwrap();
    assert!(!ev.is_empty());
    let liar_key = liar.key.pubkey().to_string();
    assert!(
        ev.iter().all(|e| e["faulty_node"] == liar_key.as_str()),
        "{ev:?}"
    );
    assert!(
        ev[0]["detail"]["psnr_db"]["primary_check"]
            .as_f64()
            .unwrap()
            < 35.0
    );
    let (_, m) = orch.get_json(&format!("/v1/jobs/{id}/manifest")).await;
    assert!(
        m["tiles"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["node"] != liar_key.as_str()),
        "no tile of the liar is paid"
    );
    assert!(m["payouts"]
        .as_array()
        .unwrap()
        .iter()
        .all(|p| p["node"] != liar_key.as_str()));
    let (st, v) = liar
        .request(&orch.url, "POST", "/v1/leases", b"{}".to_vec())
        .await;
    assert_eq!(
        st,
        StatusCode::NO_CONTENT,
        "the liar gets no more work in this job: {v}"
    );
    // Once the receipt landed the orchestrator filed `slash_node` with the liar's own signed
    // hash of each convicted tile: its stake went to the treasury, one slash per tile.
    let slash = MIN_STAKE / 10;
    let convicted = ev.len() as u64;
    let liar_stake = MIN_STAKE - convicted * slash;
    let mut node = chain.node(&liar.key.pubkey()).await;
    for _ in 0..150 {
        if node.stake == liar_stake {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        node = chain.node(&liar.key.pubkey()).await;
    }
    assert_eq!((node.stake, node.faults), (liar_stake, convicted));
    let treasury = chain
        .rpc
        .get_token_account_balance(&pda::treasury())
        .await
        .unwrap();
    assert_eq!(treasury.amount, (convicted * slash).to_string());
    let job = chain.job(id).await;
    assert_eq!(job.slashed_count as u64, convicted);
    // The artist's job is whole: every tile paid to an honest node, the escrow untouched.
    // Every check, tiebreak and escalation that agreed is paid like a tile, none left out:
    // the receipt's renders are the 16 tiles and every agreeing verification render.
    let agreed = orch
        .count_where(&format!(
            "results r JOIN tiles t ON t.job_id=r.job_id AND t.frame=r.frame AND t.tile=r.tile \
             WHERE r.job_id={id} AND r.verdict='agreed' AND r.role IN ('check','tiebreak') \
             AND r.node != t.node"
        ))
        .await as u32;
    assert!(agreed >= 2, "checks were paid: {agreed}");
    assert_eq!(
        (job.tile_count, job.render_count, job.total_payout),
        (16, 16 + agreed, 100 * u64::from(16 + agreed))
    );
    assert_eq!(m["verifications"].as_array().unwrap().len(), agreed as usize);
    for honest in [&honest_a, &honest_b] {
        assert_eq!(chain.node(&honest.key.pubkey()).await.stake, MIN_STAKE);
    }
    // Retention finds a blob's references in `results` alone (V9 dropped `tiles_blob`):
    // through checks, tiebreaks and re-queued faults, every tile's blob is one of its job's
    // result rows' blobs.
    let with_blob = orch.count_where("tiles WHERE blob IS NOT NULL").await;
    assert_eq!(with_blob, 16);
    let stray = orch
        .count_where(
            "tiles t WHERE t.blob IS NOT NULL AND NOT EXISTS \
             (SELECT 1 FROM results r WHERE r.job_id=t.job_id AND r.blob=t.blob)",
        )
        .await;
    assert_eq!(stray, 0, "a tile blob without its result row");
}
}

on_both! {
/// A node registered after the job (a Sybil made to convict honest nodes off-chain) is not
/// leased a check or a tiebreak of it while witnesses may still take them (`witness_wait_ms`,
/// long here), though it renders its primaries: it could never be a witness of the job
/// on-chain (`Node::witness_refusal`, issue 14).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_registered_after_the_job_renders_primaries_but_no_checks_within_the_wait() {
    let (chain, orch) = setup(|c| {
        c.verify_share = 1.0;
        c.witness_wait_ms = 600_000;
    })
    .await;
    let a = SimNode::new(chain.register_node(MIN_STAKE).await.1);
    let b = SimNode::new(chain.register_node(MIN_STAKE).await.1);
    // A liar registered in time: its tiles disagree with their checks and need tiebreaks.
    let mut liar = SimNode::new(chain.register_node(MIN_STAKE).await.1);
    liar.wrong = true;
    chain.advance_clock(2).await;
    let id = chain.create_job(2, 100).await;
    orch.register(json!({"job_id": id})).await;
    let late = SimNode::new(chain.register_node(MIN_STAKE).await.1);
    // The liar first, so that tiebreaks are waiting while the late node asks.
    for _ in 0..3 {
        let l = liar.lease(&orch.url).await.unwrap();
        liar.submit(&orch.url, &l).await;
    }
    work_until_idle(&orch.url, &[&late, &a, &liar, &b]).await;
    orch.wait_verdicts().await;
    let by = |node: &SimNode, roles: &str| {
        format!("leases WHERE job_id={id} AND node='{}' AND role IN ({roles})", node.key.pubkey())
    };
    assert_eq!(orch.count_where(&by(&late, "'check','tiebreak'")).await, 0);
    assert!(orch.count_where(&by(&late, "'primary'")).await > 0, "it renders primaries");
    let tiebreaks = format!("leases WHERE job_id={id} AND role='tiebreak'");
    assert!(orch.count_where(&tiebreaks).await > 0, "there were tiebreaks to take");
}
}

on_both! {
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tile_awaiting_its_check_shows_in_no_preview_and_no_event() {
    // Every tile is checked: the first render of a tile waits for its check. A lazy checker
    // that could see those pixels (preview) or learn which lease is a check (events) would
    // copy them instead of rendering.
    let (chain, orch) = setup(|c| c.verify_share = 1.0).await;
    let a = SimNode::new(chain.register_node(MIN_STAKE).await.1);
    let b = SimNode::new(chain.register_node(MIN_STAKE).await.1);
    // Checkers qualify as witnesses of the job only if registered before it (two seconds:
    // one sometimes leaves the job in the registrations' second).
    chain.advance_clock(2).await;
    let id = chain.create_job(1, 100).await;
    orch.register(json!({"job_id": id})).await;
    let mut sse = orch.events(id).await;
    let lit = |png: &[u8]| {
        let (_, _, rgba) = tessera_orchestrator::imaging::decode_png(png).unwrap();
        rgba.iter().filter(|&&v| v != 0).count()
    };
    let l = a.lease(&orch.url).await.unwrap();
    let (st, v) = a.submit(&orch.url, &l).await;
    // The answer is the same as for a tile accepted unchecked: the node is not told it was sampled.
    assert_eq!((st, v["outcome"].as_str()), (StatusCode::OK, Some("accepted")), "{v}");
    let mut keys: Vec<_> = v.as_object().unwrap().keys().cloned().collect();
    keys.sort();
    assert_eq!(keys, ["ack", "lease_id", "outcome"], "{v}");
    let (_, preview) = orch.get_bytes(&format!("/v1/jobs/{id}/frames/1/preview")).await;
    assert_eq!(lit(&preview), 0, "an unchecked tile is not in the preview");
    // The check lease goes to the other node; once it agrees the tile shows.
    let c = b.lease(&orch.url).await.unwrap();
    assert_eq!((c["frame"].clone(), c["tile"].clone()), (l["frame"].clone(), l["tile"].clone()));
    let (st, v) = b.submit(&orch.url, &c).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    orch.wait_verdicts().await;
    let (_, preview) = orch.get_bytes(&format!("/v1/jobs/{id}/frames/1/preview")).await;
    assert!(lit(&preview) > 0, "the verified tile is in the preview");
    let seen = read_events_until(&mut sse, "event: verified").await;
    for hidden in ["leased", "awaiting-check", "requeued"] {
        assert!(!seen.contains(&format!("event: {hidden}")), "{hidden} published: {seen}");
    }
}
}

on_both! {
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fair_share_between_two_jobs() {
    // One node takes every lease here (the job-level share is measured, not the node caps).
    let (chain, orch) = setup(|c| {
        c.max_leases_per_node = 1_000;
        c.max_leases_per_node_per_job = 1_000;
    })
    .await;
    let cheap = chain.create_job(2, 100).await;
    let dear = chain.create_job(2, 300).await;
    let same = chain.create_job(2, 100).await;
    orch.register(json!({"job_id": cheap})).await;
    orch.register(json!({"job_id": same})).await;
    let node = SimNode::new(chain.register_node(MIN_STAKE).await.1);
    // Equal prices: leases alternate.
    let mut per = std::collections::HashMap::new();
    for _ in 0..16 {
        let l = node.lease(&orch.url).await.unwrap();
        *per.entry(l["job_id"].as_u64().unwrap()).or_insert(0) += 1;
    }
    assert!(
        (per[&cheap] as i32 - per[&same] as i32).abs() <= 1,
        "{per:?}"
    );
    // A job paying three times the price gets about three times the share.
    orch.register(json!({"job_id": dear})).await;
    let mut per = std::collections::HashMap::new();
    for _ in 0..20 {
        let l = node.lease(&orch.url).await.unwrap();
        *per.entry(l["job_id"].as_u64().unwrap()).or_insert(0) += 1;
    }
    assert!(per.get(&dear).copied().unwrap_or(0) >= 10, "{per:?}");
    assert!(
        per.get(&cheap).copied().unwrap_or(0) >= 2 && per.get(&same).copied().unwrap_or(0) >= 2,
        "no starvation: {per:?}"
    );
}
}

on_both! {
/// The real binary, killed with SIGKILL mid-job and restarted on the same files.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_dash_nine_mid_job_loses_nothing() {
    let chain = TestChain::start().await;
    let dir = tempfile::tempdir().unwrap();
    let kp = dir.path().join("orchestrator.json");
    std::fs::write(
        &kp,
        serde_json::to_string(&chain.orchestrator.to_bytes().to_vec()).unwrap(),
    )
    .unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let listen = format!("127.0.0.1:{port}");
    let db_url = fresh_database();
    let db = db_url
        .clone()
        .unwrap_or_else(|| dir.path().join("db.sqlite").display().to_string());
    let spawn = || {
        std::process::Command::new(env!("CARGO_BIN_EXE_tessera-orchestrator"))
            .args([
                "--listen",
                &listen,
                "--rpc-url",
                chain.net.url(),
                "--verify-share",
                "0",
                // No checks: every acknowledged submit is one verified tile.
                "--new-node-share",
                "0",
                "--lease-secs",
                "10",
            ])
            .arg("--db")
            .arg(&db)
            .arg("--blobs")
            .arg(dir.path().join("blobs"))
            .arg("--keypair")
            .arg(&kp)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap()
    };
    let orch = TestOrch {
        dir: tempfile::tempdir().unwrap(),
        orch: None,
        url: format!("http://{listen}"),
        http: artist_client(),
        artist: chain.payer.insecure_clone(),
        db_url,
    };
    let up = || async {
        for _ in 0..100 {
            if orch
                .http
                .get(format!("{}/healthz", orch.url))
                .send()
                .await
                .is_ok()
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("orchestrator did not come up");
    };
    let mut child = spawn();
    up().await;
    let id = chain.create_job(4, 100).await;
    assert_eq!(
        orch.register(json!({"job_id": id})).await.0,
        StatusCode::CREATED
    );
    let a = SimNode::new(chain.register_node(MIN_STAKE).await.1);
    let b = SimNode::new(chain.register_node(MIN_STAKE).await.1);
    let first = a.lease(&orch.url).await.unwrap();
    assert_eq!(a.submit(&orch.url, &first).await.0, StatusCode::OK);
    // The group-commit path: four nodes lease and submit at once (their transactions
    // commit together) while the process is killed; every acknowledged submit must be there.
    let mut loaders = Vec::new();
    for _ in 0..4 {
        loaders.push(SimNode::new(chain.register_node(MIN_STAKE).await.1));
    }
    let held = a.lease(&orch.url).await.unwrap();
    let acked = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    // Loaders holding their first lease: the kill waits for all four, since a loader whose
    // first lease was not granted yet (its node's first chain reads) holds none to count.
    let started = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let server = orch.key().await;
    let mut tasks = Vec::new();
    for n in loaders {
        let (url, acked, started) = (orch.url.clone(), acked.clone(), started.clone());
        tasks.push(tokio::spawn(async move {
            let mut ts = now_ms();
            // Signed like `SimNode::request`, but a refused connection ends the loop.
            let mut post = |path: String, body: Vec<u8>| {
                ts = now_ms().max(ts + 1);
                let h = protocol::sign_request(&n.key, &server, "POST", &path, ts, &body);
                let mut rb = n.http.post(format!("{url}{path}"));
                for (k, v) in h {
                    rb = rb.header(k, v);
                }
                async move {
                    let r = rb.body(body).send().await.ok()?;
                    Some((r.status(), r.json::<Value>().await.ok()?))
                }
            };
            let Some((StatusCode::OK, mut lease)) = post("/v1/leases".into(), b"{}".to_vec()).await
            else {
                return;
            };
            started.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            // `submit?next=1`: the submit and the next lease in one trip to the store (on
            // SQLite one body of the writer, the lease picked from the in-memory schedule).
            loop {
                let (w, h, px) = pixels(&lease, false);
                let path = format!("/v1/leases/{}/submit?next=1", lease["lease_id"]);
                let body = n.submit_body(&lease, w, h, px);
                match post(path, body).await {
                    Some((StatusCode::OK, v)) if v["next"].is_object() => {
                        acked.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        lease = v["next"].clone();
                    }
                    _ => return,
                }
            }
        }));
    }
    let until = std::time::Instant::now() + Duration::from_secs(60);
    while acked.load(std::sync::atomic::Ordering::SeqCst) < 12
        || started.load(std::sync::atomic::Ordering::SeqCst) < 4
    {
        assert!(std::time::Instant::now() < until, "the loaders stalled");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    child.kill().unwrap(); // SIGKILL, submits in flight
    child.wait().unwrap();
    for t in tasks {
        let _ = t.await;
    }
    let acked = acked.load(std::sync::atomic::Ordering::SeqCst);
    let mut child = spawn();
    up().await;
    let s = orch.status(id).await;
    let stored =
        s["counts"]["verified"].as_u64().unwrap() + s["counts"]["rendered"].as_u64().unwrap();
    // The first tile and every acknowledged submit; at most one more per loader (committed,
    // its answer lost to the kill).
    let (least, most) = (1 + acked, 1 + acked + 4);
    assert!((least..=most).contains(&stored), "{acked} acked: {s}");
    // A lease is committed before it is sent. On SQLite a submit and its next lease are one
    // body of one group commit, so `held` and each loader's last lease (acknowledged, or
    // granted with a submit whose answer the kill lost) are all in the store; on
    // PostgreSQL they are two transactions, and a kill between them leaves a loader none.
    let min_leased = if orch.db_url.is_some() { 1 } else { 1 + 4 };
    assert!(s["counts"]["leased"].as_u64().unwrap() >= min_leased, "{s}");
    assert_eq!(a.submit(&orch.url, &held).await.0, StatusCode::OK);
    work_until_idle(&orch.url, &[&a, &b]).await;
    // The leases the killed loaders held expire (`--lease-secs 10`) and go to a and b.
    let until = std::time::Instant::now() + Duration::from_secs(60);
    while orch.status(id).await["state"] == "rendering" {
        assert!(std::time::Instant::now() < until, "the loaders' leases never expired");
        tokio::time::sleep(Duration::from_millis(500)).await;
        work_until_idle(&orch.url, &[&a, &b]).await;
    }
    orch.wait_state(id, "posted", 30).await;
    assert_eq!(chain.job(id).await.state, JobState::Rendered);
    child.kill().unwrap();
    child.wait().unwrap();
}

}

on_both! {
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn near_identical_renders_verify_within_the_psnr_tolerance() {
    let (chain, orch) = setup(|c| c.verify_share = 1.0).await;
    let a = SimNode::new(chain.register_node(MIN_STAKE).await.1);
    let mut other_gpu = SimNode::new(chain.register_node(MIN_STAKE).await.1);
    other_gpu.noise = true; // ±1 level on some pixels: different bytes, same image
    // Checkers qualify as witnesses of the job only if registered before it (two seconds:
    // one sometimes leaves the job in the registrations' second).
    chain.advance_clock(2).await;
    let id = chain.create_job(1, 100).await;
    orch.register(json!({"job_id": id})).await;
    work_until_idle(&orch.url, &[&a, &other_gpu]).await;
    let s = orch.wait_state(id, "posted", 30).await;
    assert_eq!(s["counts"]["verified"], 16);
    let (_, ev) = orch.get_json(&format!("/v1/jobs/{id}/evidence")).await;
    assert!(ev["evidence"].as_array().unwrap().is_empty(), "{ev}");
    let agreed = orch
        .count_where(&format!(
            "results WHERE job_id={id} AND role='check' AND verdict='agreed'"
        ))
        .await;
    assert!(agreed >= 1, "a noisy render was compared and agreed");
}
}

on_both! {
/// Issue 14, no free renders: the artist cancels after 3 tiles were verified. The orchestrator
/// stops leasing, refuses results that come in after the cancel, and posts the receipt of the
/// 3 tiles, so the node is paid 3 × 100 instead of the artist taking a full refund.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_cancelled_mid_render_gets_the_receipt_of_its_verified_tiles() {
    let (chain, orch) = setup(|_| {}).await;
    let id = chain.create_job(1, 100).await;
    let (st, v) = orch.register(json!({"job_id": id})).await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    let a = SimNode::new(chain.register_node(MIN_STAKE).await.1);
    for _ in 0..3 {
        let l = a.lease(&orch.url).await.expect("a lease");
        let (st, v) = a.submit(&orch.url, &l).await;
        assert_eq!(st, StatusCode::OK, "{v}");
    }
    let in_flight = a.lease(&orch.url).await.expect("a lease");
    chain
        .send(&[ix::cancel_job(&chain.payer.pubkey(), id)], &[])
        .await
        .expect("cancel");
    let status = orch.wait_state(id, "posted", 30).await;
    assert_eq!(status["counts"]["verified"], 3);
    let job = chain.job(id).await;
    assert_eq!(
        (job.state, job.tile_count, job.node_count, job.total_payout),
        (JobState::Rendered, 3, 1, 300)
    );
    // The receipt is fixed: a result for the lease held at the cancel is refused, and no
    // more work is handed out.
    let (st, v) = a.submit(&orch.url, &in_flight).await;
    assert_eq!(st, StatusCode::GONE, "{v}");
    assert!(a.lease(&orch.url).await.is_none());
    // The manifest says why the other 13 tiles are not in the receipt: none was rendered
    // (the lease held at the cancel included), and none carries a node, hash or proof.
    let (_, m) = orch.get_json(&format!("/v1/jobs/{id}/manifest")).await;
    let gaps: Vec<u64> = m["tiles"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["missing"].is_string())
        .inspect(|t| {
            assert_eq!(
                (t["missing"].as_str(), t["node"].as_str(), t["proof"].is_null()),
                (Some("never_rendered"), Some(""), true),
                "{t}"
            )
        })
        .map(|t| t["tile"].as_u64().unwrap())
        .collect();
    assert_eq!(gaps.len(), 13, "{m}");
    // Settled, the frame is served clean: the receipt's 3 tiles, the others transparent.
    chain.approve(id).await;
    let (st, png) = orch.get_bytes(&format!("/v1/jobs/{id}/frames/1/image")).await;
    assert_eq!(st, StatusCode::OK, "{}", String::from_utf8_lossy(&png));
    let (w, _, rgba) = tessera_orchestrator::imaging::decode_png(&png).unwrap();
    for tile in 0..16u64 {
        let (x, y) = ((tile % 4) * 16 + 8, (tile / 4) * 16 + 8);
        let alpha = rgba[((y * w as u64 + x) * 4 + 3) as usize];
        assert_eq!(alpha, if gaps.contains(&tile) { 0 } else { 255 }, "tile {tile}");
    }
}
}

on_both! {
/// The orchestrator refuses a job whose deadline the network's measured rate (the nodes'
/// on-chain benchmark scores) cannot meet with the margin.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deadline_too_short_for_the_jobs_size_is_refused() {
    let (chain, orch) = setup(|_| {}).await;
    // One node of score 2 000 (200 Msamples/s).
    chain.register_node(MIN_STAKE).await;
    let mut params = tessera_sdk::JobParams {
        scene_hash: scene_hash(),
        frame_start: 1,
        frame_end: 1_000,
        width: 64,
        height: 64,
        tile_size: 16,
        samples_per_pixel: 65_536,
        price_per_tile: 1,
        budget: 20_000,
        deadline: now_ms() / 1000 + 600,
        frame_rate_num: 24,
        frame_rate_den: 1,
    };
    // 64 × 64 × 1 000 frames × 65 536 spp = 2.7e11 samples: 1 342 s, 2 684 s with the margin.
    let tight = chain.create_job_with(params.clone()).await;
    let (st, v) = orch.register(json!({"job_id": tight})).await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert!(
        v["detail"].as_str().unwrap().contains("deadline leaves"),
        "{v}"
    );
    params.deadline = now_ms() / 1000 + 3_600;
    let roomy = chain.create_job_with(params).await;
    let (st, v) = orch.register(json!({"job_id": roomy})).await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
}
}

/// PostgreSQL only: two orchestrator servers on one database serve one job. Four nodes
/// lease from one instance and submit to the other, concurrently: every tile is verified
/// once, and the receipt is posted once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_orchestrators_on_one_database_serve_one_job() {
    on(Db::Postgres, async {
        let (chain, first) = setup(|_| {}).await;
        let shared = first.db_url.clone();
        let second = TestOrch::start(&chain, |c| c.database_url = shared).await;
        let id = chain.create_job(2, 100).await;
        let (st, v) = first.register(json!({"job_id": id})).await;
        assert!(st.is_success(), "{v}");
        let urls = [first.url.clone(), second.url.clone()];
        let mut tasks = Vec::new();
        for n in 0..4usize {
            let node = SimNode::new(chain.register_node(MIN_STAKE).await.1);
            let urls = urls.clone();
            tasks.push(tokio::spawn(async move {
                let mut done = 0;
                while let Some(l) = node.lease(&urls[n % 2]).await {
                    let (st, v) = node.submit(&urls[(n + 1) % 2], &l).await;
                    assert_eq!(st, StatusCode::OK, "submit: {v}");
                    done += 1;
                }
                done
            }));
        }
        let mut submitted = 0;
        for t in tasks {
            submitted += t.await.unwrap();
        }
        assert_eq!(submitted, 32, "each tile leased and accepted once");
        let done = second.wait_state(id, "posted", 60).await;
        assert_eq!(done["counts"]["verified"], 32, "{done}");
        let sigs = chain
            .rpc
            .get_signatures_for_address(&pda::job(id))
            .await
            .unwrap();
        let ok = sigs.iter().filter(|s| s.err.is_none()).count();
        assert_eq!(ok, 2, "create_job and one post_receipt: {sigs:?}");
    })
    .await
}
