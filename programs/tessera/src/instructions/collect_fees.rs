use anchor_lang::prelude::*;
use anchor_spl::token::{Token, TokenAccount};

use crate::{constants::*, errors::TesseraError, events::FeesCollected, state::Network, vault};

#[derive(Accounts)]
pub struct CollectFees<'info> {
    /// The network admin.
    pub admin: Signer<'info>,
    /// The network config: the treasury's authority.
    #[account(seeds = [NETWORK_SEED], bump = network.bump, has_one = admin @ TesseraError::NotAdmin)]
    pub network: Account<'info, Network>,
    /// The protocol's fee account (PDA `["treasury"]`).
    #[account(mut, address = network.treasury @ TesseraError::WrongTreasury)]
    pub treasury: Account<'info, TokenAccount>,
    /// Receives the fees: any account of the network's token.
    #[account(mut, token::mint = network.mint)]
    pub to: Account<'info, TokenAccount>,
    pub token_program: Program<'info, Token>,
}

/// The admin takes collected fees out of the treasury. The treasury itself is a program
/// account that no one can close, so settlement (which pays fees into it) never stops.
/// CHECK: admin signs (struct); amount > 0 (SPL Token refuses more than the balance).
pub fn handle_collect_fees(ctx: Context<CollectFees>, amount: u64) -> Result<()> {
    require!(amount > 0, TesseraError::ZeroAmount);
    let network = &ctx.accounts.network;
    let seeds: &[&[u8]] = &[NETWORK_SEED, &[network.bump]];
    vault::pay_from(
        &ctx.accounts.token_program,
        &ctx.accounts.treasury,
        &ctx.accounts.to,
        &network.to_account_info(),
        seeds,
        amount,
    )?;
    emit!(FeesCollected {
        to: ctx.accounts.to.key(),
        amount
    });
    Ok(())
}
