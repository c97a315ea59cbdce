"""The admission of job runs: queued runs start within a global and a per-job
limit on parallel job runs, taking turns between jobs (``job_rules.take_turns``:
the job with the fewest runs going first), so one big grid never starves
another job. An admitted run gets its workspace (a copy of the job's
snapshot), then its first steps go out on the job priority subject.

One admission runs at a time over all replicas (an advisory lock); requests
made while one runs make it run once more afterwards, not once each.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path

import asyncpg

from orchest_schemas.commands import AbortRun
from orchest_service.errors import TRANSIENT_ERRORS, CommandError

from . import job_store
from .background import Background
from .clock import Clock
from .job_rules import take_turns
from .job_store import QueuedRun
from .runs import Runs
from .settings import SchedulerSettings
from .snapshot import make_workspace

logger = logging.getLogger(__name__)


class Admission:
    def __init__(
        self,
        pool: asyncpg.Pool,
        runs: Runs,
        settings: SchedulerSettings,
        clock: Clock,
        background: Background,
    ) -> None:
        self._pool = pool
        self._runs = runs
        self._settings = settings
        self._clock = clock
        self._background = background
        self._coalesced = _Coalesced(self._admit)

    def request(self) -> None:
        """Admit what can start, soon."""
        self._coalesced.request()

    async def run_now(self) -> None:
        """Admit what can start, and return once done."""
        await self._coalesced.run_now()

    async def close(self) -> None:
        await self._coalesced.close()

    async def _admit(self) -> None:
        """Admit queued job runs within the limits, taking turns between jobs."""
        settings = self._settings
        async with self._pool.acquire() as conn, conn.transaction():
            await job_store.lock_admission(conn)
            active = await job_store.active_job_runs(conn)
            free = settings.max_parallel_job_runs - sum(active.values())
            if free <= 0:
                return
            queued = await job_store.queued_job_runs(conn, free)
            chosen = take_turns(queued, active, free, settings.job_max_parallel_runs)
            if not chosen:
                return
            await job_store.mark_admitted(conn, [q.run_uuid for q in chosen], self._clock.now())
        for run in chosen:
            self._background.spawn(self.start(run))

    async def start(self, run: QueuedRun) -> None:
        """Give an admitted run its workspace, then send its first steps."""
        try:
            await asyncio.to_thread(make_workspace, Path(run.snapshot_dir), Path(run.project_dir))
        except OSError as exc:
            logger.error("run %s: no workspace (%s); aborting it", run.run_uuid, exc)
            await abort_runs(self._runs, [run.run_uuid])
            return
        await self._runs.start_admitted(run.run_uuid)


async def abort_runs(runs: Runs, run_uuids: list[str]) -> None:
    """Abort job runs (those gone meanwhile, to retention, are no matter)."""

    async def abort(run_uuid: str) -> None:
        with contextlib.suppress(CommandError):
            await runs.abort(AbortRun(run_uuid=run_uuid))

    await asyncio.gather(*(abort(run_uuid) for run_uuid in run_uuids))


class _Coalesced:
    """Runs an async action on request; requests made while it runs make it
    run once more afterwards, not once each."""

    def __init__(self, action: Callable[[], Awaitable[None]]) -> None:
        self._action = action
        self._again = False
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()

    def request(self) -> None:
        self._again = True
        if self._task is None or self._task.done():
            self._task = asyncio.ensure_future(self._loop())

    async def run_now(self) -> None:
        self.request()
        if self._task is not None:
            await asyncio.shield(self._task)

    async def _loop(self) -> None:
        while self._again:
            self._again = False
            try:
                async with self._lock:
                    await self._action()
            except TRANSIENT_ERRORS as exc:
                logger.warning("job admission failed (%s); the sweep will retry", exc)
            except Exception:
                logger.exception("job admission failed")

    async def close(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
