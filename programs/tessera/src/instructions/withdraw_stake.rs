use anchor_lang::prelude::*;
use anchor_spl::token::{Token, TokenAccount};

use crate::{
    constants::*,
    errors::TesseraError,
    events::StakeWithdrawn,
    state::{Network, Node},
    vault,
};

#[derive(Accounts)]
pub struct WithdrawStake<'info> {
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
    /// Receives the tokens.
    #[account(mut, token::mint = network.mint, token::authority = operator)]
    pub operator_token: Account<'info, TokenAccount>,
    pub token_program: Program<'info, Token>,
}

/// Pays out a pending unstake once its cooldown has passed. Disputes elsewhere in the network
/// do not hold it: a dispute slashes nothing, and what a node can still be slashed for (its
/// jobs' slash windows, which a dispute never extends: it ends by `challenge_ends_at + r`, the
/// window's end) is held by its own stake lock.
/// CHECK: operator signs (struct); a request is pending; cooldown elapsed; the amount
/// is capped by the (possibly slashed) stake; the stake left covers the stake locked by
/// recent receipts, whose slash windows are still open (`StakeLocked`).
pub fn handle_withdraw_stake(ctx: Context<WithdrawStake>) -> Result<()> {
    let node = &mut ctx.accounts.node;
    require!(node.unstake_amount > 0, TesseraError::NoUnstakePending);
    let now = Clock::get()?.unix_timestamp;
    require!(
        now >= node.unstake_available_at,
        TesseraError::CooldownNotElapsed
    );
    let amount = node.unstake_amount.min(node.stake);
    require!(
        node.stake - amount >= node.locked_at(now),
        TesseraError::StakeLocked
    );
    node.stake = node
        .stake
        .checked_sub(amount)
        .ok_or(TesseraError::ArithmeticError)?;
    node.unstake_amount = 0;
    node.unstake_available_at = 0;

    let node_key = node.node_key;
    let seeds: &[&[u8]] = &[NODE_SEED, node_key.as_ref(), &[node.bump]];
    vault::pay_from(
        &ctx.accounts.token_program,
        &ctx.accounts.stake_vault,
        &ctx.accounts.operator_token,
        &ctx.accounts.node.to_account_info(),
        seeds,
        amount,
    )?;
    emit!(StakeWithdrawn {
        node_key,
        amount,
        stake: ctx.accounts.node.stake
    });
    Ok(())
}
