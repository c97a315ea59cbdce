"""The ticker: fires every job whose ``next_scheduled_time`` has come.

Firing locks the job's row and checks the tick is still the one it read, so
with several scheduler replicas exactly one fires a tick; it then writes the
job's next tick and one queued run per parameter set (the unique index on the
execution and parameter position stops a second copy). Missed ticks collapse
into one execution (``docs/jobs.md``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime, timedelta

import asyncpg

from orchest_service.errors import TRANSIENT_ERRORS

from . import job_store
from .clock import Clock
from .job_executions import Executions
from .job_store import LIVE_JOB_STATES
from .outbox import Outbox
from .schedule import next_tick

logger = logging.getLogger(__name__)

TICK_POLL = timedelta(seconds=5)
"""Longest wait between two looks at the jobs table (ticks of jobs another
replica created or changed)."""


class Ticker:
    def __init__(
        self,
        pool: asyncpg.Pool,
        outbox: Outbox,
        executions: Executions,
        clock: Clock,
        on_fired: Callable[[], None],
    ) -> None:
        self._pool = pool
        self._outbox = outbox
        self._executions = executions
        self._clock = clock
        self._on_fired = on_fired
        self._wake = asyncio.Event()

    def wake(self) -> None:
        """A job's schedule changed: look at the table again now."""
        self._wake.set()

    async def run(self, stopping: asyncio.Event) -> None:
        """Fire due executions; sleep until the next tick, a change, or a poll."""
        waker = asyncio.create_task(_relay(stopping, self._wake))
        try:
            while not stopping.is_set():
                self._wake.clear()
                earliest: datetime | None = None
                try:
                    await self.fire_due()
                    async with self._pool.acquire() as conn:
                        earliest = await job_store.earliest_due(conn)
                except TRANSIENT_ERRORS as exc:
                    logger.warning("job ticker: %s; trying again", exc)
                until = self._clock.now() + TICK_POLL
                if earliest is not None:
                    until = min(until, earliest)
                await self._clock.wait_until(until, self._wake)
        finally:
            waker.cancel()

    async def fire_due(self) -> int:
        """Fire every tick that has come; how many this replica fired."""
        async with self._pool.acquire() as conn:
            due = await job_store.due_jobs(conn, self._clock.now())
        fired = 0
        for job_uuid, tick in due:
            fired += await self._fire(job_uuid, tick)
        if fired:
            self._on_fired()
        return fired

    async def _fire(self, job_uuid: str, tick: datetime) -> int:
        async with self._outbox.writer() as conn, conn.transaction():
            job = await job_store.load_job(conn, job_uuid, lock=True)
            if job is None or job.status not in LIVE_JOB_STATES or job.next_scheduled_time != tick:
                return 0  # another replica fired it, or the job changed meanwhile
            now = self._clock.now()
            job.last_scheduled_time = tick
            job.next_scheduled_time = (
                next_tick(job.cron_schedule, max(now, tick)) if job.cron_schedule else None
            )
            ids, messages = await self._executions.execute(conn, job, now)
        self._outbox.committed(ids, messages)
        logger.info("job %s: execution %d fired", job_uuid, job.total_scheduled_executions)
        return 1


async def _relay(source: asyncio.Event, target: asyncio.Event) -> None:
    await source.wait()
    target.set()
