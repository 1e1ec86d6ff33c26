//! Transactions: send, simulate, statuses, history, airdrops.
use base64::Engine;
use jsonrpc_core::{Error, IoHandler, Value};
use solana_account_decoder::{encode_ui_account, UiAccountEncoding};
use solana_rpc_client_api::config::{
    RpcEncodingConfigWrapper, RpcSendTransactionConfig, RpcSignaturesForAddressConfig,
    RpcSimulateTransactionConfig, RpcTransactionConfig,
};
use solana_rpc_client_api::custom_error::RpcCustomError;
use solana_rpc_client_api::response::{
    RpcBlockhash, RpcConfirmedTransactionStatusWithSignature, RpcSimulateTransactionResult,
};
use solana_transaction::versioned::VersionedTransaction;
use solana_transaction_status::{
    ConfirmedTransactionWithStatusMeta, EncodeError, TransactionConfirmationStatus,
    TransactionStatus, TransactionWithStatusMeta, UiInnerInstructions, UiTransactionEncoding,
    VersionedTransactionWithStatusMeta,
};

use super::{internal, pubkey, register, to_value, with_context, Args, Ctx, RpcResult};
use crate::bank::{SendError, SimDetails};
use crate::store::TxRecord;

/// Most signatures `getSignatureStatuses` accepts, as on a validator.
const MAX_SIGNATURE_STATUSES: usize = 256;
/// Most entries `getSignaturesForAddress` returns, as on a validator.
const MAX_SIGNATURES_FOR_ADDRESS: usize = 1_000;
/// Largest airdrop the faucet grants in one request (as `solana-test-validator`: none; a
/// bound keeps typos from draining it).
const MAX_AIRDROP_LAMPORTS: u64 = 1_000_000 * 1_000_000_000;

pub fn register_all(io: &mut IoHandler, ctx: &Ctx) {
    register(io, "sendTransaction", ctx, send_transaction);
    register(io, "simulateTransaction", ctx, simulate_transaction);
    register(io, "getSignatureStatuses", ctx, get_signature_statuses);
    register(
        io,
        "getSignaturesForAddress",
        ctx,
        get_signatures_for_address,
    );
    register(io, "getTransaction", ctx, get_transaction);
    register(io, "requestAirdrop", ctx, request_airdrop);
}

/// Decodes a wire transaction the way Agave's `decode_and_deserialize` does.
fn decode(data: &str, encoding: UiTransactionEncoding) -> RpcResult<VersionedTransaction> {
    let bytes = match encoding {
        UiTransactionEncoding::Base58 | UiTransactionEncoding::Binary => bs58::decode(data)
            .into_vec()
            .map_err(|e| Error::invalid_params(format!("invalid base58 encoding: {e:?}")))?,
        UiTransactionEncoding::Base64 => base64::engine::general_purpose::STANDARD
            .decode(data)
            .map_err(|e| Error::invalid_params(format!("invalid base64 encoding: {e:?}")))?,
        other => {
            return Err(Error::invalid_params(format!(
                "unsupported encoding: {other}. Supported encodings: base58, base64"
            )))
        }
    };
    bincode::deserialize(&bytes).map_err(|e| {
        Error::invalid_params(format!(
            "failed to deserialize solana_transaction::versioned::VersionedTransaction: {e}"
        ))
    })
}

/// The RPC error a validator answers for a refused transaction.
pub fn send_error(e: SendError) -> Error {
    match e {
        SendError::Invalid(err) => Error::invalid_params(format!("invalid transaction: {err}")),
        SendError::SignatureFailure => {
            RpcCustomError::TransactionSignatureVerificationFailure.into()
        }
        SendError::Preflight { err, details } => {
            let SimDetails {
                logs,
                units_consumed,
                loaded_accounts_data_size,
                return_data,
                fee,
            } = *details;
            RpcCustomError::SendTransactionPreflightFailure {
                message: format!("Transaction simulation failed: {err}"),
                result: RpcSimulateTransactionResult {
                    err: Some(err.into()),
                    logs: Some(logs),
                    accounts: None,
                    units_consumed: Some(units_consumed),
                    loaded_accounts_data_size: Some(loaded_accounts_data_size),
                    return_data: return_data.map(Into::into),
                    inner_instructions: None,
                    replacement_blockhash: None,
                    fee,
                    pre_balances: None,
                    post_balances: None,
                    pre_token_balances: None,
                    post_token_balances: None,
                    loaded_addresses: None,
                },
            }
            .into()
        }
        SendError::Dropped(err) => internal(format!("transaction dropped: {err}")),
        SendError::Store(err) => internal(err),
    }
}

async fn send_transaction(ctx: Ctx, args: Args) -> RpcResult<Value> {
    let data: String = args.req(0)?;
    let config: RpcSendTransactionConfig = args.opt(1)?.unwrap_or_default();
    let tx = decode(
        &data,
        config.encoding.unwrap_or(UiTransactionEncoding::Base58),
    )?;
    let signature = tx.signatures.first().copied().unwrap_or_default();
    let preflight = !config.skip_preflight;
    let result = ctx.with(move |c| c.send(tx, preflight)).await?;
    match result {
        Ok(committed) => Ok(Value::from(committed.signature)),
        // A validator accepts a transaction sent without preflight and then drops it.
        Err(SendError::Dropped(err)) => {
            tracing::debug!(%signature, %err, "dropped a transaction sent without preflight");
            Ok(Value::from(signature.to_string()))
        }
        Err(e) => Err(send_error(e)),
    }
}

async fn simulate_transaction(ctx: Ctx, args: Args) -> RpcResult<Value> {
    let data: String = args.req(0)?;
    let config: RpcSimulateTransactionConfig = args.opt(1)?.unwrap_or_default();
    if config.sig_verify && config.replace_recent_blockhash {
        return Err(Error::invalid_params(
            "sigVerify may not be used with replaceRecentBlockhash",
        ));
    }
    let tx = decode(
        &data,
        config.encoding.unwrap_or(UiTransactionEncoding::Base58),
    )?;
    ctx.with(move |c| {
        let (sim, keys, replaced) = c
            .simulate(tx, config.sig_verify, config.replace_recent_blockhash)
            .map_err(send_error)?;
        let bank = c.bank();
        let accounts = match &config.accounts {
            None => None,
            Some(wanted) => {
                let encoding = wanted.encoding.unwrap_or(UiAccountEncoding::Base64);
                let mut out = Vec::new();
                for address in &wanted.addresses {
                    let key = pubkey(address)?;
                    let account = sim
                        .post_simulation_accounts
                        .iter()
                        .find(|(k, _)| *k == key)
                        .map(|(_, a)| a.clone())
                        .or_else(|| bank.get_account(&key));
                    out.push(account.map(|a| encode_ui_account(&key, &a, encoding, None, None)));
                }
                Some(out)
            }
        };
        let _ = keys;
        let inner_instructions = if config.inner_instructions {
            sim.inner_instructions.map(|list| {
                solana_transaction_status::map_inner_instructions(list)
                    .map(UiInnerInstructions::from)
                    .collect()
            })
        } else {
            None
        };
        let result = RpcSimulateTransactionResult {
            err: sim.result.err().map(Into::into),
            logs: Some(sim.logs),
            accounts,
            units_consumed: Some(sim.units_consumed),
            loaded_accounts_data_size: Some(sim.loaded_accounts_data_size),
            return_data: sim.return_data.map(Into::into),
            inner_instructions,
            replacement_blockhash: replaced.map(|hash| RpcBlockhash {
                blockhash: hash.to_string(),
                last_valid_block_height: bank
                    .get_blockhash_last_valid_block_height(&hash)
                    .unwrap_or_default(),
            }),
            fee: sim.fee,
            pre_balances: sim.pre_balances,
            post_balances: sim.post_balances,
            pre_token_balances: None,
            post_token_balances: None,
            loaded_addresses: None,
        };
        Ok(with_context(bank.slot(), result))
    })
    .await?
}

fn status_of(record: &TxRecord) -> TransactionStatus {
    // One node, no forks, every committed transaction is already durable: it is final.
    TransactionStatus {
        slot: record.slot,
        confirmations: None,
        status: match &record.meta.err {
            None => Ok(()),
            Some(e) => Err(e.clone()),
        },
        err: record.meta.err.clone(),
        confirmation_status: Some(TransactionConfirmationStatus::Finalized),
    }
}

async fn get_signature_statuses(ctx: Ctx, args: Args) -> RpcResult<Value> {
    let signatures: Vec<String> = args.req(0)?;
    if signatures.len() > MAX_SIGNATURE_STATUSES {
        return Err(Error::invalid_params(format!(
            "Too many inputs provided; max {MAX_SIGNATURE_STATUSES}"
        )));
    }
    for s in &signatures {
        s.parse::<solana_signature::Signature>()
            .map_err(|e| Error::invalid_params(format!("Invalid param: {e:?}")))?;
    }
    ctx.with(move |c| {
        let statuses = signatures
            .iter()
            .map(|s| {
                Ok(c.store()
                    .transaction(s)
                    .map_err(internal)?
                    .map(|r| status_of(&r)))
            })
            .collect::<RpcResult<Vec<_>>>()?;
        Ok(with_context(c.bank().slot(), statuses))
    })
    .await?
}

async fn get_signatures_for_address(ctx: Ctx, args: Args) -> RpcResult<Value> {
    let address = pubkey(&args.req::<String>(0)?)?;
    let config: RpcSignaturesForAddressConfig = args.opt(1)?.unwrap_or_default();
    let limit = config.limit.unwrap_or(MAX_SIGNATURES_FOR_ADDRESS);
    if limit == 0 || limit > MAX_SIGNATURES_FOR_ADDRESS {
        return Err(Error::invalid_params(format!(
            "Invalid limit; max {MAX_SIGNATURES_FOR_ADDRESS}"
        )));
    }
    let records = ctx
        .with(move |c| {
            c.store().signatures_for_address(
                &address,
                config.before.as_deref(),
                config.until.as_deref(),
                limit,
            )
        })
        .await?
        .map_err(internal)?;
    let out: Vec<RpcConfirmedTransactionStatusWithSignature> = records
        .into_iter()
        .map(|r| RpcConfirmedTransactionStatusWithSignature {
            signature: r.signature,
            slot: r.slot,
            err: r.meta.err.map(Into::into),
            memo: None,
            block_time: Some(r.block_time),
            confirmation_status: Some(TransactionConfirmationStatus::Finalized),
        })
        .collect();
    to_value(out)
}

async fn get_transaction(ctx: Ctx, args: Args) -> RpcResult<Value> {
    let signature: String = args.req(0)?;
    signature
        .parse::<solana_signature::Signature>()
        .map_err(|e| Error::invalid_params(format!("Invalid param: {e:?}")))?;
    let config: RpcTransactionConfig = args
        .opt::<RpcEncodingConfigWrapper<RpcTransactionConfig>>(1)?
        .map(|w| w.convert_to_current())
        .unwrap_or_default();
    let record = ctx
        .with(move |c| c.store().transaction(&signature))
        .await?
        .map_err(internal)?;
    let Some(record) = record else {
        return Ok(Value::Null);
    };
    let confirmed = ConfirmedTransactionWithStatusMeta {
        slot: record.slot,
        block_time: Some(record.block_time),
        tx_with_meta: TransactionWithStatusMeta::Complete(VersionedTransactionWithStatusMeta {
            meta: record.meta.to_status_meta(),
            transaction: record.transaction,
        }),
    };
    let encoded = confirmed
        .encode(
            config.encoding.unwrap_or(UiTransactionEncoding::Json),
            config.max_supported_transaction_version,
        )
        .map_err(|EncodeError::UnsupportedTransactionVersion(v)| {
            Error::from(RpcCustomError::UnsupportedTransactionVersion(v))
        })?;
    to_value(encoded)
}

async fn request_airdrop(ctx: Ctx, args: Args) -> RpcResult<Value> {
    let to = pubkey(&args.req::<String>(0)?)?;
    let lamports: u64 = args.req(1)?;
    if lamports == 0 || lamports > MAX_AIRDROP_LAMPORTS {
        return Err(Error::invalid_params(format!(
            "airdrop amount must be between 1 and {MAX_AIRDROP_LAMPORTS} lamports"
        )));
    }
    let committed = ctx
        .with(move |c| c.airdrop(&to, lamports))
        .await?
        .map_err(send_error)?;
    Ok(Value::from(committed.signature))
}
