use anchor_lang::prelude::*;
use anchor_spl::token::TokenAccount;

use crate::{
    constants::NETWORK_SEED, errors::TesseraError, events::NetworkUpdated, state::Network,
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
    pub paused: Option<bool>,
}

#[derive(Accounts)]
pub struct UpdateNetwork<'info> {
    /// The current admin.
    pub admin: Signer<'info>,
    /// The network config.
    #[account(mut, seeds = [NETWORK_SEED], bump = network.bump, has_one = admin @ TesseraError::NotAdmin)]
    pub network: Account<'info, Network>,
    /// A new treasury, when it changes; must hold the network's token.
    #[account(token::mint = network.mint)]
    pub new_treasury: Option<Account<'info, TokenAccount>>,
}

/// Changes the configuration. Running jobs keep the fee, orchestrator and periods they were
/// created with; `new_admin` only proposes (see `accept_admin`).
/// CHECK: admin signs (struct); the result passes the same bounds as at set-up.
pub fn handle_update_network(ctx: Context<UpdateNetwork>, args: NetworkUpdate) -> Result<()> {
    let network = &mut ctx.accounts.network;
    let merged = NetworkParams {
        orchestrator: args.orchestrator.unwrap_or(network.orchestrator),
        fee_bps: args.fee_bps.unwrap_or(network.fee_bps),
        min_stake: args.min_stake.unwrap_or(network.min_stake),
        challenge_window: args.challenge_window.unwrap_or(network.challenge_window),
        unstake_cooldown: args.unstake_cooldown.unwrap_or(network.unstake_cooldown),
        claim_grace: args.claim_grace.unwrap_or(network.claim_grace),
    };
    merged.validate()?;
    network.orchestrator = merged.orchestrator;
    network.fee_bps = merged.fee_bps;
    network.min_stake = merged.min_stake;
    network.challenge_window = merged.challenge_window;
    network.unstake_cooldown = merged.unstake_cooldown;
    network.claim_grace = merged.claim_grace;
    if let Some(admin) = args.new_admin {
        network.pending_admin = Some(admin);
    }
    if let Some(paused) = args.paused {
        network.paused = paused;
    }
    if let Some(treasury) = &ctx.accounts.new_treasury {
        network.treasury = treasury.key();
    }
    emit!(NetworkUpdated {
        network: network.key(),
        paused: network.paused,
        fee_bps: network.fee_bps,
    });
    Ok(())
}
