use anchor_lang::prelude::*;
use anchor_spl::token::{Token, TokenAccount};

use crate::{
    constants::*,
    errors::TesseraError,
    events::DisputeResolved,
    state::{Job, JobState, Network},
};

use super::settle::{end_dispute, settle};

#[derive(Accounts)]
pub struct ResolveDispute<'info> {
    /// The network admin.
    pub admin: Signer<'info>,
    /// The network config.
    #[account(mut, seeds = [NETWORK_SEED], bump = network.bump, has_one = admin @ TesseraError::NotAdmin)]
    pub network: Account<'info, Network>,
    /// The disputed job.
    #[account(mut, seeds = [JOB_SEED, &job.job_id.to_le_bytes()], bump = job.bump)]
    pub job: Account<'info, Job>,
    /// The job's escrow.
    #[account(mut, seeds = [JOB_VAULT_SEED, job.key().as_ref()], bump = job.vault_bump)]
    pub vault: Account<'info, TokenAccount>,
    /// The network's treasury (fee; the bond of a rejected dispute).
    #[account(mut, address = network.treasury @ TesseraError::WrongTreasury)]
    pub treasury: Account<'info, TokenAccount>,
    /// Receives the refund, and the bond when the dispute is upheld.
    #[account(mut, token::mint = network.mint, token::authority = job.artist)]
    pub artist_token: Account<'info, TokenAccount>,
    pub token_program: Program<'info, Token>,
}

/// Ends a dispute before its resolution deadline: `refund_bps` of the payout goes back to the
/// artist (nodes are paid the rest pro rata). A dispute with any refund is upheld and its bond
/// returned to the artist; one with none is rejected and its bond goes to the treasury.
/// It settles money only: it slashes no stake. Slashing a node will need evidence against
/// that node (a later change, issue 14), not the admin's word in a refund dispute.
/// CHECK: admin signs (struct); job `Disputed`; not past the job's resolution deadline
/// (`ResolutionDeadlinePassed`); refund ≤ 100%; the network's open dispute count goes down
/// by one.
pub fn handle_resolve_dispute(ctx: Context<ResolveDispute>, refund_bps: u16) -> Result<()> {
    let job = &ctx.accounts.job;
    require!(job.state == JobState::Disputed, TesseraError::WrongJobState);
    require!(
        Clock::get()?.unix_timestamp <= job.dispute_ends_at,
        TesseraError::ResolutionDeadlinePassed
    );
    require!(
        refund_bps as u64 <= BPS_DENOMINATOR,
        TesseraError::InvalidRefundShare
    );
    let share_bps = BPS_DENOMINATOR as u16 - refund_bps;
    let upheld = refund_bps > 0;
    let (_fee, refund) = settle(
        &mut ctx.accounts.job,
        &ctx.accounts.vault,
        &ctx.accounts.treasury,
        &ctx.accounts.artist_token,
        &ctx.accounts.token_program,
        share_bps,
        JobState::Resolved,
    )?;
    let bond_to = if upheld {
        &ctx.accounts.artist_token
    } else {
        &ctx.accounts.treasury
    };
    end_dispute(
        &mut ctx.accounts.network,
        &mut ctx.accounts.job,
        &ctx.accounts.vault,
        bond_to,
        &ctx.accounts.token_program,
    )?;
    emit!(DisputeResolved {
        job: ctx.accounts.job.key(),
        refund,
        bond_returned: upheld,
        by_default: false,
    });
    Ok(())
}
