use anchor_lang::prelude::*;

/// Proof that a node was paid for a job. PDA `["claim", job, node_key]`: a second
/// claim fails when this account already exists.
#[account]
#[derive(InitSpace, Debug)]
pub struct Claim {
    pub job: Pubkey,
    pub node_key: Pubkey,
    /// Amount in the payout leaf.
    pub amount: u64,
    /// Amount actually transferred (smaller after a dispute refunded part of the job).
    pub paid: u64,
    pub claimed_at: i64,
    pub bump: u8,
}
