//! Keeping the WAL short without stalling the writer.
//!
//! SQLite starts its WAL again from the beginning only when a write transaction begins with
//! every frame already copied into the database file ("backfilled") and that copy synced.
//! Under steady load the checkpointer thread never gets there on its own: groups commit
//! while it copies. Left to SQLite's autocheckpoint, the writer itself then caught up once
//! the WAL reached its bound, inside a group's `COMMIT`: it copied what the last pass had
//! left and synced the database file, which by then held every page the passes had copied
//! since the last sync. That was a 6–10 ms stall every ≈ 300 ms at 3 000 pairs/s, and the
//! open loop's p99 (README, "Round 8").
//!
//! Here the checkpointer syncs the database file after each pass, and the writer catches up
//! itself only **right after a pass**, between groups (its replies already sent), once the
//! WAL is longer than [`RESTART_AT`]: what is left to copy is what was committed during
//! that pass, and both files have only that left to sync. The next group then starts the
//! WAL again. [`LIMIT`] still bounds the WAL if the checkpointer falls behind. What a
//! commit makes durable is unchanged: SQLite restarts the WAL only after its own checks
//! (every frame copied, the file synced, no reader on the old frames).
use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use rusqlite::Connection;

use crate::metrics::StoreMetrics;

/// How often the checkpointer copies the WAL's new frames into the database file.
pub const EVERY: Duration = Duration::from_millis(50);

/// WAL frames after which the writer catches up itself after the next pass: 8 192 (16 MiB
/// of 2 KiB pages).
pub const RESTART_AT: i32 = 8_192;

/// WAL frames after which the writer catches up whether or not a pass has just run.
pub const LIMIT: i32 = 4 * RESTART_AT;

thread_local! {
    /// Frames in the WAL after the writer's last commit (from SQLite's WAL hook, which
    /// runs on the committing thread: the writer's).
    static FRAMES: Cell<i32> = const { Cell::new(0) };
}

/// How many checkpointer passes have run: the writer catches up after a new one.
#[derive(Default)]
pub struct Passes {
    count: AtomicU64,
}

/// The writer's side: the WAL hook and when to catch up.
pub struct Writer {
    passes: Arc<Passes>,
    seen: u64,
}

impl Writer {
    /// Follows the WAL's length on the writer's connection. The hook replaces SQLite's
    /// autocheckpoint (which is itself a WAL hook), so [`Writer::after_group`] bounds it.
    pub fn new(conn: &Connection, passes: Arc<Passes>) -> Self {
        conn.wal_hook(Some(|_, frames| {
            FRAMES.with(|f| f.set(frames));
            Ok(())
        }));
        Self { passes, seen: 0 }
    }

    /// After a group's replies: copies what is left and so lets the next group restart the
    /// WAL, when it is long and a pass has just run (or it is at [`LIMIT`]).
    pub fn after_group(&mut self, conn: &Connection, m: &StoreMetrics) {
        let frames = FRAMES.with(Cell::get);
        let count = self.passes.count.load(Ordering::Acquire);
        let fresh = count != self.seen;
        self.seen = count;
        if frames < RESTART_AT || !(fresh || frames >= LIMIT) {
            return;
        }
        let started = Instant::now();
        // Busy (the checkpointer is in a pass) or blocked by a reader: the next group
        // tries again.
        if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
            tracing::warn!(error = %e, "WAL catch-up failed");
        }
        let took = m
            .tx_seconds
            .with_label_values(&[super::NAME, "wal_catch_up"]);
        took.observe(started.elapsed().as_secs_f64());
    }
}

/// Copies committed WAL frames into the database file every [`EVERY`], on a connection of
/// its own, until every `Sqlite` handle is dropped. A PASSIVE checkpoint waits for no
/// reader or writer, so the writer goes on committing meanwhile. `db` is the database
/// file, synced after a pass that did not catch up (SQLite syncs it only when one does),
/// unless `synchronous` is OFF.
pub fn checkpointer(
    conn: Connection,
    db: std::fs::File,
    sync: bool,
    passes: Arc<Passes>,
    alive: Weak<()>,
    m: StoreMetrics,
) {
    let took = m.tx_seconds.with_label_values(&[super::NAME, "checkpoint"]);
    loop {
        std::thread::sleep(EVERY);
        if alive.strong_count() == 0 {
            return;
        }
        let started = Instant::now();
        // (busy, frames in the WAL, frames checkpointed).
        let pass = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
            Ok((r.get::<_, i64>(1)?, r.get::<_, i64>(2)?))
        });
        match &pass {
            Ok((log, done)) if sync && done < log => {
                if let Err(e) = db.sync_data() {
                    tracing::warn!(error = %e, "database file sync failed");
                }
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "WAL checkpoint failed"),
        }
        passes.count.fetch_add(1, Ordering::Release);
        took.observe(started.elapsed().as_secs_f64());
    }
}
