//! Addresses of the program's accounts (seeds documented in `tessera::constants`).
use anchor_lang::prelude::Pubkey;
use tessera::constants::*;

fn find(seeds: &[&[u8]]) -> Pubkey {
    Pubkey::find_program_address(seeds, &tessera::ID).0
}

/// The network config: `["network"]`.
pub fn network() -> Pubkey {
    find(&[NETWORK_SEED])
}

/// A node record: `["node", node_key]`.
pub fn node(node_key: &Pubkey) -> Pubkey {
    find(&[NODE_SEED, node_key.as_ref()])
}

/// A node's stake vault: `["stake", node_key]`.
pub fn stake_vault(node_key: &Pubkey) -> Pubkey {
    find(&[STAKE_VAULT_SEED, node_key.as_ref()])
}

/// The protocol's fee account (token account owned by the network PDA): `["treasury"]`.
pub fn treasury() -> Pubkey {
    find(&[TREASURY_SEED])
}

/// The id of the job `artist` creates with `nonce` (`tessera::state::job_id_of`).
pub fn job_id(artist: &Pubkey, nonce: u64) -> u64 {
    tessera::state::job_id_of(artist, nonce)
}

/// A job record: `["job", job_id as u64 little-endian]`.
pub fn job(job_id: u64) -> Pubkey {
    find(&[JOB_SEED, &job_id.to_le_bytes()])
}

/// A job's escrow vault: `["vault", job]`.
pub fn job_vault(job: &Pubkey) -> Pubkey {
    find(&[JOB_VAULT_SEED, job.as_ref()])
}

/// A payout claim record: `["claim", job, node_key]`.
pub fn claim(job: &Pubkey, node_key: &Pubkey) -> Pubkey {
    find(&[CLAIM_SEED, job.as_ref(), node_key.as_ref()])
}

/// A slash record: `["slash", job, frame, tile]` (one slash per tile of a job).
pub fn slash_record(job: &Pubkey, frame: u32, tile: u32) -> Pubkey {
    find(&[
        SLASH_SEED,
        job.as_ref(),
        &frame.to_le_bytes(),
        &tile.to_le_bytes(),
    ])
}

/// A node's contest of its payout leaf: `["contest", job, node_key]`.
pub fn contest(job: &Pubkey, node_key: &Pubkey) -> Pubkey {
    find(&[CONTEST_SEED, job.as_ref(), node_key.as_ref()])
}

/// An orchestrator's bond record: `["orchestrator_bond", orchestrator]`.
pub fn orchestrator_bond(orchestrator: &Pubkey) -> Pubkey {
    find(&[ORCHESTRATOR_BOND_SEED, orchestrator.as_ref()])
}

/// The bond's token account (authority: the bond record): `["bond_vault", orchestrator]`.
pub fn bond_vault(orchestrator: &Pubkey) -> Pubkey {
    find(&[BOND_VAULT_SEED, orchestrator.as_ref()])
}
