use anchor_lang::prelude::*;

use crate::constants::MAX_HARDWARE_LEN;

/// A render node. PDA `["node", node_key]`; its stake lives in the token account
/// PDA `["stake", node_key]` whose authority is this account.
#[account]
#[derive(InitSpace, Debug)]
pub struct Node {
    /// The node agent's ed25519 key (signs its work off-chain).
    pub node_key: Pubkey,
    /// Owner of the stake and receiver of payouts.
    pub operator: Pubkey,
    /// Tokens staked, including any amount waiting out the unstake cooldown (still slashable).
    pub stake: u64,
    /// Amount requested for withdrawal; 0 when none.
    pub unstake_amount: u64,
    /// Unix time from which `unstake_amount` can be withdrawn.
    pub unstake_available_at: i64,
    /// Benchmark score reported by `node-agent bench` (Msamples/s × 100).
    pub benchmark_score: u64,
    /// Free-form hardware description (GPU name), at most `MAX_HARDWARE_LEN` bytes.
    #[max_len(MAX_HARDWARE_LEN)]
    pub hardware: String,
    /// Tiles paid to this node (summed from claimed payout leaves).
    pub tiles_rendered: u64,
    /// Faults recorded against this node. Nothing records one since `resolve_dispute` stopped
    /// slashing; evidence-based slashing (issue 14, to come) will.
    pub faults: u64,
    pub registered_at: i64,
    pub bump: u8,
    pub vault_bump: u8,
}

impl Node {
    /// Stake that is not waiting to be withdrawn.
    pub fn active_stake(&self) -> u64 {
        self.stake.saturating_sub(self.unstake_amount)
    }
}
