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

from collections.abc import AsyncIterator
from contextlib import aclosing

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from orchest_schemas.events import StepLogChunk

from . import reads
from .body import query_bool, query_int
from .deps import GatewayDeps, deps_of
from .runs_api import step_of_path
from .streams import OrderedReader, last_sequence, tail

FOLLOW_CHECK_SECONDS = 0.5


async def step_logs(request: Request) -> Response:
    deps = deps_of(request)
    step = await step_of_path(request)
    run_uuid, step_uuid = step.run_uuid, step.step_uuid
    only_attempt = query_int(request, "attempt", 0, 0, 10**6) or None
    follow = query_bool(request, "follow")
    subject = deps.bus.step_log(run_uuid, step_uuid)
    lines = _log_text(deps, subject, run_uuid, step_uuid, only_attempt, follow)
    return StreamingResponse(lines, media_type="text/plain; charset=utf-8")


async def _log_text(
    deps: GatewayDeps,
    subject: str,
    run_uuid: str,
    step_uuid: str,
    only_attempt: int | None,
    follow: bool,
) -> AsyncIterator[str]:
    stream = deps.bus.logs_stream.name
    end = await last_sequence(deps.js, stream, subject)
    if end is None and not follow:
        return
    current_attempt = 0
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
                # Quiet for a while: has the step ended? Then send what is left.
                step = await reads.get_step(deps.pool, run_uuid, step_uuid)
                if step is not None and step.status.is_final:
                    follow = False
                    end = await last_sequence(deps.js, stream, subject)
                    if end is None or seen >= end:
                        return
                continue
            seen = item.sequence
            chunk = StepLogChunk.model_validate_json(item.data)
            if only_attempt is None or chunk.attempt == only_attempt:
                if only_attempt is None and chunk.attempt != current_attempt and chunk.attempt > 1:
                    yield f"\n----- attempt {chunk.attempt} -----\n"
                current_attempt = chunk.attempt
                yield chunk.data
            if not follow and end is not None and item.sequence >= end:
                return
