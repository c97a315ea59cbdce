"""``GET /api/runs/{run}/steps/{step}/logs``: a step's output, kept after the run.

The whole log as ``text/plain``: every attempt's output in order, each
attempt after the first introduced by a marker line (``?attempt=N`` keeps one
attempt). With ``?follow=true`` the response streams new output as it comes
and ends once the step has ended and everything it wrote was sent.

Either way the log is streamed as it is read from JetStream, one reader
window at a time (``ORCHEST_READ_WINDOW_MESSAGES`` / ``_BYTES``), asked for
once the previous one was sent: a log of any size costs the gateway one
window.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import aclosing

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from orchest_schemas.events import StepLogChunk

from . import reads
from .body import query_bool, query_int
from .deps import GatewayDeps, deps_of
from .long_lived import CutAtStop
from .openapi import Operation, Parameter
from .runs_api import RUN, STEP, step_of_path
from .streams import OrderedReader, last_sequence, tail

FOLLOW_CHECK_SECONDS = 0.5


async def step_logs(request: Request) -> Response:
    deps = deps_of(request)
    step = await step_of_path(request)
    run_uuid, step_uuid = step.run_uuid, step.step_uuid
    only_attempt = query_int(request, "attempt", 0, 0, 10**6) or None
    follow = query_bool(request, "follow")
    current_attempt = 0

    def text_of(data: bytes) -> str:
        nonlocal current_attempt
        chunk = StepLogChunk.model_validate_json(data)
        if only_attempt is not None:
            return chunk.data if chunk.attempt == only_attempt else ""
        marker = ""
        if chunk.attempt != current_attempt and chunk.attempt > 1:
            marker = f"\n----- attempt {chunk.attempt} -----\n"
        current_attempt = chunk.attempt
        return marker + chunk.data

    async def ended() -> bool:
        found = await reads.get_step(deps.pool, run_uuid, step_uuid)
        return found is not None and found.status.is_final

    lines = log_text(deps, deps.bus.step_log(run_uuid, step_uuid), text_of, ended, follow)
    return log_response(lines, deps, follow)


def log_response(lines: AsyncIterator[str], deps: GatewayDeps, follow: bool) -> Response:
    """The log as plain text; a followed one is cut when the gateway stops."""
    response = StreamingResponse(lines, media_type="text/plain; charset=utf-8")
    return CutAtStop(response, deps.stopping) if follow else response


async def log_text(
    deps: GatewayDeps,
    subject: str,
    text_of: Callable[[bytes], str],
    ended: Callable[[], Awaitable[bool]],
    follow: bool,
) -> AsyncIterator[str]:
    """A log of the ``LOGS`` stream (each message's text by ``text_of``);
    with ``follow``, going on until ``ended()`` says its writer is done and
    everything it wrote was sent."""
    stream = deps.bus.logs_stream.name
    end = await last_sequence(deps.js, stream, subject)
    if end is None and not follow:
        return
    seen = 0
    reader = OrderedReader(
        deps.js, deps.nc, stream, subject, after=None, replay=True, window=deps.settings.read_window
    )
    items = tail(reader, FOLLOW_CHECK_SECONDS)
    async with aclosing(items):
        async for item in items:
            if item is None:
                if not follow:
                    if end is None or seen >= end:
                        return
                    continue
                # Quiet for a while: has the writer ended? Then send what is left.
                if await ended():
                    follow = False
                    end = await last_sequence(deps.js, stream, subject)
                    if end is None or seen >= end:
                        return
                continue
            seen = item.sequence
            if text := text_of(item.data):
                yield text
            if not follow and end is not None and item.sequence >= end:
                return


OPERATIONS: tuple[Operation, ...] = (
    Operation(
        method="GET",
        path="/api/runs/{run_uuid}/steps/{step_uuid}/logs",
        operation_id="getRunStepLogs",
        summary="A step's output: the whole log, or streamed until the step ends (follow)",
        parameters=(
            RUN,
            STEP,
            Parameter("follow", "query", "Stream until the step ends", {"type": "boolean"}),
            Parameter("attempt", "query", "Only this attempt", {"type": "integer"}),
        ),
        responses={
            200: ("The log (text/plain)", None),
            404: ("No such run or step", None),
            422: ("Bad query parameter", None),
        },
        tags=("runs",),
        content_type="text/plain",
    ),
)

HANDLERS = {"getRunStepLogs": step_logs}
