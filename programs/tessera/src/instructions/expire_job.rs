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

/// Anyone may expire a job whose deadline passed without a receipt: full refund to the artist.
/// CHECK: job is `Open`; deadline passed; refund and rent go to the artist (struct).
pub fn handle_expire_job(ctx: Context<ExpireJob>) -> Result<()> {
    let job = &ctx.accounts.job;
    require!(job.state == JobState::Open, TesseraError::WrongJobState);
    require!(
        Clock::get()?.unix_timestamp > job.deadline,
        TesseraError::DeadlineNotReached
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
