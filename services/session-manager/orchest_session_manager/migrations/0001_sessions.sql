-- Interactive sessions. Applied inside the "session_manager" schema.

CREATE TABLE sessions (
    uuid          uuid PRIMARY KEY,
    project_uuid  text NOT NULL,
    pipeline_uuid text NOT NULL,
    project_dir   text NOT NULL,
    pipeline_path text NOT NULL,
    runtime       text NOT NULL CHECK (runtime IN ('docker', 'process')),
    status        text NOT NULL
        CHECK (status IN ('LAUNCHING', 'RUNNING', 'STOPPING', 'STOPPED', 'FAILED')),
    reason        text,
    jupyter_url   text,
    jupyter_token text,
    eg_url        text,
    created_time  timestamptz NOT NULL DEFAULT now(),
    updated_time  timestamptz NOT NULL DEFAULT now()
);

-- One live session per (project, pipeline); ended ones stay as history.
CREATE UNIQUE INDEX sessions_one_live_per_pipeline
    ON sessions (project_uuid, pipeline_uuid)
    WHERE status IN ('LAUNCHING', 'RUNNING', 'STOPPING');
