use anchor_lang::prelude::*;
use anchor_spl::token::{Token, TokenAccount};

use crate::{
    constants::*,
    errors::TesseraError,
    events::JobClosed,
    state::{Job, JobState},
    vault,
};

#[derive(Accounts)]
pub struct CloseJob<'info> {
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
    /// Receives what is left in the vault (rounding dust, unclaimed payouts after the grace period).
    #[account(mut, token::mint = vault.mint, token::authority = job.artist)]
    pub artist_token: Account<'info, TokenAccount>,
    pub token_program: Program<'info, Token>,
}

/// Anyone closes a settled job once every node has claimed or the claim grace period is over.
/// CHECK: job `Settled` or `Resolved`; all claimed or grace over; the slash window is over
/// (the job's tile root is the evidence `slash_node` checks); leftovers and rent to the
/// artist (struct).
pub fn handle_close_job(ctx: Context<CloseJob>) -> Result<()> {
    let job = &ctx.accounts.job;
    require!(
        matches!(job.state, JobState::Settled | JobState::Resolved),
        TesseraError::WrongJobState
    );
    let all_claimed = job.claimed_count == job.node_count;
    let now = Clock::get()?.unix_timestamp;
    require!(
        all_claimed || now >= job.claims_end_at,
        TesseraError::ClaimsStillOpen
    );
    require!(now > job.slash_ends_at, TesseraError::SlashWindowOpen);
    let swept = job.with_signer(|seeds| {
        vault::drain_and_close(
            &ctx.accounts.token_program,
            &ctx.accounts.vault,
            &ctx.accounts.artist_token,
            &ctx.accounts.artist.to_account_info(),
            &job.to_account_info(),
            seeds,
        )
    })?;
    emit!(JobClosed {
        job: job.key(),
        swept
    });
    Ok(())
}
