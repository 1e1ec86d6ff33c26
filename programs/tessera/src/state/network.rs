use anchor_lang::prelude::*;

use crate::instructions::NetworkParams;

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
    /// Token account (of `mint`) that receives protocol fees: the PDA `["treasury"]`, owned by
    /// SPL Token with this network account as authority, so nobody can close it under
    /// settlement; the admin takes fees out with `collect_fees`.
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
    /// Seconds the orchestrator has, after a cancel request or a job's deadline, to post the
    /// receipt of the tiles verified so far; only then may the artist take a refund.
    pub settle_grace: i64,
    /// Seconds the admin has to resolve a dispute before its default outcome applies.
    pub resolution_period: i64,
    /// Tokens an artist posts with a dispute (returned when the dispute is upheld).
    pub dispute_bond: u64,
    /// Tokens one proven wrong tile costs a node (`slash_node`); 1 ≤ it ≤ `min_stake`.
    pub slash_amount: u64,
    /// The most verification renders a job pays for, in bps of its tiles (copied into jobs).
    pub verify_bps: u16,
    /// Least balance of an orchestrator's bond for `post_receipt` (copied into jobs).
    pub orchestrator_bond: u64,
    /// When set, no new job, node or stake is accepted. Receipts for running jobs, settlement,
    /// claims, refunds and withdrawals keep working, so pausing never traps funds.
    pub paused: bool,
    /// Jobs created so far (a statistic: job addresses derive from the artist and a nonce,
    /// never from this count, so nobody can make another artist's `create_job` fail).
    pub jobs_created: u64,
    /// Jobs now `Disputed` (incremented by `dispute_job`, decremented when the dispute ends).
    /// A statistic: it holds no withdrawal (disputes slash nothing; each node's stake lock
    /// covers the slash windows of its own jobs).
    pub open_disputes: u64,
    /// Parameters proposed by `update_network`, validated, waiting out `PARAMS_TIMELOCK`.
    pub pending_params: Option<NetworkParams>,
    /// Unix time from which `apply_network_update` may make `pending_params` current.
    pub pending_effective_at: i64,
    pub bump: u8,
}

impl Network {
    /// The parameters now in force.
    pub fn params(&self) -> NetworkParams {
        NetworkParams {
            orchestrator: self.orchestrator,
            fee_bps: self.fee_bps,
            min_stake: self.min_stake,
            challenge_window: self.challenge_window,
            unstake_cooldown: self.unstake_cooldown,
            claim_grace: self.claim_grace,
            settle_grace: self.settle_grace,
            resolution_period: self.resolution_period,
            dispute_bond: self.dispute_bond,
            slash_amount: self.slash_amount,
            verify_bps: self.verify_bps,
            orchestrator_bond: self.orchestrator_bond,
        }
    }

    /// Makes `p` the parameters in force.
    pub fn set_params(&mut self, p: &NetworkParams) {
        self.orchestrator = p.orchestrator;
        self.fee_bps = p.fee_bps;
        self.min_stake = p.min_stake;
        self.challenge_window = p.challenge_window;
        self.unstake_cooldown = p.unstake_cooldown;
        self.claim_grace = p.claim_grace;
        self.settle_grace = p.settle_grace;
        self.resolution_period = p.resolution_period;
        self.dispute_bond = p.dispute_bond;
        self.slash_amount = p.slash_amount;
        self.verify_bps = p.verify_bps;
        self.orchestrator_bond = p.orchestrator_bond;
    }
}
