//! The orchestrator's bond (`deposit_bond`, `withdraw_bond`): `post_receipt` requires the
//! job's minimum in it and locks it for the receipt's window and resolution period; proven
//! contest shortfalls the job's room cannot pay come out of it (see `contest.rs`).
use solana_sdk::signature::{Keypair, Signer};
use tessera::errors::TesseraError;
use tessera::state::OrchestratorBond;
use tessera_sdk::{ix, pda, NetworkUpdate};

use crate::harness::*;
use crate::lifecycle::receipt_for;

/// Posts the honest receipt of job `id` signed by `orchestrator`.
async fn post_by(
    env: &mut Env,
    orchestrator: &Keypair,
    id: u64,
) -> Result<(), solana_program_test::BanksClientError> {
    let job = env.job(id).await;
    let receipt = receipt_for(&pda::job(id), &job, &[Keypair::new().pubkey()]);
    let p = receipt.params().unwrap();
    env.refresh_blockhash().await;
    env.send(
        &[ix::post_receipt(&orchestrator.pubkey(), id, p, &[])],
        &[orchestrator],
    )
    .await
}

async fn withdraw(
    env: &mut Env,
    orchestrator: &Keypair,
    to: &solana_sdk::pubkey::Pubkey,
    amount: u64,
) -> Result<(), solana_program_test::BanksClientError> {
    env.refresh_blockhash().await;
    let ixn = ix::withdraw_bond(&orchestrator.pubkey(), to, amount);
    env.send(&[ixn], &[orchestrator]).await
}

#[tokio::test]
async fn anyone_tops_up_a_bond_into_a_program_owned_vault() {
    let mut env = Env::new().await;
    let orch = env.orchestrator.pubkey();
    assert_eq!(env.bond_balance(&orch).await, BOND_DEPOSIT);
    env.deposit_bond(&orch, 700).await.unwrap();
    assert_eq!(env.bond_balance(&orch).await, BOND_DEPOSIT + 700);
    let bond: OrchestratorBond = env.anchor(&pda::orchestrator_bond(&orch)).await;
    assert_eq!(bond.orchestrator, orch);
    assert_eq!(bond.vault, pda::bond_vault(&orch));
    // The vault's authority is the bond record, so only the program moves its tokens.
    let (program, state) = env.token_state(&pda::bond_vault(&orch)).await;
    assert_eq!(program, spl_token_interface::ID);
    assert_eq!(
        (state.mint, state.owner),
        (env.mint.pubkey(), pda::orchestrator_bond(&orch))
    );
    assert_tessera(env.deposit_bond(&orch, 0).await, TesseraError::ZeroAmount);
    env.assert_conserved().await;
}

#[tokio::test]
async fn a_receipt_without_enough_bond_is_refused() {
    let mut env = Env::new().await;
    let artist = env.artist(10_000).await;
    let rogue = env.funded().await;
    env.update_now(NetworkUpdate {
        orchestrator: Some(rogue.pubkey()),
        ..Default::default()
    })
    .await
    .unwrap();
    let deadline = env.now().await + 10_000;
    let id = env.create_job(&artist, small_job(deadline)).await.unwrap();
    // No bond at all: the bond record does not exist.
    assert_anchor(
        post_by(&mut env, &rogue, id).await,
        anchor_lang::error::ErrorCode::AccountNotInitialized,
    );
    // One token short of the job's minimum.
    env.deposit_bond(&rogue.pubkey(), ORCHESTRATOR_BOND - 1)
        .await
        .unwrap();
    assert_tessera(
        post_by(&mut env, &rogue, id).await,
        TesseraError::BondTooSmall,
    );
    env.deposit_bond(&rogue.pubkey(), 1).await.unwrap();
    post_by(&mut env, &rogue, id).await.unwrap();
    env.assert_conserved().await;
}

#[tokio::test]
async fn the_bond_stays_locked_until_the_receipts_window_and_resolution_period_end() {
    let mut env = Env::new().await;
    let artist = env.artist(10_000).await;
    let orch = env.orchestrator.insecure_clone();
    let to = env.token_account(&orch.pubkey()).await;
    let deadline = env.now().await + 10_000;
    let id = env.create_job(&artist, small_job(deadline)).await.unwrap();
    post_by(&mut env, &orch, id).await.unwrap();
    let job = env.job(id).await;
    let bond: OrchestratorBond = env.anchor(&pda::orchestrator_bond(&orch.pubkey())).await;
    assert_eq!(
        (bond.locked_amount, bond.locked_until),
        (ORCHESTRATOR_BOND, job.slash_ends_at)
    );
    assert_eq!(
        job.slash_ends_at,
        job.rendered_at + CHALLENGE_WINDOW + RESOLUTION_PERIOD
    );
    // Nothing leaves while the receipt can still be contested or disputed, not even the
    // part above the minimum.
    assert_tessera(
        withdraw(&mut env, &orch, &to, 1).await,
        TesseraError::BondLocked,
    );
    env.set_time(job.slash_ends_at).await;
    assert_tessera(
        withdraw(&mut env, &orch, &to, 1).await,
        TesseraError::BondLocked,
    );
    env.set_time(job.slash_ends_at + 1).await;
    assert_tessera(
        withdraw(&mut env, &orch, &to, BOND_DEPOSIT + 1).await,
        TesseraError::InsufficientBond,
    );
    withdraw(&mut env, &orch, &to, BOND_DEPOSIT).await.unwrap();
    assert_eq!(env.balance(&to).await, BOND_DEPOSIT);
    assert_eq!(env.bond_balance(&orch.pubkey()).await, 0);
    env.assert_conserved().await;
}

#[tokio::test]
async fn a_stranger_cannot_withdraw_a_bond() {
    let mut env = Env::new().await;
    let orch = env.orchestrator.pubkey();
    let stranger = env.funded().await;
    let to = env.token_account(&stranger.pubkey()).await;
    // Its own key: it has no bond.
    assert_anchor(
        withdraw(&mut env, &stranger, &to, 1).await,
        anchor_lang::error::ErrorCode::AccountNotInitialized,
    );
    // The orchestrator's bond accounts with the stranger signing in its place.
    let ixn = replace_account(ix::withdraw_bond(&orch, &to, 1), &orch, &stranger.pubkey());
    env.refresh_blockhash().await;
    assert_anchor(
        env.send(&[ixn], &[&stranger]).await,
        anchor_lang::error::ErrorCode::ConstraintSeeds,
    );
    // The orchestrator's key unsigned.
    let ixn = without_signer(ix::withdraw_bond(&orch, &to, 1), &orch);
    assert_anchor(
        env.send(&[ixn], &[]).await,
        anchor_lang::error::ErrorCode::AccountNotSigner,
    );
    assert_eq!(env.bond_balance(&orch).await, BOND_DEPOSIT);
    env.assert_conserved().await;
}

#[tokio::test]
async fn a_job_keeps_the_bond_minimum_of_its_creation() {
    let mut env = Env::new().await;
    let artist = env.artist(10_000).await;
    let orch = env.orchestrator.insecure_clone();
    let deadline = env.now().await + 3 * PARAMS_TIMELOCK;
    let before = env.create_job(&artist, small_job(deadline)).await.unwrap();
    env.update_now(NetworkUpdate {
        orchestrator_bond: Some(BOND_DEPOSIT + 1),
        ..Default::default()
    })
    .await
    .unwrap();
    assert_eq!(env.network().await.orchestrator_bond, BOND_DEPOSIT + 1);
    let after = env.create_job(&artist, small_job(deadline)).await.unwrap();
    assert_eq!(env.job(before).await.orchestrator_bond, ORCHESTRATOR_BOND);
    assert_eq!(env.job(after).await.orchestrator_bond, BOND_DEPOSIT + 1);
    // The raised minimum applies to the job created after it, not to the one before.
    post_by(&mut env, &orch, before).await.unwrap();
    assert_tessera(
        post_by(&mut env, &orch, after).await,
        TesseraError::BondTooSmall,
    );
    // A zero minimum is out of bounds.
    assert_tessera(
        env.update(NetworkUpdate {
            orchestrator_bond: Some(0),
            ..Default::default()
        })
        .await,
        TesseraError::ParameterOutOfRange,
    );
}
