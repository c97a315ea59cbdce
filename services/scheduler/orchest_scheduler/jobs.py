"""Jobs: their commands, the ticker that fires their executions, the admission
of their runs, completion and retention (``docs/jobs.md``).

- **Create** validates everything (definition, selection, cron, parameter
  sets), copies the project to a snapshot and freezes the definition.
- **Ticks**: the ticker fires every job whose ``next_scheduled_time`` has
  come. Firing locks the job's row and checks the tick is still the one it
  read, so with several scheduler replicas exactly one fires a tick; it then
  writes the job's next tick and one queued run per parameter set (the
  unique index on the execution and parameter position stops a second copy).
- **Admission** lets queued job runs start, within a global and a per-job
  limit on parallel job runs, taking turns between jobs (the job with the
  fewest runs going first), so one big grid never starves another job. An
  admitted run gets its workspace (a copy of the snapshot), then its first
  steps go out on the job priority subject.
- **Completion and retention** follow each run's end: a job with nothing
  left to run ends (``SUCCESS`` if every run succeeded, else ``FAILURE``),
  and ended runs beyond ``max_retained_pipeline_runs`` are deleted with
  their workspaces and logs.

A periodic sweep is the safety net of all of it (a replica that died between
two steps of the above, a run that ended on another replica).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import uuid4

import asyncpg
from nats.js import JetStreamContext

from orchest_runtime.errors import TRANSIENT_ERRORS, CommandError
from orchest_schemas.bus import BusNames
from orchest_schemas.commands import (
    PIPELINE_PARAMETERS,
    AbortJobRun,
    AbortRun,
    CancelJob,
    CreateJob,
    ParameterSet,
    PipelineRunSpec,
    TriggerJob,
    UpdateJob,
)
from orchest_schemas.errors import ErrorCode
from orchest_schemas.events import JobStatusChanged
from orchest_schemas.jobs import JobView
from orchest_schemas.pipeline import PipelineDefinition
from orchest_schemas.runs import RunView
from orchest_schemas.status import JobStatus, RunStatus

from . import job_store, store
from .clock import Clock
from .dag import Problem, select_steps, validate_definition
from .definitions import DefinitionStore
from .engine import Plan
from .job_store import ENDED_JOB_STATES, JobRecord, QueuedRun
from .mailbox import outbox_row
from .outbox import Outbox, OutMessage
from .project_files import check_project_files
from .runs import Runs, pending_changes, plan_steps
from .schedule import cron_problem, next_tick
from .settings import SchedulerSettings
from .snapshot import make_workspace, remove_tree, take_snapshot

logger = logging.getLogger(__name__)

TICK_POLL = timedelta(seconds=5)
"""Longest wait between two looks at the jobs table (ticks of jobs another
replica created or changed)."""
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
        self._bus = bus
        self._js = js
        self._outbox = outbox
        self._runs = runs
        self._settings = settings
        self._clock = clock
        self._wake_ticker = asyncio.Event()
        self._admission = _Coalesced(self._admit)
        self._tasks: set[asyncio.Task[Any]] = set()
        runs.on_job_run_ended(self._run_ended)

    # -- commands ------------------------------------------------------------------

    async def _frozen(self, command: CreateJob) -> tuple[PipelineDefinition, str, dict[str, str]]:
        """The definition, project folder and env variables of a new job: as
        given, or read now from the project (env: the project's, then the job's)."""
        if command.pipeline_definition is not None and command.project_dir is not None:
            return command.pipeline_definition, command.project_dir, command.env_variables
        assert command.project_uuid is not None and command.pipeline_uuid is not None
        found = await self._runs.resolve_pipeline(command.project_uuid, command.pipeline_uuid)
        env = {**found.env_variables, **command.env_variables}
        return found.definition, found.project_dir, env

    async def create(self, command: CreateJob) -> JobView:
        if command.idempotency_key is not None:
            existing = await self._by_key(command.idempotency_key)
            if existing is not None:
                return existing
        definition, project_dir, env_variables = await self._frozen(command)
        spec = command.pipeline_run_spec
        problems = validate_definition(definition)
        if not problems:
            _, problems = select_steps(definition, spec.run_type, spec.uuids)
            problems = [_relocate(p, ("pipeline_run_spec",)) for p in problems]
        problems += parameter_problems(definition, command.parameters, ("parameters",))
        schedule = command.schedule
        if schedule.cron_schedule is not None:
            why = cron_problem(schedule.cron_schedule)
            if why:
                problems.append(Problem(("schedule", "cron_schedule"), why, "cron_invalid"))
        if schedule.scheduled_start is not None:
            refused = start_problem(schedule.scheduled_start)
            if refused:
                problems.append(Problem(("schedule", "scheduled_start"), *refused))
        _raise_if(problems, "invalid job")
        job_uuid = str(uuid4())
        job_dir = self._settings.jobs_dir / job_uuid
        snapshot_dir = job_dir / "snapshot"
        step_uuids, _ = select_steps(definition, spec.run_type, spec.uuids)
        try:
            await asyncio.to_thread(
                _snapshot_checked, definition, project_dir, snapshot_dir, step_uuids
            )
        except _InvalidProject as exc:
            await asyncio.to_thread(remove_tree, job_dir)
            _raise_if(exc.problems, "invalid job")
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
            job.next_scheduled_time = self._first_tick(job, now)
        async with self._outbox.writer() as conn, conn.transaction():
            created = await job_store.insert_job(conn, job, command.idempotency_key)
            ids, messages = await self._announce_job(conn, job, now) if created else ([], [])
        if not created:  # the same key won a race: that job is the answer
            await asyncio.to_thread(remove_tree, job_dir)
            assert command.idempotency_key is not None
            existing = await self._by_key(command.idempotency_key)
            assert existing is not None
            return existing
        self._outbox.committed(ids, messages)
        self._wake_ticker.set()
        logger.info("job %s created (%d parameter sets)", job_uuid, len(job.parameters))
        return job_view(job, with_definition=True)

    async def update(self, command: UpdateJob) -> JobView:
        async with self._outbox.writer() as conn, conn.transaction():
            job = await self._locked(conn, command.job_uuid)
            now = self._clock.now()
            self._apply_update(job, command, now)
            await job_store.save_job(conn, job)
            ids, messages = await self._announce_job(conn, job, now)
        self._outbox.committed(ids, messages)
        self._wake_ticker.set()
        self._spawn(self._after_change(job.uuid))
        return job_view(job)

    async def trigger(self, command: TriggerJob) -> JobView:
        async with self._outbox.writer() as conn, conn.transaction():
            job = await self._locked(conn, command.job_uuid)
            if job.status in (JobStatus.DRAFT, JobStatus.ABORTED, JobStatus.PAUSED):
                raise CommandError(
                    ErrorCode.CONFLICT,
                    f"job {job.uuid} is {job.status.value}: it cannot be triggered",
                )
            ids, messages = await self._execute(conn, job, self._clock.now())
        self._outbox.committed(ids, messages)
        self._admission.request()
        return job_view(job)

    async def cancel(self, command: CancelJob) -> JobView:
        async with self._outbox.writer() as conn, conn.transaction():
            job = await self._locked(conn, command.job_uuid)
            ids: list[int] = []
            messages: list[OutMessage] = []
            if job.status not in ENDED_JOB_STATES:
                now = self._clock.now()
                job.status = JobStatus.ABORTED
                job.next_scheduled_time = None
                job.finished_time = now
                await job_store.save_job(conn, job)
                ids, messages = await self._announce_job(conn, job, now)
            live = await job_store.unfinished_runs(conn, job.uuid)
        self._outbox.committed(ids, messages)
        await self._abort_runs(live)
        return await self._view(job.uuid)

    async def abort_run(self, command: AbortJobRun) -> RunView:
        async with self._pool.acquire() as conn:
            owner = await job_store.run_job(conn, command.run_uuid)
        if owner != command.job_uuid:
            raise CommandError(
                ErrorCode.NOT_FOUND, f"job {command.job_uuid} has no run {command.run_uuid}"
            )
        return await self._runs.abort(AbortRun(run_uuid=command.run_uuid))

    # -- the ticker ------------------------------------------------------------------

    async def tick_loop(self, stopping: asyncio.Event) -> None:
        """Fire due executions; sleep until the next tick, a change, or a poll."""
        waker = asyncio.create_task(_relay(stopping, self._wake_ticker))
        try:
            while not stopping.is_set():
                self._wake_ticker.clear()
                earliest: datetime | None = None
                try:
                    await self.fire_due()
                    async with self._pool.acquire() as conn:
                        earliest = await job_store.earliest_due(conn)
                except TRANSIENT_ERRORS as exc:
                    logger.warning("job ticker: %s; trying again", exc)
                now = self._clock.now()
                until = now + TICK_POLL
                if earliest is not None:
                    until = min(until, earliest)
                await self._clock.wait_until(until, self._wake_ticker)
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
            self._admission.request()
        return fired

    async def _fire(self, job_uuid: str, tick: datetime) -> int:
        async with self._outbox.writer() as conn, conn.transaction():
            job = await job_store.load_job(conn, job_uuid, lock=True)
            live = (JobStatus.PENDING, JobStatus.STARTED)
            if job is None or job.status not in live or job.next_scheduled_time != tick:
                return 0  # another replica fired it, or the job changed meanwhile
            now = self._clock.now()
            # Missed ticks collapse into this one execution (docs/jobs.md).
            job.last_scheduled_time = tick
            job.next_scheduled_time = (
                next_tick(job.cron_schedule, max(now, tick)) if job.cron_schedule else None
            )
            ids, messages = await self._execute(conn, job, now)
        self._outbox.committed(ids, messages)
        logger.info("job %s: execution %d fired", job_uuid, job.total_scheduled_executions)
        return 1

    async def _execute(
        self, conn: store.Connection, job: JobRecord, now: datetime
    ) -> tuple[list[int], list[OutMessage]]:
        """One execution: a queued run per parameter set, and the job saved."""
        job.total_scheduled_executions += 1
        job.status = JobStatus.STARTED
        job.finished_time = None
        index = job.total_scheduled_executions
        all_ids: list[int] = []
        all_messages: list[OutMessage] = []
        for position, parameters in enumerate(job.parameters):
            ids, messages = await self._create_run(conn, job, index, position, parameters, now)
            all_ids += ids
            all_messages += messages
        await job_store.save_job(conn, job)
        ids, messages = await self._announce_job(conn, job, now)
        return all_ids + ids, all_messages + messages

    async def _create_run(
        self,
        conn: store.Connection,
        job: JobRecord,
        index: int,
        position: int,
        parameters: ParameterSet,
        now: datetime,
    ) -> tuple[list[int], list[OutMessage]]:
        definition = merge_parameters(job.definition, parameters)
        step_uuids, _ = select_steps(definition, job.run_type, job.run_uuids)
        new_steps, state = plan_steps(definition, step_uuids)
        plan = Plan(changes=pending_changes(state), run_status=RunStatus.PENDING)
        run_uuid = str(uuid4())
        record = store.RunRecord(
            uuid=run_uuid,
            pipeline_uuid=definition.uuid,
            project_uuid=job.project_uuid,
            job_uuid=job.uuid,
            project_dir=str(self._workspace(job.uuid, run_uuid)),
            env_variables=job.env_variables,
            definition=definition,
            definition_key=DefinitionStore.key_of(definition),  # stored once admitted
            version=0,
            event_seq=0,
            timeouts={s.uuid: s.timeout_seconds for s in new_steps},
        )
        events, messages, seq = self._runs.announce(record, state, plan, now)
        record.event_seq = seq
        ids = await store.create_run(
            conn,
            record=record,
            run_type=job.run_type,
            idempotency_key=None,
            steps=new_steps,
            state=state,
            events=events,
            outbox=[outbox_row(m) for m in messages],
            now=now,
            job_place=store.JobRunPlace(index, position, parameters),
        )
        assert ids is not None
        return ids, messages

    # -- admission -------------------------------------------------------------------

    def request_admission(self) -> None:
        self._admission.request()

    async def _admit(self) -> None:
        """Admit queued job runs within the limits, taking turns between jobs."""
        settings = self._settings
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1)", job_store.ADMISSION_LOCK)
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
            self._spawn(self._start(run))

    async def _start(self, run: QueuedRun) -> None:
        """Give an admitted run its workspace, then send its first steps."""
        try:
            await asyncio.to_thread(make_workspace, Path(run.snapshot_dir), Path(run.project_dir))
        except OSError as exc:
            logger.error("run %s: no workspace (%s); aborting it", run.run_uuid, exc)
            await self._abort_runs([run.run_uuid])
            return
        await self._runs.start_admitted(run.run_uuid)

    # -- what follows a run's end ---------------------------------------------------------

    def _run_ended(self, job_uuid: str, run_uuid: str) -> None:
        self._admission.request()
        self._spawn(self._after_change(job_uuid))

    async def _after_change(self, job_uuid: str) -> None:
        """A job's run ended or the job changed: end the job if it is done,
        prune what its retention drops, admit what can start."""
        now = self._clock.now()
        async with self._outbox.writer() as conn, conn.transaction():
            ended = await job_store.finish_if_done(conn, job_uuid, now)
            ids, messages = await self._announce_job(conn, ended, now) if ended else ([], [])
        self._outbox.committed(ids, messages)
        await self._prune(job_uuid)
        self._admission.request()

    async def _prune(self, job_uuid: str) -> None:
        async with self._pool.acquire() as conn:
            keep = await conn.fetchval(
                "SELECT max_retained_pipeline_runs FROM jobs WHERE uuid = $1", job_uuid
            )
            if keep is None or keep < 0:
                return
            async with conn.transaction():
                doomed = await job_store.runs_beyond_retention(conn, job_uuid, keep)
                deleted = await job_store.delete_runs(conn, doomed) if doomed else []
        for run_uuid, project_dir in deleted:
            self._runs.forget(run_uuid)
            await asyncio.to_thread(remove_tree, Path(project_dir))
            with contextlib.suppress(Exception):  # logs also expire by age
                await self._js.purge_stream(
                    self._bus.logs_stream.name, subject=self._bus.run_logs(run_uuid)
                )
        if deleted:
            logger.info("job %s: %d run(s) beyond retention deleted", job_uuid, len(deleted))

    # -- safety nets ----------------------------------------------------------------------

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
            await self._start(run)
        await self._abort_runs(orphans)
        for job_uuid in maybe_done:
            await self._after_change(job_uuid)
        await self._admission.run_now()

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.wait(self._tasks)
        await self._admission.close()

    # -- helpers --------------------------------------------------------------------------

    def _first_tick(self, job: JobRecord, now: datetime) -> datetime:
        if job.cron_schedule:
            return next_tick(job.cron_schedule, now)
        if job.scheduled_start is not None:
            return job.scheduled_start
        return now

    def _apply_update(self, job: JobRecord, command: UpdateJob, now: datetime) -> None:
        problems: list[Problem] = []
        if command.parameters is not None:
            problems += parameter_problems(job.definition, command.parameters, ("parameters",))
        if command.cron_schedule is not None:
            why = cron_problem(command.cron_schedule)
            if why:
                problems.append(Problem(("cron_schedule",), why, "cron_invalid"))
        _raise_if(problems, "invalid job update")
        changes_schedule = (
            command.cron_schedule is not None
            or command.parameters is not None
            or command.confirm_draft
            or command.paused is not None
        )
        if changes_schedule and job.status in ENDED_JOB_STATES - {JobStatus.SUCCESS}:
            raise CommandError(
                ErrorCode.CONFLICT, f"job {job.uuid} is {job.status.value}: it cannot change"
            )
        if command.name is not None:
            job.name = command.name
        if command.parameters is not None:
            job.parameters = command.parameters
        if command.env_variables is not None:
            job.env_variables = command.env_variables
        if command.max_retained_pipeline_runs is not None:
            job.max_retained_pipeline_runs = command.max_retained_pipeline_runs
        if command.max_parallel_runs is not None:
            job.max_parallel_runs = command.max_parallel_runs
        if command.cron_schedule is not None:
            job.cron_schedule = command.cron_schedule
            job.scheduled_start = None
            if job.status is JobStatus.SUCCESS:  # a one-off job that ran becomes recurring
                job.status = JobStatus.STARTED
                job.finished_time = None
            if job.status in (JobStatus.PENDING, JobStatus.STARTED):
                job.next_scheduled_time = next_tick(job.cron_schedule, now)
        if command.confirm_draft and job.status is JobStatus.DRAFT:
            job.status = JobStatus.PENDING
            job.next_scheduled_time = self._first_tick(job, now)
        if command.paused is True and job.status in (JobStatus.PENDING, JobStatus.STARTED):
            job.status = JobStatus.PAUSED
        elif command.paused is False and job.status is JobStatus.PAUSED:
            job.status = JobStatus.STARTED if job.total_scheduled_executions else JobStatus.PENDING
            if job.cron_schedule:  # ticks missed while paused are skipped
                job.next_scheduled_time = next_tick(job.cron_schedule, now)
        elif command.paused is not None and job.status is JobStatus.DRAFT:
            raise CommandError(ErrorCode.CONFLICT, f"job {job.uuid} is a draft: confirm it first")

    async def _announce_job(
        self, conn: store.Connection, job: JobRecord, now: datetime
    ) -> tuple[list[int], list[OutMessage]]:
        """The job's status event: in the event log and the outbox, in ``conn``'s transaction."""
        event = JobStatusChanged(
            job_uuid=job.uuid,
            status=job.status,
            next_scheduled_time=job.next_scheduled_time,
            total_scheduled_executions=job.total_scheduled_executions,
            occurred_at=now,
        )
        data = event.model_dump_json()
        await conn.execute(
            "INSERT INTO event_log (event_id, kind, job_uuid, occurred_at, payload)"
            " VALUES ($1, $2, $3, $4, $5::jsonb)",
            event.event_id,
            event.kind,
            job.uuid,
            now,
            data,
        )
        message = OutMessage(self._bus.job_event(job.uuid), data.encode(), event.event_id)
        ids = await job_store.insert_outbox(conn, [outbox_row(message)])
        return ids, [message]

    async def _abort_runs(self, run_uuids: list[str]) -> None:
        async def abort(run_uuid: str) -> None:
            with contextlib.suppress(CommandError):  # gone meanwhile (retention)
                await self._runs.abort(AbortRun(run_uuid=run_uuid))

        await asyncio.gather(*(abort(run_uuid) for run_uuid in run_uuids))

    async def _locked(self, conn: store.Connection, job_uuid: str) -> JobRecord:
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

    def _workspace(self, job_uuid: str, run_uuid: str) -> Path:
        return self._settings.jobs_dir / job_uuid / "runs" / run_uuid

    def _spawn(self, coroutine: Awaitable[None]) -> None:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)

        def done(t: asyncio.Task[None]) -> None:
            self._tasks.discard(t)
            if not t.cancelled() and t.exception() is not None:
                logger.error("job task failed", exc_info=t.exception())

        task.add_done_callback(done)


# -- pure parts ----------------------------------------------------------------------------


def take_turns(
    queued: list[QueuedRun], active: dict[str, int], free: int, default_limit: int
) -> list[QueuedRun]:
    """Which queued runs start: up to ``free``, one at a time to the job with the
    fewest runs going (ties: the job listed first), each job within its limit."""
    waiting: dict[str, list[QueuedRun]] = {}
    for run in queued:
        waiting.setdefault(run.job_uuid, []).append(run)
    going = {job: active.get(job, 0) for job in waiting}
    chosen: list[QueuedRun] = []
    while len(chosen) < free:
        candidates = [
            job
            for job, runs in waiting.items()
            if runs and going[job] < (runs[0].job_limit or default_limit)
        ]
        if not candidates:
            break
        job = min(candidates, key=lambda j: going[j])
        chosen.append(waiting[job].pop(0))
        going[job] += 1
    return chosen


def start_problem(start: datetime) -> tuple[str, str] | None:
    """Why a ``scheduled_start`` cannot be used (message, type), or None."""
    if start.tzinfo is None:
        return "scheduled_start needs a time zone (e.g. 2026-01-01T09:00:00Z)", "datetime_naive"
    try:
        start.astimezone(UTC)
    except OverflowError:
        return "scheduled_start is beyond the year 9999 in UTC", "datetime_range"
    return None


def parameter_problems(
    definition: PipelineDefinition, parameters: list[ParameterSet], loc: tuple[str, ...]
) -> list[Problem]:
    """Every key of a parameter set must be ``pipeline_parameters`` or a step."""
    problems = []
    for index, parameter_set in enumerate(parameters):
        for key in parameter_set:
            if key != PIPELINE_PARAMETERS and key not in definition.steps:
                problems.append(
                    Problem(
                        (*loc, index, key),
                        f"{key!r} is neither {PIPELINE_PARAMETERS!r} nor a step of the pipeline",
                        "unknown_step",
                    )
                )
    return problems


def merge_parameters(
    definition: PipelineDefinition, parameters: ParameterSet
) -> PipelineDefinition:
    """A copy of the definition with the set's values over its own (Orchest's
    job parameters: steps read them from the definition as ever)."""
    if not parameters:
        return definition
    data = definition.model_dump(mode="json", exclude_unset=True)
    pipeline_values = parameters.get(PIPELINE_PARAMETERS)
    if pipeline_values:
        data["parameters"] = {**data.get("parameters", {}), **pipeline_values}
    for key, values in parameters.items():
        if key != PIPELINE_PARAMETERS and values:
            step = data["steps"][key]
            step["parameters"] = {**step.get("parameters", {}), **values}
    return PipelineDefinition.model_validate(data)


def job_view(job: JobRecord, *, with_definition: bool = False) -> JobView:
    return JobView(
        uuid=job.uuid,
        name=job.name,
        pipeline_uuid=job.pipeline_uuid,
        project_uuid=job.project_uuid,
        project_dir=job.project_dir,
        snapshot_dir=job.snapshot_dir,
        pipeline_run_spec=PipelineRunSpec(run_type=job.run_type, uuids=job.run_uuids),
        parameters=job.parameters,
        env_variables=job.env_variables,
        status=job.status,
        scheduled_start=job.scheduled_start,
        cron_schedule=job.cron_schedule,
        next_scheduled_time=job.next_scheduled_time,
        last_scheduled_time=job.last_scheduled_time,
        total_scheduled_executions=job.total_scheduled_executions,
        max_retained_pipeline_runs=job.max_retained_pipeline_runs,
        max_parallel_runs=job.max_parallel_runs,
        created_time=job.created_time,
        finished_time=job.finished_time,
        run_counts=job.run_counts,
        pipeline_definition=(
            job.definition.model_dump(mode="json", exclude_unset=True) if with_definition else None
        ),
    )


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
        raise _InvalidProject([_relocate(p, ()) for p in problems])
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


def _relocate(problem: Problem, prefix: tuple[str, ...]) -> Problem:
    """A run's problem at a job's place (``run_config.project_dir`` is the job's
    ``project_dir``; a run's ``uuids`` are the job's ``pipeline_run_spec.uuids``)."""
    loc = problem.loc
    if loc[:2] == ("run_config", "project_dir"):
        loc = ("project_dir",)
    elif loc and loc[0] in ("uuids", "run_type"):
        loc = (*prefix, *loc)
    return Problem(loc, problem.msg, problem.type)


def _raise_if(problems: list[Problem], what: str) -> None:
    if problems:
        raise CommandError(
            ErrorCode.INVALID,
            f"{what}: {len(problems)} problem(s)",
            [p.to_detail() for p in problems],
        )


async def _relay(source: asyncio.Event, target: asyncio.Event) -> None:
    await source.wait()
    target.set()


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
