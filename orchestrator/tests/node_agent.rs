//! The real `node-agent run` (Vulkan; lavapipe works) rendering a small job end to end.
//! Ignored by default (needs a Vulkan device and `cargo build -p tessera-node-agent`):
//! `cargo test -p tessera-orchestrator --test node_agent -- --ignored`.
mod common;

use std::time::Duration;

use common::*;
use serde_json::json;
use solana_sdk::signature::Signer;
use tessera_sdk::JobState;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a Vulkan device and a built node-agent"]
async fn a_node_detects_a_manifest_that_drops_a_tile_it_was_acknowledged_for() {
    let bin = agent_bin();
    let chain = TestChain::start().await;
    // The receipt is held until the test has made the orchestrator lie.
    let mut orch = TestOrch::start(&chain, |c| c.hold_receipts = true).await;
    let id = chain.create_job(1, 100).await;
    orch.register(json!({"job_id": id})).await;
    let (_, key) = chain.register_node(MIN_STAKE).await;
    let kp = orch.dir.path().join("node.json");
    std::fs::write(
        &kp,
        serde_json::to_string(&key.to_bytes().to_vec()).unwrap(),
    )
    .unwrap();
    let data = orch.dir.path().join("node-data");
    let mut agent = std::process::Command::new(&bin)
        .args([
            "run",
            "--orchestrator",
            &orch.url,
            "--idle-secs",
            "1",
            "--no-claim",
        ])
        .args(["--url", chain.net.url()])
        .arg("--keypair")
        .arg(&kp)
        .arg("--data-dir")
        .arg(&data)
        .spawn()
        .expect("node-agent binary");
    orch.wait_state(id, "ready", 240).await;
    interrupt(&mut agent).await;
    let journal =
        std::fs::read_to_string(data.join(format!("acks-{}.jsonl", key.pubkey()))).unwrap();
    assert_eq!(
        journal.lines().count(),
        16,
        "every render acknowledged and journaled"
    );
    let verify = |url: String| {
        let (bin, data, rpc) = (bin.clone(), data.clone(), chain.net.url().to_string());
        std::process::Command::new(bin)
            .args([
                "acks",
                "verify",
                "--json",
                "--url",
                &rpc,
                "--orchestrator",
                &url,
            ])
            .arg("--data-dir")
            .arg(data)
            .output()
            .unwrap()
    };
    let before = verify(orch.url.clone());
    assert!(
        before.status.success(),
        "no receipt yet: nothing to hold against it"
    );
    let report: serde_json::Value = serde_json::from_slice(&before.stdout).unwrap();
    assert_eq!(report["jobs"][0]["chain"], "no-receipt", "{report}");

    // The orchestrator lies: its receipt credits tile 5 to another key, with another hash.
    let other = solana_sdk::pubkey::Pubkey::new_unique();
    orch.exec_sql(&format!(
        "UPDATE tiles SET node='{other}', pixel_hash='{}' WHERE job_id={id} AND frame=1 AND tile=5",
        "ab".repeat(32)
    ))
    .await;
    orch.restart(&chain, |_| {}).await;
    orch.wait_state(id, "posted", 60).await;
    let after = verify(orch.url.clone());
    assert!(!after.status.success(), "a dropped tile fails the check");
    let report: serde_json::Value = serde_json::from_slice(&after.stdout).unwrap();
    assert_eq!(report["dropped"], 1, "{report}");
    let job = &report["jobs"][0];
    assert_eq!(job["counts"]["credited"], 15, "{report}");
    let dropped: Vec<_> = job["tiles"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["status"] == "dropped")
        .collect();
    assert_eq!(
        (dropped[0]["frame"].clone(), dropped[0]["tile"].clone()),
        (json!(1), json!(5))
    );
    assert!(
        dropped[0]["why"]
            .as_str()
            .unwrap()
            .contains(&other.to_string()),
        "{report}"
    );
    // The evidence a proof on-chain takes, checked, and the command that files it.
    let m = &dropped[0]["misattributed"];
    assert_eq!(m["credited_node"], other.to_string(), "{report}");
    assert_eq!(
        (m["ack_verifies"].clone(), m["proof_verifies"].clone()),
        (json!(true), json!(true)),
        "{m}"
    );
    assert_eq!(m["orchestrator"], chain.orchestrator.pubkey().to_string());
    let file_with = m["file_with"].as_str().unwrap();
    assert!(
        file_with.starts_with("node-agent acks contest ")
            && file_with.ends_with(&format!("--job {id} --frame 1 --tile 5")),
        "{m}"
    );
    let stderr = String::from_utf8_lossy(&after.stderr);
    assert!(stderr.contains("frame 1 tile 5: DROPPED"), "{stderr}");
    assert!(
        stderr.contains(file_with) && stderr.contains(m["ack"].as_str().unwrap()),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a Vulkan device and a built node-agent"]
async fn node_agent_renders_a_job_and_stops_on_ctrl_c() {
    let bin = agent_bin();
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
        .arg("--data-dir")
        .arg(orch.dir.path().join("node-data"))
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
