use anchor_lang::prelude::*;

use crate::{constants::NETWORK_SEED, errors::TesseraError, events::AdminChanged, state::Network};

#[derive(Accounts)]
pub struct AcceptAdmin<'info> {
    /// The key the admin proposed with `update_network { new_admin }`.
    pub new_admin: Signer<'info>,
    /// The network config.
    #[account(mut, seeds = [NETWORK_SEED], bump = network.bump)]
    pub network: Account<'info, Network>,
}

/// Second step of an admin handover: the proposed key signs and becomes the admin. Until
/// then the old admin stays admin (and may propose another key instead), so a mistyped key
/// never locks the network.
/// CHECK: a proposal is pending and the signer is the proposed key; the proposal is cleared.
pub fn handle_accept_admin(ctx: Context<AcceptAdmin>) -> Result<()> {
    let network = &mut ctx.accounts.network;
    let signer = ctx.accounts.new_admin.key();
    require!(
        network.pending_admin == Some(signer),
        TesseraError::NotPendingAdmin
    );
    let previous = network.admin;
    network.admin = signer;
    network.pending_admin = None;
    emit!(AdminChanged {
        network: network.key(),
        previous,
        admin: signer,
    });
    Ok(())
}
