-- Committed outbox rows wake the scheduler replicas: the statement that
-- inserts them also queues a NOTIFY on the channel "<schema>.outbox", which
-- Postgres delivers when (and only if) the transaction commits, to every
-- connection listening on it (each replica has one), with the writing
-- backend's pid. Each row keeps that pid too, so the replica whose write
-- lost its reply finds the rows of that write and publishes them.

ALTER TABLE outbox ADD COLUMN writer integer NOT NULL DEFAULT pg_backend_pid();

CREATE FUNCTION outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- A statement-level trigger also fires for a statement that inserted no
    -- row (a write whose version guard failed): nothing to announce then.
    IF EXISTS (SELECT 1 FROM inserted) THEN
        PERFORM pg_notify(TG_TABLE_SCHEMA || '.outbox', '');
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER outbox_notify AFTER INSERT ON outbox
    REFERENCING NEW TABLE AS inserted
    FOR EACH STATEMENT EXECUTE FUNCTION outbox_notify();
