use anchor_lang::prelude::*;

use crate::{
    constants::{NETWORK_SEED, PARAMS_TIMELOCK},
    errors::TesseraError,
    events::NetworkUpdated,
    state::Network,
};

use super::NetworkParams;

/// Fields the admin may change; `None` keeps the current value. The mint never changes.
#[derive(AnchorSerialize, AnchorDeserialize, Clone, Debug, Default)]
pub struct NetworkUpdate {
    /// Proposes a new admin; the admin changes only when that key signs `accept_admin`.
    pub new_admin: Option<Pubkey>,
    pub orchestrator: Option<Pubkey>,
    pub fee_bps: Option<u16>,
    pub min_stake: Option<u64>,
    pub challenge_window: Option<i64>,
    pub unstake_cooldown: Option<i64>,
    pub claim_grace: Option<i64>,
    pub settle_grace: Option<i64>,
    pub resolution_period: Option<i64>,
    pub dispute_bond: Option<u64>,
    pub slash_amount: Option<u64>,
    pub verify_bps: Option<u16>,
    pub orchestrator_bond: Option<u64>,
    pub paused: Option<bool>,
}

#[derive(Accounts)]
pub struct UpdateNetwork<'info> {
    /// The current admin.
    pub admin: Signer<'info>,
    /// The network config.
    #[account(mut, seeds = [NETWORK_SEED], bump = network.bump, has_one = admin @ TesseraError::NotAdmin)]
    pub network: Account<'info, Network>,
}

/// Proposes a configuration change. Parameters take effect only through
/// `apply_network_update`, `PARAMS_TIMELOCK` after the proposal (a new proposal replaces the
/// pending one and restarts the delay), and never for running jobs, which keep the copies
/// made at creation. `paused` applies at once (it only stops new money coming in) and
/// `new_admin` only proposes (see `accept_admin`).
/// CHECK: admin signs (struct); the merged parameters pass the same bounds as at set-up.
pub fn handle_update_network(ctx: Context<UpdateNetwork>, args: NetworkUpdate) -> Result<()> {
    let network = &mut ctx.accounts.network;
    let base = network
        .pending_params
        .clone()
        .unwrap_or_else(|| network.params());
    let merged = NetworkParams {
        orchestrator: args.orchestrator.unwrap_or(base.orchestrator),
        fee_bps: args.fee_bps.unwrap_or(base.fee_bps),
        min_stake: args.min_stake.unwrap_or(base.min_stake),
        challenge_window: args.challenge_window.unwrap_or(base.challenge_window),
        unstake_cooldown: args.unstake_cooldown.unwrap_or(base.unstake_cooldown),
        claim_grace: args.claim_grace.unwrap_or(base.claim_grace),
        settle_grace: args.settle_grace.unwrap_or(base.settle_grace),
        resolution_period: args.resolution_period.unwrap_or(base.resolution_period),
        dispute_bond: args.dispute_bond.unwrap_or(base.dispute_bond),
        slash_amount: args.slash_amount.unwrap_or(base.slash_amount),
        verify_bps: args.verify_bps.unwrap_or(base.verify_bps),
        orchestrator_bond: args.orchestrator_bond.unwrap_or(base.orchestrator_bond),
    };
    merged.validate()?;
    if merged != base {
        network.pending_effective_at = Clock::get()?
            .unix_timestamp
            .checked_add(PARAMS_TIMELOCK)
            .ok_or(TesseraError::ArithmeticError)?;
        network.pending_params = Some(merged);
    }
    if let Some(admin) = args.new_admin {
        network.pending_admin = Some(admin);
    }
    if let Some(paused) = args.paused {
        network.paused = paused;
    }
    emit!(NetworkUpdated {
        network: network.key(),
        paused: network.paused,
        fee_bps: network.fee_bps,
    });
    Ok(())
}
