//! After rendering: `post_receipt`, `approve_job`, `finalize_job`, `claim_payout`, `close_job`.
use anchor_lang::error::ErrorCode as Anchor;
use solana_program_test::BanksClientError;
use solana_sdk::{
    instruction::Instruction,
    pubkey::Pubkey,
    signature::{Keypair, Signer},
};
use tessera::errors::TesseraError;
use tessera::state::JobState;
use tessera_sdk::receipt::Receipt;
use tessera_sdk::{ix, pda};

use crate::harness::*;
use crate::lifecycle::{claim, receipt_for, rendered_job};

/// An open job (deadline now + 10 000) and the receipt `nodes` would post for it.
async fn open_job(env: &mut Env, artist: &Artist, nodes: &[&NodeFixture]) -> (u64, Receipt) {
    let d = env.now().await + 10_000;
    let id = env.create_job(artist, small_job(d)).await.unwrap();
    let job = env.job(id).await;
    let keys: Vec<Pubkey> = nodes.iter().map(|n| n.key.pubkey()).collect();
    (id, receipt_for(&pda::job(id), &job, &keys))
}

/// A job rendered by `nodes` and approved by the artist.
async fn settled_job(env: &mut Env, artist: &Artist, nodes: &[&NodeFixture]) -> (u64, Receipt) {
    let (id, receipt) = rendered_job(env, artist, nodes).await;
    env.approve(artist, id).await.unwrap();
    (id, receipt)
}

fn claim_ix(
    id: u64,
    node: &NodeFixture,
    amount: u64,
    tiles: u32,
    proof: Vec<[u8; 32]>,
) -> Instruction {
    ix::claim_payout(
        &node.operator.pubkey(),
        id,
        &node.key.pubkey(),
        &node.operator_token,
        amount,
        tiles,
        proof,
    )
}

async fn send_as(env: &mut Env, who: &Keypair, ix: Instruction) -> Result<(), BanksClientError> {
    let who = who.insecure_clone();
    env.send(&[ix], &[&who]).await
}

#[tokio::test]
async fn post_receipt_records_roots_and_starts_the_window() {
    let mut env = Env::new().await;
    let artist = env.artist(5_000).await;
    let a = env.register_node(MIN_STAKE).await;
    let b = env.register_node(MIN_STAKE).await;
    let (id, receipt) = open_job(&mut env, &artist, &[&a, &b]).await;
    let p = receipt.params().unwrap();
    env.post(id, p.clone()).await.unwrap();
    let job = env.job(id).await;
    assert_eq!(job.state, JobState::Rendered);
    assert_eq!(
        (job.tile_root, job.payout_root),
        (p.tile_root, p.payout_root)
    );
    assert_eq!(
        (job.total_payout, job.tile_count, job.node_count),
        (1_600, 16, 2)
    );
    assert_eq!(
        (job.rendered_at, job.challenge_ends_at),
        (START_TIME, START_TIME + CHALLENGE_WINDOW)
    );
    // No tokens move on a receipt.
    assert_eq!(env.balance(&pda::job_vault(&pda::job(id))).await, 2_000);
    env.assert_conserved().await;
}

#[tokio::test]
async fn post_receipt_by_non_orchestrator_fails() {
    let mut env = Env::new().await;
    let artist = env.artist(5_000).await;
    let a = env.register_node(MIN_STAKE).await;
    let (id, receipt) = open_job(&mut env, &artist, &[&a]).await;
    // The node itself tries to post a receipt paying itself.
    let op = a.operator.insecure_clone();
    // Even with a bond of its own, only the job's orchestrator may post.
    env.deposit_bond(&op.pubkey(), BOND_DEPOSIT).await.unwrap();
    let ix = ix::post_receipt(&op.pubkey(), id, receipt.params().unwrap(), &[]);
    assert_tessera(
        send_as(&mut env, &op, ix).await,
        TesseraError::NotOrchestrator,
    );
    let orch = env.orchestrator.pubkey();
    let ix = without_signer(
        ix::post_receipt(&orch, id, receipt.params().unwrap(), &[]),
        &orch,
    );
    assert_anchor(env.send(&[ix], &[]).await, Anchor::AccountNotSigner);
    assert_eq!(env.job(id).await.state, JobState::Open);
}

#[tokio::test]
async fn post_receipt_twice_fails() {
    let mut env = Env::new().await;
    let artist = env.artist(5_000).await;
    let a = env.register_node(MIN_STAKE).await;
    let b = env.register_node(MIN_STAKE).await;
    let (id, receipt) = rendered_job(&mut env, &artist, &[&a]).await;
    // A second receipt that would pay B instead.
    let job = env.job(id).await;
    let other = receipt_for(&pda::job(id), &job, &[b.key.pubkey()]);
    assert_tessera(
        env.post(id, other.params().unwrap()).await,
        TesseraError::WrongJobState,
    );
    assert_eq!(
        env.job(id).await.payout_root,
        receipt.params().unwrap().payout_root
    );
}

/// A full receipt is accepted until the deadline plus the settle grace (a receipt that just
/// misses the deadline no longer turns into a full refund), not after.
#[tokio::test]
async fn post_receipt_after_deadline_and_grace_fails_within_grace_succeeds() {
    let mut env = Env::new().await;
    let artist = env.artist(5_000).await;
    let a = env.register_node(MIN_STAKE).await;
    let (late, r1) = open_job(&mut env, &artist, &[&a]).await;
    let (on_time, r2) = open_job(&mut env, &artist, &[&a]).await;
    let d = env.job(late).await.deadline;
    env.set_time(d + SETTLE_GRACE + 1).await;
    assert_tessera(
        env.post(late, r1.params().unwrap()).await,
        TesseraError::ReceiptTooLate,
    );
    env.set_time(d + SETTLE_GRACE).await;
    env.post(on_time, r2.params().unwrap()).await.unwrap();
    assert_eq!(env.job(on_time).await.state, JobState::Rendered);
}

#[tokio::test]
async fn post_receipt_with_wrong_tile_count_fails() {
    let mut env = Env::new().await;
    let artist = env.artist(5_000).await;
    let a = env.register_node(MIN_STAKE).await;
    let (id, receipt) = open_job(&mut env, &artist, &[&a]).await;
    for tiles in [15, 17, 0] {
        let mut p = receipt.params().unwrap();
        p.tile_count = tiles;
        assert_tessera(env.post(id, p).await, TesseraError::WrongTileCount);
    }
}

#[tokio::test]
async fn post_receipt_with_zero_or_too_many_nodes_fails() {
    let mut env = Env::new().await;
    let artist = env.artist(5_000).await;
    let a = env.register_node(MIN_STAKE).await;
    let (id, receipt) = open_job(&mut env, &artist, &[&a]).await;
    for nodes in [0, 17, u32::MAX] {
        let mut p = receipt.params().unwrap();
        p.node_count = nodes;
        assert_tessera(env.post(id, p).await, TesseraError::InvalidNodeCount);
    }
    let mut p = receipt.params().unwrap();
    p.node_count = 16;
    env.post(id, p).await.unwrap();
}

#[tokio::test]
async fn post_receipt_with_empty_roots_fails() {
    let mut env = Env::new().await;
    let artist = env.artist(5_000).await;
    let a = env.register_node(MIN_STAKE).await;
    let (id, receipt) = open_job(&mut env, &artist, &[&a]).await;
    let mut p = receipt.params().unwrap();
    p.payout_root = [0; 32];
    assert_tessera(env.post(id, p).await, TesseraError::InvalidProof);
    let mut p = receipt.params().unwrap();
    p.tile_root = [0; 32];
    assert_tessera(env.post(id, p).await, TesseraError::InvalidProof);
}

#[tokio::test]
async fn post_receipt_paying_more_than_price_times_tiles_fails() {
    let mut env = Env::new().await;
    let artist = env.artist(50_000).await;
    let a = env.register_node(MIN_STAKE).await;
    // A generous budget: the cap is still price × tiles (1 600), not the budget.
    let d = env.now().await + 10_000;
    let mut params = small_job(d);
    params.budget = 20_000;
    let id = env.create_job(&artist, params).await.unwrap();
    let job = env.job(id).await;
    let receipt = receipt_for(&pda::job(id), &job, &[a.key.pubkey()]);
    let mut p = receipt.params().unwrap();
    p.total_payout = 1_601;
    assert_tessera(
        env.post(id, p.clone()).await,
        TesseraError::PayoutExceedsEscrow,
    );
    p.total_payout = u64::MAX;
    assert_tessera(env.post(id, p).await, TesseraError::PayoutExceedsEscrow);
    env.post(id, receipt.params().unwrap()).await.unwrap();
}

#[tokio::test]
async fn approve_job_pays_fee_refunds_rest_and_keeps_payouts() {
    let mut env = Env::new().await;
    let artist = env.artist(5_000).await;
    let a = env.register_node(MIN_STAKE).await;
    let (id, _) = rendered_job(&mut env, &artist, &[&a]).await;
    env.approve(&artist, id).await.unwrap();
    let job = env.job(id).await;
    assert_eq!(job.state, JobState::Settled);
    assert_eq!(
        (job.fee_paid, job.settled_at, job.claims_end_at),
        (40, START_TIME, START_TIME + CLAIM_GRACE)
    );
    assert_eq!(env.balance(&env.treasury.clone()).await, 40);
    assert_eq!(env.balance(&artist.token).await, 3_360);
    assert_eq!(env.balance(&pda::job_vault(&pda::job(id))).await, 1_600);
    env.assert_conserved().await;
}

#[tokio::test]
async fn approve_job_by_non_artist_or_unsigned_fails() {
    let mut env = Env::new().await;
    let artist = env.artist(5_000).await;
    let thief = env.artist(0).await;
    let a = env.register_node(MIN_STAKE).await;
    let (id, _) = rendered_job(&mut env, &artist, &[&a]).await;
    let t = env.treasury;
    let ix = ix::approve_job(&thief.wallet.pubkey(), id, &t, &thief.token);
    assert_tessera(
        send_as(&mut env, &thief.wallet, ix).await,
        TesseraError::NotArtist,
    );
    let me = artist.wallet.pubkey();
    let ix = without_signer(ix::approve_job(&me, id, &t, &artist.token), &me);
    assert_anchor(env.send(&[ix], &[]).await, Anchor::AccountNotSigner);
    assert_eq!(env.job(id).await.state, JobState::Rendered);
}

#[tokio::test]
async fn approve_job_with_substituted_accounts_fails() {
    let mut env = Env::new().await;
    let artist = env.artist(10_000).await;
    let a = env.register_node(MIN_STAKE).await;
    let (id, _) = rendered_job(&mut env, &artist, &[&a]).await;
    let (other_id, _) = rendered_job(&mut env, &artist, &[&a]).await;
    let me = artist.wallet.pubkey();
    let t = env.treasury;
    // Fee to an account the artist controls.
    let own = env.token_account(&me).await;
    let ix = ix::approve_job(&me, id, &own, &artist.token);
    assert_tessera(
        send_as(&mut env, &artist.wallet, ix).await,
        TesseraError::WrongTreasury,
    );
    // Another job's vault.
    let ix = ix::approve_job(&me, id, &t, &artist.token);
    let ix = replace_account(
        ix,
        &pda::job_vault(&pda::job(id)),
        &pda::job_vault(&pda::job(other_id)),
    );
    assert_anchor(
        send_as(&mut env, &artist.wallet, ix).await,
        Anchor::ConstraintSeeds,
    );
    // Refund into another mint's account.
    let other = env.other_mint().await;
    let wrong = env.token_account_of(&other, &me).await;
    let ix = ix::approve_job(&me, id, &t, &wrong);
    assert_anchor(
        send_as(&mut env, &artist.wallet, ix).await,
        Anchor::ConstraintTokenMint,
    );
    assert_eq!(env.balance(&pda::job_vault(&pda::job(id))).await, 2_000);
    assert_eq!(
        env.balance(&pda::job_vault(&pda::job(other_id))).await,
        2_000
    );
    env.assert_conserved().await;
}

#[tokio::test]
async fn approve_job_twice_or_before_receipt_fails() {
    let mut env = Env::new().await;
    let artist = env.artist(10_000).await;
    let a = env.register_node(MIN_STAKE).await;
    let (open, _) = open_job(&mut env, &artist, &[&a]).await;
    assert_tessera(
        env.approve(&artist, open).await,
        TesseraError::WrongJobState,
    );
    let (id, _) = settled_job(&mut env, &artist, &[&a]).await;
    env.refresh_blockhash().await;
    assert_tessera(env.approve(&artist, id).await, TesseraError::WrongJobState);
    // Only one fee, one refund.
    assert_eq!(env.balance(&env.treasury.clone()).await, 40);
    assert_eq!(
        env.balance(&artist.token).await,
        10_000 - 2_000 - 2_000 + 360
    );
    env.assert_conserved().await;
}

#[tokio::test]
async fn finalize_job_exactly_at_window_end_by_anyone() {
    let mut env = Env::new().await;
    let artist = env.artist(5_000).await;
    let a = env.register_node(MIN_STAKE).await;
    let (id, _) = rendered_job(&mut env, &artist, &[&a]).await;
    let t = env.treasury;
    let fin = ix::finalize_job(id, &t, &artist.token);
    env.set_time(START_TIME + CHALLENGE_WINDOW - 1).await;
    assert_tessera(
        env.send(std::slice::from_ref(&fin), &[]).await,
        TesseraError::ChallengeWindowOpen,
    );
    env.set_time(START_TIME + CHALLENGE_WINDOW).await;
    env.send(&[fin], &[]).await.unwrap();
    assert_eq!(env.job(id).await.state, JobState::Settled);
    assert_eq!(env.balance(&t).await, 40);
    assert_eq!(env.balance(&artist.token).await, 3_360);
    env.assert_conserved().await;
}

#[tokio::test]
async fn finalize_job_diverting_refund_or_fee_fails() {
    let mut env = Env::new().await;
    let artist = env.artist(5_000).await;
    let thief = env.artist(0).await;
    let a = env.register_node(MIN_STAKE).await;
    let (id, _) = rendered_job(&mut env, &artist, &[&a]).await;
    env.advance(CHALLENGE_WINDOW).await;
    let t = env.treasury;
    let ix = ix::finalize_job(id, &t, &thief.token);
    assert_anchor(env.send(&[ix], &[]).await, Anchor::ConstraintTokenOwner);
    let ix = ix::finalize_job(id, &thief.token, &artist.token);
    assert_tessera(env.send(&[ix], &[]).await, TesseraError::WrongTreasury);
    assert_eq!(env.balance(&thief.token).await, 0);
    assert_eq!(env.balance(&pda::job_vault(&pda::job(id))).await, 2_000);
}

#[tokio::test]
async fn finalize_job_before_receipt_or_twice_fails() {
    let mut env = Env::new().await;
    let artist = env.artist(10_000).await;
    let a = env.register_node(MIN_STAKE).await;
    let (open, _) = open_job(&mut env, &artist, &[&a]).await;
    let t = env.treasury;
    let ix = ix::finalize_job(open, &t, &artist.token);
    assert_tessera(env.send(&[ix], &[]).await, TesseraError::WrongJobState);
    let (id, _) = settled_job(&mut env, &artist, &[&a]).await;
    env.advance(CHALLENGE_WINDOW).await;
    let ix = ix::finalize_job(id, &t, &artist.token);
    assert_tessera(env.send(&[ix], &[]).await, TesseraError::WrongJobState);
    assert_eq!(env.balance(&t).await, 40);
}

#[tokio::test]
async fn claim_by_a_third_party_pays_the_operator() {
    let mut env = Env::new().await;
    let artist = env.artist(5_000).await;
    let a = env.register_node(MIN_STAKE).await;
    let b = env.register_node(MIN_STAKE).await;
    let (id, receipt) = settled_job(&mut env, &artist, &[&a, &b]).await;
    let cranker = env.funded().await;
    let (leaf, proof) = receipt.payout_proof(&a.key.pubkey()).unwrap();
    let ix = ix::claim_payout(
        &cranker.pubkey(),
        id,
        &a.key.pubkey(),
        &a.operator_token,
        leaf.amount,
        leaf.tiles,
        proof,
    );
    send_as(&mut env, &cranker, ix).await.unwrap();
    assert_eq!(env.balance(&a.operator_token).await, 10_800);
    assert_eq!(env.balance(&pda::job_vault(&pda::job(id))).await, 800);
    let rec: tessera::state::Claim = env
        .anchor(&pda::claim(&pda::job(id), &a.key.pubkey()))
        .await;
    assert_eq!(
        (rec.amount, rec.paid, rec.node_key),
        (800, 800, a.key.pubkey())
    );
    let job = env.job(id).await;
    assert_eq!((job.claimed_count, job.claimed_amount), (1, 800));
    env.assert_conserved().await;
}

#[tokio::test]
async fn claim_before_settlement_fails() {
    let mut env = Env::new().await;
    let artist = env.artist(5_000).await;
    let a = env.register_node(MIN_STAKE).await;
    let (id, receipt) = rendered_job(&mut env, &artist, &[&a]).await;
    assert_tessera(
        claim(&mut env, id, &receipt, &a).await,
        TesseraError::WrongJobState,
    );
    assert_eq!(env.balance(&a.operator_token).await, 10_000);
}

#[tokio::test]
async fn claim_with_forged_or_inflated_proof_fails() {
    let mut env = Env::new().await;
    let artist = env.artist(5_000).await;
    let a = env.register_node(MIN_STAKE).await;
    let b = env.register_node(MIN_STAKE).await;
    let (id, receipt) = settled_job(&mut env, &artist, &[&a, &b]).await;
    let (leaf, proof) = receipt.payout_proof(&a.key.pubkey()).unwrap();
    // Inflated amount with the real proof (and the tiles to match the price rule).
    let ix = claim_ix(id, &a, leaf.amount + 800, leaf.tiles + 8, proof.clone());
    assert_tessera(
        send_as(&mut env, &a.operator, ix).await,
        TesseraError::InvalidProof,
    );
    // An amount that is not price × tiles never gets as far as the proof.
    let ix = claim_ix(id, &a, leaf.amount + 800, leaf.tiles, proof.clone());
    assert_tessera(
        send_as(&mut env, &a.operator, ix).await,
        TesseraError::PayoutNotPerRender,
    );
    // More tiles for reputation.
    let ix = claim_ix(id, &a, leaf.amount, leaf.tiles + 1, proof.clone());
    assert_tessera(
        send_as(&mut env, &a.operator, ix).await,
        TesseraError::PayoutNotPerRender,
    );
    // A made-up sibling.
    let ix = claim_ix(id, &a, leaf.amount, leaf.tiles, vec![[9; 32]]);
    assert_tessera(
        send_as(&mut env, &a.operator, ix).await,
        TesseraError::InvalidProof,
    );
    // No proof: the leaf alone is not the root of a two-node tree.
    let ix = claim_ix(id, &a, leaf.amount, leaf.tiles, vec![]);
    assert_tessera(
        send_as(&mut env, &a.operator, ix).await,
        TesseraError::InvalidProof,
    );
    // Claiming the whole payout as if it were one leaf.
    let ix = claim_ix(id, &a, 1_600, 16, vec![]);
    assert_tessera(
        send_as(&mut env, &a.operator, ix).await,
        TesseraError::InvalidProof,
    );
    // 33 siblings.
    let ix = claim_ix(id, &a, leaf.amount, leaf.tiles, vec![[1; 32]; 33]);
    assert_tessera(
        send_as(&mut env, &a.operator, ix).await,
        TesseraError::ProofTooLong,
    );
    assert_eq!(env.balance(&a.operator_token).await, 10_000);
    assert_eq!(env.balance(&pda::job_vault(&pda::job(id))).await, 1_600);
}

#[tokio::test]
async fn claim_with_someone_elses_leaf_fails() {
    let mut env = Env::new().await;
    let artist = env.artist(5_000).await;
    let a = env.register_node(MIN_STAKE).await;
    let b = env.register_node(MIN_STAKE).await;
    let c = env.register_node(MIN_STAKE).await;
    let (id, receipt) = settled_job(&mut env, &artist, &[&a, &b]).await;
    let (leaf, proof) = receipt.payout_proof(&a.key.pubkey()).unwrap();
    // B (in the job) and C (not in it) present A's leaf and proof for their own node.
    for node in [&b, &c] {
        let ix = claim_ix(id, node, leaf.amount, leaf.tiles, proof.clone());
        assert_tessera(
            send_as(&mut env, &node.operator, ix).await,
            TesseraError::InvalidProof,
        );
    }
    // B claims A's leaf for A's node but paid into B's account.
    let ix = ix::claim_payout(
        &b.operator.pubkey(),
        id,
        &a.key.pubkey(),
        &b.operator_token,
        leaf.amount,
        leaf.tiles,
        proof,
    );
    assert_anchor(
        send_as(&mut env, &b.operator, ix).await,
        Anchor::ConstraintTokenOwner,
    );
    assert_eq!(env.balance(&b.operator_token).await, 10_000);
    assert_eq!(env.balance(&pda::job_vault(&pda::job(id))).await, 1_600);
}

#[tokio::test]
async fn claim_with_another_jobs_proof_fails() {
    let mut env = Env::new().await;
    let artist = env.artist(10_000).await;
    let a = env.register_node(MIN_STAKE).await;
    let b = env.register_node(MIN_STAKE).await;
    let (first, r1) = settled_job(&mut env, &artist, &[&a, &b]).await;
    let (second, _) = settled_job(&mut env, &artist, &[&b]).await;
    let (leaf, proof) = r1.payout_proof(&a.key.pubkey()).unwrap();
    let ix = claim_ix(second, &a, leaf.amount, leaf.tiles, proof.clone());
    assert_tessera(
        send_as(&mut env, &a.operator, ix).await,
        TesseraError::InvalidProof,
    );
    // The first job's proof with the second job's vault.
    let ix = claim_ix(first, &a, leaf.amount, leaf.tiles, proof);
    let ix = replace_account(
        ix,
        &pda::job_vault(&pda::job(first)),
        &pda::job_vault(&pda::job(second)),
    );
    assert_anchor(
        send_as(&mut env, &a.operator, ix).await,
        Anchor::ConstraintSeeds,
    );
    assert_eq!(env.balance(&pda::job_vault(&pda::job(second))).await, 1_600);
    env.assert_conserved().await;
}

#[tokio::test]
async fn claim_record_at_another_address_fails() {
    let mut env = Env::new().await;
    let artist = env.artist(5_000).await;
    let a = env.register_node(MIN_STAKE).await;
    let b = env.register_node(MIN_STAKE).await;
    let (id, receipt) = settled_job(&mut env, &artist, &[&a, &b]).await;
    let (leaf, proof) = receipt.payout_proof(&a.key.pubkey()).unwrap();
    let job = pda::job(id);
    // A records its claim at B's claim address, hoping to claim again later.
    let ix = claim_ix(id, &a, leaf.amount, leaf.tiles, proof);
    let ix = replace_account(
        ix,
        &pda::claim(&job, &a.key.pubkey()),
        &pda::claim(&job, &b.key.pubkey()),
    );
    assert_anchor(
        send_as(&mut env, &a.operator, ix).await,
        Anchor::ConstraintSeeds,
    );
    assert_eq!(env.balance(&a.operator_token).await, 10_000);
}

#[tokio::test]
async fn claim_into_another_mint_account_fails() {
    let mut env = Env::new().await;
    let artist = env.artist(5_000).await;
    let a = env.register_node(MIN_STAKE).await;
    let (id, receipt) = settled_job(&mut env, &artist, &[&a]).await;
    let other = env.other_mint().await;
    let wrong = env.token_account_of(&other, &a.operator.pubkey()).await;
    let (leaf, proof) = receipt.payout_proof(&a.key.pubkey()).unwrap();
    let ix = ix::claim_payout(
        &a.operator.pubkey(),
        id,
        &a.key.pubkey(),
        &wrong,
        leaf.amount,
        leaf.tiles,
        proof,
    );
    assert_anchor(
        send_as(&mut env, &a.operator, ix).await,
        Anchor::ConstraintTokenMint,
    );
}

#[tokio::test]
async fn double_claim_fails_because_the_claim_record_exists() {
    let mut env = Env::new().await;
    let artist = env.artist(5_000).await;
    let a = env.register_node(MIN_STAKE).await;
    let b = env.register_node(MIN_STAKE).await;
    let (id, receipt) = settled_job(&mut env, &artist, &[&a, &b]).await;
    claim(&mut env, id, &receipt, &a).await.unwrap();
    env.refresh_blockhash().await;
    let r = claim(&mut env, id, &receipt, &a).await;
    assert_claim_exists(r);
    assert_eq!(env.balance(&a.operator_token).await, 10_800);
    assert_eq!(env.balance(&pda::job_vault(&pda::job(id))).await, 800);
    assert_eq!(env.job(id).await.claimed_count, 1);
    env.assert_conserved().await;
}

#[tokio::test]
async fn prefunded_claim_address_cannot_block_a_payout() {
    let mut env = Env::new().await;
    let artist = env.artist(5_000).await;
    let a = env.register_node(MIN_STAKE).await;
    let (id, receipt) = settled_job(&mut env, &artist, &[&a]).await;
    // The artist sends lamports to the node's claim address before it claims.
    env.prefund(&pda::claim(&pda::job(id), &a.key.pubkey()), 1_000_000)
        .await;
    claim(&mut env, id, &receipt, &a).await.unwrap();
    assert_eq!(env.balance(&a.operator_token).await, 11_600);
    assert_eq!(env.balance(&pda::job_vault(&pda::job(id))).await, 0);
    env.assert_conserved().await;
}

#[tokio::test]
async fn close_job_after_all_claims_returns_rent() {
    let mut env = Env::new().await;
    let artist = env.artist(5_000).await;
    let a = env.register_node(MIN_STAKE).await;
    let b = env.register_node(MIN_STAKE).await;
    let (id, receipt) = settled_job(&mut env, &artist, &[&a, &b]).await;
    let close = ix::close_job(&artist.wallet.pubkey(), id, &artist.token);
    claim(&mut env, id, &receipt, &a).await.unwrap();
    assert_tessera(
        env.send(std::slice::from_ref(&close), &[]).await,
        TesseraError::ClaimsStillOpen,
    );
    claim(&mut env, id, &receipt, &b).await.unwrap();
    // Every node claimed, but the tile root is slash evidence until the slash window ends.
    env.refresh_blockhash().await;
    assert_tessera(
        env.send(std::slice::from_ref(&close), &[]).await,
        TesseraError::SlashWindowOpen,
    );
    let (job, vault) = (pda::job(id), pda::job_vault(&pda::job(id)));
    let rent = env.lamports(&job).await + env.lamports(&vault).await;
    let before = env.lamports(&artist.wallet.pubkey()).await;
    env.set_time(START_TIME + CHALLENGE_WINDOW + RESOLUTION_PERIOD + 1)
        .await;
    env.send(&[close], &[]).await.unwrap();
    assert!(!env.exists(&job).await && !env.exists(&vault).await);
    assert_eq!(env.lamports(&artist.wallet.pubkey()).await, before + rent);
    assert_eq!(env.balance(&artist.token).await, 3_360);
    assert_eq!(env.balance(&a.operator_token).await, 10_800);
    assert_eq!(env.balance(&b.operator_token).await, 10_800);
    // The claim records stay, so a claim after closing still fails.
    env.refresh_blockhash().await;
    assert_anchor(
        claim(&mut env, id, &receipt, &a).await,
        Anchor::AccountNotInitialized,
    );
    env.assert_conserved().await;
}

#[tokio::test]
async fn close_job_after_grace_sweeps_unclaimed_payouts_to_the_artist() {
    let mut env = Env::new().await;
    let artist = env.artist(5_000).await;
    let a = env.register_node(MIN_STAKE).await;
    let b = env.register_node(MIN_STAKE).await;
    let (id, receipt) = settled_job(&mut env, &artist, &[&a, &b]).await;
    claim(&mut env, id, &receipt, &a).await.unwrap();
    let close = ix::close_job(&artist.wallet.pubkey(), id, &artist.token);
    env.set_time(START_TIME + CLAIM_GRACE - 1).await;
    assert_tessera(
        env.send(std::slice::from_ref(&close), &[]).await,
        TesseraError::ClaimsStillOpen,
    );
    env.set_time(START_TIME + CLAIM_GRACE).await;
    env.send(&[close], &[]).await.unwrap();
    assert_eq!(env.balance(&artist.token).await, 3_360 + 800);
    assert!(!env.exists(&pda::job(id)).await);
    env.refresh_blockhash().await;
    assert_anchor(
        claim(&mut env, id, &receipt, &b).await,
        Anchor::AccountNotInitialized,
    );
    assert_eq!(env.balance(&b.operator_token).await, 10_000);
    env.assert_conserved().await;
}

#[tokio::test]
async fn close_job_before_settlement_or_to_wrong_accounts_fails() {
    let mut env = Env::new().await;
    let artist = env.artist(10_000).await;
    let thief = env.artist(0).await;
    let a = env.register_node(MIN_STAKE).await;
    let (open, _) = open_job(&mut env, &artist, &[&a]).await;
    let ix = ix::close_job(&artist.wallet.pubkey(), open, &artist.token);
    assert_tessera(env.send(&[ix], &[]).await, TesseraError::WrongJobState);
    let (rendered, _) = rendered_job(&mut env, &artist, &[&a]).await;
    let ix = ix::close_job(&artist.wallet.pubkey(), rendered, &artist.token);
    assert_tessera(env.send(&[ix], &[]).await, TesseraError::WrongJobState);
    let (id, _) = settled_job(&mut env, &artist, &[&a]).await;
    env.advance(CLAIM_GRACE).await;
    let ix = ix::close_job(&thief.wallet.pubkey(), id, &artist.token);
    assert_tessera(env.send(&[ix], &[]).await, TesseraError::NotArtist);
    let ix = ix::close_job(&artist.wallet.pubkey(), id, &thief.token);
    assert_anchor(env.send(&[ix], &[]).await, Anchor::ConstraintTokenOwner);
    assert_eq!(env.balance(&thief.token).await, 0);
    assert_eq!(env.balance(&pda::job_vault(&pda::job(id))).await, 1_600);
    env.assert_conserved().await;
}

/// What a second claim of the same (job, node) returns: the claim record already exists,
/// so the system program refuses to allocate it again.
fn assert_claim_exists(r: Result<(), BanksClientError>) {
    assert_already_in_use(r);
}
