//! Settlement shared by `approve_job` and `finalize_job` (and the money part of
//! `resolve_dispute`): the fee goes to the treasury, the unspent budget back to the artist,
//! and the vault keeps exactly what the payout leaves may claim.
use anchor_lang::prelude::*;
use anchor_spl::token::{Token, TokenAccount};

use crate::{
    constants::BPS_DENOMINATOR,
    errors::TesseraError,
    events::JobSettled,
    state::{bps_of, Job, JobState, Network},
    vault,
};

/// Pays the fee on the kept share of the payout and refunds the rest of the budget, less what
/// upheld contests took and, while contests are still open, the room they may still take.
/// `share_bps` is the part of every payout leaf that nodes will be paid. Claims stay open for
/// the job's own claim grace (fixed at creation), whatever the network's is now.
/// Returns `(fee, refund)`.
pub fn settle<'info>(
    job: &mut Account<'info, Job>,
    vault_account: &Account<'info, TokenAccount>,
    treasury: &Account<'info, TokenAccount>,
    artist_token: &Account<'info, TokenAccount>,
    token_program: &Program<'info, Token>,
    share_bps: u16,
    final_state: JobState,
) -> Result<(u64, u64)> {
    require!(
        share_bps as u64 <= BPS_DENOMINATOR,
        TesseraError::InvalidRefundShare
    );
    let now = Clock::get()?.unix_timestamp;
    let kept = bps_of(job.total_payout, share_bps as u64)?;
    let fee = job.fee_on(kept)?;
    // Contests stay open until the window ends: their room under the cap stays in the vault
    // (returned by `close_job`), and what contests were paid already is no longer there.
    let reserve = if now < job.challenge_ends_at {
        job.contest_room()?
    } else {
        0
    };
    let refund = job
        .budget
        .checked_sub(kept)
        .and_then(|r| r.checked_sub(fee))
        .and_then(|r| r.checked_sub(job.contested_paid))
        .and_then(|r| r.checked_sub(reserve))
        .ok_or(TesseraError::PayoutExceedsEscrow)?;
    let authority = job.to_account_info();
    job.with_signer(|seeds| {
        vault::pay_from(
            token_program,
            vault_account,
            treasury,
            &authority,
            seeds,
            fee,
        )?;
        vault::pay_from(
            token_program,
            vault_account,
            artist_token,
            &authority,
            seeds,
            refund,
        )
    })?;
    job.fee_paid = fee;
    job.payout_share_bps = share_bps;
    job.settled_at = now;
    job.claims_end_at = now
        .checked_add(job.claim_grace)
        .ok_or(TesseraError::ArithmeticError)?;
    job.state = final_state;
    Ok((fee, refund))
}

/// `settle` in full (no dispute), with its event.
pub fn settle_in_full<'info>(
    job: &mut Account<'info, Job>,
    vault_account: &Account<'info, TokenAccount>,
    treasury: &Account<'info, TokenAccount>,
    artist_token: &Account<'info, TokenAccount>,
    token_program: &Program<'info, Token>,
    by_artist: bool,
) -> Result<()> {
    let (fee, refund) = settle(
        job,
        vault_account,
        treasury,
        artist_token,
        token_program,
        BPS_DENOMINATOR as u16,
        JobState::Settled,
    )?;
    emit!(JobSettled {
        job: job.key(),
        fee,
        refund,
        by_artist
    });
    Ok(())
}

/// Closes a dispute's books: the bond held in the vault goes to `bond_to` (the artist when
/// upheld, the treasury otherwise) and the network's open dispute count goes down by one.
pub fn end_dispute<'info>(
    network: &mut Account<'info, Network>,
    job: &mut Account<'info, Job>,
    vault_account: &Account<'info, TokenAccount>,
    bond_to: &Account<'info, TokenAccount>,
    token_program: &Program<'info, Token>,
) -> Result<()> {
    let bond = job.bond;
    let authority = job.to_account_info();
    job.with_signer(|seeds| {
        vault::pay_from(
            token_program,
            vault_account,
            bond_to,
            &authority,
            seeds,
            bond,
        )
    })?;
    job.bond = 0;
    network.open_disputes = network
        .open_disputes
        .checked_sub(1)
        .ok_or(TesseraError::ArithmeticError)?;
    Ok(())
}
