"""Interactive runs: the scheduler's command handlers and report consumer.

Each input locks its run's row, brings the run's state up (from a cache
when no one else changed the run since, else from the tables), asks the
engine for a plan, and writes the plan, its events and its outgoing
messages (through the outbox) in the same transaction.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from uuid import uuid4

import asyncpg
from nats.aio.msg import Msg

from orchest_runtime.errors import CommandError
from orchest_schemas.bus import BusNames
from orchest_schemas.commands import AbortRun, CancelStep, CreateRun, StepWork
from orchest_schemas.errors import ErrorCode
from orchest_schemas.events import RunStatusChanged, StepStatusChanged
from orchest_schemas.reports import ClaimStep, StepAttemptFinished, StepClaim
from orchest_schemas.runs import RunView
from orchest_schemas.status import Priority, RunStatus, StepStatus

from . import engine, store
from .dag import run_parents, select_steps, validate_definition
from .engine import Plan, RunState, StepState
from .outbox import Outbox, OutMessage
from .project_files import check_project_files

logger = logging.getLogger(__name__)


@dataclass
class _Cached:
    version: int
    state: RunState
    timeouts: dict[str, float | None]


class Runs:
    def __init__(
        self,
        pool: asyncpg.Pool,
        bus: BusNames,
        outbox: Outbox,
        clock: Callable[[], datetime] = store.utcnow,
    ) -> None:
        self._pool = pool
        self._bus = bus
        self._outbox = outbox
        self._clock = clock
        self._cache: dict[str, _Cached] = {}
        self._timers: set[asyncio.TimerHandle] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    # -- commands ------------------------------------------------------------------

    async def create(self, command: CreateRun) -> RunView:
        if command.idempotency_key is not None:
            existing = await self._existing(command.idempotency_key)
            if existing is not None:
                return existing
        definition = command.pipeline_definition
        problems = validate_definition(definition)
        step_uuids: list[str] = []
        if not problems:
            step_uuids, problems = select_steps(definition, command.run_type, command.uuids)
        if not problems:
            problems = check_project_files(definition, command.run_config.project_dir, step_uuids)
        if problems:
            raise CommandError(
                ErrorCode.INVALID,
                f"invalid run: {len(problems)} problem(s)",
                [p.to_detail() for p in problems],
            )
        parents = run_parents(definition, step_uuids)
        settings = definition.settings
        new_steps = []
        for position, uuid in enumerate(step_uuids):
            step = definition.steps[uuid]
            new_steps.append(
                store.NewStep(
                    uuid=uuid,
                    title=step.title,
                    file_path=step.file_path,
                    position=position,
                    parents=parents[uuid],
                    max_retries=step.retries if step.retries is not None else settings.retries,
                    retry_backoff=settings.retry_backoff_seconds,
                    timeout_seconds=step.timeout_seconds or settings.timeout_seconds,
                )
            )
        state = RunState(
            status=RunStatus.PENDING,
            steps={
                s.uuid: StepState(
                    s.uuid, s.parents, max_retries=s.max_retries, retry_backoff=s.retry_backoff
                )
                for s in new_steps
            },
            fail_fast=settings.fail_fast,
            max_parallel=settings.max_steps_parallelism,
        )
        plan = engine.start(state)
        run_uuid = str(uuid4())
        async with self._pool.acquire() as conn, conn.transaction():
            inserted = await store.insert_run(
                conn,
                run_uuid=run_uuid,
                pipeline_uuid=definition.uuid,
                project_uuid=command.run_config.project_uuid,
                job_uuid=command.job_uuid,
                run_type=command.run_type,
                definition=definition,
                project_dir=command.run_config.project_dir,
                env_variables=command.run_config.env_variables,
                idempotency_key=command.idempotency_key,
                steps=new_steps,
            )
            if not inserted:
                assert command.idempotency_key is not None
                raced = None
            else:
                record = store.RunRecord(
                    uuid=run_uuid,
                    pipeline_uuid=definition.uuid,
                    project_uuid=command.run_config.project_uuid,
                    job_uuid=command.job_uuid,
                    project_dir=command.run_config.project_dir,
                    env_variables=command.run_config.env_variables,
                    definition=definition,
                    event_seq=0,
                    version=0,
                )
                created = [
                    engine.StepChange(uuid, StepStatus.PENDING, state.steps[uuid].attempt)
                    for uuid in step_uuids
                ]
                plan.changes[:0] = created
                plan.run_status = RunStatus.PENDING
                timeouts = {s.uuid: s.timeout_seconds for s in new_steps}
                ids, messages = await self._write(conn, record, state, timeouts, plan)
                raced = run_uuid
        if raced is None:
            assert command.idempotency_key is not None
            existing = await self._existing(command.idempotency_key)
            assert existing is not None
            return existing
        self._committed(run_uuid, record.version + 1, state, timeouts, ids, messages, plan)
        logger.info(
            "run %s created: %d steps", run_uuid, len(step_uuids), extra={"run_uuid": run_uuid}
        )
        view = await self.view(run_uuid)
        assert view is not None
        return view

    async def abort(self, command: AbortRun) -> RunView:
        found = await self._transition(command.run_uuid, lambda state: engine.abort(state))
        if found is None:
            raise CommandError(ErrorCode.NOT_FOUND, f"no run {command.run_uuid}")
        view = await self.view(command.run_uuid)
        assert view is not None
        return view

    async def claim(self, command: ClaimStep) -> StepClaim:
        decision: list[engine.ClaimDecision] = []

        def decide(state: RunState) -> Plan:
            result, plan = engine.claim(
                state, command.step_uuid, command.attempt, command.runner_id, command.redelivered
            )
            decision.append(result)
            return plan

        found = await self._transition(command.run_uuid, decide)
        if found is None:
            return StepClaim(granted=False, reason="no such run")
        return StepClaim(
            granted=decision[0].granted, attempt=decision[0].attempt, reason=decision[0].reason
        )

    async def on_report(self, report: StepAttemptFinished, msg: Msg | None = None) -> None:
        def decide(state: RunState) -> Plan:
            return engine.finish(
                state,
                report.step_uuid,
                report.attempt,
                StepStatus(report.status),
                report.exit_code,
                report.error,
                tuple(report.artifacts),
            )

        await self._transition(report.run_uuid, decide, report=report)

    async def view(self, run_uuid: str) -> RunView | None:
        async with self._pool.acquire() as conn:
            return await store.fetch_run_view(conn, run_uuid)

    # -- retries -------------------------------------------------------------------

    async def schedule_waiting_retries(self) -> None:
        """At start-up: wake the retries a previous process was waiting for."""
        async with self._pool.acquire() as conn:
            waiting = await store.steps_waiting_retry(conn)
        now = self._clock()
        for run_uuid, step_uuid, attempt, due in waiting:
            self._schedule_retry(
                run_uuid, step_uuid, attempt, max(0.0, (due - now).total_seconds())
            )

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
            await self._transition(
                run_uuid, lambda state: engine.retry_due(state, step_uuid, attempt)
            )
        except Exception:
            logger.exception("retry of %s/%s failed; retrying in 1s", run_uuid, step_uuid)
            self._schedule_retry(run_uuid, step_uuid, attempt, 1.0)

    def close(self) -> None:
        for handle in self._timers:
            handle.cancel()
        self._timers.clear()

    # -- the transition ------------------------------------------------------------

    async def _transition(
        self,
        run_uuid: str,
        decide: Callable[[RunState], Plan],
        report: StepAttemptFinished | None = None,
    ) -> bool | None:
        """Apply ``decide`` to the run under its lock; None when there is no such run."""
        try:
            async with self._pool.acquire() as conn, conn.transaction():
                locked = await store.lock_run(conn, run_uuid)
                if locked is None:
                    return None
                record, status, abort_requested = locked
                if report is not None and not await store.record_report(
                    conn, report.report_id, run_uuid, report.finished_at, report.model_dump_json()
                ):
                    return True  # already applied
                cached = self._cache.get(run_uuid)
                if cached is None or cached.version != record.version:
                    steps, timeouts = await store.load_steps(conn, run_uuid)
                    definition = record.definition
                    cached = _Cached(
                        record.version,
                        RunState(
                            status=status,
                            steps=steps,
                            fail_fast=definition.settings.fail_fast,
                            max_parallel=definition.settings.max_steps_parallelism,
                            abort_requested=abort_requested,
                        ),
                        timeouts,
                    )
                    self._cache[run_uuid] = cached
                plan = decide(cached.state)
                if plan.empty:
                    return True
                ids, messages = await self._write(conn, record, cached.state, cached.timeouts, plan)
        except BaseException:
            self._cache.pop(run_uuid, None)  # the state may hold an uncommitted change
            raise
        self._committed(
            run_uuid, record.version + 1, cached.state, cached.timeouts, ids, messages, plan
        )
        return True

    async def _write(
        self,
        conn: store.Connection,
        record: store.RunRecord,
        state: RunState,
        timeouts: dict[str, float | None],
        plan: Plan,
    ) -> tuple[list[int], list[OutMessage]]:
        now = self._clock()
        seq = record.event_seq
        messages: list[OutMessage] = []
        log_rows: list[tuple[str, str, str, int, datetime, str]] = []
        for change in plan.changes:
            seq += 1
            event = StepStatusChanged(
                run_uuid=record.uuid,
                pipeline_uuid=record.pipeline_uuid,
                step_uuid=change.step_uuid,
                attempt=change.attempt,
                status=change.status,
                sequence=seq,
                exit_code=change.exit_code,
                error=change.error,
                runner_id=change.runner_id,
                artifacts=list(change.artifacts),
                occurred_at=now,
            )
            subject = self._bus.step_event(record.pipeline_uuid, record.uuid, change.step_uuid)
            messages.append(OutMessage(subject, event.to_bytes(), event.event_id))
            log_rows.append(
                (event.event_id, event.kind, record.uuid, seq, now, event.model_dump_json())
            )
        if plan.run_status is not None:
            seq += 1
            run_event = RunStatusChanged(
                run_uuid=record.uuid,
                pipeline_uuid=record.pipeline_uuid,
                job_uuid=record.job_uuid,
                status=plan.run_status,
                sequence=seq,
                occurred_at=now,
            )
            subject = self._bus.run_event(record.pipeline_uuid, record.uuid)
            messages.append(OutMessage(subject, run_event.to_bytes(), run_event.event_id))
            log_rows.append(
                (
                    run_event.event_id,
                    run_event.kind,
                    record.uuid,
                    seq,
                    now,
                    run_event.model_dump_json(),
                )
            )
        priority = Priority.JOB if record.job_uuid else Priority.INTERACTIVE
        for step_uuid, attempt in plan.dispatch:
            work = StepWork(
                run_uuid=record.uuid,
                step_uuid=step_uuid,
                attempt=attempt,
                priority=priority,
                pipeline_definition=record.definition,
                project_dir=record.project_dir,
                project_uuid=record.project_uuid,
                job_uuid=record.job_uuid,
                env_variables=record.env_variables,
                timeout_seconds=timeouts.get(step_uuid),
            )
            messages.append(
                OutMessage(
                    self._bus.step_work(priority),
                    work.to_bytes(),
                    f"{record.uuid}.{step_uuid}.{attempt}",
                )
            )
        for step_uuid, attempt in plan.cancel:
            cancel = CancelStep(run_uuid=record.uuid, step_uuid=step_uuid, attempt=attempt)
            messages.append(
                OutMessage(
                    self._bus.cancel_step(record.uuid, step_uuid),
                    cancel.to_bytes(),
                    jetstream=False,
                )
            )
        retry_at = store.retry_times([(r.step_uuid, r.delay_seconds) for r in plan.retries], now)
        changed = [c.step_uuid for c in plan.changes] + [uuid for uuid, _ in plan.dispatch]
        await store.save_steps(conn, record.uuid, state, changed, plan.changes, retry_at, now)
        await store.save_run(conn, record.uuid, plan.run_status, state.abort_requested, seq, now)
        await store.log_events(conn, log_rows)
        ids = await self._outbox.stage(conn, messages)
        return ids, messages

    def _committed(
        self,
        run_uuid: str,
        version: int,
        state: RunState,
        timeouts: dict[str, float | None],
        ids: list[int],
        messages: list[OutMessage],
        plan: Plan,
    ) -> None:
        self._outbox.committed(ids, messages)
        if state.status.is_final:
            self._cache.pop(run_uuid, None)
        else:
            self._cache[run_uuid] = _Cached(version, state, timeouts)
        for retry in plan.retries:
            self._schedule_retry(run_uuid, retry.step_uuid, retry.attempt, retry.delay_seconds)

    async def _existing(self, key: str) -> RunView | None:
        async with self._pool.acquire() as conn:
            run_uuid = await store.find_run_by_key(conn, key)
            if run_uuid is None:
                return None
            return await store.fetch_run_view(conn, run_uuid)
