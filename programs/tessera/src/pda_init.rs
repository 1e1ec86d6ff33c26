//! Creating a program-derived account that someone may have pre-funded.
//!
//! Anyone can send lamports to a PDA's address before it exists. Anchor 1.x's `init` then
//! uses the system program's `CreateAccountAllowPrefund` (SIMD-0312), which runtimes without
//! that feature refuse, so a few lamports would block the account forever. Here a pre-funded
//! address is topped up to rent exemption, then allocated and assigned (both signed by the PDA).
use anchor_lang::prelude::*;
use anchor_lang::system_program::{self, Allocate, Assign, CreateAccount, Transfer};

/// Creates `target` (the PDA of `seeds`) with `space` bytes owned by `owner`, paid by `payer`.
/// An address that already holds data fails in the system program (`AccountAlreadyInUse`).
pub fn create_pda<'info>(
    payer: &AccountInfo<'info>,
    target: &AccountInfo<'info>,
    system_program: &AccountInfo<'info>,
    space: usize,
    owner: &Pubkey,
    seeds: &[&[u8]],
) -> Result<()> {
    let rent = Rent::get()?.minimum_balance(space);
    let current = target.lamports();
    let program = system_program.key();
    if current == 0 {
        return system_program::create_account(
            CpiContext::new_with_signer(
                program,
                CreateAccount {
                    from: payer.clone(),
                    to: target.clone(),
                },
                &[seeds],
            ),
            rent,
            space as u64,
            owner,
        );
    }
    if rent > current {
        system_program::transfer(
            CpiContext::new(
                program,
                Transfer {
                    from: payer.clone(),
                    to: target.clone(),
                },
            ),
            rent - current,
        )?;
    }
    system_program::allocate(
        CpiContext::new_with_signer(
            program,
            Allocate {
                account_to_allocate: target.clone(),
            },
            &[seeds],
        ),
        space as u64,
    )?;
    system_program::assign(
        CpiContext::new_with_signer(
            program,
            Assign {
                account_to_assign: target.clone(),
            },
            &[seeds],
        ),
        owner,
    )
}
