-- Closed jobs (seen Settled/Resolved or gone on-chain) and when their results were purged
-- (`retention.rs`); blob indexes so a purge finds the blobs other jobs still reference.
CREATE TABLE job_closed(job_id BIGINT PRIMARY KEY, closed_ms BIGINT NOT NULL, purged_ms BIGINT);
CREATE INDEX tiles_blob ON tiles(blob) WHERE blob IS NOT NULL;
CREATE INDEX results_blob ON results(blob);
