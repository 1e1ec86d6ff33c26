use anchor_lang::prelude::*;

/// The network's configuration. PDA `["network"]`: one per deployment.
#[account]
#[derive(InitSpace, Debug)]
pub struct Network {
    /// May change the configuration and resolve disputes.
    pub admin: Pubkey,
    /// Proposed by the admin (`update_network`); becomes admin once it signs `accept_admin`.
    pub pending_admin: Option<Pubkey>,
    /// The network's SPL token: every escrow, stake and payout is in it. Fixed at set-up.
    pub mint: Pubkey,
    /// Signs receipts (`post_receipt`) of the jobs created while it is set (each job keeps its own).
    pub orchestrator: Pubkey,
    /// Token account (of `mint`) that receives protocol fees.
    pub treasury: Pubkey,
    /// Protocol fee on a job's payout, in basis points (≤ `MAX_FEE_BPS`).
    pub fee_bps: u16,
    /// Least stake a node must keep to be given work.
    pub min_stake: u64,
    /// Seconds after a receipt during which the artist may dispute it.
    pub challenge_window: i64,
    /// Seconds between `request_unstake` and `withdraw_stake`.
    pub unstake_cooldown: i64,
    /// Seconds after settlement during which nodes may claim before `close_job` sweeps.
    pub claim_grace: i64,
    /// When set, no new job, node or stake is accepted. Receipts for running jobs, settlement,
    /// claims, refunds and withdrawals keep working, so pausing never traps funds.
    pub paused: bool,
    /// Id the next job must take; jobs are never re-used, so claim records never collide.
    pub next_job_id: u64,
    /// Jobs now `Disputed` (incremented by `dispute_job`, decremented by `resolve_dispute`).
    /// `withdraw_stake` is refused while it is not zero, so no stake leaves before a dispute
    /// that might slash it is resolved.
    pub open_disputes: u64,
    pub bump: u8,
}
