//! Seeds and bounds shared by the program and its clients.

/// Seed of the single `Network` config account: `["network"]`.
pub const NETWORK_SEED: &[u8] = b"network";
/// Seed of a `Node` account: `["node", node_key]`.
pub const NODE_SEED: &[u8] = b"node";
/// Seed of a node's stake vault (token account owned by the node PDA): `["stake", node_key]`.
pub const STAKE_VAULT_SEED: &[u8] = b"stake";
/// Seed of a `Job` account: `["job", job_id (u64 little-endian)]`, `job_id = job_id_of(artist, nonce)`.
pub const JOB_SEED: &[u8] = b"job";
/// Seed of a job's escrow vault (token account owned by the job PDA): `["vault", job]`.
pub const JOB_VAULT_SEED: &[u8] = b"vault";
/// Seed of the protocol's fee account (token account owned by the network PDA): `["treasury"]`.
pub const TREASURY_SEED: &[u8] = b"treasury";
/// Seed of a payout claim record: `["claim", job, node_key]`.
pub const CLAIM_SEED: &[u8] = b"claim";
/// Seed of a slash record: `["slash", job, frame u32 LE, tile u32 LE]` (one slash per tile).
pub const SLASH_SEED: &[u8] = b"slash";
/// Seed of a node's contest of its payout leaf: `["contest", job, node_key]` (one per node and job).
pub const CONTEST_SEED: &[u8] = b"contest";

/// Seed of an orchestrator's bond record: `["orchestrator_bond", orchestrator]`.
pub const ORCHESTRATOR_BOND_SEED: &[u8] = b"orchestrator_bond";
/// Seed of an orchestrator's bond vault (token account owned by the bond record PDA):
/// `["bond_vault", orchestrator]`.
pub const BOND_VAULT_SEED: &[u8] = b"bond_vault";

/// Basis points in one whole.
pub const BPS_DENOMINATOR: u64 = 10_000;
/// The protocol fee can never exceed 10%.
pub const MAX_FEE_BPS: u16 = 1_000;
/// Longest unstake cooldown or claim grace period: 90 days.
pub const MAX_PERIOD_SECONDS: i64 = 90 * 24 * 60 * 60;
/// Shortest challenge window: an artist must have time to look at the previews.
pub const MIN_CHALLENGE_WINDOW: i64 = 60;
/// Longest challenge window (30 days), so a receipt is always settled eventually.
pub const MAX_CHALLENGE_WINDOW: i64 = 30 * 24 * 60 * 60;
/// Shortest and longest time the admin has to resolve a dispute before its default outcome.
pub const MIN_RESOLUTION_PERIOD: i64 = 60;
pub const MAX_RESOLUTION_PERIOD: i64 = 30 * 24 * 60 * 60;
/// Shortest and longest time the orchestrator has, after a cancel request or the deadline,
/// to post the (partial) receipt of the verified tiles before the artist may take a refund.
pub const MIN_SETTLE_GRACE: i64 = 30;
pub const MAX_SETTLE_GRACE: i64 = 24 * 60 * 60;
/// Shortest claim grace: nodes must have time to claim before `close_job` sweeps.
pub const MIN_CLAIM_GRACE: i64 = 60 * 60;
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
/// Delay between proposing network parameters (`update_network`) and applying them.
pub const PARAMS_TIMELOCK: i64 = 24 * 60 * 60;
/// Most node accounts one `post_receipt` locks stake on (what fits a transaction).
pub const MAX_LOCKED_NODES: usize = 24;
/// Bounds of the network's verification share: the most check and tiebreak renders a job
/// pays for, in basis points of its tile count (1% ..= 100%).
pub const MIN_VERIFY_BPS: u16 = 100;
pub const MAX_VERIFY_BPS: u16 = 10_000;
/// Most tile leaves one `prove_contest` carries (a leaf with a 10-deep proof is 361 bytes).
pub const MAX_CONTEST_LEAVES: usize = 8;
