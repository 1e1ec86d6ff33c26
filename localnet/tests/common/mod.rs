//! Helpers shared by the RPC tests: start a chain, fund keys, build SPL Token transactions.
#![allow(dead_code)]
use std::time::Duration;

use solana_client::nonblocking::rpc_client::RpcClient;
use solana_commitment_config::CommitmentConfig;
use solana_keypair::Keypair;
use solana_pubkey::Pubkey;
use solana_signer::Signer;
use solana_transaction::Transaction;
use tessera_localnet::{Config, Localnet};

pub async fn start(config: Config) -> (Localnet, RpcClient) {
    let net = Localnet::start(config).await.expect("localnet starts");
    let rpc = RpcClient::new_with_commitment(net.url().to_string(), CommitmentConfig::confirmed());
    (net, rpc)
}

pub async fn funded(rpc: &RpcClient, lamports: u64) -> Keypair {
    let k = Keypair::new();
    let sig = rpc
        .request_airdrop(&k.pubkey(), lamports)
        .await
        .expect("airdrop");
    rpc.confirm_transaction(&sig)
        .await
        .expect("airdrop confirms");
    k
}

pub async fn send(rpc: &RpcClient, tx: &Transaction) -> solana_signature::Signature {
    rpc.send_and_confirm_transaction(tx)
        .await
        .expect("transaction lands")
}

pub async fn signed(
    rpc: &RpcClient,
    ixs: &[solana_instruction::Instruction],
    payer: &Keypair,
    signers: &[&Keypair],
) -> Transaction {
    let hash = rpc.get_latest_blockhash().await.expect("blockhash");
    let mut all: Vec<&Keypair> = vec![payer];
    all.extend_from_slice(signers);
    Transaction::new_signed_with_payer(ixs, Some(&payer.pubkey()), &all, hash)
}

/// Creates a mint with `decimals` whose authority is `authority`.
pub async fn create_mint(rpc: &RpcClient, payer: &Keypair, decimals: u8) -> Keypair {
    use solana_program_pack::Pack;
    let mint = Keypair::new();
    let rent = rpc
        .get_minimum_balance_for_rent_exemption(spl_token_interface::state::Mint::LEN)
        .await
        .unwrap();
    let ixs = [
        solana_system_interface::instruction::create_account(
            &payer.pubkey(),
            &mint.pubkey(),
            rent,
            spl_token_interface::state::Mint::LEN as u64,
            &spl_token_interface::ID,
        ),
        spl_token_interface::instruction::initialize_mint2(
            &spl_token_interface::ID,
            &mint.pubkey(),
            &payer.pubkey(),
            None,
            decimals,
        )
        .unwrap(),
    ];
    let tx = signed(rpc, &ixs, payer, &[&mint]).await;
    send(rpc, &tx).await;
    mint
}

/// Creates a token account for `mint` owned by `owner`.
pub async fn create_token_account(
    rpc: &RpcClient,
    payer: &Keypair,
    mint: &Pubkey,
    owner: &Pubkey,
) -> Keypair {
    use solana_program_pack::Pack;
    let account = Keypair::new();
    let rent = rpc
        .get_minimum_balance_for_rent_exemption(spl_token_interface::state::Account::LEN)
        .await
        .unwrap();
    let ixs = [
        solana_system_interface::instruction::create_account(
            &payer.pubkey(),
            &account.pubkey(),
            rent,
            spl_token_interface::state::Account::LEN as u64,
            &spl_token_interface::ID,
        ),
        spl_token_interface::instruction::initialize_account3(
            &spl_token_interface::ID,
            &account.pubkey(),
            mint,
            owner,
        )
        .unwrap(),
    ];
    let tx = signed(rpc, &ixs, payer, &[&account]).await;
    send(rpc, &tx).await;
    account
}

/// Raw JSON-RPC call over HTTP, for shapes `RpcClient` hides.
pub async fn raw(url: &str, body: &str) -> serde_json::Value {
    let text = reqwest::Client::new()
        .post(url)
        .header("content-type", "application/json")
        .body(body.to_string())
        .timeout(Duration::from_secs(30))
        .send()
        .await
        .expect("http")
        .text()
        .await
        .expect("body");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}
