-- Jobs: a frozen definition and project snapshot, parameter sets and a
-- schedule; each execution makes one run per parameter set. Job runs are
-- queued (admitted = false) until the admission lets them start, within the
-- global and per-job limits on parallel job runs.

CREATE TABLE jobs (
    uuid                       uuid PRIMARY KEY,
    name                       text NOT NULL,
    pipeline_uuid              text NOT NULL,
    project_uuid               text,
    project_dir                text NOT NULL,
    snapshot_dir               text NOT NULL,
    pipeline_definition        jsonb NOT NULL,
    run_type                   text NOT NULL,
    run_uuids                  text[] NOT NULL DEFAULT '{}',
    parameters                 jsonb NOT NULL,
    env_variables              jsonb NOT NULL DEFAULT '{}',
    status                     text NOT NULL
        CHECK (status IN ('DRAFT', 'PENDING', 'STARTED', 'PAUSED', 'SUCCESS', 'FAILURE',
                          'ABORTED')),
    scheduled_start            timestamptz,
    cron_schedule              text,
    next_scheduled_time        timestamptz,
    last_scheduled_time        timestamptz,
    total_scheduled_executions integer NOT NULL DEFAULT 0,
    max_retained_pipeline_runs integer NOT NULL DEFAULT -1,
    max_parallel_runs          integer CHECK (max_parallel_runs > 0),
    idempotency_key            text UNIQUE,
    created_time               timestamptz NOT NULL,
    finished_time              timestamptz
);

CREATE INDEX jobs_due ON jobs (next_scheduled_time) WHERE next_scheduled_time IS NOT NULL;
CREATE INDEX jobs_by_time ON jobs (created_time DESC);

ALTER TABLE runs
    ADD COLUMN admitted boolean NOT NULL DEFAULT true,
    ADD COLUMN admitted_time timestamptz,
    ADD COLUMN job_run_index integer,
    ADD COLUMN job_run_pipeline_run_index integer,
    ADD COLUMN parameters jsonb;

-- One run per (execution, parameter set): a tick fired twice cannot make
-- its runs twice.
CREATE UNIQUE INDEX runs_job_execution
    ON runs (job_uuid, job_run_index, job_run_pipeline_run_index)
    WHERE job_uuid IS NOT NULL;
CREATE INDEX runs_job_queued ON runs (job_uuid, job_run_index, job_run_pipeline_run_index)
    WHERE job_uuid IS NOT NULL AND NOT admitted AND status = 'PENDING';
CREATE INDEX runs_job_active ON runs (job_uuid)
    WHERE job_uuid IS NOT NULL AND admitted AND status IN ('PENDING', 'STARTED');
