use anchor_lang::prelude::*;
use anchor_spl::token::{self, Token, TokenAccount, Transfer};

use crate::{
    constants::*,
    errors::TesseraError,
    events::StakeAdded,
    state::{Network, Node},
};

#[derive(Accounts)]
pub struct AddStake<'info> {
    /// The node's operator.
    pub operator: Signer<'info>,
    /// The network config.
    #[account(seeds = [NETWORK_SEED], bump = network.bump)]
    pub network: Account<'info, Network>,
    /// The node record.
    #[account(mut, seeds = [NODE_SEED, node.node_key.as_ref()], bump = node.bump, has_one = operator @ TesseraError::NotOperator)]
    pub node: Account<'info, Node>,
    /// The node's stake vault.
    #[account(mut, seeds = [STAKE_VAULT_SEED, node.node_key.as_ref()], bump = node.vault_bump)]
    pub stake_vault: Account<'info, TokenAccount>,
    /// The operator's tokens.
    #[account(mut, token::mint = network.mint, token::authority = operator)]
    pub operator_token: Account<'info, TokenAccount>,
    pub token_program: Program<'info, Token>,
}

/// Adds tokens to a node's stake.
/// CHECK: network not paused; amount > 0; operator signs and owns the node (struct); stake sum
/// does not overflow. Records the time (`stake_added_at`, read by `corroborate_tile`).
pub fn handle_add_stake(ctx: Context<AddStake>, amount: u64) -> Result<()> {
    require!(!ctx.accounts.network.paused, TesseraError::NetworkPaused);
    require!(amount > 0, TesseraError::ZeroAmount);
    let node = &mut ctx.accounts.node;
    node.stake = node
        .stake
        .checked_add(amount)
        .ok_or(TesseraError::ArithmeticError)?;
    // Stake added now does not count for witnessing jobs that already exist.
    node.stake_added_at = Clock::get()?.unix_timestamp;
    token::transfer(
        CpiContext::new(
            ctx.accounts.token_program.key(),
            Transfer {
                from: ctx.accounts.operator_token.to_account_info(),
                to: ctx.accounts.stake_vault.to_account_info(),
                authority: ctx.accounts.operator.to_account_info(),
            },
        ),
        amount,
    )?;
    emit!(StakeAdded {
        node_key: node.node_key,
        amount,
        stake: node.stake
    });
    Ok(())
}
