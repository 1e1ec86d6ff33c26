use anchor_lang::prelude::*;
use anchor_spl::token::{self, Mint, Token, TokenAccount, Transfer};

use crate::{
    constants::*,
    errors::TesseraError,
    events::JobCreated,
    pda_init,
    state::{
        bps_of, frame_count, job_id_of, max_verification_renders, total_tiles, Job, JobState,
        Network,
    },
    vault,
};

/// What the artist asks for and pays.
#[derive(AnchorSerialize, AnchorDeserialize, Clone, Debug)]
pub struct JobParams {
    pub scene_hash: [u8; 32],
    pub frame_start: u32,
    pub frame_end: u32,
    pub width: u32,
    pub height: u32,
    pub tile_size: u32,
    pub samples_per_pixel: u32,
    pub price_per_tile: u64,
    pub budget: u64,
    pub deadline: i64,
    /// Frames per second as a fraction (24/1, 30000/1001): frame f is the scene at
    /// (f − 1) · den / num seconds, so every node renders, and an auditor reproduces, the
    /// instant the artist paid for.
    pub frame_rate_num: u32,
    pub frame_rate_den: u32,
}

impl JobParams {
    /// Tiles of every frame of the job.
    pub fn tiles(&self) -> Result<u64> {
        total_tiles(
            self.frame_start,
            self.frame_end,
            self.width,
            self.height,
            self.tile_size,
        )
    }

    /// Tokens the budget must cover: every tile and the most verification renders the job
    /// may pay (`verify_bps` of the tiles, rounded up), at the tile price, plus the protocol
    /// fee on that.
    pub fn required_budget(&self, fee_bps: u16, verify_bps: u16) -> Result<u64> {
        let tiles = self.tiles()?;
        let renders = tiles
            .checked_add(max_verification_renders(tiles, verify_bps)?)
            .ok_or(TesseraError::ArithmeticError)?;
        let cost = self
            .price_per_tile
            .checked_mul(renders)
            .ok_or(TesseraError::ArithmeticError)?;
        let fee = bps_of(cost, fee_bps as u64)?;
        Ok(cost.checked_add(fee).ok_or(TesseraError::ArithmeticError)?)
    }

    fn validate(&self) -> Result<()> {
        let edge = 1..=MAX_FRAME_EDGE;
        require!(
            edge.contains(&self.width) && edge.contains(&self.height),
            TesseraError::InvalidJobParameters
        );
        require!(
            (MIN_TILE_SIZE..=MAX_FRAME_EDGE).contains(&self.tile_size),
            TesseraError::InvalidJobParameters
        );
        require!(
            frame_count(self.frame_start, self.frame_end)? <= MAX_FRAMES,
            TesseraError::InvalidJobParameters
        );
        require!(
            (1..=MAX_SPP).contains(&self.samples_per_pixel),
            TesseraError::InvalidJobParameters
        );
        require!(self.price_per_tile > 0, TesseraError::InvalidJobParameters);
        require!(
            self.frame_rate_num > 0
                && self.frame_rate_den > 0
                && self.frame_rate_num as u64 <= MAX_FRAME_RATE as u64 * self.frame_rate_den as u64,
            TesseraError::InvalidJobParameters
        );
        require!(
            self.scene_hash != [0; 32],
            TesseraError::InvalidJobParameters
        );
        // The receipt counts tiles in a u32 (and the tile tree's proofs are ≤ 32 deep):
        // a job with more tiles could never be given a receipt.
        let tiles = self.tiles()?;
        require!(tiles <= u32::MAX as u64, TesseraError::TooManyTiles);
        Ok(())
    }
}

#[derive(Accounts)]
#[instruction(nonce: u64)]
pub struct CreateJob<'info> {
    /// The artist: pays the budget and the rent.
    #[account(mut)]
    pub artist: Signer<'info>,
    /// The network config (mint; the fee, orchestrator, periods and bond copied into the job).
    #[account(mut, seeds = [NETWORK_SEED], bump = network.bump, has_one = mint @ TesseraError::WrongMint)]
    pub network: Account<'info, Network>,
    /// The network's token.
    pub mint: Account<'info, Mint>,
    /// The job record, created by the handler.
    /// CHECK: address pinned by the seeds (the id derives from the artist and the nonce);
    /// created in the handler even when someone pre-funded it (`pda_init::create_pda`), so
    /// lamports sent there cannot block job ids.
    #[account(mut, seeds = [JOB_SEED, &job_id_of(&artist.key(), nonce).to_le_bytes()], bump)]
    pub job: UncheckedAccount<'info>,
    /// The job's escrow (token account of `mint` owned by the job PDA), created by the handler.
    /// CHECK: address pinned by the seeds; created and initialised in the handler.
    #[account(mut, seeds = [JOB_VAULT_SEED, job.key().as_ref()], bump)]
    pub vault: UncheckedAccount<'info>,
    /// The artist's tokens.
    #[account(mut, token::mint = mint, token::authority = artist)]
    pub artist_token: Account<'info, TokenAccount>,
    pub token_program: Program<'info, Token>,
    pub system_program: Program<'info, System>,
}

/// Escrows a job's budget and records what must be rendered, and under which rules: the
/// network's fee, orchestrator, challenge window, claim grace, settle grace, resolution period,
/// dispute bond, slash amount, verification share and orchestrator bond minimum are copied into the job, so later
/// `update_network` calls cannot change a running job.
/// CHECK: network not paused; the job's address is the artist's (`job_id_of(artist, nonce)`,
/// struct seeds); parameters in bounds; tiles ≤ u32::MAX; deadline in the future; budget ≥
/// price × (tiles + ⌈tiles × verify_bps / 10 000⌉) + fee (all checked arithmetic).
pub fn handle_create_job(ctx: Context<CreateJob>, nonce: u64, args: JobParams) -> Result<()> {
    let job_id = job_id_of(&ctx.accounts.artist.key(), nonce);
    let network = &mut ctx.accounts.network;
    require!(!network.paused, TesseraError::NetworkPaused);
    args.validate()?;
    let now = Clock::get()?.unix_timestamp;
    require!(args.deadline > now, TesseraError::DeadlineInPast);
    require!(
        args.budget >= args.required_budget(network.fee_bps, network.verify_bps)?,
        TesseraError::BudgetTooSmall
    );
    network.jobs_created = network
        .jobs_created
        .checked_add(1)
        .ok_or(TesseraError::ArithmeticError)?;
    let (fee_bps, verify_bps) = (network.fee_bps, network.verify_bps);
    let (orchestrator, orchestrator_bond) = (network.orchestrator, network.orchestrator_bond);
    let challenge_window = network.challenge_window;
    let claim_grace = network.claim_grace;
    let (settle_grace, resolution_period, dispute_bond, slash_amount) = (
        network.settle_grace,
        network.resolution_period,
        network.dispute_bond,
        network.slash_amount,
    );

    let job_info = ctx.accounts.job.to_account_info();
    let vault_info = ctx.accounts.vault.to_account_info();
    let artist_info = ctx.accounts.artist.to_account_info();
    let system = ctx.accounts.system_program.to_account_info();
    let token_program = ctx.accounts.token_program.key();
    let id_bytes = job_id.to_le_bytes();
    let job_key = job_info.key();
    pda_init::create_pda(
        &artist_info,
        &job_info,
        &system,
        8 + Job::INIT_SPACE,
        &crate::ID,
        &[JOB_SEED, &id_bytes, &[ctx.bumps.job]],
    )?;
    vault::create_vault(
        &artist_info,
        &vault_info,
        &system,
        token_program,
        ctx.accounts.mint.to_account_info(),
        &job_info,
        &[JOB_VAULT_SEED, job_key.as_ref(), &[ctx.bumps.vault]],
    )?;

    token::transfer(
        CpiContext::new(
            token_program,
            Transfer {
                from: ctx.accounts.artist_token.to_account_info(),
                to: vault_info,
                authority: artist_info,
            },
        ),
        args.budget,
    )?;

    let job = Job {
        job_id,
        artist: ctx.accounts.artist.key(),
        scene_hash: args.scene_hash,
        frame_start: args.frame_start,
        frame_end: args.frame_end,
        width: args.width,
        height: args.height,
        tile_size: args.tile_size,
        samples_per_pixel: args.samples_per_pixel,
        price_per_tile: args.price_per_tile,
        budget: args.budget,
        fee_bps,
        orchestrator,
        challenge_window,
        claim_grace,
        settle_grace,
        resolution_period,
        dispute_bond,
        deadline: args.deadline,
        frame_rate_num: args.frame_rate_num,
        frame_rate_den: args.frame_rate_den,
        created_at: now,
        state: JobState::Open,
        tile_root: [0; 32],
        payout_root: [0; 32],
        total_payout: 0,
        tile_count: 0,
        node_count: 0,
        rendered_at: 0,
        challenge_ends_at: 0,
        fee_paid: 0,
        payout_share_bps: BPS_DENOMINATOR as u16,
        settled_at: 0,
        claims_end_at: 0,
        claimed_count: 0,
        claimed_amount: 0,
        dispute_reason: 0,
        cancel_requested_at: 0,
        dispute_ends_at: 0,
        bond: 0,
        slash_amount,
        slash_ends_at: 0,
        slashed_count: 0,
        verify_bps,
        render_count: 0,
        contested_paid: 0,
        contests_upheld: 0,
        orchestrator_bond,
        bond_paid: 0,
        bump: ctx.bumps.job,
        vault_bump: ctx.bumps.vault,
    };
    job.try_serialize(&mut &mut job_info.try_borrow_mut_data()?[..])?;
    emit!(JobCreated {
        job: job_key,
        job_id,
        artist: job.artist,
        budget: args.budget
    });
    Ok(())
}
