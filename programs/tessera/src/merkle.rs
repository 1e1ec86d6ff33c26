//! Merkle trees of a job's receipt, shared by the program (proof checks) and by
//! off-chain code (the orchestrator builds trees, auditors check them).
//!
//! Hash: SHA-256 (`sol_sha256` syscall on-chain). Leaves are prefixed with 0x00 and a
//! tag naming their kind, inner nodes with 0x01 (second-preimage defence); pairs are
//! hashed in sorted order, so a proof is just the list of siblings. An odd node at the
//! end of a level is carried up unchanged.
use anchor_lang::prelude::Pubkey;
use solana_sha256_hasher::hashv;

const LEAF_PREFIX: &[u8] = &[0x00];
const NODE_PREFIX: &[u8] = &[0x01];
/// Tag of a tile leaf: one paid render of a tile.
pub const TILE_LEAF_TAG: &[u8] = b"tessera.tile.v2";
/// Tag of a payout leaf: what one node is owed for a job.
pub const PAYOUT_LEAF_TAG: &[u8] = b"tessera.payout.v1";

pub type Hash32 = [u8; 32];

/// What a paid render was for. Every tile of a receipt has exactly one `Primary` leaf (the
/// pixels its frame uses, whichever lease produced them); a verification render that agreed
/// with it is paid through a `Check` or `Tiebreak` leaf of its own node.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub enum TileRole {
    Primary = 0,
    Check = 1,
    Tiebreak = 2,
}

impl TileRole {
    pub fn from_u8(v: u8) -> Option<Self> {
        match v {
            0 => Some(Self::Primary),
            1 => Some(Self::Check),
            2 => Some(Self::Tiebreak),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Primary => "primary",
            Self::Check => "check",
            Self::Tiebreak => "tiebreak",
        }
    }
}

/// Leaf for one paid render: `(job, frame, tile index, role, node, blake3 of the tile's
/// RGBA8 pixels)`.
pub fn tile_leaf(
    job: &Pubkey,
    frame: u32,
    tile: u32,
    role: TileRole,
    node: &Pubkey,
    pixels: &Hash32,
) -> Hash32 {
    hashv(&[
        LEAF_PREFIX,
        TILE_LEAF_TAG,
        job.as_ref(),
        &frame.to_le_bytes(),
        &tile.to_le_bytes(),
        &[role as u8],
        node.as_ref(),
        pixels,
    ])
    .to_bytes()
}

/// Leaf for one node's payout: `(job, node key, amount, tiles paid)`.
pub fn payout_leaf(job: &Pubkey, node: &Pubkey, amount: u64, tiles: u32) -> Hash32 {
    hashv(&[
        LEAF_PREFIX,
        PAYOUT_LEAF_TAG,
        job.as_ref(),
        node.as_ref(),
        &amount.to_le_bytes(),
        &tiles.to_le_bytes(),
    ])
    .to_bytes()
}

/// Parent of two nodes, order-independent.
pub fn hash_pair(a: &Hash32, b: &Hash32) -> Hash32 {
    let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
    hashv(&[NODE_PREFIX, lo, hi]).to_bytes()
}

/// True when `proof` leads from `leaf` to `root`.
pub fn verify_proof(proof: &[Hash32], root: &Hash32, leaf: &Hash32) -> bool {
    let computed = proof
        .iter()
        .fold(*leaf, |acc, sibling| hash_pair(&acc, sibling));
    &computed == root
}

/// A whole tree kept level by level, for building roots and proofs off-chain.
#[derive(Clone, Debug)]
pub struct MerkleTree {
    levels: Vec<Vec<Hash32>>,
}

impl MerkleTree {
    /// Builds the tree over `leaves` in the given order. `None` when there are no leaves.
    pub fn new(leaves: Vec<Hash32>) -> Option<Self> {
        if leaves.is_empty() {
            return None;
        }
        let mut levels = vec![leaves];
        while levels.last().map(Vec::len) > Some(1) {
            let below = levels.last().expect("non-empty");
            let above = below
                .chunks(2)
                .map(|pair| match pair {
                    [a, b] => hash_pair(a, b),
                    [a] => *a,
                    _ => unreachable!("chunks(2)"),
                })
                .collect();
            levels.push(above);
        }
        Some(Self { levels })
    }

    pub fn root(&self) -> Hash32 {
        self.levels.last().expect("non-empty")[0]
    }

    pub fn leaf_count(&self) -> usize {
        self.levels[0].len()
    }

    /// Siblings from the leaf at `index` up to the root.
    pub fn proof(&self, mut index: usize) -> Option<Vec<Hash32>> {
        if index >= self.leaf_count() {
            return None;
        }
        let mut proof = Vec::new();
        for level in &self.levels[..self.levels.len() - 1] {
            let sibling = index ^ 1;
            if sibling < level.len() {
                proof.push(level[sibling]);
            }
            index /= 2;
        }
        Some(proof)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaves(n: u8) -> Vec<Hash32> {
        (0..n).map(|i| [i; 32]).collect()
    }

    #[test]
    fn every_leaf_proves_for_every_tree_size() {
        for n in 1..=17u8 {
            let tree = MerkleTree::new(leaves(n)).unwrap();
            for i in 0..n as usize {
                let proof = tree.proof(i).unwrap();
                assert!(
                    verify_proof(&proof, &tree.root(), &[i as u8; 32]),
                    "n={n} i={i}"
                );
                assert!(!verify_proof(&proof, &tree.root(), &[99; 32]));
            }
            assert!(tree.proof(n as usize).is_none());
        }
    }

    #[test]
    fn inner_node_is_not_a_valid_leaf() {
        let tree = MerkleTree::new(leaves(4)).unwrap();
        let inner = hash_pair(&[0; 32], &[1; 32]);
        // The inner node with the remaining sibling reaches the root as a "leaf",
        // but real leaves are prefixed 0x00, so no leaf function can produce it.
        let sibling = hash_pair(&[2; 32], &[3; 32]);
        assert!(verify_proof(&[sibling], &tree.root(), &inner));
        let job = Pubkey::new_unique();
        assert_ne!(payout_leaf(&job, &job, 0, 0), inner);
    }

    #[test]
    fn leaves_are_domain_separated() {
        let job = Pubkey::new_unique();
        let node = Pubkey::new_unique();
        assert_ne!(
            tile_leaf(&job, 0, 0, TileRole::Primary, &node, &[0; 32]),
            payout_leaf(&job, &node, 0, 0)
        );
        assert_ne!(
            tile_leaf(&job, 0, 0, TileRole::Primary, &node, &[0; 32]),
            tile_leaf(&job, 0, 0, TileRole::Check, &node, &[0; 32])
        );
        assert_ne!(
            payout_leaf(&job, &node, 1, 0),
            payout_leaf(&job, &node, 0, 1)
        );
    }
}
