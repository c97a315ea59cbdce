-- The report whose answer handed a step's running attempt to its runner
-- (null: the attempt was claimed, or the step is not running). A report
-- asked again after a scheduler restart gets the same attempt in its answer.

ALTER TABLE run_steps ADD COLUMN handed_by text;
