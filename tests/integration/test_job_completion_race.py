"""A job's completion racing a manual trigger, on the real Postgres.

A run-once job ends (``SUCCESS``) when its last run ends; a ``trigger`` (allowed
on an ended job) makes it ``STARTED`` again with new queued runs. When the
completion's statement starts while the trigger's transaction holds the job's
row, it must see the trigger's runs once the lock is released, or the job ends
with a run queued that the admission (live jobs only) never starts."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import asyncpg
from runs_harness import Project, event_log, whole_stack

from orchest_scheduler import job_store
from orchest_scheduler.job_store import JobRecord
from orchest_scheduler.service import SCHEMA
from orchest_schemas.events import JobStatusChanged
from orchest_service.database import create_pool
from support import eventually


async def queue_a_copy_of(conn: asyncpg.Connection, run_uuid: str) -> str:
    """What a trigger writes: a new queued run of the job (here a copy of one
    of its ended runs, as the next execution)."""
    columns = [
        r["column_name"]
        for r in await conn.fetch(
            "SELECT column_name FROM information_schema.columns"
            " WHERE table_schema = $1 AND table_name = 'runs'",
            SCHEMA,
        )
    ]
    fresh = {
        "uuid": "gen_random_uuid()",
        "status": "'PENDING'",
        "admitted": "false",
        "admitted_time": "NULL",
        "idempotency_key": "NULL",
        "started_time": "NULL",
        "finished_time": "NULL",
        "job_run_index": "job_run_index + 1",
    }
    values = ", ".join(fresh.get(c, c) for c in columns)
    value = await conn.fetchval(
        f"INSERT INTO runs ({', '.join(columns)}) SELECT {values} FROM runs WHERE uuid = $1"
        " RETURNING uuid::text",
        run_uuid,
    )
    return str(value)


async def waiting_for_a_lock(pool: asyncpg.Pool, pid: int) -> bool | None:
    waiting = await pool.fetchval(
        "SELECT count(*) FROM pg_locks WHERE pid = $1 AND NOT granted", pid
    )
    return True if waiting else None


async def test_a_completion_waiting_on_a_trigger_sees_the_triggered_runs(
    service_settings: Callable[..., Any], project: Project
) -> None:
    # No sweep during the test: the completion below is the only one.
    async with whole_stack(service_settings, job_sweep_seconds=3600) as stack:
        project.step("s", "s.sh", "echo once\n")
        response = await stack.http.post("/api/jobs", json=project.job_body("once"))
        assert response.status_code == 201, response.text
        job_uuid = response.json()["uuid"]
        async with event_log(stack, stack.bus.job_events(job_uuid)) as log:
            await log.wait_for(
                lambda events: any(
                    isinstance(e, JobStatusChanged) and e.status.value == "SUCCESS" for e in events
                ),
                what="the job's first execution ended",
            )
        pool = await create_pool(stack.database_url, schema=SCHEMA, min_size=1, max_size=4)
        try:
            first = await pool.fetchval("SELECT uuid::text FROM runs WHERE job_uuid = $1", job_uuid)
            # The state between a run's end and its job's completion: STARTED,
            # nothing unfinished.
            await pool.execute(
                "UPDATE jobs SET status = 'STARTED', finished_time = NULL WHERE uuid = $1",
                job_uuid,
            )
            async with pool.acquire() as trigger, pool.acquire() as completion:
                transaction = trigger.transaction()
                await transaction.start()
                await job_store.load_job(trigger, job_uuid, lock=True)
                queued = await queue_a_copy_of(trigger, first)

                async def complete() -> JobRecord | None:
                    async with completion.transaction():
                        return await job_store.finish_if_done(
                            completion, job_uuid, datetime.now(UTC)
                        )

                finishing = asyncio.ensure_future(complete())
                try:
                    pid = completion.get_server_pid()
                    await eventually(
                        lambda: waiting_for_a_lock(pool, pid),
                        timeout=30,
                        what="the completion waiting for the trigger's lock",
                    )
                    await transaction.commit()
                    ended = await asyncio.wait_for(finishing, 30)
                finally:
                    finishing.cancel()
            status = await pool.fetchval("SELECT status FROM jobs WHERE uuid = $1", job_uuid)
            run_status = await pool.fetchval("SELECT status FROM runs WHERE uuid = $1", queued)
        finally:
            await pool.close()
    assert ended is None, f"the job ended ({ended.status.value}) with run {queued} queued"
    assert (status, run_status) == ("STARTED", "PENDING")
