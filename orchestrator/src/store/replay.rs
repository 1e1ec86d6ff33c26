//! The replay window of session requests, in memory (embedded SQLite only).
//!
//! A session request (MAC'd, see `auth`) was recorded as a `seen_sigs` row in its own
//! transaction: an insert into a table and two indexes, the MAC index at a random place,
//! so a few WAL pages a request. With one process owning the store (the in-memory
//! schedule's premise), the window can live in that process instead, on two conditions:
//!
//! * it is checked and filled on the writer thread, inside the request's transaction body,
//!   and a body that fails takes its entries back out, as a rolled-back savepoint takes its
//!   row back ([`Window::begin`], [`Window::undo`]);
//! * it dies with the process, and so do the sessions it guards: their keys are derived
//!   with a secret made when the store opens ([`super::Store::session_secret`]), so a MAC
//!   recorded by an earlier process does not verify in a later one (the node opens a new
//!   session) and cannot be replayed into a window that forgot it.
//!
//! Signed requests (no session) keep their `seen_sigs` row, and PostgreSQL keeps rows for
//! every request: there sessions are shared by the instances, and so must the window be.
use std::collections::HashMap;

/// How a session request's replay record starts (`auth` writes it, the store reads it).
pub const SESSION_PREFIX: &str = "mac:";

/// Session requests recorded in the last `2 × auth_window_ms`, by the hash of their record.
#[derive(Default)]
pub struct Window {
    seen: HashMap<[u8; 32], i64>,
    /// Recorded by the transaction body now running.
    body: Vec<[u8; 32]>,
}

fn key(signature: &str) -> [u8; 32] {
    *blake3::hash(signature.as_bytes()).as_bytes()
}

impl Window {
    /// A transaction body starts: what it records is its own until it ends.
    pub fn begin(&mut self) {
        self.body.clear();
    }

    /// Records a request; false when it was seen before (a replay).
    pub fn record(&mut self, signature: &str, timestamp_ms: i64) -> bool {
        let k = key(signature);
        if self.seen.contains_key(&k) {
            return false;
        }
        self.seen.insert(k, timestamp_ms);
        self.body.push(k);
        true
    }

    /// The body failed (its savepoint rolled back): its records are forgotten.
    pub fn undo(&mut self) {
        for k in self.body.drain(..) {
            self.seen.remove(&k);
        }
    }

    /// Forgets requests timestamped before `before` (they fail the timestamp check).
    pub fn forget_before(&mut self, before: i64) {
        self.seen.retain(|_, ts| *ts >= before);
    }

    pub fn len(&self) -> usize {
        self.seen.len()
    }

    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_is_recorded_once_undone_with_its_body_and_forgotten_when_old() {
        let mut w = Window::default();
        w.begin();
        assert!(w.record("mac:a", 10));
        assert!(!w.record("mac:a", 10), "the same request again is a replay");
        // A later body that fails takes back only its own records.
        w.begin();
        assert!(w.record("mac:b", 20));
        w.undo();
        assert!(
            w.record("mac:b", 20),
            "a rolled-back request may come again"
        );
        assert!(!w.record("mac:a", 10));
        w.forget_before(15);
        assert_eq!(w.len(), 1);
        assert!(
            w.record("mac:a", 10),
            "forgotten once older than the window"
        );
    }
}
