"""The step runner: takes step work by priority, claims it, runs it, reports;
and runs the steps handed to it in the answers to its reports.

Invariants it keeps:

- work is acknowledged only after its report is durable (answered by the
  scheduler after its decision's commit, or on the ``REPORTS`` stream); a
  runner that dies before leaves it unacknowledged, redelivered after the
  lease lapses (one heartbeat renews every running attempt's lease,
  ``heartbeat.py``);
- a granted claim is always reported, never handed back (``attempts.py``);
- an interactive attempt's slot is kept through its report: the report's
  answer may grant the run's next step to this runner, which runs it in
  that slot with no claim and no work message (``_run_handed``);
- a freed slot goes to waiting interactive work before job work (the counts
  and rules in ``slots.py``): after each freed slot the interactive side
  *looks* (a pull answered at once), then keeps a *poll* open while a slot is
  free; job work polls and starts only once every freed slot was looked at;
- work that does not fit when it arrives is handed back with a nak the server
  confirms, so that a look sent after it sees that work again;
- counting the room and starting happen with no await in between.

When NATS is down a look gets no answer: it is sent again after
``ANSWER_SECONDS``, and job work waits meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections import OrderedDict
from collections.abc import Awaitable, Callable

from nats.aio.msg import Msg
from nats.errors import Error as NatsError

from orchest_schemas.bus import ConsumerSpec
from orchest_schemas.commands import CancelStep, StepWork
from orchest_schemas.reports import ClaimStep, StepAttemptFinished, StepClaim
from orchest_schemas.status import Priority
from orchest_service.broker import ensure_object_store
from orchest_service.commands import request_command
from orchest_service.consumer import Abandon, ensure_consumer, parse, settle
from orchest_service.service import ServiceContext

from .attempts import Attempts
from .executor import StepExecutor
from .heartbeat import Heartbeat, Running
from .pulls import Pull, Puller
from .settings import RunnerSettings
from .slots import Slots

logger = logging.getLogger(__name__)

POLL_SECONDS = 0.5
"""How long a poll for work lingers on the server before the next is sent."""
REPORTS_KEPT = 1024
"""Reports kept to answer work delivered again after its attempt ran here."""
ANSWER_SECONDS = 2.0
"""How long a look or a hand-back may wait for the server's answer (none: NATS
is down; a look is sent again, and job work waits meanwhile)."""


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
        self._slots = Slots(settings.slots, settings.job_slots)
        self._change = asyncio.Event()
        self._stopping = ctx.stopping
        self._tasks: set[asyncio.Task[None]] = set()
        self._attempts: Attempts | None = None

    async def serve(self) -> None:
        ctx = self._ctx
        artifacts = await ensure_object_store(
            ctx.js, ctx.bus.artifacts_bucket, self._settings.artifacts_ttl_seconds
        )
        self._attempts = Attempts(ctx, self._settings, self._executor, artifacts, self.runner_id)
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

    async def _take_interactive_work(self, pulls: Puller) -> None:
        slots, interactive = self._slots, Priority.INTERACTIVE
        while not self._stopping.is_set():
            if slots.free(interactive) and slots.unlooked:
                look = await self._look(pulls)
                if look is not None and look.filled:
                    continue  # more may be waiting: look again before polling
            free = slots.free(interactive)
            if free and not pulls.polling:
                await pulls.poll(free, POLL_SECONDS)
            await self._until(
                lambda: slots.free(interactive) > 0 and (not pulls.polling or slots.unlooked)
            )

    async def _look(self, pulls: Puller) -> Pull | None:
        """Look for interactive work waiting now (what the look brings starts);
        if there is none (more), job work may have the free slots."""
        slots = self._slots
        await self._until(lambda: slots.may_look)  # what is handed back must be visible to it
        freed = slots.freed_count
        free = slots.free(Priority.INTERACTIVE)
        if not free or self._stopping.is_set():
            return None
        look = await pulls.look(free, ANSWER_SECONDS)
        await self._until(lambda: look.ended or slots.free(Priority.INTERACTIVE) == 0)
        if look.found_nothing_more and slots.looked(freed):
            self._changed()
        return look

    async def _take_job_work(self, pulls: Puller) -> None:
        slots = self._slots
        while not self._stopping.is_set():
            await self._until(
                lambda: not pulls.polling and slots.job_room() > 0 and slots.jobs_may_start
            )
            if not self._stopping.is_set():
                await pulls.poll(slots.job_room(), POLL_SECONDS)

    async def _on_interactive_work(self, msg: Msg) -> None:
        await self._take(msg, Priority.INTERACTIVE)

    async def _on_job_work(self, msg: Msg) -> None:
        slots = self._slots
        slots.jobs_in_hand += 1
        try:
            # A slot freed since this poll was sent is the interactive side's first.
            await self._until(
                lambda: slots.jobs_may_start or slots.free(Priority.JOB) == 0,
                timeout=ANSWER_SECONDS,
            )
        finally:
            slots.jobs_in_hand -= 1
        await self._take(msg, Priority.JOB)

    async def _take(self, msg: Msg, priority: Priority) -> None:
        """Start the work if it fits now, or hand it back at once."""
        if not self._stopping.is_set() and self._slots.fits(priority):
            self._start(msg, priority)
        else:
            await self._hand_back(msg, priority)

    async def _hand_back(self, msg: Msg, priority: Priority) -> None:
        """Nak, and wait for the server to confirm it: a plain nak is applied
        after a look sent right after it, which would then miss the message."""
        interactive = priority is Priority.INTERACTIVE
        if interactive:
            self._slots.interactive_handing_back += 1
        try:
            await self._ctx.nc.request(msg.reply, b"-NAK", timeout=ANSWER_SECONDS)
        except (NatsError, OSError) as exc:
            logger.warning("work not handed back (%r): redelivered after its lease", exc)
        finally:
            if interactive:
                self._slots.interactive_handing_back -= 1
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
        self._slots.take(priority)
        task = asyncio.create_task(self._handle(msg))

        def done(t: asyncio.Task[None]) -> None:
            self._tasks.discard(t)
            self._slots.release(priority)
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
        if self._attempts is not None:
            await self._attempts.drain()

    # -- one attempt ---------------------------------------------------------------

    async def _handle(self, msg: Msg) -> None:
        assert self._attempts is not None
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
        handed: StepWork | None = None
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
                    await self._attempts.report(done, None)  # same report id: applied once
                    return
                active.grant(attempt)
                # Granted: from here on the work is reported and acknowledged,
                # whatever fails (else it would be handed back into limbo).
                work = work.model_copy(update={"attempt": attempt})
                report, handed = await self._run(work, active)
                self._reported[key] = report
                while len(self._reported) > REPORTS_KEPT:
                    self._reported.popitem(last=False)
            except asyncio.CancelledError:
                raise Abandon() from None
            finally:
                self._active.pop(key, None)
        while handed is not None:  # the run's next step, granted to this slot
            handed = await self._run_handed(handed)

    async def _run_handed(self, work: StepWork) -> StepWork | None:
        """Run an attempt granted in the answer to a report: no work message
        (its lease is the scheduler's alone, renewed by the heartbeat; a runner
        that dies leaves it to the lease sweep), no claim."""
        key = (work.run_uuid, work.step_uuid)
        self._active[key] = active = Running(None, work.attempt)
        try:
            _, handed = await self._run(work, active)
        finally:
            self._active.pop(key, None)
        return handed

    async def _run(
        self, work: StepWork, active: Running
    ) -> tuple[StepAttemptFinished, StepWork | None]:
        """Run a granted attempt and report it; the next attempt handed to this
        slot, if any. An interactive slot is kept for the run's next step
        (unless the runner stops). Job work frees its slot, which waiting
        interactive work must be able to take first; so does a notebook step:
        a chain of notebooks kept on one runner would take that runner's warm
        kernels faster than its pool starts them, while through the queue
        its steps go to whichever runner asks first, each with its pool."""
        assert self._attempts is not None
        report, logs = await self._attempts.run(work, active)
        keep_slot = (
            work.priority is Priority.INTERACTIVE
            and not self._stopping.is_set()
            and not await self._attempts.is_notebook(work)
        )
        lease = self._settings.ack_wait_seconds if keep_slot else None
        if not logs.written:  # nothing to publish before the report: no task for either
            return report, await self._attempts.report(report, lease)
        # The last output goes out before the report, on the same connection.
        _, handed = await asyncio.gather(logs.close(), self._attempts.report(report, lease))
        return report, handed

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
