//! The domain queries: each a few statements of one transaction, in SQL both backends read
//! alike (see [`super::sql`]).
use super::sql::{p, row, Row, Sql};
use super::{now_ms, tile_state, Counts, JobRow, NodeRecord, PaidVerification, ResultRow, TileRow};
use crate::error::StoreError;

pub(crate) const JOB_COLS: &str = "job_id, job_key, scene_hash, frame_start, frame_end, width, height, tile_size, spp, price_per_tile, budget, deadline, state, created_ms, leases_issued, receipt_sig, error, pass, frame_rate_num, frame_rate_den, verify_bps";
pub(crate) const TILE_COLS: &str = "job_id, frame, tile, state, need, node, pixel_hash, signature, blob, lease_id, lease_node, lease_deadline, failures";

fn job_from_row(r: &Row) -> Result<JobRow, StoreError> {
    Ok(JobRow {
        job_id: r.get(0)?,
        job_key: r.get(1)?,
        scene_hash: r.get(2)?,
        frame_start: r.get(3)?,
        frame_end: r.get(4)?,
        width: r.get(5)?,
        height: r.get(6)?,
        tile_size: r.get(7)?,
        spp: r.get(8)?,
        price_per_tile: r.get(9)?,
        budget: r.get(10)?,
        deadline: r.get(11)?,
        state: r.get(12)?,
        created_ms: r.get(13)?,
        leases_issued: r.get(14)?,
        receipt_sig: r.get(15)?,
        error: r.get(16)?,
        pass: r.get(17)?,
        frame_rate: (r.get(18)?, r.get(19)?),
        verify_bps: r.get(20)?,
    })
}

pub(crate) fn tile_from_row(r: &Row) -> Result<TileRow, StoreError> {
    Ok(TileRow {
        job_id: r.get(0)?,
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

pub(super) fn all<T>(
    rows: Vec<Row>,
    f: impl Fn(&Row) -> Result<T, StoreError>,
) -> Result<Vec<T>, StoreError> {
    rows.iter().map(f).collect()
}

/// A random per-database secret (verification sampling must not be predictable by nodes).
pub fn salt(c: &mut dyn Sql) -> Result<[u8; 32], StoreError> {
    if let Some(r) = row(c, "SELECT value FROM meta WHERE key='salt'", p![])? {
        let v: Vec<u8> = r.get(0)?;
        return v.try_into().map_err(|_| StoreError::Corrupt("salt".into()));
    }
    let kp = solana_sdk::signature::Keypair::new();
    let mut salt = [0u8; 32];
    salt.copy_from_slice(&kp.to_bytes()[..32]);
    c.exec(
        "INSERT INTO meta(key, value) VALUES('salt', ?1)",
        p![&salt[..]],
    )?;
    Ok(salt)
}

/// Records an uploaded scene, kept until `expires_ms` unless a job registers with it
/// (re-uploading an unused scene pushes its expiry back). True when it is new.
pub fn scene_insert(
    c: &mut dyn Sql,
    hash: &str,
    size: usize,
    expires_ms: i64,
) -> Result<bool, StoreError> {
    let n = c.exec(
        "INSERT INTO scenes(hash, size, created_ms, expires_ms) VALUES(?1, ?2, ?3, ?4)
         ON CONFLICT DO NOTHING",
        p![hash, size as i64, now_ms(), expires_ms],
    )?;
    if n == 0 {
        c.exec(
            "UPDATE scenes SET expires_ms=CASE WHEN expires_ms > ?2 THEN expires_ms ELSE ?2 END
             WHERE hash=?1 AND expires_ms IS NOT NULL",
            p![hash, expires_ms],
        )?;
    }
    Ok(n == 1)
}

/// A scene a registered job uses: kept while any job that uses it is unfinished.
pub fn scene_in_use(c: &mut dyn Sql, hash: &str) -> Result<(), StoreError> {
    c.exec("UPDATE scenes SET expires_ms=NULL WHERE hash=?1", p![hash])?;
    Ok(())
}

/// Scenes no unfinished job uses get an expiry `ttl_ms` from now; those past their expiry
/// are forgotten. Returns the forgotten hashes (their blobs are the caller's to delete).
pub fn expire_scenes(c: &mut dyn Sql, now: i64, ttl_ms: i64) -> Result<Vec<String>, StoreError> {
    const IDLE: &str = "NOT EXISTS (SELECT 1 FROM jobs j WHERE j.scene_hash=scenes.hash
        AND j.state IN ('rendering','ready','posting'))";
    c.exec(
        &format!("UPDATE scenes SET expires_ms=?1 WHERE expires_ms IS NULL AND {IDLE}"),
        p![now + ttl_ms],
    )?;
    // One statement, so a scene a job registers with meanwhile (expiry cleared) stays.
    let gone = all(
        c.rows(
            &format!("DELETE FROM scenes WHERE expires_ms < ?1 AND {IDLE} RETURNING hash"),
            p![now],
        )?,
        |r| r.get(0),
    )?;
    for h in &gone {
        c.exec("DELETE FROM node_scenes WHERE scene_hash=?1", p![h])?;
    }
    Ok(gone)
}

pub fn scene_exists(c: &mut dyn Sql, hash: &str) -> Result<bool, StoreError> {
    Ok(row(c, "SELECT 1 FROM scenes WHERE hash=?1", p![hash])?.is_some())
}

/// Inserts a job and all its tiles (queued). Returns false when the job already existed.
pub fn job_insert(c: &mut dyn Sql, j: &JobRow, tiles_per_frame: u32) -> Result<bool, StoreError> {
    let n = c.exec(
        &format!("INSERT INTO jobs({JOB_COLS}) VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,0,NULL,NULL,
          COALESCE((SELECT MIN(pass) FROM jobs WHERE state='rendering'), 0),?15,?16,?17) ON CONFLICT DO NOTHING"),
        p![
            j.job_id, &j.job_key, &j.scene_hash, j.frame_start, j.frame_end, j.width,
            j.height, j.tile_size, j.spp, j.price_per_tile, j.budget, j.deadline,
            &j.state, j.created_ms, j.frame_rate.0, j.frame_rate.1, j.verify_bps
        ],
    )?;
    if n == 0 {
        return Ok(false);
    }
    scene_in_use(c, &j.scene_hash)?;
    // Each tile's place in the lease line, under the store's salt (`scheduler::pick_key`).
    let salt = salt(c)?;
    let mut line: Vec<(i64, u32, u32)> = (j.frame_start..=j.frame_end)
        .flat_map(|frame| (0..tiles_per_frame).map(move |tile| (frame, tile)))
        .map(|(frame, tile)| {
            let offset = frame - j.frame_start;
            let key = crate::scheduler::pick_key(&salt, &j.job_key, offset, frame, tile);
            (key, frame, tile)
        })
        .collect();
    // Stored in lease order (SQLite's rowids, PostgreSQL's heap): the tiles leased and
    // submitted one after another share pages, so a group commit rewrites a few pages of
    // the table instead of one page per tile.
    line.sort_unstable();
    for (key, frame, tile) in line {
        c.exec(
            "INSERT INTO tiles(job_id, frame, tile, state, need, pick_key) VALUES(?1, ?2, ?3, 'queued', 'primary', ?4)",
            p![j.job_id, frame, tile, key],
        )?;
    }
    Ok(true)
}

pub fn job_get(c: &mut dyn Sql, job_id: u64) -> Result<Option<JobRow>, StoreError> {
    row(
        c,
        &format!("SELECT {JOB_COLS} FROM jobs WHERE job_id=?1"),
        p![job_id],
    )?
    .map(|r| job_from_row(&r))
    .transpose()
}

pub fn jobs_in_state(c: &mut dyn Sql, state: &str) -> Result<Vec<JobRow>, StoreError> {
    all(
        c.rows(
            &format!("SELECT {JOB_COLS} FROM jobs WHERE state=?1 ORDER BY job_id"),
            p![state],
        )?,
        job_from_row,
    )
}

pub fn job_set_state(
    c: &mut dyn Sql,
    job_id: u64,
    state: &str,
    error: Option<&str>,
) -> Result<(), StoreError> {
    c.exec(
        "UPDATE jobs SET state=?2, error=?3 WHERE job_id=?1",
        p![job_id, state, error],
    )?;
    Ok(())
}

/// Persists the signed receipt transaction (before it is ever sent).
pub fn job_set_receipt_tx(
    c: &mut dyn Sql,
    job_id: u64,
    tx: &[u8],
    sig: &str,
) -> Result<(), StoreError> {
    c.exec(
        "UPDATE jobs SET state='posting', receipt_tx=?2, receipt_sig=?3 WHERE job_id=?1",
        p![job_id, tx, sig],
    )?;
    Ok(())
}

/// The durability setting of the running transaction's commit (`synchronous=N` on SQLite,
/// `synchronous_commit=…` on PostgreSQL).
pub fn commit_durability(c: &mut dyn Sql) -> Result<String, StoreError> {
    if c.locks_rows() {
        let r = row(c, "SELECT current_setting('synchronous_commit')", p![])?;
        let v: String = r
            .ok_or_else(|| StoreError::Corrupt("setting".into()))?
            .get(0)?;
        return Ok(format!("synchronous_commit={v}"));
    }
    let r = row(c, "PRAGMA synchronous", p![])?;
    let v: i64 = r
        .ok_or_else(|| StoreError::Corrupt("pragma".into()))?
        .get(0)?;
    Ok(format!("synchronous={v}"))
}

pub fn job_receipt_tx(c: &mut dyn Sql, job_id: u64) -> Result<Option<Vec<u8>>, StoreError> {
    match row(c, "SELECT receipt_tx FROM jobs WHERE job_id=?1", p![job_id])? {
        Some(r) => r.get(0),
        None => Ok(None),
    }
}

pub fn counts(c: &mut dyn Sql, job_id: u64) -> Result<Counts, StoreError> {
    let mut out = Counts::default();
    let rows = c.rows(
        "SELECT state, COUNT(*), CAST(SUM(failures) AS BIGINT) FROM tiles WHERE job_id=?1 GROUP BY state",
        p![job_id],
    )?;
    for r in rows {
        let state: String = r.get(0)?;
        let n: u64 = r.get(1)?;
        out.failed += r.get::<Option<u64>>(2)?.unwrap_or(0);
        out.total += n;
        match state.as_str() {
            tile_state::QUEUED => out.queued = n,
            tile_state::LEASED => out.leased = n,
            tile_state::RENDERED => out.rendered = n,
            tile_state::VERIFIED => out.verified = n,
            tile_state::UNSETTLED => out.unsettled = n,
            _ => {}
        }
    }
    Ok(out)
}

/// (frame, verified tiles, tiles) for each frame of a job.
pub fn frame_progress(c: &mut dyn Sql, job_id: u64) -> Result<Vec<(u32, u64, u64)>, StoreError> {
    all(
        c.rows(
            "SELECT frame, CAST(SUM(CASE WHEN state='verified' THEN 1 ELSE 0 END) AS BIGINT), COUNT(*)
             FROM tiles WHERE job_id=?1 GROUP BY frame ORDER BY frame",
            p![job_id],
        )?,
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )
}

/// Verified tiles finished in the last `window_ms` (for the ETA).
pub fn recent_done(c: &mut dyn Sql, job_id: u64, since_ms: i64) -> Result<u64, StoreError> {
    count(
        c,
        "SELECT COUNT(*) FROM tiles WHERE job_id=?1 AND state='verified' AND done_ms>=?2",
        p![job_id, since_ms],
    )
}

/// The value of a `SELECT COUNT(*) …`.
pub fn count(c: &mut dyn Sql, sql: &str, params: &[super::sql::V]) -> Result<u64, StoreError> {
    row(c, sql, params)?
        .ok_or_else(|| StoreError::Corrupt("COUNT without a row".into()))?
        .get(0)
}

pub fn queue_depth(c: &mut dyn Sql) -> Result<u64, StoreError> {
    count(c,
        "SELECT COUNT(*) FROM tiles t JOIN jobs j ON j.job_id=t.job_id WHERE j.state='rendering' AND t.state IN ('queued','rendered')",
        p![],
    )
}

pub fn tiles_of_frame(
    c: &mut dyn Sql,
    job_id: u64,
    frame: u32,
) -> Result<Vec<TileRow>, StoreError> {
    all(
        c.rows(
            &format!("SELECT {TILE_COLS} FROM tiles WHERE job_id=?1 AND frame=?2 ORDER BY tile"),
            p![job_id, frame],
        )?,
        tile_from_row,
    )
}

pub fn tiles_of_job(c: &mut dyn Sql, job_id: u64) -> Result<Vec<TileRow>, StoreError> {
    all(
        c.rows(
            &format!("SELECT {TILE_COLS} FROM tiles WHERE job_id=?1 ORDER BY frame, tile"),
            p![job_id],
        )?,
        tile_from_row,
    )
}

/// The check and tiebreak renders the receipt pays: results that agreed with the render a
/// verified tile kept, by another node (the kept render is the tile's primary leaf).
pub fn paid_verifications(
    c: &mut dyn Sql,
    job_id: u64,
) -> Result<Vec<PaidVerification>, StoreError> {
    all(
        c.rows(
            "SELECT r.frame, r.tile, r.role, r.node, r.pixel_hash, r.signature FROM results r
               JOIN tiles t ON t.job_id=r.job_id AND t.frame=r.frame AND t.tile=r.tile
             WHERE r.job_id=?1 AND t.state='verified' AND r.verdict='agreed'
               AND r.role IN ('check', 'tiebreak') AND r.node != t.node
             ORDER BY r.frame, r.tile, r.id",
            p![job_id],
        )?,
        |r| {
            Ok(PaidVerification {
                frame: r.get(0)?,
                tile: r.get(1)?,
                role: r.get(2)?,
                node: r.get(3)?,
                pixel_hash: r.get(4)?,
                signature: r.get(5)?,
            })
        },
    )
}

/// Locks a job's row to the end of the transaction (PostgreSQL; SQLite runs one
/// transaction at a time anyway): submits to one job apply in turn, so the one that
/// verifies the last tile sees every other verified.
pub fn lock_job(c: &mut dyn Sql, job_id: u64) -> Result<(), StoreError> {
    if c.locks_rows() {
        c.exec("SELECT 1 FROM jobs WHERE job_id=?1 FOR UPDATE", p![job_id])?;
    }
    Ok(())
}

/// One node's leases in turn (PostgreSQL), so its lease caps hold across instances.
pub fn lock_node(c: &mut dyn Sql, node: &str) -> Result<(), StoreError> {
    if c.locks_rows() {
        c.exec(
            "SELECT pg_advisory_xact_lock(hashtextextended(?1, 0))",
            p![node],
        )?;
    }
    Ok(())
}

/// The tile a lease holds. On PostgreSQL the row stays locked to the end of the
/// transaction, so two submits of one lease (on any instance) apply one after the other.
pub fn tile_by_lease(c: &mut dyn Sql, lease_id: i64) -> Result<Option<TileRow>, StoreError> {
    let lock = if c.locks_rows() { " FOR UPDATE" } else { "" };
    row(
        c,
        &format!("SELECT {TILE_COLS} FROM tiles WHERE lease_id=?1{lock}"),
        p![lease_id],
    )?
    .map(|r| tile_from_row(&r))
    .transpose()
}

/// Tiles of running jobs waiting for their comparison (`tile_state::NEED_COMPARE`), a batch.
pub fn comparisons_due(c: &mut dyn Sql) -> Result<Vec<(u64, u32, u32)>, StoreError> {
    c.rows(
        "SELECT t.job_id, t.frame, t.tile FROM tiles t JOIN jobs j ON j.job_id=t.job_id
         WHERE j.state='rendering' AND t.state='rendered' AND t.need='compare'
         ORDER BY t.job_id, t.frame, t.tile LIMIT 64",
        p![],
    )?
    .iter()
    .map(|r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
    .collect()
}

/// Tiles of one job waiting for their comparison, whatever the job's state.
pub fn job_comparisons_due(c: &mut dyn Sql, job_id: u64) -> Result<Vec<(u32, u32)>, StoreError> {
    c.rows(
        "SELECT frame, tile FROM tiles WHERE job_id=?1 AND state='rendered' AND need='compare'
         ORDER BY frame, tile",
        p![job_id],
    )?
    .iter()
    .map(|r| Ok((r.get(0)?, r.get(1)?)))
    .collect()
}

/// One tile (locked on PostgreSQL until the transaction ends).
pub fn tile_at(
    c: &mut dyn Sql,
    job_id: u64,
    frame: u32,
    tile: u32,
) -> Result<Option<TileRow>, StoreError> {
    let lock = if c.locks_rows() { " FOR UPDATE" } else { "" };
    row(
        c,
        &format!("SELECT {TILE_COLS} FROM tiles WHERE job_id=?1 AND frame=?2 AND tile=?3{lock}"),
        p![job_id, frame, tile],
    )?
    .map(|r| tile_from_row(&r))
    .transpose()
}

pub fn results_of_tile(
    c: &mut dyn Sql,
    job_id: u64,
    frame: u32,
    tile: u32,
) -> Result<Vec<ResultRow>, StoreError> {
    all(
        c.rows(
            "SELECT id, node, role, pixel_hash, signature, blob, verdict, COALESCE(operator, node),
               witness
             FROM results WHERE job_id=?1 AND frame=?2 AND tile=?3 ORDER BY id",
            p![job_id, frame, tile],
        )?,
        |r| {
            Ok(ResultRow {
                id: r.get(0)?,
                node: r.get(1)?,
                role: r.get(2)?,
                pixel_hash: r.get(3)?,
                signature: r.get(4)?,
                blob: r.get(5)?,
                verdict: r.get(6)?,
                operator: r.get(7)?,
                witness: r.get(8)?,
            })
        },
    )
}

/// Returns every lease past its deadline to the queue; the tiles they held.
pub fn expire_leases(c: &mut dyn Sql, now: i64) -> Result<Vec<(u64, u32, u32)>, StoreError> {
    const REQUEUE: &str = "UPDATE tiles SET lease_id=NULL, lease_node=NULL, lease_deadline=NULL,
           state=CASE need WHEN 'primary' THEN 'queued' ELSE 'rendered' END
         WHERE lease_id IS NOT NULL AND lease_deadline < ?1";
    let tile = |r: &Row| Ok((r.get(0)?, r.get(1)?, r.get(2)?));
    if c.locks_rows() {
        // One statement that reads and writes: PostgreSQL returns exactly the rows it
        // re-queued, whatever other transactions do meanwhile.
        return all(
            c.rows(&format!("{REQUEUE} RETURNING job_id, frame, tile"), p![now])?,
            tile,
        );
    }
    // SQLite (one transaction at a time): the read alone on every lease, the write only
    // when a lease expired.
    let expired = all(
        c.rows(
            "SELECT job_id, frame, tile FROM tiles WHERE lease_id IS NOT NULL AND lease_deadline < ?1",
            p![now],
        )?,
        tile,
    )?;
    if !expired.is_empty() {
        c.exec(REQUEUE, p![now])?;
    }
    Ok(expired)
}

/// Extends a lease held by `node` to `deadline`, but never past `issued + max_lifetime_ms`;
/// the new deadline, or None when it is not held or has reached its total lifetime
/// (it then lapses at its current deadline, and the tile goes to another node).
pub fn heartbeat(
    c: &mut dyn Sql,
    lease_id: i64,
    node: &str,
    deadline: i64,
    now: i64,
    max_lifetime_ms: i64,
) -> Result<Option<i64>, StoreError> {
    let issued: Option<i64> =
        match row(c, "SELECT issued_ms FROM leases WHERE id=?1", p![lease_id])? {
            Some(r) => Some(r.get(0)?),
            None => None,
        };
    let Some(last) = issued.map(|i| i.saturating_add(max_lifetime_ms)) else {
        return Ok(None);
    };
    if last <= now {
        return Ok(None);
    }
    let deadline = deadline.min(last);
    let n = c.exec(
        "UPDATE tiles SET lease_deadline=CASE WHEN lease_deadline > ?3 THEN lease_deadline ELSE ?3 END
         WHERE lease_id=?1 AND lease_node=?2 AND lease_deadline>=?4",
        p![lease_id, node, deadline, now],
    )?;
    Ok((n == 1).then_some(deadline))
}

/// Leases `node` holds, per job.
pub fn leases_held(c: &mut dyn Sql, node: &str) -> Result<Vec<(u64, u32)>, StoreError> {
    all(
        c.rows(
            "SELECT job_id, COUNT(*) FROM tiles WHERE lease_node=?1 AND lease_id IS NOT NULL GROUP BY job_id",
            p![node],
        )?,
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
}

/// A malformed or dishonest submit: the lease is released (the tile goes back to whoever
/// may take it next), the tile's failures and the node's reputation record it.
pub fn refuse_submission(c: &mut dyn Sql, lease_id: i64, node: &str) -> Result<(), StoreError> {
    c.exec(
        "UPDATE tiles SET failures=failures+1, lease_id=NULL, lease_node=NULL, lease_deadline=NULL,
           state=CASE need WHEN 'primary' THEN 'queued' ELSE 'rendered' END
         WHERE lease_id=?1 AND lease_node=?2",
        p![lease_id, node],
    )?;
    node_adjust(c, node, -0.1, 0, 0, 0)
}

/// True when every tile of the job is verified.
pub fn job_complete(c: &mut dyn Sql, job_id: u64) -> Result<bool, StoreError> {
    Ok(row(
        c,
        "SELECT 1 FROM tiles WHERE job_id=?1 AND state!='verified' LIMIT 1",
        p![job_id],
    )?
    .is_none())
}

/// Records a request signature; false if it was already seen (a replay).
pub fn remember_signature(c: &mut dyn Sql, sig: &str, ts: i64) -> Result<bool, StoreError> {
    let n = c.exec(
        "INSERT INTO seen_sigs(sig, ts_ms) VALUES(?1, ?2) ON CONFLICT DO NOTHING",
        p![sig, ts],
    )?;
    Ok(n == 1)
}

/// Forgets signatures older than `before` (they fail the timestamp check anyway).
pub fn forget_signatures(c: &mut dyn Sql, before: i64) -> Result<u64, StoreError> {
    c.exec("DELETE FROM seen_sigs WHERE ts_ms < ?1", p![before])
}

/// (reputation, verified tiles) of a node; new nodes start at 0.5.
pub fn node_standing(c: &mut dyn Sql, node: &str) -> Result<(f64, i64), StoreError> {
    match row(
        c,
        "SELECT reputation, verified FROM nodes WHERE node_key=?1",
        p![node],
    )? {
        Some(r) => Ok((r.get(0)?, r.get(1)?)),
        None => Ok((0.5, 0)),
    }
}

/// Adds `delta` to a node's reputation (clamped to [0, 1]) and bumps its counters.
pub fn node_adjust(
    c: &mut dyn Sql,
    node: &str,
    delta: f64,
    verified: i64,
    faults: i64,
    tiles: i64,
) -> Result<(), StoreError> {
    c.exec(
        "INSERT INTO nodes(node_key) VALUES(?1) ON CONFLICT(node_key) DO NOTHING",
        p![node],
    )?;
    c.exec(
        "UPDATE nodes SET reputation=CASE WHEN reputation + ?2 > 1.0 THEN 1.0
             WHEN reputation + ?2 < 0.0 THEN 0.0 ELSE reputation + ?2 END,
           verified=verified+?3, faults=faults+?4, tiles=tiles+?5 WHERE node_key=?1",
        p![node, delta, verified, faults, tiles],
    )?;
    Ok(())
}

pub fn node_record(c: &mut dyn Sql, node: &str) -> Result<Option<NodeRecord>, StoreError> {
    row(
        c,
        "SELECT reputation, tiles, verified, faults FROM nodes WHERE node_key=?1",
        p![node],
    )?
    .map(|r| {
        Ok(NodeRecord {
            reputation: r.get(0)?,
            tiles: r.get(1)?,
            verified: r.get(2)?,
            faults: r.get(3)?,
        })
    })
    .transpose()
}

/// (job, tiles credited) for every job in which the node holds an accepted tile.
pub fn jobs_of_node(c: &mut dyn Sql, node: &str) -> Result<Vec<(u64, u64)>, StoreError> {
    all(
        c.rows(
            "SELECT job_id, COUNT(*) FROM tiles WHERE node=?1 AND state='verified' GROUP BY job_id ORDER BY job_id",
            p![node],
        )?,
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
}

pub fn node_holds_scene(c: &mut dyn Sql, node: &str, scene: &str) -> Result<bool, StoreError> {
    Ok(row(
        c,
        "SELECT 1 FROM node_scenes WHERE node_key=?1 AND scene_hash=?2",
        p![node, scene],
    )?
    .is_some())
}

pub fn node_add_scene(c: &mut dyn Sql, node: &str, scene: &str) -> Result<(), StoreError> {
    c.exec(
        "INSERT INTO node_scenes(node_key, scene_hash) VALUES(?1, ?2) ON CONFLICT DO NOTHING",
        p![node, scene],
    )?;
    Ok(())
}

pub fn is_banned(c: &mut dyn Sql, job_id: u64, node: &str) -> Result<bool, StoreError> {
    Ok(row(
        c,
        "SELECT 1 FROM job_bans WHERE job_id=?1 AND node_key=?2",
        p![job_id, node],
    )?
    .is_some())
}

pub fn evidence_of_job(c: &mut dyn Sql, job_id: u64) -> Result<Vec<serde_json::Value>, StoreError> {
    all(
        c.rows(
            "SELECT frame, tile, node, created_ms, detail FROM evidence WHERE job_id=?1 ORDER BY id",
            p![job_id],
        )?,
        |r| {
            let detail: String = r.get(4)?;
            Ok(serde_json::json!({
                "frame": r.get::<u32>(0)?, "tile": r.get::<u32>(1)?,
                "faulty_node": r.get::<String>(2)?, "created_ms": r.get::<i64>(3)?,
                "detail": serde_json::from_str::<serde_json::Value>(&detail).unwrap_or_default(),
            }))
        },
    )
}
