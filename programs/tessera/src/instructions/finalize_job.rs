use anchor_lang::prelude::*;
use anchor_spl::token::{Token, TokenAccount};

use crate::{
    constants::*,
    errors::TesseraError,
    events::DisputeResolved,
    state::{Job, JobState, Network},
};

use super::settle::{end_dispute, settle, settle_in_full};

#[derive(Accounts)]
pub struct FinalizeJob<'info> {
    /// The network config (treasury, mint; open disputes when applying a dispute's default).
    #[account(mut, seeds = [NETWORK_SEED], bump = network.bump)]
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

/// Anyone settles a job once its challenge window has passed without a dispute, or once a
/// dispute's resolution deadline has passed without the admin resolving it. The default
/// outcome of an unresolved dispute is that the receipt stands (nodes paid in full, the
/// unspent budget refunded) and the bond goes to the treasury: the receipt was signed by the
/// job's orchestrator over verified tiles, so an absent admin must not turn a dispute into a
/// free render; the forfeited bond is what makes a dispute cost something when nobody judges
/// it upheld.
/// CHECK: job `Rendered` and window over (`ChallengeWindowOpen`), or job `Disputed` and its
/// resolution deadline passed (`ResolutionPending`).
pub fn handle_finalize_job(ctx: Context<FinalizeJob>) -> Result<()> {
    let now = Clock::get()?.unix_timestamp;
    let job = &ctx.accounts.job;
    match job.state {
        JobState::Rendered => {
            require!(
                now >= job.challenge_ends_at,
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
        JobState::Disputed => {
            require!(now > job.dispute_ends_at, TesseraError::ResolutionPending);
            let (_fee, refund) = settle(
                &mut ctx.accounts.job,
                &ctx.accounts.vault,
                &ctx.accounts.treasury,
                &ctx.accounts.artist_token,
                &ctx.accounts.token_program,
                BPS_DENOMINATOR as u16,
                JobState::Resolved,
            )?;
            end_dispute(
                &mut ctx.accounts.network,
                &mut ctx.accounts.job,
                &ctx.accounts.vault,
                &ctx.accounts.treasury,
                &ctx.accounts.token_program,
            )?;
            emit!(DisputeResolved {
                job: ctx.accounts.job.key(),
                refund,
                bond_returned: false,
                by_default: true,
            });
            Ok(())
        }
        _ => err!(TesseraError::WrongJobState),
    }
}
