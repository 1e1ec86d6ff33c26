//! Node contests: a node whose payout leaf is short of the tile leaves that credit its key
//! proves it against the receipt's roots (`open_contest`, `prove_contest`, `resolve_contest`)
//! and is paid the difference from the job's room under `price × renders`.
use solana_program_test::BanksClientError;
use solana_sdk::{pubkey::Pubkey, signature::Signer};
use tessera::errors::TesseraError;
use tessera::instructions::{ContestLeaf, PayoutLeafProof};
use tessera::merkle::{self, Hash32, MerkleTree};
use tessera::state::{Claim, Contest};
use tessera_sdk::receipt::Receipt;
use tessera_sdk::{ix, pda};

use crate::harness::*;
use crate::lifecycle::receipt_for;

/// Leaves per `prove_contest` here: four 4-deep proofs fit a transaction with room to spare.
const BATCH: usize = 4;

/// A payout tree as a (dishonest) orchestrator makes it: `(node, tiles)` at the job's price.
struct Payouts {
    leaves: Vec<(Pubkey, u64, u32)>,
    tree: MerkleTree,
}

impl Payouts {
    fn new(job: Pubkey, pay: &[(Pubkey, u64, u32)]) -> Self {
        let leaves = pay.to_vec();
        let hashes: Vec<Hash32> = leaves
            .iter()
            .map(|(n, amount, tiles)| merkle::payout_leaf(&job, n, *amount, *tiles))
            .collect();
        Self {
            tree: MerkleTree::new(hashes).unwrap(),
            leaves,
        }
    }

    fn total(&self) -> u64 {
        self.leaves.iter().map(|l| l.1).sum()
    }

    fn leaf(&self, node: &Pubkey) -> PayoutLeafProof {
        let i = self.leaves.iter().position(|l| &l.0 == node).unwrap();
        let (_, amount, tiles) = self.leaves[i];
        PayoutLeafProof {
            amount,
            tiles,
            proof: self.tree.proof(i).unwrap(),
        }
    }

    fn claim_ix(&self, id: u64, node: &NodeFixture) -> solana_sdk::instruction::Instruction {
        let leaf = self.leaf(&node.key.pubkey());
        ix::claim_payout(
            &node.operator.pubkey(),
            id,
            &node.key.pubkey(),
            &node.operator_token,
            leaf.amount,
            leaf.tiles,
            leaf.proof,
        )
    }
}

/// Two nodes (node keys funded: they pay the contest's rent) and an artist.
async fn setup() -> (Env, Artist, NodeFixture, NodeFixture) {
    let mut env = Env::new().await;
    let artist = env.artist(5_000).await;
    let a = env.register_node(MIN_STAKE).await;
    let b = env.register_node(MIN_STAKE).await;
    env.fund(&a.key.pubkey()).await;
    env.fund(&b.key.pubkey()).await;
    (env, artist, a, b)
}

/// A `small_job` whose tile tree credits `a` and `b` with 8 tiles each, posted with the payout
/// tree `pay` (amounts at the job's price unless stated) instead of the honest one.
async fn posted_with(
    env: &mut Env,
    artist: &Artist,
    a: &NodeFixture,
    b: &NodeFixture,
    pay: &[(Pubkey, u64, u32)],
) -> (u64, Receipt, Payouts) {
    let deadline = env.now().await + 10_000;
    let id = env.create_job(artist, small_job(deadline)).await.unwrap();
    let job = env.job(id).await;
    let receipt = receipt_for(&pda::job(id), &job, &[a.key.pubkey(), b.key.pubkey()]);
    let payouts = Payouts::new(pda::job(id), pay);
    let mut p = receipt.params().unwrap();
    p.payout_root = payouts.tree.root();
    p.total_payout = payouts.total();
    p.node_count = pay.len() as u32;
    env.post(id, p).await.unwrap();
    (id, receipt, payouts)
}

async fn open(
    env: &mut Env,
    node: &NodeFixture,
    id: u64,
    payout: Option<PayoutLeafProof>,
) -> Result<(), BanksClientError> {
    let key = node.key.insecure_clone();
    env.refresh_blockhash().await;
    env.send(&[ix::open_contest(&key.pubkey(), id, payout)], &[&key])
        .await
}

async fn prove(
    env: &mut Env,
    node: &NodeFixture,
    id: u64,
    leaves: Vec<ContestLeaf>,
) -> Result<(), BanksClientError> {
    let key = node.key.insecure_clone();
    env.refresh_blockhash().await;
    env.send(&[ix::prove_contest(&key.pubkey(), id, leaves)], &[&key])
        .await
}

/// Proves every leaf crediting `node`, `BATCH` per transaction; returns the transactions sent.
async fn prove_all(env: &mut Env, node: &NodeFixture, id: u64, receipt: &Receipt) -> usize {
    let leaves = receipt.contest_leaves(&node.key.pubkey());
    let mut sent = 0;
    for chunk in leaves.chunks(BATCH) {
        prove(env, node, id, chunk.to_vec()).await.unwrap();
        sent += 1;
    }
    sent
}

async fn resolve(env: &mut Env, node: &NodeFixture, id: u64) -> Result<(), BanksClientError> {
    env.refresh_blockhash().await;
    let payer = env.payer();
    let orchestrator = env.job(id).await.orchestrator;
    let ix = ix::resolve_contest(
        &payer,
        id,
        &orchestrator,
        &node.key.pubkey(),
        &node.operator_token,
    );
    env.send(&[ix], &[]).await
}

async fn contest(env: &mut Env, id: u64, node: &NodeFixture) -> Contest {
    env.anchor(&pda::contest(&pda::job(id), &node.key.pubkey()))
        .await
}

#[tokio::test]
async fn a_short_node_proves_its_tiles_and_is_made_whole() {
    let (mut env, artist, a, b) = setup().await;
    let (ak, bk) = (a.key.pubkey(), b.key.pubkey());
    // The tile tree credits b with 8 tiles; its payout leaf pays 6 (600 of 800).
    let (id, receipt, payouts) =
        posted_with(&mut env, &artist, &a, &b, &[(ak, 800, 8), (bk, 600, 6)]).await;
    open(&mut env, &b, id, Some(payouts.leaf(&bk)))
        .await
        .unwrap();
    let txs = prove_all(&mut env, &b, id, &receipt).await;
    assert_eq!(txs, 2, "8 leaves in batches of {BATCH}");
    resolve(&mut env, &b, id).await.unwrap();
    let c = contest(&mut env, id, &b).await;
    assert_eq!((c.proven, c.owed, c.paid, c.upheld), (8, 800, 200, true));
    assert_eq!(env.balance(&b.operator_token).await, 10_200);
    let job = env.job(id).await;
    assert_eq!((job.contested_paid, job.contests_upheld), (200, 1));

    env.approve(&artist, id).await.unwrap();
    // Leaves 1 400, fee 2.5% = 35, the contest took 200, no room is left under the cap of
    // 1 600: refund 2 000 − 1 400 − 35 − 200 = 365. The artist pays 1 635, as for an honest
    // receipt (1 600 + 40) less the fee on the contested 200.
    assert_eq!(env.balance(&artist.token).await, 3_000 + 365);
    let op = b.operator.insecure_clone();
    env.send(&[payouts.claim_ix(id, &b)], &[&op]).await.unwrap();
    assert_eq!(env.balance(&b.operator_token).await, 10_800);
    let op = a.operator.insecure_clone();
    env.send(&[payouts.claim_ix(id, &a)], &[&op]).await.unwrap();
    assert_eq!(env.balance(&a.operator_token).await, 10_800);
    assert_eq!(env.balance(&pda::job_vault(&pda::job(id))).await, 0);
    env.assert_conserved().await;
}

#[tokio::test]
async fn an_early_approval_keeps_the_contest_room_in_the_vault() {
    let (mut env, artist, a, b) = setup().await;
    let (ak, bk) = (a.key.pubkey(), b.key.pubkey());
    let (id, receipt, payouts) =
        posted_with(&mut env, &artist, &a, &b, &[(ak, 800, 8), (bk, 600, 6)]).await;
    // The artist approves the moment the receipt lands: 1 400 + 35 fee, and the 200 of room
    // under the cap stay in the vault until the window ends.
    env.approve(&artist, id).await.unwrap();
    assert_eq!(env.balance(&artist.token).await, 3_000 + 365);
    assert_eq!(env.balance(&pda::job_vault(&pda::job(id))).await, 1_600);
    open(&mut env, &b, id, Some(payouts.leaf(&bk)))
        .await
        .unwrap();
    prove_all(&mut env, &b, id, &receipt).await;
    resolve(&mut env, &b, id).await.unwrap();
    assert_eq!(env.balance(&b.operator_token).await, 10_200);
    assert_eq!(env.balance(&pda::job_vault(&pda::job(id))).await, 1_400);
    env.assert_conserved().await;
}

#[tokio::test]
async fn an_honest_payout_leaves_nothing_to_contest() {
    let (mut env, artist, a, b) = setup().await;
    let (ak, bk) = (a.key.pubkey(), b.key.pubkey());
    let (id, receipt, payouts) =
        posted_with(&mut env, &artist, &a, &b, &[(ak, 800, 8), (bk, 800, 8)]).await;
    open(&mut env, &a, id, Some(payouts.leaf(&ak)))
        .await
        .unwrap();
    prove_all(&mut env, &a, id, &receipt).await;
    assert_tessera(resolve(&mut env, &a, id).await, TesseraError::NotShort);
    // Short of its own leaf's count: proving fewer leaves does not make it short either.
    open(&mut env, &b, id, Some(payouts.leaf(&bk)))
        .await
        .unwrap();
    let some = receipt.contest_leaves(&bk)[..3].to_vec();
    prove(&mut env, &b, id, some).await.unwrap();
    assert_tessera(resolve(&mut env, &b, id).await, TesseraError::NotShort);
    assert_eq!(env.balance(&a.operator_token).await, 10_000);
    env.assert_conserved().await;
}

#[tokio::test]
async fn leaves_of_another_node_duplicates_and_leaves_not_in_the_root_do_not_count() {
    let (mut env, artist, a, b) = setup().await;
    let (ak, bk) = (a.key.pubkey(), b.key.pubkey());
    let (id, receipt, payouts) =
        posted_with(&mut env, &artist, &a, &b, &[(ak, 800, 8), (bk, 600, 6)]).await;
    open(&mut env, &b, id, Some(payouts.leaf(&bk)))
        .await
        .unwrap();
    // a's leaves, presented by b: rebuilt with b's key, they are not in the root.
    let theirs = receipt.contest_leaves(&ak)[..2].to_vec();
    assert_tessera(
        prove(&mut env, &b, id, theirs).await,
        TesseraError::InvalidProof,
    );
    let mine = receipt.contest_leaves(&bk);
    // The same leaf twice in one call, then again in a later call.
    assert_tessera(
        prove(&mut env, &b, id, vec![mine[0].clone(), mine[0].clone()]).await,
        TesseraError::LeavesNotIncreasing,
    );
    prove(&mut env, &b, id, vec![mine[0].clone(), mine[1].clone()])
        .await
        .unwrap();
    assert_tessera(
        prove(&mut env, &b, id, vec![mine[1].clone()]).await,
        TesseraError::LeavesNotIncreasing,
    );
    // Out of order: a lower leaf after a higher one.
    assert_tessera(
        prove(&mut env, &b, id, vec![mine[3].clone(), mine[2].clone()]).await,
        TesseraError::LeavesNotIncreasing,
    );
    // A leaf the tile tree does not hold (other pixels), and one with another role.
    let mut forged = mine[2].clone();
    forged.pixel_hash = [0xee; 32];
    assert_tessera(
        prove(&mut env, &b, id, vec![forged]).await,
        TesseraError::InvalidProof,
    );
    let mut as_check = mine[2].clone();
    as_check.role = merkle::TileRole::Check as u8;
    assert_tessera(
        prove(&mut env, &b, id, vec![as_check]).await,
        TesseraError::InvalidProof,
    );
    let mut bad_role = mine[2].clone();
    bad_role.role = 9;
    assert_tessera(
        prove(&mut env, &b, id, vec![bad_role]).await,
        TesseraError::InvalidContestLeaves,
    );
    // Two proven leaves are worth 200, less than the 600 leaf: not short.
    assert_eq!(contest(&mut env, id, &b).await.proven, 2);
    assert_tessera(resolve(&mut env, &b, id).await, TesseraError::NotShort);
    env.assert_conserved().await;
}

#[tokio::test]
async fn a_payout_leaf_not_in_the_root_cannot_open_a_contest() {
    let (mut env, artist, a, b) = setup().await;
    let (ak, bk) = (a.key.pubkey(), b.key.pubkey());
    let (id, _, payouts) =
        posted_with(&mut env, &artist, &a, &b, &[(ak, 800, 8), (bk, 600, 6)]).await;
    // Understating its own leaf to claim a bigger difference.
    let mut lie = payouts.leaf(&bk);
    (lie.amount, lie.tiles) = (100, 1);
    assert_tessera(
        open(&mut env, &b, id, Some(lie)).await,
        TesseraError::InvalidProof,
    );
    // a's leaf under b's key.
    assert_tessera(
        open(&mut env, &b, id, Some(payouts.leaf(&ak))).await,
        TesseraError::InvalidProof,
    );
    let mut off = payouts.leaf(&bk);
    off.amount = 599;
    assert_tessera(
        open(&mut env, &b, id, Some(off)).await,
        TesseraError::PayoutNotPerRender,
    );
    // One contest per node and job.
    open(&mut env, &b, id, Some(payouts.leaf(&bk)))
        .await
        .unwrap();
    assert_already_in_use(open(&mut env, &b, id, Some(payouts.leaf(&bk))).await);
}

#[tokio::test]
async fn contests_are_refused_before_the_receipt_and_after_the_window() {
    let (mut env, artist, a, b) = setup().await;
    let (ak, bk) = (a.key.pubkey(), b.key.pubkey());
    let deadline = env.now().await + 10_000;
    let open_id = env.create_job(&artist, small_job(deadline)).await.unwrap();
    assert_tessera(
        open(&mut env, &b, open_id, None).await,
        TesseraError::WrongJobState,
    );
    let (id, receipt, payouts) =
        posted_with(&mut env, &artist, &a, &b, &[(ak, 800, 8), (bk, 600, 6)]).await;
    let rendered_at = env.job(id).await.rendered_at;
    open(&mut env, &b, id, Some(payouts.leaf(&bk)))
        .await
        .unwrap();
    let leaves = receipt.contest_leaves(&bk);
    prove(&mut env, &b, id, leaves[..4].to_vec()).await.unwrap();
    // The window ends at receipt + challenge window; nothing of a contest is accepted after.
    env.set_time(rendered_at + CHALLENGE_WINDOW).await;
    assert_tessera(
        prove(&mut env, &b, id, leaves[4..].to_vec()).await,
        TesseraError::ContestWindowClosed,
    );
    assert_tessera(
        resolve(&mut env, &b, id).await,
        TesseraError::ContestWindowClosed,
    );
    assert_tessera(
        open(&mut env, &a, id, Some(payouts.leaf(&ak))).await,
        TesseraError::ContestWindowClosed,
    );
    // Finalizing after the window keeps no room: the artist gets everything unspent.
    env.send(
        &[ix::finalize_job(id, &env.treasury.clone(), &artist.token)],
        &[],
    )
    .await
    .unwrap();
    // (Two budgets of 2 000 escrowed: the open job's and this one's.)
    assert_eq!(env.balance(&artist.token).await, 1_000 + 2_000 - 1_400 - 35);
    env.assert_conserved().await;
}

#[tokio::test]
async fn a_node_left_out_of_the_payout_tree_is_paid_through_its_claim_record() {
    let (mut env, artist, a, b) = setup().await;
    let ak = a.key.pubkey();
    // The receipt pays only a; b's 8 tiles are in the tile tree but it has no payout leaf.
    let (id, receipt, _) = posted_with(&mut env, &artist, &a, &b, &[(ak, 800, 8)]).await;
    open(&mut env, &b, id, None).await.unwrap();
    prove_all(&mut env, &b, id, &receipt).await;
    resolve(&mut env, &b, id).await.unwrap();
    assert_eq!(env.balance(&b.operator_token).await, 10_800);
    let claim: Claim = env
        .anchor(&pda::claim(&pda::job(id), &b.key.pubkey()))
        .await;
    assert_eq!((claim.amount, claim.paid), (800, 800));
    let job = env.job(id).await;
    assert_eq!((job.node_count, job.claimed_count), (2, 1));
    env.assert_conserved().await;
}

#[tokio::test]
async fn a_node_hiding_its_payout_leaf_gains_nothing() {
    let (mut env, artist, a, b) = setup().await;
    let (ak, bk) = (a.key.pubkey(), b.key.pubkey());
    // b is paid in full (8 tiles) but contests as if it had no leaf.
    let (id, receipt, payouts) =
        posted_with(&mut env, &artist, &a, &b, &[(ak, 800, 8), (bk, 800, 8)]).await;
    open(&mut env, &b, id, None).await.unwrap();
    prove_all(&mut env, &b, id, &receipt).await;
    resolve(&mut env, &b, id).await.unwrap();
    // The cap (1 600) is used up by the leaves: the "shortfall" finds no room, and without a
    // proven leaf the orchestrator's bond pays nothing either (it would pay for a leaf that
    // the artist gets back at close_job).
    assert_eq!(env.balance(&b.operator_token).await, 10_000);
    let orch = env.orchestrator.pubkey();
    assert_eq!(env.bond_balance(&orch).await, BOND_DEPOSIT);
    let c = contest(&mut env, id, &b).await;
    assert_eq!((c.paid, c.paid_from_bond, c.unpaid), (0, 0, 800));
    env.approve(&artist, id).await.unwrap();
    // Its real leaf can no longer be claimed: the contest made its claim record.
    let op = b.operator.insecure_clone();
    assert_already_in_use(env.send(&[payouts.claim_ix(id, &b)], &[&op]).await);
    assert_eq!(env.balance(&b.operator_token).await, 10_000);
    env.assert_conserved().await;
}

#[tokio::test]
async fn an_overpaid_node_uses_the_cap_and_the_orchestrators_bond_pays_the_short_node() {
    let (mut env, artist, a, b) = setup().await;
    let (ak, bk) = (a.key.pubkey(), b.key.pubkey());
    let orch = env.orchestrator.pubkey();
    // a is paid for 10 tiles, 2 of them b's: the total is the whole cap of 1 600.
    let (id, receipt, payouts) =
        posted_with(&mut env, &artist, &a, &b, &[(ak, 1_000, 10), (bk, 600, 6)]).await;
    open(&mut env, &b, id, Some(payouts.leaf(&bk)))
        .await
        .unwrap();
    prove_all(&mut env, &b, id, &receipt).await;
    let before = env.balance(&b.operator_token).await;
    resolve(&mut env, &b, id).await.unwrap();
    let c = contest(&mut env, id, &b).await;
    // Proven on-chain: b is owed 800 and was paid 600; the 200 went to a, over its 8 leaves.
    // The room under the cap is empty, so the orchestrator that signed the receipt pays it.
    assert_eq!((c.owed, c.leaf_amount, c.paid), (800, 600, 0));
    assert_eq!((c.paid_from_bond, c.unpaid), (200, 0));
    assert_eq!(env.balance(&b.operator_token).await, before + 200);
    assert_eq!(env.bond_balance(&orch).await, BOND_DEPOSIT - 200);
    assert_eq!(env.job(id).await.bond_paid, 200);
    env.approve(&artist, id).await.unwrap();
    // The artist pays no more than the receipt's renders: 1 600 + 40.
    assert_eq!(env.balance(&artist.token).await, 3_000 + 360);
    env.assert_conserved().await;
}

/// The orchestrator's signed acknowledgement of `node`'s render of `(frame, tile)`.
fn ack_ixs(
    env: &Env,
    signer: &solana_sdk::signature::Keypair,
    node: &NodeFixture,
    id: u64,
    ack: tessera::instructions::AckProof,
) -> Vec<solana_sdk::instruction::Instruction> {
    let msg = tessera_sdk::protocol::ack_message(
        &pda::job(id),
        ack.frame,
        ack.tile,
        &node.key.pubkey(),
        &ack.pixel_hash,
    );
    let sig: [u8; 64] = signer.sign_message(&msg).as_ref().try_into().unwrap();
    let _ = env;
    ix::prove_ack(&signer.pubkey(), &node.key.pubkey(), id, &sig, ack).to_vec()
}

/// The exploit left open: the orchestrator acknowledged a's render of tile 1/0 and then
/// credited the tile to b in the receipt (b's key, another hash). a's contest covered only the
/// leaves crediting a, so a could not show the chain what it was owed. Now the acknowledgement
/// (the job's orchestrator key, checked by the Ed25519 program) and the receipt's primary leaf
/// of that tile count in a's contest like a proven leaf.
#[tokio::test]
async fn a_render_acknowledged_but_credited_to_another_key_counts_in_the_contest() {
    let (mut env, artist, a, b) = setup().await;
    let deadline = env.now().await + 10_000;
    let id = env.create_job(&artist, small_job(deadline)).await.unwrap();
    let job_key = pda::job(id);
    let job = env.job(id).await;
    let honest = receipt_for(&job_key, &job, &[a.key.pubkey(), b.key.pubkey()]);
    let acked = honest.tile_proof(1, 0).unwrap().0;
    assert_eq!(acked.node, a.key.pubkey());
    let mut tiles = honest.tiles.clone();
    tiles[0].node = b.key.pubkey();
    tiles[0].pixel_hash = [0x77; 32];
    let receipt = Receipt::build(&job_key, &job, tiles).unwrap();
    // a paid its 7 remaining leaves, b 8 of its 9: room 100 under the cap of 16 renders.
    let payouts = Payouts::new(
        job_key,
        &[(a.key.pubkey(), 700, 7), (b.key.pubkey(), 800, 8)],
    );
    let mut p = receipt.params().unwrap();
    p.payout_root = payouts.tree.root();
    p.total_payout = payouts.total();
    env.post(id, p).await.unwrap();
    open(&mut env, &a, id, Some(payouts.leaf(&a.key.pubkey())))
        .await
        .unwrap();
    let (credited, proof) = receipt.tile_proof(1, 0).unwrap();
    let ack = tessera::instructions::AckProof {
        frame: 1,
        tile: 0,
        pixel_hash: acked.pixel_hash,
        credited_node: credited.node,
        credited_hash: credited.pixel_hash,
        proof,
    };
    let key = a.key.insecure_clone();
    let orch = env.orchestrator.insecure_clone();
    // The same acknowledgement signed by anyone but the job's orchestrator.
    let ixs = ack_ixs(&env, &key, &a, id, ack.clone());
    env.refresh_blockhash().await;
    assert_tessera(
        env.send(&ixs, &[&key]).await,
        TesseraError::SignerNotOrchestrator,
    );
    // An acknowledgement of another hash than the one signed.
    let mut ixs = ack_ixs(&env, &orch, &a, id, ack.clone());
    let other = tessera::instructions::AckProof {
        pixel_hash: [0x01; 32],
        ..ack.clone()
    };
    ixs[1] = ack_ixs(&env, &orch, &a, id, other)[1].clone();
    assert_tessera(
        env.send(&ixs, &[&key]).await,
        TesseraError::SignedMessageMismatch,
    );
    // A primary leaf the root does not hold.
    let made_up = tessera::instructions::AckProof {
        credited_hash: [0x02; 32],
        ..ack.clone()
    };
    let ixs = ack_ixs(&env, &orch, &a, id, made_up);
    assert_tessera(env.send(&ixs, &[&key]).await, TesseraError::InvalidProof);
    // A tile the receipt credits to a itself: prove the leaf instead.
    let (own, own_proof) = receipt.tile_proof(1, 2).unwrap();
    assert_eq!(own.node, a.key.pubkey());
    let honoured = tessera::instructions::AckProof {
        frame: 1,
        tile: 2,
        pixel_hash: own.pixel_hash,
        credited_node: own.node,
        credited_hash: own.pixel_hash,
        proof: own_proof,
    };
    let ixs = ack_ixs(&env, &orch, &a, id, honoured);
    assert_tessera(env.send(&ixs, &[&key]).await, TesseraError::AckHonoured);
    // The real acknowledgement counts once.
    let ixs = ack_ixs(&env, &orch, &a, id, ack.clone());
    env.send(&ixs, &[&key]).await.unwrap();
    env.refresh_blockhash().await;
    assert_tessera(
        env.send(&ixs, &[&key]).await,
        TesseraError::LeavesNotIncreasing,
    );
    assert_eq!(prove_all(&mut env, &a, id, &receipt).await, 2);
    let c = contest(&mut env, id, &a).await;
    assert_eq!(c.proven, 8);
    resolve(&mut env, &a, id).await.unwrap();
    let c = contest(&mut env, id, &a).await;
    assert_eq!((c.owed, c.paid, c.upheld), (800, 100, true));
    env.approve(&artist, id).await.unwrap();
    let before = env.balance(&a.operator_token).await;
    env.refresh_blockhash().await;
    let claim = payouts.claim_ix(id, &a);
    let op = a.operator.insecure_clone();
    env.send(&[claim], &[&op]).await.unwrap();
    assert_eq!(env.balance(&a.operator_token).await, before + 700);
    env.assert_conserved().await;
}

/// The bond pays up to its balance: two receipts of an orchestrator holding only the minimum
/// (1 000) each short b by 700; the first contest is paid in full from the bond, the second
/// gets the 300 left and records the 400 still owed.
#[tokio::test]
async fn a_shortfall_beyond_the_bond_is_paid_up_to_its_balance_and_the_rest_recorded() {
    let (mut env, artist, a, b) = setup().await;
    let (ak, bk) = (a.key.pubkey(), b.key.pubkey());
    let rogue = env.funded().await;
    env.update_now(tessera_sdk::NetworkUpdate {
        orchestrator: Some(rogue.pubkey()),
        ..Default::default()
    })
    .await
    .unwrap();
    env.orchestrator = rogue.insecure_clone();
    env.deposit_bond(&rogue.pubkey(), ORCHESTRATOR_BOND)
        .await
        .unwrap();
    // a takes the whole cap; b's leaf pays 1 of its 8 tiles.
    let pay = [(ak, 1_500, 15), (bk, 100, 1)];
    let (first, r1, p1) = posted_with(&mut env, &artist, &a, &b, &pay).await;
    let (second, r2, p2) = posted_with(&mut env, &artist, &a, &b, &pay).await;
    let start = env.balance(&b.operator_token).await;
    for (id, receipt, payouts) in [(first, &r1, &p1), (second, &r2, &p2)] {
        open(&mut env, &b, id, Some(payouts.leaf(&bk)))
            .await
            .unwrap();
        prove_all(&mut env, &b, id, receipt).await;
        resolve(&mut env, &b, id).await.unwrap();
    }
    let c1 = contest(&mut env, first, &b).await;
    let c2 = contest(&mut env, second, &b).await;
    assert_eq!(
        (c1.owed, c1.paid, c1.paid_from_bond, c1.unpaid),
        (800, 0, 700, 0)
    );
    assert_eq!(
        (c2.owed, c2.paid, c2.paid_from_bond, c2.unpaid),
        (800, 0, 300, 400)
    );
    assert_eq!(env.balance(&b.operator_token).await, start + 1_000);
    assert_eq!(env.bond_balance(&rogue.pubkey()).await, 0);
    env.assert_conserved().await;
}

/// In which order a contest and a dispute's refund come.
#[derive(Clone, Copy, Debug)]
enum Order {
    ContestThenRefund,
    RefundThenContest,
}

/// The admin upholds the artist's dispute of `id` with a refund of half of every payout leaf,
/// before the challenge window ends (contests are still open).
async fn dispute_and_refund_half(env: &mut Env, artist: &Artist, id: u64) {
    env.dispute(artist, id).await.unwrap();
    env.refresh_blockhash().await;
    let t = env.treasury;
    let ix = ix::resolve_dispute(&env.admin.pubkey(), id, &t, &artist.token, 5_000);
    let admin = env.admin.insecure_clone();
    env.send(&[ix], &[&admin]).await.unwrap();
}

/// b's contest of its short leaf, in full.
async fn contest_b(env: &mut Env, b: &NodeFixture, id: u64, receipt: &Receipt, p: &Payouts) {
    open(env, b, id, Some(p.leaf(&b.key.pubkey())))
        .await
        .unwrap();
    prove_all(env, b, id, receipt).await;
    resolve(env, b, id).await.unwrap();
}

/// Runs the receipt paying a 800 and b 600 of its 800 (room 200 under the cap of 1 600)
/// through b's contest and a half refund in `order`, then both claims and `close_job`;
/// returns what the artist, a's and b's operators and the treasury hold at the end.
async fn contest_and_refund(order: Order) -> [u64; 4] {
    let (mut env, artist, a, b) = setup().await;
    let (ak, bk) = (a.key.pubkey(), b.key.pubkey());
    let (id, receipt, payouts) =
        posted_with(&mut env, &artist, &a, &b, &[(ak, 800, 8), (bk, 600, 6)]).await;
    let vault = pda::job_vault(&pda::job(id));
    match order {
        Order::ContestThenRefund => {
            contest_b(&mut env, &b, id, &receipt, &payouts).await;
            assert_eq!(env.balance(&vault).await, 1_800);
            dispute_and_refund_half(&mut env, &artist, id).await;
        }
        Order::RefundThenContest => {
            dispute_and_refund_half(&mut env, &artist, id).await;
            // The room (200) stayed in the vault with the kept half of the leaves (700).
            assert_eq!(env.balance(&vault).await, 900);
            contest_b(&mut env, &b, id, &receipt, &payouts).await;
        }
    }
    let c = contest(&mut env, id, &b).await;
    assert_eq!(
        (c.paid, c.paid_from_bond, c.unpaid),
        (200, 0, 0),
        "{order:?}"
    );
    for n in [&a, &b] {
        let op = n.operator.insecure_clone();
        env.send(&[payouts.claim_ix(id, n)], &[&op]).await.unwrap();
    }
    // Every token of the escrow is accounted for: nothing is left to pay, nothing is short.
    assert_eq!(env.balance(&vault).await, 0, "{order:?}");
    let after_slash_window = env.job(id).await.slash_ends_at + 1;
    env.set_time(after_slash_window).await;
    let close = ix::close_job(&artist.wallet.pubkey(), id, &artist.token);
    env.send(&[close], &[]).await.unwrap();
    env.assert_conserved().await;
    let t = env.treasury;
    [
        env.balance(&artist.token).await,
        env.balance(&a.operator_token).await,
        env.balance(&b.operator_token).await,
        env.balance(&t).await,
    ]
}

/// A contest and a dispute's refund share one escrow: the refund is taken from the payout
/// leaves (half of 1 400 kept: 700, fee 17), the contest from the room under the cap (200),
/// and settlement keeps the room in the vault while the window is open, so the two add up
/// to the escrow in either order and to the same balances: the artist 5 000 − 2 000 + 1 083
/// (its bond back), a 400, b 200 + 300, the treasury 17.
#[tokio::test]
async fn a_contest_and_a_dispute_refund_pay_out_the_escrow_once_in_either_order() {
    let first = contest_and_refund(Order::ContestThenRefund).await;
    let second = contest_and_refund(Order::RefundThenContest).await;
    assert_eq!(first, second);
    assert_eq!(first, [3_000 + 1_083, 10_400, 10_500, 17]);
    assert_eq!(first[0] + first[1] + first[2] + first[3], 5_000 + 20_000);
}

/// A receipt that used its whole cap (a paid for 2 of b's tiles) leaves no room: b's contest,
/// resolved after the dispute's half refund, is paid by the orchestrator's bond, and the
/// artist's refund is untouched by it.
#[tokio::test]
async fn a_contest_resolved_after_a_dispute_refund_is_paid_from_the_bond() {
    let (mut env, artist, a, b) = setup().await;
    let (ak, bk) = (a.key.pubkey(), b.key.pubkey());
    let orch = env.orchestrator.pubkey();
    let (id, receipt, payouts) =
        posted_with(&mut env, &artist, &a, &b, &[(ak, 1_000, 10), (bk, 600, 6)]).await;
    dispute_and_refund_half(&mut env, &artist, id).await;
    // Kept 800, fee 20: refund 2 000 − 820 = 1 180, and the bond back.
    assert_eq!(env.balance(&artist.token).await, 3_000 + 1_180);
    let vault = pda::job_vault(&pda::job(id));
    assert_eq!(env.balance(&vault).await, 800);
    contest_b(&mut env, &b, id, &receipt, &payouts).await;
    let c = contest(&mut env, id, &b).await;
    assert_eq!((c.paid, c.paid_from_bond, c.unpaid), (0, 200, 0));
    assert_eq!(env.bond_balance(&orch).await, BOND_DEPOSIT - 200);
    assert_eq!(env.balance(&vault).await, 800);
    for n in [&a, &b] {
        let op = n.operator.insecure_clone();
        env.send(&[payouts.claim_ix(id, n)], &[&op]).await.unwrap();
    }
    assert_eq!(env.balance(&vault).await, 0);
    assert_eq!(env.balance(&a.operator_token).await, 10_500);
    assert_eq!(env.balance(&b.operator_token).await, 10_000 + 200 + 300);
    assert_eq!(env.balance(&artist.token).await, 3_000 + 1_180);
    env.assert_conserved().await;
}
