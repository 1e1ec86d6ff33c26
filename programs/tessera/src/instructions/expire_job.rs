use anchor_lang::prelude::*;
use anchor_spl::token::{Token, TokenAccount};

use crate::{
    constants::*,
    errors::TesseraError,
    events::JobExpired,
    state::{Job, JobState},
    vault,
};

#[derive(Accounts)]
pub struct ExpireJob<'info> {
    /// The job's artist; receives the rent. Need not sign.
    /// CHECK: only receives lamports; pinned to `job.artist`.
    #[account(mut, address = job.artist @ TesseraError::NotArtist)]
    pub artist: UncheckedAccount<'info>,
    /// The job, closed here.
    #[account(mut, close = artist, seeds = [JOB_SEED, &job.job_id.to_le_bytes()], bump = job.bump)]
    pub job: Account<'info, Job>,
    /// The job's escrow, closed here.
    #[account(mut, seeds = [JOB_VAULT_SEED, job.key().as_ref()], bump = job.vault_bump)]
    pub vault: Account<'info, TokenAccount>,
    /// Receives the refund.
    #[account(mut, token::mint = vault.mint, token::authority = job.artist)]
    pub artist_token: Account<'info, TokenAccount>,
    pub token_program: Program<'info, Token>,
}

/// Anyone refunds a job that got no receipt in time: full refund to the artist. "In time" is
/// the deadline, or the cancel request, plus the job's settle grace, during which the
/// orchestrator may still post the receipt of the tiles verified so far.
/// CHECK: job `Open` or `CancelRequested`; deadline passed (`DeadlineNotReached`) or cancel
/// requested; the settle grace after it passed (`SettleGraceRunning`); refund and rent go to
/// the artist (struct).
pub fn handle_expire_job(ctx: Context<ExpireJob>) -> Result<()> {
    let job = &ctx.accounts.job;
    require!(
        matches!(job.state, JobState::Open | JobState::CancelRequested),
        TesseraError::WrongJobState
    );
    let now = Clock::get()?.unix_timestamp;
    require!(
        job.state == JobState::CancelRequested || now > job.deadline,
        TesseraError::DeadlineNotReached
    );
    require!(
        now > job.receipt_ends_at()?,
        TesseraError::SettleGraceRunning
    );
    let refund = job.with_signer(|seeds| {
        vault::drain_and_close(
            &ctx.accounts.token_program,
            &ctx.accounts.vault,
            &ctx.accounts.artist_token,
            &ctx.accounts.artist.to_account_info(),
            &job.to_account_info(),
            seeds,
        )
    })?;
    emit!(JobExpired {
        job: job.key(),
        refund
    });
    Ok(())
}
