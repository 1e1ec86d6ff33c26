use solana_sdk::{pubkey::Pubkey, signature::Signer};
use tessera::state::JobState;
use tessera_sdk::receipt::{Receipt, TileRecord};
use tessera_sdk::{ix, pda};

use crate::harness::*;

/// A receipt where `nodes[i]` rendered the tiles with `index % nodes.len() == i`,
/// except that the first node also takes the `extra` first tiles of the others.
pub fn receipt_for(job_key: &Pubkey, job: &tessera::state::Job, nodes: &[Pubkey]) -> Receipt {
    let per_frame = tessera_sdk::tiles::TileGrid::new(job.width, job.height, job.tile_size)
        .unwrap()
        .tiles_per_frame();
    let mut tiles = Vec::new();
    let mut n = 0usize;
    for frame in job.frame_start..=job.frame_end {
        for tile in 0..per_frame {
            tiles.push(TileRecord {
                frame,
                tile,
                node: nodes[n % nodes.len()],
                pixel_hash: [(frame * 100 + tile) as u8; 32],
            });
            n += 1;
        }
    }
    Receipt::build(job_key, job, tiles).expect("receipt")
}

/// Creates a job, posts a receipt for it rendered by `nodes`; returns (job id, receipt).
pub async fn rendered_job(
    env: &mut Env,
    artist: &Artist,
    nodes: &[&NodeFixture],
) -> (u64, Receipt) {
    let deadline = env.now().await + 10_000;
    let id = env
        .create_job(artist, small_job(deadline))
        .await
        .expect("create_job");
    let job = env.job(id).await;
    let keys: Vec<Pubkey> = nodes.iter().map(|n| n.key.pubkey()).collect();
    let receipt = receipt_for(&pda::job(id), &job, &keys);
    env.post(id, receipt.params().unwrap())
        .await
        .expect("post_receipt");
    (id, receipt)
}

pub async fn claim(
    env: &mut Env,
    id: u64,
    receipt: &Receipt,
    node: &NodeFixture,
) -> Result<(), solana_program_test::BanksClientError> {
    let (leaf, proof) = receipt
        .payout_proof(&node.key.pubkey())
        .expect("node in receipt");
    let payer = node.operator.insecure_clone();
    let ix = ix::claim_payout(
        &payer.pubkey(),
        id,
        &node.key.pubkey(),
        &node.operator_token,
        leaf.amount,
        leaf.tiles,
        proof,
    );
    env.send(&[ix], &[&payer]).await
}

#[tokio::test]
async fn whole_job_lifecycle_pays_everyone_exactly() {
    let mut env = Env::new().await;
    let artist = env.artist(5_000).await;
    let a = env.register_node(MIN_STAKE).await;
    let b = env.register_node(MIN_STAKE * 2).await;
    env.assert_conserved().await;

    let (id, receipt) = rendered_job(&mut env, &artist, &[&a, &b]).await;
    assert_eq!(env.balance(&artist.token).await, 3_000);
    assert_eq!(env.balance(&pda::job_vault(&pda::job(id))).await, 2_000);
    let job = env.job(id).await;
    assert_eq!(job.state, JobState::Rendered);
    assert_eq!(
        (job.tile_count, job.node_count, job.total_payout),
        (16, 2, 1_600)
    );

    env.approve(&artist, id).await.unwrap();
    // fee = 2.5% of 1 600 = 40; refund = 2 000 − 1 600 − 40 = 360.
    assert_eq!(env.balance(&env.treasury.clone()).await, 40);
    assert_eq!(env.balance(&artist.token).await, 3_360);
    assert_eq!(env.balance(&pda::job_vault(&pda::job(id))).await, 1_600);

    claim(&mut env, id, &receipt, &a).await.unwrap();
    claim(&mut env, id, &receipt, &b).await.unwrap();
    assert_eq!(env.balance(&a.operator_token).await, 10_000 + 800);
    assert_eq!(env.balance(&b.operator_token).await, 10_000 + 800);
    assert_eq!(env.node(&a.key.pubkey()).await.tiles_rendered, 8);
    env.assert_conserved().await;

    let rent_before = env.lamports(&artist.wallet.pubkey()).await;
    // The tile root stays (as slash evidence) until the slash window ends.
    env.set_time(START_TIME + CHALLENGE_WINDOW + RESOLUTION_PERIOD + 1)
        .await;
    env.send(
        &[ix::close_job(&artist.wallet.pubkey(), id, &artist.token)],
        &[],
    )
    .await
    .unwrap();
    assert!(!env.exists(&pda::job(id)).await);
    assert!(!env.exists(&pda::job_vault(&pda::job(id))).await);
    assert!(
        env.lamports(&artist.wallet.pubkey()).await > rent_before,
        "rent returned to the artist"
    );
    env.assert_conserved().await;
}

#[tokio::test]
async fn finalize_after_window_settles_without_the_artist() {
    let mut env = Env::new().await;
    let artist = env.artist(5_000).await;
    let a = env.register_node(MIN_STAKE).await;
    let (id, _) = rendered_job(&mut env, &artist, &[&a]).await;
    let treasury = env.treasury;
    let finalize = ix::finalize_job(id, &treasury, &artist.token);
    assert_tessera(
        env.send(std::slice::from_ref(&finalize), &[]).await,
        tessera::errors::TesseraError::ChallengeWindowOpen,
    );
    let now = env.now().await;
    env.set_time(now + CHALLENGE_WINDOW).await;
    env.send(&[finalize], &[]).await.unwrap();
    assert_eq!(env.job(id).await.state, JobState::Settled);
    assert_eq!(env.balance(&treasury).await, 40);
    assert_eq!(env.balance(&artist.token).await, 3_360);
    env.assert_conserved().await;
}
