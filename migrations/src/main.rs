//! `tessera-migrate`: bootstraps a Tessera network on any cluster (the local development
//! chain, solana-test-validator, devnet). Prints the addresses as JSON.
use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use solana_commitment_config::CommitmentConfig;
use solana_sdk::pubkey::Pubkey;
use tessera_migrations::{bootstrap, Options};
use tessera_sdk::{client::ChainClient, keys, NetworkParams};

#[derive(Parser)]
#[command(
    version,
    about = "Create the network's token mint and initialise the Tessera network (idempotent)"
)]
struct Args {
    /// JSON-RPC URL of the cluster.
    #[arg(long, env = "TESSERA_RPC_URL", default_value = "http://127.0.0.1:8899")]
    rpc_url: String,
    /// Payer keypair (Solana CLI format): becomes the network admin.
    #[arg(long, env = "TESSERA_KEYPAIR")]
    keypair: PathBuf,
    /// Program id to check against the one this build was compiled for.
    #[arg(long)]
    program_id: Option<Pubkey>,
    /// Use an existing mint instead of creating one.
    #[arg(long)]
    mint: Option<Pubkey>,
    /// The orchestrator authority (signs receipts). Defaults to the payer.
    #[arg(long)]
    orchestrator: Option<Pubkey>,
    #[arg(long, default_value_t = 6)]
    decimals: u8,
    /// Protocol fee in basis points (≤ 1000).
    #[arg(long, default_value_t = 250)]
    fee_bps: u16,
    /// Least stake a node must keep, in token base units.
    #[arg(long, default_value_t = 1_000_000)]
    min_stake: u64,
    /// Seconds an artist has to dispute a receipt.
    #[arg(long, default_value_t = 86_400)]
    challenge_window: i64,
    /// Seconds between asking to unstake and withdrawing; must exceed the challenge window
    /// plus the resolution period.
    #[arg(long, default_value_t = 7 * 86_400)]
    unstake_cooldown: i64,
    #[arg(long, default_value_t = 30 * 86_400)]
    claim_grace: i64,
    /// Seconds the orchestrator has, after a cancel request or a deadline, to post the
    /// receipt of the verified tiles.
    #[arg(long, default_value_t = 300)]
    settle_grace: i64,
    /// Seconds the admin has to resolve a dispute before its default outcome.
    #[arg(long, default_value_t = 3 * 86_400)]
    resolution_period: i64,
    /// Tokens (base units) an artist posts with a dispute.
    #[arg(long, default_value_t = 1_000_000)]
    dispute_bond: u64,
    /// Tokens (base units) one proven wrong tile costs a node (≤ the minimum stake).
    #[arg(long, default_value_t = 100_000)]
    slash_amount: u64,
    /// The most verification (check and tiebreak) renders a job pays, in basis points of its
    /// tiles (100 ..= 10 000): the orchestrator checks 25% of a new node's tiles.
    #[arg(long, default_value_t = 3_000)]
    verify_bps: u16,
    /// Least balance (base units) the orchestrator's bond must hold for its receipts.
    #[arg(long, default_value_t = 1_000_000)]
    orchestrator_bond: u64,
    /// Tokens (base units) deposited into the orchestrator's bond at set-up (minted when this
    /// run creates the mint); 0 for none.
    #[arg(long, default_value_t = 5_000_000)]
    bond_deposit: u64,
    /// Where the created mint keypair is kept (so a re-run reuses them).
    #[arg(long, default_value = "data/migrations")]
    state_dir: PathBuf,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    if let Some(id) = args.program_id {
        anyhow::ensure!(
            id == tessera_sdk::PROGRAM_ID,
            "this build talks to program {}, not {id}",
            tessera_sdk::PROGRAM_ID
        );
    }
    let payer = keys::read_keypair(&args.keypair).context("payer keypair")?;
    use solana_sdk::signature::Signer;
    let opts = Options {
        mint: args.mint,
        decimals: args.decimals,
        params: NetworkParams {
            orchestrator: args.orchestrator.unwrap_or(payer.pubkey()),
            fee_bps: args.fee_bps,
            min_stake: args.min_stake,
            challenge_window: args.challenge_window,
            unstake_cooldown: args.unstake_cooldown,
            claim_grace: args.claim_grace,
            settle_grace: args.settle_grace,
            resolution_period: args.resolution_period,
            dispute_bond: args.dispute_bond,
            slash_amount: args.slash_amount,
            verify_bps: args.verify_bps,
            orchestrator_bond: args.orchestrator_bond,
        },
        bond_deposit: args.bond_deposit,
        state_dir: args.state_dir,
    };
    let client = ChainClient::new(args.rpc_url, CommitmentConfig::confirmed());
    let addresses = bootstrap(&client, &payer, &opts).await?;
    println!("{}", serde_json::to_string_pretty(&addresses)?);
    Ok(())
}
