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
"""

from __future__ import annotations

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
from .mailbox import step_work
from .run_state import Plan, RunState
from .run_store import RunRecord

logger = logging.getLogger(__name__)

Respond = Callable[[ReportAnswer], Awaitable[None]]


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
    async def report_to(self, command: ReportAttempt, respond: Respond) -> None: ...


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
) -> None:
    """The ``report-step`` endpoint on ``nc``, the service's connection:
    ``runs.report_to`` sends the answer, written at once (``write_now``)."""

    async def endpoint(request: Request) -> None:
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

        async def respond(answer: ReportAnswer) -> None:
            await request.respond(answer.model_dump_json().encode())
            write_now(nc)

        try:
            await runs.report_to(command, respond)
        except CommandError as exc:
            await _reply_error(request, exc.to_reply())
        except TRANSIENT_ERRORS as exc:
            logger.warning("command %s: a dependency is unavailable (%s)", name, exc)
            reply = ErrorReply(code=ErrorCode.UNAVAILABLE, message=f"{name}: try again later")
            await _reply_error(request, reply)
        except Exception:
            logger.exception("command %s failed", name)
            await _reply_error(
                request, ErrorReply(code=ErrorCode.INTERNAL, message=f"{name} failed")
            )

    await service.add_endpoint(
        EndpointConfig(name=name, subject=subject, queue_group=queue_group, handler=endpoint)
    )


async def _reply_error(request: Request, reply: ErrorReply) -> None:
    await request.respond_error(
        code=str(reply.http_status), description=reply.message, data=reply.to_bytes()
    )
