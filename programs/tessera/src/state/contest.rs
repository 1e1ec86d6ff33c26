use anchor_lang::prelude::*;

/// A node's proof, built over one or more transactions, that the job's payout tree pays it
/// less than the tile tree credits to its key. PDA `["contest", job, node_key]`: one per node
/// and job, so a contest cannot be paid twice.
#[account]
#[derive(InitSpace, Debug)]
pub struct Contest {
    pub job: Pubkey,
    pub node_key: Pubkey,
    /// Whether the node proved a payout leaf; without one it is owed everything it proves,
    /// paid through its claim record (so no leaf of it can be claimed afterwards).
    pub has_leaf: bool,
    /// The proven payout leaf's amount and tiles (0 without a leaf).
    pub leaf_amount: u64,
    pub leaf_tiles: u32,
    /// Distinct tile leaves crediting the node proven so far, and the last one's
    /// `(frame, tile, role)`: each next leaf must be strictly greater, so none counts twice.
    pub proven: u32,
    pub last_frame: u32,
    pub last_tile: u32,
    pub last_role: u8,
    /// `price_per_tile × proven`, fixed when the contest is upheld.
    pub owed: u64,
    /// Tokens the contest moved to the operator (the shortfall, capped by the job's room).
    pub paid: u64,
    /// Tokens paid from the orchestrator's bond: the shortfall the room could not pay.
    pub paid_from_bond: u64,
    /// Shortfall paid by neither the room nor the bond (the bond ran dry): still owed.
    pub unpaid: u64,
    pub upheld: bool,
    pub opened_at: i64,
    pub resolved_at: i64,
    pub bump: u8,
}

impl Contest {
    /// Whether `(frame, tile, role)` comes after the last proven leaf.
    pub fn is_next(&self, frame: u32, tile: u32, role: u8) -> bool {
        self.proven == 0 || (frame, tile, role) > (self.last_frame, self.last_tile, self.last_role)
    }
}
