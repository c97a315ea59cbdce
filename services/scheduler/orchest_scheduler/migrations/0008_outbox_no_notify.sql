-- A commit of outbox rows no longer notifies anyone. A write whose reply is
-- lost is settled by its writer instead: the backend that held it is
-- terminated (it can commit nothing afterwards), then the rows it committed
-- are read back by its pid, kept in the "writer" column (see outbox.py).
-- The NOTIFY cost every commit a database-wide lock held through the
-- commit's WAL flush, and woke the listening backend and the scheduler.

DROP TRIGGER outbox_notify ON outbox;
DROP FUNCTION outbox_notify();
