//! The SQLite store: the only module that speaks SQL. Every state change is one committed
//! transaction (WAL journal) before the API acknowledges it, so `kill -9` at any moment
//! loses nothing that a client was told about.
use std::path::Path;
use std::sync::{Arc, Mutex};

use rusqlite::{params, Connection, OptionalExtension, Transaction};
use serde::Serialize;

use crate::error::StoreError;

const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS scenes(hash TEXT PRIMARY KEY, size INTEGER NOT NULL, created_ms INTEGER NOT NULL,
  expires_ms INTEGER);
CREATE TABLE IF NOT EXISTS jobs(
  job_id INTEGER PRIMARY KEY, job_key TEXT NOT NULL, scene_hash TEXT NOT NULL,
  frame_start INTEGER NOT NULL, frame_end INTEGER NOT NULL, width INTEGER NOT NULL,
  height INTEGER NOT NULL, tile_size INTEGER NOT NULL, spp INTEGER NOT NULL,
  price_per_tile INTEGER NOT NULL, budget INTEGER NOT NULL, deadline INTEGER NOT NULL,
  state TEXT NOT NULL, created_ms INTEGER NOT NULL, leases_issued INTEGER NOT NULL DEFAULT 0,
  pass REAL NOT NULL DEFAULT 0,
  receipt_tx BLOB, receipt_sig TEXT, error TEXT,
  frame_rate_num INTEGER NOT NULL DEFAULT 24, frame_rate_den INTEGER NOT NULL DEFAULT 1);
CREATE TABLE IF NOT EXISTS tiles(
  job_id INTEGER NOT NULL, frame INTEGER NOT NULL, tile INTEGER NOT NULL,
  state TEXT NOT NULL, need TEXT NOT NULL,
  node TEXT, pixel_hash TEXT, signature TEXT, blob TEXT,
  lease_id INTEGER, lease_node TEXT, lease_deadline INTEGER,
  failures INTEGER NOT NULL DEFAULT 0, done_ms INTEGER,
  PRIMARY KEY(job_id, frame, tile));
DROP INDEX IF EXISTS tiles_state;
CREATE INDEX IF NOT EXISTS tiles_pick ON tiles(job_id, state, need, frame, tile);
CREATE INDEX IF NOT EXISTS tiles_lease ON tiles(lease_id);
CREATE INDEX IF NOT EXISTS tiles_lease_deadline ON tiles(lease_deadline) WHERE lease_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS tiles_lease_node ON tiles(lease_node) WHERE lease_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS tiles_node ON tiles(job_id, node);
CREATE TABLE IF NOT EXISTS leases(
  id INTEGER PRIMARY KEY AUTOINCREMENT, job_id INTEGER NOT NULL, frame INTEGER NOT NULL,
  tile INTEGER NOT NULL, node TEXT NOT NULL, role TEXT NOT NULL, issued_ms INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS results(
  id INTEGER PRIMARY KEY AUTOINCREMENT, job_id INTEGER NOT NULL, frame INTEGER NOT NULL,
  tile INTEGER NOT NULL, node TEXT NOT NULL, role TEXT NOT NULL, pixel_hash TEXT NOT NULL,
  signature TEXT NOT NULL, blob TEXT NOT NULL, submitted_ms INTEGER NOT NULL,
  verdict TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS results_tile ON results(job_id, frame, tile);
CREATE INDEX IF NOT EXISTS results_node ON results(job_id, frame, tile, node);
CREATE TABLE IF NOT EXISTS nodes(
  node_key TEXT PRIMARY KEY, reputation REAL NOT NULL DEFAULT 0.5,
  tiles INTEGER NOT NULL DEFAULT 0, verified INTEGER NOT NULL DEFAULT 0,
  faults INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS node_scenes(node_key TEXT NOT NULL, scene_hash TEXT NOT NULL,
  PRIMARY KEY(node_key, scene_hash));
CREATE TABLE IF NOT EXISTS job_bans(job_id INTEGER NOT NULL, node_key TEXT NOT NULL,
  PRIMARY KEY(job_id, node_key));
CREATE TABLE IF NOT EXISTS evidence(
  id INTEGER PRIMARY KEY AUTOINCREMENT, job_id INTEGER NOT NULL, frame INTEGER NOT NULL,
  tile INTEGER NOT NULL, node TEXT NOT NULL, created_ms INTEGER NOT NULL, detail TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS seen_sigs(sig TEXT PRIMARY KEY, ts_ms INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS seen_sigs_ts ON seen_sigs(ts_ms);
CREATE INDEX IF NOT EXISTS jobs_state ON jobs(state);
CREATE INDEX IF NOT EXISTS jobs_scene ON jobs(scene_hash);
"#;

/// Job states in the store.
pub mod job_state {
    /// Tiles are being rendered and verified.
    pub const RENDERING: &str = "rendering";
    /// Every tile verified; the receipt is to be built.
    pub const READY: &str = "ready";
    /// Cancelled or past its deadline on-chain: no more leases; the receipt of the tiles
    /// verified so far is to be built and posted within the job's settle grace.
    pub const PARTIAL: &str = "partial";
    /// The signed `post_receipt` transaction is persisted and being sent/confirmed.
    pub const POSTING: &str = "posting";
    /// The receipt is on-chain.
    pub const POSTED: &str = "posted";
    /// The receipt could not be posted (see `error`).
    pub const FAILED: &str = "failed";
}

/// Tile states (`state` column) and what a tile waits for (`need`).
pub mod tile_state {
    pub const QUEUED: &str = "queued";
    pub const LEASED: &str = "leased";
    pub const RENDERED: &str = "rendered";
    pub const VERIFIED: &str = "verified";
    pub const NEED_PRIMARY: &str = "primary";
    pub const NEED_CHECK: &str = "check";
    pub const NEED_TIEBREAK: &str = "tiebreak";
    pub const NEED_NONE: &str = "none";
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// A registered job as stored.
#[derive(Clone, Debug, Serialize)]
pub struct JobRow {
    pub job_id: u64,
    pub job_key: String,
    pub scene_hash: String,
    pub frame_start: u32,
    pub frame_end: u32,
    pub width: u32,
    pub height: u32,
    pub tile_size: u32,
    pub spp: u32,
    pub price_per_tile: u64,
    pub budget: u64,
    pub deadline: i64,
    pub state: String,
    pub created_ms: i64,
    pub leases_issued: i64,
    /// Fair-share virtual time: grows by `1 / weight` per lease (stride scheduling).
    pub pass: f64,
    pub receipt_sig: Option<String>,
    pub error: Option<String>,
    /// The job's frames per second as recorded on-chain (frame → scene time).
    pub frame_rate: (u32, u32),
}

/// One tile as stored.
#[derive(Clone, Debug, Serialize)]
pub struct TileRow {
    pub job_id: u64,
    pub frame: u32,
    pub tile: u32,
    pub state: String,
    pub need: String,
    pub node: Option<String>,
    pub pixel_hash: Option<String>,
    pub signature: Option<String>,
    pub blob: Option<String>,
    pub lease_id: Option<i64>,
    pub lease_node: Option<String>,
    pub lease_deadline: Option<i64>,
    pub failures: i64,
}

/// One submitted render of a tile (kept as evidence).
#[derive(Clone, Debug, Serialize)]
pub struct ResultRow {
    pub id: i64,
    pub node: String,
    pub role: String,
    pub pixel_hash: String,
    pub signature: String,
    pub blob: String,
    pub verdict: String,
}

/// Per-state tile counts of a job.
#[derive(Clone, Debug, Default, Serialize, PartialEq, Eq)]
pub struct Counts {
    pub total: u64,
    pub queued: u64,
    pub leased: u64,
    pub rendered: u64,
    pub verified: u64,
    pub failed: u64,
}

/// Shared handle to the database. SQLite work runs on the blocking pool.
#[derive(Clone)]
pub struct Store {
    conn: Arc<Mutex<Connection>>,
}

impl Store {
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let conn = Connection::open(path)?;
        // WAL + synchronous=NORMAL: a committed transaction survives a process crash
        // (kill -9); FULL additionally survives power loss at the cost of an fsync per commit.
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.set_prepared_statement_cache_capacity(128);
        conn.execute_batch(SCHEMA)?;
        add_frame_rate_columns(&conn)?;
        add_column(&conn, "scenes", "expires_ms", "INTEGER")?;
        Ok(Self {
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    /// Runs `f` in one immediate transaction on the blocking pool; commits when it returns Ok.
    pub async fn tx<R, E, F>(&self, f: F) -> Result<R, E>
    where
        R: Send + 'static,
        E: From<StoreError> + Send + 'static,
        F: FnOnce(&Transaction) -> Result<R, E> + Send + 'static,
    {
        let conn = self.conn.clone();
        tokio::task::spawn_blocking(move || {
            let mut guard = conn.lock().unwrap_or_else(|p| p.into_inner());
            let tx = guard
                .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                .map_err(StoreError::from)?;
            let r = f(&tx)?;
            tx.commit().map_err(StoreError::from)?;
            Ok(r)
        })
        .await
        .map_err(|e| E::from(StoreError::Join(e.to_string())))?
    }
}

/// Stores made before jobs carried a frame rate get the columns (their jobs were 24 fps).
fn add_frame_rate_columns(c: &Connection) -> Result<(), StoreError> {
    let has: bool = c
        .prepare("SELECT 1 FROM pragma_table_info('jobs') WHERE name='frame_rate_num'")?
        .exists([])?;
    if !has {
        c.execute_batch(
            "ALTER TABLE jobs ADD COLUMN frame_rate_num INTEGER NOT NULL DEFAULT 24;
             ALTER TABLE jobs ADD COLUMN frame_rate_den INTEGER NOT NULL DEFAULT 1;",
        )?;
    }
    Ok(())
}

/// Runs a statement from the connection's prepared-statement cache.
pub fn exec<P: rusqlite::Params>(c: &Connection, sql: &str, p: P) -> rusqlite::Result<usize> {
    c.prepare_cached(sql)?.execute(p)
}

/// One row of a cached statement.
pub fn row<T, P, F>(c: &Connection, sql: &str, p: P, f: F) -> rusqlite::Result<T>
where
    P: rusqlite::Params,
    F: FnOnce(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
{
    c.prepare_cached(sql)?.query_row(p, f)
}

/// Adds a column that stores made by older versions lack.
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

fn job_from_row(r: &rusqlite::Row) -> rusqlite::Result<JobRow> {
    Ok(JobRow {
        job_id: r.get::<_, i64>(0)? as u64,
        job_key: r.get(1)?,
        scene_hash: r.get(2)?,
        frame_start: r.get(3)?,
        frame_end: r.get(4)?,
        width: r.get(5)?,
        height: r.get(6)?,
        tile_size: r.get(7)?,
        spp: r.get(8)?,
        price_per_tile: r.get::<_, i64>(9)? as u64,
        budget: r.get::<_, i64>(10)? as u64,
        deadline: r.get(11)?,
        state: r.get(12)?,
        created_ms: r.get(13)?,
        leases_issued: r.get(14)?,
        receipt_sig: r.get(15)?,
        error: r.get(16)?,
        pass: r.get(17)?,
        frame_rate: (r.get(18)?, r.get(19)?),
    })
}

const JOB_COLS: &str = "job_id, job_key, scene_hash, frame_start, frame_end, width, height, tile_size, spp, price_per_tile, budget, deadline, state, created_ms, leases_issued, receipt_sig, error, pass, frame_rate_num, frame_rate_den";
const TILE_COLS: &str = "job_id, frame, tile, state, need, node, pixel_hash, signature, blob, lease_id, lease_node, lease_deadline, failures";

fn tile_from_row(r: &rusqlite::Row) -> rusqlite::Result<TileRow> {
    Ok(TileRow {
        job_id: r.get::<_, i64>(0)? as u64,
        frame: r.get(1)?,
        tile: r.get(2)?,
        state: r.get(3)?,
        need: r.get(4)?,
        node: r.get(5)?,
        pixel_hash: r.get(6)?,
        signature: r.get(7)?,
        blob: r.get(8)?,
        lease_id: r.get(9)?,
        lease_node: r.get(10)?,
        lease_deadline: r.get(11)?,
        failures: r.get(12)?,
    })
}

/// A random per-database secret (verification sampling must not be predictable by nodes).
pub fn salt(c: &Connection) -> Result<[u8; 32], StoreError> {
    let existing: Option<Vec<u8>> = c
        .query_row("SELECT value FROM meta WHERE key='salt'", [], |r| r.get(0))
        .optional()?;
    if let Some(v) = existing {
        return v.try_into().map_err(|_| StoreError::Corrupt("salt".into()));
    }
    let kp = solana_sdk::signature::Keypair::new();
    let mut salt = [0u8; 32];
    salt.copy_from_slice(&kp.to_bytes()[..32]);
    exec(
        c,
        "INSERT INTO meta(key, value) VALUES('salt', ?1)",
        params![salt.to_vec()],
    )?;
    Ok(salt)
}

/// Records an uploaded scene, kept until `expires_ms` unless a job registers with it
/// (re-uploading an unused scene pushes its expiry back). True when it is new.
pub fn scene_insert(
    c: &Connection,
    hash: &str,
    size: usize,
    expires_ms: i64,
) -> Result<bool, StoreError> {
    let n = c.prepare_cached(
        "INSERT OR IGNORE INTO scenes(hash, size, created_ms, expires_ms) VALUES(?1, ?2, ?3, ?4)",
    )?
    .execute(params![hash, size as i64, now_ms(), expires_ms])?;
    if n == 0 {
        c.prepare_cached(
            "UPDATE scenes SET expires_ms=MAX(expires_ms, ?2) WHERE hash=?1 AND expires_ms IS NOT NULL",
        )?
        .execute(params![hash, expires_ms])?;
    }
    Ok(n == 1)
}

/// A scene a registered job uses: kept while any job that uses it is unfinished.
pub fn scene_in_use(c: &Connection, hash: &str) -> Result<(), StoreError> {
    c.prepare_cached("UPDATE scenes SET expires_ms=NULL WHERE hash=?1")?
        .execute([hash])?;
    Ok(())
}

/// Scenes no unfinished job uses get an expiry `ttl_ms` from now; those past their expiry
/// are forgotten. Returns the forgotten hashes (their blobs are the caller's to delete).
pub fn expire_scenes(c: &Connection, now: i64, ttl_ms: i64) -> Result<Vec<String>, StoreError> {
    const IDLE: &str = "NOT EXISTS (SELECT 1 FROM jobs j WHERE j.scene_hash=scenes.hash
        AND j.state IN ('rendering','ready','posting'))";
    c.prepare_cached(&format!(
        "UPDATE scenes SET expires_ms=?1 WHERE expires_ms IS NULL AND {IDLE}"
    ))?
    .execute([now + ttl_ms])?;
    let gone: Vec<String> = c
        .prepare_cached(&format!(
            "SELECT hash FROM scenes WHERE expires_ms < ?1 AND {IDLE}"
        ))?
        .query_map([now], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    for h in &gone {
        c.prepare_cached("DELETE FROM scenes WHERE hash=?1")?
            .execute([h])?;
        c.prepare_cached("DELETE FROM node_scenes WHERE scene_hash=?1")?
            .execute([h])?;
    }
    Ok(gone)
}

pub fn scene_exists(c: &Connection, hash: &str) -> Result<bool, StoreError> {
    Ok(
        row(c, "SELECT 1 FROM scenes WHERE hash=?1", [hash], |_| Ok(()))
            .optional()?
            .is_some(),
    )
}

/// Inserts a job and all its tiles (queued). Returns false when the job already existed.
pub fn job_insert(c: &Connection, j: &JobRow, tiles_per_frame: u32) -> Result<bool, StoreError> {
    let n = exec(c,
        &format!("INSERT OR IGNORE INTO jobs({JOB_COLS}) VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,0,NULL,NULL,
          COALESCE((SELECT MIN(pass) FROM jobs WHERE state='rendering'), 0),?15,?16)"),
        params![
            j.job_id as i64, j.job_key, j.scene_hash, j.frame_start, j.frame_end, j.width,
            j.height, j.tile_size, j.spp, j.price_per_tile as i64, j.budget as i64, j.deadline,
            j.state, j.created_ms, j.frame_rate.0, j.frame_rate.1
        ],
    )?;
    if n == 0 {
        return Ok(false);
    }
    scene_in_use(c, &j.scene_hash)?;
    let mut ins = c.prepare_cached(
        "INSERT INTO tiles(job_id, frame, tile, state, need) VALUES(?1, ?2, ?3, 'queued', 'primary')",
    )?;
    for frame in j.frame_start..=j.frame_end {
        for tile in 0..tiles_per_frame {
            ins.execute(params![j.job_id as i64, frame, tile])?;
        }
    }
    Ok(true)
}

pub fn job_get(c: &Connection, job_id: u64) -> Result<Option<JobRow>, StoreError> {
    Ok(row(
        c,
        &format!("SELECT {JOB_COLS} FROM jobs WHERE job_id=?1"),
        [job_id as i64],
        job_from_row,
    )
    .optional()?)
}

pub fn jobs_in_state(c: &Connection, state: &str) -> Result<Vec<JobRow>, StoreError> {
    let mut st = c.prepare_cached(&format!(
        "SELECT {JOB_COLS} FROM jobs WHERE state=?1 ORDER BY job_id"
    ))?;
    let rows = st.query_map([state], job_from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub fn job_set_state(
    c: &Connection,
    job_id: u64,
    state: &str,
    error: Option<&str>,
) -> Result<(), StoreError> {
    exec(
        c,
        "UPDATE jobs SET state=?2, error=?3 WHERE job_id=?1",
        params![job_id as i64, state, error],
    )?;
    Ok(())
}

/// Persists the signed receipt transaction (before it is ever sent).
pub fn job_set_receipt_tx(
    c: &Connection,
    job_id: u64,
    tx: &[u8],
    sig: &str,
) -> Result<(), StoreError> {
    exec(
        c,
        "UPDATE jobs SET state='posting', receipt_tx=?2, receipt_sig=?3 WHERE job_id=?1",
        params![job_id as i64, tx, sig],
    )?;
    Ok(())
}

pub fn job_receipt_tx(c: &Connection, job_id: u64) -> Result<Option<Vec<u8>>, StoreError> {
    Ok(row(
        c,
        "SELECT receipt_tx FROM jobs WHERE job_id=?1",
        [job_id as i64],
        |r| r.get::<_, Option<Vec<u8>>>(0),
    )
    .optional()?
    .flatten())
}

pub fn counts(c: &Connection, job_id: u64) -> Result<Counts, StoreError> {
    let mut out = Counts::default();
    let mut st = c.prepare_cached(
        "SELECT state, COUNT(*), SUM(failures) FROM tiles WHERE job_id=?1 GROUP BY state",
    )?;
    let mut rows = st.query([job_id as i64])?;
    while let Some(r) = rows.next()? {
        let state: String = r.get(0)?;
        let n = r.get::<_, i64>(1)? as u64;
        out.failed += r.get::<_, Option<i64>>(2)?.unwrap_or(0) as u64;
        out.total += n;
        match state.as_str() {
            tile_state::QUEUED => out.queued = n,
            tile_state::LEASED => out.leased = n,
            tile_state::RENDERED => out.rendered = n,
            tile_state::VERIFIED => out.verified = n,
            _ => {}
        }
    }
    Ok(out)
}

/// (frame, verified tiles, tiles) for each frame of a job.
pub fn frame_progress(c: &Connection, job_id: u64) -> Result<Vec<(u32, u64, u64)>, StoreError> {
    let mut st = c.prepare_cached(
        "SELECT frame, SUM(state='verified'), COUNT(*) FROM tiles WHERE job_id=?1 GROUP BY frame ORDER BY frame",
    )?;
    let rows = st.query_map([job_id as i64], |r| {
        Ok((
            r.get(0)?,
            r.get::<_, i64>(1)? as u64,
            r.get::<_, i64>(2)? as u64,
        ))
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Verified tiles finished in the last `window_ms` (for the ETA).
pub fn recent_done(c: &Connection, job_id: u64, since_ms: i64) -> Result<u64, StoreError> {
    Ok(row(
        c,
        "SELECT COUNT(*) FROM tiles WHERE job_id=?1 AND state='verified' AND done_ms>=?2",
        params![job_id as i64, since_ms],
        |r| r.get::<_, i64>(0),
    )? as u64)
}

pub fn queue_depth(c: &Connection) -> Result<u64, StoreError> {
    Ok(row(c,
        "SELECT COUNT(*) FROM tiles t JOIN jobs j ON j.job_id=t.job_id WHERE j.state='rendering' AND t.state IN ('queued','rendered')",
        [],
        |r| r.get::<_, i64>(0),
    )? as u64)
}

pub fn tiles_of_frame(c: &Connection, job_id: u64, frame: u32) -> Result<Vec<TileRow>, StoreError> {
    let mut st = c.prepare_cached(&format!(
        "SELECT {TILE_COLS} FROM tiles WHERE job_id=?1 AND frame=?2 ORDER BY tile"
    ))?;
    let rows = st.query_map(params![job_id as i64, frame], tile_from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub fn tiles_of_job(c: &Connection, job_id: u64) -> Result<Vec<TileRow>, StoreError> {
    let mut st = c.prepare_cached(&format!(
        "SELECT {TILE_COLS} FROM tiles WHERE job_id=?1 ORDER BY frame, tile"
    ))?;
    let rows = st.query_map(params![job_id as i64], tile_from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub fn tile_get(
    c: &Connection,
    job_id: u64,
    frame: u32,
    tile: u32,
) -> Result<Option<TileRow>, StoreError> {
    Ok(row(
        c,
        &format!("SELECT {TILE_COLS} FROM tiles WHERE job_id=?1 AND frame=?2 AND tile=?3"),
        params![job_id as i64, frame, tile],
        tile_from_row,
    )
    .optional()?)
}

pub fn tile_by_lease(c: &Connection, lease_id: i64) -> Result<Option<TileRow>, StoreError> {
    Ok(row(
        c,
        &format!("SELECT {TILE_COLS} FROM tiles WHERE lease_id=?1"),
        [lease_id],
        tile_from_row,
    )
    .optional()?)
}

pub fn results_of_tile(
    c: &Connection,
    job_id: u64,
    frame: u32,
    tile: u32,
) -> Result<Vec<ResultRow>, StoreError> {
    let mut st = c.prepare_cached(
        "SELECT id, node, role, pixel_hash, signature, blob, verdict FROM results WHERE job_id=?1 AND frame=?2 AND tile=?3 ORDER BY id",
    )?;
    let rows = st.query_map(params![job_id as i64, frame, tile], |r| {
        Ok(ResultRow {
            id: r.get(0)?,
            node: r.get(1)?,
            role: r.get(2)?,
            pixel_hash: r.get(3)?,
            signature: r.get(4)?,
            blob: r.get(5)?,
            verdict: r.get(6)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Returns every lease past its deadline to the queue; the tiles they held.
pub fn expire_leases(c: &Connection, now: i64) -> Result<Vec<(u64, u32, u32)>, StoreError> {
    let mut st = c.prepare_cached(
        "SELECT job_id, frame, tile FROM tiles WHERE lease_id IS NOT NULL AND lease_deadline < ?1",
    )?;
    let expired: Vec<(u64, u32, u32)> = st
        .query_map([now], |r| {
            Ok((r.get::<_, i64>(0)? as u64, r.get(1)?, r.get(2)?))
        })?
        .collect::<Result<_, _>>()?;
    if !expired.is_empty() {
        c.prepare_cached(
            "UPDATE tiles SET lease_id=NULL, lease_node=NULL, lease_deadline=NULL,
               state=CASE need WHEN 'primary' THEN 'queued' ELSE 'rendered' END
             WHERE lease_id IS NOT NULL AND lease_deadline < ?1",
        )?
        .execute([now])?;
    }
    Ok(expired)
}

/// Extends a lease held by `node` to `deadline`, but never past `issued + max_lifetime_ms`;
/// the new deadline, or None when it is not held or has reached its total lifetime
/// (it then lapses at its current deadline, and the tile goes to another node).
pub fn heartbeat(
    c: &Connection,
    lease_id: i64,
    node: &str,
    deadline: i64,
    now: i64,
    max_lifetime_ms: i64,
) -> Result<Option<i64>, StoreError> {
    let issued: Option<i64> = c
        .prepare_cached("SELECT issued_ms FROM leases WHERE id=?1")?
        .query_row([lease_id], |r| r.get(0))
        .optional()?;
    let Some(last) = issued.map(|i| i.saturating_add(max_lifetime_ms)) else {
        return Ok(None);
    };
    if last <= now {
        return Ok(None);
    }
    let deadline = deadline.min(last);
    let n = c
        .prepare_cached(
            "UPDATE tiles SET lease_deadline=MAX(lease_deadline, ?3)
             WHERE lease_id=?1 AND lease_node=?2 AND lease_deadline>=?4",
        )?
        .execute(params![lease_id, node, deadline, now])?;
    Ok((n == 1).then_some(deadline))
}

/// Leases `node` holds, per job.
pub fn leases_held(c: &Connection, node: &str) -> Result<Vec<(u64, u32)>, StoreError> {
    let mut st = c.prepare_cached(
        "SELECT job_id, COUNT(*) FROM tiles WHERE lease_node=?1 AND lease_id IS NOT NULL GROUP BY job_id",
    )?;
    let rows = st.query_map([node], |r| Ok((r.get::<_, i64>(0)? as u64, r.get(1)?)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// A malformed or dishonest submit: the lease is released (the tile goes back to whoever
/// may take it next), the tile's failures and the node's reputation record it.
pub fn refuse_submission(c: &Connection, lease_id: i64, node: &str) -> Result<(), StoreError> {
    c.prepare_cached(
        "UPDATE tiles SET failures=failures+1, lease_id=NULL, lease_node=NULL, lease_deadline=NULL,
           state=CASE need WHEN 'primary' THEN 'queued' ELSE 'rendered' END
         WHERE lease_id=?1 AND lease_node=?2",
    )?
    .execute(params![lease_id, node])?;
    node_adjust(c, node, -0.1, 0, 0, 0)
}

/// True when every tile of the job is verified.
pub fn job_complete(c: &Connection, job_id: u64) -> Result<bool, StoreError> {
    Ok(c.prepare_cached(
        "SELECT NOT EXISTS (SELECT 1 FROM tiles WHERE job_id=?1 AND state!='verified')",
    )?
    .query_row([job_id as i64], |r| r.get(0))?)
}

/// Records a request signature; false if it was already seen (a replay).
pub fn remember_signature(c: &Connection, sig: &str, ts: i64) -> Result<bool, StoreError> {
    let n = c
        .prepare_cached("INSERT OR IGNORE INTO seen_sigs(sig, ts_ms) VALUES(?1, ?2)")?
        .execute(params![sig, ts])?;
    Ok(n == 1)
}

/// Forgets signatures older than `before` (they fail the timestamp check anyway).
pub fn forget_signatures(c: &Connection, before: i64) -> Result<usize, StoreError> {
    Ok(c.prepare_cached("DELETE FROM seen_sigs WHERE ts_ms < ?1")?
        .execute([before])?)
}

/// (reputation, verified tiles) of a node; new nodes start at 0.5.
pub fn node_standing(c: &Connection, node: &str) -> Result<(f64, i64), StoreError> {
    Ok(row(
        c,
        "SELECT reputation, verified FROM nodes WHERE node_key=?1",
        [node],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
    .optional()?
    .unwrap_or((0.5, 0)))
}

/// Adds `delta` to a node's reputation (clamped to [0, 1]) and bumps its counters.
pub fn node_adjust(
    c: &Connection,
    node: &str,
    delta: f64,
    verified: i64,
    faults: i64,
    tiles: i64,
) -> Result<(), StoreError> {
    exec(
        c,
        "INSERT INTO nodes(node_key) VALUES(?1) ON CONFLICT(node_key) DO NOTHING",
        [node],
    )?;
    exec(
        c,
        "UPDATE nodes SET reputation=MIN(1.0, MAX(0.0, reputation + ?2)), verified=verified+?3,
           faults=faults+?4, tiles=tiles+?5 WHERE node_key=?1",
        params![node, delta, verified, faults, tiles],
    )?;
    Ok(())
}

/// A node's counters as this orchestrator recorded them.
#[derive(Debug, Clone, Copy)]
pub struct NodeRecord {
    pub reputation: f64,
    pub tiles: i64,
    pub verified: i64,
    pub faults: i64,
}

pub fn node_record(c: &Connection, node: &str) -> Result<Option<NodeRecord>, StoreError> {
    Ok(row(
        c,
        "SELECT reputation, tiles, verified, faults FROM nodes WHERE node_key=?1",
        [node],
        |r| {
            Ok(NodeRecord {
                reputation: r.get(0)?,
                tiles: r.get(1)?,
                verified: r.get(2)?,
                faults: r.get(3)?,
            })
        },
    )
    .optional()?)
}

/// (job, tiles credited) for every job in which the node holds an accepted tile.
pub fn jobs_of_node(c: &Connection, node: &str) -> Result<Vec<(u64, u64)>, StoreError> {
    let mut st = c.prepare_cached(
        "SELECT job_id, COUNT(*) FROM tiles WHERE node=?1 AND state='verified' GROUP BY job_id ORDER BY job_id",
    )?;
    let rows = st.query_map([node], |r| {
        Ok((r.get::<_, i64>(0)? as u64, r.get::<_, i64>(1)? as u64))
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub fn node_holds_scene(c: &Connection, node: &str, scene: &str) -> Result<bool, StoreError> {
    Ok(row(
        c,
        "SELECT 1 FROM node_scenes WHERE node_key=?1 AND scene_hash=?2",
        [node, scene],
        |_| Ok(()),
    )
    .optional()?
    .is_some())
}

pub fn node_add_scene(c: &Connection, node: &str, scene: &str) -> Result<(), StoreError> {
    exec(
        c,
        "INSERT OR IGNORE INTO node_scenes(node_key, scene_hash) VALUES(?1, ?2)",
        [node, scene],
    )?;
    Ok(())
}

pub fn is_banned(c: &Connection, job_id: u64, node: &str) -> Result<bool, StoreError> {
    Ok(row(
        c,
        "SELECT 1 FROM job_bans WHERE job_id=?1 AND node_key=?2",
        params![job_id as i64, node],
        |_| Ok(()),
    )
    .optional()?
    .is_some())
}

pub fn evidence_of_job(c: &Connection, job_id: u64) -> Result<Vec<serde_json::Value>, StoreError> {
    let mut st = c.prepare_cached(
        "SELECT frame, tile, node, created_ms, detail FROM evidence WHERE job_id=?1 ORDER BY id",
    )?;
    let rows = st.query_map([job_id as i64], |r| {
        let detail: String = r.get(4)?;
        Ok(serde_json::json!({
            "frame": r.get::<_, u32>(0)?, "tile": r.get::<_, u32>(1)?,
            "faulty_node": r.get::<_, String>(2)?, "created_ms": r.get::<_, i64>(3)?,
            "detail": serde_json::from_str::<serde_json::Value>(&detail).unwrap_or_default(),
        }))
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}
