-- Fewer WAL bytes per submit (issue 15): retention no longer looks blob references up by
-- this index on SQLite. It scans `results` on a read-only connection, outside the blob lock
-- and off the writer, notes the highest `results.id` it saw, and under the lock re-checks
-- only rows above that mark, a rowid range (`store/closed_jobs.rs`).
DROP INDEX IF EXISTS results_blob;
