"""The events stream's live tail, read once per gateway process and fanned out.

An ``EventFeed`` reads every status event through one ``OrderedReader``
(starting at the stream's end when its first listener comes: below, it
reads only while someone listens), renders each as its
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

The feed reads only while someone listens. The first listener starts its
reader (a consumer of new events: the stream's end); once the last one is
gone, the reader goes on for ``linger_seconds`` (a reconnecting client, a
page change, pays no consumer's creation again) and then stops, deleting its
consumer: with nobody listening the NATS server delivers the gateway
nothing and holds no consumer for it. A listener is made only on a reader
that is open, with ``start`` = that reader's position, and a reader stops
only when it has no listener and nobody is waiting for one, so a listener
never spans a stop: what was published while the feed was stopped is in
the stored stream, where a connection resuming with ``Last-Event-ID``
reads it (the join above). A connection arriving while the feed stops waits
for the next reader; one arriving while it starts waits for that one (up
to its timeout, ``FeedUnavailable``: the reader is tried again meanwhile if
its opening failed).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from nats.errors import Error as NatsError

from orchest_service.errors import DependencyUnavailable

from .sse import ClientBehindError
from .streams import RETRY_SECONDS, Item, OrderedReader, ReaderError

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


class FeedUnavailable(DependencyUnavailable):
    """The feed was not reading within a listener's timeout (a 503)."""


class EventFeed:
    """The events stream's live tail (a reader made by ``new_reader``, opened
    with ``after=None, replay=False``), read while it has listeners and
    fanned out to them."""

    def __init__(
        self,
        new_reader: Callable[[], OrderedReader],
        *,
        queue_limit: int,
        keepalive_seconds: float,
        linger_seconds: float,
    ) -> None:
        self._new_reader = new_reader
        self._queue_limit = queue_limit
        self._keepalive_seconds = keepalive_seconds
        self._linger_seconds = linger_seconds
        self._listeners: dict[str, tuple[tuple[str, ...], set[Listener]]] = {}
        self._demand = 0  # listeners, and connections waiting to be one
        self._wanted = asyncio.Event()  # set while ``_demand`` > 0
        self._unwanted = asyncio.Event()  # set while ``_demand`` == 0
        self._unwanted.set()
        self._opened = asyncio.Event()  # a reader is open: listeners may be made
        self._failure = ""
        self.starts = 0
        """How many times the feed started reading."""
        self.position = 0
        """Stream sequence of the last event handed out (or of the start)."""

    @property
    def demand(self) -> int:
        """Listeners, and connections waiting for the feed to make theirs."""
        return self._demand

    @property
    def reading(self) -> bool:
        """Whether a reader is open (listeners may be made at once)."""
        return self._opened.is_set()

    async def run(self) -> None:
        """Reads while someone listens, until cancelled: a reader is made
        when the first listener comes and closed (its consumer deleted) once
        there was none for ``linger_seconds``; a reader that cannot be opened
        is tried again while listeners wait. Anything else a reader raises
        (once open: its listeners could not be given what they missed)
        ends this, and the gateway."""
        while True:
            await self._wanted.wait()
            starts = self.starts
            reading = asyncio.create_task(self._read())
            unwanted = asyncio.create_task(self._until_unwanted())
            try:
                await asyncio.wait({reading, unwanted}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                self._opened.clear()
                unwanted.cancel()
                reading.cancel()
                # The reader's close (its consumer deleted) before the next one.
                await asyncio.wait({reading})
            failure = None if reading.cancelled() else reading.exception()
            opening = self.starts == starts  # no listener was made on it
            if opening and isinstance(failure, (ReaderError, NatsError, TimeoutError, OSError)):
                self._failure = str(failure) or type(failure).__name__
                logger.warning("the live events cannot be read yet: %s", self._failure)
                await asyncio.sleep(RETRY_SECONDS)
            elif failure is not None:
                raise failure

    async def _until_unwanted(self) -> None:
        """Returns once nobody listened or waited for ``linger_seconds``,
        the reader closed to new listeners (in the same step as the last
        check: a connection coming after it waits for the next reader)."""
        while True:
            await self._unwanted.wait()
            try:
                async with asyncio.timeout(self._linger_seconds):
                    await self._wanted.wait()
            except TimeoutError:
                if self._demand == 0:
                    self._opened.clear()
                    return

    async def _read(self) -> None:
        """Start at the stream's end, then read and hand out events until
        cancelled (the reader itself reads again after a lost message or a
        lost consumer)."""
        reader = self._new_reader()
        try:
            await reader.open()
            self.position = reader.position
            self.starts += 1
            self._failure = ""
            self._opened.set()
            logger.debug("live events read from %d", self.position)
            loop = asyncio.get_running_loop()
            next_tick = loop.time() + self._keepalive_seconds
            while True:
                item = await reader.next(max(next_tick - loop.time(), 0))
                if item is not None:
                    items = [item]
                    # Whatever else arrived meanwhile goes out in the same writes.
                    while reader.buffered and (more := await reader.next(0)):
                        items.append(more)
                    self.dispatch(items)
                if loop.time() >= next_tick:
                    next_tick = loop.time() + self._keepalive_seconds
                    for _, listeners in self._listeners.values():
                        for listener in listeners:
                            listener.tick()
        finally:
            self._opened.clear()
            await reader.close()

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

    @asynccontextmanager
    async def listen(self, subject: str, timeout: float) -> AsyncIterator[Listener]:
        """A listener of ``subject``'s events after the feed's position when
        it is made, once the feed reads (started for it if need be); raises
        ``FeedUnavailable`` if it does not within ``timeout``."""
        self._demand += 1
        if self._demand == 1:
            self._unwanted.clear()
            self._wanted.set()
        try:
            deadline = asyncio.get_running_loop().time() + timeout
            while not self._opened.is_set():  # no wait between this and the listener
                try:
                    async with asyncio.timeout_at(deadline):
                        await self._opened.wait()
                except TimeoutError:
                    raise FeedUnavailable(
                        "the live events are not available yet"
                        + (f": {self._failure}" if self._failure else "")
                    ) from None
            listener = Listener(self, subject, self._queue_limit)
            _, listeners = self._listeners.setdefault(subject, (tuple(subject.split(".")), set()))
            listeners.add(listener)
            try:
                yield listener
            finally:
                listeners.discard(listener)
                if not listeners:
                    del self._listeners[subject]
        finally:
            self._demand -= 1
            if self._demand == 0:
                self._wanted.clear()
                self._unwanted.set()
