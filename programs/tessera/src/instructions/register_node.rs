use anchor_lang::prelude::*;
use anchor_spl::token::{self, Mint, Token, TokenAccount, Transfer};

use crate::{
    constants::*,
    errors::TesseraError,
    events::NodeRegistered,
    pda_init,
    state::{Network, Node},
    vault,
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
    /// The node record, created by the handler.
    /// CHECK: address pinned by the seeds; created in the handler even when someone
    /// pre-funded it (`pda_init::create_pda`), so lamports sent there cannot block the key.
    #[account(mut, seeds = [NODE_SEED, node_key.key().as_ref()], bump)]
    pub node: UncheckedAccount<'info>,
    /// The node's stake vault (token account of `mint` owned by the node PDA), created by the handler.
    /// CHECK: address pinned by the seeds; created and initialised in the handler.
    #[account(mut, seeds = [STAKE_VAULT_SEED, node_key.key().as_ref()], bump)]
    pub stake_vault: UncheckedAccount<'info>,
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

    let node_info = ctx.accounts.node.to_account_info();
    let vault_info = ctx.accounts.stake_vault.to_account_info();
    let operator_info = ctx.accounts.operator.to_account_info();
    let system = ctx.accounts.system_program.to_account_info();
    let token_program = ctx.accounts.token_program.key();
    let node_key = ctx.accounts.node_key.key();
    pda_init::create_pda(
        &operator_info,
        &node_info,
        &system,
        8 + Node::INIT_SPACE,
        &crate::ID,
        &[NODE_SEED, node_key.as_ref(), &[ctx.bumps.node]],
    )?;
    vault::create_vault(
        &operator_info,
        &vault_info,
        &system,
        token_program,
        ctx.accounts.mint.to_account_info(),
        &node_info,
        &[
            STAKE_VAULT_SEED,
            node_key.as_ref(),
            &[ctx.bumps.stake_vault],
        ],
    )?;

    token::transfer(
        CpiContext::new(
            token_program,
            Transfer {
                from: ctx.accounts.operator_token.to_account_info(),
                to: vault_info,
                authority: operator_info,
            },
        ),
        stake,
    )?;

    let now = Clock::get()?.unix_timestamp;
    let node = Node {
        node_key: ctx.accounts.node_key.key(),
        operator: ctx.accounts.operator.key(),
        stake,
        unstake_amount: 0,
        unstake_available_at: 0,
        benchmark_score,
        hardware,
        tiles_rendered: 0,
        faults: 0,
        locked_stake: 0,
        locked_until: 0,
        registered_at: now,
        stake_added_at: now,
        bump: ctx.bumps.node,
        vault_bump: ctx.bumps.stake_vault,
    };
    node.try_serialize(&mut &mut node_info.try_borrow_mut_data()?[..])?;
    emit!(NodeRegistered {
        node_key: node.node_key,
        operator: node.operator,
        stake
    });
    Ok(())
}
