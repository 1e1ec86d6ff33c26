//! Cluster-level reads: health, version, slots, epochs, blockhashes, fees, rent.
use jsonrpc_core::{IoHandler, Value};
use solana_clock::MAX_PROCESSING_AGE;
use solana_epoch_info::EpochInfo;
use solana_hash::Hash;
use solana_message::VersionedMessage;
use solana_rpc_client_api::response::{RpcBlockhash, RpcVersionInfo};
use solana_signature::Signature;
use solana_transaction::versioned::VersionedTransaction;
use solana_transaction::TransactionVerificationMode;

use super::{register, to_value, with_context, Args, Ctx, RpcResult};

pub fn register_all(io: &mut IoHandler, ctx: &Ctx) {
    register(io, "getHealth", ctx, |_, _| async { Ok(Value::from("ok")) });
    register(io, "getVersion", ctx, |_, _| async {
        to_value(RpcVersionInfo {
            solana_core: "3.1.12".to_string(),
            feature_set: None,
        })
    });
    register(io, "getSlot", ctx, get_slot);
    register(io, "getBlockHeight", ctx, get_block_height);
    register(io, "getEpochInfo", ctx, get_epoch_info);
    register(io, "getLatestBlockhash", ctx, get_latest_blockhash);
    register(io, "isBlockhashValid", ctx, is_blockhash_valid);
    register(io, "getFeeForMessage", ctx, get_fee_for_message);
    register(
        io,
        "getMinimumBalanceForRentExemption",
        ctx,
        get_minimum_balance_for_rent_exemption,
    );
    register(io, "getTransactionCount", ctx, get_transaction_count);
    register(io, "getGenesisHash", ctx, |ctx, _| async move {
        let hash = ctx.with(|c| c.genesis_hash()).await?;
        Ok(Value::from(hash.to_string()))
    });
}

async fn get_slot(ctx: Ctx, _: Args) -> RpcResult<Value> {
    Ok(Value::from(ctx.with(|c| c.bank().slot()).await?))
}

async fn get_block_height(ctx: Ctx, _: Args) -> RpcResult<Value> {
    Ok(Value::from(ctx.with(|c| c.bank().block_height()).await?))
}

async fn get_transaction_count(ctx: Ctx, _: Args) -> RpcResult<Value> {
    let n = ctx.with(|c| c.store().transaction_count()).await?;
    Ok(Value::from(n.map_err(super::internal)?))
}

async fn get_epoch_info(ctx: Ctx, _: Args) -> RpcResult<Value> {
    let info = ctx
        .with(|c| {
            let bank = c.bank();
            let (epoch, slot_index) = bank.get_epoch_and_slot_index(bank.slot());
            EpochInfo {
                epoch,
                slot_index,
                slots_in_epoch: bank.get_slots_in_epoch(epoch),
                absolute_slot: bank.slot(),
                block_height: bank.block_height(),
                transaction_count: c.store().transaction_count().ok(),
            }
        })
        .await?;
    to_value(info)
}

async fn get_latest_blockhash(ctx: Ctx, _: Args) -> RpcResult<Value> {
    let (slot, blockhash, last_valid_block_height) = ctx
        .with(|c| {
            let bank = c.bank();
            let hash = bank.last_blockhash();
            let last_valid = bank
                .get_blockhash_last_valid_block_height(&hash)
                .unwrap_or_default();
            (bank.slot(), hash, last_valid)
        })
        .await?;
    Ok(with_context(
        slot,
        RpcBlockhash {
            blockhash: blockhash.to_string(),
            last_valid_block_height,
        },
    ))
}

async fn is_blockhash_valid(ctx: Ctx, args: Args) -> RpcResult<Value> {
    let hash: String = args.req(0)?;
    let hash: Hash = hash
        .parse()
        .map_err(|e| jsonrpc_core::Error::invalid_params(format!("Invalid param: {e:?}")))?;
    let (slot, valid) = ctx
        .with(move |c| {
            let bank = c.bank();
            (
                bank.slot(),
                bank.is_hash_valid_for_age(&hash, MAX_PROCESSING_AGE),
            )
        })
        .await?;
    Ok(with_context(slot, valid))
}

async fn get_fee_for_message(ctx: Ctx, args: Args) -> RpcResult<Value> {
    use base64::Engine;
    let data: String = args.req(0)?;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(data)
        .map_err(|e| {
            jsonrpc_core::Error::invalid_params(format!("invalid base64 encoding: {e}"))
        })?;
    let message: VersionedMessage = bincode::deserialize(&bytes).map_err(|e| {
        jsonrpc_core::Error::invalid_params(format!("failed to deserialize message: {e}"))
    })?;
    let (slot, fee) = ctx
        .with(move |c| {
            let bank = c.bank();
            let signers = usize::from(message.header().num_required_signatures);
            let tx = VersionedTransaction {
                signatures: vec![Signature::default(); signers],
                message,
            };
            let fee = bank
                .verify_transaction(tx, TransactionVerificationMode::HashOnly)
                .ok()
                .and_then(|tx| bank.get_fee_for_message(tx.message()));
            (bank.slot(), fee)
        })
        .await?;
    Ok(with_context(slot, fee))
}

async fn get_minimum_balance_for_rent_exemption(ctx: Ctx, args: Args) -> RpcResult<Value> {
    let len: usize = args.req(0)?;
    let lamports = ctx
        .with(move |c| c.bank().get_minimum_balance_for_rent_exemption(len))
        .await?;
    Ok(Value::from(lamports))
}
