//! Seeds and bounds shared by the program and its clients.

/// Seed of the single `Network` config account: `["network"]`.
pub const NETWORK_SEED: &[u8] = b"network";
/// Seed of a `Node` account: `["node", node_key]`.
pub const NODE_SEED: &[u8] = b"node";
/// Seed of a node's stake vault (token account owned by the node PDA): `["stake", node_key]`.
pub const STAKE_VAULT_SEED: &[u8] = b"stake";
/// Seed of a `Job` account: `["job", job_id (u64 little-endian)]`.
pub const JOB_SEED: &[u8] = b"job";
/// Seed of a job's escrow vault (token account owned by the job PDA): `["vault", job]`.
pub const JOB_VAULT_SEED: &[u8] = b"vault";
/// Seed of a payout claim record: `["claim", job, node_key]`.
pub const CLAIM_SEED: &[u8] = b"claim";

/// Basis points in one whole.
pub const BPS_DENOMINATOR: u64 = 10_000;
/// The protocol fee can never exceed 10%.
pub const MAX_FEE_BPS: u16 = 1_000;
/// Longest challenge window, unstake cooldown or claim grace period: 90 days.
pub const MAX_PERIOD_SECONDS: i64 = 90 * 24 * 60 * 60;
/// Longest hardware description a node may record.
pub const MAX_HARDWARE_LEN: usize = 64;
/// Largest frame edge in pixels (16K).
pub const MAX_FRAME_EDGE: u32 = 16_384;
/// Smallest tile edge in pixels.
pub const MIN_TILE_SIZE: u32 = 16;
/// Most frames in one job.
pub const MAX_FRAMES: u32 = 100_000;
/// Most samples per pixel a job may ask for.
pub const MAX_SPP: u32 = 1 << 16;
/// Highest frame rate a job may ask for, in frames per second.
pub const MAX_FRAME_RATE: u32 = 1_000;
/// Deepest merkle proof accepted (2^32 leaves).
pub const MAX_PROOF_LEN: usize = 32;
/// `resolve_dispute` slashes a node at most this many times the amount of its payout leaf
/// in the disputed job (and never more than its stake).
pub const MAX_SLASH_MULTIPLE: u64 = 10;
