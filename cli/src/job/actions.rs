//! The artist's one-transaction actions on a job: approve, dispute, cancel, refund, finalize,
//! close.
//! Each checks the job's state and the chain's clock first, so a wrong-time action is
//! refused with a sentence and no transaction is sent.
use std::fmt;

use serde::Serialize;
use solana_sdk::pubkey::Pubkey;
use solana_sdk::signature::{Keypair, Signer};
use tessera_sdk::{ix, Job, JobState};

use super::status::state_name;
use crate::context::{create_token_account_ix, token_account, Ctx};
use crate::error::{input, state, CliResult};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
pub enum Action {
    Approve,
    Dispute,
    Cancel,
    Refund,
    Finalize,
    Close,
}

/// Why an artist disputes; recorded on-chain as a code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
pub enum DisputeReason {
    /// Frames show the wrong scene, camera or frame.
    WrongContent = 1,
    /// Noise, fireflies, black or broken tiles.
    Artifacts = 2,
    /// Frames or tiles missing.
    Missing = 3,
    Other = 4,
}

#[derive(Debug, Serialize)]
pub struct ActionDone {
    pub job_id: u64,
    pub action: Action,
    pub signature: String,
    pub state_before: String,
}

impl fmt::Display for ActionDone {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        let verb = match self.action {
            Action::Approve => "approved: the fee went to the treasury, the unspent budget back to you; nodes can claim",
            Action::Dispute => "disputed: the bond is posted; payouts wait for the admin's resolution (or its deadline, after which the receipt stands)",
            Action::Cancel => "cancel requested: the orchestrator posts the receipt of the tiles verified so far (you pay for those, the rest is refunded at settlement); if it posts none within the settle grace, `tessera job refund` returns the budget",
            Action::Refund => "refunded: no receipt in time; the budget and the rent are back with you",
            Action::Finalize => "finalized: settled after the challenge window (or a dispute's deadline)",
            Action::Close => "closed: leftovers and rent are back with the artist",
        };
        writeln!(f, "Job {} {verb} (tx {})", self.job_id, self.signature)
    }
}

pub async fn run(
    ctx: &Ctx,
    action: Action,
    job_id: u64,
    reason: Option<DisputeReason>,
) -> CliResult<()> {
    let signer = ctx.signer()?;
    let info = ctx.network().await?;
    let job = ctx.job(job_id).await?;
    let now = ctx.chain_now().await?;
    check(action, &job, &signer.pubkey(), now)?;
    let artist_token = token_account(&job.artist, &info.network.mint);
    let ixs = match action {
        Action::Approve => vec![
            create_token_account_ix(&signer.pubkey(), &job.artist, &info.network.mint),
            ix::approve_job(
                &signer.pubkey(),
                job_id,
                &info.network.treasury,
                &artist_token,
            ),
        ],
        Action::Dispute => {
            let reason = reason.ok_or_else(|| input("dispute needs --reason"))?;
            vec![ix::dispute_job(
                &signer.pubkey(),
                job_id,
                &artist_token,
                reason as u16,
            )]
        }
        Action::Cancel => vec![ix::cancel_job(&signer.pubkey(), job_id)],
        Action::Refund => vec![
            create_token_account_ix(&signer.pubkey(), &job.artist, &info.network.mint),
            ix::expire_job(&job.artist, job_id, &artist_token),
        ],
        Action::Finalize => vec![
            create_token_account_ix(&signer.pubkey(), &job.artist, &info.network.mint),
            ix::finalize_job(job_id, &info.network.treasury, &artist_token),
        ],
        Action::Close => vec![
            create_token_account_ix(&signer.pubkey(), &job.artist, &info.network.mint),
            ix::close_job(&job.artist, job_id, &artist_token),
        ],
    };
    let signature = send(ctx, &signer, &ixs).await?;
    ctx.output.print(&ActionDone {
        job_id,
        action,
        signature,
        state_before: state_name(job.state).into(),
    });
    Ok(())
}

async fn send(
    ctx: &Ctx,
    signer: &Keypair,
    ixs: &[solana_sdk::instruction::Instruction],
) -> CliResult<String> {
    Ok(ctx.send(signer, ixs, &[]).await?.to_string())
}

/// The program's rules for each action, checked off-chain to explain a refusal.
pub fn check(action: Action, job: &Job, signer: &Pubkey, now: i64) -> CliResult<()> {
    let id = job.job_id;
    let is = |s: JobState| job.state == s;
    let named = state_name(job.state);
    let artist_only = matches!(action, Action::Approve | Action::Dispute | Action::Cancel);
    if artist_only && job.artist != *signer {
        return Err(input(format!(
            "job {id} belongs to artist {}, not to {signer} (pass the artist's --keypair)",
            job.artist
        )));
    }
    match action {
        Action::Approve | Action::Dispute if !is(JobState::Rendered) => Err(state(format!(
            "job {id} is {named}; only a rendered job (receipt posted, not yet settled) can be {}",
            if action == Action::Approve { "approved" } else { "disputed" }
        ))),
        Action::Dispute if now >= job.challenge_ends_at => Err(state(format!(
            "the challenge window of job {id} closed {} ago; it can no longer be disputed",
            ago(now - job.challenge_ends_at)
        ))),
        Action::Cancel if !is(JobState::Open) => Err(state(format!(
            "job {id} is {named}; only an open job (no receipt yet) can be cancelled"
        ))),
        Action::Refund if !is(JobState::Open) && !is(JobState::CancelRequested) => {
            Err(state(format!(
                "job {id} is {named}; only a job without a receipt can be refunded"
            )))
        }
        Action::Refund if is(JobState::Open) && now <= job.deadline => Err(state(format!(
            "job {id} is running until its deadline in {}; cancel it first (`tessera job cancel {id}`)",
            ago(job.deadline - now)
        ))),
        Action::Refund if now <= job.receipt_ends_at().unwrap_or(i64::MAX) => {
            Err(state(format!(
                "the orchestrator may still post the receipt of job {id}'s verified tiles for {}; the refund opens after that",
                ago(job.receipt_ends_at().unwrap_or(now) - now + 1)
            )))
        }
        Action::Finalize if is(JobState::Disputed) && now <= job.dispute_ends_at => {
            Err(state(format!(
                "the dispute of job {id} can be resolved by the admin for {} more; after that the receipt stands",
                ago(job.dispute_ends_at - now + 1)
            )))
        }
        Action::Finalize if is(JobState::Disputed) => Ok(()),
        Action::Finalize if !is(JobState::Rendered) => Err(state(format!(
            "job {id} is {named}; only a rendered job (or a dispute past its deadline) can be finalized"
        ))),
        Action::Finalize if now < job.challenge_ends_at => Err(state(format!(
            "the challenge window of job {id} is open for {} more; the artist can approve now",
            ago(job.challenge_ends_at - now)
        ))),
        Action::Close if !matches!(job.state, JobState::Settled | JobState::Resolved) => {
            Err(state(format!(
                "job {id} is {named}; only a settled or resolved job can be closed"
            )))
        }
        Action::Close if job.claimed_count < job.node_count && now < job.claims_end_at => {
            Err(state(format!(
                "{} of {} nodes have not claimed yet; job {id} can be closed when they have or in {}",
                job.node_count - job.claimed_count,
                job.node_count,
                ago(job.claims_end_at - now)
            )))
        }
        // The tile root stays slash evidence against the job's nodes until then.
        Action::Close if now <= job.slash_ends_at => Err(state(format!(
            "job {id}'s receipt is evidence for slashing its nodes for {} more; it can be closed after that",
            ago(job.slash_ends_at - now + 1)
        ))),
        _ => Ok(()),
    }
}

fn ago(seconds: i64) -> String {
    humantime::format_duration(std::time::Duration::from_secs(seconds.max(0) as u64)).to_string()
}
