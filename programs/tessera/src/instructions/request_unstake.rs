use anchor_lang::prelude::*;

use crate::{
    constants::*,
    errors::TesseraError,
    events::UnstakeRequested,
    state::{Network, Node},
};

#[derive(Accounts)]
pub struct RequestUnstake<'info> {
    /// The node's operator.
    pub operator: Signer<'info>,
    /// The network config (cooldown).
    #[account(seeds = [NETWORK_SEED], bump = network.bump)]
    pub network: Account<'info, Network>,
    /// The node record.
    #[account(mut, seeds = [NODE_SEED, node.node_key.as_ref()], bump = node.bump, has_one = operator @ TesseraError::NotOperator)]
    pub node: Account<'info, Node>,
}

/// Starts the cooldown for withdrawing `amount`. The amount stays slashable until withdrawn.
/// CHECK: operator signs (struct); amount > 0 and ≤ stake; no other request pending; the
/// stake left after it covers the stake locked by recent receipts (`StakeLocked`).
pub fn handle_request_unstake(ctx: Context<RequestUnstake>, amount: u64) -> Result<()> {
    let node = &mut ctx.accounts.node;
    require!(amount > 0, TesseraError::ZeroAmount);
    require!(node.unstake_amount == 0, TesseraError::UnstakePending);
    require!(amount <= node.stake, TesseraError::InsufficientStake);
    let now = Clock::get()?.unix_timestamp;
    require!(
        node.stake - amount >= node.locked_at(now),
        TesseraError::StakeLocked
    );
    node.unstake_amount = amount;
    node.unstake_available_at = now
        .checked_add(ctx.accounts.network.unstake_cooldown)
        .ok_or(TesseraError::ArithmeticError)?;
    emit!(UnstakeRequested {
        node_key: node.node_key,
        amount,
        available_at: node.unstake_available_at
    });
    Ok(())
}
