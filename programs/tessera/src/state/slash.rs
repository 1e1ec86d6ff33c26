use anchor_lang::prelude::*;

/// A proven wrong tile. PDA `["slash", job, frame, tile]`: its existence makes a second slash
/// for the same tile of the same job fail, whoever files it and against whichever node.
#[account]
#[derive(InitSpace, Debug)]
pub struct SlashRecord {
    pub job: Pubkey,
    pub frame: u32,
    pub tile: u32,
    /// The slashed node.
    pub node_key: Pubkey,
    /// The pixel hash the node signed, which the receipt did not accept.
    pub bad_hash: [u8; 32],
    /// The pixel hash the receipt accepted for this tile (from another node).
    pub accepted_hash: [u8; 32],
    /// Tokens moved from the node's stake to the treasury.
    pub amount: u64,
    pub slashed_at: i64,
    pub bump: u8,
}
