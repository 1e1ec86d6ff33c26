//! Disputes: `dispute_job`, `resolve_dispute` (refund share, pro-rata claims, slashing).
use anchor_lang::error::ErrorCode as Anchor;
use solana_program_test::BanksClientError;
use solana_sdk::{
    instruction::Instruction,
    pubkey::Pubkey,
    signature::{Keypair, Signer},
};
use tessera::errors::TesseraError;
use tessera::state::JobState;
use tessera_sdk::{ix, pda};

use crate::harness::*;
use crate::lifecycle::{claim, rendered_job, slash_of};
use tessera_sdk::receipt::Receipt;

async fn send_as(env: &mut Env, who: &Keypair, ix: Instruction) -> Result<(), BanksClientError> {
    let who = who.insecure_clone();
    env.send(&[ix], &[&who]).await
}

fn resolve_ix(
    env: &Env,
    artist: &Artist,
    id: u64,
    slash: Option<(&Receipt, Pubkey)>,
    refund_bps: u16,
    amount: u64,
) -> Instruction {
    ix::resolve_dispute(
        &env.admin.pubkey(),
        id,
        &env.treasury,
        &artist.token,
        slash.map(|(r, k)| slash_of(r, &k)),
        refund_bps,
        amount,
    )
}

async fn resolve(env: &mut Env, ix: Instruction) -> Result<(), BanksClientError> {
    let admin = env.admin.insecure_clone();
    env.send(&[ix], &[&admin]).await
}

#[tokio::test]
async fn dispute_job_freezes_the_job_with_its_reason() {
    let mut env = Env::new().await;
    let artist = env.artist(5_000).await;
    let a = env.register_node(MIN_STAKE).await;
    let (id, _) = rendered_job(&mut env, &artist, &[&a]).await;
    env.set_time(START_TIME + CHALLENGE_WINDOW - 1).await;
    env.dispute(&artist, id).await.unwrap();
    let job = env.job(id).await;
    assert_eq!((job.state, job.dispute_reason), (JobState::Disputed, 7));
    assert_eq!(env.balance(&pda::job_vault(&pda::job(id))).await, 2_000);
}

#[tokio::test]
async fn dispute_job_by_non_artist_or_unsigned_fails() {
    let mut env = Env::new().await;
    let artist = env.artist(5_000).await;
    let a = env.register_node(MIN_STAKE).await;
    let (id, _) = rendered_job(&mut env, &artist, &[&a]).await;
    // A node operator tries to freeze the job.
    let ix = ix::dispute_job(&a.operator.pubkey(), id, 1);
    assert_tessera(
        send_as(&mut env, &a.operator, ix).await,
        TesseraError::NotArtist,
    );
    let me = artist.wallet.pubkey();
    let ix = without_signer(ix::dispute_job(&me, id, 1), &me);
    assert_anchor(env.send(&[ix], &[]).await, Anchor::AccountNotSigner);
    assert_eq!(env.job(id).await.state, JobState::Rendered);
}

#[tokio::test]
async fn dispute_job_after_window_fails() {
    let mut env = Env::new().await;
    let artist = env.artist(5_000).await;
    let a = env.register_node(MIN_STAKE).await;
    let (id, _) = rendered_job(&mut env, &artist, &[&a]).await;
    env.set_time(START_TIME + CHALLENGE_WINDOW).await;
    assert_tessera(
        env.dispute(&artist, id).await,
        TesseraError::ChallengeWindowClosed,
    );
    assert_eq!(env.job(id).await.state, JobState::Rendered);
}

#[tokio::test]
async fn dispute_job_before_receipt_or_after_settlement_fails() {
    let mut env = Env::new().await;
    let artist = env.artist(10_000).await;
    let a = env.register_node(MIN_STAKE).await;
    let d = env.now().await + 10_000;
    let open = env.create_job(&artist, small_job(d)).await.unwrap();
    assert_tessera(
        env.dispute(&artist, open).await,
        TesseraError::WrongJobState,
    );
    let (id, _) = rendered_job(&mut env, &artist, &[&a]).await;
    env.approve(&artist, id).await.unwrap();
    assert_tessera(env.dispute(&artist, id).await, TesseraError::WrongJobState);
    assert_eq!(env.job(id).await.state, JobState::Settled);
}

#[tokio::test]
async fn disputed_job_cannot_be_finalized_approved_claimed_or_disputed_again() {
    let mut env = Env::new().await;
    let artist = env.artist(5_000).await;
    let a = env.register_node(MIN_STAKE).await;
    let (id, receipt) = rendered_job(&mut env, &artist, &[&a]).await;
    env.dispute(&artist, id).await.unwrap();
    env.advance(CHALLENGE_WINDOW).await;
    let t = env.treasury;
    let fin = ix::finalize_job(id, &t, &artist.token);
    assert_tessera(env.send(&[fin], &[]).await, TesseraError::WrongJobState);
    assert_tessera(env.approve(&artist, id).await, TesseraError::WrongJobState);
    assert_tessera(
        claim(&mut env, id, &receipt, &a).await,
        TesseraError::WrongJobState,
    );
    assert_tessera(env.dispute(&artist, id).await, TesseraError::WrongJobState);
    let close = ix::close_job(&artist.wallet.pubkey(), id, &artist.token);
    assert_tessera(env.send(&[close], &[]).await, TesseraError::WrongJobState);
    assert_eq!(env.balance(&pda::job_vault(&pda::job(id))).await, 2_000);
    env.assert_conserved().await;
}

#[tokio::test]
async fn resolve_with_refund_share_pays_nodes_pro_rata() {
    let mut env = Env::new().await;
    let artist = env.artist(5_000).await;
    let a = env.register_node(MIN_STAKE).await;
    let b = env.register_node(MIN_STAKE).await;
    let c = env.register_node(MIN_STAKE).await;
    // a renders 6 tiles (600), b and c 5 each (500).
    let (id, receipt) = rendered_job(&mut env, &artist, &[&a, &b, &c]).await;
    env.dispute(&artist, id).await.unwrap();
    let ix = resolve_ix(&env, &artist, id, None, 3_334, 0);
    resolve(&mut env, ix).await.unwrap();
    // kept = 1 600 × 66.66% = 1 066; fee = 2.5% of 1 066 = 26; refund = 2 000 − 1 066 − 26 = 908.
    let job = env.job(id).await;
    assert_eq!(
        (job.state, job.payout_share_bps, job.fee_paid),
        (JobState::Resolved, 6_666, 26)
    );
    assert_eq!(env.balance(&env.treasury.clone()).await, 26);
    assert_eq!(env.balance(&artist.token).await, 3_000 + 908);
    assert_eq!(env.balance(&pda::job_vault(&pda::job(id))).await, 1_066);
    for n in [&a, &b, &c] {
        claim(&mut env, id, &receipt, n).await.unwrap();
    }
    // 600 → 399, 500 → 333 (rounded down per leaf).
    assert_eq!(env.balance(&a.operator_token).await, 10_399);
    assert_eq!(env.balance(&b.operator_token).await, 10_333);
    assert_eq!(env.balance(&c.operator_token).await, 10_333);
    let rec: tessera::state::Claim = env
        .anchor(&pda::claim(&pda::job(id), &a.key.pubkey()))
        .await;
    assert_eq!((rec.amount, rec.paid), (600, 399));
    // One token of rounding dust goes back to the artist on close.
    assert_eq!(env.balance(&pda::job_vault(&pda::job(id))).await, 1);
    let close = ix::close_job(&artist.wallet.pubkey(), id, &artist.token);
    env.send(&[close], &[]).await.unwrap();
    assert_eq!(env.balance(&artist.token).await, 3_909);
    assert!(!env.exists(&pda::job(id)).await);
    env.assert_conserved().await;
}

#[tokio::test]
async fn resolve_with_full_refund_and_slash_pays_the_artist() {
    let mut env = Env::new().await;
    let artist = env.artist(5_000).await;
    let a = env.register_node(MIN_STAKE).await;
    let (id, receipt) = rendered_job(&mut env, &artist, &[&a]).await;
    env.dispute(&artist, id).await.unwrap();
    let ix = resolve_ix(
        &env,
        &artist,
        id,
        Some((&receipt, a.key.pubkey())),
        10_000,
        400,
    );
    resolve(&mut env, ix).await.unwrap();
    assert_eq!(env.balance(&artist.token).await, 5_000 + 400);
    assert_eq!(env.balance(&env.treasury.clone()).await, 0);
    assert_eq!(env.balance(&pda::stake_vault(&a.key.pubkey())).await, 600);
    let node = env.node(&a.key.pubkey()).await;
    assert_eq!((node.stake, node.faults), (600, 1));
    assert_eq!(env.balance(&pda::job_vault(&pda::job(id))).await, 0);
    // The node's leaf is still valid but worth nothing now.
    claim(&mut env, id, &receipt, &a).await.unwrap();
    assert_eq!(env.balance(&a.operator_token).await, 10_000);
    assert_eq!(env.node(&a.key.pubkey()).await.tiles_rendered, 16);
    env.assert_conserved().await;
}

#[tokio::test]
async fn slash_caps_a_pending_withdrawal() {
    let mut env = Env::new().await;
    let artist = env.artist(5_000).await;
    let a = env.register_node(3_000).await;
    let (op, key) = (a.operator.pubkey(), a.key.pubkey());
    send_as(&mut env, &a.operator, ix::request_unstake(&op, &key, 3_000))
        .await
        .unwrap();
    let (id, receipt) = rendered_job(&mut env, &artist, &[&a]).await;
    env.dispute(&artist, id).await.unwrap();
    let ix = resolve_ix(&env, &artist, id, Some((&receipt, key)), 0, 2_000);
    resolve(&mut env, ix).await.unwrap();
    let node = env.node(&key).await;
    assert_eq!(
        (node.stake, node.unstake_amount, node.faults),
        (1_000, 1_000, 1)
    );
    // Nothing refunded (refund 0%): fee 40, refund 360 as in a normal settlement; slash 2 000.
    assert_eq!(env.balance(&artist.token).await, 3_000 + 360 + 2_000);
    env.set_time(START_TIME + UNSTAKE_COOLDOWN).await;
    let w = ix::withdraw_stake(&op, &key, &a.operator_token);
    send_as(&mut env, &a.operator, w).await.unwrap();
    assert_eq!(env.balance(&a.operator_token).await, 10_000 + 1_000);
    assert_eq!(env.balance(&pda::stake_vault(&key)).await, 0);
    assert_eq!(env.node(&key).await.stake, 0);
    env.assert_conserved().await;
}

#[tokio::test]
async fn resolve_by_non_admin_or_unsigned_fails() {
    let mut env = Env::new().await;
    let artist = env.artist(5_000).await;
    let a = env.register_node(MIN_STAKE).await;
    let (id, receipt) = rendered_job(&mut env, &artist, &[&a]).await;
    env.dispute(&artist, id).await.unwrap();
    // The artist resolves its own dispute with a full refund and a slash.
    let t = env.treasury;
    let me = artist.wallet.pubkey();
    let ix = ix::resolve_dispute(
        &me,
        id,
        &t,
        &artist.token,
        Some(slash_of(&receipt, &a.key.pubkey())),
        10_000,
        1_000,
    );
    assert_tessera(
        send_as(&mut env, &artist.wallet, ix).await,
        TesseraError::NotAdmin,
    );
    let admin = env.admin.pubkey();
    let ix = without_signer(resolve_ix(&env, &artist, id, None, 10_000, 0), &admin);
    assert_anchor(env.send(&[ix], &[]).await, Anchor::AccountNotSigner);
    assert_eq!(env.job(id).await.state, JobState::Disputed);
    assert_eq!(env.balance(&artist.token).await, 3_000);
    env.assert_conserved().await;
}

#[tokio::test]
async fn resolve_slash_with_another_nodes_stake_vault_fails() {
    let mut env = Env::new().await;
    let artist = env.artist(5_000).await;
    let a = env.register_node(MIN_STAKE).await;
    let rich = env.register_node(MIN_STAKE * 9).await;
    let (id, receipt) = rendered_job(&mut env, &artist, &[&a]).await;
    env.dispute(&artist, id).await.unwrap();
    // Node a's record (stake 1 000 passes the check) but the rich node's vault.
    let ix = resolve_ix(
        &env,
        &artist,
        id,
        Some((&receipt, a.key.pubkey())),
        0,
        1_000,
    );
    let ix = replace_account(
        ix,
        &pda::stake_vault(&a.key.pubkey()),
        &pda::stake_vault(&rich.key.pubkey()),
    );
    assert_tessera(
        resolve(&mut env, ix).await,
        TesseraError::MissingSlashAccounts,
    );
    // The job's own vault as the stake vault: refused before any handler code runs.
    let ix = resolve_ix(
        &env,
        &artist,
        id,
        Some((&receipt, a.key.pubkey())),
        0,
        1_000,
    );
    let ix = replace_account(
        ix,
        &pda::stake_vault(&a.key.pubkey()),
        &pda::job_vault(&pda::job(id)),
    );
    assert_anchor(
        resolve(&mut env, ix).await,
        Anchor::ConstraintDuplicateMutableAccount,
    );
    assert_eq!(
        env.balance(&pda::stake_vault(&rich.key.pubkey())).await,
        9_000
    );
    assert_eq!(env.job(id).await.state, JobState::Disputed);
    env.assert_conserved().await;
}

#[tokio::test]
async fn resolve_slash_without_node_accounts_fails() {
    let mut env = Env::new().await;
    let artist = env.artist(5_000).await;
    let a = env.register_node(MIN_STAKE).await;
    let (id, receipt) = rendered_job(&mut env, &artist, &[&a]).await;
    env.dispute(&artist, id).await.unwrap();
    let ix = resolve_ix(&env, &artist, id, None, 0, 100);
    assert_tessera(
        resolve(&mut env, ix).await,
        TesseraError::MissingSlashAccounts,
    );
    // Node given, its vault left out (the program id stands for "none").
    let ix = resolve_ix(&env, &artist, id, Some((&receipt, a.key.pubkey())), 0, 100);
    let ix = replace_account(ix, &pda::stake_vault(&a.key.pubkey()), &tessera::ID);
    assert_tessera(
        resolve(&mut env, ix).await,
        TesseraError::MissingSlashAccounts,
    );
    assert_eq!(env.job(id).await.state, JobState::Disputed);
}

#[tokio::test]
async fn resolve_slash_above_stake_or_refund_above_100_percent_fails() {
    let mut env = Env::new().await;
    let artist = env.artist(5_000).await;
    let a = env.register_node(MIN_STAKE).await;
    let (id, receipt) = rendered_job(&mut env, &artist, &[&a]).await;
    env.dispute(&artist, id).await.unwrap();
    let ix = resolve_ix(
        &env,
        &artist,
        id,
        Some((&receipt, a.key.pubkey())),
        0,
        MIN_STAKE + 1,
    );
    assert_tessera(resolve(&mut env, ix).await, TesseraError::InsufficientStake);
    let ix = resolve_ix(&env, &artist, id, None, 10_001, 0);
    assert_tessera(
        resolve(&mut env, ix).await,
        TesseraError::InvalidRefundShare,
    );
    let ix = resolve_ix(&env, &artist, id, None, u16::MAX, 0);
    assert_tessera(
        resolve(&mut env, ix).await,
        TesseraError::InvalidRefundShare,
    );
    assert_eq!(env.node(&a.key.pubkey()).await.stake, MIN_STAKE);
    assert_eq!(env.balance(&pda::job_vault(&pda::job(id))).await, 2_000);
}

#[tokio::test]
async fn resolve_with_wrong_treasury_or_refund_account_fails() {
    let mut env = Env::new().await;
    let artist = env.artist(5_000).await;
    let thief = env.artist(0).await;
    let a = env.register_node(MIN_STAKE).await;
    let (id, _) = rendered_job(&mut env, &artist, &[&a]).await;
    env.dispute(&artist, id).await.unwrap();
    let admin = env.admin.pubkey();
    let t = env.treasury;
    let ix = ix::resolve_dispute(&admin, id, &thief.token, &artist.token, None, 5_000, 0);
    assert_tessera(resolve(&mut env, ix).await, TesseraError::WrongTreasury);
    let ix = ix::resolve_dispute(&admin, id, &t, &thief.token, None, 5_000, 0);
    assert_anchor(resolve(&mut env, ix).await, Anchor::ConstraintTokenOwner);
    let ix = resolve_ix(&env, &artist, id, None, 5_000, 0);
    let ix = replace_account(
        ix,
        &pda::job_vault(&pda::job(id)),
        &pda::stake_vault(&a.key.pubkey()),
    );
    assert_anchor(resolve(&mut env, ix).await, Anchor::ConstraintSeeds);
    assert_eq!(env.balance(&thief.token).await, 0);
    env.assert_conserved().await;
}

#[tokio::test]
async fn resolve_a_job_that_is_not_disputed_fails() {
    let mut env = Env::new().await;
    let artist = env.artist(5_000).await;
    let a = env.register_node(MIN_STAKE).await;
    let (id, _) = rendered_job(&mut env, &artist, &[&a]).await;
    let ix = resolve_ix(&env, &artist, id, None, 10_000, 0);
    assert_tessera(resolve(&mut env, ix).await, TesseraError::WrongJobState);
    env.dispute(&artist, id).await.unwrap();
    // Same transaction as the refused one: a fresh blockhash so it is not a duplicate.
    env.refresh_blockhash().await;
    let ix = resolve_ix(&env, &artist, id, None, 10_000, 0);
    resolve(&mut env, ix.clone()).await.unwrap();
    assert_eq!(env.balance(&artist.token).await, 5_000);
    env.refresh_blockhash().await;
    assert_tessera(resolve(&mut env, ix).await, TesseraError::WrongJobState);
    assert_eq!(env.balance(&artist.token).await, 5_000);
    env.assert_conserved().await;
}
