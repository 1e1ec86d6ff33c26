-- Second renders prefer witnesses (issue 14): when a tile began waiting for its check or
-- tiebreak (`wait_ms`), so a node that does not qualify as a witness of the job takes it
-- only after `witness_wait_ms`; tiles waiting at the upgrade start their wait now. And
-- whether each render's node qualified as a witness of the job when it submitted
-- (`witness`): a conviction needs a quorum of witnesses (`verify::settle`); older rows
-- count as not qualified, so they never convict.
ALTER TABLE tiles ADD COLUMN wait_ms INTEGER;
UPDATE tiles SET wait_ms = CAST(strftime('%s', 'now') AS INTEGER) * 1000
  WHERE state IN ('rendered', 'leased') AND need IN ('check', 'tiebreak', 'compare');
ALTER TABLE results ADD COLUMN witness INTEGER NOT NULL DEFAULT 0;
