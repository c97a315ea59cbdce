"""Run mailboxes: every input of a run is applied by one worker, in order,
in batches.

Every input (a claim, a report, a retry coming due, a lapsed lease, an
abort) goes to its run's mailbox. One worker per run drains it: it applies every queued input
to the run's state with the engine, one after the other, and writes the
merged plan in one statement guarded by the run's version; if another
scheduler replica changed the run meanwhile, it reloads and decides again. A
burst of inputs for one run (a fan-out's claims and reports) costs one
write, not one each. The state stays cached between writes.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import asyncpg

from orchest_schemas.bus import BusNames
from orchest_schemas.commands import CancelStep, StepWork
from orchest_schemas.events import (
    RunStatusChanged,
    StepStatusChanged,
    new_event_id,
    run_status_changed_json,
    step_status_changed_json,
)
from orchest_schemas.reports import StepAttemptFinished
from orchest_schemas.status import Priority

from .definitions import DefinitionStore
from .outbox import Outbox, OutMessage
from .outbox_store import OutboxRow
from .plan_store import step_rows, write_plan
from .run_state import Plan, RunState
from .run_store import EventRow, RunRecord, load_run, run_version

logger = logging.getLogger(__name__)

Decide = Callable[[RunState], tuple[Any, Plan]]
Answer = Callable[[RunRecord, Any], Awaitable[None]]
"""Sends an input's answer (from the run's record and what its decision
returned) the moment the write that applies it has committed."""
OnRetry = Callable[[str, str, int, float], None]
"""(run, step, attempt, delay): a retry to dispatch after a delay."""
OnJobRunEnded = Callable[[str, str], None]
"""(job, run): a job's run reached an end state."""
MAX_CONFLICTS = 10
RUN_STATUS_CHANGED: str = RunStatusChanged.model_fields["kind"].default
STEP_STATUS_CHANGED: str = StepStatusChanged.model_fields["kind"].default
"""The events' kinds, as the event log keeps them."""
MAX_BATCH = 1024
"""Inputs of a run applied by one statement at most (the most the report
consumer pulls at once): the statement's cost is linear in its steps, and a
bound keeps one statement, its arguments and its lock's hold bounded; a
larger burst is written in several, one after the other."""
CACHED_RUNS = 512
"""Runs whose state is kept between decisions (ended ones too: late claims and
reports of a run that just ended are answered without reading it again)."""


class RunNotFound(Exception):
    pass


@dataclass
class LoadedRun:
    record: RunRecord
    state: RunState


@dataclass
class _Input:
    decide: Decide
    future: asyncio.Future[Any]
    report: StepAttemptFinished | None = None
    answer: Answer | None = None


class _RunCache:
    """The most recently used runs' states."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._runs: OrderedDict[str, LoadedRun] = OrderedDict()

    def get(self, run_uuid: str) -> LoadedRun | None:
        loaded = self._runs.get(run_uuid)
        if loaded is not None:
            self._runs.move_to_end(run_uuid)
        return loaded

    def put(self, run_uuid: str, loaded: LoadedRun) -> None:
        self._runs[run_uuid] = loaded
        self._runs.move_to_end(run_uuid)
        while len(self._runs) > self._size:
            self._runs.popitem(last=False)

    def pop(self, run_uuid: str, default: None = None) -> LoadedRun | None:
        return self._runs.pop(run_uuid, default)


class Mailboxes:
    def __init__(
        self,
        pool: asyncpg.Pool,
        bus: BusNames,
        outbox: Outbox,
        definitions: DefinitionStore,
        clock: Callable[[], datetime],
        on_retry: OnRetry,
    ) -> None:
        self.on_job_run_ended: OnJobRunEnded | None = None
        self._pool = pool
        self._bus = bus
        self._outbox = outbox
        self._definitions = definitions
        self._clock = clock
        self._on_retry = on_retry
        self._cache = _RunCache(CACHED_RUNS)
        self._mailboxes: dict[str, list[_Input]] = {}
        self._workers: dict[str, asyncio.Task[None]] = {}

    def remember(self, record: RunRecord, state: RunState) -> None:
        """Cache a run just created (its version is 1)."""
        self._cache.put(record.uuid, LoadedRun(record, state))

    async def record(self, run_uuid: str) -> RunRecord | None:
        """The run's record, as the last decision left it."""
        loaded = self._cache.get(run_uuid) or await self._load(run_uuid)
        return loaded.record if loaded is not None else None

    def forget(self, run_uuid: str) -> None:
        self._cache.pop(run_uuid, None)

    def submit(
        self,
        run_uuid: str,
        decide: Decide,
        report: StepAttemptFinished | None = None,
        answer: Answer | None = None,
    ) -> asyncio.Future[Any]:
        """Queue an input for the run; the future holds what ``decide`` returned
        once the decision is written. Inputs of a run are applied in order.
        ``answer``, if given, is awaited with it as soon as the write that
        applies it has committed, before anything else (``_write``)."""
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._mailboxes.setdefault(run_uuid, []).append(_Input(decide, future, report, answer))
        if run_uuid not in self._workers:
            worker = asyncio.create_task(self._drain(run_uuid), name=f"run-{run_uuid}")
            self._workers[run_uuid] = worker
        return future

    def _take(self, run_uuid: str) -> list[_Input] | None:
        """The next inputs of the run to apply together: at most ``MAX_BATCH``."""
        queued = self._mailboxes.get(run_uuid)
        if not queued:
            self._mailboxes.pop(run_uuid, None)
            return None
        if len(queued) <= MAX_BATCH:
            return self._mailboxes.pop(run_uuid)
        self._mailboxes[run_uuid] = queued[MAX_BATCH:]
        return queued[:MAX_BATCH]

    async def _drain(self, run_uuid: str) -> None:
        try:
            while batch := self._take(run_uuid):
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
            fresh = loaded is None
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
            if plan.empty:
                # Nothing to write, so no version guard: a cached state that
                # another replica moved on would make a report look stale, or
                # refuse a claim, wrongly. Decide again on the current state.
                if not fresh and not await self._current(loaded):
                    logger.info("run %s changed elsewhere; reloading", run_uuid)
                    self._cache.pop(run_uuid, None)
                    continue
            elif not await self._write(loaded, plan, applied_reports, batch, results):
                # Another writer (a scheduler replica) moved the run on: decide again.
                logger.info("run %s changed elsewhere; reloading", run_uuid)
                self._cache.pop(run_uuid, None)
                continue
            for item, result in zip(batch, results, strict=True):
                if not item.future.done():  # a write resolved them at its commit
                    item.future.set_result(result)
            return
        raise RuntimeError(f"run {run_uuid}: still conflicting after {MAX_CONFLICTS} tries")

    async def _current(self, loaded: LoadedRun) -> bool:
        """Whether the cached state is the run's latest."""
        async with self._pool.acquire() as conn:
            version = await run_version(conn, loaded.record.uuid)
        return version == loaded.record.version

    async def _load(self, run_uuid: str) -> LoadedRun | None:
        async with self._pool.acquire() as conn:
            found = await load_run(conn, run_uuid)
        if found is None:
            return None
        record, state = found
        # Stored at creation; a job's run is stored when it is admitted (its
        # first load), and one that expired is stored again.
        record.definition_key = await self._definitions.put(record.definition)
        loaded = LoadedRun(record, state)
        self._cache.put(run_uuid, loaded)
        return loaded

    async def _write(
        self,
        loaded: LoadedRun,
        plan: Plan,
        reports: list[StepAttemptFinished],
        batch: list[_Input],
        results: list[Any],
    ) -> bool:
        """Write the plan; once committed, answer the batch's inputs first: the
        connection's return to the pool, the messages' hand-over to the
        publisher and the bookkeeping come after the answers are sent (a
        report's answer hands the chain's next step over). Never before the
        commit: an answer may grant an attempt, which must be durable first."""
        record, state = loaded.record, loaded.state
        if plan.dispatch or plan.handed:  # work names the definition: it must outlive it
            record.definition_key = await self._definitions.keep(
                record.definition_key, record.definition
            )
        now = self._clock()
        events, messages, seq = self.announce(record, state, plan, now)
        events += [EventRow(r.report_id, r.kind, None, r.model_dump_json()) for r in reports]
        retry_at = {r.step_uuid: now + timedelta(seconds=r.delay_seconds) for r in plan.retries}
        async with self._outbox.writer() as conn:
            ids = await write_plan(
                conn,
                run_uuid=record.uuid,
                expected_version=record.version,
                run_status=plan.run_status,
                abort_requested=state.abort_requested,
                event_seq=seq,
                steps=step_rows(state, plan, retry_at),
                events=events,
                outbox=[outbox_row(m) for m in messages],
                now=now,
            )
            if ids is None:
                return False
            record.version += 1
            record.event_seq = seq
            await _answer(record, batch, results)
        self._outbox.committed(ids, messages)
        for retry in plan.retries:
            self._on_retry(record.uuid, retry.step_uuid, retry.attempt, retry.delay_seconds)
        ended = plan.run_status is not None and plan.run_status.is_final
        if ended and record.job_uuid and self.on_job_run_ended is not None:
            self.on_job_run_ended(record.job_uuid, record.uuid)
        return True

    def announce(
        self, record: RunRecord, state: RunState, plan: Plan, now: datetime
    ) -> tuple[list[EventRow], list[OutMessage], int]:
        """The events and messages of a plan, with the run's next sequence numbers.

        Work and cancels go out first: they are on the critical path of the run;
        the events follow, in their order. The events' JSON is made without
        building their models (``step_status_changed_json``), and the work (in
        ``_orders``) is built without validation (``model_construct``, every
        field with a default factory given: pydantic inspects a factory's
        signature at each call): every field comes from the engine's typed
        state, and this runs for every event of every run, before a new run's
        answer."""
        seq = record.event_seq
        events: list[EventRow] = []
        messages: list[OutMessage] = []
        orders = self._orders(record, plan)
        for change in plan.changes:
            seq += 1
            event_id = new_event_id()
            data = step_status_changed_json(
                event_id=event_id,
                occurred_at=now,
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
            )
            subject = self._bus.step_event(record.pipeline_uuid, record.uuid, change.step_uuid)
            messages.append(OutMessage(subject, data, event_id))
            events.append(EventRow(event_id, STEP_STATUS_CHANGED, seq, data.decode()))
        if plan.run_status is not None:
            seq += 1
            event_id = new_event_id()
            data = run_status_changed_json(
                event_id=event_id,
                occurred_at=now,
                run_uuid=record.uuid,
                pipeline_uuid=record.pipeline_uuid,
                job_uuid=record.job_uuid,
                status=plan.run_status,
                sequence=seq,
            )
            subject = self._bus.run_event(record.pipeline_uuid, record.uuid)
            messages.append(OutMessage(subject, data, event_id))
            if record.job_uuid:  # followed under the job too (its own message id)
                subject = self._bus.job_run_event(record.job_uuid, record.uuid)
                messages.append(OutMessage(subject, data, f"{event_id}.job"))
            events.append(EventRow(event_id, RUN_STATUS_CHANGED, seq, data.decode()))
        return events, orders + messages, seq

    def _orders(self, record: RunRecord, plan: Plan) -> list[OutMessage]:
        """Step work to publish and attempts to cancel."""
        messages: list[OutMessage] = []
        for step_uuid, attempt in plan.dispatch:
            work = step_work(record, step_uuid, attempt)
            messages.append(
                OutMessage(
                    self._bus.step_work(work.priority),
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


async def _answer(record: RunRecord, batch: list[_Input], results: list[Any]) -> None:
    """Resolve the inputs' futures, and send the answers of those that send
    their own, at once (the caller's task would send its answer a few turns of
    the loop later). A failed send is the answer lost, which its asker
    survives: it asks again, and the repeat is answered alike."""
    for item, result in zip(batch, results, strict=True):
        if item.answer is not None:
            try:
                await item.answer(record, result)
            except Exception:
                logger.warning("an answer of run %s was not sent", record.uuid, exc_info=True)
        if not item.future.done():  # its asker gone (cancelled): nobody to tell
            item.future.set_result(result)


def step_work(record: RunRecord, step_uuid: str, attempt: int) -> StepWork:
    """The work of one attempt of a step of the run (see ``announce`` for why
    it is built without validation)."""
    return StepWork.model_construct(
        run_uuid=record.uuid,
        step_uuid=step_uuid,
        attempt=attempt,
        priority=Priority.JOB if record.job_uuid else Priority.INTERACTIVE,
        definition_key=record.definition_key,
        project_dir=record.project_dir,
        project_uuid=record.project_uuid,
        job_uuid=record.job_uuid,
        env_variables=record.env_variables,
        timeout_seconds=record.timeouts.get(step_uuid),
        pipeline_definition=None,
        environment_venv=None,
        environment_image=None,
    )


def _merge(plan: Plan, part: Plan) -> None:
    plan.changes += part.changes
    plan.dispatch += part.dispatch
    plan.retries += part.retries
    plan.cancel += part.cancel
    plan.handed += part.handed
    if part.run_status is not None:
        plan.run_status = part.run_status


def outbox_row(message: OutMessage) -> OutboxRow:
    return OutboxRow(message.subject, message.msg_id, message.payload, message.jetstream)
