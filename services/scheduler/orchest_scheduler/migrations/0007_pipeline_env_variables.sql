-- A pipeline's env variables (Orchest kept them beside the pipeline file, not
-- in it): layered project < pipeline < job < run when a run or job starts.

CREATE TABLE pipeline_env_variables (
    project_uuid  uuid NOT NULL REFERENCES projects (uuid) ON DELETE CASCADE,
    pipeline_uuid text NOT NULL,
    env_variables jsonb NOT NULL,
    PRIMARY KEY (project_uuid, pipeline_uuid)
);
