use anchor_lang::prelude::*;

use crate::{
    constants::*,
    errors::TesseraError,
    merkle::{self, TileRole},
    state::{Contest, Job},
};

use super::open_contest::require_contest_window;

/// One tile leaf crediting the contesting node, with its proof against the tile root.
#[derive(AnchorSerialize, AnchorDeserialize, Clone, Debug, PartialEq, Eq)]
pub struct ContestLeaf {
    pub frame: u32,
    pub tile: u32,
    /// `merkle::TileRole` as its byte.
    pub role: u8,
    pub pixel_hash: [u8; 32],
    pub proof: Vec<[u8; 32]>,
}

#[derive(Accounts)]
pub struct ProveContest<'info> {
    /// The contesting node's key.
    pub node_key: Signer<'info>,
    /// The contested job.
    #[account(seeds = [JOB_SEED, &job.job_id.to_le_bytes()], bump = job.bump)]
    pub job: Account<'info, Job>,
    /// The node's open contest.
    #[account(mut, seeds = [CONTEST_SEED, job.key().as_ref(), node_key.key().as_ref()], bump = contest.bump)]
    pub contest: Account<'info, Contest>,
}

/// Adds tile leaves that credit the node to its contest. Leaves come in strictly increasing
/// `(frame, tile, role)` order across all calls, so each counts once; each is rebuilt with the
/// contesting node's key, so a leaf of another node does not prove.
/// CHECK: the node key signs and owns the contest (struct seeds); contest window open; not yet
/// resolved (`ContestResolved`); 1 ≤ leaves ≤ `MAX_CONTEST_LEAVES`; each role valid, strictly
/// after the last (`LeavesNotIncreasing`), proof ≤ 32 and in the tile root (`InvalidProof`).
pub fn handle_prove_contest(ctx: Context<ProveContest>, leaves: Vec<ContestLeaf>) -> Result<()> {
    let job = &ctx.accounts.job;
    require_contest_window(job)?;
    let contest = &mut ctx.accounts.contest;
    require!(contest.resolved_at == 0, TesseraError::ContestResolved);
    require!(
        (1..=MAX_CONTEST_LEAVES).contains(&leaves.len()),
        TesseraError::InvalidContestLeaves
    );
    let job_key = job.key();
    for l in &leaves {
        let role = TileRole::from_u8(l.role).ok_or(TesseraError::InvalidContestLeaves)?;
        require!(
            contest.is_next(l.frame, l.tile, l.role),
            TesseraError::LeavesNotIncreasing
        );
        require!(l.proof.len() <= MAX_PROOF_LEN, TesseraError::ProofTooLong);
        let leaf = merkle::tile_leaf(
            &job_key,
            l.frame,
            l.tile,
            role,
            &contest.node_key,
            &l.pixel_hash,
        );
        require!(
            merkle::verify_proof(&l.proof, &job.tile_root, &leaf),
            TesseraError::InvalidProof
        );
        contest.proven = contest
            .proven
            .checked_add(1)
            .ok_or(TesseraError::ArithmeticError)?;
        (contest.last_frame, contest.last_tile, contest.last_role) = (l.frame, l.tile, l.role);
    }
    Ok(())
}
