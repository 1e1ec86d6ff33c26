//! `tessera node claim [--job JOB | --all]`: claims settled payouts with the proofs from the
//! manifest. The workflow itself is `tessera_sdk::claim`, shared with `node-agent run`.
use std::fmt;

use serde::Serialize;
use solana_sdk::pubkey::Pubkey;
use tessera_sdk::claim::{claim_payout, ClaimOutcome, PayoutLeaf};
use tessera_sdk::manifest::Manifest;

use super::NodeKeyArgs;
use crate::amount::Tokens;
use crate::context::Ctx;
use crate::error::{input, state, CliError, CliResult};

#[derive(clap::Args, Debug)]
pub struct ClaimArgs {
    #[command(flatten)]
    pub node: NodeKeyArgs,
    /// The node's public key (instead of its keypair file: anyone may crank a claim).
    #[arg(long)]
    pub node_key: Option<String>,
    /// Claim this job only.
    #[arg(long, conflicts_with = "all")]
    pub job: Option<u64>,
    /// Claim every job the orchestrator credits this node with.
    #[arg(long)]
    pub all: bool,
}

#[derive(Debug, Serialize)]
pub struct ClaimLine {
    pub job_id: u64,
    /// claimed, already-claimed, not-settled, not-paid, job-closed.
    pub outcome: String,
    pub amount: u64,
    pub signature: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct ClaimReport {
    pub node_key: String,
    pub claims: Vec<ClaimLine>,
    pub claimed_now: u64,
    pub decimals: u8,
}

impl fmt::Display for ClaimReport {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        let t = Tokens {
            decimals: self.decimals,
        };
        writeln!(f, "Node {}", self.node_key)?;
        for c in &self.claims {
            writeln!(
                f,
                "  job {:>5}  {:<16} {:>14}{}",
                c.job_id,
                c.outcome,
                t.format(c.amount),
                c.signature
                    .as_deref()
                    .map(|s| format!("  tx {s}"))
                    .unwrap_or_default()
            )?;
        }
        writeln!(f, "Claimed now: {}", t.format(self.claimed_now))
    }
}

/// The manifest of a job, parsed.
pub async fn manifest(ctx: &Ctx, job_id: u64) -> CliResult<Manifest> {
    let text = ctx.orchestrator().manifest_json(job_id).await?;
    serde_json::from_str(&text).map_err(|e| {
        CliError::Orchestrator(format!("manifest of job {job_id} does not parse: {e}"))
    })
}

/// Job ids the orchestrator credits `node` with.
pub async fn credited_jobs(ctx: &Ctx, node: &Pubkey) -> CliResult<Vec<u64>> {
    let standing = ctx.orchestrator().node_standing(&node.to_string()).await?;
    Ok(standing.job_ids())
}

pub async fn run(ctx: &Ctx, args: &ClaimArgs) -> CliResult<()> {
    let payer = ctx.signer()?;
    let info = ctx.network().await?;
    let node = args.node.pubkey(args.node_key.as_deref())?;
    ctx.node(&node)
        .await?
        .ok_or_else(|| state(format!("node {node} is not registered")))?;
    let jobs = match (args.job, args.all) {
        (Some(j), _) => vec![j],
        (None, true) => credited_jobs(ctx, &node).await?,
        (None, false) => return Err(input("say which payouts: --job JOB or --all")),
    };
    let mut claims = Vec::new();
    let mut claimed_now = 0;
    for job_id in jobs {
        let line = claim_one(ctx, &payer, job_id, &node).await?;
        if line.outcome == "claimed" {
            claimed_now += line.amount;
        }
        claims.push(line);
    }
    ctx.output.print(&ClaimReport {
        node_key: node.to_string(),
        claims,
        claimed_now,
        decimals: info.tokens.decimals,
    });
    Ok(())
}

async fn claim_one(
    ctx: &Ctx,
    payer: &solana_sdk::signature::Keypair,
    job_id: u64,
    node: &Pubkey,
) -> CliResult<ClaimLine> {
    let line = |outcome: &str, amount, signature| ClaimLine {
        job_id,
        outcome: outcome.into(),
        amount,
        signature,
    };
    let job = ctx.job(job_id).await?;
    if !matches!(
        job.state,
        tessera_sdk::JobState::Settled | tessera_sdk::JobState::Resolved
    ) {
        return Ok(line("not-settled", 0, None));
    }
    let m = manifest(ctx, job_id).await?;
    let leaf = PayoutLeaf::from_manifest(&m, node)
        .map_err(|e| CliError::Orchestrator(format!("manifest of job {job_id}: {e}")))?;
    let Some(leaf) = leaf else {
        return Ok(line("not-paid", 0, None));
    };
    let outcome = claim_payout(&ctx.chain, payer, job_id, &leaf)
        .await
        .map_err(|e| ctx.rpc_error(e))?;
    Ok(match outcome {
        ClaimOutcome::Claimed { signature, paid } => {
            line("claimed", paid, Some(signature.to_string()))
        }
        ClaimOutcome::AlreadyClaimed { paid } => line("already-claimed", paid, None),
        ClaimOutcome::NotSettled(_) => line("not-settled", 0, None),
        ClaimOutcome::JobClosed => line("job-closed", 0, None),
    })
}
