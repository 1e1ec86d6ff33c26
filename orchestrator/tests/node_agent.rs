//! The real `node-agent run` (Vulkan; lavapipe works) rendering a small job end to end.
//! Ignored by default (needs a Vulkan device and `cargo build -p tessera-node-agent`):
//! `cargo test -p tessera-orchestrator --test node_agent -- --ignored`.
mod common;

use std::time::Duration;

use common::*;
use serde_json::json;
use tessera_sdk::JobState;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a Vulkan device and a built node-agent"]
async fn node_agent_renders_a_job_and_stops_on_ctrl_c() {
    let bin = std::env::var("NODE_AGENT_BIN").unwrap_or_else(|_| {
        concat!(env!("CARGO_MANIFEST_DIR"), "/../target/debug/node-agent").into()
    });
    let chain = TestChain::start().await;
    let orch = TestOrch::start(&chain, |_| {}).await;
    let id = chain.create_job(1, 100).await;
    orch.register(json!({"job_id": id})).await;
    let (_, key) = chain.register_node(MIN_STAKE).await;
    let kp = orch.dir.path().join("node.json");
    std::fs::write(
        &kp,
        serde_json::to_string(&key.to_bytes().to_vec()).unwrap(),
    )
    .unwrap();
    let mut agent = std::process::Command::new(bin)
        .args(["run", "--orchestrator", &orch.url, "--idle-secs", "1"])
        .arg("--keypair")
        .arg(&kp)
        .spawn()
        .expect("node-agent binary");
    let s = orch.wait_state(id, "posted", 240).await;
    assert_eq!(s["counts"]["verified"], 16);
    assert_eq!(chain.job(id).await.state, JobState::Rendered);
    chain.approve(id).await;
    let (st, png) = orch
        .get_bytes(&format!("/v1/jobs/{id}/frames/1/image"))
        .await;
    assert!(st.is_success());
    std::fs::write(orch.dir.path().join("frame.png"), &png).unwrap();
    // Ctrl-C: the agent exits cleanly.
    std::process::Command::new("kill")
        .args(["-INT", &agent.id().to_string()])
        .status()
        .unwrap();
    let mut waited = 0;
    loop {
        if let Some(status) = agent.try_wait().unwrap() {
            assert!(status.success(), "{status}");
            break;
        }
        assert!(waited < 100, "agent did not stop on SIGINT");
        waited += 1;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
