use anchor_lang::prelude::*;

use crate::{
    constants::*,
    errors::TesseraError,
    events::JobDisputed,
    state::{Job, JobState},
};

#[derive(Accounts)]
pub struct DisputeJob<'info> {
    /// The job's artist.
    pub artist: Signer<'info>,
    /// The job.
    #[account(mut, seeds = [JOB_SEED, &job.job_id.to_le_bytes()], bump = job.bump, has_one = artist @ TesseraError::NotArtist)]
    pub job: Account<'info, Job>,
}

/// The artist disputes a receipt inside the challenge window; funds stay frozen until the
/// admin resolves it.
/// CHECK: artist signs (struct); job `Rendered`; window still open.
pub fn handle_dispute_job(ctx: Context<DisputeJob>, reason: u16) -> Result<()> {
    let job = &mut ctx.accounts.job;
    require!(job.state == JobState::Rendered, TesseraError::WrongJobState);
    require!(
        Clock::get()?.unix_timestamp < job.challenge_ends_at,
        TesseraError::ChallengeWindowClosed
    );
    job.state = JobState::Disputed;
    job.dispute_reason = reason;
    emit!(JobDisputed {
        job: job.key(),
        reason
    });
    Ok(())
}
