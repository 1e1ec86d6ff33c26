//! The embedded backend: one SQLite file (WAL journal) and one writer thread that owns the
//! connection and commits in groups.
//!
//! Group commit: each [`Backend::run`] queues its transaction body; the writer takes every
//! body queued (up to [`MAX_GROUP`]), runs them one after another inside one
//! `BEGIN IMMEDIATE … COMMIT`, each body in a `SAVEPOINT` of its own (a body that fails
//! rolls back only itself), and answers every caller only **after the group's `COMMIT`**.
//! So each store method keeps its own all-or-nothing semantics, and what a caller is told
//! is committed is committed: durable against `kill -9` at any `synchronous` but `OFF`
//! (WAL), against power loss at `FULL`. A failed `COMMIT` fails every body of the group.
//! The cost of a commit (locks, WAL frames of the pages the group touched, an fsync at
//! `FULL`) is paid once per group instead of once per request. A group holding a durable
//! transaction ([`Backend::run_durable`]) commits under `synchronous=FULL` (`EXTRA` when so
//! configured), which makes the whole group durable; the setting is restored after.
//!
//! Long reads ([`Backend::read`]: retention's scans of `results`) run on a second,
//! read-only connection to the same file instead, in a transaction of their own: WAL lets it
//! read a snapshot while the writer commits, so such a scan holds up no group.
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::path::Path;
use std::path::PathBuf;
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use rusqlite::types::{ToSqlOutput, Value, ValueRef};
use rusqlite::{params_from_iter, Connection, OpenFlags};
use tokio::sync::oneshot;

use super::shared::Backend;
use super::sql::{Row, Sql, V};
use super::DbConfig;
use crate::error::StoreError;
use crate::metrics::StoreMetrics;

mod embedded {
    refinery::embed_migrations!("migrations/sqlite");
}

mod checkpoint;

const NAME: &str = "sqlite";

/// The connection's page cache (`PRAGMA cache_size`, negative: KiB): 8 MiB. SQLite's
/// default (2 MiB) is smaller than the request path's working set on a store with history;
/// a larger cache costs at commits: a b-tree split renumbers pages through the number of
/// the page at 1 GiB (`balance_nonroot`), and while the file is smaller than that, the
/// commit's cache truncation then walks every cached page. At 64 MiB (32 768 pages) that
/// was a fifth of the writer's time (README, "Round 8").
const PAGE_CACHE_KIB: i64 = -8 * 1024;

/// The page size of a new store's file (`PRAGMA page_size`; SQLite's default is 4 096). A
/// lease and a submit change a few rows in each of a dozen b-trees, and every page they
/// touch is written whole to the WAL and again by the checkpoint: at 2 048 a touched page
/// carries half the bytes. Measured (README, "Round 7"): −75% bytes written and −18% CPU a
/// pair against 4 096; 1 024 wrote less still but cost more CPU per commit in the open loop.
/// An existing file keeps its size (it can change only by `VACUUM` outside WAL mode).
const PAGE_SIZE: i64 = 2048;

/// Most transaction bodies committed together.
pub const MAX_GROUP: usize = 256;

/// A queued transaction body: runs in its savepoint and returns how to answer its caller
/// once the group's commit is known; `durable` when its commit must be fsynced.
struct Work {
    durable: bool,
    body: Box<dyn FnOnce(&Connection) -> Reply + Send>,
}
type Reply = Box<dyn FnOnce(Result<(), String>) + Send>;

#[derive(Clone)]
pub struct Sqlite {
    queue: mpsc::Sender<Work>,
    metrics: StoreMetrics,
    reader: Arc<Reader>,
    /// The checkpointer runs while a handle holds this.
    _alive: Arc<()>,
}

/// The read-only connection of [`Backend::read`], opened on first use; one read at a time.
struct Reader {
    path: PathBuf,
    conn: Mutex<Option<Connection>>,
}

impl Reader {
    fn read<R>(
        &self,
        f: impl FnOnce(&mut dyn Sql) -> Result<R, StoreError>,
    ) -> Result<R, StoreError> {
        let mut conn = self.conn.lock().unwrap_or_else(|e| e.into_inner());
        if conn.is_none() {
            let c = Connection::open_with_flags(
                &self.path,
                OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )?;
            c.busy_timeout(Duration::from_secs(5))?;
            c.set_prepared_statement_cache_capacity(16);
            *conn = Some(c);
        }
        let c = conn.as_ref().expect("opened above");
        // One transaction: every statement of `f` reads the same snapshot (the first read
        // starts it). Read-only, so ending it commits nothing.
        c.execute_batch("BEGIN")?;
        let r = std::panic::catch_unwind(AssertUnwindSafe(|| f(&mut Tx(c))))
            .unwrap_or_else(|_| Err(StoreError::Join("store read panicked".into())));
        c.execute_batch("ROLLBACK")?;
        r
    }
}

/// `PRAGMA synchronous` values (the setting is interpolated, so it is checked first).
fn synchronous(v: &str) -> Result<&'static str, StoreError> {
    ["OFF", "NORMAL", "FULL", "EXTRA"]
        .into_iter()
        .find(|s| s.eq_ignore_ascii_case(v))
        .ok_or_else(|| {
            StoreError::Config(format!(
                "sqlite synchronous {v:?}: OFF, NORMAL, FULL or EXTRA"
            ))
        })
}

/// Opens the file (and its folder), a new one with [`PAGE_SIZE`] pages.
fn open_file(cfg: &DbConfig) -> Result<Connection, StoreError> {
    // Errors name the file: "not a database" or a folder that cannot be made says nothing
    // of which path on its own.
    let path = Path::new(&cfg.url);
    let at = |e: &dyn std::fmt::Display| StoreError::Config(format!("{}: {e}", path.display()));
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| at(&e))?;
    }
    let conn = Connection::open(path).map_err(|e| at(&e))?;
    // Before the first table: a no-op on a file that has any.
    conn.pragma_update(None, "page_size", PAGE_SIZE)
        .map_err(|e| at(&e))?;
    // The first read of the file's header: a file that is not a database fails here.
    conn.query_row("PRAGMA schema_version", [], |_| Ok(()))
        .map_err(|e| at(&e))?;
    Ok(conn)
}

/// Opens the file and applies pending migrations.
fn connect(cfg: &DbConfig) -> Result<Connection, StoreError> {
    let mut conn = open_file(cfg)?;
    // WAL: a committed transaction survives a process crash (kill -9) at any `synchronous`
    // but OFF; FULL also survives power loss, at an fsync per commit (README, "Durability").
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", synchronous(&cfg.sqlite_synchronous)?)?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    conn.set_prepared_statement_cache_capacity(128);
    // Page cache: SQLite's default (2 MiB) is smaller than the request path's working set of
    // index pages on a store with history, so pages were re-read from the OS (a copy each).
    // Memory only; durability is the journal's and `synchronous`'s.
    conn.pragma_update(None, "cache_size", PAGE_CACHE_KIB)?;
    run_migrations(&mut conn)?;
    Ok(conn)
}

fn run_migrations(conn: &mut Connection) -> Result<Vec<String>, StoreError> {
    adopt_unversioned(conn)?;
    let report = embedded::migrations::runner()
        .run(conn)
        .map_err(|e| StoreError::Migration(e.to_string()))?;
    Ok(report
        .applied_migrations()
        .iter()
        .map(|m| m.to_string())
        .collect())
}

/// Stores made before versioned migrations: V1 is their schema (IF NOT EXISTS), less the
/// columns that older versions added on open, added here first.
fn adopt_unversioned(c: &Connection) -> Result<(), StoreError> {
    let has_table = |t: &str| -> Result<bool, StoreError> {
        Ok(
            c.prepare("SELECT 1 FROM sqlite_master WHERE type='table' AND name=?1")?
                .exists([t])?,
        )
    };
    if !has_table("jobs")? || has_table("refinery_schema_history")? {
        return Ok(());
    }
    add_column(c, "jobs", "frame_rate_num", "INTEGER NOT NULL DEFAULT 24")?;
    add_column(c, "jobs", "frame_rate_den", "INTEGER NOT NULL DEFAULT 1")?;
    add_column(c, "scenes", "expires_ms", "INTEGER")
}

fn add_column(c: &Connection, table: &str, column: &str, decl: &str) -> Result<(), StoreError> {
    let has = c
        .prepare(&format!(
            "SELECT 1 FROM pragma_table_info('{table}') WHERE name=?1"
        ))?
        .exists([column])?;
    if !has {
        c.execute_batch(&format!("ALTER TABLE {table} ADD COLUMN {column} {decl}"))?;
    }
    Ok(())
}

/// `tessera-orchestrator migrate` on a SQLite file.
pub fn migrate(cfg: &DbConfig) -> Result<Vec<String>, StoreError> {
    run_migrations(&mut open_file(cfg)?)
}

impl Sqlite {
    pub fn open(cfg: &DbConfig, metrics: StoreMetrics) -> Result<Self, StoreError> {
        let conn = connect(cfg)?;
        metrics.pool_size.with_label_values(&[NAME]).set(1);
        let configured = synchronous(&cfg.sqlite_synchronous)?;
        let (queue, work) = mpsc::channel();
        let passes = Arc::new(checkpoint::Passes::default());
        let (m, p) = (metrics.clone(), passes.clone());
        std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || writer(conn, work, p, m, configured))?;
        let reader = Arc::new(Reader {
            path: PathBuf::from(&cfg.url),
            conn: Mutex::new(None),
        });
        let alive = Arc::new(());
        let checkpoints = Connection::open(&cfg.url)?;
        let db = std::fs::File::open(&cfg.url)?;
        let (weak, m, sync) = (Arc::downgrade(&alive), metrics.clone(), configured != "OFF");
        std::thread::Builder::new()
            .name("sqlite-checkpoint".into())
            .spawn(move || checkpoint::checkpointer(checkpoints, db, sync, passes, weak, m))?;
        Ok(Self {
            queue,
            metrics,
            reader,
            _alive: alive,
        })
    }
}

/// The writer thread: one group per loop, until every `Sqlite` handle is dropped.
fn writer(
    conn: Connection,
    work: mpsc::Receiver<Work>,
    passes: Arc<checkpoint::Passes>,
    m: StoreMetrics,
    configured: &str,
) {
    let mut wal = checkpoint::Writer::new(&conn, passes);
    let in_use = m.pool_in_use.with_label_values(&[NAME]);
    let group_size = m.group_size.with_label_values(&[NAME]);
    while let Ok(first) = work.recv() {
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match work.try_recv() {
                Ok(w) => group.push(w),
                Err(_) => break,
            }
        }
        in_use.set(1);
        group_size.observe(group.len() as f64);
        // The setting cannot change inside a transaction: set before, restored after.
        let level = match (group.iter().any(|w| w.durable), configured) {
            (false, c) => c,
            (true, "EXTRA") => "EXTRA",
            (true, _) => "FULL",
        };
        let set = |to: &str| conn.pragma_update(None, "synchronous", to);
        let mut committed = match (level != configured).then(|| set(level)) {
            Some(Err(e)) => (Err(format!("synchronous: {e}")), Vec::new()),
            _ => run_group(&conn, group),
        };
        if level != configured {
            if let Err(e) = set(configured) {
                committed.0 = committed.0.and(Err(format!("synchronous: {e}")));
            }
        }
        in_use.set(0);
        for reply in committed.1 {
            reply(committed.0.clone());
        }
        wal.after_group(&conn, &m);
    }
}

/// Runs a group in one transaction; the commit's result and the replies to send with it.
fn run_group(conn: &Connection, group: Vec<Work>) -> (Result<(), String>, Vec<Reply>) {
    if let Err(e) = conn.execute_batch("BEGIN IMMEDIATE") {
        // Nothing ran: dropping the bodies answers their callers with an error.
        tracing::warn!(error = %e, "store group could not begin");
        return (Err(format!("begin: {e}")), Vec::new());
    }
    let replies: Vec<Reply> = group.into_iter().map(|w| (w.body)(conn)).collect();
    match conn.execute_batch("COMMIT") {
        Ok(()) => (Ok(()), replies),
        Err(e) => {
            let _ = conn.execute_batch("ROLLBACK");
            (Err(format!("group commit: {e}")), replies)
        }
    }
}

/// Runs `f` in a savepoint of the open group: released when it returns Ok, rolled back to
/// (only this body's changes) when it fails or panics.
fn in_savepoint<R>(
    conn: &Connection,
    f: impl FnOnce(&mut dyn Sql) -> Result<R, StoreError>,
) -> Result<R, StoreError> {
    // Cached statements: these run twice per transaction.
    conn.prepare_cached("SAVEPOINT body")?.execute([])?;
    let r = std::panic::catch_unwind(AssertUnwindSafe(|| f(&mut Tx(conn))))
        .unwrap_or_else(|_| Err(StoreError::Join("store transaction panicked".into())));
    if r.is_err() {
        conn.prepare_cached("ROLLBACK TO body")?.execute([])?;
    }
    conn.prepare_cached("RELEASE body")?.execute([])?;
    r
}

impl Backend for Sqlite {
    const NAME: &'static str = NAME;

    /// Queues `f` for the writer and waits for its group's commit.
    fn run_with<R, F>(
        &self,
        op: &'static str,
        durable: bool,
        f: F,
    ) -> impl Future<Output = Result<R, StoreError>> + Send
    where
        R: Send + 'static,
        F: Fn(&mut dyn Sql) -> Result<R, StoreError> + Send + Sync + 'static,
    {
        let (queue, m) = (self.queue.clone(), self.metrics.clone());
        async move {
            type Answer<R> = (Result<R, StoreError>, Instant, std::time::Duration);
            let (tx, rx) = oneshot::channel::<Answer<R>>();
            let asked = Instant::now();
            let body: Box<dyn FnOnce(&Connection) -> Reply + Send> = Box::new(move |conn| {
                let started = Instant::now();
                let r = in_savepoint(conn, |sql| f(sql));
                let ran = started.elapsed();
                Box::new(move |committed| {
                    let r = match (r, committed) {
                        (Ok(r), Ok(())) => Ok(r),
                        (Ok(_), Err(e)) => Err(StoreError::Commit(e)),
                        (Err(e), _) => Err(e),
                    };
                    let _ = tx.send((r, started, ran));
                })
            });
            queue
                .send(Work { durable, body })
                .map_err(|_| StoreError::Join("the store writer stopped".into()))?;
            let (r, started, ran) = rx
                .await
                .map_err(|_| StoreError::Commit("the group did not commit".into()))?;
            // Recorded here, off the writer thread: nothing else may run while it works.
            m.observe(NAME, op, started - asked, ran);
            r
        }
    }

    /// One writer hands out `results.id`s (rowids) in commit order: see `closed_jobs`.
    const IDS_IN_COMMIT_ORDER: bool = true;

    /// On the read-only connection, on the blocking pool: the writer goes on meanwhile.
    fn read<R, F>(
        &self,
        op: &'static str,
        f: F,
    ) -> impl Future<Output = Result<R, StoreError>> + Send
    where
        R: Send + 'static,
        F: Fn(&mut dyn Sql) -> Result<R, StoreError> + Send + Sync + 'static,
    {
        let (reader, m) = (self.reader.clone(), self.metrics.clone());
        async move {
            let asked = Instant::now();
            let (r, started, ran) = tokio::task::spawn_blocking(move || {
                let started = Instant::now();
                (reader.read(f), started, started.elapsed())
            })
            .await
            .map_err(|e| StoreError::Join(e.to_string()))?;
            m.observe(NAME, op, started - asked, ran);
            r
        }
    }

    /// One process owns a SQLite file: it always leads.
    fn lead(&self) -> impl Future<Output = Result<bool, StoreError>> + Send {
        std::future::ready(Ok(true))
    }
}

/// A transaction body's view of the connection (inside the group's transaction).
struct Tx<'a>(&'a Connection);

impl Sql for Tx<'_> {
    fn exec(&mut self, sql: &str, p: &[V]) -> Result<u64, StoreError> {
        Ok(self.0.prepare_cached(sql)?.execute(params_from_iter(p))? as u64)
    }

    fn rows(&mut self, sql: &str, p: &[V]) -> Result<Vec<Row>, StoreError> {
        let mut out = Vec::new();
        self.each(sql, p, &mut |r| {
            out.push(r);
            Ok(())
        })?;
        Ok(out)
    }

    fn each(
        &mut self,
        sql: &str,
        p: &[V],
        f: &mut dyn FnMut(Row) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let mut st = self.0.prepare_cached(sql)?;
        let n = st.column_count();
        let mut rows = st.query(params_from_iter(p))?;
        while let Some(r) = rows.next()? {
            f(row_of(r, n)?)?;
        }
        Ok(())
    }

    fn insert_id(&mut self, sql: &str, p: &[V]) -> Result<i64, StoreError> {
        self.exec(sql, p)?;
        Ok(self.0.last_insert_rowid())
    }

    fn locks_rows(&self) -> bool {
        false
    }
}

fn row_of(r: &rusqlite::Row<'_>, n: usize) -> Result<Row, StoreError> {
    let mut row = Vec::with_capacity(n);
    for i in 0..n {
        row.push(match r.get_ref(i)? {
            ValueRef::Null => V::Null,
            ValueRef::Integer(i) => V::I(i),
            ValueRef::Real(f) => V::F(f),
            ValueRef::Text(t) => V::T(String::from_utf8_lossy(t).into_owned()),
            ValueRef::Blob(b) => V::B(b.to_vec()),
        });
    }
    Ok(Row(row))
}

impl rusqlite::ToSql for V {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match self {
            V::Null => ToSqlOutput::Owned(Value::Null),
            V::I(i) => ToSqlOutput::Owned(Value::Integer(*i)),
            V::F(f) => ToSqlOutput::Owned(Value::Real(*f)),
            V::T(s) => ToSqlOutput::Borrowed(ValueRef::Text(s.as_bytes())),
            V::B(b) => ToSqlOutput::Borrowed(ValueRef::Blob(b)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The receipt's transaction is fsynced (FULL) on a store configured OFF, and the
    /// connection is back at OFF for the next one.
    #[tokio::test]
    async fn a_durable_transaction_runs_at_full_and_the_setting_is_restored() {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = DbConfig::new(dir.path().join("db.sqlite").display().to_string());
        cfg.sqlite_synchronous = "OFF".into();
        let db = Sqlite::open(&cfg, crate::metrics::Metrics::new().store).unwrap();
        let level = |tx: &mut dyn Sql| super::super::queries::commit_durability(tx);
        assert_eq!(db.run_durable("t", level).await.unwrap(), "synchronous=2");
        assert_eq!(db.run("t", level).await.unwrap(), "synchronous=0");
        cfg.sqlite_synchronous = "EXTRA".into();
        let db = Sqlite::open(&cfg, crate::metrics::Metrics::new().store).unwrap();
        assert_eq!(db.run_durable("t", level).await.unwrap(), "synchronous=3");
    }
}
