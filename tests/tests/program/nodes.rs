//! Nodes: `register_node`, `update_node`, `add_stake`, `request_unstake`, `withdraw_stake`.
use anchor_lang::error::ErrorCode as Anchor;
use solana_program_test::BanksClientError;
use solana_sdk::{
    pubkey::Pubkey,
    signature::{Keypair, Signer},
};
use tessera::errors::TesseraError;
use tessera_sdk::{ix, pda};

use crate::harness::*;

/// An operator holding 5 000 tokens and a fresh node key, not registered yet.
async fn candidate(env: &mut Env) -> (Keypair, Keypair, Pubkey) {
    let operator = env.funded().await;
    let token = env.token_account(&operator.pubkey()).await;
    env.mint_to(&token, 5_000).await;
    (operator, Keypair::new(), token)
}

fn register_ix(
    env: &Env,
    op: &Keypair,
    key: &Keypair,
    token: &Pubkey,
    stake: u64,
    hw: &str,
) -> solana_sdk::instruction::Instruction {
    ix::register_node(
        &op.pubkey(),
        &key.pubkey(),
        &env.mint.pubkey(),
        token,
        stake,
        4_200,
        hw.into(),
    )
}

async fn op_send(
    env: &mut Env,
    node: &NodeFixture,
    ix: solana_sdk::instruction::Instruction,
) -> Result<(), BanksClientError> {
    let op = node.operator.insecure_clone();
    env.send(&[ix], &[&op]).await
}

#[tokio::test]
async fn register_node_stakes_and_records_the_node() {
    let mut env = Env::new().await;
    let (op, key, token) = candidate(&mut env).await;
    let ix = register_ix(&env, &op, &key, &token, 1_500, "RTX 4090");
    env.send(&[ix], &[&op, &key]).await.unwrap();
    env.node_keys.push(key.pubkey());
    assert_eq!(env.balance(&token).await, 3_500);
    assert_eq!(env.balance(&pda::stake_vault(&key.pubkey())).await, 1_500);
    let node = env.node(&key.pubkey()).await;
    assert_eq!((node.node_key, node.operator), (key.pubkey(), op.pubkey()));
    assert_eq!(
        (node.stake, node.unstake_amount, node.faults),
        (1_500, 0, 0)
    );
    assert_eq!(
        (node.benchmark_score, node.hardware.as_str()),
        (4_200, "RTX 4090")
    );
    assert_eq!(
        (node.registered_at, node.stake_added_at),
        (START_TIME, START_TIME)
    );
    env.assert_conserved().await;
}

#[tokio::test]
async fn register_node_without_node_key_signature_fails() {
    let mut env = Env::new().await;
    let (op, key, token) = candidate(&mut env).await;
    let ix = without_signer(
        register_ix(&env, &op, &key, &token, 1_000, "x"),
        &key.pubkey(),
    );
    assert_anchor(env.send(&[ix], &[&op]).await, Anchor::AccountNotSigner);
    assert!(!env.exists(&pda::node(&key.pubkey())).await);
    assert_eq!(env.balance(&token).await, 5_000);
}

#[tokio::test]
async fn register_node_without_operator_signature_fails() {
    let mut env = Env::new().await;
    let (op, key, token) = candidate(&mut env).await;
    let ix = without_signer(
        register_ix(&env, &op, &key, &token, 1_000, "x"),
        &op.pubkey(),
    );
    assert_anchor(env.send(&[ix], &[&key]).await, Anchor::AccountNotSigner);
    assert_eq!(env.balance(&token).await, 5_000);
}

#[tokio::test]
async fn register_node_below_minimum_or_zero_stake_fails() {
    let mut env = Env::new().await;
    let (op, key, token) = candidate(&mut env).await;
    let ix = register_ix(&env, &op, &key, &token, MIN_STAKE - 1, "x");
    assert_tessera(
        env.send(&[ix], &[&op, &key]).await,
        TesseraError::StakeBelowMinimum,
    );
    // A zero minimum (which would admit unstaked nodes) is out of bounds.
    let zero = tessera_sdk::NetworkUpdate {
        min_stake: Some(0),
        ..Default::default()
    };
    assert_tessera(env.update(zero).await, TesseraError::ParameterOutOfRange);
    let ix = register_ix(&env, &op, &key, &token, 0, "x");
    assert_tessera(
        env.send(&[ix], &[&op, &key]).await,
        TesseraError::StakeBelowMinimum,
    );
    assert_eq!(env.balance(&token).await, 5_000);
}

#[tokio::test]
async fn register_node_with_hardware_over_64_bytes_fails() {
    let mut env = Env::new().await;
    let (op, key, token) = candidate(&mut env).await;
    let ix = register_ix(&env, &op, &key, &token, 1_000, &"g".repeat(65));
    assert_tessera(
        env.send(&[ix], &[&op, &key]).await,
        TesseraError::HardwareTooLong,
    );
    let ix = register_ix(&env, &op, &key, &token, 1_000, &"g".repeat(64));
    env.send(&[ix], &[&op, &key]).await.unwrap();
    env.node_keys.push(key.pubkey());
    assert_eq!(env.node(&key.pubkey()).await.hardware.len(), 64);
    env.assert_conserved().await;
}

#[tokio::test]
async fn register_same_node_key_twice_fails() {
    let mut env = Env::new().await;
    let a = env.register_node(MIN_STAKE).await;
    let (op, _, token) = candidate(&mut env).await;
    let ix = register_ix(&env, &op, &a.key, &token, 1_000, "steal");
    // The node PDA exists: the system program refuses to allocate it again.
    let r = env.send(&[ix], &[&op, &a.key]).await;
    assert_already_in_use(r);
    assert_eq!(
        env.node(&a.key.pubkey()).await.operator,
        a.operator.pubkey()
    );
    assert_eq!(env.balance(&token).await, 5_000);
}

#[tokio::test]
async fn register_node_with_another_mint_fails() {
    let mut env = Env::new().await;
    let (op, key, _) = candidate(&mut env).await;
    let other = env.other_mint().await;
    let token = env.token_account_of(&other, &op.pubkey()).await;
    let ix = ix::register_node(
        &op.pubkey(),
        &key.pubkey(),
        &other,
        &token,
        1_000,
        1,
        "x".into(),
    );
    assert_tessera(env.send(&[ix], &[&op, &key]).await, TesseraError::WrongMint);
}

#[tokio::test]
async fn register_node_staking_from_another_mint_account_fails() {
    let mut env = Env::new().await;
    let (op, key, _) = candidate(&mut env).await;
    let other = env.other_mint().await;
    let token = env.token_account_of(&other, &op.pubkey()).await;
    let ix = register_ix(&env, &op, &key, &token, 1_000, "x");
    assert_anchor(
        env.send(&[ix], &[&op, &key]).await,
        Anchor::ConstraintTokenMint,
    );
}

#[tokio::test]
async fn register_node_staking_from_someone_elses_account_fails() {
    let mut env = Env::new().await;
    let victim = env.register_node(MIN_STAKE).await;
    let (op, key, _) = candidate(&mut env).await;
    let ix = register_ix(&env, &op, &key, &victim.operator_token, 1_000, "x");
    assert_anchor(
        env.send(&[ix], &[&op, &key]).await,
        Anchor::ConstraintTokenOwner,
    );
    assert_eq!(env.balance(&victim.operator_token).await, 10_000);
}

#[tokio::test]
async fn register_node_at_another_keys_pda_fails() {
    let mut env = Env::new().await;
    let (op, key, token) = candidate(&mut env).await;
    let other = Keypair::new().pubkey();
    let ix = register_ix(&env, &op, &key, &token, 1_000, "x");
    let ix = replace_account(ix, &pda::node(&key.pubkey()), &pda::node(&other));
    assert_anchor(env.send(&[ix], &[&op, &key]).await, Anchor::ConstraintSeeds);
    let ix = register_ix(&env, &op, &key, &token, 1_000, "x");
    let ix = replace_account(
        ix,
        &pda::stake_vault(&key.pubkey()),
        &pda::stake_vault(&other),
    );
    assert_anchor(env.send(&[ix], &[&op, &key]).await, Anchor::ConstraintSeeds);
}

#[tokio::test]
async fn update_node_by_operator_records_benchmark_and_hardware() {
    let mut env = Env::new().await;
    let a = env.register_node(MIN_STAKE).await;
    let ix = ix::update_node(&a.operator.pubkey(), &a.key.pubkey(), 9_999, "H100".into());
    op_send(&mut env, &a, ix).await.unwrap();
    let node = env.node(&a.key.pubkey()).await;
    assert_eq!(
        (node.benchmark_score, node.hardware.as_str()),
        (9_999, "H100")
    );
    assert_eq!(node.stake, MIN_STAKE);
}

#[tokio::test]
async fn update_node_by_another_operator_fails() {
    let mut env = Env::new().await;
    let a = env.register_node(MIN_STAKE).await;
    let b = env.register_node(MIN_STAKE).await;
    let ix = ix::update_node(&b.operator.pubkey(), &a.key.pubkey(), 1, "fake".into());
    assert_tessera(op_send(&mut env, &b, ix).await, TesseraError::NotOperator);
    assert_eq!(env.node(&a.key.pubkey()).await.hardware, "lavapipe");
}

#[tokio::test]
async fn update_node_without_signature_or_with_long_hardware_fails() {
    let mut env = Env::new().await;
    let a = env.register_node(MIN_STAKE).await;
    let op = a.operator.pubkey();
    let ix = without_signer(ix::update_node(&op, &a.key.pubkey(), 1, "x".into()), &op);
    assert_anchor(env.send(&[ix], &[]).await, Anchor::AccountNotSigner);
    let ix = ix::update_node(&op, &a.key.pubkey(), 1, "x".repeat(65));
    assert_tessera(
        op_send(&mut env, &a, ix).await,
        TesseraError::HardwareTooLong,
    );
}

#[tokio::test]
async fn add_stake_moves_tokens_into_the_stake_vault() {
    let mut env = Env::new().await;
    let a = env.register_node(MIN_STAKE).await;
    env.advance(60).await;
    let ix = ix::add_stake(
        &a.operator.pubkey(),
        &a.key.pubkey(),
        &a.operator_token,
        2_500,
    );
    op_send(&mut env, &a, ix).await.unwrap();
    // The time is recorded: the added stake does not count for witnessing older jobs.
    let node = env.node(&a.key.pubkey()).await;
    assert_eq!(
        (node.registered_at, node.stake_added_at),
        (START_TIME, START_TIME + 60)
    );
    assert_eq!(env.balance(&a.operator_token).await, 7_500);
    assert_eq!(env.balance(&pda::stake_vault(&a.key.pubkey())).await, 3_500);
    assert_eq!(env.node(&a.key.pubkey()).await.stake, 3_500);
    env.assert_conserved().await;
}

#[tokio::test]
async fn add_stake_of_zero_fails() {
    let mut env = Env::new().await;
    let a = env.register_node(MIN_STAKE).await;
    let ix = ix::add_stake(&a.operator.pubkey(), &a.key.pubkey(), &a.operator_token, 0);
    assert_tessera(op_send(&mut env, &a, ix).await, TesseraError::ZeroAmount);
}

#[tokio::test]
async fn add_stake_by_non_operator_fails() {
    let mut env = Env::new().await;
    let a = env.register_node(MIN_STAKE).await;
    let b = env.register_node(MIN_STAKE).await;
    let ix = ix::add_stake(&b.operator.pubkey(), &a.key.pubkey(), &b.operator_token, 10);
    assert_tessera(op_send(&mut env, &b, ix).await, TesseraError::NotOperator);
    let op = a.operator.pubkey();
    let ix = without_signer(
        ix::add_stake(&op, &a.key.pubkey(), &a.operator_token, 10),
        &op,
    );
    assert_anchor(env.send(&[ix], &[]).await, Anchor::AccountNotSigner);
    assert_eq!(env.node(&a.key.pubkey()).await.stake, MIN_STAKE);
}

#[tokio::test]
async fn add_stake_from_wrong_token_accounts_fails() {
    let mut env = Env::new().await;
    let a = env.register_node(MIN_STAKE).await;
    let b = env.register_node(MIN_STAKE).await;
    let op = a.operator.pubkey();
    let ix = ix::add_stake(&op, &a.key.pubkey(), &b.operator_token, 10);
    assert_anchor(
        op_send(&mut env, &a, ix).await,
        Anchor::ConstraintTokenOwner,
    );
    let other = env.other_mint().await;
    let wrong = env.token_account_of(&other, &op).await;
    let ix = ix::add_stake(&op, &a.key.pubkey(), &wrong, 10);
    assert_anchor(op_send(&mut env, &a, ix).await, Anchor::ConstraintTokenMint);
    // Another node's stake vault in place of this node's.
    let ix = ix::add_stake(&op, &a.key.pubkey(), &a.operator_token, 10);
    let ix = replace_account(
        ix,
        &pda::stake_vault(&a.key.pubkey()),
        &pda::stake_vault(&b.key.pubkey()),
    );
    assert_anchor(op_send(&mut env, &a, ix).await, Anchor::ConstraintSeeds);
    assert_eq!(env.balance(&b.operator_token).await, 10_000);
    env.assert_conserved().await;
}

#[tokio::test]
async fn request_unstake_starts_the_cooldown() {
    let mut env = Env::new().await;
    let a = env.register_node(3_000).await;
    let ix = ix::request_unstake(&a.operator.pubkey(), &a.key.pubkey(), 1_200);
    op_send(&mut env, &a, ix).await.unwrap();
    let node = env.node(&a.key.pubkey()).await;
    assert_eq!((node.stake, node.unstake_amount), (3_000, 1_200));
    assert_eq!(node.unstake_available_at, START_TIME + UNSTAKE_COOLDOWN);
    assert_eq!(node.active_stake(), 1_800);
    // Nothing moves yet.
    assert_eq!(env.balance(&pda::stake_vault(&a.key.pubkey())).await, 3_000);
}

#[tokio::test]
async fn request_unstake_zero_too_much_or_twice_fails() {
    let mut env = Env::new().await;
    let a = env.register_node(3_000).await;
    let (op, key) = (a.operator.pubkey(), a.key.pubkey());
    assert_tessera(
        op_send(&mut env, &a, ix::request_unstake(&op, &key, 0)).await,
        TesseraError::ZeroAmount,
    );
    assert_tessera(
        op_send(&mut env, &a, ix::request_unstake(&op, &key, 3_001)).await,
        TesseraError::InsufficientStake,
    );
    op_send(&mut env, &a, ix::request_unstake(&op, &key, 3_000))
        .await
        .unwrap();
    assert_tessera(
        op_send(&mut env, &a, ix::request_unstake(&op, &key, 1)).await,
        TesseraError::UnstakePending,
    );
    assert_eq!(env.node(&key).await.unstake_amount, 3_000);
}

#[tokio::test]
async fn request_unstake_by_non_operator_or_unsigned_fails() {
    let mut env = Env::new().await;
    let a = env.register_node(3_000).await;
    let b = env.register_node(3_000).await;
    let ix = ix::request_unstake(&b.operator.pubkey(), &a.key.pubkey(), 100);
    assert_tessera(op_send(&mut env, &b, ix).await, TesseraError::NotOperator);
    let op = a.operator.pubkey();
    let ix = without_signer(ix::request_unstake(&op, &a.key.pubkey(), 100), &op);
    assert_anchor(env.send(&[ix], &[]).await, Anchor::AccountNotSigner);
    assert_eq!(env.node(&a.key.pubkey()).await.unstake_amount, 0);
}

#[tokio::test]
async fn withdraw_stake_after_cooldown_pays_the_operator() {
    let mut env = Env::new().await;
    let a = env.register_node(3_000).await;
    let (op, key) = (a.operator.pubkey(), a.key.pubkey());
    op_send(&mut env, &a, ix::request_unstake(&op, &key, 1_200))
        .await
        .unwrap();
    let withdraw = ix::withdraw_stake(&op, &key, &a.operator_token);
    env.advance(UNSTAKE_COOLDOWN - 1).await;
    assert_tessera(
        op_send(&mut env, &a, withdraw.clone()).await,
        TesseraError::CooldownNotElapsed,
    );
    env.advance(1).await;
    op_send(&mut env, &a, withdraw.clone()).await.unwrap();
    assert_eq!(env.balance(&a.operator_token).await, 10_000 + 1_200);
    assert_eq!(env.balance(&pda::stake_vault(&key)).await, 1_800);
    let node = env.node(&key).await;
    assert_eq!(
        (node.stake, node.unstake_amount, node.unstake_available_at),
        (1_800, 0, 0)
    );
    env.refresh_blockhash().await;
    assert_tessera(
        op_send(&mut env, &a, withdraw).await,
        TesseraError::NoUnstakePending,
    );
    env.assert_conserved().await;
}

#[tokio::test]
async fn withdraw_stake_without_request_fails() {
    let mut env = Env::new().await;
    let a = env.register_node(3_000).await;
    let ix = ix::withdraw_stake(&a.operator.pubkey(), &a.key.pubkey(), &a.operator_token);
    assert_tessera(
        op_send(&mut env, &a, ix).await,
        TesseraError::NoUnstakePending,
    );
}

#[tokio::test]
async fn withdraw_stake_by_another_operator_or_to_their_account_fails() {
    let mut env = Env::new().await;
    let a = env.register_node(3_000).await;
    let b = env.register_node(3_000).await;
    let (op, key) = (a.operator.pubkey(), a.key.pubkey());
    op_send(&mut env, &a, ix::request_unstake(&op, &key, 3_000))
        .await
        .unwrap();
    env.advance(UNSTAKE_COOLDOWN).await;
    // B signs for A's node, paying itself.
    let ix = ix::withdraw_stake(&b.operator.pubkey(), &key, &b.operator_token);
    assert_tessera(op_send(&mut env, &b, ix).await, TesseraError::NotOperator);
    // A's operator signs, but the tokens would go to B's account.
    let ix = ix::withdraw_stake(&op, &key, &b.operator_token);
    assert_anchor(
        op_send(&mut env, &a, ix).await,
        Anchor::ConstraintTokenOwner,
    );
    // Unsigned.
    let ix = without_signer(ix::withdraw_stake(&op, &key, &a.operator_token), &op);
    assert_anchor(env.send(&[ix], &[]).await, Anchor::AccountNotSigner);
    // A drains B's stake vault through its own node.
    let ix = ix::withdraw_stake(&op, &key, &a.operator_token);
    let ix = replace_account(
        ix,
        &pda::stake_vault(&key),
        &pda::stake_vault(&b.key.pubkey()),
    );
    assert_anchor(op_send(&mut env, &a, ix).await, Anchor::ConstraintSeeds);
    assert_eq!(env.balance(&pda::stake_vault(&key)).await, 3_000);
    assert_eq!(env.balance(&pda::stake_vault(&b.key.pubkey())).await, 3_000);
    assert_eq!(env.balance(&b.operator_token).await, 10_000);
    env.assert_conserved().await;
}

#[tokio::test]
async fn prefunded_node_and_stake_vault_addresses_cannot_block_registration() {
    let mut env = Env::new().await;
    let (op, key, token) = candidate(&mut env).await;
    env.prefund(&pda::node(&key.pubkey()), 1_000_000).await;
    env.prefund(&pda::stake_vault(&key.pubkey()), 1_000_000)
        .await;
    let ix = register_ix(&env, &op, &key, &token, 1_000, "x");
    env.send(&[ix], &[&op, &key]).await.unwrap();
    env.node_keys.push(key.pubkey());
    assert_eq!(env.balance(&token).await, 4_000);
    assert_eq!(env.balance(&pda::stake_vault(&key.pubkey())).await, 1_000);
    let node = env.node(&key.pubkey()).await;
    assert_eq!((node.operator, node.stake), (op.pubkey(), 1_000));
    // The vault is the node's: a withdrawal signed by the node PDA works.
    let ix = ix::request_unstake(&op.pubkey(), &key.pubkey(), 400);
    env.send(&[ix], &[&op]).await.unwrap();
    env.advance(UNSTAKE_COOLDOWN).await;
    let ix = ix::withdraw_stake(&op.pubkey(), &key.pubkey(), &token);
    env.send(&[ix], &[&op]).await.unwrap();
    assert_eq!(env.balance(&token).await, 4_400);
    env.assert_conserved().await;
}
