use anchor_lang::prelude::*;

/// Most witnesses a tile's slash record holds: a verification round has at most 4 renders
/// (the orchestrator's `MAX_RENDERS`), so an honest receipt never holds more leaves of a tile.
pub const MAX_WITNESSES: usize = 4;

/// Distinct operators, none the slashed node's, that must have signed another hash for a tile
/// (each with its leaf in the receipt, one of them the tile's primary) before a node is
/// slashed for it: the orchestrator's conviction quorum, now checked on-chain.
pub const EVIDENCE_QUORUM: usize = 2;

/// A render that vouches for a tile: a registered node's signature over its pixel hash (the
/// Ed25519 check) and its leaf in the job's tile root.
#[derive(
    AnchorSerialize, AnchorDeserialize, InitSpace, Clone, Copy, Debug, Default, PartialEq, Eq,
)]
pub struct Witness {
    pub node_key: Pubkey,
    /// The node's operator when it vouched (operators are counted, not keys).
    pub operator: Pubkey,
    pub pixel_hash: [u8; 32],
    /// `merkle::TileRole` as its byte.
    pub role: u8,
}

/// The evidence about one tile and, once filed, its slash. PDA `["slash", job, frame, tile]`:
/// `corroborate_tile` creates it and adds witnesses; `slash_node` fills in the slashed node,
/// and a second slash for the same tile of the same job fails (`TileAlreadySlashed`).
#[account]
#[derive(InitSpace, Debug)]
pub struct SlashRecord {
    pub job: Pubkey,
    pub frame: u32,
    pub tile: u32,
    pub witness_count: u8,
    pub witnesses: [Witness; MAX_WITNESSES],
    /// The slashed node (the zero key until the slash).
    pub node_key: Pubkey,
    /// The pixel hash the node signed, which the receipt did not accept.
    pub bad_hash: [u8; 32],
    /// The pixel hash of the tile's primary leaf (the witnessing render the frame uses).
    pub accepted_hash: [u8; 32],
    /// Tokens moved from the node's stake to the treasury.
    pub amount: u64,
    /// 0 until the slash.
    pub slashed_at: i64,
    pub bump: u8,
}

impl SlashRecord {
    pub fn witnesses(&self) -> &[Witness] {
        &self.witnesses[..(self.witness_count as usize).min(MAX_WITNESSES)]
    }
}
