use anchor_lang::prelude::*;
use anchor_spl::token::{Token, TokenAccount};

use crate::{
    constants::*, errors::TesseraError, events::BondWithdrawn, state::OrchestratorBond, vault,
};

#[derive(Accounts)]
pub struct WithdrawBond<'info> {
    /// The bonded orchestrator key (only it may take its bond out).
    pub orchestrator: Signer<'info>,
    /// The orchestrator's bond record.
    #[account(mut, seeds = [ORCHESTRATOR_BOND_SEED, orchestrator.key().as_ref()], bump = bond.bump, has_one = orchestrator @ TesseraError::NotOrchestrator)]
    pub bond: Account<'info, OrchestratorBond>,
    /// The bond's token account.
    #[account(mut, seeds = [BOND_VAULT_SEED, orchestrator.key().as_ref()], bump = bond.vault_bump)]
    pub bond_vault: Account<'info, TokenAccount>,
    /// Receives the tokens.
    #[account(mut, token::mint = bond_vault.mint)]
    pub to: Account<'info, TokenAccount>,
    pub token_program: Program<'info, Token>,
}

/// Takes `amount` out of the orchestrator's bond once no receipt of it can still be contested
/// or disputed. While locked nothing leaves: the proven shortfalls of any open receipt may
/// need more than the job's minimum.
/// CHECK: the orchestrator signs and the bond is its own (struct seeds and `has_one`);
/// amount > 0 (`ZeroAmount`); past `locked_until` (`BondLocked`); amount ≤ the vault's
/// balance (`InsufficientBond`).
pub fn handle_withdraw_bond(ctx: Context<WithdrawBond>, amount: u64) -> Result<()> {
    require!(amount > 0, TesseraError::ZeroAmount);
    let now = Clock::get()?.unix_timestamp;
    let bond = &ctx.accounts.bond;
    require!(!bond.is_locked(now), TesseraError::BondLocked);
    let balance = ctx.accounts.bond_vault.amount;
    require!(amount <= balance, TesseraError::InsufficientBond);
    let orchestrator = bond.orchestrator;
    let seeds: &[&[u8]] = &[ORCHESTRATOR_BOND_SEED, orchestrator.as_ref(), &[bond.bump]];
    vault::pay_from(
        &ctx.accounts.token_program,
        &ctx.accounts.bond_vault,
        &ctx.accounts.to,
        &ctx.accounts.bond.to_account_info(),
        seeds,
        amount,
    )?;
    emit!(BondWithdrawn {
        orchestrator,
        amount,
        balance: balance - amount,
    });
    Ok(())
}
