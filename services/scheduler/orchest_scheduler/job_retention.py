"""What follows a job run's end or a job's change: a job with nothing left to
run ends (``SUCCESS`` if every run succeeded, else ``FAILURE``), ended runs
beyond ``max_retained_pipeline_runs`` are deleted with their workspaces and
logs, and the admission is asked to fill the freed places."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path

import asyncpg
from nats.js import JetStreamContext

from orchest_schemas.bus import BusNames

from . import job_store
from .clock import Clock
from .job_admission import Admission
from .job_executions import Executions
from .outbox import Outbox
from .runs import Runs
from .snapshot import remove_tree

logger = logging.getLogger(__name__)


PurgeLogs = Callable[[str], Awaitable[None]]
"""Delete a run's logs (its uuid)."""


def log_purger(js: JetStreamContext, bus: BusNames) -> PurgeLogs:
    async def purge(run_uuid: str) -> None:
        await js.purge_stream(bus.logs_stream.name, subject=bus.run_logs(run_uuid))

    return purge


class Retention:
    def __init__(
        self,
        executions: Executions,
        admission: Admission,
        purge_logs: PurgeLogs,
        pool: asyncpg.Pool,
        outbox: Outbox,
        runs: Runs,
        clock: Clock,
    ) -> None:
        self._purge_logs = purge_logs
        self._pool = pool
        self._outbox = outbox
        self._runs = runs
        self._executions = executions
        self._admission = admission
        self._clock = clock

    async def after_change(self, job_uuid: str) -> None:
        """A job's run ended or the job changed: end the job if it is done,
        prune what its retention drops, admit what can start."""
        now = self._clock.now()
        async with self._outbox.writer() as conn, conn.transaction():
            ended = await job_store.finish_if_done(conn, job_uuid, now)
            written = await self._executions.announce(conn, ended, now) if ended else ([], [])
        self._outbox.committed(*written)
        await self._prune(job_uuid)
        self._admission.request()

    async def _prune(self, job_uuid: str) -> None:
        async with self._pool.acquire() as conn:
            keep = await job_store.runs_to_keep(conn, job_uuid)
            if keep is None or keep < 0:
                return
            async with conn.transaction():
                doomed = await job_store.runs_beyond_retention(conn, job_uuid, keep)
                deleted = await job_store.delete_runs(conn, doomed) if doomed else []
        for run_uuid, project_dir in deleted:
            self._runs.forget(run_uuid)
            await asyncio.to_thread(remove_tree, Path(project_dir))
            with contextlib.suppress(Exception):  # logs also expire by age
                await self._purge_logs(run_uuid)
        if deleted:
            logger.info("job %s: %d run(s) beyond retention deleted", job_uuid, len(deleted))
