"""The step runner: takes step work by priority, claims it, runs it, reports.

For each work message: register the attempt (so a cancel can find it), ask
the scheduler to claim it (refused: the run ended or the attempt is stale,
so the message is dropped), renew the lease (JetStream in-progress) while
the executor runs, stream the output, store the artifacts, publish the
report on the durable ``REPORTS`` stream, and only then acknowledge the
work. A runner that dies before that leaves the work unacknowledged: it is
redelivered after the lease lapses.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from nats.aio.msg import Msg
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js.object_store import ObjectStore

from orchest_runtime.broker import ensure_object_store
from orchest_runtime.commands import request_command
from orchest_runtime.consumer import Abandon, ensure_consumer, parse, settle
from orchest_runtime.service import ServiceContext
from orchest_schemas.bus import HEADER_MSG_ID
from orchest_schemas.commands import CancelStep, StepWork
from orchest_schemas.reports import ClaimStep, StepAttemptFinished, StepClaim
from orchest_schemas.status import Priority, StepStatus

from .definitions import DefinitionCache
from .executor import ExecutionResult, StepExecutor
from .logs import LogPublisher
from .settings import RunnerSettings

logger = logging.getLogger(__name__)


@dataclass
class _Active:
    attempt: int
    cancel: asyncio.Event = field(default_factory=asyncio.Event)


class StepRunner:
    def __init__(
        self, ctx: ServiceContext, settings: RunnerSettings, executor: StepExecutor
    ) -> None:
        self._ctx = ctx
        self._settings = settings
        self._executor = executor
        self.runner_id = f"{settings.instance_host}:{os.getpid()}:{ctx.micro.id}"
        self._active: dict[tuple[str, str], _Active] = {}
        self._busy = 0
        self._busy_jobs = 0
        self._slot_freed = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self._chores: set[asyncio.Future[Any]] = set()
        self._artifacts: ObjectStore | None = None
        self._definitions = DefinitionCache(
            ctx.js, ctx.bus.definitions_bucket, settings.artifacts_ttl_seconds
        )

    async def serve(self) -> None:
        ctx = self._ctx
        self._artifacts = await ensure_object_store(
            ctx.js, ctx.bus.artifacts_bucket, self._settings.artifacts_ttl_seconds
        )
        cancels = await ctx.nc.subscribe(ctx.bus.all_cancels, cb=self._on_cancel)
        try:
            async with asyncio.TaskGroup() as group:
                for priority in Priority:
                    group.create_task(self._fetch_loop(priority))
        finally:
            await self._drain()
            await cancels.unsubscribe()

    # -- taking work ---------------------------------------------------------------

    def _free(self, priority: Priority) -> int:
        free = self._settings.slots - self._busy
        if priority is Priority.JOB:
            free = min(free, self._settings.job_slots - self._busy_jobs)
        return max(free, 0)

    async def _fetch_loop(self, priority: Priority) -> None:
        ctx = self._ctx
        spec = ctx.bus.step_work_consumer(priority, self._settings.ack_wait_seconds)
        await ensure_consumer(ctx.js, spec)
        subscription = await ctx.js.pull_subscribe_bind(spec.durable_name, spec.stream)
        try:
            while not ctx.stopping.is_set():
                free = self._free(priority)
                if free == 0:
                    self._slot_freed.clear()
                    await _wait_either(self._slot_freed, ctx.stopping)
                    continue
                try:
                    messages = await subscription.fetch(free, timeout=0.5)
                except (NatsTimeoutError, TimeoutError):
                    continue
                # The other priority's loop may have filled slots while this
                # fetch waited: what no longer fits goes back at once.
                room = self._free(priority)
                for msg in messages[:room]:
                    self._start(msg, priority)
                for msg in messages[room:]:
                    await msg.nak()
        finally:
            with contextlib.suppress(Exception):
                await subscription.unsubscribe()

    def _start(self, msg: Msg, priority: Priority) -> None:
        self._busy += 1
        if priority is Priority.JOB:
            self._busy_jobs += 1
        task = asyncio.create_task(self._handle(msg))

        def done(t: asyncio.Task[None]) -> None:
            self._tasks.discard(t)
            self._busy -= 1
            if priority is Priority.JOB:
                self._busy_jobs -= 1
            self._slot_freed.set()
            if not t.cancelled() and t.exception() is not None:
                logger.error("step task failed", exc_info=t.exception())

        self._tasks.add(task)
        task.add_done_callback(done)

    async def _drain(self) -> None:
        """On stop: let running steps finish within the drain timeout, then give
        their work back (nak) so another runner takes it."""
        if self._tasks:
            logger.info("waiting for %d running step(s)", len(self._tasks))
            timeout = self._settings.drain_timeout_seconds
            _, pending = await asyncio.wait(self._tasks, timeout=timeout)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending)
        if self._chores:
            await asyncio.wait(self._chores)

    # -- one attempt ---------------------------------------------------------------

    async def _handle(self, msg: Msg) -> None:
        work = parse(msg, StepWork)
        if work is None:
            await msg.term()
            return
        key = (work.run_uuid, work.step_uuid)
        log = {"run_uuid": work.run_uuid, "step_uuid": work.step_uuid}
        async with settle(msg, what=f"step {work.run_uuid}/{work.step_uuid}"):
            active = _Active(work.attempt)
            self._active[key] = active
            try:
                redelivered = bool(msg.metadata and msg.metadata.num_delivered > 1)
                claim = await request_command(
                    self._ctx.nc,
                    self._ctx.bus.claim_step,
                    ClaimStep(
                        run_uuid=work.run_uuid,
                        step_uuid=work.step_uuid,
                        attempt=work.attempt,
                        runner_id=self.runner_id,
                        redelivered=redelivered,
                    ),
                    StepClaim,
                    timeout=self._settings.claim_timeout_seconds,
                )
                if not claim.granted:
                    logger.info("claim refused: %s", claim.reason, extra=log)
                    return  # settle acks: the work is dropped
                attempt = claim.attempt or work.attempt
                active.attempt = attempt
                definition = await self._definitions.get(work.definition_key)
                work = work.model_copy(
                    update={"attempt": attempt, "pipeline_definition": definition}
                )
                heartbeat = asyncio.create_task(self._heartbeat(msg))
                try:
                    report, logs = await self._run(work, active)
                    # The last output goes out before the report, on the same
                    # connection; the acknowledgements are awaited together.
                    await asyncio.gather(logs.close(), self._publish_report(report))
                finally:
                    heartbeat.cancel()
            except asyncio.CancelledError:
                raise Abandon() from None
            finally:
                self._active.pop(key, None)

    async def _run(
        self, work: StepWork, active: _Active
    ) -> tuple[StepAttemptFinished, LogPublisher]:
        ctx = self._ctx
        logs = LogPublisher(
            ctx.js,
            ctx.bus.step_log(work.run_uuid, work.step_uuid),
            work.run_uuid,
            work.step_uuid,
            work.attempt,
            self._settings.log_flush_seconds,
        )
        scratch = Path(tempfile.mkdtemp(prefix=f"orchest-{work.step_uuid[:8]}-"))
        started_at = datetime.now(UTC)
        clock = time.perf_counter()
        try:
            result = await self._executor.execute(
                work, output=logs.write, cancel=active.cancel, scratch_dir=scratch
            )
        except Exception as exc:  # the executor itself broke: the attempt failed
            logger.exception("executor failed", extra={"run_uuid": work.run_uuid})
            result = ExecutionResult(exit_code=None, error=f"runner error: {exc}", artifacts={})
        finally:
            execution_seconds = time.perf_counter() - clock
            finished_at = datetime.now(UTC)
            self._background(asyncio.to_thread(shutil.rmtree, scratch, True))
        artifacts = await self._store_artifacts(work, result)
        report = StepAttemptFinished(
            run_uuid=work.run_uuid,
            step_uuid=work.step_uuid,
            attempt=work.attempt,
            status=_status_of(result),
            exit_code=result.exit_code,
            error=result.error,
            runner_id=self.runner_id,
            artifacts=artifacts,
            started_at=started_at,
            finished_at=finished_at,
            execution_seconds=execution_seconds,
        )
        return report, logs

    def _background(self, work: Coroutine[Any, Any, Any]) -> None:
        """Housekeeping off the critical path (awaited by the drain on stop)."""
        task = asyncio.ensure_future(work)
        self._chores.add(task)
        task.add_done_callback(self._chores.discard)

    async def _store_artifacts(self, work: StepWork, result: ExecutionResult) -> list[str]:
        assert self._artifacts is not None
        names = []
        for name, content in result.artifacts.items():
            key = self._ctx.bus.artifact_key(work.run_uuid, work.step_uuid, work.attempt, name)
            await self._artifacts.put(key, content)
            names.append(name)
        return names

    async def _publish_report(self, report: StepAttemptFinished) -> None:
        """Publish until JetStream has it (the lease is renewed meanwhile): an
        attempt that ran must not end without its report."""
        delay = 0.1
        while True:
            try:
                await self._ctx.js.publish(
                    self._ctx.bus.step_report(report.run_uuid, report.step_uuid),
                    report.to_bytes(),
                    headers={HEADER_MSG_ID: report.report_id},
                )
                return
            except (NatsTimeoutError, TimeoutError, NoRespondersError, OSError) as exc:
                logger.warning("report not published (%s); retrying", exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    async def _heartbeat(self, msg: Msg) -> None:
        while True:
            await asyncio.sleep(self._settings.heartbeat_seconds)
            try:
                await msg.in_progress()
            except Exception as exc:  # a missed beat is not fatal; the next may pass
                logger.warning("lease renewal failed: %s", exc)

    async def _on_cancel(self, msg: Msg) -> None:
        cancel = parse(msg, CancelStep)
        if cancel is None:
            return
        active = self._active.get((cancel.run_uuid, cancel.step_uuid))
        if active is not None and cancel.attempt in (None, active.attempt):
            logger.info(
                "cancelling attempt %d: %s",
                active.attempt,
                cancel.reason,
                extra={"run_uuid": cancel.run_uuid, "step_uuid": cancel.step_uuid},
            )
            active.cancel.set()


def _status_of(result: ExecutionResult) -> StepStatus:
    if result.aborted:
        return StepStatus.ABORTED
    if result.error is None and result.exit_code == 0:
        return StepStatus.SUCCESS
    return StepStatus.FAILURE


async def _wait_either(a: asyncio.Event, b: asyncio.Event) -> None:
    tasks = [asyncio.create_task(a.wait()), asyncio.create_task(b.wait())]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
