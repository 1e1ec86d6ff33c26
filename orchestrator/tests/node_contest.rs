//! The real `node-agent run` contesting a receipt that pays it short: the orchestrator (with
//! its test hook `short_pay_renders`) posts a payout leaf of 14 renders for the 16 tiles the
//! tile tree credits to the node; the agent checks its leaf against the manifest, proves its
//! 16 tile leaves on-chain and is paid the 200 difference, then claims its leaf as usual.
//! Ignored by default like `node_agent.rs` (needs a Vulkan device and a built node-agent).
mod common;

use std::time::Duration;

use common::*;
use serde_json::json;
use solana_sdk::signature::Signer;
use tessera_sdk::{pda, token, Contest};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a Vulkan device and a built node-agent"]
async fn node_agent_contests_a_short_payout_leaf_and_is_made_whole() {
    let bin = agent_bin();
    let chain = TestChain::start().await;
    let orch = TestOrch::start(&chain, |c| c.short_pay_renders = 2).await;
    // 16 tiles at 100; the budget (3 200) covers them and the verification share.
    let id = chain.create_job(1, 100).await;
    orch.register(json!({"job_id": id})).await;
    let (operator, key) = chain.register_node(MIN_STAKE).await;
    // The node key pays its contest's transactions and record.
    let fund = solana_system_interface::instruction::transfer(
        &chain.payer.pubkey(),
        &key.pubkey(),
        100_000_000,
    );
    chain.send(&[fund], &[]).await.expect("fund node key");
    let kp = orch.dir.path().join("node.json");
    std::fs::write(
        &kp,
        serde_json::to_string(&key.to_bytes().to_vec()).unwrap(),
    )
    .unwrap();
    let mut agent = std::process::Command::new(bin)
        .args(["run", "--orchestrator", &orch.url, "--idle-secs", "1"])
        .arg("--url")
        .arg(chain.net.url())
        .arg("--keypair")
        .arg(&kp)
        .arg("--data-dir")
        .arg(orch.dir.path().join("node-data"))
        .spawn()
        .expect("node-agent binary");
    orch.wait_state(id, "posted", 240).await;
    let job = chain.job(id).await;
    assert_eq!(
        (job.tile_count, job.total_payout),
        (16, 1_400),
        "the short receipt"
    );

    // The agent finds its leaf short and contests before the window closes.
    let address = pda::contest(&pda::job(id), &key.pubkey());
    let mut contest = None;
    for _ in 0..300 {
        if let Ok(acc) = chain.rpc.get_account(&address).await {
            let c: Contest = tessera_sdk::accounts::decode(&acc.data).unwrap();
            if c.upheld {
                contest = Some(c);
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let c = contest.expect("the agent contested the short leaf");
    assert_eq!(
        (c.proven, c.leaf_amount, c.owed, c.paid),
        (16, 1_400, 1_600, 200)
    );
    let ata = token::associated_account(&operator.pubkey(), &chain.mint.pubkey());
    assert_eq!(balance(&chain, &ata).await, "200");

    // Settled: the agent claims its leaf as usual, 1 400 + 200 = what the tiles are worth.
    chain.approve(id).await;
    let mut paid = String::new();
    for _ in 0..300 {
        paid = balance(&chain, &ata).await;
        if paid == "1600" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(paid, "1600");
    std::process::Command::new("kill")
        .args(["-INT", &agent.id().to_string()])
        .status()
        .unwrap();
    let _ = agent.wait();
}

/// A token account's balance in base units ("" while it does not exist).
async fn balance(chain: &TestChain, account: &solana_sdk::pubkey::Pubkey) -> String {
    chain
        .rpc
        .get_token_account_balance(account)
        .await
        .map(|b| b.amount)
        .unwrap_or_default()
}
