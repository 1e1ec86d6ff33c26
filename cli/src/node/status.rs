//! `tessera node status`: stake, the orchestrator's view of the node, and its earnings per
//! job (claimed on-chain, or claimable now).
use std::fmt;

use serde::Serialize;
use tessera_sdk::claim::PayoutLeaf;
use tessera_sdk::standing::NodeStanding;
use tessera_sdk::{pda, Claim, Contest, JobState};

use super::claim::manifest;
use super::NodeKeyArgs;
use crate::amount::Tokens;
use crate::context::Ctx;
use crate::error::{state, CliResult};

#[derive(clap::Args, Debug)]
pub struct StatusArgs {
    #[command(flatten)]
    pub node: NodeKeyArgs,
    /// The node's public key (instead of its keypair file).
    #[arg(long)]
    pub node_key: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct JobEarning {
    pub job_id: u64,
    pub tiles_credited: u64,
    /// claimed, claimable, pending (receipt not settled), closed.
    pub status: String,
    pub amount: u64,
}

/// One of the node's contests of a payout leaf, as the chain records it.
#[derive(Debug, Serialize)]
pub struct ContestView {
    pub job: String,
    /// open (leaves being proven) or upheld.
    pub state: &'static str,
    /// Renders proven so far (tile leaves and acknowledged renders credited elsewhere), and
    /// what the payout leaf paid.
    pub proven: u32,
    pub leaf_amount: u64,
    /// What the proven leaves are worth and what the contest paid on top of the leaf.
    pub owed: u64,
    pub paid: u64,
    /// Paid from the orchestrator's bond (the part the job's room under its cap could not pay).
    pub paid_from_bond: u64,
}

#[derive(Debug, Serialize)]
pub struct NodeStatus {
    pub node_key: String,
    pub operator: String,
    pub stake: u64,
    pub active_stake: u64,
    pub unstake_amount: u64,
    pub unstake_available_at: i64,
    /// Stake held for the slash windows of recent receipts (`slash_node` may take it).
    pub locked_stake: u64,
    /// Unix time the lock lapses (0 when none).
    pub locked_until: i64,
    pub benchmark_score: u64,
    pub hardware: String,
    pub tiles_paid_on_chain: u64,
    pub faults_on_chain: u64,
    /// The orchestrator's view (reputation, tiles rendered / verified, faults); absent if
    /// it cannot be reached.
    pub orchestrator: Option<NodeStanding>,
    pub earnings: Vec<JobEarning>,
    /// The node's contests of short payout leaves.
    pub contests: Vec<ContestView>,
    pub claimed_total: u64,
    pub claimable_total: u64,
    pub decimals: u8,
}

pub async fn run(ctx: &Ctx, args: &StatusArgs) -> CliResult<()> {
    let info = ctx.network().await?;
    let key = args.node.pubkey(args.node_key.as_deref())?;
    let node = ctx
        .node(&key)
        .await?
        .ok_or_else(|| state(format!("node {key} is not registered")))?;
    // Claim layout: discriminator (8), job (32), node_key (32).
    let claims: Vec<(_, Claim)> = ctx
        .chain
        .program_accounts_holding(40, &key)
        .await
        .map_err(|e| ctx.rpc_error(e))?;
    // Contest layout: discriminator (8), job (32), node_key (32), like a claim's.
    let contests: Vec<(_, Contest)> = ctx
        .chain
        .program_accounts_holding(40, &key)
        .await
        .map_err(|e| ctx.rpc_error(e))?;
    let contests = contests
        .into_iter()
        .map(|(_, c)| ContestView {
            job: c.job.to_string(),
            state: if c.upheld { "upheld" } else { "open" },
            proven: c.proven,
            leaf_amount: c.leaf_amount,
            owed: c.owed,
            paid: c.paid,
            paid_from_bond: c.paid_from_bond,
        })
        .collect();
    let standing = ctx
        .orchestrator()
        .node_standing(&key.to_string())
        .await
        .ok();
    let mut earnings = Vec::new();
    if let Some(s) = &standing {
        for j in &s.jobs {
            earnings.push(earning(ctx, j.job_id, j.tiles_credited, &key, &claims).await?);
        }
    }
    let sum = |s: &str| {
        earnings
            .iter()
            .filter(|e| e.status == s)
            .map(|e| e.amount)
            .sum()
    };
    let report = NodeStatus {
        node_key: key.to_string(),
        operator: node.operator.to_string(),
        stake: node.stake,
        active_stake: node.active_stake(),
        unstake_amount: node.unstake_amount,
        unstake_available_at: node.unstake_available_at,
        locked_stake: node.locked_at(now_unix()),
        locked_until: node.locked_until,
        benchmark_score: node.benchmark_score,
        hardware: node.hardware.clone(),
        tiles_paid_on_chain: node.tiles_rendered,
        faults_on_chain: node.faults,
        orchestrator: standing,
        claimed_total: sum("claimed"),
        claimable_total: sum("claimable"),
        earnings,
        contests,
        decimals: info.tokens.decimals,
    };
    ctx.output.print(&report);
    Ok(())
}

async fn earning(
    ctx: &Ctx,
    job_id: u64,
    tiles_credited: u64,
    node: &solana_sdk::pubkey::Pubkey,
    claims: &[(solana_sdk::pubkey::Pubkey, Claim)],
) -> CliResult<JobEarning> {
    let e = |status: &str, amount| JobEarning {
        job_id,
        tiles_credited,
        status: status.into(),
        amount,
    };
    let job_key = pda::job(job_id);
    if let Some((_, c)) = claims.iter().find(|(_, c)| c.job == job_key) {
        return Ok(e("claimed", c.paid));
    }
    let job = match ctx.job(job_id).await {
        Ok(j) => j,
        Err(_) => return Ok(e("closed", 0)),
    };
    let settled = matches!(job.state, JobState::Settled | JobState::Resolved);
    let amount = match manifest(ctx, job_id).await {
        Ok(m) => PayoutLeaf::from_manifest(&m, node)
            .ok()
            .flatten()
            .map_or(0, |l| l.amount),
        Err(_) => 0,
    };
    Ok(e(if settled { "claimable" } else { "pending" }, amount))
}

impl fmt::Display for NodeStatus {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        let t = Tokens {
            decimals: self.decimals,
        };
        writeln!(f, "Node {}", self.node_key)?;
        writeln!(f, "{:<20} {}", "operator", self.operator)?;
        writeln!(
            f,
            "{:<20} {} ({} active)",
            "stake",
            t.format(self.stake),
            t.format(self.active_stake)
        )?;
        if self.unstake_amount > 0 {
            writeln!(
                f,
                "{:<20} {} (withdrawable at unix {})",
                "unstaking",
                t.format(self.unstake_amount),
                self.unstake_available_at
            )?;
        }
        if self.locked_stake > 0 {
            writeln!(
                f,
                "{:<20} {} until unix {} (recent jobs' slash windows; cannot be unstaked before)",
                "locked",
                t.format(self.locked_stake),
                self.locked_until
            )?;
        }
        writeln!(f, "{:<20} {}", "benchmark score", self.benchmark_score)?;
        writeln!(
            f,
            "{:<20} {} tiles paid, {} slashed tiles",
            "on-chain record", self.tiles_paid_on_chain, self.faults_on_chain
        )?;
        match &self.orchestrator {
            Some(o) => writeln!(
                f,
                "{:<20} reputation {:.2}, {} tiles rendered, {} verified, {} faults",
                "orchestrator", o.reputation, o.tiles_rendered, o.tiles_verified, o.faults
            )?,
            None => writeln!(f, "{:<20} unreachable", "orchestrator")?,
        }
        for e in &self.earnings {
            writeln!(
                f,
                "  job {:>5}  {:>5} tiles  {:<10} {:>14}",
                e.job_id,
                e.tiles_credited,
                e.status,
                t.format(e.amount)
            )?;
        }
        for c in &self.contests {
            let said = match c.state {
                "upheld" if c.paid < c.owed - c.leaf_amount.min(c.owed) => format!(
                    "upheld: the receipt owed {} for the proven renders and paid {}; {} more \
                     paid from the job, {} paid from the orchestrator's bond (the receipt paid \
                     out its whole cap)",
                    t.format(c.owed),
                    t.format(c.leaf_amount),
                    t.format(c.paid),
                    t.format(c.paid_from_bond)
                ),
                "upheld" => format!(
                    "upheld: the receipt paid {} for renders worth {}; the {} difference was paid",
                    t.format(c.leaf_amount),
                    t.format(c.owed),
                    t.format(c.paid)
                ),
                _ => format!(
                    "open: {} renders proven (tile leaves, or acknowledged renders the receipt \
                     credits to other keys) against a payout leaf of {}",
                    c.proven,
                    t.format(c.leaf_amount)
                ),
            };
            writeln!(f, "{:<20} job {}: {said}", "contest", c.job)?;
        }
        writeln!(
            f,
            "{:<20} {} claimed, {} claimable now",
            "earnings",
            t.format(self.claimed_total),
            t.format(self.claimable_total)
        )
    }
}

fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}
