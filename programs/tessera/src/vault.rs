//! PDA-owned token vaults (job escrow, node stake): creation, and token movements out of
//! them signed by the PDA.
use anchor_lang::prelude::*;
use anchor_spl::token::{self, CloseAccount, InitializeAccount3, Token, TokenAccount, Transfer};

/// Creates the token account `vault` at its PDA (`seeds`, rent paid by `payer`; works on a
/// pre-funded address, see `pda_init`) and initialises it for `mint`, owned by `authority`.
pub fn create_vault<'info>(
    payer: &AccountInfo<'info>,
    vault: &AccountInfo<'info>,
    system_program: &AccountInfo<'info>,
    token_program: Pubkey,
    mint: AccountInfo<'info>,
    authority: &AccountInfo<'info>,
    seeds: &[&[u8]],
) -> Result<()> {
    crate::pda_init::create_pda(
        payer,
        vault,
        system_program,
        TokenAccount::LEN,
        &token_program,
        seeds,
    )?;
    token::initialize_account3(CpiContext::new(
        token_program,
        InitializeAccount3 {
            account: vault.clone(),
            mint,
            authority: authority.clone(),
        },
    ))
}

/// Transfers `amount` from a vault whose authority is the PDA `authority` with `seeds`.
/// Zero amounts are skipped (nothing to move, no CPI spent).
pub fn pay_from<'info>(
    token_program: &Program<'info, Token>,
    vault: &Account<'info, TokenAccount>,
    to: &Account<'info, TokenAccount>,
    authority: &AccountInfo<'info>,
    seeds: &[&[u8]],
    amount: u64,
) -> Result<()> {
    if amount == 0 {
        return Ok(());
    }
    token::transfer(
        CpiContext::new_with_signer(
            token_program.key(),
            Transfer {
                from: vault.to_account_info(),
                to: to.to_account_info(),
                authority: authority.clone(),
            },
            &[seeds],
        ),
        amount,
    )
}

/// Closes an empty vault, sending its rent lamports to `rent_to`.
pub fn close_vault<'info>(
    token_program: &Program<'info, Token>,
    vault: &Account<'info, TokenAccount>,
    rent_to: &AccountInfo<'info>,
    authority: &AccountInfo<'info>,
    seeds: &[&[u8]],
) -> Result<()> {
    token::close_account(CpiContext::new_with_signer(
        token_program.key(),
        CloseAccount {
            account: vault.to_account_info(),
            destination: rent_to.clone(),
            authority: authority.clone(),
        },
        &[seeds],
    ))
}

/// Pays a vault's whole balance to `to`, then closes it (rent to `rent_to`).
/// Returns the amount paid.
pub fn drain_and_close<'info>(
    token_program: &Program<'info, Token>,
    vault: &Account<'info, TokenAccount>,
    to: &Account<'info, TokenAccount>,
    rent_to: &AccountInfo<'info>,
    authority: &AccountInfo<'info>,
    seeds: &[&[u8]],
) -> Result<u64> {
    let amount = vault.amount;
    pay_from(token_program, vault, to, authority, seeds, amount)?;
    close_vault(token_program, vault, rent_to, authority, seeds)?;
    Ok(amount)
}
