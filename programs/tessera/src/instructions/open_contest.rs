use anchor_lang::prelude::*;

use crate::{
    constants::*,
    errors::TesseraError,
    events::ContestOpened,
    merkle, pda_init,
    state::{Contest, Job, JobState},
};

/// The node's payout leaf, as the receipt's payout tree holds it.
#[derive(AnchorSerialize, AnchorDeserialize, Clone, Debug, PartialEq, Eq)]
pub struct PayoutLeafProof {
    pub amount: u64,
    pub tiles: u32,
    /// Siblings from `payout_leaf(job, node, amount, tiles)` to the payout root.
    pub proof: Vec<[u8; 32]>,
}

#[derive(Accounts)]
pub struct OpenContest<'info> {
    /// The node's key: only the node may contest its own pay; pays the contest's rent.
    #[account(mut)]
    pub node_key: Signer<'info>,
    /// The job whose receipt is contested.
    #[account(seeds = [JOB_SEED, &job.job_id.to_le_bytes()], bump = job.bump)]
    pub job: Account<'info, Job>,
    /// The contest record, created by the handler; a second contest of the node fails.
    /// CHECK: address pinned by the seeds; created in the handler (`pda_init::create_pda`).
    #[account(mut, seeds = [CONTEST_SEED, job.key().as_ref(), node_key.key().as_ref()], bump)]
    pub contest: UncheckedAccount<'info>,
    pub system_program: Program<'info, System>,
}

/// Opens a node's contest of its pay: records its payout leaf (proven against the payout
/// root) or, with `payout: None`, that it has none (a leaf it hid would be unclaimable
/// afterwards, see `resolve_contest`). Tile leaves follow in `prove_contest`.
/// CHECK: the node key signs (struct); the job has a receipt (`Rendered`, `Disputed`,
/// `Settled`, `Resolved`) and its challenge window is open (`ContestWindowClosed`); a given
/// leaf has amount = price × tiles (`PayoutNotPerRender`) and its proof (≤ 32) is in the
/// payout root (`InvalidProof`); one contest per (job, node) (record PDA created here).
pub fn handle_open_contest(
    ctx: Context<OpenContest>,
    payout: Option<PayoutLeafProof>,
) -> Result<()> {
    let job = &ctx.accounts.job;
    require_contest_window(job)?;
    let node_key = ctx.accounts.node_key.key();
    let job_key = job.key();
    let (has_leaf, leaf_amount, leaf_tiles) = match &payout {
        Some(p) => {
            require!(
                job.price_per_tile.checked_mul(p.tiles as u64) == Some(p.amount),
                TesseraError::PayoutNotPerRender
            );
            require!(p.proof.len() <= MAX_PROOF_LEN, TesseraError::ProofTooLong);
            let leaf = merkle::payout_leaf(&job_key, &node_key, p.amount, p.tiles);
            require!(
                merkle::verify_proof(&p.proof, &job.payout_root, &leaf),
                TesseraError::InvalidProof
            );
            (true, p.amount, p.tiles)
        }
        None => (false, 0, 0),
    };
    let info = ctx.accounts.contest.to_account_info();
    pda_init::create_pda(
        &ctx.accounts.node_key.to_account_info(),
        &info,
        &ctx.accounts.system_program.to_account_info(),
        8 + Contest::INIT_SPACE,
        &crate::ID,
        &[
            CONTEST_SEED,
            job_key.as_ref(),
            node_key.as_ref(),
            &[ctx.bumps.contest],
        ],
    )?;
    let now = Clock::get()?.unix_timestamp;
    let contest = Contest {
        job: job_key,
        node_key,
        has_leaf,
        leaf_amount,
        leaf_tiles,
        proven: 0,
        last_frame: 0,
        last_tile: 0,
        last_role: 0,
        owed: 0,
        paid: 0,
        paid_from_bond: 0,
        unpaid: 0,
        upheld: false,
        opened_at: now,
        resolved_at: 0,
        bump: ctx.bumps.contest,
    };
    contest.try_serialize(&mut &mut info.try_borrow_mut_data()?[..])?;
    emit!(ContestOpened {
        job: job_key,
        node_key,
        leaf_amount,
    });
    Ok(())
}

/// Contests are open from the receipt until the end of the job's challenge window: settling
/// before it keeps the contest room in the vault (`settle`), so an early approval cannot cut
/// a short node off.
pub fn require_contest_window(job: &Job) -> Result<()> {
    require!(
        matches!(
            job.state,
            JobState::Rendered | JobState::Disputed | JobState::Settled | JobState::Resolved
        ),
        TesseraError::WrongJobState
    );
    require!(
        Clock::get()?.unix_timestamp < job.challenge_ends_at,
        TesseraError::ContestWindowClosed
    );
    Ok(())
}
