use anchor_lang::prelude::*;

/// An orchestrator's bond: the stake that pays proven contest shortfalls its receipts' rooms
/// cannot. PDA `["orchestrator_bond", orchestrator]`; the tokens live in the token account
/// PDA `["bond_vault", orchestrator]` whose authority is this account, so only this program
/// moves them (nobody can close the vault out from under a contest).
#[account]
#[derive(InitSpace, Debug)]
pub struct OrchestratorBond {
    /// The orchestrator key the bond backs (the only key that may withdraw it).
    pub orchestrator: Pubkey,
    /// The bond's token account.
    pub vault: Pubkey,
    /// The largest job minimum among the receipts whose windows are still open (informational:
    /// while locked nothing can be withdrawn).
    pub locked_amount: u64,
    /// The latest end (receipt + challenge window + resolution period) of those receipts;
    /// `withdraw_bond` waits for it.
    pub locked_until: i64,
    /// Tokens paid out of the bond to contesting nodes, in total.
    pub paid_out: u64,
    pub bump: u8,
    pub vault_bump: u8,
}

impl OrchestratorBond {
    /// Locks at least `amount` until at least `until` (a lapsed lock starts from zero).
    pub fn lock(&mut self, amount: u64, until: i64, now: i64) {
        let base = if now <= self.locked_until {
            self.locked_amount
        } else {
            0
        };
        self.locked_amount = base.max(amount);
        self.locked_until = self.locked_until.max(until);
    }

    /// Whether a receipt's window (or its resolution period) may still need the bond at `now`.
    pub fn is_locked(&self, now: i64) -> bool {
        now <= self.locked_until
    }
}
