//! Disputes: `dispute_job` (bond, resolution deadline), `resolve_dispute` (refund share,
//! pro-rata claims, the bond returned when upheld) and the default outcome through
//! `finalize_job` once the resolution deadline has passed.
use anchor_lang::error::ErrorCode as Anchor;
use solana_program_test::BanksClientError;
use solana_sdk::{
    instruction::Instruction,
    signature::{Keypair, Signer},
};
use tessera::errors::TesseraError;
use tessera::state::JobState;
use tessera_sdk::{ix, pda};

use crate::harness::*;
use crate::lifecycle::{claim, rendered_job};

async fn send_as(env: &mut Env, who: &Keypair, ix: Instruction) -> Result<(), BanksClientError> {
    let who = who.insecure_clone();
    env.send(&[ix], &[&who]).await
}

fn resolve_ix(env: &Env, artist: &Artist, id: u64, refund_bps: u16) -> Instruction {
    ix::resolve_dispute(
        &env.admin.pubkey(),
        id,
        &env.treasury,
        &artist.token,
        refund_bps,
    )
}

async fn resolve(env: &mut Env, ix: Instruction) -> Result<(), BanksClientError> {
    let admin = env.admin.insecure_clone();
    env.send(&[ix], &[&admin]).await
}

#[tokio::test]
async fn dispute_job_posts_the_bond_and_starts_the_resolution_period() {
    let mut env = Env::new().await;
    let artist = env.artist(5_000).await;
    let a = env.register_node(MIN_STAKE).await;
    let (id, _) = rendered_job(&mut env, &artist, &[&a]).await;
    env.set_time(START_TIME + CHALLENGE_WINDOW - 1).await;
    env.dispute(&artist, id).await.unwrap();
    let job = env.job(id).await;
    assert_eq!((job.state, job.dispute_reason), (JobState::Disputed, 7));
    assert_eq!(job.bond, DISPUTE_BOND);
    assert_eq!(
        job.dispute_ends_at,
        START_TIME + CHALLENGE_WINDOW - 1 + RESOLUTION_PERIOD
    );
    assert_eq!(env.network().await.open_disputes, 1);
    assert_eq!(
        env.balance(&pda::job_vault(&pda::job(id))).await,
        2_000 + DISPUTE_BOND
    );
    assert_eq!(env.balance(&artist.token).await, 3_000 - DISPUTE_BOND);
    env.assert_conserved().await;
}

/// Disputes used to be free; now an artist that cannot pay the bond cannot dispute.
#[tokio::test]
async fn dispute_job_without_the_bond_fails() {
    let mut env = Env::new().await;
    let artist = env.artist(2_000 + DISPUTE_BOND - 1).await;
    let a = env.register_node(MIN_STAKE).await;
    let (id, _) = rendered_job(&mut env, &artist, &[&a]).await;
    // SPL Token's InsufficientFunds.
    assert_eq!(custom_code(env.dispute(&artist, id).await), 1);
    assert_eq!(env.job(id).await.state, JobState::Rendered);
    assert_eq!(env.network().await.open_disputes, 0);
}

#[tokio::test]
async fn dispute_job_by_non_artist_unsigned_or_paid_by_someone_else_fails() {
    let mut env = Env::new().await;
    let artist = env.artist(5_000).await;
    let a = env.register_node(MIN_STAKE).await;
    let (id, _) = rendered_job(&mut env, &artist, &[&a]).await;
    // A node operator tries to freeze the job.
    let ix = ix::dispute_job(&a.operator.pubkey(), id, &a.operator_token, 1);
    assert_tessera(
        send_as(&mut env, &a.operator, ix).await,
        TesseraError::NotArtist,
    );
    let me = artist.wallet.pubkey();
    let ix = without_signer(ix::dispute_job(&me, id, &artist.token, 1), &me);
    assert_anchor(env.send(&[ix], &[]).await, Anchor::AccountNotSigner);
    // The bond taken from the operator's tokens.
    let ix = ix::dispute_job(&me, id, &a.operator_token, 1);
    assert_anchor(
        send_as(&mut env, &artist.wallet, ix).await,
        Anchor::ConstraintTokenOwner,
    );
    assert_eq!(env.job(id).await.state, JobState::Rendered);
    env.assert_conserved().await;
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
async fn disputed_job_cannot_be_finalized_early_approved_claimed_or_disputed_again() {
    let mut env = Env::new().await;
    let artist = env.artist(5_000).await;
    let a = env.register_node(MIN_STAKE).await;
    let (id, receipt) = rendered_job(&mut env, &artist, &[&a]).await;
    env.dispute(&artist, id).await.unwrap();
    env.advance(RESOLUTION_PERIOD).await;
    let t = env.treasury;
    let fin = ix::finalize_job(id, &t, &artist.token);
    assert_tessera(env.send(&[fin], &[]).await, TesseraError::ResolutionPending);
    assert_tessera(env.approve(&artist, id).await, TesseraError::WrongJobState);
    assert_tessera(
        claim(&mut env, id, &receipt, &a).await,
        TesseraError::WrongJobState,
    );
    assert_tessera(env.dispute(&artist, id).await, TesseraError::WrongJobState);
    let close = ix::close_job(&artist.wallet.pubkey(), id, &artist.token);
    assert_tessera(env.send(&[close], &[]).await, TesseraError::WrongJobState);
    assert_eq!(
        env.balance(&pda::job_vault(&pda::job(id))).await,
        2_000 + DISPUTE_BOND
    );
    env.assert_conserved().await;
}

#[tokio::test]
async fn upheld_dispute_refunds_its_share_returns_the_bond_and_pays_nodes_pro_rata() {
    let mut env = Env::new().await;
    let artist = env.artist(5_000).await;
    let a = env.register_node(MIN_STAKE).await;
    let b = env.register_node(MIN_STAKE).await;
    let c = env.register_node(MIN_STAKE).await;
    // a renders 6 tiles (600), b and c 5 each (500).
    let (id, receipt) = rendered_job(&mut env, &artist, &[&a, &b, &c]).await;
    env.dispute(&artist, id).await.unwrap();
    let ix = resolve_ix(&env, &artist, id, 3_334);
    resolve(&mut env, ix).await.unwrap();
    // kept = 1 600 × 66.66% = 1 066; fee = 2.5% of 1 066 = 26; refund = 2 000 − 1 066 − 26 = 908;
    // the bond (500) comes back.
    let job = env.job(id).await;
    assert_eq!(
        (job.state, job.payout_share_bps, job.fee_paid, job.bond),
        (JobState::Resolved, 6_666, 26, 0)
    );
    assert_eq!(env.network().await.open_disputes, 0);
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
    // The tile root stays (as slash evidence) until the slash window ends.
    env.set_time(START_TIME + CHALLENGE_WINDOW + RESOLUTION_PERIOD + 1)
        .await;
    env.send(&[close], &[]).await.unwrap();
    assert_eq!(env.balance(&artist.token).await, 3_909);
    assert!(!env.exists(&pda::job(id)).await);
    env.assert_conserved().await;
}

#[tokio::test]
async fn rejected_dispute_settles_in_full_and_the_bond_goes_to_the_treasury() {
    let mut env = Env::new().await;
    let artist = env.artist(5_000).await;
    let a = env.register_node(MIN_STAKE).await;
    let (id, receipt) = rendered_job(&mut env, &artist, &[&a]).await;
    env.dispute(&artist, id).await.unwrap();
    let ix = resolve_ix(&env, &artist, id, 0);
    resolve(&mut env, ix).await.unwrap();
    // Fee 40 + bond 500 to the treasury; refund 360 as in a normal settlement.
    assert_eq!(env.balance(&env.treasury.clone()).await, 40 + DISPUTE_BOND);
    assert_eq!(env.balance(&artist.token).await, 3_000 - DISPUTE_BOND + 360);
    claim(&mut env, id, &receipt, &a).await.unwrap();
    assert_eq!(env.balance(&a.operator_token).await, 10_000 + 1_600);
    env.assert_conserved().await;
}

/// Disputes end: once the resolution deadline passes the admin can no longer act, and anyone
/// applies the default outcome (the receipt stands, the bond goes to the treasury), which
/// also releases the network's stake withdrawals.
#[tokio::test]
async fn unresolved_dispute_ends_by_its_default_outcome_after_the_deadline() {
    let mut env = Env::new().await;
    let artist = env.artist(5_000).await;
    let a = env.register_node(MIN_STAKE).await;
    let (id, receipt) = rendered_job(&mut env, &artist, &[&a]).await;
    env.dispute(&artist, id).await.unwrap();
    env.set_time(START_TIME + RESOLUTION_PERIOD + 1).await;
    let ix = resolve_ix(&env, &artist, id, 10_000);
    assert_tessera(
        resolve(&mut env, ix).await,
        TesseraError::ResolutionDeadlinePassed,
    );
    let t = env.treasury;
    env.send(&[ix::finalize_job(id, &t, &artist.token)], &[])
        .await
        .unwrap();
    let job = env.job(id).await;
    assert_eq!(
        (job.state, job.payout_share_bps, job.bond),
        (JobState::Resolved, 10_000, 0)
    );
    assert_eq!(env.network().await.open_disputes, 0);
    assert_eq!(env.balance(&t).await, 40 + DISPUTE_BOND);
    assert_eq!(env.balance(&artist.token).await, 3_000 - DISPUTE_BOND + 360);
    claim(&mut env, id, &receipt, &a).await.unwrap();
    assert_eq!(env.balance(&a.operator_token).await, 10_000 + 1_600);
    // Applied once: a second finalize finds the job resolved.
    env.refresh_blockhash().await;
    assert_tessera(
        env.send(&[ix::finalize_job(id, &t, &artist.token)], &[])
            .await,
        TesseraError::WrongJobState,
    );
    env.assert_conserved().await;
}

#[tokio::test]
async fn resolve_by_non_admin_or_unsigned_fails() {
    let mut env = Env::new().await;
    let artist = env.artist(5_000).await;
    let a = env.register_node(MIN_STAKE).await;
    let (id, _) = rendered_job(&mut env, &artist, &[&a]).await;
    env.dispute(&artist, id).await.unwrap();
    // The artist resolves its own dispute with a full refund.
    let t = env.treasury;
    let me = artist.wallet.pubkey();
    let ix = ix::resolve_dispute(&me, id, &t, &artist.token, 10_000);
    assert_tessera(
        send_as(&mut env, &artist.wallet, ix).await,
        TesseraError::NotAdmin,
    );
    let admin = env.admin.pubkey();
    let ix = without_signer(resolve_ix(&env, &artist, id, 10_000), &admin);
    assert_anchor(env.send(&[ix], &[]).await, Anchor::AccountNotSigner);
    assert_eq!(env.job(id).await.state, JobState::Disputed);
    assert_eq!(env.balance(&artist.token).await, 3_000 - DISPUTE_BOND);
    env.assert_conserved().await;
}

#[tokio::test]
async fn resolve_with_refund_above_100_percent_fails() {
    let mut env = Env::new().await;
    let artist = env.artist(5_000).await;
    let a = env.register_node(MIN_STAKE).await;
    let (id, _) = rendered_job(&mut env, &artist, &[&a]).await;
    env.dispute(&artist, id).await.unwrap();
    for bps in [10_001, u16::MAX] {
        let ix = resolve_ix(&env, &artist, id, bps);
        assert_tessera(
            resolve(&mut env, ix).await,
            TesseraError::InvalidRefundShare,
        );
    }
    assert_eq!(
        env.balance(&pda::job_vault(&pda::job(id))).await,
        2_000 + DISPUTE_BOND
    );
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
    let ix = ix::resolve_dispute(&admin, id, &thief.token, &artist.token, 5_000);
    assert_tessera(resolve(&mut env, ix).await, TesseraError::WrongTreasury);
    let ix = ix::resolve_dispute(&admin, id, &t, &thief.token, 5_000);
    assert_anchor(resolve(&mut env, ix).await, Anchor::ConstraintTokenOwner);
    let ix = resolve_ix(&env, &artist, id, 5_000);
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
    let ix = resolve_ix(&env, &artist, id, 10_000);
    assert_tessera(resolve(&mut env, ix).await, TesseraError::WrongJobState);
    env.dispute(&artist, id).await.unwrap();
    // Same transaction as the refused one: a fresh blockhash so it is not a duplicate.
    env.refresh_blockhash().await;
    let ix = resolve_ix(&env, &artist, id, 10_000);
    resolve(&mut env, ix.clone()).await.unwrap();
    assert_eq!(env.balance(&artist.token).await, 5_000);
    env.refresh_blockhash().await;
    assert_tessera(resolve(&mut env, ix).await, TesseraError::WrongJobState);
    assert_eq!(env.balance(&artist.token).await, 5_000);
    env.assert_conserved().await;
}
