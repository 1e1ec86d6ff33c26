//! One event per instruction. Everything clients must read back also lives in
//! accounts: host-built runs do not capture program logs.
use anchor_lang::prelude::*;

#[event]
#[derive(Debug)]
pub struct NetworkInitialized {
    pub network: Pubkey,
    pub admin: Pubkey,
    pub mint: Pubkey,
}
#[event]
#[derive(Debug)]
pub struct NetworkUpdated {
    pub network: Pubkey,
    pub paused: bool,
    pub fee_bps: u16,
}
#[event]
#[derive(Debug)]
pub struct AdminChanged {
    pub network: Pubkey,
    pub previous: Pubkey,
    pub admin: Pubkey,
}
#[event]
#[derive(Debug)]
pub struct NodeRegistered {
    pub node_key: Pubkey,
    pub operator: Pubkey,
    pub stake: u64,
}
#[event]
#[derive(Debug)]
pub struct NodeUpdated {
    pub node_key: Pubkey,
    pub benchmark_score: u64,
}
#[event]
#[derive(Debug)]
pub struct StakeAdded {
    pub node_key: Pubkey,
    pub amount: u64,
    pub stake: u64,
}
#[event]
#[derive(Debug)]
pub struct UnstakeRequested {
    pub node_key: Pubkey,
    pub amount: u64,
    pub available_at: i64,
}
#[event]
#[derive(Debug)]
pub struct StakeWithdrawn {
    pub node_key: Pubkey,
    pub amount: u64,
    pub stake: u64,
}
#[event]
#[derive(Debug)]
pub struct JobCreated {
    pub job: Pubkey,
    pub job_id: u64,
    pub artist: Pubkey,
    pub budget: u64,
}
#[event]
#[derive(Debug)]
pub struct CancelRequested {
    pub job: Pubkey,
    /// Until then the orchestrator may post the receipt of the verified tiles.
    pub receipt_ends_at: i64,
}
#[event]
#[derive(Debug)]
pub struct ReceiptPosted {
    pub job: Pubkey,
    pub tile_root: [u8; 32],
    pub payout_root: [u8; 32],
    pub total_payout: u64,
}
#[event]
#[derive(Debug)]
pub struct JobSettled {
    pub job: Pubkey,
    pub fee: u64,
    pub refund: u64,
    pub by_artist: bool,
}
#[event]
#[derive(Debug)]
pub struct PayoutClaimed {
    pub job: Pubkey,
    pub node_key: Pubkey,
    pub amount: u64,
    pub paid: u64,
}
#[event]
#[derive(Debug)]
pub struct JobDisputed {
    pub job: Pubkey,
    pub reason: u16,
    pub bond: u64,
    pub resolve_by: i64,
}
#[event]
#[derive(Debug)]
pub struct DisputeResolved {
    pub job: Pubkey,
    pub refund: u64,
    /// The bond went back to the artist (upheld) rather than to the treasury.
    pub bond_returned: bool,
    /// Nobody resolved it in time: the default outcome (the receipt stands) was applied.
    pub by_default: bool,
}
#[event]
#[derive(Debug)]
pub struct JobExpired {
    pub job: Pubkey,
    pub refund: u64,
}
#[event]
#[derive(Debug)]
pub struct JobClosed {
    pub job: Pubkey,
    pub swept: u64,
}
#[event]
#[derive(Debug)]
pub struct FeesCollected {
    pub to: Pubkey,
    pub amount: u64,
}
#[event]
#[derive(Debug)]
pub struct NodeSlashed {
    pub job: Pubkey,
    pub node_key: Pubkey,
    pub frame: u32,
    pub tile: u32,
    pub amount: u64,
}
#[event]
#[derive(Debug)]
pub struct TileCorroborated {
    pub job: Pubkey,
    pub frame: u32,
    pub tile: u32,
    pub node_key: Pubkey,
    pub role: u8,
    pub pixel_hash: [u8; 32],
}
#[event]
#[derive(Debug)]
pub struct AckProven {
    pub job: Pubkey,
    pub node_key: Pubkey,
    pub frame: u32,
    pub tile: u32,
    pub credited_node: Pubkey,
}
#[event]
#[derive(Debug)]
pub struct ContestOpened {
    pub job: Pubkey,
    pub node_key: Pubkey,
    pub leaf_amount: u64,
}
#[event]
#[derive(Debug)]
pub struct ContestUpheld {
    pub job: Pubkey,
    pub node_key: Pubkey,
    pub owed: u64,
    /// Paid from the job's room under its cap.
    pub paid: u64,
    /// Paid from the orchestrator's bond (what the room could not cover).
    pub paid_from_bond: u64,
    /// Proven but paid by neither (the bond ran dry).
    pub unpaid: u64,
}
#[event]
#[derive(Debug)]
pub struct BondDeposited {
    pub orchestrator: Pubkey,
    pub depositor: Pubkey,
    pub amount: u64,
    pub balance: u64,
}
#[event]
#[derive(Debug)]
pub struct BondWithdrawn {
    pub orchestrator: Pubkey,
    pub amount: u64,
    pub balance: u64,
}
