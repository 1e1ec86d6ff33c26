-- Fewer WAL bytes per accepted tile (issue 15): retention finds a blob's references in
-- `results` alone, since a tile's blob is always one of its job's result rows' blobs
-- (`store/closed_jobs.rs`), so the index of tiles by blob is no longer read.
DROP INDEX IF EXISTS tiles_blob;
