-- A no-op on PostgreSQL, numbered as SQLite's V10 (which drops `results_blob`). The index
-- stays here: retention's scan-then-recheck needs `results.id`s committed in the order they
-- were handed out, which one SQLite writer guarantees and a PostgreSQL sequence does not (a
-- transaction can commit a lower id after a higher one was seen), so a mark by id would
-- miss rows; retention looks references up by this index under the blob lock instead.
SELECT 1;
