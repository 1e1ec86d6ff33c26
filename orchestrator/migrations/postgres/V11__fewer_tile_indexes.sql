-- Fewer index writes per lease and submit (issue 15, round 7): measured by WAL frame, these
-- three took 36% of the pages a lease+submit wrote.
-- `tiles_node` moved an entry on every submit (NULL -> node) and is read only when a faulty
-- node's other tiles are redone (now a search of the job's tiles by primary key, a rare
-- path) and by a node's standing (a scan either way, on the read connection).
DROP INDEX IF EXISTS tiles_node;
-- `results_tile` is a prefix of `results_node`, which serves its lookups.
DROP INDEX IF EXISTS results_tile;
-- Only leased tiles need finding by lease: NULL entries (every other tile) moved in and out
-- of the index on every lease and submit. `lease_id = ?` implies the partial index's WHERE.
DROP INDEX IF EXISTS tiles_lease;
CREATE INDEX tiles_lease ON tiles(lease_id) WHERE lease_id IS NOT NULL;
