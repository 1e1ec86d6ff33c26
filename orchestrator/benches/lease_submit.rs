//! Lease + submit throughput and latency with many simulated nodes on loopback, against
//! the development chain and real SQLite. Run: `cargo bench -p tessera-orchestrator`.
//! Env: BENCH_NODES (default 32), BENCH_EDGE (frame edge in px, default 1024 → 4096 tiles),
//! BENCH_DB (`sqlite`, the default, or `postgres`: a throwaway cluster, as in the tests).
#[path = "../tests/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use common::*;
use serde_json::json;

fn pct(v: &mut [Duration], p: f64) -> f64 {
    v.sort();
    if v.is_empty() {
        return 0.0;
    }
    let i = ((v.len() as f64 - 1.0) * p).round() as usize;
    v[i].as_secs_f64() * 1e3
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let db = match std::env::var("BENCH_DB").as_deref() {
        Ok("postgres") => Db::Postgres,
        _ => Db::Sqlite,
    };
    eprintln!("store: {db:?}");
    on(db, bench()).await;
}

async fn bench() {
    let nodes: usize = std::env::var("BENCH_NODES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(32);
    let edge: u32 = std::env::var("BENCH_EDGE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1024);
    let chain = TestChain::start().await;
    let orch = TestOrch::start(&chain, |c| {
        c.verify_share = 0.05;
        c.new_node_share = 0.05;
        // Every simulated node shares one address and runs flat out.
        c.rate_per_key = 0;
        c.rate_per_addr = 0;
    })
    .await;
    let mut sims = Vec::new();
    for _ in 0..nodes {
        sims.push(std::sync::Arc::new(SimNode::new(
            chain.register_node(MIN_STAKE).await.1,
        )));
    }
    // Checkers qualify as witnesses of the job only if registered before it.
    chain.advance_clock(2).await;
    let tiles = (edge / 16) * (edge / 16);
    let id = chain
        .create_job_with(tessera_sdk::JobParams {
            scene_hash: scene_hash(),
            frame_start: 0,
            frame_end: 0,
            width: edge,
            height: edge,
            tile_size: 16,
            samples_per_pixel: 4,
            price_per_tile: 1,
            budget: tiles as u64 * 2,
            deadline: now_ms() / 1000 + 86_400,
            frame_rate_num: 24,
            frame_rate_den: 1,
        })
        .await;
    let (st, v) = orch.register(json!({"job_id": id})).await;
    assert!(st.is_success(), "{v}");
    eprintln!("{nodes} nodes, {tiles} tiles: running");
    let started = Instant::now();
    let mut handles = Vec::new();
    for n in sims {
        let url = orch.url.clone();
        handles.push(tokio::spawn(async move {
            let (mut lease_lat, mut submit_lat) = (Vec::new(), Vec::new());
            loop {
                let t0 = Instant::now();
                let Some(l) = n.lease(&url).await else { break };
                lease_lat.push(t0.elapsed());
                let t1 = Instant::now();
                let (st, v) = n.submit(&url, &l).await;
                assert!(st.is_success(), "{v}");
                submit_lat.push(t1.elapsed());
            }
            (lease_lat, submit_lat)
        }));
    }
    let (mut lease_lat, mut submit_lat) = (Vec::new(), Vec::new());
    for h in handles {
        let (l, s) = h.await.unwrap();
        lease_lat.extend(l);
        submit_lat.extend(s);
    }
    let wall = started.elapsed().as_secs_f64();
    let status = orch.status(id).await;
    let subs = submit_lat.len();
    println!("nodes={nodes} tiles={tiles} submissions={subs} (incl. verification re-renders) wall={wall:.2}s");
    println!(
        "throughput: {:.0} lease+submit/s, {:.0} tiles verified/s",
        subs as f64 / wall,
        status["counts"]["verified"].as_f64().unwrap_or(0.0) / wall
    );
    println!(
        "lease  latency ms: p50={:.2} p99={:.2}",
        pct(&mut lease_lat, 0.5),
        pct(&mut lease_lat, 0.99)
    );
    println!(
        "submit latency ms: p50={:.2} p99={:.2}",
        pct(&mut submit_lat, 0.5),
        pct(&mut submit_lat, 0.99)
    );
    let done = orch.wait_state(id, "posted", 120).await;
    println!("receipt posted: {}", done["receipt_signature"]);
}
