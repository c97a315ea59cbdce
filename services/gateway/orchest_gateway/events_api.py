"""``GET /api/events``: status events as Server-Sent Events.

Filter with one of ``run_uuid`` (a run and its steps), ``pipeline_uuid`` (a
pipeline's runs and steps), ``job_uuid`` (a job's status changes and its
runs' status changes), ``session=<project_uuid>/<pipeline_uuid>`` (the
status changes of that pipeline's sessions, one after the other) or
``project_uuid`` (a project's files changed) or ``environment_uuid`` (the
status changes of an environment's builds), else every event. Each SSE
event carries ``id:`` = the JetStream stream sequence, ``event:`` = the
event's kind and ``data:`` = the event as JSON. A client that reconnects with
``Last-Event-ID`` (header, or ``last_event_id`` query) gets exactly the
events after it: no gap, no duplicate. Without it, ``replay=true`` starts
from the first event matching the filter, else from now.

Live events come from the gateway's one ``EventFeed`` (``fanout.py``): each
connection is a listener of it, made before the response starts (nothing
published after that is missed; the feed started for it if it was not
reading, a 503 if it does not read within the command timeout), with a
bounded queue (a client that falls further behind is sent ``event: error``
and dropped). A connection that replays reads the stored stream through an
``OrderedReader`` of its own (one window at a time, paced by its client)
until it reaches its listener's start, then takes the listener's events,
skipping any it sent already: the stream sequences make the switch exact.
The response is an
``EventStreamResponse`` (a client that takes nothing for
``ORCHEST_SSE_STALL_SECONDS`` is sent ``event: error`` and dropped).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncGenerator
from contextlib import aclosing

from nats.errors import Error as NatsError
from starlette.requests import Request
from starlette.responses import Response

from orchest_schemas.errors import ErrorDetail
from orchest_service.errors import DependencyUnavailable

from .body import query_bool
from .deps import deps_of
from .errors import ApiError
from .fanout import Listener, render
from .long_lived import CutAtStop
from .openapi import Operation, Parameter
from .sse import CHUNK_WRITER_EXTENSION, ClientBehindError, EventStreamResponse, Frame
from .streams import OrderedReader, ReaderError


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


_FILTERS = ("run_uuid", "pipeline_uuid", "job_uuid", "session", "project_uuid", "environment_uuid")


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
        if "project_uuid" in given:
            return bus.project_events(given["project_uuid"])
        if "environment_uuid" in given:
            return bus.environment_events(given["environment_uuid"])
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
    feed = deps.feed
    if feed is None:
        raise ApiError(503, "the live events are not available yet")
    keepalive = settings.sse_keepalive_seconds
    chunk_writer = request.scope.get("extensions", {}).get(CHUNK_WRITER_EXTENSION, _no_writer)

    async def frames() -> AsyncGenerator[Frame, None]:
        # Runs up to its first frame here, before the response: the
        # listener exists (the feed started for it if it was not reading),
        # so no event published after the headers is missed; and what fails
        # until then (the feed not reading within the timeout, the stored
        # stream not readable) is an answer of its own (a 503), not an error
        # inside the response.
        async with feed.listen(subject, settings.command_timeout_seconds) as listener:
            last = listener.start
            if after is not None or replay:
                reader = OrderedReader(
                    deps.js,
                    deps.nc,
                    deps.bus.events_stream.name,
                    subject,
                    after=after,
                    replay=replay,
                    window=settings.read_window,
                )
                try:
                    await reader.open()
                except (ReaderError, NatsError, TimeoutError, OSError) as exc:
                    raise DependencyUnavailable(f"the events stream cannot be read: {exc}") from exc
                try:
                    last = reader.position
                    yield Frame(b": connected\n\n", last)
                    async for frame in _stored(reader, listener, keepalive):
                        assert frame.position is not None
                        last = frame.position
                        yield frame
                finally:
                    await reader.close()
            else:
                yield Frame(b": connected\n\n", last)
            # From now on the feed writes the live events straight to the
            # connection while this waits for them (and its socket takes
            # them at once); the rest come through the queue, in order.
            listener.sent = last
            listener.direct = chunk_writer()
            while True:
                try:
                    taken = await listener.take()
                except ClientBehindError as exc:
                    raise ClientBehindError(str(exc), listener.sent) from None
                last = listener.sent
                if not taken:
                    yield Frame(b": keep-alive\n\n", last)
                    continue
                events = [e for e in taken if e.sequence > last]  # some replayed already
                if events:
                    before, last = last, events[-1].sequence
                    listener.sent = last
                    yield Frame(b"".join(e.frame for e in events), last, before)

    stream = frames()
    first = await anext(stream)
    return CutAtStop(
        EventStreamResponse(_primed(first, stream), stall_seconds=settings.sse_stall_seconds),
        deps.stopping,
    )


async def _primed(first: Frame, rest: AsyncGenerator[Frame, None]) -> AsyncGenerator[Frame, None]:
    """``first``, then the frames of ``rest`` (closed with this)."""
    async with aclosing(rest):
        yield first
        async for frame in rest:
            yield frame


def _no_writer() -> None:
    return None


async def _stored(
    reader: OrderedReader, listener: Listener, keepalive: float
) -> AsyncGenerator[Frame, None]:
    """The stored events, up to where ``listener`` takes over: ends once the
    reader has handed out every event up to the listener's start (the
    listener holds every one after it). A listener that fell behind meanwhile
    starts again at the feed's position (the reader reads further)."""
    while True:
        if listener.behind:
            listener.rejoin()
        if not reader.buffered and reader.position >= listener.start:
            return  # nothing stored up to the start is left to read
        if not reader.buffered and await reader.caught_up():
            if not listener.behind:
                return
            continue
        item = await reader.next(keepalive)
        if item is None:
            yield Frame(b": keep-alive\n\n", reader.position)
            continue
        if listener.behind:
            listener.rejoin()
        if item.sequence > listener.start:
            return  # this one and the next are the listener's
        frame = render(item)
        if frame is not None:
            yield Frame(frame, item.sequence)


OPERATIONS: tuple[Operation, ...] = (
    Operation(
        method="GET",
        path="/api/events",
        operation_id="streamEvents",
        summary="Status events as Server-Sent Events; resume with Last-Event-ID",
        parameters=(
            Parameter("run_uuid", "query", "Only this run's events"),
            Parameter("pipeline_uuid", "query", "Only this pipeline's events"),
            Parameter("job_uuid", "query", "Only this job's events and its runs' status changes"),
            Parameter(
                "session",
                "query",
                "Only the status changes of this pipeline's sessions:"
                " `<project_uuid>/<pipeline_uuid>`",
            ),
            Parameter("project_uuid", "query", "Only this project's events (files changed)"),
            Parameter("environment_uuid", "query", "Only this environment's build status changes"),
            Parameter(
                "replay", "query", "Start from the first matching event", {"type": "boolean"}
            ),
            Parameter("Last-Event-ID", "header", "Resume after this event id"),
            Parameter("last_event_id", "query", "Resume after this event id (if no header)"),
        ),
        responses={
            200: (
                "An event stream (text/event-stream); a client that takes no event for "
                "ORCHEST_SSE_STALL_SECONDS gets `event: error` (data: message, "
                "last_event_id to resume from) and is dropped",
                None,
            ),
            422: ("Bad filter, Last-Event-ID or query parameter", None),
        },
        tags=("events",),
        content_type="text/event-stream",
    ),
)

HANDLERS = {"streamEvents": events}
