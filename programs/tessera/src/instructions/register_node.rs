use anchor_lang::prelude::*;
use anchor_spl::token::{self, Mint, Token, TokenAccount, Transfer};

use crate::{
    constants::*,
    errors::TesseraError,
    events::NodeRegistered,
    state::{Network, Node},
};

#[derive(Accounts)]
pub struct RegisterNode<'info> {
    /// Owns the stake and receives payouts; pays rent.
    #[account(mut)]
    pub operator: Signer<'info>,
    /// The node agent's key; signs to prove the operator controls it.
    pub node_key: Signer<'info>,
    /// The network config.
    #[account(seeds = [NETWORK_SEED], bump = network.bump, has_one = mint @ TesseraError::WrongMint)]
    pub network: Account<'info, Network>,
    /// The network's token.
    pub mint: Account<'info, Mint>,
    /// The node record, created here.
    #[account(init, payer = operator, space = 8 + Node::INIT_SPACE, seeds = [NODE_SEED, node_key.key().as_ref()], bump)]
    pub node: Account<'info, Node>,
    /// The node's stake vault, owned by the node PDA.
    #[account(
        init, payer = operator,
        seeds = [STAKE_VAULT_SEED, node_key.key().as_ref()], bump,
        token::mint = mint, token::authority = node,
    )]
    pub stake_vault: Account<'info, TokenAccount>,
    /// The operator's tokens to stake.
    #[account(mut, token::mint = mint, token::authority = operator)]
    pub operator_token: Account<'info, TokenAccount>,
    pub token_program: Program<'info, Token>,
    pub system_program: Program<'info, System>,
}

/// Registers a node and stakes its first tokens.
/// CHECK: network not paused; operator and node key sign (struct); hardware ≤ 64 bytes;
/// stake ≥ the network minimum.
pub fn handle_register_node(
    ctx: Context<RegisterNode>,
    stake: u64,
    benchmark_score: u64,
    hardware: String,
) -> Result<()> {
    let network = &ctx.accounts.network;
    require!(!network.paused, TesseraError::NetworkPaused);
    require!(
        hardware.len() <= MAX_HARDWARE_LEN,
        TesseraError::HardwareTooLong
    );
    require!(
        stake > 0 && stake >= network.min_stake,
        TesseraError::StakeBelowMinimum
    );

    token::transfer(
        CpiContext::new(
            ctx.accounts.token_program.key(),
            Transfer {
                from: ctx.accounts.operator_token.to_account_info(),
                to: ctx.accounts.stake_vault.to_account_info(),
                authority: ctx.accounts.operator.to_account_info(),
            },
        ),
        stake,
    )?;

    let node = &mut ctx.accounts.node;
    node.set_inner(Node {
        node_key: ctx.accounts.node_key.key(),
        operator: ctx.accounts.operator.key(),
        stake,
        unstake_amount: 0,
        unstake_available_at: 0,
        benchmark_score,
        hardware,
        tiles_rendered: 0,
        faults: 0,
        registered_at: Clock::get()?.unix_timestamp,
        bump: ctx.bumps.node,
        vault_bump: ctx.bumps.stake_vault,
    });
    emit!(NodeRegistered {
        node_key: node.node_key,
        operator: node.operator,
        stake
    });
    Ok(())
}
