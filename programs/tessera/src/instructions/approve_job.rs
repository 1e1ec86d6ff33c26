use anchor_lang::prelude::*;
use anchor_spl::token::{Token, TokenAccount};

use crate::{
    constants::*,
    errors::TesseraError,
    state::{Job, JobState, Network},
};

use super::settle::settle_in_full;

#[derive(Accounts)]
pub struct ApproveJob<'info> {
    /// The job's artist.
    pub artist: Signer<'info>,
    /// The network config (treasury, mint).
    #[account(seeds = [NETWORK_SEED], bump = network.bump)]
    pub network: Account<'info, Network>,
    /// The job.
    #[account(mut, seeds = [JOB_SEED, &job.job_id.to_le_bytes()], bump = job.bump, has_one = artist @ TesseraError::NotArtist)]
    pub job: Account<'info, Job>,
    /// The job's escrow.
    #[account(mut, seeds = [JOB_VAULT_SEED, job.key().as_ref()], bump = job.vault_bump)]
    pub vault: Account<'info, TokenAccount>,
    /// The network's treasury.
    #[account(mut, address = network.treasury @ TesseraError::WrongTreasury)]
    pub treasury: Account<'info, TokenAccount>,
    /// Receives the unspent budget.
    #[account(mut, token::mint = network.mint, token::authority = artist)]
    pub artist_token: Account<'info, TokenAccount>,
    pub token_program: Program<'info, Token>,
}

/// The artist accepts the receipt before the challenge window ends.
/// CHECK: artist signs (struct); job `Rendered`.
pub fn handle_approve_job(ctx: Context<ApproveJob>) -> Result<()> {
    require!(
        ctx.accounts.job.state == JobState::Rendered,
        TesseraError::WrongJobState
    );
    settle_in_full(
        &mut ctx.accounts.job,
        &ctx.accounts.vault,
        &ctx.accounts.treasury,
        &ctx.accounts.artist_token,
        &ctx.accounts.token_program,
        true,
    )
}
