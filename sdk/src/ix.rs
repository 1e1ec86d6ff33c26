//! One builder per program instruction, from the program's own client-side types
//! (`tessera::instruction::*` data, `tessera::accounts::*` metas).
use anchor_lang::prelude::Pubkey;
use anchor_lang::{InstructionData, ToAccountMetas};
use solana_sdk::instruction::Instruction;
use tessera::instructions::{
    AckProof, ContestLeaf, JobParams, NetworkParams, NetworkUpdate, PayoutLeafProof, ReceiptParams,
};

use crate::pda;

const TOKEN_PROGRAM: Pubkey = spl_token_interface::ID;
const SYSTEM_PROGRAM: Pubkey = solana_system_interface::program::ID;

/// The program's ProgramData address under the upgradeable loader (checked by
/// `initialize_network` on a cluster; absent on the local chain, where nothing checks it).
pub fn program_data_address() -> Pubkey {
    Pubkey::find_program_address(
        &[tessera::ID.as_ref()],
        &anchor_lang::solana_program::bpf_loader_upgradeable::ID,
    )
    .0
}

fn build(accounts: impl ToAccountMetas, data: impl InstructionData) -> Instruction {
    Instruction {
        program_id: tessera::ID,
        accounts: accounts.to_account_metas(None),
        data: data.data(),
    }
}

/// Creates the network and its treasury (the PDA token account `pda::treasury()`).
pub fn initialize_network(admin: &Pubkey, mint: &Pubkey, args: NetworkParams) -> Instruction {
    build(
        tessera::accounts::InitializeNetwork {
            admin: *admin,
            network: pda::network(),
            mint: *mint,
            treasury: pda::treasury(),
            program: tessera::ID,
            program_data: Some(program_data_address()),
            token_program: TOKEN_PROGRAM,
            system_program: SYSTEM_PROGRAM,
        },
        tessera::instruction::InitializeNetwork { args },
    )
}

/// Proposes parameters (applied by `apply_network_update` after the timelock); pauses at once.
pub fn update_network(admin: &Pubkey, args: NetworkUpdate) -> Instruction {
    build(
        tessera::accounts::UpdateNetwork {
            admin: *admin,
            network: pda::network(),
        },
        tessera::instruction::UpdateNetwork { args },
    )
}

/// Anyone: makes the proposed parameters current once `PARAMS_TIMELOCK` has passed.
pub fn apply_network_update() -> Instruction {
    build(
        tessera::accounts::ApplyNetworkUpdate {
            network: pda::network(),
        },
        tessera::instruction::ApplyNetworkUpdate {},
    )
}

/// The admin takes `amount` of collected fees out of the treasury into `to`.
pub fn collect_fees(admin: &Pubkey, to: &Pubkey, amount: u64) -> Instruction {
    build(
        tessera::accounts::CollectFees {
            admin: *admin,
            network: pda::network(),
            treasury: pda::treasury(),
            to: *to,
            token_program: TOKEN_PROGRAM,
        },
        tessera::instruction::CollectFees { amount },
    )
}

/// The second step of an admin handover: `new_admin` (proposed by `update_network`) accepts.
pub fn accept_admin(new_admin: &Pubkey) -> Instruction {
    build(
        tessera::accounts::AcceptAdmin {
            new_admin: *new_admin,
            network: pda::network(),
        },
        tessera::instruction::AcceptAdmin {},
    )
}

pub fn register_node(
    operator: &Pubkey,
    node_key: &Pubkey,
    mint: &Pubkey,
    operator_token: &Pubkey,
    stake: u64,
    benchmark_score: u64,
    hardware: String,
) -> Instruction {
    build(
        tessera::accounts::RegisterNode {
            operator: *operator,
            node_key: *node_key,
            network: pda::network(),
            mint: *mint,
            node: pda::node(node_key),
            stake_vault: pda::stake_vault(node_key),
            operator_token: *operator_token,
            token_program: TOKEN_PROGRAM,
            system_program: SYSTEM_PROGRAM,
        },
        tessera::instruction::RegisterNode {
            stake,
            benchmark_score,
            hardware,
        },
    )
}

pub fn update_node(
    operator: &Pubkey,
    node_key: &Pubkey,
    benchmark_score: u64,
    hardware: String,
) -> Instruction {
    build(
        tessera::accounts::UpdateNode {
            operator: *operator,
            node: pda::node(node_key),
        },
        tessera::instruction::UpdateNode {
            benchmark_score,
            hardware,
        },
    )
}

/// Anyone tops up `orchestrator`'s bond from `depositor_token` (creating it the first time).
pub fn deposit_bond(
    depositor: &Pubkey,
    orchestrator: &Pubkey,
    mint: &Pubkey,
    depositor_token: &Pubkey,
    amount: u64,
) -> Instruction {
    build(
        tessera::accounts::DepositBond {
            depositor: *depositor,
            network: pda::network(),
            mint: *mint,
            bond: pda::orchestrator_bond(orchestrator),
            bond_vault: pda::bond_vault(orchestrator),
            depositor_token: *depositor_token,
            token_program: TOKEN_PROGRAM,
            system_program: SYSTEM_PROGRAM,
        },
        tessera::instruction::DepositBond {
            orchestrator: *orchestrator,
            amount,
        },
    )
}

/// The orchestrator takes `amount` of its bond to `to` once its lock has lapsed.
pub fn withdraw_bond(orchestrator: &Pubkey, to: &Pubkey, amount: u64) -> Instruction {
    build(
        tessera::accounts::WithdrawBond {
            orchestrator: *orchestrator,
            bond: pda::orchestrator_bond(orchestrator),
            bond_vault: pda::bond_vault(orchestrator),
            to: *to,
            token_program: TOKEN_PROGRAM,
        },
        tessera::instruction::WithdrawBond { amount },
    )
}

pub fn add_stake(
    operator: &Pubkey,
    node_key: &Pubkey,
    operator_token: &Pubkey,
    amount: u64,
) -> Instruction {
    build(
        tessera::accounts::AddStake {
            operator: *operator,
            network: pda::network(),
            node: pda::node(node_key),
            stake_vault: pda::stake_vault(node_key),
            operator_token: *operator_token,
            token_program: TOKEN_PROGRAM,
        },
        tessera::instruction::AddStake { amount },
    )
}

pub fn request_unstake(operator: &Pubkey, node_key: &Pubkey, amount: u64) -> Instruction {
    build(
        tessera::accounts::RequestUnstake {
            operator: *operator,
            network: pda::network(),
            node: pda::node(node_key),
        },
        tessera::instruction::RequestUnstake { amount },
    )
}

pub fn withdraw_stake(
    operator: &Pubkey,
    node_key: &Pubkey,
    operator_token: &Pubkey,
) -> Instruction {
    build(
        tessera::accounts::WithdrawStake {
            operator: *operator,
            network: pda::network(),
            node: pda::node(node_key),
            stake_vault: pda::stake_vault(node_key),
            operator_token: *operator_token,
            token_program: TOKEN_PROGRAM,
        },
        tessera::instruction::WithdrawStake {},
    )
}

/// Creates the job `pda::job_id(artist, nonce)`.
pub fn create_job(
    artist: &Pubkey,
    mint: &Pubkey,
    artist_token: &Pubkey,
    nonce: u64,
    args: JobParams,
) -> Instruction {
    let job = pda::job(pda::job_id(artist, nonce));
    build(
        tessera::accounts::CreateJob {
            artist: *artist,
            network: pda::network(),
            mint: *mint,
            job,
            vault: pda::job_vault(&job),
            artist_token: *artist_token,
            token_program: TOKEN_PROGRAM,
            system_program: SYSTEM_PROGRAM,
        },
        tessera::instruction::CreateJob { nonce, args },
    )
}

/// Requests the cancellation (the refund follows through `expire_job` after the settle grace).
pub fn cancel_job(artist: &Pubkey, job_id: u64) -> Instruction {
    build(
        tessera::accounts::CancelJob {
            artist: *artist,
            job: pda::job(job_id),
        },
        tessera::instruction::CancelJob {},
    )
}

/// `orchestrator` must be the job's own (`Job::orchestrator`, fixed at creation). `nodes`:
/// the key of every node that returned tiles for the job (accepted or not, at most
/// `MAX_LOCKED_NODES`); each gets the job's slash amount of stake locked until its slash
/// window ends.
pub fn post_receipt(
    orchestrator: &Pubkey,
    job_id: u64,
    args: ReceiptParams,
    nodes: &[Pubkey],
) -> Instruction {
    let mut ix = build(
        tessera::accounts::PostReceipt {
            orchestrator: *orchestrator,
            job: pda::job(job_id),
            bond: pda::orchestrator_bond(orchestrator),
            bond_vault: pda::bond_vault(orchestrator),
        },
        tessera::instruction::PostReceipt { args },
    );
    ix.accounts.extend(
        nodes
            .iter()
            .map(|n| solana_instruction::AccountMeta::new(pda::node(n), false)),
    );
    ix
}

/// The Ed25519 program's check of `signature` by `key` over the tile message of
/// `(job, frame, tile, pixel_hash)`: what `corroborate_tile` and `slash_node` read back.
pub fn tile_signature_check(
    job: &Pubkey,
    key: &Pubkey,
    signature: &[u8; 64],
    frame: u32,
    tile: u32,
    pixel_hash: &[u8; 32],
) -> Instruction {
    let message = tessera::evidence::tile_message(job, frame, tile, pixel_hash);
    solana_ed25519_program::new_ed25519_instruction_with_signature(
        &message,
        signature,
        &key.to_bytes(),
    )
}

/// The two instructions that add a witness to a tile's evidence: the check of the witnessing
/// node's `signature` over its `render`'s hash, then `corroborate_tile` with the render's leaf
/// proof against the tile root. `reporter` pays the slash record's rent the first time.
pub fn corroborate_tile(
    reporter: &Pubkey,
    job_id: u64,
    render: &crate::receipt::RenderRecord,
    signature: &[u8; 64],
    proof: Vec<[u8; 32]>,
) -> [Instruction; 2] {
    let job = pda::job(job_id);
    let (frame, tile) = (render.frame, render.tile);
    let check = tile_signature_check(
        &job,
        &render.node,
        signature,
        frame,
        tile,
        &render.pixel_hash,
    );
    let corroborate = build(
        tessera::accounts::CorroborateTile {
            reporter: *reporter,
            job,
            witness: pda::node(&render.node),
            slash_record: pda::slash_record(&job, frame, tile),
            instructions: solana_sdk::sysvar::instructions::ID,
            system_program: SYSTEM_PROGRAM,
        },
        tessera::instruction::CorroborateTile {
            frame,
            tile,
            role: render.role as u8,
            proof,
        },
    );
    [check, corroborate]
}

/// The two instructions that add an acknowledged render to the node's contest: the Ed25519
/// check of the orchestrator's `signature` over `ack_message(job, frame, tile, node, hash)`,
/// then `prove_ack` with the receipt's primary leaf of that tile (another node or hash).
pub fn prove_ack(
    orchestrator: &Pubkey,
    node_key: &Pubkey,
    job_id: u64,
    signature: &[u8; 64],
    ack: AckProof,
) -> [Instruction; 2] {
    let job = pda::job(job_id);
    let message =
        tessera::evidence::ack_message(&job, ack.frame, ack.tile, node_key, &ack.pixel_hash);
    let check = solana_ed25519_program::new_ed25519_instruction_with_signature(
        &message,
        signature,
        &orchestrator.to_bytes(),
    );
    let prove = build(
        tessera::accounts::ProveAck {
            node_key: *node_key,
            job,
            contest: pda::contest(&job, node_key),
            slash_record: pda::slash_record(&job, ack.frame, ack.tile),
            instructions: solana_sdk::sysvar::instructions::ID,
        },
        tessera::instruction::ProveAck { ack },
    );
    [check, prove]
}

/// The two instructions of a slash, in this order: the Ed25519 program's check of
/// `signature` (the node's, over `tile_message(job, frame, tile, bad_hash)`), then
/// `slash_node`, which reads that check back, checks the tile's witnesses
/// (`corroborate_tile`) and takes the job's slash amount from the node's stake to the treasury.
pub fn slash_node(
    reporter: &Pubkey,
    job_id: u64,
    node_key: &Pubkey,
    signature: &[u8; 64],
    frame: u32,
    tile: u32,
    bad_hash: &[u8; 32],
) -> [Instruction; 2] {
    let job = pda::job(job_id);
    let check = tile_signature_check(&job, node_key, signature, frame, tile, bad_hash);
    let slash = build(
        tessera::accounts::SlashNode {
            reporter: *reporter,
            network: pda::network(),
            job,
            node: pda::node(node_key),
            stake_vault: pda::stake_vault(node_key),
            treasury: pda::treasury(),
            slash_record: pda::slash_record(&job, frame, tile),
            instructions: solana_sdk::sysvar::instructions::ID,
            token_program: TOKEN_PROGRAM,
        },
        tessera::instruction::SlashNode { frame, tile },
    );
    [check, slash]
}

pub fn approve_job(
    artist: &Pubkey,
    job_id: u64,
    treasury: &Pubkey,
    artist_token: &Pubkey,
) -> Instruction {
    let job = pda::job(job_id);
    build(
        tessera::accounts::ApproveJob {
            artist: *artist,
            network: pda::network(),
            job,
            vault: pda::job_vault(&job),
            treasury: *treasury,
            artist_token: *artist_token,
            token_program: TOKEN_PROGRAM,
        },
        tessera::instruction::ApproveJob {},
    )
}

pub fn finalize_job(job_id: u64, treasury: &Pubkey, artist_token: &Pubkey) -> Instruction {
    let job = pda::job(job_id);
    build(
        tessera::accounts::FinalizeJob {
            network: pda::network(),
            job,
            vault: pda::job_vault(&job),
            treasury: *treasury,
            artist_token: *artist_token,
            token_program: TOKEN_PROGRAM,
        },
        tessera::instruction::FinalizeJob {},
    )
}

pub fn claim_payout(
    payer: &Pubkey,
    job_id: u64,
    node_key: &Pubkey,
    operator_token: &Pubkey,
    amount: u64,
    tiles: u32,
    proof: Vec<[u8; 32]>,
) -> Instruction {
    let job = pda::job(job_id);
    build(
        tessera::accounts::ClaimPayout {
            payer: *payer,
            job,
            vault: pda::job_vault(&job),
            node: pda::node(node_key),
            claim: pda::claim(&job, node_key),
            operator_token: *operator_token,
            token_program: TOKEN_PROGRAM,
            system_program: SYSTEM_PROGRAM,
        },
        tessera::instruction::ClaimPayout {
            amount,
            tiles,
            proof,
        },
    )
}

/// The node opens a contest of its pay in job `job_id`, with its payout leaf (or `None`: the
/// receipt pays it nothing). The node key signs and pays the contest's rent.
pub fn open_contest(
    node_key: &Pubkey,
    job_id: u64,
    payout: Option<PayoutLeafProof>,
) -> Instruction {
    let job = pda::job(job_id);
    build(
        tessera::accounts::OpenContest {
            node_key: *node_key,
            job,
            contest: pda::contest(&job, node_key),
            system_program: SYSTEM_PROGRAM,
        },
        tessera::instruction::OpenContest { payout },
    )
}

/// The node adds tile leaves crediting it (strictly increasing `(frame, tile, role)`).
pub fn prove_contest(node_key: &Pubkey, job_id: u64, leaves: Vec<ContestLeaf>) -> Instruction {
    let job = pda::job(job_id);
    build(
        tessera::accounts::ProveContest {
            node_key: *node_key,
            job,
            contest: pda::contest(&job, node_key),
        },
        tessera::instruction::ProveContest { leaves },
    )
}

/// Anyone upholds a node's proven contest; the shortfall goes to `operator_token`, from the
/// job's room and then from the bond of `orchestrator` (the job's own, `Job::orchestrator`).
pub fn resolve_contest(
    payer: &Pubkey,
    job_id: u64,
    orchestrator: &Pubkey,
    node_key: &Pubkey,
    operator_token: &Pubkey,
) -> Instruction {
    let job = pda::job(job_id);
    build(
        tessera::accounts::ResolveContest {
            payer: *payer,
            job,
            vault: pda::job_vault(&job),
            bond: pda::orchestrator_bond(orchestrator),
            bond_vault: pda::bond_vault(orchestrator),
            node: pda::node(node_key),
            contest: pda::contest(&job, node_key),
            claim: pda::claim(&job, node_key),
            operator_token: *operator_token,
            token_program: TOKEN_PROGRAM,
            system_program: SYSTEM_PROGRAM,
        },
        tessera::instruction::ResolveContest {},
    )
}

/// The artist disputes, paying the job's bond from `artist_token`.
pub fn dispute_job(
    artist: &Pubkey,
    job_id: u64,
    artist_token: &Pubkey,
    reason: u16,
) -> Instruction {
    let job = pda::job(job_id);
    build(
        tessera::accounts::DisputeJob {
            artist: *artist,
            network: pda::network(),
            job,
            vault: pda::job_vault(&job),
            artist_token: *artist_token,
            token_program: TOKEN_PROGRAM,
        },
        tessera::instruction::DisputeJob { reason },
    )
}

/// The admin ends a dispute with `refund_bps` of the payout refunded (any refund upholds it
/// and returns the bond). It slashes nothing.
pub fn resolve_dispute(
    admin: &Pubkey,
    job_id: u64,
    treasury: &Pubkey,
    artist_token: &Pubkey,
    refund_bps: u16,
) -> Instruction {
    let job = pda::job(job_id);
    build(
        tessera::accounts::ResolveDispute {
            admin: *admin,
            network: pda::network(),
            job,
            vault: pda::job_vault(&job),
            treasury: *treasury,
            artist_token: *artist_token,
            token_program: TOKEN_PROGRAM,
        },
        tessera::instruction::ResolveDispute { refund_bps },
    )
}

pub fn expire_job(artist: &Pubkey, job_id: u64, artist_token: &Pubkey) -> Instruction {
    let job = pda::job(job_id);
    build(
        tessera::accounts::ExpireJob {
            artist: *artist,
            job,
            vault: pda::job_vault(&job),
            artist_token: *artist_token,
            token_program: TOKEN_PROGRAM,
        },
        tessera::instruction::ExpireJob {},
    )
}

pub fn close_job(artist: &Pubkey, job_id: u64, artist_token: &Pubkey) -> Instruction {
    let job = pda::job(job_id);
    build(
        tessera::accounts::CloseJob {
            artist: *artist,
            job,
            vault: pda::job_vault(&job),
            artist_token: *artist_token,
            token_program: TOKEN_PROGRAM,
        },
        tessera::instruction::CloseJob {},
    )
}
