use anchor_lang::prelude::*;

use crate::{
    constants::*,
    errors::TesseraError,
    events::TileCorroborated,
    evidence,
    merkle::{self, TileRole},
    pda_init,
    state::{Job, JobState, Node, SlashRecord, Witness, MAX_WITNESSES},
};

#[derive(Accounts)]
#[instruction(frame: u32, tile: u32)]
pub struct CorroborateTile<'info> {
    /// Files the witness and pays the record's rent the first time; anyone holding a
    /// node's signature may (the orchestrator keeps them in its evidence rows).
    #[account(mut)]
    pub reporter: Signer<'info>,
    /// The job whose receipt holds the witness's leaf.
    #[account(seeds = [JOB_SEED, &job.job_id.to_le_bytes()], bump = job.bump)]
    pub job: Account<'info, Job>,
    /// The witnessing node: registered before the job, with at least the job's slash amount
    /// staked since then (its operator is what counts).
    #[account(seeds = [NODE_SEED, witness.node_key.as_ref()], bump = witness.bump)]
    pub witness: Account<'info, Node>,
    /// The tile's slash record, created by the first witness.
    /// CHECK: address pinned by the seeds; created (`pda_init::create_pda`) or read in the
    /// handler, owner and discriminator checked when read.
    #[account(mut, seeds = [SLASH_SEED, job.key().as_ref(), &frame.to_le_bytes(), &tile.to_le_bytes()], bump)]
    pub slash_record: UncheckedAccount<'info>,
    /// The instructions sysvar (the Ed25519 check before this instruction is read from it).
    /// CHECK: pinned to the sysvar's address.
    #[account(address = solana_instructions_sysvar::ID)]
    pub instructions: UncheckedAccount<'info>,
    pub system_program: Program<'info, System>,
}

/// Adds a witness to the evidence about `(frame, tile)`: a registered node's signature over
/// its hash for the tile and that render's leaf in the job's tile root. `slash_node` needs
/// witnesses of 2 distinct operators other than the slashed node's, one the tile's primary.
/// A witness must have existed, with the stake it puts at risk, before the job did: Sybil
/// nodes made after seeing a job, or kept with dust stake and topped up, do not count.
/// CHECK: the job has a receipt; now ≤ `slash_ends_at`; the previous instruction is the
/// Ed25519 check of the witness's key (`SignerNotWitness`) over the tile message of this job
/// and tile (`SignedMessageMismatch`); the witness was registered before the job was created
/// (`WitnessTooNew`) and has added no stake since (`WitnessStakeTooNew`), and its active stake
/// is ≥ the job's slash amount (`WitnessUnderStaked`); `tile_leaf(job, frame, tile, role, witness, hash)` is in
/// the tile root (proof ≤ 32, `InvalidProof`); the tile is not slashed yet
/// (`TileAlreadySlashed`); each node once (`AlreadyCorroborated`), at most 4 (`TooManyWitnesses`).
pub fn handle_corroborate_tile(
    ctx: Context<CorroborateTile>,
    frame: u32,
    tile: u32,
    role: u8,
    proof: Vec<[u8; 32]>,
) -> Result<()> {
    let job = &ctx.accounts.job;
    let job_key = job.key();
    require_slashable(job)?;
    let (signer, hash) =
        evidence::signed_tile_hash(&ctx.accounts.instructions, &job_key, frame, tile)?;
    let witness = &ctx.accounts.witness;
    require_keys_eq!(signer, witness.node_key, TesseraError::SignerNotWitness);
    if let Some(refusal) = witness.witness_refusal(job) {
        return Err(refusal.into());
    }
    let tile_role = TileRole::from_u8(role).ok_or(TesseraError::InvalidContestLeaves)?;
    require!(proof.len() <= MAX_PROOF_LEN, TesseraError::ProofTooLong);
    let leaf = merkle::tile_leaf(&job_key, frame, tile, tile_role, &signer, &hash);
    require!(
        merkle::verify_proof(&proof, &job.tile_root, &leaf),
        TesseraError::InvalidProof
    );
    let mut record = load_or_create(&ctx, frame, tile)?;
    require!(record.slashed_at == 0, TesseraError::TileAlreadySlashed);
    require!(
        record.witnesses().iter().all(|w| w.node_key != signer),
        TesseraError::AlreadyCorroborated
    );
    let n = record.witness_count as usize;
    require!(n < MAX_WITNESSES, TesseraError::TooManyWitnesses);
    record.witnesses[n] = Witness {
        node_key: signer,
        operator: witness.operator,
        pixel_hash: hash,
        role,
    };
    record.witness_count += 1;
    let info = ctx.accounts.slash_record.to_account_info();
    record.try_serialize(&mut &mut info.try_borrow_mut_data()?[..])?;
    emit!(TileCorroborated {
        job: job_key,
        frame,
        tile,
        node_key: signer,
        role,
        pixel_hash: hash,
    });
    Ok(())
}

/// Evidence about a job's tiles is taken from its receipt until `receipt + w + r`.
pub fn require_slashable(job: &Job) -> Result<()> {
    require!(
        matches!(
            job.state,
            JobState::Rendered | JobState::Disputed | JobState::Settled | JobState::Resolved
        ),
        TesseraError::WrongJobState
    );
    require!(
        Clock::get()?.unix_timestamp <= job.slash_ends_at,
        TesseraError::SlashWindowClosed
    );
    Ok(())
}

/// The tile's record: read when it exists (owner and discriminator checked), else created.
fn load_or_create(ctx: &Context<CorroborateTile>, frame: u32, tile: u32) -> Result<SlashRecord> {
    let info = ctx.accounts.slash_record.to_account_info();
    if info.owner == &crate::ID && !info.data_is_empty() {
        return SlashRecord::try_deserialize(&mut &info.try_borrow_data()?[..]);
    }
    let job_key = ctx.accounts.job.key();
    let (f, t) = (frame.to_le_bytes(), tile.to_le_bytes());
    let bump = ctx.bumps.slash_record;
    pda_init::create_pda(
        &ctx.accounts.reporter.to_account_info(),
        &info,
        &ctx.accounts.system_program.to_account_info(),
        8 + SlashRecord::INIT_SPACE,
        &crate::ID,
        &[SLASH_SEED, job_key.as_ref(), &f, &t, &[bump]],
    )?;
    Ok(SlashRecord {
        job: job_key,
        frame,
        tile,
        witness_count: 0,
        witnesses: [Witness::default(); MAX_WITNESSES],
        node_key: Pubkey::default(),
        bad_hash: [0; 32],
        accepted_hash: [0; 32],
        amount: 0,
        slashed_at: 0,
        bump,
    })
}
