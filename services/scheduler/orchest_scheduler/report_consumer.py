"""The scheduler's consumer of the ``REPORTS`` stream: reports pulled, handed
to their runs' mailboxes and acknowledged as their decisions commit, with no
task per report and no wait for one batch's write before the next is pulled.

A standing pull: one request for up to ``PULL_BATCH`` reports lingers on the
server (``expires``: ``poll_seconds``); each report, as it arrives (in the
subscription's callback, in stream order), is parsed and submitted to its
run's mailbox, whose worker writes every input queued meanwhile in one
statement. A new request goes out as soon as the last one ended (its batch
delivered, or its ``408`` at expiry), unless ``MAX_PENDING`` reports are
unsettled, so the next batch is pulled and decided while the last one's
write is in Postgres. Each report is acknowledged once its decision is
committed: the acknowledgements of every decision settled in one turn of the
loop go out together, from one task. Acknowledgements stay explicit, one per
report (``AckAll`` would also acknowledge the reports another scheduler
replica pulled from the same durable consumer and has not written yet).

A failed decision is settled as ``orchest_service.consumer.settle`` settles a
handler's error: retried later when a dependency is unavailable, terminated
after ``poison_after`` deliveries otherwise; an unparsable report is
terminated; a report of an unknown run is dropped (acknowledged).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable
from typing import Any

from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.js import JetStreamContext
from nats.js.api import DEFAULT_PREFIX, Header, StatusCode

from orchest_schemas.bus import ConsumerSpec
from orchest_schemas.reports import StepAttemptFinished
from orchest_service.consumer import ensure_consumer, parse
from orchest_service.errors import TRANSIENT_ERRORS

from .mailbox import RunNotFound

logger = logging.getLogger(__name__)

PULL_BATCH = 1024
"""Reports asked for by one pull request."""
MAX_PENDING = 4096
"""Reports pulled and not settled yet above which no new pull is made."""
REQUEST_GRACE = 1.0
"""Seconds past a request's expiry after which it is taken as lost (asked again)."""
DRAIN_SECONDS = 10.0
"""At a stop, seconds to wait for the reports submitted to be settled (those
left are redelivered after the ack wait)."""
ENDS_REQUEST = frozenset(
    {StatusCode.NO_MESSAGES.value, StatusCode.REQUEST_TIMEOUT.value, StatusCode.CONFLICT.value}
)

Submit = Callable[[StepAttemptFinished], "asyncio.Future[Any]"]
"""A report handed to its run's mailbox: the future of its decision's commit."""


class ReportConsumer:
    def __init__(
        self,
        js: JetStreamContext,
        nc: Client,
        spec: ConsumerSpec,
        submit: Submit,
        *,
        poll_seconds: float = 0.5,
        retry_delay: float = 1.0,
        poison_after: int = 5,
    ) -> None:
        self._js = js
        self._nc = nc
        self._spec = spec
        self._submit = submit
        self._poll_seconds = poll_seconds
        self._retry_delay = retry_delay
        self._poison_after = poison_after
        self._next_subject = f"{DEFAULT_PREFIX}.CONSUMER.MSG.NEXT.{spec.stream}.{spec.durable_name}"
        self._stopping = False
        self._received = 0
        """Reports (and ends) counted against the current request."""
        self._request_over = asyncio.Event()
        self._request_over.set()
        self._pending = 0
        """Reports submitted, their decisions not settled yet."""
        self._room = asyncio.Event()
        self._settled: list[tuple[Msg, BaseException | None]] = []
        self._flushes: set[asyncio.Task[None]] = set()
        self._drained = asyncio.Event()
        self._drained.set()

    async def run(self, stopping: asyncio.Event) -> None:
        """Pull, apply and acknowledge until stopped; then settle what was pulled."""
        await ensure_consumer(self._js, self._spec)
        inbox = self._nc.new_inbox()
        sub = await self._nc.subscribe(inbox, cb=self._on_msg)
        request = json.dumps(
            {"batch": PULL_BATCH, "expires": int(self._poll_seconds * 1e9)}
        ).encode()
        try:
            while not stopping.is_set():
                if self._pending >= MAX_PENDING:
                    self._room.clear()
                    await _first(stopping, self._room)
                    continue
                self._received = 0
                self._request_over.clear()
                try:
                    await self._nc.publish(self._next_subject, request, reply=inbox)
                except Exception as exc:  # the connection is down: the client reconnects
                    logger.warning("could not ask for reports (%s); again shortly", exc)
                    self._request_over.set()
                    await _first(stopping, timeout=self._poll_seconds)
                    continue
                # Until the request ended: its batch delivered, or its expiry
                # (or it was lost: asked again after a grace).
                await _first(
                    stopping, self._request_over, timeout=self._poll_seconds + REQUEST_GRACE
                )
        finally:
            await self._stop(sub)

    async def _on_msg(self, msg: Msg) -> None:
        """A delivery (in stream order) or a status of the pull request."""
        headers = msg.headers
        status = headers.get(Header.STATUS) if headers else None
        if headers and status:
            if status in ENDS_REQUEST:
                if status == StatusCode.CONFLICT.value:
                    logger.warning(
                        "report pull ended: %s %s", status, headers.get(Header.DESCRIPTION)
                    )
                self._request_over.set()
            return
        self._received += 1
        if self._received >= PULL_BATCH:
            self._request_over.set()
        if self._stopping:  # handed back at once: to another replica or the next start
            await msg.nak()
            return
        report = parse(msg, StepAttemptFinished)
        if report is None:
            await msg.term()
            return
        try:
            future = self._submit(report)
        except Exception as exc:
            self._count_in()
            self._on_settled(msg, exc)
            return
        self._count_in()
        future.add_done_callback(lambda done: self._on_settled(msg, _error(done)))

    def _count_in(self) -> None:
        self._pending += 1
        self._drained.clear()

    def _on_settled(self, msg: Msg, error: BaseException | None) -> None:
        """A report's decision committed (or failed): its acknowledgement goes
        out with the others settled in this turn of the loop."""
        if not self._settled:
            task = asyncio.get_running_loop().create_task(self._flush())
            self._flushes.add(task)
            task.add_done_callback(self._flushes.discard)
        self._settled.append((msg, error))

    async def _flush(self) -> None:
        settled, self._settled = self._settled, []
        for msg, error in settled:
            try:
                if error is None:
                    await msg.ack()
                else:
                    await self._settle_failed(msg, error)
            except Exception as exc:  # not acknowledged: redelivered after the ack wait
                logger.warning("could not settle a report on %s (%s)", msg.subject, exc)
        self._pending -= len(settled)
        if self._pending < MAX_PENDING:
            self._room.set()
        if not self._pending:
            self._drained.set()

    async def _settle_failed(self, msg: Msg, error: BaseException) -> None:
        what = f"StepAttemptFinished on {msg.subject}"
        if isinstance(error, RunNotFound):
            logger.warning("report for unknown run %s dropped", error)
            await msg.ack()
        elif isinstance(error, TRANSIENT_ERRORS):
            logger.warning("%s: will retry (%s: %s)", what, type(error).__name__, error)
            await msg.nak(delay=self._retry_delay)
        else:
            deliveries = msg.metadata.num_delivered if msg.metadata else 1
            if deliveries >= self._poison_after:
                logger.error("%s failed %d times: terminated", what, deliveries, exc_info=error)
                await msg.term()
            else:
                logger.error(
                    "%s failed (delivery %d): will retry", what, deliveries, exc_info=error
                )
                await msg.nak(delay=self._retry_delay)

    async def _stop(self, sub: Subscription) -> None:
        """Hand back what arrives from now on; wait (up to the request's
        expiry) for the last request to end, and for every report submitted
        to be settled and acknowledged."""
        self._stopping = True
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self._poll_seconds + REQUEST_GRACE):
                await self._request_over.wait()
        with contextlib.suppress(Exception):
            await sub.unsubscribe()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(DRAIN_SECONDS):
                await self._drained.wait()
                while self._flushes:
                    await asyncio.gather(*self._flushes, return_exceptions=True)


async def _first(*events: asyncio.Event, timeout: float | None = None) -> None:
    """Wait until one of ``events`` is set (or ``timeout`` seconds passed)."""
    waits = [asyncio.ensure_future(event.wait()) for event in events]
    try:
        await asyncio.wait(waits, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for wait in waits:
            wait.cancel()


def _error(future: asyncio.Future[Any]) -> BaseException | None:
    if future.cancelled():
        return asyncio.CancelledError()
    return future.exception()
