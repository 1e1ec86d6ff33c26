//! Tessera: escrow, receipts and payouts for a decentralized GPU render network.
//!
//! `lib.rs` only routes; each instruction lives in `instructions/<name>.rs`.
//!
//! A job's life (`state::JobState`), every rule of it copied from the network at creation:
//!
//! ```text
//! Open ──post_receipt (all tiles, by the deadline)──────────────► Rendered
//!  │ └─cancel_job──► CancelRequested ─┐                           │  │
//!  │                                  ├─post_receipt (partial,    │  └─dispute_job (bond)─► Disputed
//!  └─(deadline passes)────────────────┘  until + settle grace)──► │                          │
//!        └─expire_job after + settle grace, no receipt: refund    │  resolve_dispute (admin, before the
//!                                                                 │  deadline) or finalize_job (after:
//!  approve_job / finalize_job (after the window) ──► Settled      │  the receipt stands) ──► Resolved
//!  claim_payout … close_job (after all claims or the claim grace)
//!
//!  From the receipt to the end of the challenge window, whatever the state:
//!  open_contest ─► prove_contest / prove_ack (× n) ─► resolve_contest (a short node is paid the
//!  difference: from the job's room under its cap, then from the orchestrator's bond, which
//!  `post_receipt` requires (`deposit_bond`) and locks until the receipt's disputes are over)
//! ```
//!
//! Nothing a stranger does can block another's job: job ids derive from (artist, nonce), the
//! treasury is this program's PDA token account, every PDA tolerates being pre-funded.
//! Network parameters change only after `PARAMS_TIMELOCK` and never for running jobs.
#![allow(unexpected_cfgs)]
// Anchor's account macros generate large handler signatures and results.
#![allow(clippy::result_large_err, clippy::too_many_arguments)]

use anchor_lang::prelude::*;

pub mod constants;
pub mod errors;
pub mod events;
pub mod evidence;
pub mod instructions;
pub mod merkle;
#[cfg(not(target_os = "solana"))]
pub mod native;
pub mod pda_init;
pub mod state;
pub mod vault;

use instructions::*;

declare_id!("TesRaXHqZ6cn3QXhHNYy1qUhF3c8gGq8ZtZ6BBAVVVe");

#[program]
pub mod tessera {
    use super::*;

    pub fn initialize_network(ctx: Context<InitializeNetwork>, args: NetworkParams) -> Result<()> {
        instructions::initialize_network::handle_initialize_network(ctx, args)
    }

    pub fn update_network(ctx: Context<UpdateNetwork>, args: NetworkUpdate) -> Result<()> {
        instructions::update_network::handle_update_network(ctx, args)
    }

    pub fn collect_fees(ctx: Context<CollectFees>, amount: u64) -> Result<()> {
        instructions::collect_fees::handle_collect_fees(ctx, amount)
    }

    pub fn apply_network_update(ctx: Context<ApplyNetworkUpdate>) -> Result<()> {
        instructions::apply_network_update::handle_apply_network_update(ctx)
    }

    pub fn accept_admin(ctx: Context<AcceptAdmin>) -> Result<()> {
        instructions::accept_admin::handle_accept_admin(ctx)
    }

    pub fn register_node(
        ctx: Context<RegisterNode>,
        stake: u64,
        benchmark_score: u64,
        hardware: String,
    ) -> Result<()> {
        instructions::register_node::handle_register_node(ctx, stake, benchmark_score, hardware)
    }

    pub fn update_node(
        ctx: Context<UpdateNode>,
        benchmark_score: u64,
        hardware: String,
    ) -> Result<()> {
        instructions::update_node::handle_update_node(ctx, benchmark_score, hardware)
    }

    pub fn add_stake(ctx: Context<AddStake>, amount: u64) -> Result<()> {
        instructions::add_stake::handle_add_stake(ctx, amount)
    }

    pub fn request_unstake(ctx: Context<RequestUnstake>, amount: u64) -> Result<()> {
        instructions::request_unstake::handle_request_unstake(ctx, amount)
    }

    pub fn withdraw_stake(ctx: Context<WithdrawStake>) -> Result<()> {
        instructions::withdraw_stake::handle_withdraw_stake(ctx)
    }

    pub fn deposit_bond(
        ctx: Context<DepositBond>,
        orchestrator: Pubkey,
        amount: u64,
    ) -> Result<()> {
        instructions::deposit_bond::handle_deposit_bond(ctx, orchestrator, amount)
    }

    pub fn withdraw_bond(ctx: Context<WithdrawBond>, amount: u64) -> Result<()> {
        instructions::withdraw_bond::handle_withdraw_bond(ctx, amount)
    }

    pub fn create_job(ctx: Context<CreateJob>, nonce: u64, args: JobParams) -> Result<()> {
        instructions::create_job::handle_create_job(ctx, nonce, args)
    }

    pub fn cancel_job(ctx: Context<CancelJob>) -> Result<()> {
        instructions::cancel_job::handle_cancel_job(ctx)
    }

    pub fn post_receipt(ctx: Context<PostReceipt>, args: ReceiptParams) -> Result<()> {
        instructions::post_receipt::handle_post_receipt(ctx, args)
    }

    pub fn approve_job(ctx: Context<ApproveJob>) -> Result<()> {
        instructions::approve_job::handle_approve_job(ctx)
    }

    pub fn finalize_job(ctx: Context<FinalizeJob>) -> Result<()> {
        instructions::finalize_job::handle_finalize_job(ctx)
    }

    pub fn claim_payout(
        ctx: Context<ClaimPayout>,
        amount: u64,
        tiles: u32,
        proof: Vec<[u8; 32]>,
    ) -> Result<()> {
        instructions::claim_payout::handle_claim_payout(ctx, amount, tiles, proof)
    }

    pub fn dispute_job(ctx: Context<DisputeJob>, reason: u16) -> Result<()> {
        instructions::dispute_job::handle_dispute_job(ctx, reason)
    }

    pub fn resolve_dispute(ctx: Context<ResolveDispute>, refund_bps: u16) -> Result<()> {
        instructions::resolve_dispute::handle_resolve_dispute(ctx, refund_bps)
    }

    pub fn corroborate_tile(
        ctx: Context<CorroborateTile>,
        frame: u32,
        tile: u32,
        role: u8,
        proof: Vec<[u8; 32]>,
    ) -> Result<()> {
        instructions::corroborate_tile::handle_corroborate_tile(ctx, frame, tile, role, proof)
    }

    pub fn slash_node(ctx: Context<SlashNode>, frame: u32, tile: u32) -> Result<()> {
        instructions::slash_node::handle_slash_node(ctx, frame, tile)
    }

    pub fn open_contest(ctx: Context<OpenContest>, payout: Option<PayoutLeafProof>) -> Result<()> {
        instructions::open_contest::handle_open_contest(ctx, payout)
    }

    pub fn prove_contest(ctx: Context<ProveContest>, leaves: Vec<ContestLeaf>) -> Result<()> {
        instructions::prove_contest::handle_prove_contest(ctx, leaves)
    }

    pub fn prove_ack(ctx: Context<ProveAck>, ack: AckProof) -> Result<()> {
        instructions::prove_ack::handle_prove_ack(ctx, ack)
    }

    pub fn resolve_contest(ctx: Context<ResolveContest>) -> Result<()> {
        instructions::resolve_contest::handle_resolve_contest(ctx)
    }

    pub fn expire_job(ctx: Context<ExpireJob>) -> Result<()> {
        instructions::expire_job::handle_expire_job(ctx)
    }

    pub fn close_job(ctx: Context<CloseJob>) -> Result<()> {
        instructions::close_job::handle_close_job(ctx)
    }
}
