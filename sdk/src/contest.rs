//! Contesting a short payout leaf: the workflow `node-agent run` follows after each receipt.
//!
//! [`plan`] rebuilds the job's tile tree from the manifest, checks it against the on-chain
//! tile root, and compares the leaves that credit the node (primary, check and tiebreak
//! renders, at the job's price each) with its payout leaf. When the leaf is short, [`contest`]
//! proves it on-chain: `open_contest` with the payout leaf, `prove_contest` with the tile
//! leaves in batches that fit a transaction, `resolve_contest` (the shortfall goes to the
//! operator's associated token account). A contest half done (a crash between transactions)
//! resumes after the last leaf the chain recorded.
use solana_sdk::pubkey::Pubkey;
use solana_sdk::signature::{Keypair, Signature, Signer};
use tessera::instructions::{AckProof, ContestLeaf, PayoutLeafProof, ACK_ROLE};
use thiserror::Error;

use crate::audit::verify_payout;
use crate::client::{ChainClient, ChainError};
use crate::manifest::{Manifest, ManifestError};
use crate::receipt::{NodePayout, Receipt, ReceiptError};
use crate::{ix, pda, Contest, Job, Node};

/// Bytes of a transaction the proved leaves may take (of 1 232, the rest for signatures,
/// accounts and the instruction's header).
const LEAF_BYTES: usize = 880;

#[derive(Debug, Error)]
pub enum ContestError {
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    #[error("the manifest's renders do not make a receipt: {0}")]
    Receipt(#[from] ReceiptError),
    #[error(
        "the manifest's tile leaves rebuild another root than the chain's: nothing to prove from"
    )]
    TileRoot,
    #[error("the manifest's payout leaf of this node is not in the on-chain payout root")]
    PayoutProof,
    #[error(transparent)]
    Chain(#[from] ChainError),
}

/// A node's case: what the tile tree owes it and what its payout leaf pays.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContestPlan {
    pub node: Pubkey,
    /// The node's payout leaf with its proof; `None` when the receipt has none for it (or one
    /// the program would never pay: amount ≠ price × tiles).
    pub leaf: Option<PayoutLeafProof>,
    /// Every tile leaf crediting the node, strictly increasing (frame, tile, role).
    pub leaves: Vec<ContestLeaf>,
    /// Renders the orchestrator acknowledged that the receipt credits to another key or
    /// hash, with the orchestrator's signature (`prove_ack`), strictly increasing
    /// (frame, tile), none of a tile that also has a leaf of the node.
    pub acks: Vec<(AckProof, [u8; 64])>,
    /// `price_per_tile × (leaves + acks)`.
    pub owed: u64,
    /// What the leaf pays (0 without one).
    pub paid: u64,
}

impl ContestPlan {
    pub fn short_by(&self) -> u64 {
        self.owed.saturating_sub(self.paid)
    }
}

/// What [`contest`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ContestOutcome {
    /// Upheld now: the shortfall paid from the job's room (`paid`, capped by the room) and
    /// from the orchestrator's bond (`paid_from_bond`, what the room could not cover).
    Upheld {
        signature: Signature,
        owed: u64,
        paid: u64,
        paid_from_bond: u64,
    },
    /// The node's contest was resolved before.
    AlreadyResolved {
        owed: u64,
        paid: u64,
        paid_from_bond: u64,
    },
}

/// One render the orchestrator acknowledged to the node (its journal of acks).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Acknowledged {
    pub frame: u32,
    pub tile: u32,
    pub pixel_hash: [u8; 32],
    /// The job's orchestrator's signature over `ack_message(job, frame, tile, node, hash)`.
    pub signature: [u8; 64],
}

/// `node`'s case in the job, from its manifest; `None` when its payout leaf is not short.
pub fn plan(
    job_key: &Pubkey,
    job: &Job,
    manifest: &Manifest,
    node: &Pubkey,
) -> Result<Option<ContestPlan>, ContestError> {
    plan_with_acks(job_key, job, manifest, node, &[])
}

/// The acknowledged renders whose tile the receipt's primary leaf credits to another key or
/// hash and that the node has no leaf of, each tile once, with a signature of the job's
/// orchestrator that verifies.
fn acks_credited_elsewhere(
    job_key: &Pubkey,
    job: &Job,
    receipt: &Receipt,
    leaves: &[ContestLeaf],
    node: &Pubkey,
    acked: &[Acknowledged],
) -> Vec<(AckProof, [u8; 64])> {
    let mut out: std::collections::BTreeMap<(u32, u32), (AckProof, [u8; 64])> = Default::default();
    for a in acked {
        if leaves
            .iter()
            .any(|l| (l.frame, l.tile) == (a.frame, a.tile))
        {
            continue;
        }
        let message = crate::protocol::ack_message(job_key, a.frame, a.tile, node, &a.pixel_hash);
        if !Signature::from(a.signature).verify(job.orchestrator.as_ref(), &message) {
            continue;
        }
        let Some((credited, proof)) = receipt.tile_proof(a.frame, a.tile) else {
            continue;
        };
        if credited.node == *node && credited.pixel_hash == a.pixel_hash {
            continue;
        }
        let ack = AckProof {
            frame: a.frame,
            tile: a.tile,
            pixel_hash: a.pixel_hash,
            credited_node: credited.node,
            credited_hash: credited.pixel_hash,
            proof,
        };
        out.entry((a.frame, a.tile)).or_insert((ack, a.signature));
    }
    out.into_values().collect()
}

/// [`plan`] counting also the renders in `acked` that the receipt credits elsewhere.
pub fn plan_with_acks(
    job_key: &Pubkey,
    job: &Job,
    manifest: &Manifest,
    node: &Pubkey,
    acked: &[Acknowledged],
) -> Result<Option<ContestPlan>, ContestError> {
    // A partial receipt's gaps (tiles it does not hold) are no leaves.
    let tiles = manifest
        .receipt_tiles()
        .map(|t| t.record())
        .collect::<Result<Vec<_>, _>>()?;
    let renders = manifest
        .verifications
        .iter()
        .map(|t| t.render())
        .collect::<Result<Vec<_>, _>>()?;
    let partial = job
        .total_tiles()
        .is_ok_and(|total| (job.tile_count as u64) < total);
    let receipt = Receipt::build_with(job_key, job, tiles, renders, partial)?;
    if receipt.params()?.tile_root != job.tile_root {
        return Err(ContestError::TileRoot);
    }
    let leaves = receipt.contest_leaves(node);
    let acks = acks_credited_elsewhere(job_key, job, &receipt, &leaves, node, acked);
    let owed = job
        .price_per_tile
        .saturating_mul((leaves.len() + acks.len()) as u64);
    let leaf = match manifest.payout_for(node) {
        None => None,
        Some(p) => {
            let payout = NodePayout {
                node: *node,
                amount: p.amount,
                tiles: p.tiles,
            };
            let proof = p.proof()?.unwrap_or_default();
            if !verify_payout(job_key, &job.payout_root, &payout, &proof) {
                return Err(ContestError::PayoutProof);
            }
            let per_render = job.price_per_tile.checked_mul(p.tiles as u64) == Some(p.amount);
            per_render.then_some(PayoutLeafProof {
                amount: p.amount,
                tiles: p.tiles,
                proof,
            })
        }
    };
    let paid = leaf.as_ref().map_or(0, |l| l.amount);
    Ok((owed > paid).then_some(ContestPlan {
        node: *node,
        leaf,
        leaves,
        acks,
        owed,
        paid,
    }))
}

/// One proving step of a contest: a tile leaf (batched) or an acknowledged render.
enum Step<'a> {
    Leaf(&'a ContestLeaf),
    Ack(&'a AckProof, &'a [u8; 64]),
}

impl Step<'_> {
    /// The order the program wants: `(frame, tile, role)`, an acknowledgement as role 3.
    fn order(&self) -> (u32, u32, u8) {
        match self {
            Step::Leaf(l) => (l.frame, l.tile, l.role),
            Step::Ack(a, _) => (a.frame, a.tile, ACK_ROLE),
        }
    }
}

/// How many leaves of this depth one `prove_contest` carries.
pub fn batch_size(leaves: &[ContestLeaf]) -> usize {
    let depth = leaves.first().map_or(0, |l| l.proof.len());
    (LEAF_BYTES / (45 + 32 * depth)).clamp(1, tessera::constants::MAX_CONTEST_LEAVES)
}

/// Proves `plan` on-chain for its node (whose key signs and pays) and resolves the contest.
pub async fn contest(
    chain: &ChainClient,
    node_key: &Keypair,
    job_id: u64,
    plan: &ContestPlan,
) -> Result<ContestOutcome, ChainError> {
    let job_key = pda::job(job_id);
    let address = pda::contest(&job_key, &node_key.pubkey());
    let mut existing: Option<Contest> = chain.get_anchor_account(&address).await?;
    if let Some(c) = &existing {
        if c.resolved_at != 0 {
            return Ok(ContestOutcome::AlreadyResolved {
                owed: c.owed,
                paid: c.paid,
                paid_from_bond: c.paid_from_bond,
            });
        }
    } else {
        let open = ix::open_contest(&node_key.pubkey(), job_id, plan.leaf.clone());
        chain.send_instructions(node_key, &[open], &[]).await?;
        existing = chain.get_anchor_account(&address).await?;
    }
    // Resume after the last leaf the chain recorded (a crash between proving transactions);
    // leaves and acknowledgements go in one (frame, tile) order, leaves batched in between.
    let done = existing.as_ref().filter(|c| c.proven > 0);
    let mut items: Vec<Step> = plan
        .leaves
        .iter()
        .filter(|l| done.is_none_or(|c| c.is_next(l.frame, l.tile, l.role)))
        .map(Step::Leaf)
        .collect();
    items.extend(
        plan.acks
            .iter()
            .filter(|(a, _)| done.is_none_or(|c| c.is_next(a.frame, a.tile, ACK_ROLE)))
            .map(|(a, sig)| Step::Ack(a, sig)),
    );
    items.sort_by_key(Step::order);
    let mut batch: Vec<ContestLeaf> = Vec::new();
    let key = node_key.pubkey();
    let size = batch_size(&plan.leaves);
    for step in items {
        match step {
            Step::Leaf(l) => {
                batch.push(l.clone());
                if batch.len() == size {
                    let prove = ix::prove_contest(&key, job_id, std::mem::take(&mut batch));
                    chain.send_instructions(node_key, &[prove], &[]).await?;
                }
            }
            Step::Ack(a, signature) => {
                if !batch.is_empty() {
                    let prove = ix::prove_contest(&key, job_id, std::mem::take(&mut batch));
                    chain.send_instructions(node_key, &[prove], &[]).await?;
                }
                let job: Job = chain
                    .get_anchor_account(&job_key)
                    .await?
                    .ok_or_else(|| ChainError::Unexpected("the job is gone".into()))?;
                let ixs = ix::prove_ack(&job.orchestrator, &key, job_id, signature, a.clone());
                chain.send_instructions(node_key, &ixs, &[]).await?;
            }
        }
    }
    if !batch.is_empty() {
        let prove = ix::prove_contest(&key, job_id, batch);
        chain.send_instructions(node_key, &[prove], &[]).await?;
    }
    let node: Node = chain
        .get_anchor_account(&pda::node(&node_key.pubkey()))
        .await?
        .ok_or_else(|| ChainError::Unexpected("the node is not registered".into()))?;
    let vault = chain.rpc().get_account(&pda::job_vault(&job_key)).await?;
    let mint = crate::token::account_mint(&vault.data)
        .ok_or_else(|| ChainError::Unexpected("the job vault does not decode".into()))?;
    let operator_token = crate::token::associated_account(&node.operator, &mint);
    let job: Job = chain
        .get_anchor_account(&job_key)
        .await?
        .ok_or_else(|| ChainError::Unexpected("the job is gone".into()))?;
    let ixs = [
        crate::token::create_associated_account(&node_key.pubkey(), &node.operator, &mint),
        ix::resolve_contest(
            &node_key.pubkey(),
            job_id,
            &job.orchestrator,
            &node_key.pubkey(),
            &operator_token,
        ),
    ];
    let signature = chain.send_instructions(node_key, &ixs, &[]).await?;
    let c: Contest = chain
        .get_anchor_account(&address)
        .await?
        .ok_or_else(|| ChainError::Unexpected("the contest is missing after resolving".into()))?;
    Ok(ContestOutcome::Upheld {
        signature,
        owed: c.owed,
        paid: c.paid,
        paid_from_bond: c.paid_from_bond,
    })
}
