use anchor_lang::prelude::*;

use crate::{
    constants::NETWORK_SEED, errors::TesseraError, events::NetworkUpdated, state::Network,
};

#[derive(Accounts)]
pub struct ApplyNetworkUpdate<'info> {
    /// The network config.
    #[account(mut, seeds = [NETWORK_SEED], bump = network.bump)]
    pub network: Account<'info, Network>,
}

/// Anyone makes a proposed configuration current once its timelock has passed, so nodes and
/// artists see every change `PARAMS_TIMELOCK` ahead (and running jobs never see it).
/// CHECK: a proposal is pending (`NoPendingUpdate`); its effective time has come
/// (`TimelockRunning`); it passed `validate` when proposed (bounds are constants).
pub fn handle_apply_network_update(ctx: Context<ApplyNetworkUpdate>) -> Result<()> {
    let network = &mut ctx.accounts.network;
    let pending = network
        .pending_params
        .take()
        .ok_or(TesseraError::NoPendingUpdate)?;
    require!(
        Clock::get()?.unix_timestamp >= network.pending_effective_at,
        TesseraError::TimelockRunning
    );
    network.set_params(&pending);
    network.pending_effective_at = 0;
    emit!(NetworkUpdated {
        network: network.key(),
        paused: network.paused,
        fee_bps: network.fee_bps,
    });
    Ok(())
}
