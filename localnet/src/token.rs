//! SPL Token account reading shared by the RPC layer and the transaction recorder.
use solana_account::{AccountSharedData, ReadableAccount};
use solana_account_decoder::parse_account_data::SplTokenAdditionalDataV2;
use solana_account_decoder::parse_token::{token_amount_to_ui_amount_v3, UiTokenAmount};
use solana_program_pack::Pack;
use solana_pubkey::Pubkey;
use spl_token_interface::state::{Account as TokenAccount, Mint};

/// Token-2022 program id (its accounts share the first 165 bytes of the SPL Token layout).
pub const TOKEN_2022_ID: Pubkey =
    solana_pubkey::pubkey!("TokenzQdBNbLqP5VEhdkAS6EPFLC1PHnBqCXEpPxuEb");

/// Whether `owner` is one of the token programs.
pub fn is_token_program(owner: &Pubkey) -> bool {
    *owner == spl_token_interface::ID || *owner == TOKEN_2022_ID
}

/// The SPL Token account state held by `account`, if it is one.
pub fn token_account(account: &AccountSharedData) -> Option<TokenAccount> {
    if !is_token_program(account.owner()) || account.data().len() < TokenAccount::LEN {
        return None;
    }
    TokenAccount::unpack_from_slice(&account.data()[..TokenAccount::LEN]).ok()
}

/// The decimals of a mint account, if it is one.
pub fn mint_decimals(account: &AccountSharedData) -> Option<u8> {
    if !is_token_program(account.owner()) || account.data().len() < Mint::LEN {
        return None;
    }
    Mint::unpack_from_slice(&account.data()[..Mint::LEN])
        .ok()
        .map(|m| m.decimals)
}

/// `UiTokenAmount` exactly as Agave's RPC renders it.
pub fn ui_amount(amount: u64, decimals: u8) -> UiTokenAmount {
    token_amount_to_ui_amount_v3(amount, &SplTokenAdditionalDataV2::with_decimals(decimals))
}
