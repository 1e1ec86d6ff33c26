//! `tessera job status` (chain and orchestrator side by side) and `tessera job list`.
use std::fmt;

use serde::Serialize;
use solana_client::rpc_filter::{Memcmp, RpcFilterType};
use solana_sdk::signature::Signer;
use tessera_sdk::{pda, Job, JobState};

use crate::amount::Tokens;
use crate::context::Ctx;
use crate::error::CliResult;
use crate::orchestrator::JobProgress;

/// The on-chain job in the units people read.
#[derive(Debug, Serialize)]
pub struct ChainJob {
    pub job_id: u64,
    pub address: String,
    pub artist: String,
    pub state: String,
    pub scene_hash: String,
    pub frame_start: u32,
    pub frame_end: u32,
    pub width: u32,
    pub height: u32,
    pub tile_size: u32,
    pub samples_per_pixel: u32,
    /// Frames per second, "num/den".
    pub frame_rate: String,
    pub price_per_tile: u64,
    pub budget: u64,
    pub deadline: i64,
    pub tile_count: u32,
    /// Paid renders in the receipt: the tiles plus check and tiebreak renders.
    pub render_count: u32,
    /// The most verification renders the job pays, in bps of its tiles.
    pub verify_bps: u16,
    pub total_payout: u64,
    /// Until then (the challenge window) nodes may contest their payout leaves.
    pub challenge_ends_at: i64,
    /// Contests upheld against the receipt, and what they paid on top of the leaves.
    pub contests_upheld: u32,
    pub contested_paid: u64,
    /// Until then the orchestrator may post the receipt (partial after a cancel request or
    /// the deadline); after it, with no receipt, `tessera job refund` returns the budget.
    pub receipt_ends_at: i64,
    pub cancel_requested_at: i64,
    /// The bond a dispute posts (held while `state` is disputed).
    pub dispute_bond: u64,
    pub bond_held: u64,
    /// Until then the admin may resolve the dispute; after it the receipt stands.
    pub dispute_ends_at: i64,
    /// Tokens one proven wrong tile costs a node in this job.
    pub slash_amount: u64,
    /// Until then `slash_node` accepts evidence against the job's nodes; `close_job` waits.
    pub slash_ends_at: i64,
    /// Tiles of this job a node was slashed for.
    pub slashed_count: u32,
    pub claimed_count: u32,
    pub node_count: u32,
    pub decimals: u8,
}

impl ChainJob {
    pub fn from(job: &Job, decimals: u8) -> ChainJob {
        ChainJob {
            job_id: job.job_id,
            address: pda::job(job.job_id).to_string(),
            artist: job.artist.to_string(),
            state: state_name(job.state).into(),
            scene_hash: tessera_sdk::hex::encode(&job.scene_hash),
            frame_start: job.frame_start,
            frame_end: job.frame_end,
            width: job.width,
            height: job.height,
            tile_size: job.tile_size,
            samples_per_pixel: job.samples_per_pixel,
            frame_rate: format!("{}/{}", job.frame_rate_num, job.frame_rate_den),
            price_per_tile: job.price_per_tile,
            budget: job.budget,
            deadline: job.deadline,
            tile_count: job.tile_count,
            render_count: job.render_count,
            verify_bps: job.verify_bps,
            total_payout: job.total_payout,
            challenge_ends_at: job.challenge_ends_at,
            contests_upheld: job.contests_upheld,
            contested_paid: job.contested_paid,
            receipt_ends_at: job.receipt_ends_at().unwrap_or(job.deadline),
            cancel_requested_at: job.cancel_requested_at,
            dispute_bond: job.dispute_bond,
            bond_held: job.bond,
            dispute_ends_at: job.dispute_ends_at,
            slash_amount: job.slash_amount,
            slash_ends_at: job.slash_ends_at,
            slashed_count: job.slashed_count,
            claimed_count: job.claimed_count,
            node_count: job.node_count,
            decimals,
        }
    }
}

pub fn state_name(s: JobState) -> &'static str {
    match s {
        JobState::Open => "open",
        JobState::Rendered => "rendered",
        JobState::Disputed => "disputed",
        JobState::Settled => "settled",
        JobState::Resolved => "resolved",
        JobState::CancelRequested => "cancel-requested",
    }
}

#[derive(Debug, Serialize)]
pub struct Status {
    pub chain: ChainJob,
    /// `None` when the orchestrator does not know the job or cannot be reached.
    pub orchestrator: Option<JobProgress>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub orchestrator_error: Option<String>,
}

pub async fn status(ctx: &Ctx, job_id: u64) -> CliResult<Status> {
    let info = ctx.network().await?;
    let job = ctx.job(job_id).await?;
    let (orchestrator, orchestrator_error) = match ctx.orchestrator().progress(job_id).await {
        Ok(Some(p)) => (Some(p), None),
        Ok(None) => (None, Some("not registered with this orchestrator".into())),
        Err(e) => (None, Some(e.to_string())),
    };
    Ok(Status {
        chain: ChainJob::from(&job, info.tokens.decimals),
        orchestrator,
        orchestrator_error,
    })
}

pub async fn run_status(ctx: &Ctx, job_id: u64) -> CliResult<()> {
    let s = status(ctx, job_id).await?;
    ctx.output.print(&s);
    Ok(())
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        let c = &self.chain;
        let t = Tokens {
            decimals: c.decimals,
        };
        writeln!(f, "Job {} ({})", c.job_id, c.address)?;
        writeln!(f, "{:<22} {}", "on-chain state", c.state)?;
        writeln!(f, "{:<22} {}", "artist", c.artist)?;
        writeln!(
            f,
            "{:<22} frames {}-{} at {} fps, {}x{}, tiles of {}, {} spp",
            "request",
            c.frame_start,
            c.frame_end,
            c.frame_rate,
            c.width,
            c.height,
            c.tile_size,
            c.samples_per_pixel
        )?;
        writeln!(
            f,
            "{:<22} {} per tile, budget {}",
            "escrow",
            t.format(c.price_per_tile),
            t.format(c.budget)
        )?;
        if c.state == state_name(JobState::CancelRequested) {
            writeln!(
                f,
                "{:<22} the orchestrator may post the receipt of the verified tiles until {}; \
                 without one, `tessera job refund {}` returns the budget after that",
                "cancel requested",
                when(c.receipt_ends_at),
                c.job_id
            )?;
        }
        if c.state == state_name(JobState::Disputed) {
            writeln!(
                f,
                "{:<22} bond {} held; the admin resolves by {}, after which the receipt stands \
                 (`tessera job finalize {}`) and the bond goes to the treasury",
                "dispute",
                t.format(c.bond_held),
                when(c.dispute_ends_at),
                c.job_id
            )?;
        }
        if c.tile_count > 0 {
            writeln!(
                f,
                "{:<22} {} tiles, {} to {} nodes, {} claimed",
                "receipt",
                c.tile_count,
                t.format(c.total_payout),
                c.node_count,
                c.claimed_count
            )?;
            let verification = c.render_count.saturating_sub(c.tile_count);
            writeln!(
                f,
                "{:<22} {} check and tiebreak renders paid like tiles (the job pays up to {:.2}%                  of its tiles)",
                "verification",
                verification,
                c.verify_bps as f64 / 100.0
            )?;
            let contests = if c.contests_upheld > 0 {
                format!(
                    "{} upheld: nodes proved the receipt paid them short and were paid {} more",
                    c.contests_upheld,
                    t.format(c.contested_paid)
                )
            } else {
                "none upheld".to_string()
            };
            let window = if now() < c.challenge_ends_at {
                format!("open until {}", when(c.challenge_ends_at))
            } else {
                "closed".to_string()
            };
            writeln!(f, "{:<22} {contests}; window {window}", "contests")?;
            writeln!(
                f,
                "{:<22} {} per wrong tile until {}; {} tiles slashed (to the treasury, the \
                 job's payout untouched)",
                "slashing",
                t.format(c.slash_amount),
                when(c.slash_ends_at),
                c.slashed_count
            )?;
        }
        match (&self.orchestrator, &self.orchestrator_error) {
            (Some(p), _) => {
                let n = &p.counts;
                writeln!(f, "{:<22} {}", "orchestrator state", p.state)?;
                writeln!(
                    f,
                    "{:<22} {}/{} verified, {} leased, {} queued, {} awaiting checks",
                    "tiles", n.verified, n.total, n.leased, n.queued, n.rendered
                )?;
                let done = p.frames.iter().filter(|x| x.complete).count();
                writeln!(f, "{:<22} {}/{} complete", "frames", done, p.frames.len())?;
                if let Some(eta) = p.eta_seconds.filter(|e| *e > 0.0) {
                    writeln!(f, "{:<22} {}", "eta", super::quote::duration(eta))?;
                }
            }
            (None, Some(e)) => writeln!(f, "{:<22} {e}", "orchestrator")?,
            (None, None) => {}
        }
        Ok(())
    }
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// A unix time as an RFC 3339 UTC instant.
fn when(unix: i64) -> String {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(unix.max(0) as u64);
    humantime::format_rfc3339_seconds(t).to_string()
}

#[derive(Debug, Serialize)]
pub struct JobList {
    pub artist: Option<String>,
    pub jobs: Vec<ChainJob>,
}

/// Jobs on-chain: the `--keypair` artist's, or every job with `all`.
pub async fn run_list(ctx: &Ctx, all: bool) -> CliResult<()> {
    let info = ctx.network().await?;
    let artist = if all {
        None
    } else {
        Some(ctx.signer()?.pubkey())
    };
    // Job layout: discriminator (8), job_id (8), artist (32).
    let filters = artist
        .map(|a| {
            vec![RpcFilterType::Memcmp(Memcmp::new_base58_encoded(
                16,
                a.as_ref(),
            ))]
        })
        .unwrap_or_default();
    let mut jobs: Vec<(_, Job)> = ctx
        .chain
        .list_program_accounts(filters)
        .await
        .map_err(|e| ctx.rpc_error(e))?;
    jobs.sort_by_key(|(_, j)| j.job_id);
    let list = JobList {
        artist: artist.map(|a| a.to_string()),
        jobs: jobs
            .iter()
            .map(|(_, j)| ChainJob::from(j, info.tokens.decimals))
            .collect(),
    };
    ctx.output.print(&list);
    Ok(())
}

impl fmt::Display for JobList {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        if self.jobs.is_empty() {
            return writeln!(f, "no jobs");
        }
        writeln!(
            f,
            "{:>19}  {:<16}  {:>9}  {:>11}  {:>6}  {:>14}",
            "JOB", "STATE", "FRAMES", "SIZE", "SPP", "BUDGET"
        )?;
        for j in &self.jobs {
            let t = Tokens {
                decimals: j.decimals,
            };
            writeln!(
                f,
                "{:>19}  {:<16}  {:>9}  {:>11}  {:>6}  {:>14}",
                j.job_id,
                j.state,
                format!("{}-{}", j.frame_start, j.frame_end),
                format!("{}x{}", j.width, j.height),
                j.samples_per_pixel,
                t.format(j.budget)
            )?;
        }
        Ok(())
    }
}
