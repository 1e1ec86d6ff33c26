//! SPL Token set-up instructions (mint and token accounts) used by migrations, the demo and tests.
use solana_program_pack::Pack;
use solana_sdk::{instruction::Instruction, pubkey::Pubkey};

/// Creates and initialises `mint` (a new keypair account) with `authority` as mint authority.
pub fn create_mint(
    payer: &Pubkey,
    mint: &Pubkey,
    authority: &Pubkey,
    decimals: u8,
    rent_lamports: u64,
) -> Vec<Instruction> {
    let space = spl_token_interface::state::Mint::LEN as u64;
    vec![
        solana_system_interface::instruction::create_account(
            payer,
            mint,
            rent_lamports,
            space,
            &spl_token_interface::ID,
        ),
        spl_token_interface::instruction::initialize_mint2(
            &spl_token_interface::ID,
            mint,
            authority,
            None,
            decimals,
        )
        .expect("valid mint instruction"),
    ]
}

/// Creates and initialises `account` (a new keypair account) holding `mint` for `owner`.
pub fn create_token_account(
    payer: &Pubkey,
    account: &Pubkey,
    mint: &Pubkey,
    owner: &Pubkey,
    rent_lamports: u64,
) -> Vec<Instruction> {
    let space = spl_token_interface::state::Account::LEN as u64;
    vec![
        solana_system_interface::instruction::create_account(
            payer,
            account,
            rent_lamports,
            space,
            &spl_token_interface::ID,
        ),
        spl_token_interface::instruction::initialize_account3(
            &spl_token_interface::ID,
            account,
            mint,
            owner,
        )
        .expect("valid account instruction"),
    ]
}

pub fn mint_to(mint: &Pubkey, to: &Pubkey, authority: &Pubkey, amount: u64) -> Instruction {
    spl_token_interface::instruction::mint_to(
        &spl_token_interface::ID,
        mint,
        to,
        authority,
        &[],
        amount,
    )
    .expect("valid mint_to instruction")
}

/// Bytes of a mint and of a token account, for rent queries.
pub const MINT_LEN: usize = spl_token_interface::state::Mint::LEN;
pub const ACCOUNT_LEN: usize = spl_token_interface::state::Account::LEN;

/// The associated token account of `wallet` for `mint`: where the tools keep a wallet's tokens.
pub fn associated_account(wallet: &Pubkey, mint: &Pubkey) -> Pubkey {
    spl_associated_token_account_interface::address::get_associated_token_address(wallet, mint)
}

/// Creates `wallet`'s associated token account for `mint` unless it exists (idempotent).
pub fn create_associated_account(payer: &Pubkey, wallet: &Pubkey, mint: &Pubkey) -> Instruction {
    spl_associated_token_account_interface::instruction::create_associated_token_account_idempotent(
        payer,
        wallet,
        mint,
        &spl_token_interface::ID,
    )
}

/// The mint of a token account's data, if it decodes.
pub fn account_mint(data: &[u8]) -> Option<Pubkey> {
    spl_token_interface::state::Account::unpack(data)
        .ok()
        .map(|a| a.mint)
}

/// The amount a token account's data holds, if it decodes.
pub fn account_amount(data: &[u8]) -> Option<u64> {
    spl_token_interface::state::Account::unpack(data)
        .ok()
        .map(|a| a.amount)
}

/// The decimals of a mint's data, if it decodes.
pub fn mint_decimals(data: &[u8]) -> Option<u8> {
    spl_token_interface::state::Mint::unpack(data)
        .ok()
        .map(|m| m.decimals)
}

/// Moves SOL (lamports) from `from` to `to`.
pub fn transfer_sol(from: &Pubkey, to: &Pubkey, lamports: u64) -> Instruction {
    solana_system_interface::instruction::transfer(from, to, lamports)
}

/// Base units as tokens with every decimal shown ("1.500000" at 6 decimals).
pub fn format_amount(units: u64, decimals: u8) -> String {
    if decimals == 0 {
        return units.to_string();
    }
    let scale = 10u64.pow(decimals as u32);
    format!(
        "{}.{:0width$}",
        units / scale,
        units % scale,
        width = decimals as usize
    )
}
