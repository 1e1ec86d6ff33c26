use anchor_lang::prelude::*;

use crate::{constants::MAX_HARDWARE_LEN, errors::TesseraError, state::Job};

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
    /// Wrong tiles proven against this node (`slash_node`), one per slashed tile.
    pub faults: u64,
    /// Stake that cannot be unstaked or withdrawn before `locked_until`: the slash amount of
    /// every job whose receipt named this node since the lock last expired (capped by the stake).
    pub locked_stake: u64,
    /// The latest slash window end of those jobs.
    pub locked_until: i64,
    pub registered_at: i64,
    /// The last time the node's active stake rose (`register_node`, `add_stake`). Nothing
    /// else raises it (unstaking, withdrawing and slashing only lower it), so a witness with
    /// `stake_added_at < job.created_at` held at least its current active stake when the job
    /// was created: `corroborate_tile` counts only such witnesses.
    pub stake_added_at: i64,
    pub bump: u8,
    pub vault_bump: u8,
}

impl Node {
    /// Stake locked at `now`: until and including `locked_until`, the last second a slash
    /// may land; the lock lapses by itself after it, so no release call is needed.
    pub fn locked_at(&self, now: i64) -> u64 {
        if now <= self.locked_until {
            self.locked_stake.min(self.stake)
        } else {
            0
        }
    }

    /// Locks `amount` more until at least `until` (a lapsed lock starts from zero).
    pub fn lock(&mut self, amount: u64, until: i64, now: i64) {
        let base = self.locked_at(now);
        self.locked_stake = base.saturating_add(amount).min(self.stake);
        self.locked_until = self.locked_until.max(until);
    }

    /// Stake that is not waiting to be withdrawn.
    pub fn active_stake(&self) -> u64 {
        self.stake.saturating_sub(self.unstake_amount)
    }

    /// Why this node's render cannot witness against a tile of `job` (`corroborate_tile`),
    /// or `None` when it can: it must have been registered, and last raised its stake, before
    /// the job was created, and still have the job's slash amount active. Active stake never
    /// rises without `add_stake`, so such a node held that much from before the job existed;
    /// Sybil keys made after seeing a job, or kept with dust and topped up, do not count.
    pub fn witness_refusal(&self, job: &Job) -> Option<TesseraError> {
        if self.registered_at >= job.created_at {
            Some(TesseraError::WitnessTooNew)
        } else if self.stake_added_at >= job.created_at {
            Some(TesseraError::WitnessStakeTooNew)
        } else if self.active_stake() < job.slash_amount {
            Some(TesseraError::WitnessUnderStaked)
        } else {
            None
        }
    }
}
