//! Host-only entry point with the signature `solana-program-test`'s `processor!` expects.
//!
//! Anchor 1.2's generated `entry<'info>` ties the program id, the accounts and the data to one
//! lifetime, while `processor!` wants a higher-ranked `fn(&Pubkey, &[AccountInfo], &[u8])`.
//! The program keeps no reference past the call, so widening the lifetimes is sound here.
use anchor_lang::prelude::Pubkey;
use anchor_lang::solana_program::{account_info::AccountInfo, entrypoint::ProgramResult};

/// Runs one Tessera instruction natively (tests and the local development chain).
pub fn process_instruction(
    program_id: &Pubkey,
    accounts: &[AccountInfo],
    data: &[u8],
) -> ProgramResult {
    // SAFETY: `entry` only borrows its arguments for the duration of this call.
    let (program_id, accounts, data): (
        &'static Pubkey,
        &'static [AccountInfo<'static>],
        &'static [u8],
    ) = unsafe { std::mem::transmute((program_id, accounts, data)) };
    crate::entry(program_id, accounts, data)
}
