-- The schema as it stood before versioned migrations (IF NOT EXISTS: older stores are adopted).
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
