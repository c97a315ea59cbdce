"""``GET /api/events``: status events as Server-Sent Events.

Filter with one of ``run_uuid`` (a run and its steps), ``pipeline_uuid`` (a
pipeline's runs and steps), ``job_uuid`` (a job's status changes and its
runs' status changes) or ``session=<project_uuid>/<pipeline_uuid>`` (the
status changes of that pipeline's sessions, one after the other), else every
event. Each SSE
event carries ``id:`` = the JetStream stream sequence, ``event:`` = the
event's kind and ``data:`` = the event as JSON. A client that reconnects with
``Last-Event-ID`` (header, or ``last_event_id`` query) gets exactly the
events after it: no gap, no duplicate. Without it, ``replay=true`` starts
from the first event matching the filter, else from now.

Each connection reads the stream through its own ``OrderedReader`` (one
window of events at a time, asked for once the previous one was sent) and
sends through an ``EventStreamResponse`` (a client that takes nothing for
``ORCHEST_SSE_STALL_SECONDS`` is sent ``event: error`` and dropped), so a
client that falls behind costs the gateway no more than one that keeps up.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncGenerator

from starlette.requests import Request
from starlette.responses import Response

from orchest_schemas.errors import ErrorDetail

from .body import query_bool
from .deps import deps_of
from .errors import ApiError
from .sse import EventStreamResponse, Frame
from .streams import OrderedReader


def _resume_point(request: Request) -> int | None:
    raw = request.headers.get("last-event-id") or request.query_params.get("last_event_id")
    if raw is None or raw == "":
        return None
    # ASCII digits only ("²".isdigit() holds), and within JetStream's sequences.
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 19 or int(raw) >= 2**63:
        raise ApiError(
            422,
            "invalid Last-Event-ID",
            [
                ErrorDetail(
                    loc=["header", "Last-Event-ID"], msg="must be an event id", type="value_error"
                )
            ],
        )
    return int(raw)


_FILTERS = ("run_uuid", "pipeline_uuid", "job_uuid", "session")


def _filter(request: Request) -> str:
    bus = deps_of(request).bus
    given = {
        name: request.query_params[name] for name in _FILTERS if request.query_params.get(name)
    }
    if len(given) > 1:
        raise ApiError(
            422,
            "invalid filter",
            [
                ErrorDetail(loc=["query", name], msg="give one filter at most", type="value_error")
                for name in given
            ],
        )
    try:
        if "run_uuid" in given:
            return bus.run_events(str(uuid.UUID(given["run_uuid"])))
        if "pipeline_uuid" in given:
            return bus.pipeline_events(given["pipeline_uuid"])
        if "job_uuid" in given:
            return bus.job_events(str(uuid.UUID(given["job_uuid"])))
        if "session" in given:
            project_uuid, slash, pipeline_uuid = given["session"].partition("/")
            if not slash:
                raise ValueError("must be <project_uuid>/<pipeline_uuid>")
            return bus.session_event(project_uuid, pipeline_uuid)
    except ValueError as exc:
        raise ApiError(
            422,
            "invalid filter",
            [ErrorDetail(loc=["query", *given], msg=str(exc), type="value_error")],
        ) from None
    return bus.all_events


async def events(request: Request) -> Response:
    deps = deps_of(request)
    subject = _filter(request)
    after = _resume_point(request)
    replay = query_bool(request, "replay")
    settings = deps.settings

    async def frames() -> AsyncGenerator[Frame, None]:
        reader = OrderedReader(
            deps.js,
            deps.nc,
            deps.bus.events_stream.name,
            subject,
            after=after,
            replay=replay,
            window=settings.read_window,
        )
        await reader.open()
        try:
            yield Frame(": connected\n\n", reader.position)
            while True:
                item = await reader.next(settings.sse_keepalive_seconds)
                if item is None:
                    yield Frame(": keep-alive\n\n", reader.position)
                    continue
                try:
                    kind = json.loads(item.data).get("kind", "event")
                except ValueError:
                    continue
                text = f"id: {item.sequence}\nevent: {kind}\ndata: {item.data.decode()}\n\n"
                yield Frame(text, item.sequence)
        finally:
            await reader.close()

    return EventStreamResponse(frames(), stall_seconds=settings.sse_stall_seconds)
