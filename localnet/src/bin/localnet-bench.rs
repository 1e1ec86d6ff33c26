//! Transactions per second through the local chain, over HTTP with `RpcClient`.
//!
//! `cargo run --release -p tessera-localnet --bin localnet-bench -- [N]`
//! Sends N system transfers (each its own signature), first one at a time waiting for each
//! confirmation, then all N pipelined from 8 concurrent senders; prints a table.
use std::sync::Arc;
use std::time::Instant;

use solana_client::nonblocking::rpc_client::RpcClient;
use solana_commitment_config::CommitmentConfig;
use solana_keypair::Keypair;
use solana_signer::Signer;
use solana_transaction::Transaction;
use tessera_localnet::{Config, Localnet};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(500);
    let net = Localnet::start(Config::ephemeral()?).await?;
    let rpc = Arc::new(RpcClient::new_with_commitment(
        net.url().to_string(),
        CommitmentConfig::confirmed(),
    ));
    let payer = Arc::new(Keypair::new());
    let sig = rpc
        .request_airdrop(&payer.pubkey(), 1_000_000_000_000)
        .await?;
    rpc.confirm_transaction(&sig).await?;
    let dest = Keypair::new().pubkey();
    let make = |i: usize, hash| {
        let ix = solana_system_interface::instruction::transfer(
            &payer.pubkey(),
            &dest,
            1_000_000 + i as u64,
        );
        Transaction::new_signed_with_payer(&[ix], Some(&payer.pubkey()), &[&*payer], hash)
    };

    // Sequential: send + confirm, one at a time.
    let hash = rpc.get_latest_blockhash().await?;
    let seq_n = n.min(200);
    let t = Instant::now();
    for i in 0..seq_n {
        rpc.send_and_confirm_transaction(&make(i, hash)).await?;
    }
    let seq = t.elapsed();

    // Pipelined: 8 senders, confirmation checked after all are sent.
    let hash = rpc.get_latest_blockhash().await?;
    let txs: Vec<Transaction> = (0..n).map(|i| make(1_000_000 + i, hash)).collect();
    let t = Instant::now();
    let mut tasks = Vec::new();
    for chunk in txs.chunks(n.div_ceil(8)) {
        let rpc = rpc.clone();
        let chunk = chunk.to_vec();
        tasks.push(tokio::spawn(async move {
            for tx in chunk {
                rpc.send_transaction(&tx).await?;
            }
            Ok::<_, anyhow::Error>(())
        }));
    }
    for task in tasks {
        task.await??;
    }
    let par = t.elapsed();
    let sigs: Vec<_> = txs.iter().map(|t| t.signatures[0]).collect();
    let mut landed = 0;
    for chunk in sigs.chunks(256) {
        landed += rpc
            .get_signature_statuses(chunk)
            .await?
            .value
            .iter()
            .filter(|s| s.as_ref().is_some_and(|s| s.err.is_none()))
            .count();
    }

    println!("| mode                        | txs  | seconds | tx/s   |");
    println!("|-----------------------------|------|---------|--------|");
    println!(
        "| send+confirm, sequential    | {seq_n:>4} | {:>7.2} | {:>6.1} |",
        seq.as_secs_f64(),
        seq_n as f64 / seq.as_secs_f64()
    );
    println!(
        "| send, 8 concurrent senders  | {n:>4} | {:>7.2} | {:>6.1} |",
        par.as_secs_f64(),
        n as f64 / par.as_secs_f64()
    );
    println!("landed without error: {landed}/{n}");
    net.shutdown().await;
    Ok(())
}
