use anchor_lang::prelude::*;
use anchor_spl::token::{Mint, TokenAccount};

use crate::{
    constants::*, errors::TesseraError, events::NetworkInitialized, pda_init, state::Network,
};

/// The tunable part of the network configuration.
#[derive(AnchorSerialize, AnchorDeserialize, Clone, Debug)]
pub struct NetworkParams {
    pub orchestrator: Pubkey,
    pub fee_bps: u16,
    pub min_stake: u64,
    pub challenge_window: i64,
    pub unstake_cooldown: i64,
    pub claim_grace: i64,
}

impl NetworkParams {
    pub fn validate(&self) -> Result<()> {
        require!(self.fee_bps <= MAX_FEE_BPS, TesseraError::FeeTooHigh);
        for period in [
            self.challenge_window,
            self.unstake_cooldown,
            self.claim_grace,
        ] {
            require!(
                (0..=MAX_PERIOD_SECONDS).contains(&period),
                TesseraError::InvalidPeriod
            );
        }
        Ok(())
    }
}

#[derive(Accounts)]
pub struct InitializeNetwork<'info> {
    /// Becomes the network admin; pays for the config account.
    #[account(mut)]
    pub admin: Signer<'info>,
    /// The network config, created by the handler once per deployment.
    /// CHECK: address pinned by the seeds; created in the handler even when someone
    /// pre-funded it (`pda_init::create_pda`), so lamports sent there cannot block set-up.
    #[account(mut, seeds = [NETWORK_SEED], bump)]
    pub network: UncheckedAccount<'info>,
    /// The network's token.
    pub mint: Account<'info, Mint>,
    /// Receives protocol fees; must hold the network's token.
    #[account(token::mint = mint)]
    pub treasury: Account<'info, TokenAccount>,
    pub system_program: Program<'info, System>,
}

/// Creates the network config.
/// CHECK: fee ≤ cap; periods within bounds; treasury holds the mint (struct).
pub fn handle_initialize_network(
    ctx: Context<InitializeNetwork>,
    args: NetworkParams,
) -> Result<()> {
    args.validate()?;
    let network_info = ctx.accounts.network.to_account_info();
    pda_init::create_pda(
        &ctx.accounts.admin.to_account_info(),
        &network_info,
        &ctx.accounts.system_program.to_account_info(),
        8 + Network::INIT_SPACE,
        &crate::ID,
        &[NETWORK_SEED, &[ctx.bumps.network]],
    )?;
    let network = Network {
        admin: ctx.accounts.admin.key(),
        mint: ctx.accounts.mint.key(),
        orchestrator: args.orchestrator,
        treasury: ctx.accounts.treasury.key(),
        fee_bps: args.fee_bps,
        min_stake: args.min_stake,
        challenge_window: args.challenge_window,
        unstake_cooldown: args.unstake_cooldown,
        claim_grace: args.claim_grace,
        paused: false,
        next_job_id: 0,
        bump: ctx.bumps.network,
    };
    network.try_serialize(&mut &mut network_info.try_borrow_mut_data()?[..])?;
    emit!(NetworkInitialized {
        network: network_info.key(),
        admin: network.admin,
        mint: network.mint,
    });
    Ok(())
}
