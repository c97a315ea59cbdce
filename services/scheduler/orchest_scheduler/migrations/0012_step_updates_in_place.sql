-- A decision's update of a step changes its status and its lease, so the
-- lease index (on lease_expires_at, where status = 'STARTED') made every
-- such update a new tuple with a new entry in each of the table's indexes
-- (never HOT). The lease sweep finds running attempts through the runs not
-- ended instead (runs_unfinished, then run_steps' primary key): a step is
-- STARTED only in a run that is STARTED. With no index on a column that a
-- decision or a heartbeat changes, those updates are HOT (the new version on
-- the same page, no index entry), given room on the page: new pages keep
-- some free (fillfactor). Pages written before keep theirs as they are.

DROP INDEX run_steps_lease;
ALTER TABLE run_steps SET (fillfactor = 80);
