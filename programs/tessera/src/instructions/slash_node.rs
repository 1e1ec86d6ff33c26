use anchor_lang::prelude::*;
use anchor_spl::token::{Token, TokenAccount};

use crate::{
    constants::*,
    errors::TesseraError,
    events::NodeSlashed,
    evidence, merkle, pda_init,
    state::{Job, JobState, Network, Node, SlashRecord},
    vault,
};

/// What proves a node returned a wrong tile: its own signature (checked by the Ed25519
/// instruction before this one) over `bad_hash` for `(job, frame, tile)`, and a proof that
/// the job's tile root holds a leaf for the same tile from another node with another hash.
#[derive(AnchorSerialize, AnchorDeserialize, Clone, Debug, PartialEq, Eq)]
pub struct SlashEvidence {
    pub frame: u32,
    pub tile: u32,
    /// The pixel hash the slashed node signed.
    pub bad_hash: [u8; 32],
    /// The node the receipt credits with this tile.
    pub accepted_node: Pubkey,
    /// The pixel hash the receipt accepted for this tile.
    pub accepted_hash: [u8; 32],
    /// Siblings from `tile_leaf(job, frame, tile, Primary, accepted_node, accepted_hash)` to
    /// the tile root.
    pub proof: Vec<[u8; 32]>,
}

#[derive(Accounts)]
#[instruction(evidence: SlashEvidence)]
pub struct SlashNode<'info> {
    /// Files the evidence and pays the slash record's rent; anyone holding the evidence may.
    #[account(mut)]
    pub reporter: Signer<'info>,
    /// The network config (treasury).
    #[account(seeds = [NETWORK_SEED], bump = network.bump)]
    pub network: Account<'info, Network>,
    /// The job whose receipt the evidence is checked against.
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
    /// The slash record, created by the handler; its existence makes a second slash of the
    /// same tile fail.
    /// CHECK: address pinned by the seeds; created in the handler (`pda_init::create_pda`).
    #[account(mut, seeds = [SLASH_SEED, job.key().as_ref(), &evidence.frame.to_le_bytes(), &evidence.tile.to_le_bytes()], bump)]
    pub slash_record: UncheckedAccount<'info>,
    /// The instructions sysvar (the Ed25519 check before this instruction is read from it).
    /// CHECK: pinned to the sysvar's address.
    #[account(address = solana_instructions_sysvar::ID)]
    pub instructions: UncheckedAccount<'info>,
    pub token_program: Program<'info, Token>,
    pub system_program: Program<'info, System>,
}

/// Slashes a node for one tile whose pixels it signed but the job's receipt replaced, moving
/// the job's slash amount (capped by the stake) from its stake to the treasury.
/// CHECK: the job has a receipt (`Rendered`, `Disputed`, `Settled`, `Resolved`); now ≤ the
/// job's `slash_ends_at`; the accepted leaf is from another node with another hash and is in
/// the tile root (proof ≤ 32); the previous instruction is the Ed25519 check of the node's key
/// over `tile_message(job, frame, tile, bad_hash)` (`evidence::require_signed`); the node
/// has stake; one slash per (job, frame, tile) (record PDA created here).
pub fn handle_slash_node(ctx: Context<SlashNode>, evidence: SlashEvidence) -> Result<()> {
    let job = &ctx.accounts.job;
    let job_key = job.key();
    require!(
        matches!(
            job.state,
            JobState::Rendered | JobState::Disputed | JobState::Settled | JobState::Resolved
        ),
        TesseraError::WrongJobState
    );
    let now = Clock::get()?.unix_timestamp;
    require!(now <= job.slash_ends_at, TesseraError::SlashWindowClosed);
    let node_key = ctx.accounts.node.node_key;
    require!(
        evidence.accepted_node != node_key && evidence.accepted_hash != evidence.bad_hash,
        TesseraError::EvidenceNotConflicting
    );
    require!(
        evidence.proof.len() <= MAX_PROOF_LEN,
        TesseraError::ProofTooLong
    );
    // The accepted render is the tile's primary leaf: the pixels its frame uses.
    let accepted = merkle::tile_leaf(
        &job_key,
        evidence.frame,
        evidence.tile,
        merkle::TileRole::Primary,
        &evidence.accepted_node,
        &evidence.accepted_hash,
    );
    require!(
        merkle::verify_proof(&evidence.proof, &job.tile_root, &accepted),
        TesseraError::InvalidProof
    );
    let message =
        evidence::tile_message(&job_key, evidence.frame, evidence.tile, &evidence.bad_hash);
    evidence::require_signed(&ctx.accounts.instructions, &node_key, &message)?;

    let amount = job.slash_amount.min(ctx.accounts.node.stake);
    require!(amount > 0, TesseraError::NothingToSlash);
    take_stake(&ctx, amount)?;
    record_slash(&ctx, &evidence, amount, now)?;

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
        frame: evidence.frame,
        tile: evidence.tile,
        amount,
    });
    Ok(())
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

/// Creates the (job, frame, tile) slash record; fails when it already exists.
fn record_slash(
    ctx: &Context<SlashNode>,
    evidence: &SlashEvidence,
    amount: u64,
    now: i64,
) -> Result<()> {
    let job_key = ctx.accounts.job.key();
    let (frame, tile) = (evidence.frame.to_le_bytes(), evidence.tile.to_le_bytes());
    let seeds: &[&[u8]] = &[
        SLASH_SEED,
        job_key.as_ref(),
        &frame,
        &tile,
        &[ctx.bumps.slash_record],
    ];
    let info = ctx.accounts.slash_record.to_account_info();
    pda_init::create_pda(
        &ctx.accounts.reporter.to_account_info(),
        &info,
        &ctx.accounts.system_program.to_account_info(),
        8 + SlashRecord::INIT_SPACE,
        &crate::ID,
        seeds,
    )?;
    let record = SlashRecord {
        job: job_key,
        frame: evidence.frame,
        tile: evidence.tile,
        node_key: ctx.accounts.node.node_key,
        bad_hash: evidence.bad_hash,
        accepted_hash: evidence.accepted_hash,
        amount,
        slashed_at: now,
        bump: ctx.bumps.slash_record,
    };
    record.try_serialize(&mut &mut info.try_borrow_mut_data()?[..])?;
    Ok(())
}
