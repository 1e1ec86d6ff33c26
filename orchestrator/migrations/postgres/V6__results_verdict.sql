-- Verification renders by verdict within a job: the sampler counts the job's agreed check
-- and tiebreak renders and its inconclusive rounds on every drawn check (`verify::room_for_check`),
-- an index range instead of a scan of the job's results.
CREATE INDEX results_verdict ON results(job_id, verdict, role);
