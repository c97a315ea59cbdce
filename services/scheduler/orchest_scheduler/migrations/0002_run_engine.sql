-- What the run engine needs: per-step scheduling state, per-run event
-- sequence, and the outbox of messages to publish after each commit.

ALTER TABLE runs
    ADD COLUMN project_uuid  text,
    ADD COLUMN env_variables jsonb NOT NULL DEFAULT '{}',
    ADD COLUMN definition_key text NOT NULL DEFAULT '',
    ADD COLUMN abort_requested boolean NOT NULL DEFAULT false,
    ADD COLUMN event_seq     integer NOT NULL DEFAULT 0,
    ADD COLUMN version       integer NOT NULL DEFAULT 0;

ALTER TABLE run_steps
    ADD COLUMN file_path       text NOT NULL DEFAULT '',
    ADD COLUMN position        integer NOT NULL DEFAULT 0,
    ADD COLUMN parents         text[] NOT NULL DEFAULT '{}',
    ADD COLUMN dispatched      boolean NOT NULL DEFAULT false,
    ADD COLUMN retry_at        timestamptz,
    ADD COLUMN max_retries     integer NOT NULL DEFAULT 0,
    ADD COLUMN retry_backoff   double precision NOT NULL DEFAULT 1.0,
    ADD COLUMN timeout_seconds double precision,
    ADD COLUMN runner_id       text,
    ADD COLUMN lost_leases     integer NOT NULL DEFAULT 0,
    ADD COLUMN artifacts       jsonb NOT NULL DEFAULT '[]';

CREATE INDEX run_steps_waiting_retry ON run_steps (retry_at) WHERE retry_at IS NOT NULL;

ALTER TABLE event_log ADD COLUMN sequence integer;

-- Messages decided in a transaction, published after its commit, deleted
-- once published; what a crash leaves here is published at the next start.
CREATE TABLE outbox (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    subject    text NOT NULL,
    msg_id     text,
    payload    bytea NOT NULL,
    jetstream  boolean NOT NULL DEFAULT true,
    created_at timestamptz NOT NULL DEFAULT now()
);
