"""The events stream's live tail, read once per gateway process and fanned out.

An ``EventFeed`` reads every status event through one ``OrderedReader``
(starting at the stream's end when the gateway starts), renders each as its
SSE frame once, and hands it to every ``Listener`` whose filter subject
matches the event's subject. A thousand event-stream connections cost the
NATS server one delivery per event, and the gateway one parse and one frame.

Each listener holds at most ``limit`` events waiting for its client; the
feed never waits for a listener: one that would go past its limit is marked
as fallen behind (its connection tells its client so and ends, see
``events_api.py``), so a slow client slows nobody else.

Writing a live event costs the gateway, per connection, one write to the
socket and nothing else: the feed renders each event's frame once and, for
each filter subject, the frames of the events it just read joined into one
HTTP/1.1 chunk, the same bytes for every connection of that filter; a
connection waiting for events, whose socket takes them at once, is
written that chunk straight from the feed (``Listener.direct``: no task
wakes, no ASGI layer, no per-connection framing). A connection that is busy
(sending, replaying) or whose client does not keep up gets the events in
its queue instead, sent by its own task through the response, with its
stall deadline. Events that arrive together (read by the feed in one go)
go out in one write.

``position`` is the stream sequence of the last event the feed handed out.
A listener made now receives every event after it: every event published
once the listener exists (a JetStream publish is acknowledged once stored,
so its sequence is above ``position`` unless it was handed out already),
and those stored before but not yet read by the feed. A connection that
replays the stored stream reads it for itself until it passes its
listener's ``start``, then takes the listener's events: stream sequences
make the join exact.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from .sse import ClientBehindError
from .streams import Item, OrderedReader

logger = logging.getLogger(__name__)


def subject_matches(pattern: tuple[str, ...], subject: tuple[str, ...]) -> bool:
    """NATS subject matching on tokens: ``*`` is one token, ``>`` one or more."""
    for index, token in enumerate(pattern):
        if token == ">":
            return len(subject) > index
        if index >= len(subject) or (token != "*" and token != subject[index]):
            return False
    return len(subject) == len(pattern)


def render(item: Item) -> bytes | None:
    """An event's SSE frame; None for a message that is not an event."""
    try:
        kind = json.loads(item.data).get("kind", "event")
    except (ValueError, AttributeError):
        return None
    return b"id: %d\nevent: %s\ndata: %s\n\n" % (item.sequence, kind.encode(), item.data)


def chunk(body: bytes) -> bytes:
    """``body`` framed as one HTTP/1.1 chunk, as the server frames a body part."""
    return b"%x\r\n%s\r\n" % (len(body), body)


class Event:
    """An event as the feed hands it out: its sequence and its SSE frame."""

    __slots__ = ("frame", "sequence")

    def __init__(self, sequence: int, frame: bytes) -> None:
        self.sequence = sequence
        self.frame = frame


class Listener:
    """The events of one filter subject after ``start``, for one connection."""

    def __init__(self, feed: EventFeed, subject: str, limit: int) -> None:
        self.subject = subject
        self._feed = feed
        self._limit = limit
        self._queue: deque[Event] = deque()
        self._ready = asyncio.Event()
        self.start = feed.position
        """Events after this stream sequence are (or will be) in the queue."""
        self.behind = False
        """The queue went past its limit: events after ``start`` were lost."""
        self.direct: Callable[[bytes], bool] | None = None
        """Writes a chunk straight to the connection if its socket takes it
        at once (else False: nothing written); set once the connection's
        response is past its replay and streams live events."""
        self.sent = 0
        """Stream sequence of the last event the connection sent (or of its
        resume point): kept by the connection, and by the feed for what it
        writes through ``direct``. Events up to it go through the queue, for
        the connection to leave out."""
        self._given = False
        self._idle = False  # the connection's task waits in ``take``, nothing queued

    def offer(self, events: list[Event], body: bytes) -> None:
        """Called by the feed with the events of this listener's filter it
        just read, and their frames as one chunk; never waits."""
        if self.behind:
            return
        self._given = True
        if (
            self._idle
            and self.direct is not None
            and events[0].sequence > self.sent
            and self.direct(body)
        ):
            self.sent = events[-1].sequence
            return
        if len(self._queue) + len(events) > self._limit:
            self.behind = True
            self._queue.clear()
        else:
            self._queue.extend(events)
        self._ready.set()

    def rejoin(self) -> None:
        """Forget what was lost: take the events after the feed's position now."""
        self._queue.clear()
        self.behind = False
        self.start = self._feed.position

    def tick(self) -> None:
        """Called by the feed every keep-alive period: a listener that was
        given nothing since the last one returns from ``take`` empty-handed."""
        if not self._given and not self._queue:
            self._ready.set()
        self._given = False

    async def take(self) -> list[Event]:
        """Every event waiting (at once: one write to the client for all of
        them), once there is one; none after a keep-alive period without.
        Meanwhile the feed may write events straight to the connection
        (``direct``). Raises ``ClientBehindError`` once the queue went past
        its limit."""
        if not self._queue and not self.behind:
            self._ready.clear()
            self._idle = True
            try:
                await self._ready.wait()
            finally:
                self._idle = False
        if self.behind:
            raise ClientBehindError(
                f"the client fell more than {self._limit} events behind: the stream is "
                "closed; reconnect with Last-Event-ID to resume"
            )
        events = list(self._queue)
        self._queue.clear()
        return events


class EventFeed:
    """One reader of the events stream's live tail (``reader``, opened with
    ``after=None, replay=False``), fanned out to listeners."""

    def __init__(
        self, reader: OrderedReader, *, queue_limit: int, keepalive_seconds: float
    ) -> None:
        self._reader = reader
        self._queue_limit = queue_limit
        self._keepalive_seconds = keepalive_seconds
        self._listeners: dict[str, tuple[tuple[str, ...], set[Listener]]] = {}
        self._opened = asyncio.Event()
        self.position = 0
        """Stream sequence of the last event handed out (or of the start)."""

    async def run(self) -> None:
        """Start at the stream's end, then read and hand out events until
        cancelled (the reader itself reads again after a lost message or a
        lost consumer)."""
        try:
            await self._reader.open()
            self.position = self._reader.position
            self._opened.set()
            loop = asyncio.get_running_loop()
            next_tick = loop.time() + self._keepalive_seconds
            while True:
                item = await self._reader.next(max(next_tick - loop.time(), 0))
                if item is not None:
                    items = [item]
                    # Whatever else arrived meanwhile goes out in the same writes.
                    while self._reader.buffered and (more := await self._reader.next(0)):
                        items.append(more)
                    self.dispatch(items)
                if loop.time() >= next_tick:
                    next_tick = loop.time() + self._keepalive_seconds
                    for _, listeners in self._listeners.values():
                        for listener in listeners:
                            listener.tick()
        finally:
            await self._reader.close()

    async def opened(self, timeout: float) -> bool:
        """Whether the feed is reading (listeners may be made), waiting up to
        ``timeout`` for it to start."""
        if self._opened.is_set():
            return True
        try:
            await asyncio.wait_for(self._opened.wait(), timeout)
        except TimeoutError:
            return False
        return True

    def dispatch(self, items: list[Item]) -> None:
        """Hands out ``items`` (read in one go, in stream order): each
        listener gets those of its filter at once."""
        self.position = items[-1].sequence
        if not self._listeners:
            return
        events = []
        for item in items:
            frame = render(item)
            if frame is not None:
                events.append((tuple(item.subject.split(".")), Event(item.sequence, frame)))
        for pattern, listeners in self._listeners.values():
            matching = [event for tokens, event in events if subject_matches(pattern, tokens)]
            if matching:
                body = chunk(b"".join(event.frame for event in matching))
                for listener in listeners:
                    listener.offer(matching, body)

    @property
    def listeners(self) -> int:
        return sum(len(listeners) for _, listeners in self._listeners.values())

    @contextmanager
    def listen(self, subject: str) -> Iterator[Listener]:
        """A listener of ``subject``'s events after the feed's position now."""
        listener = Listener(self, subject, self._queue_limit)
        _, listeners = self._listeners.setdefault(subject, (tuple(subject.split(".")), set()))
        listeners.add(listener)
        try:
            yield listener
        finally:
            listeners.discard(listener)
            if not listeners:
                del self._listeners[subject]
