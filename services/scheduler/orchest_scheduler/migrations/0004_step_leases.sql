-- Each running attempt's lease, kept by the scheduler: set when its claim is
-- granted (the runner says how long), renewed by the runner's heartbeats,
-- and ended by the lease sweep once it lapses. work_attempt is the attempt
-- the step's live work message carries (a lapsed lease is counted once,
-- whether a redelivered claim or the sweep sees it first).

ALTER TABLE run_steps
    ADD COLUMN lease_expires_at timestamptz,
    ADD COLUMN lease_seconds    double precision NOT NULL DEFAULT 30,
    ADD COLUMN work_attempt     integer NOT NULL DEFAULT 0;

-- Attempts running when this was applied: their runners get a lease to
-- heartbeat before the sweep may end them.
UPDATE run_steps SET lease_expires_at = now() + interval '30 seconds' WHERE status = 'STARTED';

CREATE INDEX run_steps_lease ON run_steps (lease_expires_at) WHERE status = 'STARTED';
