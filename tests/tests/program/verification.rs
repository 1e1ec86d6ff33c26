//! Paid verification: check and tiebreak renders are leaves of the tile tree, paid like
//! tiles, within the job's verification share; the budget covers that share.
use solana_sdk::signature::Signer;
use tessera::errors::TesseraError;
use tessera::merkle::{self, MerkleTree, TileRole};
use tessera_sdk::receipt::{Receipt, RenderRecord};
use tessera_sdk::{ix, pda};

use crate::harness::*;
use crate::lifecycle::{claim, receipt_for};

/// A 16-tile job of `small_job` rendered by `a` and `b`, with `checks` verification renders
/// (a check of tile 0, a tiebreak of tile 1, …) by `c`, not posted yet.
async fn verified_receipt(
    env: &mut Env,
    artist: &Artist,
    nodes: [&NodeFixture; 3],
    checks: u32,
) -> (u64, Receipt) {
    let deadline = env.now().await + 10_000;
    let id = env.create_job(artist, small_job(deadline)).await.unwrap();
    let job = env.job(id).await;
    let keys = [nodes[0].key.pubkey(), nodes[1].key.pubkey()];
    let plain = receipt_for(&pda::job(id), &job, &keys);
    let c = nodes[2].key.pubkey();
    let renders = (0..checks)
        .map(|i| {
            let t = &plain.tiles[i as usize];
            RenderRecord {
                frame: t.frame,
                tile: t.tile,
                role: if i % 2 == 0 {
                    TileRole::Check
                } else {
                    TileRole::Tiebreak
                },
                node: c,
                pixel_hash: t.pixel_hash,
            }
        })
        .collect();
    let r = Receipt::build_with(&pda::job(id), &job, plain.tiles.clone(), renders, false)
        .expect("receipt with verifications");
    (id, r)
}

#[tokio::test]
async fn check_and_tiebreak_renders_are_paid_like_tiles() {
    let mut env = Env::new().await;
    let artist = env.artist(5_000).await;
    let (a, b, c) = (
        env.register_node(MIN_STAKE).await,
        env.register_node(MIN_STAKE).await,
        env.register_node(MIN_STAKE).await,
    );
    let (id, receipt) = verified_receipt(&mut env, &artist, [&a, &b, &c], 2).await;
    let p = receipt.params().unwrap();
    assert_eq!((p.tile_count, p.render_count, p.node_count), (16, 18, 3));
    assert_eq!(p.total_payout, 1_800);
    env.post(id, p).await.unwrap();
    let job = env.job(id).await;
    assert_eq!((job.render_count, job.verify_bps), (18, VERIFY_BPS));
    env.approve(&artist, id).await.unwrap();
    // 18 renders × 100 = 1 800, fee 2.5% = 45, refund 2 000 − 1 800 − 45 = 155.
    assert_eq!(env.balance(&env.treasury.clone()).await, 45);
    assert_eq!(env.balance(&artist.token).await, 3_000 + 155);
    for n in [&a, &b, &c] {
        claim(&mut env, id, &receipt, n).await.unwrap();
    }
    assert_eq!(env.balance(&a.operator_token).await, 10_800);
    assert_eq!(env.balance(&b.operator_token).await, 10_800);
    // The checker's two verification renders: 2 × 100.
    assert_eq!(env.balance(&c.operator_token).await, 10_200);
    assert_eq!(env.node(&c.key.pubkey()).await.tiles_rendered, 2);
    env.assert_conserved().await;
}

#[tokio::test]
async fn the_budget_must_cover_the_verification_share() {
    let mut env = Env::new().await;
    let artist = env.artist(5_000).await;
    let deadline = env.now().await + 10_000;
    // 16 tiles + ⌈16 × 10%⌉ = 2 verification renders = 18 × 100 = 1 800, + 2.5% = 1 845.
    let mut params = small_job(deadline);
    params.budget = 1_844;
    assert_tessera(
        env.create_job(&artist, params.clone()).await,
        TesseraError::BudgetTooSmall,
    );
    params.budget = 1_845;
    env.create_job(&artist, params).await.unwrap();
    env.assert_conserved().await;
}

#[tokio::test]
async fn a_receipt_claiming_more_verification_renders_than_the_job_allows_fails() {
    let mut env = Env::new().await;
    let artist = env.artist(5_000).await;
    let (a, b, c) = (
        env.register_node(MIN_STAKE).await,
        env.register_node(MIN_STAKE).await,
        env.register_node(MIN_STAKE).await,
    );
    let (id, receipt) = verified_receipt(&mut env, &artist, [&a, &b, &c], 2).await;
    let good = receipt.params().unwrap();
    // Three verification renders where the job pays two (10% of 16, rounded up).
    let mut p = good.clone();
    p.render_count = 19;
    assert_tessera(
        env.post(id, p).await,
        TesseraError::TooManyVerificationRenders,
    );
    // Fewer renders than tiles cannot be either.
    let mut p = good.clone();
    p.render_count = 15;
    env.refresh_blockhash().await;
    assert_tessera(
        env.post(id, p).await,
        TesseraError::TooManyVerificationRenders,
    );
    // The sdk refuses to build such a receipt in the first place.
    let job = env.job(id).await;
    let renders: Vec<RenderRecord> = receipt.tiles[..3]
        .iter()
        .map(|t| RenderRecord {
            frame: t.frame,
            tile: t.tile,
            role: TileRole::Check,
            node: c.key.pubkey(),
            pixel_hash: t.pixel_hash,
        })
        .collect();
    let three = Receipt::build_with(&pda::job(id), &job, receipt.tiles.clone(), renders, false);
    assert!(matches!(
        three,
        Err(tessera_sdk::receipt::ReceiptError::TooManyVerifications {
            count: 3,
            max: 2,
            ..
        })
    ));
    env.refresh_blockhash().await;
    env.post(id, good).await.unwrap();
}

#[tokio::test]
async fn a_receipt_paying_more_than_price_times_renders_fails() {
    let mut env = Env::new().await;
    let artist = env.artist(5_000).await;
    let (a, b, c) = (
        env.register_node(MIN_STAKE).await,
        env.register_node(MIN_STAKE).await,
        env.register_node(MIN_STAKE).await,
    );
    let (id, receipt) = verified_receipt(&mut env, &artist, [&a, &b, &c], 2).await;
    let mut p = receipt.params().unwrap();
    p.total_payout = 18 * 100 + 1;
    assert_tessera(
        env.post(id, p.clone()).await,
        TesseraError::PayoutExceedsEscrow,
    );
    // Declaring the renders it pays does not help when they are not there to declare.
    p.render_count = 16;
    p.total_payout = 1_700;
    env.refresh_blockhash().await;
    assert_tessera(env.post(id, p).await, TesseraError::PayoutExceedsEscrow);
}

#[tokio::test]
async fn a_payout_leaf_that_is_not_price_times_renders_cannot_be_claimed() {
    let mut env = Env::new().await;
    let artist = env.artist(5_000).await;
    let a = env.register_node(MIN_STAKE).await;
    let deadline = env.now().await + 10_000;
    let id = env.create_job(&artist, small_job(deadline)).await.unwrap();
    let job = env.job(id).await;
    let key = a.key.pubkey();
    let plain = receipt_for(&pda::job(id), &job, &[key]);
    // The orchestrator pays 1 600 for "1" render: the leaf would hide 15 renders from a
    // contest that compares renders with tiles.
    let leaf = merkle::payout_leaf(&pda::job(id), &key, 1_600, 1);
    let tree = MerkleTree::new(vec![leaf]).unwrap();
    let mut p = plain.params().unwrap();
    p.payout_root = tree.root();
    env.post(id, p).await.unwrap();
    env.approve(&artist, id).await.unwrap();
    let ix = ix::claim_payout(
        &a.operator.pubkey(),
        id,
        &key,
        &a.operator_token,
        1_600,
        1,
        vec![],
    );
    let op = a.operator.insecure_clone();
    assert_tessera(
        env.send(&[ix], &[&op]).await,
        TesseraError::PayoutNotPerRender,
    );
    env.assert_conserved().await;
}
