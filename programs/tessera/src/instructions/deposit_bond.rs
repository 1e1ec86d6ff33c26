use anchor_lang::prelude::*;
use anchor_spl::token::{self, Mint, Token, TokenAccount, Transfer};

use crate::{
    constants::*,
    errors::TesseraError,
    events::BondDeposited,
    pda_init,
    state::{Network, OrchestratorBond},
    vault,
};

#[derive(Accounts)]
#[instruction(orchestrator: Pubkey)]
pub struct DepositBond<'info> {
    /// Anyone may top up an orchestrator's bond; pays the tokens (and the rent the first time).
    #[account(mut)]
    pub depositor: Signer<'info>,
    /// The network config (its mint is the bond's token).
    #[account(seeds = [NETWORK_SEED], bump = network.bump, has_one = mint @ TesseraError::WrongMint)]
    pub network: Account<'info, Network>,
    /// The network's token.
    pub mint: Account<'info, Mint>,
    /// The orchestrator's bond record, created by the first deposit.
    /// CHECK: address pinned by the seeds; created in the handler even when pre-funded
    /// (`pda_init::create_pda`), otherwise read as an `OrchestratorBond` of this program.
    #[account(mut, seeds = [ORCHESTRATOR_BOND_SEED, orchestrator.as_ref()], bump)]
    pub bond: UncheckedAccount<'info>,
    /// The bond's token account (authority: the bond record), created with the record.
    /// CHECK: address pinned by the seeds; created and initialised in the handler, its mint
    /// and authority then fixed by SPL Token.
    #[account(mut, seeds = [BOND_VAULT_SEED, orchestrator.as_ref()], bump)]
    pub bond_vault: UncheckedAccount<'info>,
    /// The depositor's tokens.
    #[account(mut, token::mint = mint, token::authority = depositor)]
    pub depositor_token: Account<'info, TokenAccount>,
    pub token_program: Program<'info, Token>,
    pub system_program: Program<'info, System>,
}

/// Adds `amount` to `orchestrator`'s bond, creating the bond record and its vault on the
/// first deposit. Allowed while the network is paused: receipts of running jobs need bonds.
/// CHECK: amount > 0 (`ZeroAmount`); the mint is the network's (struct); bond and vault at
/// their PDAs (struct seeds); an existing record is this program's `OrchestratorBond`
/// (owner and discriminator, `Account::try_from`); the balance does not overflow.
pub fn handle_deposit_bond(
    ctx: Context<DepositBond>,
    orchestrator: Pubkey,
    amount: u64,
) -> Result<()> {
    require!(amount > 0, TesseraError::ZeroAmount);
    if ctx.accounts.bond.owner != &crate::ID {
        create_bond(&ctx, orchestrator)?;
    }
    // Owner (checked above or just created) and discriminator: only `create_bond` makes them.
    OrchestratorBond::try_deserialize(&mut &ctx.accounts.bond.try_borrow_data()?[..])?;
    let vault_info = ctx.accounts.bond_vault.to_account_info();
    let before = TokenAccount::try_deserialize(&mut &vault_info.try_borrow_data()?[..])?.amount;
    let balance = before
        .checked_add(amount)
        .ok_or(TesseraError::ArithmeticError)?;
    token::transfer(
        CpiContext::new(
            ctx.accounts.token_program.key(),
            Transfer {
                from: ctx.accounts.depositor_token.to_account_info(),
                to: vault_info,
                authority: ctx.accounts.depositor.to_account_info(),
            },
        ),
        amount,
    )?;
    emit!(BondDeposited {
        orchestrator,
        depositor: ctx.accounts.depositor.key(),
        amount,
        balance,
    });
    Ok(())
}

/// Creates the bond record and its vault (token account of the network's mint owned by the
/// record), both tolerating a pre-funded address.
fn create_bond(ctx: &Context<DepositBond>, orchestrator: Pubkey) -> Result<()> {
    let payer = ctx.accounts.depositor.to_account_info();
    let system = ctx.accounts.system_program.to_account_info();
    let info = ctx.accounts.bond.to_account_info();
    pda_init::create_pda(
        &payer,
        &info,
        &system,
        8 + OrchestratorBond::INIT_SPACE,
        &crate::ID,
        &[
            ORCHESTRATOR_BOND_SEED,
            orchestrator.as_ref(),
            &[ctx.bumps.bond],
        ],
    )?;
    vault::create_vault(
        &payer,
        &ctx.accounts.bond_vault.to_account_info(),
        &system,
        ctx.accounts.token_program.key(),
        ctx.accounts.mint.to_account_info(),
        &info,
        &[
            BOND_VAULT_SEED,
            orchestrator.as_ref(),
            &[ctx.bumps.bond_vault],
        ],
    )?;
    let record = OrchestratorBond {
        orchestrator,
        vault: ctx.accounts.bond_vault.key(),
        locked_amount: 0,
        locked_until: 0,
        paid_out: 0,
        bump: ctx.bumps.bond,
        vault_bump: ctx.bumps.bond_vault,
    };
    record.try_serialize(&mut &mut info.try_borrow_mut_data()?[..])?;
    Ok(())
}
