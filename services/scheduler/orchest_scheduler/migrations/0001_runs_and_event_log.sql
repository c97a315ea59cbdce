-- Runs, their steps, and the event log: the scheduler's tables.
-- Applied inside the "scheduler" schema (search_path), in one transaction.

CREATE TABLE runs (
    uuid                uuid PRIMARY KEY,
    pipeline_uuid       text NOT NULL,
    job_uuid            uuid,
    run_type            text NOT NULL,
    status              text NOT NULL
        CHECK (status IN ('PENDING', 'STARTED', 'SUCCESS', 'FAILURE', 'ABORTED')),
    pipeline_definition jsonb NOT NULL,
    project_dir         text NOT NULL,
    idempotency_key     text UNIQUE,
    created_time        timestamptz NOT NULL DEFAULT now(),
    started_time        timestamptz,
    finished_time       timestamptz
);

CREATE INDEX runs_by_pipeline ON runs (pipeline_uuid, created_time DESC);
CREATE INDEX runs_by_job ON runs (job_uuid, created_time DESC) WHERE job_uuid IS NOT NULL;
CREATE INDEX runs_unfinished ON runs (created_time) WHERE status IN ('PENDING', 'STARTED');

CREATE TABLE run_steps (
    run_uuid      uuid NOT NULL REFERENCES runs (uuid) ON DELETE CASCADE,
    step_uuid     text NOT NULL,
    title         text NOT NULL DEFAULT '',
    status        text NOT NULL
        CHECK (status IN ('PENDING', 'STARTED', 'SUCCESS', 'FAILURE', 'ABORTED')),
    attempt       integer NOT NULL DEFAULT 0 CHECK (attempt >= 0),
    started_time  timestamptz,
    finished_time timestamptz,
    exit_code     integer,
    error         text,
    PRIMARY KEY (run_uuid, step_uuid)
);

-- Every event, once: keyed by its id, so a redelivered event is a no-op.
-- seq orders the events of a run as they were persisted.
CREATE TABLE event_log (
    seq         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id    text NOT NULL UNIQUE,
    kind        text NOT NULL,
    run_uuid    uuid,
    job_uuid    uuid,
    occurred_at timestamptz NOT NULL,
    payload     jsonb NOT NULL
);

CREATE INDEX event_log_by_run ON event_log (run_uuid, seq) WHERE run_uuid IS NOT NULL;
