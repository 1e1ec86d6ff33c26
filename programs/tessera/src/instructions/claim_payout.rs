use anchor_lang::prelude::*;
use anchor_spl::token::{Token, TokenAccount};

use crate::{
    constants::*,
    errors::TesseraError,
    events::PayoutClaimed,
    merkle, pda_init,
    state::{bps_of, Claim, Job, JobState, Node},
    vault,
};

#[derive(Accounts)]
pub struct ClaimPayout<'info> {
    /// Pays the claim record's rent; anyone may crank a claim, the tokens go to the operator.
    #[account(mut)]
    pub payer: Signer<'info>,
    /// The job.
    #[account(mut, seeds = [JOB_SEED, &job.job_id.to_le_bytes()], bump = job.bump)]
    pub job: Account<'info, Job>,
    /// The job's escrow.
    #[account(mut, seeds = [JOB_VAULT_SEED, job.key().as_ref()], bump = job.vault_bump)]
    pub vault: Account<'info, TokenAccount>,
    /// The node being paid.
    #[account(mut, seeds = [NODE_SEED, node.node_key.as_ref()], bump = node.bump)]
    pub node: Account<'info, Node>,
    /// The claim record, created by the handler; its existence makes a second claim fail.
    /// CHECK: address pinned by the seeds; created in the handler even when someone
    /// pre-funded it (`pda_init::create_pda`), so lamports sent there cannot block the claim.
    #[account(mut, seeds = [CLAIM_SEED, job.key().as_ref(), node.node_key.as_ref()], bump)]
    pub claim: UncheckedAccount<'info>,
    /// The node operator's account of the job's token.
    #[account(mut, token::mint = vault.mint, token::authority = node.operator)]
    pub operator_token: Account<'info, TokenAccount>,
    pub token_program: Program<'info, Token>,
    pub system_program: Program<'info, System>,
}

/// Pays a node its leaf of the payout tree.
/// CHECK: job `Settled` or `Resolved`; amount = price × tiles (`PayoutNotPerRender`); proof ≤
/// 32 siblings and valid for
/// `(job, node, amount, tiles)`; claimed sum stays ≤ total payout; claims ≤ node count;
/// one claim per (job, node) (claim PDA created here; a second creation fails).
pub fn handle_claim_payout(
    ctx: Context<ClaimPayout>,
    amount: u64,
    tiles: u32,
    proof: Vec<[u8; 32]>,
) -> Result<()> {
    let job = &ctx.accounts.job;
    require!(
        matches!(job.state, JobState::Settled | JobState::Resolved),
        TesseraError::WrongJobState
    );
    require!(proof.len() <= MAX_PROOF_LEN, TesseraError::ProofTooLong);
    // Every leaf pays the job's price per render it counts: then a node paid for renders the
    // tile tree does not credit it with takes them from the cap, and a short node's contest
    // (which compares its leaves with its amount) exposes the receipt.
    require!(
        job.price_per_tile.checked_mul(tiles as u64) == Some(amount),
        TesseraError::PayoutNotPerRender
    );
    let node_key = ctx.accounts.node.node_key;
    let leaf = merkle::payout_leaf(&job.key(), &node_key, amount, tiles);
    require!(
        merkle::verify_proof(&proof, &job.payout_root, &leaf),
        TesseraError::InvalidProof
    );

    let claimed_amount = job
        .claimed_amount
        .checked_add(amount)
        .ok_or(TesseraError::ArithmeticError)?;
    require!(
        claimed_amount <= job.total_payout,
        TesseraError::PayoutExceedsEscrow
    );
    let claimed_count = job
        .claimed_count
        .checked_add(1)
        .ok_or(TesseraError::ArithmeticError)?;
    require!(
        claimed_count <= job.node_count,
        TesseraError::InvalidNodeCount
    );
    let paid = bps_of(amount, job.payout_share_bps as u64)?;

    let authority = job.to_account_info();
    job.with_signer(|seeds| {
        vault::pay_from(
            &ctx.accounts.token_program,
            &ctx.accounts.vault,
            &ctx.accounts.operator_token,
            &authority,
            seeds,
            paid,
        )
    })?;

    let job = &mut ctx.accounts.job;
    job.claimed_amount = claimed_amount;
    job.claimed_count = claimed_count;
    let node = &mut ctx.accounts.node;
    node.tiles_rendered = node
        .tiles_rendered
        .checked_add(tiles as u64)
        .ok_or(TesseraError::ArithmeticError)?;
    let job_key = job.key();
    let claim_seeds: &[&[u8]] = &[
        CLAIM_SEED,
        job_key.as_ref(),
        node_key.as_ref(),
        &[ctx.bumps.claim],
    ];
    let claim_info = ctx.accounts.claim.to_account_info();
    pda_init::create_pda(
        &ctx.accounts.payer.to_account_info(),
        &claim_info,
        &ctx.accounts.system_program.to_account_info(),
        8 + Claim::INIT_SPACE,
        &crate::ID,
        claim_seeds,
    )?;
    let record = Claim {
        job: job_key,
        node_key,
        amount,
        paid,
        claimed_at: Clock::get()?.unix_timestamp,
        bump: ctx.bumps.claim,
    };
    record.try_serialize(&mut &mut claim_info.try_borrow_mut_data()?[..])?;
    emit!(PayoutClaimed {
        job: job.key(),
        node_key,
        amount,
        paid
    });
    Ok(())
}
