"""Jobs: their commands and the sweep that backs up their loops (``docs/jobs.md``).

- **Create** validates everything (``job_rules.job_problems``), copies the
  project to a snapshot and freezes the definition.
- **Ticks** fire executions (``job_ticker.py``): one queued run per parameter
  set (``job_executions.py``).
- **Admission** lets queued runs start within the limits (``job_admission.py``).
- **Completion and retention** follow each run's end (``job_retention.py``).

A periodic sweep is the safety net of all of it (a replica that died between
two steps of the above, a run that ended on another replica).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from pathlib import Path
from uuid import uuid4

import asyncpg
from nats.js import JetStreamContext

from orchest_schemas.bus import BusNames
from orchest_schemas.commands import (
    AbortJobRun,
    AbortRun,
    CancelJob,
    CreateJob,
    PreviewSchedule,
    TriggerJob,
    UpdateJob,
)
from orchest_schemas.errors import ErrorCode
from orchest_schemas.jobs import JobView, SchedulePreview
from orchest_schemas.pipeline import PipelineDefinition
from orchest_schemas.runs import RunView
from orchest_schemas.status import JobStatus
from orchest_service.errors import TRANSIENT_ERRORS, CommandError

from . import job_store
from .background import Background
from .clock import Clock
from .dag import Problem, select_steps
from .job_admission import Admission, abort_runs
from .job_executions import Executions, Written
from .job_retention import Retention, log_purger
from .job_rules import (
    apply_update,
    first_tick,
    job_problems,
    job_view,
    raise_if,
    relocate,
    schedule_preview,
)
from .job_store import ENDED_JOB_STATES, JobRecord
from .job_ticker import Ticker
from .outbox import Outbox
from .project_files import check_project_files
from .runs import Runs
from .settings import SchedulerSettings
from .snapshot import remove_tree, take_snapshot
from .sql import Connection

logger = logging.getLogger(__name__)

RESTART_GRACE = timedelta(seconds=30)
"""An admitted run whose first steps are still not out after this long was
left half-started by a replica that died: the sweep starts it."""


class Jobs:
    def __init__(
        self,
        pool: asyncpg.Pool,
        bus: BusNames,
        js: JetStreamContext,
        outbox: Outbox,
        runs: Runs,
        settings: SchedulerSettings,
        clock: Clock,
    ) -> None:
        self._pool = pool
        self._outbox = outbox
        self._runs = runs
        self._settings = settings
        self._clock = clock
        self._background = Background("job task")
        self._executions = Executions(bus, runs, settings.jobs_dir)
        self._admission = Admission(pool, runs, settings, clock, self._background)
        self._retention = Retention(
            self._executions, self._admission, log_purger(js, bus), pool, outbox, runs, clock
        )
        self.ticker = Ticker(pool, outbox, self._executions, clock, self._admission.request)
        runs.on_job_run_ended(self._run_ended)

    # -- commands ------------------------------------------------------------------

    async def create(self, command: CreateJob) -> JobView:
        if command.idempotency_key is not None:
            existing = await self._by_key(command.idempotency_key)
            if existing is not None:
                return existing
        definition, project_dir, env_variables = await self._frozen(command)
        raise_if(job_problems(definition, command), "invalid job")
        spec, schedule = command.pipeline_run_spec, command.schedule
        job_uuid = str(uuid4())
        job_dir = self._executions.job_dir(job_uuid)
        snapshot_dir = job_dir / "snapshot"
        step_uuids, _ = select_steps(definition, spec.run_type, spec.uuids)
        try:
            await asyncio.to_thread(
                _snapshot_checked, definition, project_dir, snapshot_dir, step_uuids
            )
        except _InvalidProject as exc:
            await asyncio.to_thread(remove_tree, job_dir)
            raise_if(exc.problems, "invalid job")
        except OSError as exc:
            await asyncio.to_thread(remove_tree, job_dir)
            raise CommandError(
                ErrorCode.INVALID,
                "the project could not be copied",
                [Problem(("project_dir",), str(exc), "snapshot_failed").to_detail()],
            ) from None
        now = self._clock.now()
        job = JobRecord(
            uuid=job_uuid,
            name=command.name,
            pipeline_uuid=definition.uuid,
            project_uuid=command.project_uuid,
            project_dir=project_dir,
            snapshot_dir=str(snapshot_dir),
            definition=definition,
            run_type=spec.run_type,
            run_uuids=list(spec.uuids),
            parameters=command.parameters,
            env_variables=env_variables,
            status=JobStatus.DRAFT if command.draft else JobStatus.PENDING,
            scheduled_start=schedule.scheduled_start,
            cron_schedule=schedule.cron_schedule,
            next_scheduled_time=None,
            last_scheduled_time=None,
            total_scheduled_executions=0,
            max_retained_pipeline_runs=command.max_retained_pipeline_runs,
            max_parallel_runs=command.max_parallel_runs,
            created_time=now,
        )
        if not command.draft:
            job.next_scheduled_time = first_tick(job, now)
        async with self._outbox.writer() as conn, conn.transaction():
            created = await job_store.insert_job(conn, job, command.idempotency_key)
            written = await self._executions.announce(conn, job, now) if created else ([], [])
        if not created:  # the same key won a race: that job is the answer
            await asyncio.to_thread(remove_tree, job_dir)
            assert command.idempotency_key is not None
            existing = await self._by_key(command.idempotency_key)
            assert existing is not None
            return existing
        self._outbox.committed(*written)
        self.ticker.wake()
        logger.info("job %s created (%d parameter sets)", job_uuid, len(job.parameters))
        return job_view(job, with_definition=True)

    async def update(self, command: UpdateJob) -> JobView:
        async with self._outbox.writer() as conn, conn.transaction():
            job = await self._locked(conn, command.job_uuid)
            now = self._clock.now()
            apply_update(job, command, now)
            await job_store.save_job(conn, job)
            written = await self._executions.announce(conn, job, now)
        self._outbox.committed(*written)
        self.ticker.wake()
        self._background.spawn(self._retention.after_change(job.uuid))
        return job_view(job)

    async def trigger(self, command: TriggerJob) -> JobView:
        async with self._outbox.writer() as conn, conn.transaction():
            job = await self._locked(conn, command.job_uuid)
            if job.status in (JobStatus.DRAFT, JobStatus.ABORTED, JobStatus.PAUSED):
                raise CommandError(
                    ErrorCode.CONFLICT,
                    f"job {job.uuid} is {job.status.value}: it cannot be triggered",
                )
            written = await self._executions.execute(conn, job, self._clock.now())
        self._outbox.committed(*written)
        self._admission.request()
        return job_view(job)

    async def cancel(self, command: CancelJob) -> JobView:
        async with self._outbox.writer() as conn, conn.transaction():
            job = await self._locked(conn, command.job_uuid)
            written: Written = ([], [])
            if job.status not in ENDED_JOB_STATES:
                now = self._clock.now()
                job.status = JobStatus.ABORTED
                job.next_scheduled_time = None
                job.finished_time = now
                await job_store.save_job(conn, job)
                written = await self._executions.announce(conn, job, now)
            live = await job_store.unfinished_runs(conn, job.uuid)
        self._outbox.committed(*written)
        await abort_runs(self._runs, live)
        return await self._view(job.uuid)

    async def abort_run(self, command: AbortJobRun) -> RunView:
        async with self._pool.acquire() as conn:
            owner = await job_store.run_job(conn, command.run_uuid)
        if owner != command.job_uuid:
            raise CommandError(
                ErrorCode.NOT_FOUND, f"job {command.job_uuid} has no run {command.run_uuid}"
            )
        return await self._runs.abort(AbortRun(run_uuid=command.run_uuid))

    async def preview_schedule(self, command: PreviewSchedule) -> SchedulePreview:
        """The next firing times of a cron schedule, by this scheduler's clock."""
        return schedule_preview(command, self._clock.now())

    # -- the safety net --------------------------------------------------------------

    async def sweep_loop(self, stopping: asyncio.Event) -> None:
        while True:
            try:
                await self.sweep()
            except TRANSIENT_ERRORS as exc:
                logger.warning("job sweep failed (%s); next time", exc)
            try:
                await asyncio.wait_for(stopping.wait(), self._settings.job_sweep_seconds)
                return
            except TimeoutError:
                pass

    async def sweep(self) -> None:
        """What a dead replica or another replica's event may have left undone."""
        async with self._pool.acquire() as conn:
            stalled = await job_store.admitted_not_started(conn, self._clock.now() - RESTART_GRACE)
            orphans = await job_store.unfinished_runs_of_ended_jobs(conn)
            maybe_done = await job_store.jobs_maybe_done(conn)
        for run in stalled:
            logger.info("run %s was admitted but not started: starting it", run.run_uuid)
            await self._admission.start(run)
        await abort_runs(self._runs, orphans)
        for job_uuid in maybe_done:
            await self._retention.after_change(job_uuid)
        await self._admission.run_now()

    async def close(self) -> None:
        await self._background.close()
        await self._admission.close()

    # -- helpers --------------------------------------------------------------------------

    def _run_ended(self, job_uuid: str, run_uuid: str) -> None:
        self._admission.request()
        self._background.spawn(self._retention.after_change(job_uuid))

    async def _frozen(self, command: CreateJob) -> tuple[PipelineDefinition, str, dict[str, str]]:
        """The definition, project folder and env variables of a new job: as
        given, or read now from the project (env: the project's, then the job's)."""
        if command.pipeline_definition is not None and command.project_dir is not None:
            return command.pipeline_definition, command.project_dir, command.env_variables
        assert command.project_uuid is not None and command.pipeline_uuid is not None
        found = await self._runs.resolve_pipeline(command.project_uuid, command.pipeline_uuid)
        env = {**found.env_variables, **command.env_variables}
        return found.definition, found.project_dir, env

    async def _locked(self, conn: Connection, job_uuid: str) -> JobRecord:
        job = await job_store.load_job(conn, job_uuid, lock=True)
        if job is None:
            raise CommandError(ErrorCode.NOT_FOUND, f"no job {job_uuid}")
        return job

    async def _view(self, job_uuid: str) -> JobView:
        async with self._pool.acquire() as conn:
            job = await job_store.load_job(conn, job_uuid)
        if job is None:
            raise CommandError(ErrorCode.NOT_FOUND, f"no job {job_uuid}")
        return job_view(job)

    async def _by_key(self, key: str) -> JobView | None:
        async with self._pool.acquire() as conn:
            job_uuid = await job_store.find_job_by_key(conn, key)
            job = await job_store.load_job(conn, job_uuid) if job_uuid else None
        return job_view(job, with_definition=True) if job else None


class _InvalidProject(Exception):
    def __init__(self, problems: list[Problem]) -> None:
        super().__init__(f"{len(problems)} problem(s)")
        self.problems = problems


def _snapshot_checked(
    definition: PipelineDefinition, project_dir: str, snapshot_dir: Path, step_uuids: list[str]
) -> None:
    """Copy the project, then check the steps' files in the copy (a file that
    ``.gitignore`` leaves out is missing for the job's runs)."""
    problems = check_project_files(definition, project_dir, [])
    if problems:
        raise _InvalidProject([relocate(p, ()) for p in problems])
    take_snapshot(Path(project_dir), snapshot_dir)
    problems = check_project_files(definition, str(snapshot_dir), step_uuids)
    if problems:
        raise _InvalidProject(
            [
                Problem(
                    p.loc,
                    p.msg.replace(str(snapshot_dir), project_dir)
                    + " (in the job's snapshot: is it ignored by .gitignore?)",
                    p.type,
                )
                for p in problems
            ]
        )
