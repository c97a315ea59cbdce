"""Runs: the scheduler's command handlers and report consumer.

Every input of a run (a claim, a report, a retry coming due, an abort) goes
to the run's mailbox. One worker per run drains it: it applies every queued
input to the run's state with the engine, one after the other, and writes
the merged plan in one statement guarded by the run's version; if another
scheduler replica changed the run meanwhile, it reloads and decides again.
A burst of inputs for one run (a fan-out's claims and reports) costs one
write, not one each. The state stays cached between writes.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import uuid4

import asyncpg
from nats.aio.msg import Msg

from orchest_runtime.errors import CommandError
from orchest_schemas.bus import BusNames
from orchest_schemas.commands import AbortRun, CancelStep, CreateRun, StepWork
from orchest_schemas.errors import ErrorCode
from orchest_schemas.events import RunStatusChanged, StepStatusChanged
from orchest_schemas.reports import ClaimStep, StepAttemptFinished, StepClaim
from orchest_schemas.runs import RunView, StepView
from orchest_schemas.status import Priority, RunStatus, StepStatus

from . import engine, store
from .dag import run_parents, select_steps, validate_definition
from .definitions import DefinitionStore
from .engine import Plan, RunState, StepState
from .outbox import Outbox, OutMessage
from .project_files import check_project_files

logger = logging.getLogger(__name__)

Decide = Callable[[RunState], tuple[Any, Plan]]
MAX_CONFLICTS = 10
INLINE_FILE_CHECKS = 64
RETRY_SWEEP_SECONDS = 5.0
"""Up to this many steps, their files are checked on the event loop."""
CACHED_RUNS = 512
"""Runs whose state is kept between decisions (ended ones too: late claims and
reports of a run that just ended are answered without reading it again)."""


class RunNotFound(Exception):
    pass


@dataclass
class _Loaded:
    record: store.RunRecord
    state: RunState


@dataclass
class _Input:
    decide: Decide
    future: asyncio.Future[Any]
    report: StepAttemptFinished | None = None


class _RunCache:
    """The most recently used runs' states."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._runs: OrderedDict[str, _Loaded] = OrderedDict()

    def get(self, run_uuid: str) -> _Loaded | None:
        loaded = self._runs.get(run_uuid)
        if loaded is not None:
            self._runs.move_to_end(run_uuid)
        return loaded

    def put(self, run_uuid: str, loaded: _Loaded) -> None:
        self._runs[run_uuid] = loaded
        self._runs.move_to_end(run_uuid)
        while len(self._runs) > self._size:
            self._runs.popitem(last=False)

    def pop(self, run_uuid: str, default: None = None) -> _Loaded | None:
        return self._runs.pop(run_uuid, default)


class Runs:
    def __init__(
        self,
        pool: asyncpg.Pool,
        bus: BusNames,
        outbox: Outbox,
        definitions: DefinitionStore,
        clock: Callable[[], datetime] = store.utcnow,
    ) -> None:
        self._pool = pool
        self._bus = bus
        self._outbox = outbox
        self._definitions = definitions
        self._clock = clock
        self._cache = _RunCache(CACHED_RUNS)
        self._mailboxes: dict[str, list[_Input]] = {}
        self._workers: dict[str, asyncio.Task[None]] = {}
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
            project_dir = command.run_config.project_dir
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
        plan.changes[:0] = [
            engine.StepChange(uuid, StepStatus.PENDING, state.steps[uuid].attempt)
            for uuid in step_uuids
        ]
        plan.run_status = RunStatus.PENDING
        record = store.RunRecord(
            uuid=str(uuid4()),
            pipeline_uuid=definition.uuid,
            project_uuid=command.run_config.project_uuid,
            job_uuid=command.job_uuid,
            project_dir=command.run_config.project_dir,
            env_variables=command.run_config.env_variables,
            definition=definition,
            definition_key=await self._definitions.put(definition),
            version=0,
            event_seq=0,
            timeouts={s.uuid: s.timeout_seconds for s in new_steps},
        )
        now = self._clock()
        events, messages, seq = self._announce(record, state, plan, now)
        record.event_seq = seq
        async with self._pool.acquire() as conn:
            ids = await store.create_run(
                conn,
                record=record,
                run_type=command.run_type,
                idempotency_key=command.idempotency_key,
                steps=new_steps,
                state=state,
                events=events,
                outbox=[_outbox_row(m) for m in messages],
                now=now,
            )
        if ids is None:  # another request with the same key won the race
            assert command.idempotency_key is not None
            existing = await self._existing(command.idempotency_key)
            assert existing is not None
            return existing
        record.version = 1
        self._cache.put(record.uuid, _Loaded(record, state))
        self._outbox.committed(ids, messages)
        logger.info("run %s created with %d steps", record.uuid, len(step_uuids))
        return RunView(
            uuid=record.uuid,
            pipeline_uuid=record.pipeline_uuid,
            project_uuid=record.project_uuid,
            job_uuid=record.job_uuid,
            run_type=command.run_type,
            status=state.status,
            created_time=now,
            pipeline_steps=[
                StepView(
                    run_uuid=record.uuid,
                    step_uuid=s.uuid,
                    title=s.title,
                    file_path=s.file_path,
                    status=state.steps[s.uuid].status,
                    attempt=state.steps[s.uuid].attempt,
                )
                for s in new_steps
            ],
        )

    async def abort(self, command: AbortRun) -> RunView:
        try:
            await self.submit(command.run_uuid, lambda state: (None, engine.abort(state)))
        except RunNotFound:
            raise CommandError(ErrorCode.NOT_FOUND, f"no run {command.run_uuid}") from None
        view = await self.view(command.run_uuid)
        assert view is not None
        return view

    async def claim(self, command: ClaimStep) -> StepClaim:
        def decide(state: RunState) -> tuple[Any, Plan]:
            return engine.claim(
                state, command.step_uuid, command.attempt, command.runner_id, command.redelivered
            )

        try:
            decision: engine.ClaimDecision = await self.submit(command.run_uuid, decide)
        except RunNotFound:
            return StepClaim(granted=False, reason="no such run")
        return StepClaim(granted=decision.granted, attempt=decision.attempt, reason=decision.reason)

    async def on_report(self, report: StepAttemptFinished, msg: Msg | None = None) -> None:
        def decide(state: RunState) -> tuple[Any, Plan]:
            plan = engine.finish(
                state,
                report.step_uuid,
                report.attempt,
                StepStatus(report.status),
                report.exit_code,
                report.error,
                tuple(report.artifacts),
            )
            return None, plan

        try:
            await self.submit(report.run_uuid, decide, report)
        except RunNotFound:
            logger.warning("report for unknown run %s dropped", report.run_uuid)

    async def view(self, run_uuid: str) -> RunView | None:
        async with self._pool.acquire() as conn:
            return await store.fetch_run_view(conn, run_uuid)

    # -- the mailbox ---------------------------------------------------------------

    def submit(
        self, run_uuid: str, decide: Decide, report: StepAttemptFinished | None = None
    ) -> asyncio.Future[Any]:
        """Queue an input for the run; the future holds what ``decide`` returned
        once the decision is written. Inputs of a run are applied in order."""
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._mailboxes.setdefault(run_uuid, []).append(_Input(decide, future, report))
        if run_uuid not in self._workers:
            worker = asyncio.create_task(self._drain(run_uuid), name=f"run-{run_uuid}")
            self._workers[run_uuid] = worker
        return future

    async def _drain(self, run_uuid: str) -> None:
        try:
            while batch := self._mailboxes.pop(run_uuid, None):
                try:
                    await self._apply(run_uuid, batch)
                except Exception as exc:
                    self._cache.pop(run_uuid, None)  # may hold an unwritten change
                    for item in batch:
                        if not item.future.done():
                            item.future.set_exception(exc)
        finally:
            self._workers.pop(run_uuid, None)

    async def _apply(self, run_uuid: str, batch: list[_Input]) -> None:
        for _ in range(MAX_CONFLICTS):
            loaded = self._cache.get(run_uuid)
            if loaded is None:
                loaded = await self._load(run_uuid)
                if loaded is None:
                    for item in batch:
                        item.future.set_exception(RunNotFound(run_uuid))
                    return
            plan = Plan()
            results = []
            applied_reports = []
            for item in batch:
                result, part = item.decide(loaded.state)
                results.append(result)
                _merge(plan, part)
                if item.report is not None and not part.empty:
                    applied_reports.append(item.report)
            if not plan.empty and not await self._write(loaded, plan, applied_reports):
                # Another writer (a scheduler replica) moved the run on: decide again.
                logger.info("run %s changed elsewhere; reloading", run_uuid)
                self._cache.pop(run_uuid, None)
                continue
            for item, result in zip(batch, results, strict=True):
                item.future.set_result(result)
            return
        raise RuntimeError(f"run {run_uuid}: still conflicting after {MAX_CONFLICTS} tries")

    async def _load(self, run_uuid: str) -> _Loaded | None:
        async with self._pool.acquire() as conn:
            found = await store.load_run(conn, run_uuid)
        if found is None:
            return None
        record, state = found
        if not record.definition_key:
            record.definition_key = await self._definitions.put(record.definition)
        loaded = _Loaded(record, state)
        self._cache.put(run_uuid, loaded)
        return loaded

    async def _write(self, loaded: _Loaded, plan: Plan, reports: list[StepAttemptFinished]) -> bool:
        record, state = loaded.record, loaded.state
        now = self._clock()
        events, messages, seq = self._announce(record, state, plan, now)
        events += [store.EventRow(r.report_id, r.kind, None, r.model_dump_json()) for r in reports]
        retry_at = store.retry_times([(r.step_uuid, r.delay_seconds) for r in plan.retries], now)
        async with self._pool.acquire() as conn:
            ids = await store.write_plan(
                conn,
                run_uuid=record.uuid,
                expected_version=record.version,
                run_status=plan.run_status,
                abort_requested=state.abort_requested,
                event_seq=seq,
                steps=_step_rows(state, plan, retry_at),
                events=events,
                outbox=[_outbox_row(m) for m in messages],
                now=now,
            )
        if ids is None:
            return False
        record.version += 1
        record.event_seq = seq
        self._outbox.committed(ids, messages)
        for retry in plan.retries:
            self._schedule_retry(record.uuid, retry.step_uuid, retry.attempt, retry.delay_seconds)
        return True

    def _announce(
        self, record: store.RunRecord, state: RunState, plan: Plan, now: datetime
    ) -> tuple[list[store.EventRow], list[OutMessage], int]:
        """The events and messages of a plan, with the run's next sequence numbers.

        Work and cancels go out first: they are on the critical path of the run;
        the events follow, in their order. The events are built without
        validation (``model_construct``): every field comes from the engine's
        typed state, and this runs for every event of every run."""
        seq = record.event_seq
        events: list[store.EventRow] = []
        messages: list[OutMessage] = []
        orders = self._orders(record, plan)
        for change in plan.changes:
            seq += 1
            event = StepStatusChanged.model_construct(
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
            data = event.model_dump_json()
            subject = self._bus.step_event(record.pipeline_uuid, record.uuid, change.step_uuid)
            messages.append(OutMessage(subject, data.encode(), event.event_id))
            events.append(store.EventRow(event.event_id, event.kind, seq, data))
        if plan.run_status is not None:
            seq += 1
            run_event = RunStatusChanged.model_construct(
                run_uuid=record.uuid,
                pipeline_uuid=record.pipeline_uuid,
                job_uuid=record.job_uuid,
                status=plan.run_status,
                sequence=seq,
                occurred_at=now,
            )
            data = run_event.model_dump_json()
            subject = self._bus.run_event(record.pipeline_uuid, record.uuid)
            messages.append(OutMessage(subject, data.encode(), run_event.event_id))
            events.append(store.EventRow(run_event.event_id, run_event.kind, seq, data))
        return events, orders + messages, seq

    def _orders(self, record: store.RunRecord, plan: Plan) -> list[OutMessage]:
        """Step work to publish and attempts to cancel."""
        messages: list[OutMessage] = []
        priority = Priority.JOB if record.job_uuid else Priority.INTERACTIVE
        for step_uuid, attempt in plan.dispatch:
            work = StepWork(
                run_uuid=record.uuid,
                step_uuid=step_uuid,
                attempt=attempt,
                priority=priority,
                definition_key=record.definition_key,
                project_dir=record.project_dir,
                project_uuid=record.project_uuid,
                job_uuid=record.job_uuid,
                env_variables=record.env_variables,
                timeout_seconds=record.timeouts.get(step_uuid),
            )
            messages.append(
                OutMessage(
                    self._bus.step_work(priority),
                    work.model_dump_json(exclude={"pipeline_definition"}).encode(),
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
        return messages

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

    async def sweep_retries(
        self, stopping: asyncio.Event, every: float = RETRY_SWEEP_SECONDS
    ) -> None:
        """The safety net of the in-process timers: retries that came due without
        being dispatched (their timer was in a scheduler replica that died) are
        dispatched by whichever replica sweeps first; the version guard makes the
        others' attempts no-ops."""
        while True:
            try:
                await asyncio.wait_for(stopping.wait(), every)
                return
            except TimeoutError:
                pass
            grace = timedelta(seconds=every)
            try:
                async with self._pool.acquire() as conn:
                    due = await store.steps_waiting_retry(conn, self._clock() - grace)
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
            await self.submit(
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
            run_uuid = await store.find_run_by_key(conn, key)
            if run_uuid is None:
                return None
            return await store.fetch_run_view(conn, run_uuid)


def _merge(plan: Plan, part: Plan) -> None:
    plan.changes += part.changes
    plan.dispatch += part.dispatch
    plan.retries += part.retries
    plan.cancel += part.cancel
    if part.run_status is not None:
        plan.run_status = part.run_status


def _step_rows(state: RunState, plan: Plan, retry_at: dict[str, datetime]) -> list[store.StepRow]:
    """The new row of each step the plan touched; times and outcome from its last change."""
    last = {c.step_uuid: c for c in plan.changes}
    touched = dict.fromkeys([c.step_uuid for c in plan.changes] + [s for s, _ in plan.dispatch])
    rows = []
    for uuid in touched:
        step = state.steps[uuid]
        change = last.get(uuid)
        if change is None:
            mode = "keep"
        elif change.status is StepStatus.STARTED:
            mode = "start"
        elif change.status.is_final and step.status.is_final:
            mode = "final"
        else:
            mode = "reset"
        final = change if mode == "final" else None
        rows.append(
            store.StepRow(
                step_uuid=uuid,
                status=step.status.value,
                attempt=step.attempt,
                dispatched=step.dispatched,
                retry_at=retry_at.get(uuid) if step.retry_wait else None,
                runner_id=step.runner_id,
                lost_leases=step.lost_leases,
                mode=mode,
                exit_code=final.exit_code if final else None,
                error=final.error if final else None,
                artifacts=json.dumps(list(final.artifacts) if final else []),
            )
        )
    return rows


def _outbox_row(message: OutMessage) -> store.OutboxRow:
    return store.OutboxRow(message.subject, message.msg_id, message.payload, message.jetstream)
