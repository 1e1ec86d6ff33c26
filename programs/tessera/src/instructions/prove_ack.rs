use anchor_lang::prelude::*;

use crate::{
    constants::*,
    errors::TesseraError,
    events::AckProven,
    evidence,
    merkle::{self, TileRole},
    state::{Contest, Job, SlashRecord},
};

use super::open_contest::require_contest_window;

/// The `role` byte a contest records after an acknowledged render: above every leaf role, so
/// no leaf of the same tile can follow it (and it cannot follow one).
pub const ACK_ROLE: u8 = 3;

/// An orchestrator's acknowledgement of the node's render and the receipt's primary leaf of
/// the same tile, crediting another node or another hash.
#[derive(AnchorSerialize, AnchorDeserialize, Clone, Debug, PartialEq, Eq)]
pub struct AckProof {
    pub frame: u32,
    pub tile: u32,
    /// The hash the orchestrator acknowledged for the node.
    pub pixel_hash: [u8; 32],
    /// The tile's primary leaf as the receipt holds it.
    pub credited_node: Pubkey,
    pub credited_hash: [u8; 32],
    /// Siblings from that primary leaf to the tile root.
    pub proof: Vec<[u8; 32]>,
}

#[derive(Accounts)]
#[instruction(ack: AckProof)]
pub struct ProveAck<'info> {
    /// The contesting node's key (the acknowledgement names it).
    pub node_key: Signer<'info>,
    /// The contested job (its snapshotted orchestrator signed the acknowledgement).
    #[account(seeds = [JOB_SEED, &job.job_id.to_le_bytes()], bump = job.bump)]
    pub job: Account<'info, Job>,
    /// The node's open contest.
    #[account(mut, seeds = [CONTEST_SEED, job.key().as_ref(), node_key.key().as_ref()], bump = contest.bump)]
    pub contest: Account<'info, Contest>,
    /// The tile's slash record, if any: a render the node was slashed for is not owed.
    /// CHECK: address pinned by the seeds; read only when the program owns it.
    #[account(seeds = [SLASH_SEED, job.key().as_ref(), &ack.frame.to_le_bytes(), &ack.tile.to_le_bytes()], bump)]
    pub slash_record: UncheckedAccount<'info>,
    /// The instructions sysvar (the Ed25519 check before this instruction is read from it).
    /// CHECK: pinned to the sysvar's address.
    #[account(address = solana_instructions_sysvar::ID)]
    pub instructions: UncheckedAccount<'info>,
}

/// Adds to the node's contest a render the orchestrator acknowledged but the receipt credits
/// to another key or hash: it counts like a proven tile leaf (`resolve_contest` pays
/// `price × proven − leaf` from the job's room). Each tile counts once per contest, whether
/// by a leaf or an acknowledgement.
/// CHECK: the node key signs and owns the contest (struct seeds); contest window open; not
/// resolved (`ContestResolved`); the previous instruction is the Ed25519 check of the job's
/// orchestrator key (`SignerNotOrchestrator`) over `ack_message(job, frame, tile, node, hash)`
/// (`SignedMessageMismatch`); the tile's primary leaf credits another node or hash
/// (`AckHonoured`) and is in the tile root (proof ≤ 32, `InvalidProof`); `(frame, tile)`
/// strictly after the last proven one (`LeavesNotIncreasing`); the node was not slashed for
/// the tile (`RenderConvicted`).
pub fn handle_prove_ack(ctx: Context<ProveAck>, ack: AckProof) -> Result<()> {
    let job = &ctx.accounts.job;
    require_contest_window(job)?;
    let contest = &ctx.accounts.contest;
    require!(contest.resolved_at == 0, TesseraError::ContestResolved);
    let job_key = job.key();
    let node_key = contest.node_key;
    let (signer, message) = evidence::checked_signature(&ctx.accounts.instructions)?;
    require_keys_eq!(
        signer,
        job.orchestrator,
        TesseraError::SignerNotOrchestrator
    );
    let expected = evidence::ack_message(&job_key, ack.frame, ack.tile, &node_key, &ack.pixel_hash);
    require!(message == expected, TesseraError::SignedMessageMismatch);
    require!(
        ack.credited_node != node_key || ack.credited_hash != ack.pixel_hash,
        TesseraError::AckHonoured
    );
    require!(ack.proof.len() <= MAX_PROOF_LEN, TesseraError::ProofTooLong);
    let leaf = merkle::tile_leaf(
        &job_key,
        ack.frame,
        ack.tile,
        TileRole::Primary,
        &ack.credited_node,
        &ack.credited_hash,
    );
    require!(
        merkle::verify_proof(&ack.proof, &job.tile_root, &leaf),
        TesseraError::InvalidProof
    );
    require!(
        contest.proven == 0 || (ack.frame, ack.tile) > (contest.last_frame, contest.last_tile),
        TesseraError::LeavesNotIncreasing
    );
    let record = ctx.accounts.slash_record.to_account_info();
    if record.owner == &crate::ID && !record.data_is_empty() {
        let r = SlashRecord::try_deserialize(&mut &record.try_borrow_data()?[..])?;
        require!(
            r.slashed_at == 0 || r.node_key != node_key,
            TesseraError::RenderConvicted
        );
    }
    let contest = &mut ctx.accounts.contest;
    contest.proven = contest
        .proven
        .checked_add(1)
        .ok_or(TesseraError::ArithmeticError)?;
    (contest.last_frame, contest.last_tile, contest.last_role) = (ack.frame, ack.tile, ACK_ROLE);
    emit!(AckProven {
        job: job_key,
        node_key,
        frame: ack.frame,
        tile: ack.tile,
        credited_node: ack.credited_node,
    });
    Ok(())
}
