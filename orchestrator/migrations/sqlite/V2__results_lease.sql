-- One result per lease: a submit is accepted once, whichever instance receives it.
ALTER TABLE results ADD COLUMN lease_id INTEGER;
CREATE UNIQUE INDEX IF NOT EXISTS results_lease ON results(lease_id);
