"""Runs: the scheduler's command handlers, report consumer and retry timers.

Creating a run is one statement of its own; everything else that happens to
a run goes through its mailbox (``mailbox.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol
from uuid import uuid4

import asyncpg
from nats.aio.msg import Msg

from orchest_schemas.bus import BusNames
from orchest_schemas.commands import AbortRun, CreateRun, RunConfig
from orchest_schemas.errors import ErrorCode
from orchest_schemas.pipeline import PipelineDefinition
from orchest_schemas.reports import (
    ClaimStep,
    ReportAnswer,
    ReportAttempt,
    StepAttemptFinished,
    StepClaim,
)
from orchest_schemas.runs import RunView
from orchest_schemas.status import RunStatus, RunType, StepStatus
from orchest_service.errors import CommandError

from . import engine, run_store, step_store
from .clock import ticks, utcnow
from .create_checks import CheckedRuns, step_rows
from .definitions import DefinitionStore
from .mailbox import Mailboxes, OnJobRunEnded, RunNotFound, outbox_row
from .outbox import Outbox, OutMessage
from .project_files import check_project_files
from .report_answers import Respond, finish_decision, report_answer
from .run_state import ClaimDecision, Plan, RunState, StepChange, StepState
from .sql import Connection

logger = logging.getLogger(__name__)

INLINE_FILE_CHECKS = 64
"""Up to this many steps, their files are checked on the event loop."""
RETRY_SWEEP_SECONDS = 5.0


def plan_steps(
    definition: PipelineDefinition, step_uuids: list[str]
) -> tuple[list[run_store.NewStep], RunState]:
    """The rows and the engine state of a new run of these steps (validated)."""
    new_steps = step_rows(definition, step_uuids)
    return new_steps, new_run_state(definition, new_steps)


def new_run_state(definition: PipelineDefinition, new_steps: list[run_store.NewStep]) -> RunState:
    """The engine state of a new run of these rows."""
    settings = definition.settings
    return RunState(
        status=RunStatus.PENDING,
        steps={
            s.uuid: StepState(
                s.uuid, s.parents, max_retries=s.max_retries, retry_backoff=s.retry_backoff
            )
            for s in new_steps
        },
        fail_fast=settings.fail_fast,
        max_parallel=settings.max_steps_parallelism,
        max_lost_leases=settings.max_lost_leases,
    )


def pending_changes(state: RunState) -> list[StepChange]:
    """The first event of each step of a new run: ``PENDING``."""
    return [
        StepChange(uuid, StepStatus.PENDING, step.attempt) for uuid, step in state.steps.items()
    ]


@dataclass(frozen=True)
class ResolvedPipeline:
    """A pipeline named by reference, read from its project."""

    definition: PipelineDefinition
    project_dir: str
    pipeline_path: str
    env_variables: dict[str, str]
    """The project's and the pipeline's, the pipeline's over the project's."""


class PipelineResolver(Protocol):
    async def resolve(self, project_uuid: str, pipeline_uuid: str) -> ResolvedPipeline: ...


class Runs:
    def __init__(
        self,
        pool: asyncpg.Pool,
        bus: BusNames,
        outbox: Outbox,
        definitions: DefinitionStore,
        clock: Callable[[], datetime] = utcnow,
        pipelines: PipelineResolver | None = None,
    ) -> None:
        self._pool = pool
        self._pipelines = pipelines
        self._outbox = outbox
        self._definitions = definitions
        self._checked = CheckedRuns()
        self._clock = clock
        self._mail = Mailboxes(pool, bus, outbox, definitions, clock, self._schedule_retry)
        self._timers: set[asyncio.TimerHandle] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    # -- commands ------------------------------------------------------------------

    async def create(self, command: CreateRun) -> RunView:
        if command.idempotency_key is not None:
            existing = await self._existing(command.idempotency_key)
            if existing is not None:
                return existing
        definition, run_config = await self._frozen(command)
        checked = self._checked.check(definition, command.run_type, command.uuids)
        problems = list(checked.problems)
        new_steps = list(checked.rows)
        if not problems:
            project_dir = run_config.project_dir
            step_uuids = [s.uuid for s in new_steps]
            if len(step_uuids) <= INLINE_FILE_CHECKS:
                # A few stat() calls: a thread hop would cost more (it waits
                # for the GIL up to the switch interval, 5 ms).
                problems = check_project_files(definition, project_dir, step_uuids)
            else:
                problems = await asyncio.to_thread(
                    check_project_files, definition, project_dir, step_uuids
                )
        if problems:
            raise CommandError(
                ErrorCode.INVALID,
                f"invalid run: {len(problems)} problem(s)",
                [p.to_detail() for p in problems],
            )
        state = new_run_state(definition, new_steps)
        plan = engine.start(state)
        plan.changes[:0] = pending_changes(state)
        plan.run_status = RunStatus.PENDING
        record = run_store.RunRecord(
            uuid=str(uuid4()),
            pipeline_uuid=definition.uuid,
            project_uuid=run_config.project_uuid,
            job_uuid=None,
            project_dir=run_config.project_dir,
            env_variables=run_config.env_variables,
            definition=definition,
            # Stored (and its key trusted) at the first run of the definition.
            definition_key=await self._definitions.keep(checked.key, definition),
            version=0,
            event_seq=0,
            timeouts={s.uuid: s.timeout_seconds for s in new_steps},
        )
        now = self._clock()
        async with self._outbox.writer() as conn:
            written = await self.insert(
                conn,
                record,
                command.run_type,
                new_steps,
                state,
                plan,
                now,
                idempotency_key=command.idempotency_key,
                definition_json=checked.data,
            )
        if written is None:  # another request with the same key won the race
            assert command.idempotency_key is not None
            existing = await self._existing(command.idempotency_key)
            assert existing is not None
            return existing
        ids, messages = written
        record.version = 1
        self._mail.remember(record, state)
        self._outbox.committed(ids, messages)
        # Logged once the answer is on its way (nats-py writes it from its
        # flusher task, woken before this timer's turn): the record's making,
        # formatting and write are not on the answer's path.
        asyncio.get_running_loop().call_later(
            0, logger.info, "run %s created with %d steps", record.uuid, len(new_steps)
        )
        # One validation of a dict: half the CPU of a model per step.
        return RunView.model_validate(
            {
                "uuid": record.uuid,
                "pipeline_uuid": record.pipeline_uuid,
                "project_uuid": record.project_uuid,
                "job_uuid": record.job_uuid,
                "run_type": command.run_type,
                "status": state.status,
                "created_time": now,
                "pipeline_steps": [
                    {
                        "run_uuid": record.uuid,
                        "step_uuid": s.uuid,
                        "title": s.title,
                        "file_path": s.file_path,
                        "status": state.steps[s.uuid].status,
                        "attempt": state.steps[s.uuid].attempt,
                    }
                    for s in new_steps
                ],
            }
        )

    async def _frozen(self, command: CreateRun) -> tuple[PipelineDefinition, RunConfig]:
        """The definition and configuration of the run: as given, or read now
        from the project's pipeline file (the run keeps this copy)."""
        if command.pipeline_definition is not None and command.run_config is not None:
            return command.pipeline_definition, command.run_config
        assert command.project_uuid is not None and command.pipeline_uuid is not None
        found = await self.resolve_pipeline(command.project_uuid, command.pipeline_uuid)
        run_config = RunConfig(
            project_dir=found.project_dir,
            project_uuid=command.project_uuid,
            pipeline_path=found.pipeline_path,
            env_variables={**found.env_variables, **(command.env_variables or {})},
        )
        return found.definition, run_config

    async def resolve_pipeline(self, project_uuid: str, pipeline_uuid: str) -> ResolvedPipeline:
        """A project's pipeline file, read now (for a run or a job to freeze)."""
        if self._pipelines is None:
            raise CommandError(ErrorCode.INVALID, "pipelines by reference are not served here")
        return await self._pipelines.resolve(project_uuid, pipeline_uuid)

    async def abort(self, command: AbortRun) -> RunView:
        try:
            await self._mail.submit(command.run_uuid, lambda state: (None, engine.abort(state)))
        except RunNotFound:
            raise CommandError(ErrorCode.NOT_FOUND, f"no run {command.run_uuid}") from None
        view = await self.view(command.run_uuid)
        assert view is not None
        return view

    async def claim(self, command: ClaimStep) -> StepClaim:
        def decide(state: RunState) -> tuple[Any, Plan]:
            return engine.claim(
                state,
                command.step_uuid,
                command.attempt,
                command.runner_id,
                command.redelivered,
                command.lease_seconds,
            )

        try:
            decision: ClaimDecision = await self._mail.submit(command.run_uuid, decide)
        except RunNotFound:
            return StepClaim(granted=False, reason="no such run")
        return StepClaim(granted=decision.granted, attempt=decision.attempt, reason=decision.reason)

    async def on_report(self, report: StepAttemptFinished, msg: Msg | None = None) -> None:
        """A report from the ``REPORTS`` stream."""
        try:
            await self.submit_report(report)
        except RunNotFound:
            logger.warning("report for unknown run %s dropped", report.run_uuid)

    def submit_report(self, report: StepAttemptFinished) -> asyncio.Future[Any]:
        """A report from the ``REPORTS`` stream, handed to its run's mailbox:
        the future of its decision's commit (``RunNotFound`` for an unknown run)."""
        return self._mail.submit(report.run_uuid, finish_decision(report, None), report)

    async def report(self, command: ReportAttempt) -> ReportAnswer:
        """A report sent as a request: answered once its decision is committed,
        with the attempt granted to the reporting runner if it kept a slot and
        the decision made a step ready (``engine.hand_off``)."""
        answers: list[ReportAnswer] = []

        async def keep(answer: ReportAnswer) -> None:
            answers.append(answer)

        try:
            handed = await self.report_to(command, keep)
        except RunNotFound:
            logger.warning("report for unknown run %s dropped", command.report.run_uuid)
            return ReportAnswer()
        return answers[0] if answers else await self.answer_of(command.report.run_uuid, handed)

    def report_to(self, command: ReportAttempt, respond: Respond) -> asyncio.Future[Any]:
        """``report`` handed to its run's mailbox, without waiting: its answer
        is given to ``respond`` the moment the commit of the decision returns,
        before the write's bookkeeping (``Mailboxes``' ``answer``). The future
        holds what the decision handed over once it is known; a report that
        decided nothing new (asked again) is not answered by the mailbox: its
        answer is ``answer_of`` that. ``RunNotFound`` for an unknown run."""
        report = command.report

        async def answer(record: run_store.RunRecord, handed: tuple[str, int] | None) -> None:
            await respond(report_answer(record, handed))

        decide = finish_decision(report, command.next_lease_seconds)
        return self._mail.submit(report.run_uuid, decide, report, answer)

    async def answer_of(self, run_uuid: str, handed: tuple[str, int] | None) -> ReportAnswer:
        """The answer of a report of the run whose decision handed ``handed`` over."""
        record = await self._mail.record(run_uuid)
        assert record is not None  # it was just decided on
        return report_answer(record, handed)

    async def lease_lapsed(self, run_uuid: str, step_uuid: str, attempt: int) -> None:
        """The attempt's lease lapsed (the lease sweep saw it)."""
        with contextlib.suppress(RunNotFound):
            await self._mail.submit(
                run_uuid, lambda state: (None, engine.lease_lapsed(state, step_uuid, attempt))
            )

    async def view(self, run_uuid: str) -> RunView | None:
        async with self._pool.acquire() as conn:
            return await run_store.fetch_run_view(conn, run_uuid)

    # -- for the jobs ----------------------------------------------------------------

    def on_job_run_ended(self, callback: OnJobRunEnded) -> None:
        self._mail.on_job_run_ended = callback

    async def insert(
        self,
        conn: Connection,
        record: run_store.RunRecord,
        run_type: RunType,
        steps: list[run_store.NewStep],
        state: RunState,
        plan: Plan,
        now: datetime,
        *,
        idempotency_key: str | None = None,
        job_place: run_store.JobRunPlace | None = None,
        definition_json: bytes | None = None,
    ) -> tuple[list[int], list[OutMessage]] | None:
        """Write a new run, with the events and messages of its first plan, in
        ``conn``'s transaction: the outbox ids and messages to publish once it
        commits, or None (nothing written) when the idempotency key is taken."""
        events, messages, seq = self._mail.announce(record, state, plan, now)
        record.event_seq = seq
        ids = await run_store.create_run(
            conn,
            record=record,
            run_type=run_type,
            idempotency_key=idempotency_key,
            steps=steps,
            state=state,
            events=events,
            outbox=[outbox_row(m) for m in messages],
            now=now,
            job_place=job_place,
            definition_json=definition_json,
        )
        return None if ids is None else (ids, messages)

    async def start_admitted(self, run_uuid: str) -> None:
        """Send the first steps of a job's run that was let start (idempotent)."""
        with contextlib.suppress(RunNotFound):
            await self._mail.submit(run_uuid, lambda state: (None, engine.start(state)))

    def forget(self, run_uuid: str) -> None:
        """A run was deleted (retention)."""
        self._mail.forget(run_uuid)

    # -- retries -------------------------------------------------------------------

    async def schedule_waiting_retries(self) -> None:
        """At start-up: wake the retries a previous process was waiting for."""
        async with self._pool.acquire() as conn:
            waiting = await step_store.steps_waiting_retry(conn)
        now = self._clock()
        for run_uuid, step_uuid, attempt, due in waiting:
            self._schedule_retry(
                run_uuid, step_uuid, attempt, max(0.0, (due - now).total_seconds())
            )

    async def sweep_retries(
        self, stopping: asyncio.Event, every: float = RETRY_SWEEP_SECONDS
    ) -> None:
        """The safety net of the in-process timers: retries that came due without
        being dispatched (their timer was in a scheduler replica that died) are
        dispatched by whichever replica sweeps first; the version guard makes the
        others' attempts no-ops."""
        async for _ in ticks(every, stopping):
            grace = timedelta(seconds=every)
            try:
                async with self._pool.acquire() as conn:
                    due = await step_store.steps_waiting_retry(conn, self._clock() - grace)
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                logger.warning("retry sweep failed (%s); next time", exc)
                continue
            for run_uuid, step_uuid, attempt, _ in due:
                logger.info("retry of %s/%s overdue: dispatching", run_uuid, step_uuid)
                await self._retry_due(run_uuid, step_uuid, attempt)

    def _schedule_retry(self, run_uuid: str, step_uuid: str, attempt: int, delay: float) -> None:
        loop = asyncio.get_running_loop()

        def fire() -> None:
            self._timers.discard(handle)
            task = loop.create_task(self._retry_due(run_uuid, step_uuid, attempt))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

        handle = loop.call_later(delay, fire)
        self._timers.add(handle)

    async def _retry_due(self, run_uuid: str, step_uuid: str, attempt: int) -> None:
        try:
            await self._mail.submit(
                run_uuid, lambda state: (None, engine.retry_due(state, step_uuid, attempt))
            )
        except RunNotFound:
            return
        except Exception:
            logger.exception("retry of %s/%s failed; again in 1 s", run_uuid, step_uuid)
            self._schedule_retry(run_uuid, step_uuid, attempt, 1.0)

    def close(self) -> None:
        for handle in self._timers:
            handle.cancel()
        self._timers.clear()

    async def _existing(self, key: str) -> RunView | None:
        async with self._pool.acquire() as conn:
            run_uuid = await run_store.find_run_by_key(conn, key)
            if run_uuid is None:
                return None
            return await run_store.fetch_run_view(conn, run_uuid)
