use anchor_lang::prelude::*;

use crate::{constants::BPS_DENOMINATOR, errors::TesseraError};

/// Where a job is in its life.
#[derive(AnchorSerialize, AnchorDeserialize, Clone, Copy, PartialEq, Eq, Debug, InitSpace)]
pub enum JobState {
    /// Escrow funded, waiting for a receipt.
    Open,
    /// Receipt posted; the challenge window runs.
    Rendered,
    /// The artist disputed the receipt; the admin must resolve it.
    Disputed,
    /// Fee paid and unspent budget refunded; nodes claim their payouts.
    Settled,
    /// Dispute resolved; nodes claim the share of their payouts that was kept.
    Resolved,
    /// The artist asked to cancel; the orchestrator may post the receipt of the tiles
    /// verified so far within the job's settle grace, after which the artist may take a refund.
    CancelRequested,
}

/// A job's id: the first 63 bits of `sha256("tessera-job" ‖ artist ‖ nonce)`. Only the artist
/// can create a job at its own ids (a stranger would need a 63-bit second preimage within the
/// seconds between seeing the nonce and the artist's transaction landing), and ids never
/// depend on what others created, so concurrently prepared `create_job`s cannot be made to fail.
/// 63 bits keep ids exact in SQLite integers.
pub fn job_id_of(artist: &Pubkey, nonce: u64) -> u64 {
    let h = solana_sha256_hasher::hashv(&[b"tessera-job", artist.as_ref(), &nonce.to_le_bytes()])
        .to_bytes();
    let mut id = [0u8; 8];
    id.copy_from_slice(&h[..8]);
    u64::from_le_bytes(id) >> 1
}

/// One render job. PDA `["job", job_id]` with `job_id = job_id_of(artist, nonce)`; its escrow is the token account PDA
/// `["vault", job]` whose authority is this account.
#[account]
#[derive(InitSpace, Debug)]
pub struct Job {
    pub job_id: u64,
    pub artist: Pubkey,
    /// blake3 of the scene bundle the tiles must be rendered from.
    pub scene_hash: [u8; 32],
    /// First and last frame, inclusive.
    pub frame_start: u32,
    pub frame_end: u32,
    pub width: u32,
    pub height: u32,
    pub tile_size: u32,
    pub samples_per_pixel: u32,
    pub price_per_tile: u64,
    /// Tokens escrowed at creation.
    pub budget: u64,
    /// The fee rate at creation, so later config changes do not touch running jobs.
    pub fee_bps: u16,
    /// The only key that may post this job's receipt: the network's orchestrator at creation.
    pub orchestrator: Pubkey,
    /// Seconds the artist has to dispute a receipt: the network's window at creation.
    pub challenge_window: i64,
    /// Seconds nodes have to claim after settlement: the network's claim grace at creation.
    pub claim_grace: i64,
    /// Seconds after a cancel request or the deadline for the receipt of the verified tiles.
    pub settle_grace: i64,
    /// Seconds the admin has to resolve a dispute of this job.
    pub resolution_period: i64,
    /// Tokens a dispute of this job must post.
    pub dispute_bond: u64,
    /// Unix time by which a receipt must be posted.
    pub deadline: i64,
    /// Frames per second as a fraction, fixed at creation (see `JobParams`).
    pub frame_rate_num: u32,
    pub frame_rate_den: u32,
    pub created_at: i64,
    pub state: JobState,
    /// Receipt: merkle root over every tile leaf.
    pub tile_root: [u8; 32],
    /// Receipt: merkle root over per-node payout leaves.
    pub payout_root: [u8; 32],
    /// Receipt: sum of every payout leaf.
    pub total_payout: u64,
    pub tile_count: u32,
    pub node_count: u32,
    pub rendered_at: i64,
    /// Unix time until which the artist may dispute the receipt.
    pub challenge_ends_at: i64,
    /// Protocol fee actually paid to the treasury.
    pub fee_paid: u64,
    /// Share of each payout leaf that is paid, in basis points (10 000 unless a dispute refunded part).
    pub payout_share_bps: u16,
    pub settled_at: i64,
    /// Unix time after which `close_job` may sweep unclaimed payouts back to the artist.
    pub claims_end_at: i64,
    pub claimed_count: u32,
    pub claimed_amount: u64,
    /// Reason code given by the artist when disputing.
    pub dispute_reason: u16,
    /// Unix time of the artist's cancel request; 0 when none.
    pub cancel_requested_at: i64,
    /// Unix time until which the admin may resolve the dispute; after it, anyone applies the
    /// default outcome (the receipt stands). 0 when not disputed.
    pub dispute_ends_at: i64,
    /// The dispute bond held in the vault (paid back or to the treasury at resolution).
    pub bond: u64,
    /// Tokens `slash_node` takes from a node per proven wrong tile: the network's at creation.
    pub slash_amount: u64,
    /// Unix time until which `slash_node` accepts evidence against this job's nodes, and the
    /// stake locked by its receipt stays locked: receipt + challenge window + resolution
    /// period (the latest a dispute of it can end). `close_job` waits for it. 0 before a receipt.
    pub slash_ends_at: i64,
    /// Tiles of this job for which a node was slashed.
    pub slashed_count: u32,
    /// The most verification renders the job pays, in bps of the receipt's tile count
    /// (rounded up): the network's at creation.
    pub verify_bps: u16,
    /// Receipt: paid renders, i.e. leaves of the tile tree (one primary per tile, plus the
    /// check and tiebreak renders). The payout is capped at `price_per_tile × render_count`.
    pub render_count: u32,
    /// Tokens paid to nodes by upheld contests, on top of their payout leaves.
    pub contested_paid: u64,
    /// Contests upheld against this job's receipt.
    pub contests_upheld: u32,
    /// Least balance the orchestrator's bond must hold for this job's receipt: the network's
    /// at creation.
    pub orchestrator_bond: u64,
    /// Tokens paid to nodes by upheld contests from the orchestrator's bond (what the room
    /// under the cap could not pay).
    pub bond_paid: u64,
    pub bump: u8,
    pub vault_bump: u8,
}

impl Job {
    /// Runs `f` with the job PDA's signer seeds (the authority of its vault).
    pub fn with_signer<R>(&self, f: impl FnOnce(&[&[u8]]) -> Result<R>) -> Result<R> {
        let id = self.job_id.to_le_bytes();
        f(&[crate::constants::JOB_SEED, &id, &[self.bump]])
    }

    pub fn frame_count(&self) -> Result<u32> {
        frame_count(self.frame_start, self.frame_end)
    }

    /// Tiles across every frame: this is the receipt's tile count.
    pub fn total_tiles(&self) -> Result<u64> {
        total_tiles(
            self.frame_start,
            self.frame_end,
            self.width,
            self.height,
            self.tile_size,
        )
    }

    /// Last moment a receipt may be posted: the deadline (or an earlier cancel request) plus
    /// the settle grace. Past the deadline or after a cancel request the receipt may be partial.
    pub fn receipt_ends_at(&self) -> Result<i64> {
        let from = if self.state == JobState::CancelRequested {
            self.cancel_requested_at.min(self.deadline)
        } else {
            self.deadline
        };
        from.checked_add(self.settle_grace)
            .ok_or_else(|| error!(TesseraError::ArithmeticError))
    }

    /// The fee owed on `payout` at this job's fee rate (rounded down).
    pub fn fee_on(&self, payout: u64) -> Result<u64> {
        bps_of(payout, self.fee_bps as u64)
    }

    /// The most the receipt's renders may cost: `price_per_tile × render_count`. Payout leaves
    /// and upheld contests together never exceed it, so the artist never pays for more renders
    /// than the receipt declares.
    pub fn payout_cap(&self) -> Result<u64> {
        self.price_per_tile
            .checked_mul(self.render_count as u64)
            .ok_or_else(|| error!(TesseraError::ArithmeticError))
    }

    /// What upheld contests may still be paid: the cap less the payout leaves and the
    /// contests paid so far (0 when the leaves already use the whole cap).
    pub fn contest_room(&self) -> Result<u64> {
        Ok(self
            .payout_cap()?
            .saturating_sub(self.total_payout)
            .saturating_sub(self.contested_paid))
    }
}

/// Verification renders a job of `tiles` tiles pays at most: `⌈tiles × verify_bps / 10 000⌉`,
/// so even a one-tile job can pay for its check.
pub fn max_verification_renders(tiles: u64, verify_bps: u16) -> Result<u64> {
    let v = (tiles as u128)
        .checked_mul(verify_bps as u128)
        .ok_or_else(|| error!(TesseraError::ArithmeticError))?
        .div_ceil(BPS_DENOMINATOR as u128);
    u64::try_from(v).map_err(|_| error!(TesseraError::ArithmeticError))
}

pub fn frame_count(frame_start: u32, frame_end: u32) -> Result<u32> {
    frame_end
        .checked_sub(frame_start)
        .and_then(|d| d.checked_add(1))
        .ok_or_else(|| error!(TesseraError::InvalidJobParameters))
}

/// Tiles per frame × frames, with edge tiles counted (ceil division).
pub fn total_tiles(
    frame_start: u32,
    frame_end: u32,
    width: u32,
    height: u32,
    tile_size: u32,
) -> Result<u64> {
    require!(tile_size > 0, TesseraError::InvalidJobParameters);
    let across = width.div_ceil(tile_size) as u64;
    let down = height.div_ceil(tile_size) as u64;
    let frames = frame_count(frame_start, frame_end)? as u64;
    across
        .checked_mul(down)
        .and_then(|t| t.checked_mul(frames))
        .ok_or_else(|| error!(TesseraError::ArithmeticError))
}

/// `amount × bps / 10 000`, rounded down, without overflow.
pub fn bps_of(amount: u64, bps: u64) -> Result<u64> {
    let v = (amount as u128)
        .checked_mul(bps as u128)
        .ok_or_else(|| error!(TesseraError::ArithmeticError))?
        / BPS_DENOMINATOR as u128;
    u64::try_from(v).map_err(|_| error!(TesseraError::ArithmeticError))
}
