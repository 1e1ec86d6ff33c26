use anchor_lang::prelude::*;
use anchor_spl::token::{Token, TokenAccount};

use crate::{
    constants::*,
    errors::TesseraError,
    state::{Job, JobState, Network},
};

use super::settle::settle_in_full;

#[derive(Accounts)]
pub struct FinalizeJob<'info> {
    /// The network config (treasury, mint).
    #[account(seeds = [NETWORK_SEED], bump = network.bump)]
    pub network: Account<'info, Network>,
    /// The job.
    #[account(mut, seeds = [JOB_SEED, &job.job_id.to_le_bytes()], bump = job.bump)]
    pub job: Account<'info, Job>,
    /// The job's escrow.
    #[account(mut, seeds = [JOB_VAULT_SEED, job.key().as_ref()], bump = job.vault_bump)]
    pub vault: Account<'info, TokenAccount>,
    /// The network's treasury.
    #[account(mut, address = network.treasury @ TesseraError::WrongTreasury)]
    pub treasury: Account<'info, TokenAccount>,
    /// Receives the unspent budget: the artist's account of the network's token.
    #[account(mut, token::mint = network.mint, token::authority = job.artist)]
    pub artist_token: Account<'info, TokenAccount>,
    pub token_program: Program<'info, Token>,
}

/// Anyone settles a job once its challenge window has passed without a dispute.
/// CHECK: job `Rendered`; window over.
pub fn handle_finalize_job(ctx: Context<FinalizeJob>) -> Result<()> {
    let job = &ctx.accounts.job;
    require!(job.state == JobState::Rendered, TesseraError::WrongJobState);
    require!(
        Clock::get()?.unix_timestamp >= job.challenge_ends_at,
        TesseraError::ChallengeWindowOpen
    );
    settle_in_full(
        &mut ctx.accounts.job,
        &ctx.accounts.vault,
        &ctx.accounts.treasury,
        &ctx.accounts.artist_token,
        &ctx.accounts.token_program,
        false,
    )
}
