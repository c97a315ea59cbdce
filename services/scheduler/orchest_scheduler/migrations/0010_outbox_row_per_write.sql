-- One outbox row per write, holding its messages in order (arrays of the
-- same length), instead of one row per message: a decision's three or four
-- messages cost one heap tuple, one index entry and one deletion, not three
-- or four of each. Rows left from before are converted as one-message rows.

ALTER TABLE outbox ALTER COLUMN jetstream DROP DEFAULT;
ALTER TABLE outbox
    ALTER COLUMN subject TYPE text[] USING ARRAY[subject],
    ALTER COLUMN msg_id TYPE text[] USING ARRAY[msg_id],
    ALTER COLUMN payload TYPE bytea[] USING ARRAY[payload],
    ALTER COLUMN jetstream TYPE boolean[] USING ARRAY[jetstream];
ALTER TABLE outbox RENAME COLUMN subject TO subjects;
ALTER TABLE outbox RENAME COLUMN msg_id TO msg_ids;
ALTER TABLE outbox RENAME COLUMN payload TO payloads;
ALTER TABLE outbox ADD CONSTRAINT outbox_messages CHECK (
    cardinality(subjects) > 0
    AND cardinality(msg_ids) = cardinality(subjects)
    AND cardinality(payloads) = cardinality(subjects)
    AND cardinality(jetstream) = cardinality(subjects));
