-- What runs for a session (pids or container ids, as its runtime reports
-- them), and which session-manager host owns it.
ALTER TABLE sessions
    ADD COLUMN details jsonb NOT NULL DEFAULT '{}',
    ADD COLUMN owner   text NOT NULL DEFAULT '';
