//! A job's receipt: the tile tree (what was rendered, by whom, with which pixels) and the
//! payout tree (what each node is owed). The orchestrator builds it; auditors rebuild or
//! check it against the images and the chain.
use std::collections::{BTreeMap, BTreeSet};

use anchor_lang::prelude::Pubkey;
use serde::{Deserialize, Serialize};
use tessera::instructions::ReceiptParams;
use tessera::merkle::{self, Hash32, MerkleTree};
use tessera::state::Job;
use thiserror::Error;

use crate::tiles::TileGrid;

/// One delivered tile.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TileRecord {
    pub frame: u32,
    pub tile: u32,
    pub node: Pubkey,
    /// blake3 of the tile's canonical RGBA8 pixels.
    pub pixel_hash: Hash32,
}

/// What one node is owed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodePayout {
    pub node: Pubkey,
    pub amount: u64,
    pub tiles: u32,
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum ReceiptError {
    #[error("tile {tile} of frame {frame} is outside the job")]
    OutOfRange { frame: u32, tile: u32 },
    #[error("tile {tile} of frame {frame} appears twice")]
    Duplicate { frame: u32, tile: u32 },
    #[error("{missing} of the job's {expected} tiles are missing")]
    Missing { missing: u64, expected: u64 },
    #[error("the job's dimensions are invalid")]
    InvalidJob,
    #[error("no tile has been verified: there is nothing to post")]
    Empty,
    #[error("payout overflows")]
    Overflow,
}

/// What fixes a job's receipt: its frames, its tile grid and its price per tile.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct JobShape {
    pub frame_start: u32,
    pub frame_end: u32,
    pub width: u32,
    pub height: u32,
    pub tile_size: u32,
    pub price_per_tile: u64,
}

impl From<&Job> for JobShape {
    fn from(job: &Job) -> Self {
        Self {
            frame_start: job.frame_start,
            frame_end: job.frame_end,
            width: job.width,
            height: job.height,
            tile_size: job.tile_size,
            price_per_tile: job.price_per_tile,
        }
    }
}

/// A receipt ready to post, with the trees to hand out proofs.
#[derive(Clone, Debug)]
pub struct Receipt {
    pub job: Pubkey,
    /// Tiles in leaf order: by frame, then tile index.
    pub tiles: Vec<TileRecord>,
    /// Payouts in leaf order: by node key.
    pub payouts: Vec<NodePayout>,
    tile_tree: MerkleTree,
    payout_tree: MerkleTree,
}

impl Receipt {
    /// Builds the receipt of `job` from every tile delivered: each tile of each frame exactly
    /// once, each node paid `price_per_tile` per tile.
    pub fn build(
        job_key: &Pubkey,
        job: impl Into<JobShape>,
        tiles: Vec<TileRecord>,
    ) -> Result<Self, ReceiptError> {
        Self::build_inner(job_key, job.into(), tiles, false)
    }

    /// Builds the partial receipt of a cancelled or overdue job (the program accepts one after
    /// a cancel request or the deadline): the tiles verified so far, at least one, each once,
    /// each node paid `price_per_tile` per tile. A complete set gives the full receipt.
    pub fn build_partial(
        job_key: &Pubkey,
        job: impl Into<JobShape>,
        tiles: Vec<TileRecord>,
    ) -> Result<Self, ReceiptError> {
        if tiles.is_empty() {
            return Err(ReceiptError::Empty);
        }
        Self::build_inner(job_key, job.into(), tiles, true)
    }

    fn build_inner(
        job_key: &Pubkey,
        job: JobShape,
        mut tiles: Vec<TileRecord>,
        partial: bool,
    ) -> Result<Self, ReceiptError> {
        let grid =
            TileGrid::new(job.width, job.height, job.tile_size).ok_or(ReceiptError::InvalidJob)?;
        let expected = tessera::state::total_tiles(
            job.frame_start,
            job.frame_end,
            job.width,
            job.height,
            job.tile_size,
        )
        .map_err(|_| ReceiptError::InvalidJob)?;
        tiles.sort_by_key(|t| (t.frame, t.tile));
        let mut seen = BTreeSet::new();
        let mut per_node: BTreeMap<Pubkey, u32> = BTreeMap::new();
        for t in &tiles {
            if t.frame < job.frame_start
                || t.frame > job.frame_end
                || t.tile >= grid.tiles_per_frame()
            {
                return Err(ReceiptError::OutOfRange {
                    frame: t.frame,
                    tile: t.tile,
                });
            }
            if !seen.insert((t.frame, t.tile)) {
                return Err(ReceiptError::Duplicate {
                    frame: t.frame,
                    tile: t.tile,
                });
            }
            *per_node.entry(t.node).or_default() += 1;
        }
        if !partial && (tiles.len() as u64) < expected {
            return Err(ReceiptError::Missing {
                missing: expected - tiles.len() as u64,
                expected,
            });
        }
        let payouts = per_node
            .into_iter()
            .map(|(node, count)| {
                let amount = job
                    .price_per_tile
                    .checked_mul(count as u64)
                    .ok_or(ReceiptError::Overflow)?;
                Ok(NodePayout {
                    node,
                    amount,
                    tiles: count,
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let tile_leaves = tiles
            .iter()
            .map(|t| merkle::tile_leaf(job_key, t.frame, t.tile, &t.node, &t.pixel_hash))
            .collect();
        let payout_leaves = payouts
            .iter()
            .map(|p| merkle::payout_leaf(job_key, &p.node, p.amount, p.tiles))
            .collect();
        Ok(Self {
            job: *job_key,
            tile_tree: MerkleTree::new(tile_leaves).ok_or(ReceiptError::InvalidJob)?,
            payout_tree: MerkleTree::new(payout_leaves).ok_or(ReceiptError::InvalidJob)?,
            tiles,
            payouts,
        })
    }

    /// The arguments of `post_receipt`.
    pub fn params(&self) -> Result<ReceiptParams, ReceiptError> {
        let total = self
            .payouts
            .iter()
            .try_fold(0u64, |acc, p| acc.checked_add(p.amount))
            .ok_or(ReceiptError::Overflow)?;
        Ok(ReceiptParams {
            tile_root: self.tile_tree.root(),
            payout_root: self.payout_tree.root(),
            total_payout: total,
            tile_count: u32::try_from(self.tiles.len()).map_err(|_| ReceiptError::Overflow)?,
            node_count: u32::try_from(self.payouts.len()).map_err(|_| ReceiptError::Overflow)?,
        })
    }

    /// A node's payout leaf and its proof (the arguments of `claim_payout`).
    pub fn payout_proof(&self, node: &Pubkey) -> Option<(NodePayout, Vec<Hash32>)> {
        let i = self.payouts.iter().position(|p| &p.node == node)?;
        Some((self.payouts[i].clone(), self.payout_tree.proof(i)?))
    }

    /// A tile's record and its proof against the tile root.
    pub fn tile_proof(&self, frame: u32, tile: u32) -> Option<(TileRecord, Vec<Hash32>)> {
        let i = self
            .tiles
            .binary_search_by_key(&(frame, tile), |t| (t.frame, t.tile))
            .ok()?;
        Some((self.tiles[i].clone(), self.tile_tree.proof(i)?))
    }
}

impl Receipt {
    /// The evidence of `slash_node` against a node that signed `bad_hash` for
    /// `(frame, tile)`: the accepted leaf of that tile and its proof. `None` when the receipt
    /// has no such tile, or accepted the same hash (then there is nothing to prove).
    pub fn slash_evidence(
        &self,
        frame: u32,
        tile: u32,
        bad_hash: &Hash32,
    ) -> Option<tessera::instructions::SlashEvidence> {
        let (accepted, proof) = self.tile_proof(frame, tile)?;
        (&accepted.pixel_hash != bad_hash).then_some(tessera::instructions::SlashEvidence {
            frame,
            tile,
            bad_hash: *bad_hash,
            accepted_node: accepted.node,
            accepted_hash: accepted.pixel_hash,
            proof,
        })
    }
}

/// Checks a delivered tile against a job's on-chain tile root (what an auditor does with
/// a downloaded image: hash its pixels, then call this with the manifest's proof).
pub fn verify_tile(
    job_key: &Pubkey,
    tile_root: &Hash32,
    record: &TileRecord,
    proof: &[Hash32],
) -> bool {
    let leaf = merkle::tile_leaf(
        job_key,
        record.frame,
        record.tile,
        &record.node,
        &record.pixel_hash,
    );
    merkle::verify_proof(proof, tile_root, &leaf)
}
