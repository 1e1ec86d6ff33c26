-- The lease order (issue 14, blind verification): each tile's place in line, a keyed hash
-- of (job, frame, tile) under the store's secret salt within a band of frames
-- (`scheduler::pick_key`), written at registration. Jobs registered before keep key 0 and
-- so their frame order. The pick is still one index range that stops at its first row.
ALTER TABLE tiles ADD COLUMN pick_key BIGINT NOT NULL DEFAULT 0;
DROP INDEX IF EXISTS tiles_pick;
CREATE INDEX tiles_pick ON tiles(job_id, state, need, pick_key, frame, tile);
