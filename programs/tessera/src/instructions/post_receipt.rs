use anchor_lang::prelude::*;
use anchor_spl::token::TokenAccount;

use crate::{
    constants::*,
    errors::TesseraError,
    events::ReceiptPosted,
    state::{max_verification_renders, Job, JobState, Node, OrchestratorBond},
};

/// The receipt of a rendered job, as built by the orchestrator.
#[derive(AnchorSerialize, AnchorDeserialize, Clone, Debug, PartialEq, Eq)]
pub struct ReceiptParams {
    /// Merkle root over every tile leaf (`merkle::tile_leaf`).
    pub tile_root: [u8; 32],
    /// Merkle root over every payout leaf (`merkle::payout_leaf`).
    pub payout_root: [u8; 32],
    /// Sum of the payout leaves.
    pub total_payout: u64,
    /// Leaves in the tile tree: every tile of every frame once, or (after a cancel request
    /// or the deadline) each verified tile once.
    pub tile_count: u32,
    /// Leaves in the payout tree.
    pub node_count: u32,
    /// Leaves in the tile tree, i.e. paid renders: the `tile_count` primary renders plus the
    /// check and tiebreak renders, at most `⌈tile_count × verify_bps / 10 000⌉` of them.
    pub render_count: u32,
}

#[derive(Accounts)]
pub struct PostReceipt<'info> {
    /// The job's orchestrator (recorded at creation; the network's current one does not count).
    pub orchestrator: Signer<'info>,
    /// The job the receipt is for.
    #[account(mut, seeds = [JOB_SEED, &job.job_id.to_le_bytes()], bump = job.bump, has_one = orchestrator @ TesseraError::NotOrchestrator)]
    pub job: Account<'info, Job>,
    /// The orchestrator's bond: must hold the job's minimum; locked until the receipt's
    /// contests and disputes are over.
    #[account(mut, seeds = [ORCHESTRATOR_BOND_SEED, orchestrator.key().as_ref()], bump = bond.bump)]
    pub bond: Account<'info, OrchestratorBond>,
    /// The bond's token account (its balance is the bond).
    #[account(seeds = [BOND_VAULT_SEED, orchestrator.key().as_ref()], bump = bond.vault_bump)]
    pub bond_vault: Account<'info, TokenAccount>,
    // Remaining accounts: the (writable) `Node` of every node that returned tiles for the job,
    // accepted or not; each gets the job's slash amount locked until `slash_ends_at`.
}

/// Records the receipt and starts the challenge window. Reads nothing from the network
/// config: the orchestrator, the window and the grace are the job's own, fixed at `create_job`.
/// Before the deadline of a job still `Open` the receipt covers every tile. After a cancel
/// request or the deadline, for the job's settle grace, it may be partial: the tiles verified
/// so far, so the nodes are paid for them and the artist is refunded the rest at settlement.
/// CHECK: the job's orchestrator signs (struct); job `Open` or `CancelRequested`; not past
/// `receipt_ends_at` (`ReceiptTooLate`); tile count = the job's tiles, or 1 ≤ count ≤ tiles
/// once partial receipts are allowed; tile count ≤ render count ≤ tile count + the job's
/// verification renders (`TooManyVerificationRenders`); 1 ≤ nodes ≤ render count; payout ≤
/// price × render count; payout + fee ≤ budget; roots set; the remaining accounts are ≤ `MAX_LOCKED_NODES`
/// distinct, writable `Node` accounts of this program (`lock_nodes`); the orchestrator's bond
/// holds ≥ the job's `orchestrator_bond` (`BondTooSmall`), and is then locked (at least that
/// amount) until `slash_ends_at`.
pub fn handle_post_receipt(ctx: Context<PostReceipt>, args: ReceiptParams) -> Result<()> {
    let job = &mut ctx.accounts.job;
    require!(
        matches!(job.state, JobState::Open | JobState::CancelRequested),
        TesseraError::WrongJobState
    );
    let now = Clock::get()?.unix_timestamp;
    require!(now <= job.receipt_ends_at()?, TesseraError::ReceiptTooLate);
    let total = job.total_tiles()?;
    let partial_allowed = job.state == JobState::CancelRequested || now > job.deadline;
    let count = args.tile_count as u64;
    require!(
        count == total || (partial_allowed && (1..=total).contains(&count)),
        TesseraError::WrongTileCount
    );
    let verification = max_verification_renders(count, job.verify_bps)?;
    let renders = args.render_count as u64;
    require!(
        renders >= count
            && renders
                <= count
                    .checked_add(verification)
                    .ok_or(TesseraError::ArithmeticError)?,
        TesseraError::TooManyVerificationRenders
    );
    require!(
        args.node_count >= 1 && args.node_count <= args.render_count,
        TesseraError::InvalidNodeCount
    );
    require!(
        args.tile_root != [0; 32] && args.payout_root != [0; 32],
        TesseraError::InvalidProof
    );
    let price_cap = job
        .price_per_tile
        .checked_mul(renders)
        .ok_or(TesseraError::ArithmeticError)?;
    require!(
        args.total_payout <= price_cap,
        TesseraError::PayoutExceedsEscrow
    );
    let with_fee = args
        .total_payout
        .checked_add(job.fee_on(args.total_payout)?)
        .ok_or(TesseraError::ArithmeticError)?;
    require!(with_fee <= job.budget, TesseraError::PayoutExceedsEscrow);

    job.tile_root = args.tile_root;
    job.payout_root = args.payout_root;
    job.total_payout = args.total_payout;
    job.tile_count = args.tile_count;
    job.node_count = args.node_count;
    job.render_count = args.render_count;
    job.rendered_at = now;
    job.challenge_ends_at = now
        .checked_add(job.challenge_window)
        .ok_or(TesseraError::ArithmeticError)?;
    job.state = JobState::Rendered;
    // The latest a dispute of this receipt can end: filed at the window's end, resolved
    // within the resolution period. Slashes and the stake locks last that long.
    job.slash_ends_at = job
        .challenge_ends_at
        .checked_add(job.resolution_period)
        .ok_or(TesseraError::ArithmeticError)?;
    let (amount, until) = (job.slash_amount, job.slash_ends_at);
    require!(
        ctx.accounts.bond_vault.amount >= job.orchestrator_bond,
        TesseraError::BondTooSmall
    );
    ctx.accounts.bond.lock(job.orchestrator_bond, until, now);
    lock_nodes(ctx.remaining_accounts, amount, until, now)?;
    emit!(ReceiptPosted {
        job: job.key(),
        tile_root: args.tile_root,
        payout_root: args.payout_root,
        total_payout: args.total_payout,
    });
    Ok(())
}

/// Locks `amount` of each listed node's stake until `until`, so a node cannot unstake its way
/// out of a slash for this job. The orchestrator lists the nodes; a node it leaves out is not
/// locked (it can still be slashed while its stake lasts).
fn lock_nodes<'info>(
    nodes: &'info [AccountInfo<'info>],
    amount: u64,
    until: i64,
    now: i64,
) -> Result<()> {
    require!(
        nodes.len() <= MAX_LOCKED_NODES,
        TesseraError::InvalidNodeAccount
    );
    for (i, info) in nodes.iter().enumerate() {
        require!(
            info.is_writable && nodes[..i].iter().all(|n| n.key != info.key),
            TesseraError::InvalidNodeAccount
        );
        // Owner and discriminator: only `register_node` makes these accounts.
        let mut node: Account<Node> = Account::try_from(info)?;
        node.lock(amount, until, now);
        node.exit(&crate::ID)?;
    }
    Ok(())
}
