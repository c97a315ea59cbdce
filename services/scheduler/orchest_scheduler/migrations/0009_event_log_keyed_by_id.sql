-- The event log is keyed by the event's id alone: its unique constraint
-- (an event is stored once) stays, and the primary key's index on seq goes;
-- it served no read (a run's events are read through event_log_by_run, which
-- orders them by seq) and cost an index entry for every event written. seq
-- stays an identity column; the id's index identifies a row where a primary
-- key would (replica identity).

ALTER TABLE event_log DROP CONSTRAINT event_log_pkey;
ALTER TABLE event_log REPLICA IDENTITY USING INDEX event_log_event_id_key;
