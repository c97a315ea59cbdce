-- Projects: folders holding pipelines (*.orchest files) and step files. A
-- managed project is a folder of the projects directory (its folder name is
-- its name); a registered one is a folder elsewhere, recorded by its path.
-- The uuid never changes, not even when a managed project is renamed.

CREATE TABLE projects (
    uuid          uuid PRIMARY KEY,
    name          text NOT NULL UNIQUE,
    path          text NOT NULL UNIQUE,
    managed       boolean NOT NULL,
    env_variables jsonb NOT NULL DEFAULT '{}',
    idempotency_key text UNIQUE,
    created_at    timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL
);
