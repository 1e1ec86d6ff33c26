-- Blind verification (issue 14): the on-chain operator (stake owner) of each render, so a
-- check or tiebreak never goes to an operator who already rendered the tile and a
-- conviction counts agreeing operators, not keys. NULL on older rows: read as the node key.
ALTER TABLE results ADD COLUMN operator TEXT;
-- What the chain last said about a job at `finalized` (`reconcile.rs`).
CREATE TABLE job_chain(job_id BIGINT PRIMARY KEY, chain_state TEXT NOT NULL,
  checked_ms BIGINT NOT NULL);
