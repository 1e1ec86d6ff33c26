-- The job's verification share (`verify_bps`), fixed at creation on-chain and copied at
-- registration, so building a receipt or a manifest needs no chain read. Rows from before
-- are taken at the largest share, which only widens what a rebuilt receipt may pay.
ALTER TABLE jobs ADD COLUMN verify_bps INTEGER NOT NULL DEFAULT 10000;
