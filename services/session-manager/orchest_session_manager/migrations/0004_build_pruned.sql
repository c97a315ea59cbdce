-- A process build's venv removed once newer builds superseded it
-- (docs/environments.md): the row stays, as history; pruned_time says when
-- its folder went.

ALTER TABLE environment_builds ADD COLUMN pruned_time timestamptz;
