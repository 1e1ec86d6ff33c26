//! Blind verification off-chain (issue 14): checks and tiebreaks by distinct operators, a
//! quorum of operators before anyone is convicted, a lazy checker caught, and posted
//! receipts reconciled with the chain at `finalized`.
mod common;

use std::time::Duration;

use common::*;
use reqwest::StatusCode;
use serde_json::{json, Value};
use solana_sdk::signature::Signer;
use tessera_sdk::pda;

async fn setup(tweak: impl FnOnce(&mut tessera_orchestrator::Config)) -> (TestChain, TestOrch) {
    let chain = TestChain::start().await;
    let orch = TestOrch::start(&chain, tweak).await;
    (chain, orch)
}

fn tile_of(l: &Value) -> (u64, u64) {
    (l["frame"].as_u64().unwrap(), l["tile"].as_u64().unwrap())
}

/// (faulty node, frame, tile) of every evidence row of the job.
async fn convictions(orch: &TestOrch, id: u64) -> Vec<(String, (u64, u64))> {
    let (_, ev) = orch.get_json(&format!("/v1/jobs/{id}/evidence")).await;
    ev["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["faulty_node"].as_str().unwrap().to_string(), tile_of(e)))
        .collect()
}

/// Waits until the node's on-chain stake is `stake` (the orchestrator files slashes after
/// the receipt lands).
async fn wait_stake(chain: &TestChain, node: &SimNode, stake: u64) {
    for _ in 0..150 {
        if chain.node(&node.key.pubkey()).await.stake == stake {
            return;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("stake of {} never reached {stake}", node.key.pubkey());
}

on_both! {
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_keys_of_one_operator_cannot_convict_an_honest_node() {
    // Both colluding keys' renders must be drawn for a check: the largest share.
    let (chain, orch) = TestOrch::every_tile_checked(|_| {}).await;
    let url = orch.url.clone();
    let honest = SimNode::new(chain.register_node(MIN_STAKE).await.1);
    // One operator, two node keys, submitting the same garbage.
    let (operator, k1) = chain.register_node(MIN_STAKE).await;
    let k2 = chain.register_node_for(&operator, MIN_STAKE).await;
    let (mut x1, mut x2) = (SimNode::new(k1), SimNode::new(k2));
    x1.wrong = true;
    x2.wrong = true;
    let third = SimNode::new(chain.register_node(MIN_STAKE).await.1);
    // Witnesses of a slash must be registered before the job (`corroborate_tile`).
    let keys = [&honest, &x1, &x2, &third].map(|n| n.key.pubkey());
    chain.age_nodes(&keys.iter().collect::<Vec<_>>()).await;
    let id = chain.create_job(1, 100).await;
    orch.register(json!({"job_id": id})).await;

    let l = honest.lease(&url).await.unwrap();
    assert_eq!(honest.submit(&url, &l).await.0, StatusCode::OK);
    orch.wait_verdicts().await;
    // The operator's first key checks the honest tile, with garbage.
    let c = x1.lease(&url).await.unwrap();
    assert_eq!(tile_of(&c), tile_of(&l), "the check of the honest tile");
    let (st, v) = x1.submit(&url, &c).await;
    orch.wait_verdicts().await;
    assert_eq!((st, v["outcome"].as_str()), (StatusCode::OK, Some("accepted")), "{v}");
    // Before: its second key took the tiebreak, agreed with the first and the honest node
    // was convicted. Now the tiebreak is never offered to a key of an operator who
    // already rendered the tile: it gets other work.
    let other = x2.lease(&url).await.unwrap();
    assert_ne!(tile_of(&other), tile_of(&l), "the colluder's second key got the tiebreak");
    assert_eq!(x2.submit(&url, &other).await.0, StatusCode::OK);
    orch.wait_verdicts().await;
    // A third operator breaks the tie, with the honest node.
    let t = third.lease(&url).await.unwrap();
    assert_eq!(tile_of(&t), tile_of(&l), "the tiebreak goes to another operator");
    assert_eq!(third.submit(&url, &t).await.0, StatusCode::OK);
    orch.wait_verdicts().await;
    assert_eq!(
        convictions(&orch, id).await,
        vec![(x1.key.pubkey().to_string(), tile_of(&l))],
        "the colluder's checking key is convicted, not the honest node"
    );

    work_until_idle(&url, &[&honest, &third, &x1, &x2]).await;
    orch.wait_state(id, "posted", 60).await;
    let faulty: std::collections::BTreeSet<String> =
        convictions(&orch, id).await.into_iter().map(|(n, _)| n).collect();
    let colluders: std::collections::BTreeSet<String> =
        [&x1, &x2].iter().map(|n| n.key.pubkey().to_string()).collect();
    assert_eq!(faulty, colluders, "both colluding keys convicted, nobody else");
    let (_, m) = orch.get_json(&format!("/v1/jobs/{id}/manifest")).await;
    let honest_keys = [honest.key.pubkey().to_string(), third.key.pubkey().to_string()];
    for t in m["tiles"].as_array().unwrap() {
        assert!(honest_keys.contains(&t["node"].as_str().unwrap().to_string()), "{t}");
    }
    for n in [&honest, &third] {
        let (_, standing) = orch.get_json(&format!("/v1/nodes/{}", n.key.pubkey())).await;
        assert_eq!(standing["faults"], 0, "{standing}");
    }
    // Slashed on-chain from their own signatures; the honest stakes untouched.
    let slash = MIN_STAKE / 10;
    for x in [&x1, &x2] {
        let n = convictions(&orch, id).await.iter().filter(|(k, _)| *k == x.key.pubkey().to_string()).count();
        wait_stake(&chain, x, MIN_STAKE - n as u64 * slash).await;
    }
    for n in [&honest, &third] {
        assert_eq!(chain.node(&n.key.pubkey()).await.stake, MIN_STAKE);
    }
    assert_eq!(chain.job(id).await.tile_count, 16);
}
}

/// What a lazy checker can read about its lease's tile from everything the orchestrator
/// publishes (the preview, the event stream, the manifest), turned into "its" render: the
/// preview's pixels of the tile, scaled back up.
async fn copy_what_is_public(
    orch: &TestOrch,
    sse: &mut reqwest::Response,
    lease: &Value,
) -> (u32, u32, Vec<u8>) {
    let id = lease["job_id"].as_u64().unwrap();
    let (frame, tile) = tile_of(lease);
    let (st, _) = orch.get_json(&format!("/v1/jobs/{id}/manifest")).await;
    assert_eq!(st, StatusCode::CONFLICT, "no manifest while rendering");
    let (st, _) = orch.get_json(&format!("/v1/jobs/{id}/checks")).await;
    assert_eq!(st, StatusCode::CONFLICT, "nor which tiles were checked");
    // Nothing about the tile on the event stream: only verified tiles are published.
    let more = tokio::time::timeout(Duration::from_millis(500), sse.chunk()).await;
    if let Ok(Ok(Some(chunk))) = more {
        let text = String::from_utf8_lossy(&chunk).to_string();
        let mention = format!("\"frame\":{frame},\"tile\":{tile},");
        assert!(
            !text.contains(&mention),
            "the stream tells about the tile: {text}"
        );
    }
    let (_, png) = orch
        .get_bytes(&format!("/v1/jobs/{id}/frames/{frame}/preview"))
        .await;
    let (pw, _, preview) = tessera_orchestrator::imaging::decode_png(&png).unwrap();
    let scale = tessera_orchestrator::imaging::PREVIEW_SCALE;
    let r = &lease["rect"];
    let [x0, y0, w, h] = ["x", "y", "width", "height"].map(|k| r[k].as_u64().unwrap() as u32);
    let mut px = Vec::with_capacity((w * h * 4) as usize);
    for y in 0..h {
        for x in 0..w {
            let i = (((y0 + y) / scale * pw + (x0 + x) / scale) * 4) as usize;
            px.extend_from_slice(&preview[i..i + 4]);
        }
    }
    (w, h, px)
}

on_both! {
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lazy_checker_copying_what_the_orchestrator_exposes_is_caught() {
    let (chain, orch) = setup(|c| c.verify_share = 1.0).await;
    let url = orch.url.clone();
    let a = SimNode::new(chain.register_node(MIN_STAKE).await.1);
    let b = SimNode::new(chain.register_node(MIN_STAKE).await.1);
    let lazy = SimNode::new(chain.register_node(MIN_STAKE).await.1);
    // Checkers qualify as witnesses of the job only if registered before it.
    chain.advance_clock(2).await;
    let id = chain.create_job(1, 100).await;
    orch.register(json!({"job_id": id})).await;
    let mut sse = orch.events(id).await;

    let l = a.lease(&url).await.unwrap();
    assert_eq!(a.submit(&url, &l).await.0, StatusCode::OK);
    orch.wait_verdicts().await;
    // The lazy node's lease is the check of a's tile (it is not told so).
    let c = lazy.lease(&url).await.unwrap();
    assert_eq!(tile_of(&c), tile_of(&l));
    assert!(c.get("role").is_none());
    let (w, h, copied) = copy_what_is_public(&orch, &mut sse, &c).await;
    assert!(copied.iter().all(|&v| v == 0), "the preview holds nothing of an unchecked tile");
    let honest = pixels(&c, false).2;
    assert_ne!(copied, honest);
    let body = lazy.submit_body(&c, w, h, copied);
    let path = format!("/v1/leases/{}/submit", c["lease_id"]);
    let (st, v) = lazy.request(&url, "POST", &path, body).await;
    orch.wait_verdicts().await;
    assert_eq!((st, v["outcome"].as_str()), (StatusCode::OK, Some("accepted")), "{v}");
    // A third operator breaks the tie: the copy loses.
    let t = b.lease(&url).await.unwrap();
    assert_eq!(tile_of(&t), tile_of(&l));
    assert_eq!(b.submit(&url, &t).await.0, StatusCode::OK);
    orch.wait_verdicts().await;
    assert_eq!(convictions(&orch, id).await, vec![(lazy.key.pubkey().to_string(), tile_of(&l))]);
    assert!(lazy.lease(&url).await.is_none(), "banned from the job");

    work_until_idle(&url, &[&a, &b]).await;
    orch.wait_state(id, "posted", 60).await;
    // Every accepted tile is an honest render; none is the lazy node's.
    let (_, m) = orch.get_json(&format!("/v1/jobs/{id}/manifest")).await;
    let job_key = pda::job(id).to_string();
    let grid = tessera_sdk::tiles::TileGrid::new(64, 64, 16).unwrap();
    for t in m["tiles"].as_array().unwrap() {
        assert_ne!(t["node"], lazy.key.pubkey().to_string());
        let (frame, tile) = tile_of(t);
        let rect = grid.rect(tile as u32).unwrap();
        let seed = tessera_orchestrator::scheduler::seed(&job_key, frame as u32, tile as u32);
        let lease = json!({"rect": rect, "seed": seed, "frame": frame});
        let hash = tessera_orchestrator::receipt::hex(blake3::hash(&pixels(&lease, false).2).as_bytes());
        assert_eq!(t["pixel_hash"], hash.as_str(), "{t}");
    }
}
}

on_both! {
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vote_without_a_quorum_escalates_to_another_operator_before_anyone_is_convicted() {
    let (chain, orch) = setup(|c| c.verify_share = 1.0).await;
    let url = orch.url.clone();
    let a = SimNode::new(chain.register_node(MIN_STAKE).await.1);
    let mut x = SimNode::new(chain.register_node(MIN_STAKE).await.1);
    let mut y = SimNode::new(chain.register_node(MIN_STAKE).await.1);
    let b = SimNode::new(chain.register_node(MIN_STAKE).await.1);
    // Checkers qualify as witnesses of the job only if registered before it.
    chain.advance_clock(2).await;
    let id = chain.create_job(1, 100).await;
    orch.register(json!({"job_id": id})).await;
    (x.scramble, y.scramble) = (0x55, 0xaa);

    let l = a.lease(&url).await.unwrap();
    assert_eq!(a.submit(&url, &l).await.0, StatusCode::OK);
    orch.wait_verdicts().await;
    for wrong in [&x, &y] {
        let lw = wrong.lease(&url).await.unwrap();
        assert_eq!(tile_of(&lw), tile_of(&l));
        assert_eq!(wrong.submit(&url, &lw).await.0, StatusCode::OK);
        orch.wait_verdicts().await;
    }
    // Three renders, no two alike: before, the tile started over ("inconclusive"). Now a
    // fourth operator renders it, and nobody is convicted until two operators agree.
    assert!(convictions(&orch, id).await.is_empty());
    assert_eq!(orch.status(id).await["counts"]["verified"], 0);
    let lb = b.lease(&url).await.unwrap();
    assert_eq!(tile_of(&lb), tile_of(&l), "escalated to a fourth operator");
    assert_eq!(b.submit(&url, &lb).await.0, StatusCode::OK);
    orch.wait_verdicts().await;
    let mut got = convictions(&orch, id).await;
    got.sort();
    let mut want = vec![
        (x.key.pubkey().to_string(), tile_of(&l)),
        (y.key.pubkey().to_string(), tile_of(&l)),
    ];
    want.sort();
    assert_eq!(got, want, "both wrong renders convicted by the two agreeing operators");
    let (_, ev) = orch.get_json(&format!("/v1/jobs/{id}/evidence")).await;
    let detail = &ev["evidence"][0]["detail"];
    assert_eq!(detail["renders"].as_array().unwrap().len(), 4);
    assert_eq!(detail["quorum"], 2);
    let psnr = detail["psnr_db"].as_object().unwrap();
    assert!(psnr["primary_tiebreak2"].is_null(), "equal hashes, no PSNR needed: {detail}");
    assert_eq!(psnr.len(), 6, "every pair of the four renders compared: {detail}");
    assert!(detail["psnr_db"]["primary_check"].as_f64().unwrap() < 35.0);
    let (_, tiles) = orch.get_json(&format!("/v1/jobs/{id}")).await;
    assert_eq!(tiles["counts"]["verified"], 1, "{tiles}");
}
}

on_both! {
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_posted_receipt_missing_on_chain_at_finalized_is_posted_again() {
    // The poster holds every receipt: the chain never gets one.
    let (chain, mut orch) = setup(|c| {
        c.hold_receipts = true;
        c.reconcile_ms = 200;
    })
    .await;
    let id = chain.create_job(1, 100).await;
    orch.register(json!({"job_id": id})).await;
    let a = SimNode::new(chain.register_node(MIN_STAKE).await.1);
    let b = SimNode::new(chain.register_node(MIN_STAKE).await.1);
    work_until_idle(&orch.url, &[&a, &b]).await;
    orch.wait_state(id, "ready", 30).await;
    // The store says posted; the chain has no receipt (a dropped fork, a restored backup).
    orch.exec_sql(&format!("UPDATE jobs SET state='posted' WHERE job_id={id}")).await;
    let s = orch.wait_state(id, "posting", 30).await;
    assert!(s.to_string().contains("vanished"), "{s}");
    assert_eq!(chain.job(id).await.state, tessera_sdk::JobState::Open);
    // The poster (no longer holding) builds, persists and sends it again; it lands.
    orch.restart(&chain, |c| c.reconcile_ms = 200).await;
    orch.wait_state(id, "posted", 60).await;
    let job = chain.job(id).await;
    assert_eq!((job.state, job.tile_count), (tessera_sdk::JobState::Rendered, 16));
    // Reconciliation then records what the chain holds at finalized.
    let store = orch.store();
    for _ in 0..100 {
        if store.chain_state(id).await.unwrap().as_deref() == Some("rendered") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(store.chain_state(id).await.unwrap().as_deref(), Some("rendered"));
    chain.approve(id).await;
    for _ in 0..100 {
        if store.chain_state(id).await.unwrap().as_deref() == Some("settled") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(store.chain_state(id).await.unwrap().as_deref(), Some("settled"));
}
}

on_both! {
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_refunded_on_chain_while_rendering_stops_and_is_recorded_refunded() {
    // The poster holds, so only reconciliation can notice the job is gone.
    let (chain, orch) = setup(|c| {
        c.hold_receipts = true;
        c.reconcile_ms = 200;
    })
    .await;
    let id = chain.create_job(1, 100).await;
    orch.register(json!({"job_id": id})).await;
    let a = SimNode::new(chain.register_node(MIN_STAKE).await.1);
    // The artist cancels, the settle grace passes without a receipt, the escrow is refunded
    // and the job account closed.
    let artist = chain.payer.pubkey();
    chain.send(&[tessera_sdk::ix::cancel_job(&artist, id)], &[]).await.unwrap();
    let dev = tessera_sdk::client::ChainClient::new(
        chain.net.url().to_string(),
        solana_commitment_config::CommitmentConfig::confirmed(),
    );
    dev.dev_advance_clock(700).await.unwrap();
    let token = chain.artist_token;
    chain.send(&[tessera_sdk::ix::expire_job(&artist, id, &token)], &[]).await.unwrap();
    let s = orch.wait_state(id, "failed", 30).await;
    assert!(s.to_string().contains("closed on-chain"), "{s}");
    assert!(a.lease(&orch.url).await.is_none(), "no more leases");
    let store = orch.store();
    for _ in 0..50 {
        if store.chain_state(id).await.unwrap().is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(store.chain_state(id).await.unwrap().as_deref(), Some("refunded"));
}
}

/// Renders of the job's check and tiebreak roles (every verification render asked for).
async fn verification_renders(orch: &TestOrch, id: u64) -> i64 {
    orch.count_where(&format!(
        "results WHERE job_id={id} AND role IN ('check', 'tiebreak')"
    ))
    .await
}

on_both! {
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_whose_verification_share_is_spent_gets_no_more_checks_and_pays_every_render() {
    // Every render would be drawn (share 100%), but the job pays ⌈16 × 20%⌉ = 4 verification
    // renders: a check is drawn only while the agreed ones so far plus 3 for every open
    // check and 3 for the new one fit in 4.
    let (chain, orch) = setup(|c| c.verify_share = 1.0).await;
    let url = orch.url.clone();
    let a = SimNode::new(chain.register_node(MIN_STAKE).await.1);
    let b = SimNode::new(chain.register_node(MIN_STAKE).await.1);
    // Checkers qualify as witnesses of the job only if registered before it.
    chain.advance_clock(2).await;
    let id = chain.create_job(1, 100).await;
    orch.register(json!({"job_id": id})).await;
    let first = a.lease(&url).await.unwrap();
    assert_eq!(a.submit(&url, &first).await.0, StatusCode::OK);
    orch.wait_verdicts().await;
    // 0 agreed + 3 reserved for the first tile's check + 3 for this one > 4: not drawn.
    let second = a.lease(&url).await.unwrap();
    assert_eq!(a.submit(&url, &second).await.0, StatusCode::OK);
    orch.wait_verdicts().await;
    let s = orch.status(id).await;
    assert_eq!((s["counts"]["rendered"].clone(), s["counts"]["verified"].clone()), (json!(1), json!(1)), "{s}");
    let c = b.lease(&url).await.unwrap();
    assert_eq!(tile_of(&c), tile_of(&first), "the one drawn check");
    assert_eq!(b.submit(&url, &c).await.0, StatusCode::OK);
    orch.wait_verdicts().await;
    // 1 agreed + 3: one more check fits; after it (2 agreed) none does.
    work_until_idle(&url, &[&a, &b]).await;
    orch.wait_state(id, "posted", 30).await;
    assert_eq!(verification_renders(&orch, id).await, 2, "no check drawn past the share");
    // Every verification render that happened is in the receipt, none left out unpaid.
    let job = chain.job(id).await;
    assert_eq!((job.tile_count, job.render_count, job.total_payout), (16, 18, 1_800));
    let (_, m) = orch.get_json(&format!("/v1/jobs/{id}/manifest")).await;
    assert_eq!(m["verifications"].as_array().unwrap().len(), 2, "{m}");
}
}

on_both! {
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tile_without_a_quorum_in_two_rounds_is_left_unsettled_and_the_job_ends_partial() {
    let (chain, orch) = TestOrch::every_tile_checked(|_| {}).await;
    let url = orch.url.clone();
    let a = SimNode::new(chain.register_node(MIN_STAKE).await.1);
    let mut x = SimNode::new(chain.register_node(MIN_STAKE).await.1);
    let mut y = SimNode::new(chain.register_node(MIN_STAKE).await.1);
    let mut z = SimNode::new(chain.register_node(MIN_STAKE).await.1);
    (x.scramble, y.scramble, z.scramble) = (0x55, 0xaa, 0xff);
    let b = SimNode::new(chain.register_node(MIN_STAKE).await.1);
    // Checkers qualify as witnesses of the job only if registered before it.
    chain.advance_clock(2).await;
    let id = chain.create_job(1, 100).await;
    orch.register(json!({"job_id": id})).await;
    // Two rounds of four renders by four operators, no two alike.
    let mut tile = None;
    for round in [[&a, &x, &y, &z], [&x, &y, &z, &a]] {
        for n in round {
            let l = n.lease(&url).await.unwrap();
            assert_eq!(*tile.get_or_insert(tile_of(&l)), tile_of(&l), "the disputed tile");
            assert_eq!(n.submit(&url, &l).await.0, StatusCode::OK);
            orch.wait_verdicts().await;
        }
    }
    let tile = tile.unwrap();
    // Nobody convicted; both rounds are on record as inconclusive.
    let (_, ev) = orch.get_json(&format!("/v1/jobs/{id}/evidence")).await;
    let ev = ev["evidence"].as_array().unwrap();
    assert_eq!(ev.len(), 2, "{ev:?}");
    for (e, round) in ev.iter().zip([1, 2]) {
        assert_eq!(e["faulty_node"], "", "{e}");
        assert_eq!((e["detail"]["round"].clone(), e["detail"]["max_rounds"].clone()), (json!(round), json!(2)));
    }
    let s = orch.status(id).await;
    assert_eq!(s["counts"]["unsettled"], 1, "{s}");
    for n in [&a, &b, &x] {
        let (_, standing) = orch.get_json(&format!("/v1/nodes/{}", n.key.pubkey())).await;
        assert_eq!(standing["faults"], 0, "{standing}");
    }
    // The tile is never leased again; the others are rendered and verified.
    let mut leased = Vec::new();
    loop {
        let mut any = false;
        for n in [&a, &b] {
            if let Some(l) = n.lease(&url).await {
                leased.push(tile_of(&l));
                assert_eq!(n.submit(&url, &l).await.0, StatusCode::OK);
                orch.wait_verdicts().await;
                any = true;
            }
        }
        if !any {
            break;
        }
    }
    assert!(leased.len() >= 15 && !leased.contains(&tile), "{leased:?}");
    let s = orch.status(id).await;
    assert_eq!((s["state"].clone(), s["counts"]["verified"].clone(), s["counts"]["unsettled"].clone()), (json!("rendering"), json!(15), json!(1)), "{s}");
    // The artist ends it: the receipt pays the 15 verified tiles and their checks.
    let artist = chain.payer.pubkey();
    chain.send(&[tessera_sdk::ix::cancel_job(&artist, id)], &[]).await.unwrap();
    orch.wait_state(id, "posted", 30).await;
    let job = chain.job(id).await;
    let paid = orch
        .count_where(&format!(
            "results r JOIN tiles t ON t.job_id=r.job_id AND t.frame=r.frame AND t.tile=r.tile \
             WHERE r.job_id={id} AND r.verdict='agreed' AND r.role IN ('check','tiebreak') \
             AND r.node != t.node"
        ))
        .await as u32;
    assert_eq!((job.tile_count, job.render_count), (15, 15 + paid));
    let (_, m) = orch.get_json(&format!("/v1/jobs/{id}/manifest")).await;
    let left_out = m["tiles"].as_array().unwrap().iter().find(|t| tile_of(t) == tile).unwrap();
    assert_eq!((left_out["node"].as_str(), left_out["proof"].is_null()), (Some(""), true), "{left_out}");
}
}

on_both! {
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_see_totals_and_verified_counts_the_artist_and_operator_every_state() {
    let (chain, orch) = setup(|c| c.verify_share = 1.0).await;
    let url = orch.url.clone();
    let id = chain.create_job(1, 100).await;
    orch.register(json!({"job_id": id})).await;
    let a = SimNode::new(chain.register_node(MIN_STAKE).await.1);
    let b = SimNode::new(chain.register_node(MIN_STAKE).await.1);
    // One tile awaits its check, one is leased: what a node could time its lease against.
    let l = a.lease(&url).await.unwrap();
    assert_eq!(a.submit(&url, &l).await.0, StatusCode::OK);
    orch.wait_verdicts().await;
    let held = a.lease(&url).await.unwrap();
    let public = orch.public_status(id).await;
    assert_eq!(public["counts"], json!({"total": 16, "verified": 0}), "{public}");
    // A node asking signed is refused the breakdown, not served it.
    let path = format!("/v1/jobs/{id}");
    let (st, v) = signed_get(&orch.http, &url, &b.key, &path).await;
    assert_eq!((st, v["title"].as_str()), (StatusCode::FORBIDDEN, Some("breakdown-refused")), "{v}");
    // The artist and the orchestrator's operator see every state.
    let full = orch.status(id).await;
    let want = json!({"total": 16, "queued": 14, "leased": 1, "rendered": 1, "verified": 0, "unsettled": 0, "failed": 0});
    assert_eq!(full["counts"], want, "{full}");
    let (st, op) = signed_get(&orch.http, &url, &chain.orchestrator, &path).await;
    assert_eq!((st, op["counts"].clone()), (StatusCode::OK, want));
    assert_eq!(a.submit(&url, &held).await.0, StatusCode::OK);
    orch.wait_verdicts().await;
}
}

/// Works the job with `nodes` until it leaves `rendering` (second renders by nodes that are
/// no witnesses of it come only after `witness_wait_ms`, so idle rounds are waited out).
async fn work_until_done(orch: &TestOrch, id: u64, nodes: &[&SimNode], secs: u64) {
    let until = std::time::Instant::now() + Duration::from_secs(secs);
    loop {
        work_until_idle(&orch.url, nodes).await;
        orch.wait_verdicts().await;
        let s = orch.status(id).await;
        if s["state"] != "rendering" {
            return;
        }
        assert!(
            std::time::Instant::now() < until,
            "job {id} still rendering: {s}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

on_both! {
/// On a network where no node qualifies as a witness of the job (both registered after it,
/// as on a brand-new network whose job came in the same second), the job's checks are
/// rendered once they have waited `witness_wait_ms`, agreeing checks verify their tiles,
/// and the job completes and is posted instead of waiting for a witness forever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_no_node_is_a_witness_of_completes_with_checks_after_the_wait() {
    let (chain, orch) = TestOrch::every_tile_checked(|c| c.witness_wait_ms = 300).await;
    let id = chain.create_job(1, 100).await;
    orch.register(json!({"job_id": id})).await;
    let a = SimNode::new(chain.register_node(MIN_STAKE).await.1);
    let b = SimNode::new(chain.register_node(MIN_STAKE).await.1);
    let created_at = chain.job(id).await.created_at;
    for n in [&a, &b] {
        assert!(chain.node(&n.key.pubkey()).await.registered_at >= created_at);
    }
    work_until_done(&orch, id, &[&a, &b], 60).await;
    let s = orch.wait_state(id, "posted", 30).await;
    assert_eq!(s["counts"]["verified"], 16, "{s}");
    let results = |cond: &str| format!("results WHERE job_id={id} AND {cond}");
    let checks = orch
        .count_where(&results("role='check' AND verdict='agreed' AND witness=0"))
        .await;
    assert!(checks > 0, "checks by nodes that are no witnesses verified tiles");
    assert_eq!(orch.count_where(&results("witness=1")).await, 0);
    assert_eq!(orch.count_where(&results("verdict IN ('faulty','outvoted')")).await, 0);
    let (_, m) = orch.get_json(&format!("/v1/jobs/{id}/manifest")).await;
    assert_eq!(m["verifications"].as_array().unwrap().len() as i64, checks, "checks are paid");
}
}

on_both! {
/// Two nodes of distinct operators registered after the job (Sybils made on seeing it)
/// that submit the same wrong pixels against an honest witness's primaries outvote it:
/// the tiles take their render (the residual the README states) and the honest renders
/// are unpaid, but nobody is convicted: no ban, no fault evidence (a row saying the
/// conviction was withheld instead), no slash, the honest node's other tiles kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_registered_after_the_job_agreeing_on_wrong_pixels_convict_nobody() {
    let (chain, orch) = TestOrch::every_tile_checked(|c| c.witness_wait_ms = 200).await;
    let url = orch.url.clone();
    let honest = SimNode::new(chain.register_node(MIN_STAKE).await.1);
    chain.age_nodes(&[&honest.key.pubkey()]).await;
    let id = chain.create_job(1, 100).await;
    orch.register(json!({"job_id": id})).await;
    let (mut s1, mut s2) = (
        SimNode::new(chain.register_node(MIN_STAKE).await.1),
        SimNode::new(chain.register_node(MIN_STAKE).await.1),
    );
    (s1.wrong, s2.wrong) = (true, true);
    // The honest node renders every primary: the sampled ones wait for checks, which only
    // the Sybils can give (after the wait), the others are accepted.
    for _ in 0..16 {
        let l = honest.lease(&url).await.unwrap();
        assert_eq!(honest.submit(&url, &l).await.0, StatusCode::OK);
    }
    let key = honest.key.pubkey().to_string();
    let kept = format!("tiles WHERE job_id={id} AND node='{key}' AND state='verified'");
    let accepted = orch.count_where(&kept).await;
    assert!(accepted < 16, "some tiles wait for checks");
    work_until_done(&orch, id, &[&s1, &s2], 60).await;
    orch.wait_state(id, "posted", 30).await;

    let results = |cond: &str| format!("results WHERE job_id={id} AND {cond}");
    let outvoted = orch
        .count_where(&results(&format!("node='{key}' AND verdict='outvoted'")))
        .await;
    assert_eq!(outvoted, 16 - accepted, "every checked honest tile was outvoted");
    assert_eq!(orch.count_where(&results("verdict='faulty'")).await, 0);
    assert_eq!(orch.count_where(&kept).await, accepted, "its other tiles kept, none re-queued");
    assert_eq!(orch.count_where(&format!("job_bans WHERE job_id={id}")).await, 0);
    let faults = format!("nodes WHERE node_key='{key}' AND faults=0 AND reputation>=0.5");
    assert_eq!(orch.count_where(&faults).await, 1, "no fault, no reputation lost");
    // Evidence: one row per outvoted tile, naming no faulty node, saying why.
    let (_, ev) = orch.get_json(&format!("/v1/jobs/{id}/evidence")).await;
    let ev = ev["evidence"].as_array().unwrap();
    assert_eq!(ev.len() as i64, outvoted, "{ev:?}");
    for e in ev {
        assert_eq!(e["faulty_node"], "", "{e}");
        assert_eq!(e["detail"]["outvoted"], json!([key]), "{e}");
        assert_eq!(e["detail"]["witness_operators"], 0, "{e}");
        assert!(e["detail"]["withheld"].as_str().unwrap().contains("no conviction"));
    }
    // Unpaid for the outvoted tiles, paid for the others; never slashed (the poster files
    // slashes right after the receipt lands: give it that time).
    let (_, m) = orch.get_json(&format!("/v1/jobs/{id}/manifest")).await;
    let paid = m["tiles"].as_array().unwrap().iter().filter(|t| t["node"] == key.as_str());
    assert_eq!(paid.count() as i64, accepted);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let node = chain.node(&honest.key.pubkey()).await;
    assert_eq!((node.stake, node.faults), (MIN_STAKE, 0));
    assert_eq!(chain.job(id).await.slashed_count, 0);
}
}
