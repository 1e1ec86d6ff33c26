//! No free renders (issue 14): cancelling or missing the deadline after work was done pays
//! the nodes for the verified tiles through a partial receipt posted within the job's settle
//! grace; only a job nobody posted a receipt for is refunded in full.
use solana_sdk::{pubkey::Pubkey, signature::Signer};
use tessera::errors::TesseraError;
use tessera::state::JobState;
use tessera_sdk::receipt::Receipt;
use tessera_sdk::{ix, pda};

use crate::harness::*;
use crate::lifecycle::{claim, receipt_for};

/// The receipt of the first `n` tiles (frame by frame) of job `id`, all rendered by `node`.
async fn partial(env: &mut Env, id: u64, node: &Pubkey, n: usize) -> Receipt {
    let job = env.job(id).await;
    let full = receipt_for(&pda::job(id), &job, &[*node]);
    let tiles = full.tiles.into_iter().take(n).collect();
    Receipt::build_partial(&pda::job(id), &job, tiles).expect("partial receipt")
}

async fn open_job(env: &mut Env, artist: &Artist) -> (u64, i64) {
    let deadline = env.now().await + 10_000;
    let id = env.create_job(artist, small_job(deadline)).await.unwrap();
    (id, deadline)
}

/// The exploit: the artist watches previews of every tile, cancels, and expects a full
/// refund. Now the cancel only opens the settle grace, the orchestrator posts the receipt of
/// the 6 verified tiles, and settlement pays them: 6 × 100 to the node, 2.5% fee on that (15),
/// and the artist gets back 2 000 − 600 − 15 = 1 385, not 2 000.
#[tokio::test]
async fn an_artist_who_cancels_mid_render_pays_for_what_was_verified() {
    let mut env = Env::new().await;
    let artist = env.artist(5_000).await;
    let a = env.register_node(MIN_STAKE).await;
    let (id, _) = open_job(&mut env, &artist).await;
    env.advance(100).await;
    env.cancel(&artist, id).await.unwrap();
    // The refund is not available while the orchestrator may still post.
    assert_tessera(
        env.expire(&artist, id).await,
        TesseraError::SettleGraceRunning,
    );
    env.advance(SETTLE_GRACE - 1).await;
    let receipt = partial(&mut env, id, &a.key.pubkey(), 6).await;
    env.post(id, receipt.params().unwrap()).await.unwrap();
    let job = env.job(id).await;
    assert_eq!(
        (job.state, job.tile_count, job.total_payout),
        (JobState::Rendered, 6, 600)
    );
    // A posted receipt ends the refund path: the artist disputes or settles it.
    env.refresh_blockhash().await;
    assert_tessera(env.expire(&artist, id).await, TesseraError::WrongJobState);
    env.approve(&artist, id).await.unwrap();
    assert_eq!(env.balance(&artist.token).await, 5_000 - 2_000 + 1_385);
    assert_eq!(env.balance(&env.treasury.clone()).await, 15);
    claim(&mut env, id, &receipt, &a).await.unwrap();
    assert_eq!(env.balance(&a.operator_token).await, 10_000 + 600);
    env.assert_conserved().await;
}

/// The deadline variant: a deadline too tight for the job (or one tile that never completes)
/// used to let `expire_job` refund everything. Past the deadline, within the grace, the
/// orchestrator posts the 15 verified tiles of 16; the missing tile is refunded.
#[tokio::test]
async fn a_missed_deadline_pays_the_verified_tiles_and_refunds_the_missing_one() {
    let mut env = Env::new().await;
    let artist = env.artist(5_000).await;
    let a = env.register_node(MIN_STAKE).await;
    let (id, deadline) = open_job(&mut env, &artist).await;
    env.set_time(deadline + 1).await;
    assert_tessera(
        env.expire(&artist, id).await,
        TesseraError::SettleGraceRunning,
    );
    let receipt = partial(&mut env, id, &a.key.pubkey(), 15).await;
    env.post(id, receipt.params().unwrap()).await.unwrap();
    env.approve(&artist, id).await.unwrap();
    // 15 × 100 = 1 500 to the node, fee 37 (2.5%, rounded down), refund 2 000 − 1 537 = 463.
    assert_eq!(env.balance(&artist.token).await, 3_000 + 463);
    assert_eq!(env.balance(&env.treasury.clone()).await, 37);
    claim(&mut env, id, &receipt, &a).await.unwrap();
    assert_eq!(env.balance(&a.operator_token).await, 10_000 + 1_500);
    env.assert_conserved().await;
}

#[tokio::test]
async fn a_partial_receipt_before_the_deadline_of_a_running_job_is_refused() {
    let mut env = Env::new().await;
    let artist = env.artist(5_000).await;
    let a = env.register_node(MIN_STAKE).await;
    let (id, _) = open_job(&mut env, &artist).await;
    let receipt = partial(&mut env, id, &a.key.pubkey(), 15).await;
    assert_tessera(
        env.post(id, receipt.params().unwrap()).await,
        TesseraError::WrongTileCount,
    );
    assert_eq!(env.job(id).await.state, JobState::Open);
}

#[tokio::test]
async fn a_receipt_after_the_settle_grace_is_refused_and_the_artist_is_refunded() {
    let mut env = Env::new().await;
    let artist = env.artist(5_000).await;
    let a = env.register_node(MIN_STAKE).await;
    let (id, _) = open_job(&mut env, &artist).await;
    env.cancel(&artist, id).await.unwrap();
    env.advance(SETTLE_GRACE + 1).await;
    let receipt = partial(&mut env, id, &a.key.pubkey(), 6).await;
    assert_tessera(
        env.post(id, receipt.params().unwrap()).await,
        TesseraError::ReceiptTooLate,
    );
    env.expire(&artist, id).await.unwrap();
    assert_eq!(env.balance(&artist.token).await, 5_000);
    env.assert_conserved().await;
}

/// The grace runs from the cancel request, or from the deadline when that came first; a
/// cancel request after the deadline does not extend it.
#[tokio::test]
async fn a_cancel_after_the_deadline_does_not_extend_the_grace() {
    let mut env = Env::new().await;
    let artist = env.artist(5_000).await;
    let a = env.register_node(MIN_STAKE).await;
    let (id, deadline) = open_job(&mut env, &artist).await;
    env.set_time(deadline + SETTLE_GRACE - 10).await;
    env.cancel(&artist, id).await.unwrap();
    env.set_time(deadline + SETTLE_GRACE + 1).await;
    let receipt = partial(&mut env, id, &a.key.pubkey(), 6).await;
    assert_tessera(
        env.post(id, receipt.params().unwrap()).await,
        TesseraError::ReceiptTooLate,
    );
    env.expire(&artist, id).await.unwrap();
    assert_eq!(env.balance(&artist.token).await, 5_000);
}

#[tokio::test]
async fn a_partial_receipt_is_bounded_by_its_tiles_and_signed_by_the_jobs_orchestrator() {
    let mut env = Env::new().await;
    let artist = env.artist(5_000).await;
    let a = env.register_node(MIN_STAKE).await;
    let (id, _) = open_job(&mut env, &artist).await;
    env.cancel(&artist, id).await.unwrap();
    let receipt = partial(&mut env, id, &a.key.pubkey(), 6).await;
    // Paying more than price × the tiles it covers.
    let mut params = receipt.params().unwrap();
    params.total_payout = 601;
    assert_tessera(
        env.post(id, params).await,
        TesseraError::PayoutExceedsEscrow,
    );
    // An empty receipt.
    let mut params = receipt.params().unwrap();
    params.tile_count = 0;
    params.node_count = 0;
    assert_tessera(env.post(id, params).await, TesseraError::WrongTileCount);
    // More tiles than the job has.
    let mut params = receipt.params().unwrap();
    params.tile_count = 17;
    assert_tessera(env.post(id, params).await, TesseraError::WrongTileCount);
    // Signed by someone else than the job's orchestrator.
    let intruder = env.funded().await;
    env.deposit_bond(&intruder.pubkey(), BOND_DEPOSIT)
        .await
        .unwrap();
    let ixn = ix::post_receipt(&intruder.pubkey(), id, receipt.params().unwrap(), &[]);
    assert_tessera(
        env.send(&[ixn], &[&intruder]).await,
        TesseraError::NotOrchestrator,
    );
    assert_eq!(env.job(id).await.state, JobState::CancelRequested);
    env.post(id, receipt.params().unwrap()).await.unwrap();
}

/// A partial receipt can be disputed like any other: the artist is protected from a receipt
/// for tiles that were not delivered.
#[tokio::test]
async fn a_partial_receipt_can_be_disputed() {
    let mut env = Env::new().await;
    let artist = env.artist(5_000).await;
    let a = env.register_node(MIN_STAKE).await;
    let (id, _) = open_job(&mut env, &artist).await;
    env.cancel(&artist, id).await.unwrap();
    let receipt = partial(&mut env, id, &a.key.pubkey(), 6).await;
    env.post(id, receipt.params().unwrap()).await.unwrap();
    env.dispute(&artist, id).await.unwrap();
    assert_eq!(env.job(id).await.state, JobState::Disputed);
}
