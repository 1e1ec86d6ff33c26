use anchor_lang::prelude::*;

use crate::{
    constants::*,
    errors::TesseraError,
    events::JobDisputed,
    state::{Job, JobState, Network},
};

#[derive(Accounts)]
pub struct DisputeJob<'info> {
    /// The job's artist.
    pub artist: Signer<'info>,
    /// The network config: counts open disputes (they hold every stake withdrawal).
    #[account(mut, seeds = [NETWORK_SEED], bump = network.bump)]
    pub network: Account<'info, Network>,
    /// The job.
    #[account(mut, seeds = [JOB_SEED, &job.job_id.to_le_bytes()], bump = job.bump, has_one = artist @ TesseraError::NotArtist)]
    pub job: Account<'info, Job>,
}

/// The artist disputes a receipt inside the challenge window; funds stay frozen until the
/// admin resolves it.
/// CHECK: artist signs (struct); job `Rendered`; window still open; the network's open
/// dispute count goes up by one (`withdraw_stake` waits for it to be zero).
pub fn handle_dispute_job(ctx: Context<DisputeJob>, reason: u16) -> Result<()> {
    let job = &mut ctx.accounts.job;
    require!(job.state == JobState::Rendered, TesseraError::WrongJobState);
    require!(
        Clock::get()?.unix_timestamp < job.challenge_ends_at,
        TesseraError::ChallengeWindowClosed
    );
    job.state = JobState::Disputed;
    job.dispute_reason = reason;
    let network = &mut ctx.accounts.network;
    network.open_disputes = network
        .open_disputes
        .checked_add(1)
        .ok_or(TesseraError::ArithmeticError)?;
    emit!(JobDisputed {
        job: job.key(),
        reason
    });
    Ok(())
}
