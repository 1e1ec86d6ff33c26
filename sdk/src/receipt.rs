//! A job's receipt: the tile tree (every paid render: what was rendered, in which role, by
//! whom, with which pixels) and the payout tree (what each node is owed). The orchestrator
//! builds it; auditors rebuild or check it against the images and the chain; nodes prove
//! their renders from it when their payout leaf is short.
use std::collections::{BTreeMap, BTreeSet};

use anchor_lang::prelude::Pubkey;
use serde::{Deserialize, Serialize};
use tessera::instructions::{ContestLeaf, ReceiptParams};
use tessera::merkle::{self, Hash32, MerkleTree, TileRole};
use tessera::state::Job;
use thiserror::Error;

use crate::tiles::TileGrid;

/// One delivered tile: the render its frame uses (its primary leaf).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TileRecord {
    pub frame: u32,
    pub tile: u32,
    pub node: Pubkey,
    /// blake3 of the tile's canonical RGBA8 pixels.
    pub pixel_hash: Hash32,
}

/// One paid render of any role: a leaf of the tile tree.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RenderRecord {
    pub frame: u32,
    pub tile: u32,
    pub role: TileRole,
    pub node: Pubkey,
    pub pixel_hash: Hash32,
}

impl RenderRecord {
    pub fn leaf(&self, job: &Pubkey) -> Hash32 {
        merkle::tile_leaf(
            job,
            self.frame,
            self.tile,
            self.role,
            &self.node,
            &self.pixel_hash,
        )
    }

    fn key(&self) -> (u32, u32, TileRole, Pubkey) {
        (self.frame, self.tile, self.role, self.node)
    }
}

impl From<&TileRecord> for RenderRecord {
    fn from(t: &TileRecord) -> Self {
        Self {
            frame: t.frame,
            tile: t.tile,
            role: TileRole::Primary,
            node: t.node,
            pixel_hash: t.pixel_hash,
        }
    }
}

/// What one node is owed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodePayout {
    pub node: Pubkey,
    pub amount: u64,
    /// Paid renders of the node: its primary tiles plus its check and tiebreak renders.
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
    #[error(
        "a {role} render of tile {tile} of frame {frame} verifies a tile the receipt does not hold"
    )]
    UnverifiedTile {
        frame: u32,
        tile: u32,
        role: &'static str,
    },
    #[error(
        "{count} verification renders exceed the job's {max} ({verify_bps} bps of {tiles} tiles)"
    )]
    TooManyVerifications {
        count: u64,
        max: u64,
        verify_bps: u16,
        tiles: u64,
    },
}

/// What fixes a job's receipt: its frames, its tile grid, its price per render and the most
/// verification renders it pays (`verify_bps` of its tiles, rounded up).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct JobShape {
    pub frame_start: u32,
    pub frame_end: u32,
    pub width: u32,
    pub height: u32,
    pub tile_size: u32,
    pub price_per_tile: u64,
    pub verify_bps: u16,
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
            verify_bps: job.verify_bps,
        }
    }
}

/// The most verification renders a receipt of `tiles` tiles may pay (the program's rule).
pub fn max_verification_renders(tiles: u64, verify_bps: u16) -> u64 {
    tessera::state::max_verification_renders(tiles, verify_bps).unwrap_or(u64::MAX)
}

/// A receipt ready to post, with the trees to hand out proofs.
#[derive(Clone, Debug)]
pub struct Receipt {
    pub job: Pubkey,
    /// Tiles (primary renders) in order: by frame, then tile index.
    pub tiles: Vec<TileRecord>,
    /// Paid check and tiebreak renders, by frame, tile, role, node.
    pub verifications: Vec<RenderRecord>,
    /// Payouts in leaf order: by node key.
    pub payouts: Vec<NodePayout>,
    /// Every leaf of the tile tree, in leaf order (frame, tile, role, node).
    renders: Vec<RenderRecord>,
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
        Self::build_with(job_key, job, tiles, Vec::new(), false)
    }

    /// Builds the partial receipt of a cancelled or overdue job (the program accepts one after
    /// a cancel request or the deadline): the tiles verified so far, at least one, each once,
    /// each node paid `price_per_tile` per tile. A complete set gives the full receipt.
    pub fn build_partial(
        job_key: &Pubkey,
        job: impl Into<JobShape>,
        tiles: Vec<TileRecord>,
    ) -> Result<Self, ReceiptError> {
        Self::build_with(job_key, job, tiles, Vec::new(), true)
    }

    /// Builds a receipt that also pays verification renders: every check or tiebreak render
    /// that agreed with a tile of the receipt gets a leaf of its own node, and each node is
    /// paid `price_per_tile` per leaf. At most `⌈tiles × verify_bps / 10 000⌉` of them.
    pub fn build_with(
        job_key: &Pubkey,
        job: impl Into<JobShape>,
        mut tiles: Vec<TileRecord>,
        mut verifications: Vec<RenderRecord>,
        partial: bool,
    ) -> Result<Self, ReceiptError> {
        let job = job.into();
        if partial && tiles.is_empty() {
            return Err(ReceiptError::Empty);
        }
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
        }
        if !partial && (tiles.len() as u64) < expected {
            return Err(ReceiptError::Missing {
                missing: expected - tiles.len() as u64,
                expected,
            });
        }
        verifications.sort_by_key(RenderRecord::key);
        check_verifications(&job, &seen, &verifications, tiles.len() as u64)?;
        let mut renders: Vec<RenderRecord> = tiles.iter().map(RenderRecord::from).collect();
        renders.extend(verifications.iter().copied());
        renders.sort_by_key(RenderRecord::key);
        let payouts = payouts_of(&job, &renders)?;
        let tile_leaves = renders.iter().map(|r| r.leaf(job_key)).collect();
        let payout_leaves = payouts
            .iter()
            .map(|p| merkle::payout_leaf(job_key, &p.node, p.amount, p.tiles))
            .collect();
        Ok(Self {
            job: *job_key,
            tile_tree: MerkleTree::new(tile_leaves).ok_or(ReceiptError::Empty)?,
            payout_tree: MerkleTree::new(payout_leaves).ok_or(ReceiptError::Empty)?,
            tiles,
            verifications,
            payouts,
            renders,
        })
    }

    /// The same tile tree with another payout tree (leaves sorted by node key): what a
    /// dishonest orchestrator posts, for tests of the contests that expose it.
    pub fn with_payouts(mut self, mut payouts: Vec<NodePayout>) -> Result<Self, ReceiptError> {
        payouts.sort_by_key(|p| p.node);
        let leaves = payouts
            .iter()
            .map(|p| merkle::payout_leaf(&self.job, &p.node, p.amount, p.tiles))
            .collect();
        self.payout_tree = MerkleTree::new(leaves).ok_or(ReceiptError::Empty)?;
        self.payouts = payouts;
        Ok(self)
    }

    /// The arguments of `post_receipt`.
    pub fn params(&self) -> Result<ReceiptParams, ReceiptError> {
        let total = self
            .payouts
            .iter()
            .try_fold(0u64, |acc, p| acc.checked_add(p.amount))
            .ok_or(ReceiptError::Overflow)?;
        let count = |n: usize| u32::try_from(n).map_err(|_| ReceiptError::Overflow);
        Ok(ReceiptParams {
            tile_root: self.tile_tree.root(),
            payout_root: self.payout_tree.root(),
            total_payout: total,
            tile_count: count(self.tiles.len())?,
            node_count: count(self.payouts.len())?,
            render_count: count(self.renders.len())?,
        })
    }

    /// Every leaf of the tile tree (primary, check and tiebreak renders), in leaf order.
    pub fn renders(&self) -> &[RenderRecord] {
        &self.renders
    }

    /// A node's payout leaf and its proof (the arguments of `claim_payout`).
    pub fn payout_proof(&self, node: &Pubkey) -> Option<(NodePayout, Vec<Hash32>)> {
        let i = self.payouts.iter().position(|p| &p.node == node)?;
        Some((self.payouts[i].clone(), self.payout_tree.proof(i)?))
    }

    /// A tile's record and the proof of its primary leaf against the tile root.
    pub fn tile_proof(&self, frame: u32, tile: u32) -> Option<(TileRecord, Vec<Hash32>)> {
        let want = (frame, tile, TileRole::Primary);
        let i = self
            .renders
            .partition_point(|r| (r.frame, r.tile, r.role) < want);
        let r = self
            .renders
            .get(i)
            .filter(|r| (r.frame, r.tile, r.role) == want)?;
        let record = TileRecord {
            frame,
            tile,
            node: r.node,
            pixel_hash: r.pixel_hash,
        };
        Some((record, self.tile_tree.proof(i)?))
    }

    /// The proof of one leaf of the tile tree.
    pub fn render_proof(&self, render: &RenderRecord) -> Option<Vec<Hash32>> {
        let i = self.renders.partition_point(|r| r.key() < render.key());
        (self.renders.get(i) == Some(render)).then(|| self.tile_tree.proof(i))?
    }

    /// Every leaf crediting `node`, with its proof, in strictly increasing `(frame, tile,
    /// role)`: the tile leaves of its contest (`prove_contest`).
    pub fn contest_leaves(&self, node: &Pubkey) -> Vec<ContestLeaf> {
        self.renders
            .iter()
            .enumerate()
            .filter(|(_, r)| &r.node == node)
            .filter_map(|(i, r)| {
                Some(ContestLeaf {
                    frame: r.frame,
                    tile: r.tile,
                    role: r.role as u8,
                    pixel_hash: r.pixel_hash,
                    proof: self.tile_tree.proof(i)?,
                })
            })
            .collect()
    }
}

/// Each verification render checks a tile of the receipt, at most once per node and role,
/// and there are no more of them than the job pays for.
fn check_verifications(
    job: &JobShape,
    tiles: &BTreeSet<(u32, u32)>,
    verifications: &[RenderRecord],
    tile_count: u64,
) -> Result<(), ReceiptError> {
    let mut seen = BTreeSet::new();
    for v in verifications {
        if v.role == TileRole::Primary || !tiles.contains(&(v.frame, v.tile)) {
            return Err(ReceiptError::UnverifiedTile {
                frame: v.frame,
                tile: v.tile,
                role: v.role.name(),
            });
        }
        if !seen.insert(v.key()) {
            return Err(ReceiptError::Duplicate {
                frame: v.frame,
                tile: v.tile,
            });
        }
    }
    let max = max_verification_renders(tile_count, job.verify_bps);
    let count = verifications.len() as u64;
    if count > max {
        return Err(ReceiptError::TooManyVerifications {
            count,
            max,
            verify_bps: job.verify_bps,
            tiles: tile_count,
        });
    }
    Ok(())
}

/// `price_per_tile` per leaf, to the leaf's node.
fn payouts_of(job: &JobShape, renders: &[RenderRecord]) -> Result<Vec<NodePayout>, ReceiptError> {
    let mut per_node: BTreeMap<Pubkey, u32> = BTreeMap::new();
    for r in renders {
        *per_node.entry(r.node).or_default() += 1;
    }
    per_node
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
        .collect()
}

impl Receipt {
    /// The witnesses a slash for `(frame, tile)` can use: every leaf of that tile (its
    /// primary and the verification renders that agreed with it) with its proof, in leaf
    /// order. Empty when the receipt has no such tile.
    pub fn tile_witnesses(&self, frame: u32, tile: u32) -> Vec<(RenderRecord, Vec<Hash32>)> {
        let start = self
            .renders
            .partition_point(|r| (r.frame, r.tile) < (frame, tile));
        self.renders[start..]
            .iter()
            .enumerate()
            .take_while(|(_, r)| (r.frame, r.tile) == (frame, tile))
            .filter_map(|(i, r)| Some((*r, self.tile_tree.proof(start + i)?)))
            .collect()
    }
}

/// Checks a delivered tile (its primary leaf) against a job's on-chain tile root (what an auditor does with
/// a downloaded image: hash its pixels, then call this with the manifest's proof).
pub fn verify_tile(
    job_key: &Pubkey,
    tile_root: &Hash32,
    record: &TileRecord,
    proof: &[Hash32],
) -> bool {
    let leaf = RenderRecord::from(record).leaf(job_key);
    merkle::verify_proof(proof, tile_root, &leaf)
}
