use anchor_lang::prelude::*;
use anchor_spl::token::{Token, TokenAccount};

use super::corroborate_tile::require_slashable;
use crate::{
    constants::*,
    errors::TesseraError,
    events::NodeSlashed,
    evidence,
    merkle::TileRole,
    state::{Job, Network, Node, SlashRecord, Witness, EVIDENCE_QUORUM},
    vault,
};

#[derive(Accounts)]
#[instruction(frame: u32, tile: u32)]
pub struct SlashNode<'info> {
    /// Files the slash; anyone holding the node's signature may.
    pub reporter: Signer<'info>,
    /// The network config (treasury).
    #[account(seeds = [NETWORK_SEED], bump = network.bump)]
    pub network: Account<'info, Network>,
    /// The job whose receipt the evidence was checked against.
    #[account(mut, seeds = [JOB_SEED, &job.job_id.to_le_bytes()], bump = job.bump)]
    pub job: Account<'info, Job>,
    /// The node being slashed (its key must be the Ed25519 check's key).
    #[account(mut, seeds = [NODE_SEED, node.node_key.as_ref()], bump = node.bump)]
    pub node: Account<'info, Node>,
    /// The node's stake vault.
    #[account(mut, seeds = [STAKE_VAULT_SEED, node.node_key.as_ref()], bump = node.vault_bump)]
    pub stake_vault: Account<'info, TokenAccount>,
    /// Receives the slashed stake.
    #[account(mut, address = network.treasury @ TesseraError::WrongTreasury)]
    pub treasury: Account<'info, TokenAccount>,
    /// The tile's evidence (`corroborate_tile`'s witnesses); records the slash.
    #[account(mut, seeds = [SLASH_SEED, job.key().as_ref(), &frame.to_le_bytes(), &tile.to_le_bytes()], bump = slash_record.bump)]
    pub slash_record: Account<'info, SlashRecord>,
    /// The instructions sysvar (the Ed25519 check before this instruction is read from it).
    /// CHECK: pinned to the sysvar's address.
    #[account(address = solana_instructions_sysvar::ID)]
    pub instructions: UncheckedAccount<'info>,
    pub token_program: Program<'info, Token>,
}

/// Slashes a node for one tile whose pixels it signed but the job's receipt replaced, moving
/// the job's slash amount (capped by the stake) from its stake to the treasury. The node's
/// hash is the one in its signed tile message; the conflicting renders are the record's
/// witnesses, each signed by its own node and in the tile root (`corroborate_tile`), so the
/// orchestrator alone (it writes the receipt) cannot convict anyone.
/// CHECK: the job has a receipt; now ≤ `slash_ends_at`; the previous instruction is the
/// Ed25519 check of the node's key (`SignerNotSlashedNode`) over `tile_message(job, frame,
/// tile, bad_hash)` (`SignedMessageMismatch`); not slashed yet (`TileAlreadySlashed`); no
/// primary witness is the node or its hash (`EvidenceNotConflicting`); a primary witness of
/// another operator with another hash (`AcceptedRenderNotCorroborated`); witnesses of
/// ≥ `EVIDENCE_QUORUM` distinct operators, none the node's, none with its hash
/// (`NotCorroborated`); the node has stake (`NothingToSlash`).
pub fn handle_slash_node(ctx: Context<SlashNode>, frame: u32, tile: u32) -> Result<()> {
    let job = &ctx.accounts.job;
    let job_key = job.key();
    require_slashable(job)?;
    let node = &ctx.accounts.node;
    let (signer, bad_hash) =
        evidence::signed_tile_hash(&ctx.accounts.instructions, &job_key, frame, tile)?;
    require_keys_eq!(signer, node.node_key, TesseraError::SignerNotSlashedNode);
    let record = &ctx.accounts.slash_record;
    require!(record.slashed_at == 0, TesseraError::TileAlreadySlashed);
    let accepted_hash = corroborated(record, node, &bad_hash)?;

    let amount = job.slash_amount.min(node.stake);
    require!(amount > 0, TesseraError::NothingToSlash);
    take_stake(&ctx, amount)?;
    let now = Clock::get()?.unix_timestamp;
    let node_key = node.node_key;
    let record = &mut ctx.accounts.slash_record;
    record.node_key = node_key;
    record.bad_hash = bad_hash;
    record.accepted_hash = accepted_hash;
    record.amount = amount;
    record.slashed_at = now;

    let job = &mut ctx.accounts.job;
    job.slashed_count = job
        .slashed_count
        .checked_add(1)
        .ok_or(TesseraError::ArithmeticError)?;
    let node = &mut ctx.accounts.node;
    node.stake = node
        .stake
        .checked_sub(amount)
        .ok_or(TesseraError::ArithmeticError)?;
    node.unstake_amount = node.unstake_amount.min(node.stake);
    // The lock was there to keep this amount in reach; what was taken no longer needs it.
    node.locked_stake = node.locked_stake.saturating_sub(amount);
    node.faults = node
        .faults
        .checked_add(1)
        .ok_or(TesseraError::ArithmeticError)?;
    emit!(NodeSlashed {
        job: job_key,
        node_key,
        frame,
        tile,
        amount,
    });
    Ok(())
}

/// Checks that the record's witnesses convict `node` of `bad_hash`; returns the hash of the
/// tile's primary witness (the accepted render).
fn corroborated(record: &SlashRecord, node: &Node, bad_hash: &[u8; 32]) -> Result<[u8; 32]> {
    let primary = TileRole::Primary as u8;
    let witnesses = record.witnesses();
    // A receipt whose primary leaf is this node's render, or its hash, accepted it.
    require!(
        witnesses
            .iter()
            .filter(|w| w.role == primary)
            .all(|w| w.node_key != node.node_key && &w.pixel_hash != bad_hash),
        TesseraError::EvidenceNotConflicting
    );
    let against: Vec<&Witness> = witnesses
        .iter()
        .filter(|w| {
            w.node_key != node.node_key && w.operator != node.operator && &w.pixel_hash != bad_hash
        })
        .collect();
    let accepted = against
        .iter()
        .find(|w| w.role == primary)
        .ok_or(TesseraError::AcceptedRenderNotCorroborated)?;
    let mut operators: Vec<Pubkey> = against.iter().map(|w| w.operator).collect();
    operators.sort_unstable();
    operators.dedup();
    require!(
        operators.len() >= EVIDENCE_QUORUM,
        TesseraError::NotCorroborated
    );
    Ok(accepted.pixel_hash)
}

/// Moves `amount` from the node's stake vault to the treasury (the node PDA signs).
fn take_stake(ctx: &Context<SlashNode>, amount: u64) -> Result<()> {
    let node = &ctx.accounts.node;
    let seeds: &[&[u8]] = &[NODE_SEED, node.node_key.as_ref(), &[node.bump]];
    vault::pay_from(
        &ctx.accounts.token_program,
        &ctx.accounts.stake_vault,
        &ctx.accounts.treasury,
        &node.to_account_info(),
        seeds,
        amount,
    )
}
