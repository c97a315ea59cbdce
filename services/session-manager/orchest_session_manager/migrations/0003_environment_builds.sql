-- Environment builds (docs/environments.md): each build of an environment
-- defined in a project's .orchest/environments, what it made, and the builds
-- jobs pinned.

CREATE TABLE environment_builds (
    uuid             uuid PRIMARY KEY,
    project_uuid     text NOT NULL,
    environment_uuid text NOT NULL,
    environment_name text NOT NULL DEFAULT '',
    builder          text NOT NULL CHECK (builder IN ('process', 'docker')),
    status           text NOT NULL
        CHECK (status IN ('PENDING', 'STARTED', 'SUCCESS', 'FAILURE', 'ABORTED')),
    reason           text,
    exit_code        integer,
    venv_path        text,
    image            text,
    size_bytes       bigint,
    spec             jsonb NOT NULL,
    owner            text NOT NULL DEFAULT '',
    created_time     timestamptz NOT NULL DEFAULT clock_timestamp(),
    started_time     timestamptz,
    finished_time    timestamptz
);

CREATE INDEX environment_builds_by_environment
    ON environment_builds (environment_uuid, created_time DESC);
CREATE INDEX environment_builds_by_project
    ON environment_builds (project_uuid, created_time DESC);

CREATE TABLE environment_pins (
    job_uuid         text NOT NULL,
    environment_uuid text NOT NULL,
    build_uuid       uuid NOT NULL REFERENCES environment_builds (uuid),
    PRIMARY KEY (job_uuid, environment_uuid)
);
