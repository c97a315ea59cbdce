"""The step runner: takes step work by priority, claims it, runs it, reports.

For each work message: register the attempt (so a cancel can find it), ask
the scheduler to claim it (refused: the run ended or the attempt is stale,
so the message is dropped), renew the lease while the executor runs, stream
the output, store the artifacts, publish the report on the durable
``REPORTS`` stream, and only then acknowledge the work. A runner that dies
before that leaves the work unacknowledged: it is redelivered after the
lease lapses, and the scheduler's lease sweep ends the attempt.

Leases. One heartbeat per ``heartbeat_seconds`` renews the leases of all
running attempts, and stops those the scheduler says are no longer current
(``heartbeat.py``).

Once a claim is granted the work is always reported and acknowledged, never
handed back: whatever fails (the definition is missing, the executor or the
artifacts store breaks) ends the attempt ``FAILURE`` with the error, and a
report's error is bounded (``report_error_max_bytes``, under the
connection's ``max_payload``; the whole text goes to the step's log).

Slots. A runner runs at most ``slots`` attempts, at most ``job_slots`` of
them job work, and a freed slot goes to interactive work that is waiting,
always; job work gets it only when none is. Work comes from two durable
consumers (``step-runners-interactive``, ``step-runners-job``), through the
runner's own pull requests (``pulls.Puller``):

- after every freed slot (``_freed`` counts them), the interactive side
  *looks*: a request that answers at once with the work waiting (which
  starts) and then "no messages". A look answered so, sent when ``_freed``
  was n, sets ``_looked`` to n. A look that brought as much as it asked for
  is followed by another while a slot is free (a backlog is taken by looks,
  one request per freed slot, and nothing is delivered twice);
- then, while a slot is free, the interactive side keeps a *poll* open (a
  request that lingers): interactive work starts as soon as it is published;
- job work may start only while ``_looked == _freed``: every freed slot has
  been looked at since it was freed and no interactive work was waiting for
  it. The job side polls only then, for its free job slots less the job
  messages it holds; a job message that arrives after a slot was freed
  meanwhile is held until the look at that slot (one round trip), then
  starts if it still fits;
- work that does not fit when it arrives is handed back at once: a nak the
  server confirms, so that a look sent after it sees that work again (a
  plain nak is applied later than a look sent right after it);
- counting the room and starting happen with no await in between: the event
  loop is the lock, so the counts hold however the two consumers' messages
  interleave.

Two independent fetch loops, as before, could not promise this: when a full
runner freed a slot, both fetched, and whichever answer came first took it.
Interactive work waits for no job work: it is pulled whenever a slot is free
(by the open poll, or by the look that follows a freed slot). Job work waits
one look per freed slot. When NATS is down a look gets no answer: it is sent
again after ``ANSWER_SECONDS``, and job work waits meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import tempfile
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Coroutine
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from nats.aio.msg import Msg
from nats.errors import Error as NatsError
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js.object_store import ObjectStore

from orchest_runtime.broker import ensure_object_store
from orchest_runtime.commands import request_command
from orchest_runtime.consumer import Abandon, ensure_consumer, parse, settle
from orchest_runtime.service import ServiceContext
from orchest_schemas.bus import HEADER_MSG_ID, ConsumerSpec
from orchest_schemas.commands import CancelStep, StepWork
from orchest_schemas.reports import ClaimStep, StepAttemptFinished, StepClaim, bounded_text
from orchest_schemas.status import Priority, StepStatus

from .definitions import DefinitionCache
from .executor import ExecutionResult, StepExecutor
from .heartbeat import Heartbeat, Running
from .logs import LogPublisher
from .pulls import Pull, Puller
from .settings import RunnerSettings

logger = logging.getLogger(__name__)

POLL_SECONDS = 0.5
"""How long a poll for work lingers on the server before the next is sent."""
REPORTS_KEPT = 1024
"""Reports kept to answer work delivered again after its attempt ran here."""
ANSWER_SECONDS = 2.0
"""How long a look or a hand-back may wait for the server's answer (none: NATS
is down; a look is sent again, and job work waits meanwhile)."""
PUBLISH_ERRORS = (NatsTimeoutError, TimeoutError, NoRespondersError, OSError)
"""A report not published for these is published again (NATS is down or slow)."""


def runner_id(settings: RunnerSettings, ctx: ServiceContext) -> str:
    """``<instance host>:<pid>:<micro instance id>``: unique, and says where the runner is."""
    return f"{settings.instance_host}:{os.getpid()}:{ctx.micro.id}"


class StepRunner:
    def __init__(
        self, ctx: ServiceContext, settings: RunnerSettings, executor: StepExecutor
    ) -> None:
        self._ctx = ctx
        self._settings = settings
        self._executor = executor
        self.runner_id = runner_id(settings, ctx)
        self._active: dict[tuple[str, str], Running] = {}
        self._reported: OrderedDict[tuple[str, str], StepAttemptFinished] = OrderedDict()
        """The last reports published, by step: work delivered again for an attempt
        already reported here gets its report again, not a second execution."""
        self._busy = 0
        self._busy_jobs = 0
        self._freed = 0
        """Slots freed so far."""
        self._looked = -1
        """``_freed`` when the last look that found no interactive work waiting started."""
        self._handing_back = 0
        """Interactive messages being handed back (their nak not yet confirmed)."""
        self._jobs_in_hand = 0
        """Job messages received, waiting for a look before they start."""
        self._change = asyncio.Event()
        self._stopping = ctx.stopping
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
        interactive = self._puller(Priority.INTERACTIVE, self._on_interactive_work)
        jobs = self._puller(Priority.JOB, self._on_job_work)
        stop_watch = asyncio.create_task(self._wake_on_stop())
        heartbeat = Heartbeat(ctx.nc, ctx.bus, self.runner_id, self._settings, self._active)
        heartbeats = asyncio.create_task(heartbeat.run())  # it beats through the drain
        try:
            for priority, puller in [(Priority.INTERACTIVE, interactive), (Priority.JOB, jobs)]:
                await ensure_consumer(ctx.js, self._consumer(priority))
                await puller.open()
            async with asyncio.TaskGroup() as group:
                group.create_task(self._take_interactive_work(interactive))
                group.create_task(self._take_job_work(jobs))
        finally:
            stop_watch.cancel()
            await asyncio.gather(interactive.close(), jobs.close(), self._drain())
            heartbeats.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await heartbeats
            await cancels.unsubscribe()

    # -- taking work (see the module's docstring) ----------------------------------

    def _consumer(self, priority: Priority) -> ConsumerSpec:
        return self._ctx.bus.step_work_consumer(priority, self._settings.ack_wait_seconds)

    def _puller(self, priority: Priority, on_message: Callable[[Msg], Awaitable[None]]) -> Puller:
        spec = self._consumer(priority)
        return Puller(
            self._ctx.nc,
            spec.stream,
            spec.durable_name,
            on_message=on_message,
            on_change=self._changed,
        )

    def _free(self, priority: Priority) -> int:
        free = self._settings.slots - self._busy
        if priority is Priority.JOB:
            free = min(free, self._settings.job_slots - self._busy_jobs)
        return max(free, 0)

    def _jobs_may_start(self) -> bool:
        return self._looked == self._freed

    async def _take_interactive_work(self, pulls: Puller) -> None:
        interactive = Priority.INTERACTIVE
        while not self._stopping.is_set():
            if self._free(interactive) and self._looked < self._freed:
                look = await self._look(pulls)
                if look is not None and look.filled:
                    continue  # more may be waiting: look again before polling
            free = self._free(interactive)
            if free and not pulls.polling:
                await pulls.poll(free, POLL_SECONDS)
            await self._until(
                lambda: (
                    self._free(interactive) > 0
                    and (not pulls.polling or self._looked < self._freed)
                )
            )

    async def _look(self, pulls: Puller) -> Pull | None:
        """Look for interactive work waiting now (what the look brings starts);
        if there is none (more), job work may have the free slots."""
        await self._until(lambda: self._handing_back == 0)  # it must be visible to the look
        freed = self._freed
        free = self._free(Priority.INTERACTIVE)
        if not free or self._stopping.is_set():
            return None
        look = await pulls.look(free, ANSWER_SECONDS)
        await self._until(lambda: look.ended or self._free(Priority.INTERACTIVE) == 0)
        if look.found_nothing_more and freed > self._looked:
            self._looked = freed
            self._changed()
        return look

    async def _take_job_work(self, pulls: Puller) -> None:
        while not self._stopping.is_set():
            await self._until(
                lambda: not pulls.polling and self._job_room() > 0 and self._jobs_may_start()
            )
            if not self._stopping.is_set():
                await pulls.poll(self._job_room(), POLL_SECONDS)

    def _job_room(self) -> int:
        """Free job slots not promised to job work already received."""
        return self._free(Priority.JOB) - self._jobs_in_hand

    async def _on_interactive_work(self, msg: Msg) -> None:
        await self._take(msg, Priority.INTERACTIVE)

    async def _on_job_work(self, msg: Msg) -> None:
        self._jobs_in_hand += 1
        try:
            # A slot freed since this poll was sent is the interactive side's first.
            await self._until(
                lambda: self._jobs_may_start() or self._free(Priority.JOB) == 0,
                timeout=ANSWER_SECONDS,
            )
        finally:
            self._jobs_in_hand -= 1
        await self._take(msg, Priority.JOB)

    async def _take(self, msg: Msg, priority: Priority) -> None:
        """Start the work if it fits now, or hand it back at once."""
        fits = (
            not self._stopping.is_set()
            and self._free(priority) > 0
            and (priority is Priority.INTERACTIVE or self._jobs_may_start())
        )
        if fits:
            self._start(msg, priority)
        else:
            await self._hand_back(msg, priority)

    async def _hand_back(self, msg: Msg, priority: Priority) -> None:
        """Nak, and wait for the server to confirm it: a plain nak is applied
        after a look sent right after it, which would then miss the message."""
        interactive = priority is Priority.INTERACTIVE
        if interactive:
            self._handing_back += 1
        try:
            await self._ctx.nc.request(msg.reply, b"-NAK", timeout=ANSWER_SECONDS)
        except (NatsError, OSError) as exc:
            logger.warning("work not handed back (%r): redelivered after its lease", exc)
        finally:
            if interactive:
                self._handing_back -= 1
                self._changed()

    def _changed(self) -> None:
        """Wake whatever waits in ``_until``: slots, looks or pulls changed."""
        self._change.set()
        self._change = asyncio.Event()

    async def _until(self, ready: Callable[[], bool], timeout: float | None = None) -> None:
        """Return once ``ready()`` holds (checked at each change), the runner
        stops, or ``timeout`` passes."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                while not ready() and not self._stopping.is_set():
                    await self._change.wait()

    async def _wake_on_stop(self) -> None:
        await self._stopping.wait()
        self._changed()

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
            self._freed += 1
            self._changed()
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
        if key in self._active:
            # Delivered again while it runs here (a restarted NATS may have lost
            # the consumer's state): the running attempt will ack it.
            logger.info("work delivered again while it runs: put back", extra=log)
            with contextlib.suppress(Exception):  # else it comes back after the ack wait
                await msg.nak(delay=self._settings.ack_wait_seconds)
            return
        async with settle(msg, what=f"step {work.run_uuid}/{work.step_uuid}"):
            active = Running(msg)
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
                        lease_seconds=self._settings.ack_wait_seconds,
                    ),
                    StepClaim,
                    timeout=self._settings.claim_timeout_seconds,
                )
                if not claim.granted:
                    logger.info("claim refused: %s", claim.reason, extra=log)
                    return  # settle acks: the work is dropped
                attempt = claim.attempt or work.attempt
                done = self._reported.get(key)
                if done is not None and done.attempt == attempt:
                    logger.info("attempt %d already ran here: its report again", attempt, extra=log)
                    await self._publish_report(done)  # same report id: applied once
                    return
                active.grant(attempt)
                # Granted: from here on the work is reported and acknowledged,
                # whatever fails (else it would be handed back into limbo).
                work = work.model_copy(update={"attempt": attempt})
                report, logs = await self._attempt(work, active)
                # The last output goes out before the report, on the same
                # connection; the acknowledgements are awaited together.
                await asyncio.gather(logs.close(), self._publish_report(report))
                self._reported[key] = report
                while len(self._reported) > REPORTS_KEPT:
                    self._reported.popitem(last=False)
            except asyncio.CancelledError:
                raise Abandon() from None
            finally:
                self._active.pop(key, None)

    async def _attempt(
        self, work: StepWork, active: Running
    ) -> tuple[StepAttemptFinished, LogPublisher]:
        """Run a granted attempt: its report (``FAILURE`` with the error if
        anything around the step broke, bounded) and its output's publisher."""
        ctx = self._ctx
        logs = LogPublisher(
            ctx.js,
            ctx.bus.step_log(work.run_uuid, work.step_uuid),
            work.run_uuid,
            work.step_uuid,
            work.attempt,
            self._settings.log_flush_seconds,
        )
        started_at = datetime.now(UTC)
        try:
            definition = await self._definitions.get(work.definition_key)
            work = work.model_copy(update={"pipeline_definition": definition})
            report = await self._run(work, active, logs)
        except Exception as exc:  # not the step's own failure: the runner's
            logger.exception("attempt %d failed in the runner", work.attempt, extra=_log(work))
            report = self._report(
                work, ExecutionResult(exit_code=None, error=f"runner error: {exc!r}", artifacts={})
            )
            report = report.model_copy(update={"started_at": started_at})
        return await self._bounded(report, logs), logs

    async def _bounded(
        self, report: StepAttemptFinished, logs: LogPublisher
    ) -> StepAttemptFinished:
        """The report with its error cut to ``report_error_max_bytes`` (at most
        a quarter of the connection's ``max_payload``); a cut error goes to the
        step's log whole."""
        if report.error is None:
            return report
        limit = min(self._settings.report_error_max_bytes, self._ctx.nc.max_payload // 4)
        error = bounded_text(report.error, limit)
        if error == report.error:
            return report
        await logs.write(f"\n[the step's error, whole]\n{report.error}\n")
        return report.model_copy(update={"error": error})

    async def _run(
        self, work: StepWork, active: Running, logs: LogPublisher
    ) -> StepAttemptFinished:
        scratch = Path(tempfile.mkdtemp(prefix=f"orchest-{work.step_uuid[:8]}-"))
        started_at = datetime.now(UTC)
        clock = time.perf_counter()
        try:
            result = await self._executor.execute(
                work, output=logs.write, cancel=active.cancel, scratch_dir=scratch
            )
        except Exception as exc:  # the executor itself broke: the attempt failed
            logger.exception("executor failed", extra=_log(work))
            result = ExecutionResult(exit_code=None, error=f"runner error: {exc}", artifacts={})
        finally:
            execution_seconds = time.perf_counter() - clock
            finished_at = datetime.now(UTC)
            self._background(asyncio.to_thread(shutil.rmtree, scratch, True))
        artifacts = await self._store_artifacts(work, result)
        return self._report(work, result).model_copy(
            update={
                "artifacts": artifacts,
                "started_at": started_at,
                "finished_at": finished_at,
                "execution_seconds": execution_seconds,
            }
        )

    def _report(self, work: StepWork, result: ExecutionResult) -> StepAttemptFinished:
        return StepAttemptFinished(
            run_uuid=work.run_uuid,
            step_uuid=work.step_uuid,
            attempt=work.attempt,
            status=_status_of(result),
            exit_code=result.exit_code,
            error=result.error,
            runner_id=self.runner_id,
        )

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
        attempt that ran must not end without its report. A report refused
        for itself (not for NATS being down) is replaced once by a bare
        ``FAILURE`` saying why."""
        delay = 0.1
        bare = False
        while True:
            try:
                await self._ctx.js.publish(
                    self._ctx.bus.step_report(report.run_uuid, report.step_uuid),
                    report.to_bytes(),
                    headers={HEADER_MSG_ID: report.report_id},
                )
                return
            except PUBLISH_ERRORS as exc:
                logger.warning("report not published (%s); retrying", exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
            except NatsError as exc:
                if bare:  # no heartbeat renews its lease now: the lease sweep ends it
                    logger.error("report of %s refused again (%r): dropped", report.step_uuid, exc)
                    return
                logger.error("report of %s refused (%r): a bare one instead", report.step_uuid, exc)
                bare = True
                report = report.model_copy(
                    update={
                        "status": StepStatus.FAILURE,
                        "error": bounded_text(f"report refused by NATS: {exc!r}", 1024),
                        "artifacts": [],
                    }
                )

    async def _on_cancel(self, msg: Msg) -> None:
        cancel = parse(msg, CancelStep)
        if cancel is None:
            return
        active = self._active.get((cancel.run_uuid, cancel.step_uuid))
        if active is not None and active.attempt is None:
            active.early.add(cancel.attempt)  # decided once the claim is answered
        elif active is not None and cancel.attempt in (None, active.attempt):
            logger.info(
                "cancelling attempt %d: %s",
                active.attempt,
                cancel.reason,
                extra={"run_uuid": cancel.run_uuid, "step_uuid": cancel.step_uuid},
            )
            active.cancel.set()


def _log(work: StepWork) -> dict[str, str]:
    return {"run_uuid": work.run_uuid, "step_uuid": work.step_uuid}


def _status_of(result: ExecutionResult) -> StepStatus:
    if result.aborted:
        return StepStatus.ABORTED
    if result.error is None and result.exit_code == 0:
        return StepStatus.SUCCESS
    return StepStatus.FAILURE
