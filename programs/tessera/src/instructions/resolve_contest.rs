use anchor_lang::prelude::*;
use anchor_spl::token::{Token, TokenAccount};

use crate::{
    constants::*,
    errors::TesseraError,
    events::ContestUpheld,
    pda_init,
    state::{Claim, Contest, Job, Node, OrchestratorBond},
    vault,
};

use super::open_contest::require_contest_window;

#[derive(Accounts)]
pub struct ResolveContest<'info> {
    /// Anyone may crank it (pays a claim record's rent when the node had no leaf); the tokens
    /// go to the node's operator.
    #[account(mut)]
    pub payer: Signer<'info>,
    /// The contested job.
    #[account(mut, seeds = [JOB_SEED, &job.job_id.to_le_bytes()], bump = job.bump)]
    pub job: Account<'info, Job>,
    /// The job's escrow: the shortfall comes out of what the receipt left unspent.
    #[account(mut, seeds = [JOB_VAULT_SEED, job.key().as_ref()], bump = job.vault_bump)]
    pub vault: Account<'info, TokenAccount>,
    /// The job's orchestrator's bond: pays what the room cannot.
    #[account(mut, seeds = [ORCHESTRATOR_BOND_SEED, job.orchestrator.as_ref()], bump = bond.bump)]
    pub bond: Account<'info, OrchestratorBond>,
    /// The bond's token account.
    #[account(mut, seeds = [BOND_VAULT_SEED, job.orchestrator.as_ref()], bump = bond.vault_bump)]
    pub bond_vault: Account<'info, TokenAccount>,
    /// The contesting node (its operator is paid).
    #[account(seeds = [NODE_SEED, contest.node_key.as_ref()], bump = node.bump)]
    pub node: Account<'info, Node>,
    /// The node's contest.
    #[account(mut, seeds = [CONTEST_SEED, job.key().as_ref(), contest.node_key.as_ref()], bump = contest.bump)]
    pub contest: Account<'info, Contest>,
    /// The node's claim record: created here when the node proved no payout leaf, so a leaf
    /// it hid can never be claimed on top.
    /// CHECK: address pinned by the seeds; only created (`pda_init::create_pda`) when needed.
    #[account(mut, seeds = [CLAIM_SEED, job.key().as_ref(), contest.node_key.as_ref()], bump)]
    pub claim: UncheckedAccount<'info>,
    /// The node operator's account of the job's token.
    #[account(mut, token::mint = vault.mint, token::authority = node.operator)]
    pub operator_token: Account<'info, TokenAccount>,
    pub token_program: Program<'info, Token>,
    pub system_program: Program<'info, System>,
}

/// Upholds a contest whose proven tile leaves are worth more than its payout leaf: the node is
/// owed `price × proven` and is paid the shortfall (owed − leaf amount) from the job's room
/// under its cap (`price × render_count` − leaves − contests paid), so the artist never pays
/// for more renders than the receipt declared. A shortfall beyond the room means the receipt
/// pays other keys more than their renders: the orchestrator that signed it pays the rest
/// from its bond (up to the bond's balance) when the node proved its payout leaf; what
/// neither covers stays recorded as `unpaid`.
/// CHECK: contest window open; not resolved (`ContestResolved`); owed > leaf amount
/// (`NotShort`); the room payment ≤ the room and the bond payment ≤ the bond's balance
/// (checked arithmetic), the bond pays only a contest with a proven leaf; the bond is the
/// job's orchestrator's (struct seeds); without a leaf,
/// the claim record is created (fails when the node already claimed a leaf).
pub fn handle_resolve_contest(ctx: Context<ResolveContest>) -> Result<()> {
    require_contest_window(&ctx.accounts.job)?;
    let contest = &ctx.accounts.contest;
    require!(contest.resolved_at == 0, TesseraError::ContestResolved);
    let job = &ctx.accounts.job;
    let owed = job
        .price_per_tile
        .checked_mul(contest.proven as u64)
        .ok_or(TesseraError::ArithmeticError)?;
    require!(owed > contest.leaf_amount, TesseraError::NotShort);
    let shortfall = owed - contest.leaf_amount;
    let paid = shortfall.min(job.contest_room()?);
    // Only a proven leaf exposes the bond: nothing proves that a node has no leaf, so a node
    // hiding its (fully paid) leaf must not draw on it (the unclaimed leaf would go back to
    // the artist: a node and an artist together would drain the bond of an honest receipt).
    let from_bond = if contest.has_leaf {
        (shortfall - paid).min(ctx.accounts.bond_vault.amount)
    } else {
        0
    };
    let unpaid = shortfall - paid - from_bond;
    if paid > 0 {
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
    }
    pay_from_bond(&ctx, from_bond)?;
    let now = Clock::get()?.unix_timestamp;
    if !contest.has_leaf {
        let total = paid
            .checked_add(from_bond)
            .ok_or(TesseraError::ArithmeticError)?;
        record_claim(&ctx, owed, total, now)?;
    }
    let job = &mut ctx.accounts.job;
    if !ctx.accounts.contest.has_leaf {
        job.node_count = job
            .node_count
            .checked_add(1)
            .ok_or(TesseraError::ArithmeticError)?;
        job.claimed_count = job
            .claimed_count
            .checked_add(1)
            .ok_or(TesseraError::ArithmeticError)?;
    }
    job.contested_paid = job
        .contested_paid
        .checked_add(paid)
        .ok_or(TesseraError::ArithmeticError)?;
    job.bond_paid = job
        .bond_paid
        .checked_add(from_bond)
        .ok_or(TesseraError::ArithmeticError)?;
    let bond = &mut ctx.accounts.bond;
    bond.paid_out = bond
        .paid_out
        .checked_add(from_bond)
        .ok_or(TesseraError::ArithmeticError)?;
    job.contests_upheld = job
        .contests_upheld
        .checked_add(1)
        .ok_or(TesseraError::ArithmeticError)?;
    let contest = &mut ctx.accounts.contest;
    contest.owed = owed;
    contest.paid = paid;
    contest.paid_from_bond = from_bond;
    contest.unpaid = unpaid;
    contest.upheld = true;
    contest.resolved_at = now;
    emit!(ContestUpheld {
        job: job.key(),
        node_key: contest.node_key,
        owed,
        paid,
        paid_from_bond: from_bond,
        unpaid,
    });
    Ok(())
}

/// Pays `amount` of the shortfall from the orchestrator's bond, signed by the bond record.
fn pay_from_bond(ctx: &Context<ResolveContest>, amount: u64) -> Result<()> {
    let bond = &ctx.accounts.bond;
    let orchestrator = bond.orchestrator;
    let seeds: &[&[u8]] = &[ORCHESTRATOR_BOND_SEED, orchestrator.as_ref(), &[bond.bump]];
    vault::pay_from(
        &ctx.accounts.token_program,
        &ctx.accounts.bond_vault,
        &ctx.accounts.operator_token,
        &bond.to_account_info(),
        seeds,
        amount,
    )
}

/// A node without a payout leaf is paid through its claim record, which also makes any leaf
/// of it unclaimable; it counts as one more payout and one more claim of the job.
fn record_claim(ctx: &Context<ResolveContest>, owed: u64, paid: u64, now: i64) -> Result<()> {
    let job_key = ctx.accounts.job.key();
    let node_key = ctx.accounts.contest.node_key;
    let info = ctx.accounts.claim.to_account_info();
    pda_init::create_pda(
        &ctx.accounts.payer.to_account_info(),
        &info,
        &ctx.accounts.system_program.to_account_info(),
        8 + Claim::INIT_SPACE,
        &crate::ID,
        &[
            CLAIM_SEED,
            job_key.as_ref(),
            node_key.as_ref(),
            &[ctx.bumps.claim],
        ],
    )?;
    let record = Claim {
        job: job_key,
        node_key,
        amount: owed,
        paid,
        claimed_at: now,
        bump: ctx.bumps.claim,
    };
    record.try_serialize(&mut &mut info.try_borrow_mut_data()?[..])?;
    Ok(())
}
