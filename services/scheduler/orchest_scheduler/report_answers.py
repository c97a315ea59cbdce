"""A runner's report and its answer: the decision it leads to, and the
``report-step`` endpoint, which answers from the mailbox the moment the
decision's commit returns.

The generic command endpoint (``orchest_service.commands``) answers when its
handler returns: a report's handler returned a few turns of the event loop
after the commit, once the write's connection was back in the pool and its
messages handed to the outbox's publisher. This endpoint hands the mailbox a
function that sends the answer (``Mailboxes.submit``'s ``answer``), called
right after the commit, before any of that; the answer carries the next step
of a chain, so it is on the chain's critical path. It is written to the
socket there and then (``write_now``), not on a later turn of the loop by
the NATS client's flusher task. The reply policy is the
generic endpoint's: a request that does not parse is refused with its
problems, a dependency unavailable is ``UNAVAILABLE``, anything else
``INTERNAL``, with the same wire format.

The endpoint does not wait for the decision (``ReportEndpoint``): it hands
the report to the run's mailbox and takes the next request, so reports of a
run that arrive together are decided together, in one statement.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from nats.aio.client import Client
from nats.micro.request import Request
from nats.micro.service import EndpointConfig, Service
from pydantic import ValidationError

from orchest_schemas.errors import ErrorCode, ErrorReply
from orchest_schemas.reports import ReportAnswer, ReportAttempt, StepAttemptFinished
from orchest_schemas.status import StepStatus
from orchest_service.commands import validation_details
from orchest_service.errors import TRANSIENT_ERRORS, CommandError

from . import engine
from .mailbox import RunNotFound, step_work
from .run_state import Plan, RunState
from .run_store import RunRecord

logger = logging.getLogger(__name__)

Respond = Callable[[ReportAnswer], Awaitable[None]]
MAX_IN_FLIGHT = 512
"""Reports handed to their mailboxes and not answered yet above which the
endpoint waits before it takes the next request (twice a statement's
``MAX_BATCH``)."""
DRAIN_SECONDS = 10.0
"""At a stop, seconds to wait for the reports in flight to be answered."""


def finish_decision(
    report: StepAttemptFinished, next_lease_seconds: float | None
) -> Callable[[RunState], tuple[Any, Plan]]:
    """The decision of an attempt's report; with ``next_lease_seconds``, its
    runner keeps the slot and may be handed a step the report made ready."""

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
        if next_lease_seconds is None:
            if plan.empty:  # applied from its request; its runner gave up on the answer
                return None, engine.hand_back(state, report.report_id, report.runner_id)
            return None, plan
        if plan.empty:  # applied before: asked again, the first answer not received
            return engine.handed_to(state, report.report_id, report.runner_id), plan
        handed = engine.hand_off(
            state, plan, report.runner_id, next_lease_seconds, report.report_id
        )
        return handed, plan

    return decide


def report_answer(record: RunRecord, handed: tuple[str, int] | None) -> ReportAnswer:
    """The answer to a report whose decision handed ``handed`` over (or nothing)."""
    if handed is None:
        return ReportAnswer()
    return ReportAnswer(work=step_work(record, *handed))


class Reports(Protocol):
    def report_to(self, command: ReportAttempt, respond: Respond) -> asyncio.Future[Any]: ...

    async def answer_of(self, run_uuid: str, handed: Any) -> ReportAnswer: ...


def write_now(nc: Client) -> None:
    """Write what ``nc`` holds to send now, in this turn of the event loop.

    nats-py's ``publish`` only appends to the client's buffer and wakes its
    flusher task, which writes on a later turn, after whatever else is ready
    then (the write's connection going back to the pool, the tasks its
    answer woke). This is what the client does itself when that task is gone
    (``Client._flush_pending``); the flusher, when it runs, finds nothing
    left and has nothing to write. Not connected (a reconnect under way),
    the buffer is left to the client."""
    if nc.is_connected and nc._pending and nc._transport is not None:
        nc._transport.writelines(nc._pending)
        nc._pending = []
        nc._pending_data_size = 0


async def add_report_endpoint(
    service: Service, nc: Client, *, name: str, subject: str, queue_group: str, runs: Reports
) -> ReportEndpoint:
    """The ``report-step`` endpoint on ``nc``, the service's connection:
    ``runs.report_to`` sends the answer, written at once (``write_now``)."""
    endpoint = ReportEndpoint(nc, name, runs)
    await service.add_endpoint(
        EndpointConfig(name=name, subject=subject, queue_group=queue_group, handler=endpoint.handle)
    )
    return endpoint


class _Asked:
    """A report request handed to its run's mailbox, not answered yet."""

    __slots__ = ("nc", "request", "run_uuid", "sent")

    def __init__(self, request: Request, nc: Client, run_uuid: str) -> None:
        self.request = request
        self.nc = nc
        self.run_uuid = run_uuid
        self.sent = False

    async def respond(self, answer: ReportAnswer) -> None:
        self.sent = True
        await self.request.respond(answer.model_dump_json().encode())
        write_now(self.nc)


class ReportEndpoint:
    """Hands each report to its run's mailbox and takes the next request at
    once (the NATS client runs an endpoint's handler one request at a time),
    so the reports that arrive together are decided together, in one
    statement. The mailbox's worker sends each answer at its commit; the
    answers left (a report that decided nothing new, a decision that failed)
    are sent by one task for all those settled in a turn of the loop. Above
    ``MAX_IN_FLIGHT`` unanswered reports, the handler waits for room."""

    def __init__(self, nc: Client, name: str, runs: Reports) -> None:
        self._nc = nc
        self._name = name
        self._runs = runs
        self._in_flight = 0
        self._room = asyncio.Event()
        self._drained = asyncio.Event()
        self._drained.set()
        self._left: list[tuple[_Asked, asyncio.Future[Any]]] = []
        self._senders: set[asyncio.Task[None]] = set()

    async def handle(self, request: Request) -> None:
        try:
            command = ReportAttempt.model_validate_json(request.data)
        except ValidationError as exc:
            reply = ErrorReply(
                code=ErrorCode.INVALID,
                message="invalid ReportAttempt command",
                errors=validation_details(exc),
            )
            await _reply_error(request, reply)
            return
        while self._in_flight >= MAX_IN_FLIGHT:
            self._room.clear()
            await self._room.wait()
        asked = _Asked(request, self._nc, command.report.run_uuid)
        try:
            future = self._runs.report_to(command, asked.respond)
        except Exception as exc:
            await self._reply_failure(request, exc)
            return
        self._in_flight += 1
        self._drained.clear()
        future.add_done_callback(lambda done: self._settled(asked, done))

    def _settled(self, asked: _Asked, future: asyncio.Future[Any]) -> None:
        if asked.sent:  # at the commit, by the mailbox's worker
            self._done(1)
            return
        if not self._left:
            task = asyncio.get_running_loop().create_task(self._send_left())
            self._senders.add(task)
            task.add_done_callback(self._senders.discard)
        self._left.append((asked, future))

    async def _send_left(self) -> None:
        left, self._left = self._left, []
        try:
            for asked, future in left:
                try:
                    await self._answer_left(asked, future)
                except Exception as exc:  # an answer lost: its asker asks again
                    logger.warning("a report's answer was not sent (%s)", exc)
        finally:
            self._done(len(left))

    async def _answer_left(self, asked: _Asked, future: asyncio.Future[Any]) -> None:
        """The answer of a report that decided nothing new, or its error."""
        error = asyncio.CancelledError() if future.cancelled() else future.exception()
        if error is None:
            try:
                answer = await self._runs.answer_of(asked.run_uuid, future.result())
            except Exception as exc:
                error = exc
            else:
                await asked.respond(answer)
                return
        if isinstance(error, RunNotFound):
            logger.warning("report for unknown run %s dropped", asked.run_uuid)
            await asked.respond(ReportAnswer())
        else:
            await self._reply_failure(asked.request, error)

    def _done(self, answered: int) -> None:
        self._in_flight -= answered
        if self._in_flight < MAX_IN_FLIGHT:
            self._room.set()
        if not self._in_flight:
            self._drained.set()

    async def _reply_failure(self, request: Request, exc: BaseException) -> None:
        """The generic endpoint's reply policy (``orchest_service.commands``)."""
        name = self._name
        if isinstance(exc, CommandError):
            await _reply_error(request, exc.to_reply())
        elif isinstance(exc, TRANSIENT_ERRORS):
            logger.warning("command %s: a dependency is unavailable (%s)", name, exc)
            reply = ErrorReply(code=ErrorCode.UNAVAILABLE, message=f"{name}: try again later")
            await _reply_error(request, reply)
        else:
            logger.error("command %s failed", name, exc_info=exc)
            await _reply_error(
                request, ErrorReply(code=ErrorCode.INTERNAL, message=f"{name} failed")
            )
        write_now(self._nc)

    async def answer_in_flight(self, stopping: asyncio.Event, stopped: asyncio.Event) -> None:
        """At a stop, once the endpoint takes no more requests (``stopped``),
        answer every report in flight before the connection closes (up to
        ``DRAIN_SECONDS``). The requests the endpoint had not taken yet
        (waiting in its subscription, or for room) are dropped with it, as
        the NATS client drops them: their runners ask again."""
        await stopping.wait()
        try:
            async with asyncio.timeout(DRAIN_SECONDS):
                await stopped.wait()
                await self._drained.wait()
                while self._senders:
                    await asyncio.gather(*self._senders, return_exceptions=True)
        except TimeoutError:
            logger.warning("%d reports not answered at the stop", self._in_flight)


async def _reply_error(request: Request, reply: ErrorReply) -> None:
    await request.respond_error(
        code=str(reply.http_status), description=reply.message, data=reply.to_bytes()
    )
