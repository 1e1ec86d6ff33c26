use anchor_lang::prelude::*;
use anchor_spl::token::{Token, TokenAccount};

use crate::{
    constants::*,
    errors::TesseraError,
    events::DisputeResolved,
    merkle,
    state::{Job, JobState, Network, Node},
    vault,
};

use super::settle::settle;

#[derive(Accounts)]
pub struct ResolveDispute<'info> {
    /// The network admin.
    pub admin: Signer<'info>,
    /// The network config.
    #[account(mut, seeds = [NETWORK_SEED], bump = network.bump, has_one = admin @ TesseraError::NotAdmin)]
    pub network: Account<'info, Network>,
    /// The disputed job.
    #[account(mut, seeds = [JOB_SEED, &job.job_id.to_le_bytes()], bump = job.bump)]
    pub job: Account<'info, Job>,
    /// The job's escrow.
    #[account(mut, seeds = [JOB_VAULT_SEED, job.key().as_ref()], bump = job.vault_bump)]
    pub vault: Account<'info, TokenAccount>,
    /// The network's treasury.
    #[account(mut, address = network.treasury @ TesseraError::WrongTreasury)]
    pub treasury: Account<'info, TokenAccount>,
    /// Receives the refund and any slashed stake.
    #[account(mut, token::mint = network.mint, token::authority = job.artist)]
    pub artist_token: Account<'info, TokenAccount>,
    /// The node to slash, when slashing.
    #[account(mut, seeds = [NODE_SEED, node.node_key.as_ref()], bump = node.bump)]
    pub node: Option<Account<'info, Node>>,
    /// That node's stake vault.
    #[account(mut)]
    pub stake_vault: Option<Account<'info, TokenAccount>>,
    pub token_program: Program<'info, Token>,
}

/// Ends a dispute: `refund_bps` of the payout goes back to the artist (nodes are paid the rest
/// pro rata), and `slash_amount` of the named node's stake is paid to the artist.
/// CHECK: admin signs (struct); job `Disputed`; refund ≤ 100%; the network's open dispute
/// count goes down by one; when slashing, the node and its own stake vault (PDA of that node)
/// are given, the node's payout leaf `(job, node, leaf_amount, leaf_tiles)` is proven against
/// the job's payout root, and the amount ≤ `MAX_SLASH_MULTIPLE` × `leaf_amount` and ≤ its stake.
pub fn handle_resolve_dispute(
    ctx: Context<ResolveDispute>,
    refund_bps: u16,
    slash_amount: u64,
    leaf_amount: u64,
    leaf_tiles: u32,
    proof: Vec<[u8; 32]>,
) -> Result<()> {
    require!(
        ctx.accounts.job.state == JobState::Disputed,
        TesseraError::WrongJobState
    );
    require!(
        refund_bps as u64 <= BPS_DENOMINATOR,
        TesseraError::InvalidRefundShare
    );
    let share_bps = BPS_DENOMINATOR as u16 - refund_bps;
    let network = &mut ctx.accounts.network;
    network.open_disputes = network
        .open_disputes
        .checked_sub(1)
        .ok_or(TesseraError::ArithmeticError)?;
    let (_fee, refund) = settle(
        &mut ctx.accounts.job,
        &ctx.accounts.vault,
        &ctx.accounts.treasury,
        &ctx.accounts.artist_token,
        &ctx.accounts.token_program,
        share_bps,
        JobState::Resolved,
    )?;

    let mut slashed_node = None;
    if slash_amount > 0 {
        let (Some(node), Some(stake_vault)) = (&mut ctx.accounts.node, &ctx.accounts.stake_vault)
        else {
            return err!(TesseraError::MissingSlashAccounts);
        };
        let (expected_vault, _) =
            Pubkey::find_program_address(&[STAKE_VAULT_SEED, node.node_key.as_ref()], &crate::ID);
        require_keys_eq!(
            stake_vault.key(),
            expected_vault,
            TesseraError::MissingSlashAccounts
        );
        require!(proof.len() <= MAX_PROOF_LEN, TesseraError::ProofTooLong);
        let leaf = merkle::payout_leaf(
            &ctx.accounts.job.key(),
            &node.node_key,
            leaf_amount,
            leaf_tiles,
        );
        require!(
            merkle::verify_proof(&proof, &ctx.accounts.job.payout_root, &leaf),
            TesseraError::InvalidProof
        );
        let bound = leaf_amount
            .checked_mul(MAX_SLASH_MULTIPLE)
            .ok_or(TesseraError::ArithmeticError)?;
        require!(slash_amount <= bound, TesseraError::SlashAboveBound);
        require!(slash_amount <= node.stake, TesseraError::InsufficientStake);
        node.stake -= slash_amount;
        node.unstake_amount = node.unstake_amount.min(node.stake);
        node.faults = node
            .faults
            .checked_add(1)
            .ok_or(TesseraError::ArithmeticError)?;
        let node_key = node.node_key;
        let seeds: &[&[u8]] = &[NODE_SEED, node_key.as_ref(), &[node.bump]];
        vault::pay_from(
            &ctx.accounts.token_program,
            stake_vault,
            &ctx.accounts.artist_token,
            &node.to_account_info(),
            seeds,
            slash_amount,
        )?;
        slashed_node = Some(node_key);
    }
    emit!(DisputeResolved {
        job: ctx.accounts.job.key(),
        refund,
        slashed_node,
        slashed: slash_amount,
    });
    Ok(())
}
