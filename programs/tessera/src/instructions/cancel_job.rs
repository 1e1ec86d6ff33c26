use anchor_lang::prelude::*;

use crate::{
    constants::*,
    errors::TesseraError,
    events::CancelRequested,
    state::{Job, JobState},
};

#[derive(Accounts)]
pub struct CancelJob<'info> {
    /// The job's artist.
    pub artist: Signer<'info>,
    /// The job.
    #[account(mut, seeds = [JOB_SEED, &job.job_id.to_le_bytes()], bump = job.bump, has_one = artist @ TesseraError::NotArtist)]
    pub job: Account<'info, Job>,
}

/// Asks to cancel a job that has no receipt yet. No token moves here: the orchestrator has the
/// job's settle grace to post the receipt of the tiles verified so far (the nodes are paid
/// for what they rendered, the rest is refunded at settlement); after the grace without a
/// receipt, `expire_job` refunds everything. So downloading previews and cancelling never
/// takes verified work for free.
/// CHECK: artist signs (struct); job `Open` (not yet cancelled, no receipt).
pub fn handle_cancel_job(ctx: Context<CancelJob>) -> Result<()> {
    let job = &mut ctx.accounts.job;
    require!(job.state == JobState::Open, TesseraError::WrongJobState);
    let now = Clock::get()?.unix_timestamp;
    job.state = JobState::CancelRequested;
    job.cancel_requested_at = now;
    emit!(CancelRequested {
        job: job.key(),
        receipt_ends_at: job.receipt_ends_at()?,
    });
    Ok(())
}
