use anchor_lang::prelude::*;
use anchor_spl::token::{Token, TokenAccount};

use crate::{
    constants::*,
    errors::TesseraError,
    events::JobCancelled,
    state::{Job, JobState},
    vault,
};

#[derive(Accounts)]
pub struct CancelJob<'info> {
    /// The job's artist; receives the refund and the rent.
    #[account(mut)]
    pub artist: Signer<'info>,
    /// The job, closed here.
    #[account(mut, close = artist, seeds = [JOB_SEED, &job.job_id.to_le_bytes()], bump = job.bump, has_one = artist @ TesseraError::NotArtist)]
    pub job: Account<'info, Job>,
    /// The job's escrow, closed here.
    #[account(mut, seeds = [JOB_VAULT_SEED, job.key().as_ref()], bump = job.vault_bump)]
    pub vault: Account<'info, TokenAccount>,
    /// Receives the refund.
    #[account(mut, token::mint = vault.mint, token::authority = artist)]
    pub artist_token: Account<'info, TokenAccount>,
    pub token_program: Program<'info, Token>,
}

/// Cancels a job nobody has posted a receipt for: full refund, accounts closed.
/// CHECK: artist signs (struct); job is `Open`.
pub fn handle_cancel_job(ctx: Context<CancelJob>) -> Result<()> {
    let job = &ctx.accounts.job;
    require!(job.state == JobState::Open, TesseraError::WrongJobState);
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
    emit!(JobCancelled {
        job: job.key(),
        refund
    });
    Ok(())
}
