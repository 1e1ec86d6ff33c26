//! Account reads: balances, account data, program scans, token balances.
use jsonrpc_core::{Error, IoHandler, Value};
use solana_account::{AccountSharedData, ReadableAccount};
use solana_account_decoder::parse_account_data::{
    AccountAdditionalDataV3, SplTokenAdditionalDataV2,
};
use solana_account_decoder::{encode_ui_account, UiAccount, UiAccountEncoding};
use solana_pubkey::Pubkey;
use solana_rpc_client_api::config::{RpcAccountInfoConfig, RpcProgramAccountsConfig};
use solana_rpc_client_api::filter::RpcFilterType;
use solana_rpc_client_api::response::RpcKeyedAccount;

use super::{pubkey, register, to_value, with_context, Args, Ctx, RpcResult};
use crate::bank::Chain;
use crate::token;

/// Most keys `getMultipleAccounts` accepts, as on a validator.
const MAX_MULTIPLE_ACCOUNTS: usize = 100;

pub fn register_all(io: &mut IoHandler, ctx: &Ctx) {
    register(io, "getBalance", ctx, get_balance);
    register(io, "getAccountInfo", ctx, get_account_info);
    register(io, "getMultipleAccounts", ctx, get_multiple_accounts);
    register(io, "getProgramAccounts", ctx, get_program_accounts);
    register(io, "getTokenAccountBalance", ctx, get_token_account_balance);
}

/// Encodes one account as Agave does, including `jsonParsed` for token accounts.
fn encode(
    chain: &Chain,
    key: &Pubkey,
    account: &AccountSharedData,
    config: &RpcAccountInfoConfig,
) -> RpcResult<UiAccount> {
    let encoding = config.encoding.unwrap_or(UiAccountEncoding::Binary);
    if matches!(
        encoding,
        UiAccountEncoding::Binary | UiAccountEncoding::Base58
    ) && account.data().len() > 128
    {
        return Err(Error::invalid_params(
            "Encoded binary (base 58) data should be less than 128 bytes, please use Base64 \
             encoding.",
        ));
    }
    let additional = if encoding == UiAccountEncoding::JsonParsed {
        token::token_account(account).and_then(|state| {
            let decimals = chain
                .bank()
                .get_account(&state.mint)
                .and_then(|m| token::mint_decimals(&m))?;
            Some(AccountAdditionalDataV3 {
                spl_token_additional_data: Some(SplTokenAdditionalDataV2::with_decimals(decimals)),
            })
        })
    } else {
        None
    };
    Ok(encode_ui_account(
        key,
        account,
        encoding,
        additional,
        config.data_slice,
    ))
}

async fn get_balance(ctx: Ctx, args: Args) -> RpcResult<Value> {
    let key = pubkey(&args.req::<String>(0)?)?;
    let (slot, lamports) = ctx
        .with(move |c| {
            let bank = c.bank();
            (bank.slot(), bank.get_balance(&key))
        })
        .await?;
    Ok(with_context(slot, lamports))
}

async fn get_account_info(ctx: Ctx, args: Args) -> RpcResult<Value> {
    let key = pubkey(&args.req::<String>(0)?)?;
    let config: RpcAccountInfoConfig = args.opt(1)?.unwrap_or_default();
    ctx.with(move |c| {
        let bank = c.bank();
        let account = bank
            .get_account(&key)
            .filter(|a| a.lamports() > 0)
            .map(|a| encode(c, &key, &a, &config))
            .transpose()?;
        Ok(with_context(bank.slot(), account))
    })
    .await?
}

async fn get_multiple_accounts(ctx: Ctx, args: Args) -> RpcResult<Value> {
    let keys: Vec<String> = args.req(0)?;
    if keys.len() > MAX_MULTIPLE_ACCOUNTS {
        return Err(Error::invalid_params(format!(
            "Too many inputs provided; max {MAX_MULTIPLE_ACCOUNTS}"
        )));
    }
    let keys = keys
        .iter()
        .map(|k| pubkey(k))
        .collect::<RpcResult<Vec<_>>>()?;
    let config: RpcAccountInfoConfig = args.opt(1)?.unwrap_or_default();
    ctx.with(move |c| {
        let bank = c.bank();
        let accounts = keys
            .iter()
            .map(|key| {
                bank.get_account(key)
                    .filter(|a| a.lamports() > 0)
                    .map(|a| encode(c, key, &a, &config))
                    .transpose()
            })
            .collect::<RpcResult<Vec<_>>>()?;
        Ok(with_context(bank.slot(), accounts))
    })
    .await?
}

/// Whether `account` passes every filter (Agave's semantics).
fn passes(filters: &[RpcFilterType], account: &AccountSharedData) -> bool {
    filters.iter().all(|f| match f {
        RpcFilterType::DataSize(size) => account.data().len() as u64 == *size,
        RpcFilterType::Memcmp(m) => m.bytes_match(account.data()),
        RpcFilterType::TokenAccountState => token::token_account(account).is_some(),
    })
}

async fn get_program_accounts(ctx: Ctx, args: Args) -> RpcResult<Value> {
    let program = pubkey(&args.req::<String>(0)?)?;
    let config: RpcProgramAccountsConfig = args.opt(1)?.unwrap_or_default();
    let filters = config.filters.clone().unwrap_or_default();
    if filters.len() > 4 {
        return Err(Error::invalid_params("Too many filters provided; max 4"));
    }
    for filter in &filters {
        filter
            .verify()
            .map_err(|e| Error::invalid_params(format!("Invalid param: {e:?}")))?;
    }
    ctx.with(move |c| {
        let slot = c.bank().slot();
        let mut found = c.program_accounts(&program, |a| a.lamports() > 0 && passes(&filters, a));
        if config.sort_results.unwrap_or(true) {
            found.sort_by_key(|(k, _)| *k);
        }
        let keyed = found
            .iter()
            .map(|(key, account)| {
                Ok(RpcKeyedAccount {
                    pubkey: key.to_string(),
                    account: encode(c, key, account, &config.account_config)?,
                })
            })
            .collect::<RpcResult<Vec<_>>>()?;
        if config.with_context.unwrap_or(false) {
            Ok(with_context(slot, keyed))
        } else {
            to_value(keyed)
        }
    })
    .await?
}

async fn get_token_account_balance(ctx: Ctx, args: Args) -> RpcResult<Value> {
    let key = pubkey(&args.req::<String>(0)?)?;
    ctx.with(move |c| {
        let bank = c.bank();
        let account = bank
            .get_account(&key)
            .ok_or_else(|| Error::invalid_params("Invalid param: could not find account"))?;
        let state = token::token_account(&account)
            .ok_or_else(|| Error::invalid_params("Invalid param: not a Token account"))?;
        let decimals = bank
            .get_account(&state.mint)
            .and_then(|m| token::mint_decimals(&m))
            .ok_or_else(|| Error::invalid_params("Invalid param: could not find mint"))?;
        Ok(with_context(
            bank.slot(),
            token::ui_amount(state.amount, decimals),
        ))
    })
    .await?
}
