// `get_program_accounts_with_config` is deprecated in solana-client 3.1 but is what most
// clients (and the Solana CLI) still call: the chain must answer it.
#![allow(deprecated)]
//! The chain over real HTTP with Agave's own `RpcClient`: transfers, SPL Token, history,
//! refusals, malformed requests, filters, the dev clock.
mod common;

use common::*;
use solana_account_decoder::UiAccountEncoding;
use solana_client::client_error::ClientErrorKind;
use solana_client::rpc_config::{RpcAccountInfoConfig, RpcProgramAccountsConfig};
use solana_client::rpc_filter::{Memcmp, RpcFilterType};
use solana_client::rpc_request::{RpcError, RpcResponseErrorData};
use solana_hash::Hash;
use solana_instruction::error::InstructionError;
use solana_keypair::Keypair;
use solana_rpc_client_api::config::RpcTransactionConfig;
use solana_signer::Signer;
use solana_transaction::Transaction;
use solana_transaction_error::TransactionError;
use solana_transaction_status::{option_serializer::OptionSerializer, UiTransactionEncoding};
use tessera_localnet::Config;

const SOL: u64 = 1_000_000_000;

/// The JSON-RPC error code and the preflight error (if any) of a failed send.
fn rpc_error(err: &solana_client::client_error::ClientError) -> (i64, Option<TransactionError>) {
    match err.kind() {
        ClientErrorKind::RpcError(RpcError::RpcResponseError { code, data, .. }) => {
            let tx_err = match data {
                RpcResponseErrorData::SendTransactionPreflightFailure(r) => {
                    r.err.clone().map(|e| e.into())
                }
                _ => None,
            };
            (*code, tx_err)
        }
        other => panic!("not an RPC response error: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn system_transfer_records_balances_logs_and_history() {
    let (net, rpc) = start(Config::ephemeral().unwrap()).await;
    assert_eq!(rpc.get_health().await.unwrap(), ());
    let alice = funded(&rpc, 10 * SOL).await;
    assert_eq!(rpc.get_balance(&alice.pubkey()).await.unwrap(), 10 * SOL);

    let bob = Keypair::new();
    let ix =
        solana_system_interface::instruction::transfer(&alice.pubkey(), &bob.pubkey(), 3 * SOL);
    let tx = signed(&rpc, &[ix], &alice, &[]).await;
    let sig = send(&rpc, &tx).await;

    let fee = rpc.get_fee_for_message(&tx.message).await.unwrap();
    assert_eq!(fee, 5_000, "one signature at 5000 lamports");
    assert_eq!(rpc.get_balance(&bob.pubkey()).await.unwrap(), 3 * SOL);
    assert_eq!(
        rpc.get_balance(&alice.pubkey()).await.unwrap(),
        7 * SOL - fee
    );

    let statuses = rpc.get_signature_statuses(&[sig]).await.unwrap().value;
    let status = statuses[0].clone().expect("status known");
    assert!(status.err.is_none());

    let got = rpc
        .get_transaction_with_config(
            &sig,
            RpcTransactionConfig {
                encoding: Some(UiTransactionEncoding::Base64),
                commitment: None,
                max_supported_transaction_version: Some(0),
            },
        )
        .await
        .unwrap();
    let meta = got.transaction.meta.expect("meta");
    assert_eq!(meta.fee, fee);
    assert_eq!(meta.pre_balances[0], 10 * SOL);
    assert_eq!(meta.post_balances[0], 7 * SOL - fee);
    assert_eq!(meta.post_balances[1], 3 * SOL);
    let OptionSerializer::Some(logs) = meta.log_messages else {
        panic!("logs recorded")
    };
    assert!(
        logs.iter()
            .any(|l| l.contains("11111111111111111111111111111111 success")),
        "{logs:?}"
    );
    let decoded = got
        .transaction
        .transaction
        .decode()
        .expect("base64 decodes");
    assert_eq!(decoded.signatures[0], sig);

    let history = rpc.get_signatures_for_address(&bob.pubkey()).await.unwrap();
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].signature, sig.to_string());
    let alice_history = rpc
        .get_signatures_for_address(&alice.pubkey())
        .await
        .unwrap();
    assert_eq!(alice_history.len(), 2, "airdrop and transfer");
    assert_eq!(alice_history[0].signature, sig.to_string(), "newest first");
    net.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spl_token_mint_transfer_and_program_account_filters() {
    let (net, rpc) = start(Config::ephemeral().unwrap()).await;
    let payer = funded(&rpc, 10 * SOL).await;
    let mint = create_mint(&rpc, &payer, 6).await;
    let other_mint = create_mint(&rpc, &payer, 0).await;
    let owner_b = Keypair::new();
    let a = create_token_account(&rpc, &payer, &mint.pubkey(), &payer.pubkey()).await;
    let b = create_token_account(&rpc, &payer, &mint.pubkey(), &owner_b.pubkey()).await;
    let _c = create_token_account(&rpc, &payer, &other_mint.pubkey(), &payer.pubkey()).await;

    let ixs = [
        spl_token_interface::instruction::mint_to(
            &spl_token_interface::ID,
            &mint.pubkey(),
            &a.pubkey(),
            &payer.pubkey(),
            &[],
            5_000_000,
        )
        .unwrap(),
        spl_token_interface::instruction::transfer(
            &spl_token_interface::ID,
            &a.pubkey(),
            &b.pubkey(),
            &payer.pubkey(),
            &[],
            1_250_000,
        )
        .unwrap(),
    ];
    let tx = signed(&rpc, &ixs, &payer, &[]).await;
    let sig = send(&rpc, &tx).await;

    let bal_a = rpc.get_token_account_balance(&a.pubkey()).await.unwrap();
    assert_eq!(bal_a.amount, "3750000");
    assert_eq!(bal_a.decimals, 6);
    assert_eq!(bal_a.ui_amount_string, "3.75");
    let bal_b = rpc.get_token_account_balance(&b.pubkey()).await.unwrap();
    assert_eq!(bal_b.amount, "1250000");

    // The runtime's token balances are recorded with the transaction.
    let got = rpc
        .get_transaction(&sig, UiTransactionEncoding::Json)
        .await
        .unwrap();
    let meta = got.transaction.meta.unwrap();
    let OptionSerializer::Some(post) = meta.post_token_balances else {
        panic!("post token balances")
    };
    assert!(post.iter().any(|b| b.ui_token_amount.amount == "1250000"));

    // Over-spending is refused by the real SPL Token program with its own error code.
    let too_much = spl_token_interface::instruction::transfer(
        &spl_token_interface::ID,
        &b.pubkey(),
        &a.pubkey(),
        &owner_b.pubkey(),
        &[],
        9_999_999,
    )
    .unwrap();
    let tx = signed(&rpc, &[too_much], &payer, &[&owner_b]).await;
    let err = rpc.send_transaction(&tx).await.unwrap_err();
    assert_eq!(
        rpc_error(&err),
        (
            -32002,
            Some(TransactionError::InstructionError(
                0,
                InstructionError::Custom(1)
            ))
        ),
        "SPL Token InsufficientFunds = Custom(1)"
    );

    // getProgramAccounts: dataSize + memcmp on the mint (offset 0) and owner (offset 32).
    let by_mint = |mint: solana_pubkey::Pubkey, extra: Option<RpcFilterType>| {
        let mut filters = vec![
            RpcFilterType::DataSize(165),
            RpcFilterType::Memcmp(Memcmp::new_base58_encoded(0, mint.as_ref())),
        ];
        filters.extend(extra);
        RpcProgramAccountsConfig {
            filters: Some(filters),
            account_config: RpcAccountInfoConfig {
                encoding: Some(UiAccountEncoding::Base64),
                ..Default::default()
            },
            ..Default::default()
        }
    };
    let found = rpc
        .get_program_accounts_with_config(&spl_token_interface::ID, by_mint(mint.pubkey(), None))
        .await
        .unwrap();
    let mut keys: Vec<_> = found.iter().map(|(k, _)| *k).collect();
    keys.sort();
    let mut want = vec![a.pubkey(), b.pubkey()];
    want.sort();
    assert_eq!(keys, want);
    let found = rpc
        .get_program_accounts_with_config(
            &spl_token_interface::ID,
            by_mint(
                mint.pubkey(),
                Some(RpcFilterType::Memcmp(Memcmp::new_base58_encoded(
                    32,
                    owner_b.pubkey().as_ref(),
                ))),
            ),
        )
        .await
        .unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].0, b.pubkey());
    let mints = rpc
        .get_program_accounts_with_config(
            &spl_token_interface::ID,
            RpcProgramAccountsConfig {
                filters: Some(vec![RpcFilterType::DataSize(82)]),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    // Genesis also holds the wrapped-SOL native mint, as on every cluster.
    let native_mint = spl_token_interface::native_mint::ID;
    let ours: Vec<_> = mints.iter().filter(|(k, _)| k != &native_mint).collect();
    assert_eq!(ours.len(), 2, "two mints besides the native mint");
    assert_eq!(mints.len(), 3);
    net.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_transactions_error_like_a_validator() {
    let (net, rpc) = start(Config::ephemeral().unwrap()).await;
    let alice = funded(&rpc, 5 * SOL).await;
    let bob = Keypair::new();
    let transfer = |lamports| {
        solana_system_interface::instruction::transfer(&alice.pubkey(), &bob.pubkey(), lamports)
    };

    // Bad signature: signed by someone else, presented as alice's.
    let mut tx = signed(&rpc, &[transfer(1)], &alice, &[]).await;
    tx.signatures[0] = Keypair::new().sign_message(&tx.message_data());
    let err = rpc.send_transaction(&tx).await.unwrap_err();
    assert_eq!(rpc_error(&err).0, -32003);

    // Stale (unknown) blockhash.
    let tx = Transaction::new_signed_with_payer(
        &[transfer(1)],
        Some(&alice.pubkey()),
        &[&alice],
        Hash::new_unique(),
    );
    let err = rpc.send_transaction(&tx).await.unwrap_err();
    assert_eq!(
        rpc_error(&err),
        (-32002, Some(TransactionError::BlockhashNotFound))
    );

    // Duplicate signature.
    let tx = signed(&rpc, &[transfer(SOL)], &alice, &[]).await;
    send(&rpc, &tx).await;
    let err = rpc.send_transaction(&tx).await.unwrap_err();
    assert_eq!(
        rpc_error(&err),
        (-32002, Some(TransactionError::AlreadyProcessed))
    );
    assert_eq!(
        rpc.get_balance(&bob.pubkey()).await.unwrap(),
        SOL,
        "charged once"
    );

    // Fee payer that does not exist.
    let ghost = Keypair::new();
    let ix = solana_system_interface::instruction::transfer(&ghost.pubkey(), &bob.pubkey(), 1);
    let tx = signed(&rpc, &[ix], &ghost, &[]).await;
    let err = rpc.send_transaction(&tx).await.unwrap_err();
    assert_eq!(
        rpc_error(&err),
        (-32002, Some(TransactionError::AccountNotFound))
    );

    // Fee payer that can pay the fee but would fall below rent exemption: the SVM charges
    // the fee, then refuses the payer's rent-state transition (what a validator answers).
    let rent_min = rpc.get_minimum_balance_for_rent_exemption(0).await.unwrap();
    let poor = funded(&rpc, rent_min + 1_000).await;
    let ix = solana_system_interface::instruction::transfer(&poor.pubkey(), &bob.pubkey(), 1);
    let tx = signed(&rpc, &[ix], &poor, &[]).await;
    let err = rpc.send_transaction(&tx).await.unwrap_err();
    assert_eq!(
        rpc_error(&err),
        (
            -32002,
            Some(TransactionError::InsufficientFundsForRent { account_index: 0 })
        )
    );
    assert_eq!(
        rpc.get_balance(&poor.pubkey()).await.unwrap(),
        rent_min + 1_000,
        "nothing charged"
    );

    // An instruction error in preflight carries the program's error and its logs.
    let tx = signed(&rpc, &[transfer(100 * SOL)], &alice, &[]).await;
    let err = rpc.send_transaction(&tx).await.unwrap_err();
    assert_eq!(
        rpc_error(&err),
        (
            -32002,
            Some(TransactionError::InstructionError(
                0,
                InstructionError::Custom(1)
            ))
        )
    );
    net.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_requests_get_json_rpc_errors() {
    let (net, rpc) = start(Config::ephemeral().unwrap()).await;
    let url = net.url();
    let v = raw(url, "{not json").await;
    assert_eq!(v["error"]["code"], -32700);
    let v = raw(url, r#"{"jsonrpc":"2.0","id":1,"method":"noSuchMethod"}"#).await;
    assert_eq!(v["error"]["code"], -32601);
    let v = raw(
        url,
        r#"{"jsonrpc":"2.0","id":1,"method":"getBalance","params":["nope"]}"#,
    )
    .await;
    assert_eq!(v["error"]["code"], -32602);
    let v = raw(
        url,
        r#"{"jsonrpc":"2.0","id":1,"method":"sendTransaction","params":["!!!"]}"#,
    )
    .await;
    assert_eq!(v["error"]["code"], -32602);
    let v = raw(url, r#"{"jsonrpc":"2.0","id":1,"method":"getBalance"}"#).await;
    assert_eq!(v["error"]["code"], -32602);
    let v = raw(url, r#"[{"jsonrpc":"2.0","id":1,"method":"getSlot"},{"jsonrpc":"2.0","id":2,"method":"getHealth"}]"#).await;
    assert_eq!(v.as_array().map(|a| a.len()), Some(2));
    assert_eq!(v[1]["result"], "ok");
    // Still serving.
    assert!(rpc.get_slot().await.unwrap() >= 1);
    net.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clock_follows_wall_time_and_dev_method_advances_it() {
    use solana_clock::Clock;
    let (net, rpc) = start(Config::ephemeral().unwrap()).await;
    let clock = |data: Vec<u8>| bincode_clock(&data);
    let before = clock(rpc.get_account_data(&solana_sdk_ids_clock()).await.unwrap());
    let slot0 = rpc.get_slot().await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(1300)).await;
    let slot1 = rpc.get_slot().await.unwrap();
    assert!(
        slot1 >= slot0 + 2,
        "slots advance with wall time: {slot0} -> {slot1}"
    );

    let v = raw(
        net.url(),
        r#"{"jsonrpc":"2.0","id":1,"method":"tesseraDev_advanceClock","params":[3600]}"#,
    )
    .await;
    let new_slot = v["result"]["slot"].as_u64().expect("slot");
    assert!(new_slot >= slot1 + 9000, "3600 s = 9000 slots");
    let after: Clock = clock(rpc.get_account_data(&solana_sdk_ids_clock()).await.unwrap());
    assert!(after.unix_timestamp >= before.unix_timestamp + 3600);
    assert_eq!(after.slot, rpc.get_slot().await.unwrap().max(after.slot));

    // Blockhashes still work after the jump.
    let alice = funded(&rpc, SOL).await;
    assert_eq!(rpc.get_balance(&alice.pubkey()).await.unwrap(), SOL);
    net.shutdown().await;
}

fn solana_sdk_ids_clock() -> solana_pubkey::Pubkey {
    solana_pubkey::pubkey!("SysvarC1ock11111111111111111111111111111111")
}

fn bincode_clock(data: &[u8]) -> solana_clock::Clock {
    bincode::deserialize(data).expect("clock sysvar")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_keeps_accounts_statuses_and_history() {
    let config = Config::ephemeral().unwrap();
    let (net, rpc) = start(config.clone()).await;
    let faucet = net.faucet().pubkey();
    let alice = funded(&rpc, 4 * SOL).await;
    let bob = Keypair::new();
    let ix = solana_system_interface::instruction::transfer(&alice.pubkey(), &bob.pubkey(), SOL);
    let tx = signed(&rpc, &[ix], &alice, &[]).await;
    let sig = send(&rpc, &tx).await;
    let mint = create_mint(&rpc, &alice, 2).await;
    let alice_balance = rpc.get_balance(&alice.pubkey()).await.unwrap();
    let slot_before = rpc.get_slot().await.unwrap();
    net.shutdown().await;

    let (net, rpc) = start(config).await;
    assert_eq!(net.faucet().pubkey(), faucet, "same faucet");
    assert!(
        rpc.get_slot().await.unwrap() >= slot_before,
        "time does not go back"
    );
    assert_eq!(
        rpc.get_balance(&alice.pubkey()).await.unwrap(),
        alice_balance
    );
    assert_eq!(rpc.get_balance(&bob.pubkey()).await.unwrap(), SOL);
    let mint_account = rpc.get_account(&mint.pubkey()).await.unwrap();
    assert_eq!(mint_account.owner, spl_token_interface::ID);
    let status = rpc.get_signature_statuses(&[sig]).await.unwrap().value[0].clone();
    assert!(status.expect("status survives").err.is_none());
    let got = rpc
        .get_transaction(&sig, UiTransactionEncoding::Json)
        .await
        .unwrap();
    assert!(
        matches!(got.transaction.meta.unwrap().log_messages, OptionSerializer::Some(ref l) if !l.is_empty())
    );
    // The restored chain keeps working, from the restored state.
    let ix =
        solana_system_interface::instruction::transfer(&bob.pubkey(), &alice.pubkey(), SOL / 2);
    let tx = signed(&rpc, &[ix], &bob, &[]).await;
    send(&rpc, &tx).await;
    assert_eq!(
        rpc.get_balance(&bob.pubkey()).await.unwrap(),
        SOL / 2 - 5_000
    );
    net.shutdown().await;
}
