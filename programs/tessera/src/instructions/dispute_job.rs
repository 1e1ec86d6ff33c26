use anchor_lang::prelude::*;
use anchor_spl::token::{self, Token, TokenAccount, Transfer};

use crate::{
    constants::*,
    errors::TesseraError,
    events::JobDisputed,
    state::{Job, JobState, Network},
};

#[derive(Accounts)]
pub struct DisputeJob<'info> {
    /// The job's artist; pays the bond.
    pub artist: Signer<'info>,
    /// The network config: counts open disputes (a statistic).
    #[account(mut, seeds = [NETWORK_SEED], bump = network.bump)]
    pub network: Account<'info, Network>,
    /// The job.
    #[account(mut, seeds = [JOB_SEED, &job.job_id.to_le_bytes()], bump = job.bump, has_one = artist @ TesseraError::NotArtist)]
    pub job: Account<'info, Job>,
    /// The job's escrow: holds the bond until the dispute ends.
    #[account(mut, seeds = [JOB_VAULT_SEED, job.key().as_ref()], bump = job.vault_bump)]
    pub vault: Account<'info, TokenAccount>,
    /// The artist's tokens, from which the bond is paid.
    #[account(mut, token::mint = vault.mint, token::authority = artist)]
    pub artist_token: Account<'info, TokenAccount>,
    pub token_program: Program<'info, Token>,
}

/// The artist disputes a receipt inside the challenge window, posting the job's bond (fixed at
/// creation) into the escrow. The admin has the job's resolution period to resolve it; after
/// that anyone applies the default outcome (`finalize_job`: the receipt stands, the bond goes
/// to the treasury).
/// CHECK: artist signs (struct); job `Rendered`; window still open; the bond is transferred
/// (SPL Token refuses an artist who cannot pay it); the network's open dispute count goes up
/// by one. The job's slash window (`receipt + w + r`) is not extended: the dispute ends by
/// `now + r < challenge_ends_at + r`, so its nodes' stake locks already cover it.
pub fn handle_dispute_job(ctx: Context<DisputeJob>, reason: u16) -> Result<()> {
    let job = &mut ctx.accounts.job;
    require!(job.state == JobState::Rendered, TesseraError::WrongJobState);
    let now = Clock::get()?.unix_timestamp;
    require!(
        now < job.challenge_ends_at,
        TesseraError::ChallengeWindowClosed
    );
    token::transfer(
        CpiContext::new(
            ctx.accounts.token_program.key(),
            Transfer {
                from: ctx.accounts.artist_token.to_account_info(),
                to: ctx.accounts.vault.to_account_info(),
                authority: ctx.accounts.artist.to_account_info(),
            },
        ),
        job.dispute_bond,
    )?;
    job.state = JobState::Disputed;
    job.dispute_reason = reason;
    job.bond = job.dispute_bond;
    job.dispute_ends_at = now
        .checked_add(job.resolution_period)
        .ok_or(TesseraError::ArithmeticError)?;
    let network = &mut ctx.accounts.network;
    network.open_disputes = network
        .open_disputes
        .checked_add(1)
        .ok_or(TesseraError::ArithmeticError)?;
    emit!(JobDisputed {
        job: job.key(),
        reason,
        bond: job.bond,
        resolve_by: job.dispute_ends_at,
    });
    Ok(())
}
