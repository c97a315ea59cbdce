"""Reading JetStream subjects in order, a bounded window at a time, for SSE and logs.

An ``OrderedReader`` reads the messages of one filter subject of a stream
from a start point, in stream order, through an ephemeral *pull* consumer of
its own (no acknowledgements, in memory). It asks the server for the next
window (at most ``Window.messages`` messages and ``Window.bytes`` bytes) only
once its caller has taken every message of the previous one, so whatever
the backlog (a replay of days of events, a log of gigabytes) the gateway
holds at most one window per reader: the rest stays in the stream until the
caller, paced by its HTTP client, asks for it.

Exactness: the stream sequence of the last message handed out
(``position``) is the resume token. The reader checks each message's
consumer sequence (1, 2, 3... per consumer); a gap (a message lost to a
reconnect), a pull request left unanswered, or a consumer the server lost
(a NATS restart) make it delete the consumer and create a new one starting
right after ``position``: nothing is skipped, nothing is handed out twice.

A message larger than ``Window.bytes`` is asked for alone, without the byte
limit (the server refuses to deliver it within the limit).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import uuid
from collections.abc import AsyncGenerator
from dataclasses import dataclass

import anyio
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.js import JetStreamContext
from nats.js.api import DEFAULT_PREFIX, AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError

logger = logging.getLogger(__name__)

HEARTBEAT = "100"
ENDED = frozenset({"404", "408"})
"""Statuses that end a pull request normally (nothing more for it now)."""
OVER_BYTES = "Message Size Exceeds MaxBytes"
"""A 409 that ends a request at its byte limit (refusing a message that
would pass it; with nothing delivered, one message is larger than it)."""
ANSWER_GRACE_SECONDS = 2.0
"""A pull request with no answer this long after its expiry was lost."""
CONSUMER_INACTIVE_SECONDS = 120.0
"""The server deletes a reader's consumer after this long without a pull
(a gateway that died leaves none behind for longer)."""
CLEANUP_SECONDS = 2.0
"""How long closing waits for the server to delete the consumer."""
RETRY_SECONDS = 0.5
"""Wait before trying again to create a consumer (NATS unreachable)."""


@dataclass(frozen=True)
class Item:
    sequence: int
    subject: str
    data: bytes


@dataclass(frozen=True)
class Window:
    """The most a reader asks for (so holds) at a time."""

    messages: int
    bytes: int


def ack_position(reply: str | None) -> tuple[str, int, int] | None:
    """(consumer, consumer sequence, stream sequence) of a message a
    consumer delivered, read from its acknowledgement subject
    (``$JS.ACK.<stream>.<consumer>.<delivered>.<stream seq>.<consumer seq>.<time>.<pending>``,
    or the form with a domain and an account hash after ``$JS.ACK``); None
    for another subject. What ``Msg.metadata`` gives, without its timestamp
    and objects: this runs for every event the gateway reads."""
    if not reply or not reply.startswith("$JS.ACK."):
        return None
    tokens = reply.split(".")
    if len(tokens) == 9:
        at = 3
    elif len(tokens) >= 11:
        at = 5
    else:
        return None
    try:
        return tokens[at], int(tokens[at + 3]), int(tokens[at + 2])
    except ValueError:
        return None


class ReaderError(Exception):
    """The reader could not be opened."""


@dataclass
class _Pull:
    token: str
    remaining: int
    deadline: float
    delivered: int = 0


class OrderedReader:
    def __init__(
        self,
        js: JetStreamContext,
        nc: Client,
        stream: str,
        subject: str,
        *,
        after: int | None,
        replay: bool,
        window: Window,
        pull_seconds: float = 5.0,
    ) -> None:
        self._js = js
        self._nc = nc
        self._stream = stream
        self._subject = subject
        self._after = after
        self._replay = replay
        self._window = window
        self._pull_seconds = pull_seconds
        self._inbox = nc.new_inbox()
        self._tokens = itertools.count()
        # Filled by ``_received`` with the current consumer's messages and the
        # current request's statuses only: at most one window at a time.
        self._incoming: asyncio.Queue[Msg] = asyncio.Queue()
        self._subscription: Subscription | None = None
        self._consumer: str | None = None
        self._pull: _Pull | None = None
        self._expected = 1  # the next consumer sequence
        self._alone = False  # the next message is over the byte limit: ask for it alone
        self._broken = False  # a gap or a failed request: read again before going on
        self.position: int = 0
        """Stream sequence of the last message handed out (or of the start
        point): resuming after it loses and repeats nothing."""

    async def open(self) -> None:
        self._subscription = await self._nc.subscribe(f"{self._inbox}.*", cb=self._received)
        if self._after is not None:
            config = ConsumerConfig(
                deliver_policy=DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=self._after + 1
            )
        elif self._replay:
            config = ConsumerConfig(deliver_policy=DeliverPolicy.ALL)
        else:
            config = ConsumerConfig(deliver_policy=DeliverPolicy.NEW)
        try:
            start = await self._create(config)
        except Exception as exc:
            await self.close()
            raise ReaderError(f"cannot read {self._subject}: {exc!r}") from exc
        # The consumer's start: the given point, else the stream's last
        # sequence when it was created (NEW), else nothing yet (ALL).
        self.position = self._after if self._after is not None else start

    async def close(self) -> None:
        """Unsubscribe and delete the consumer; even when the caller is being
        cancelled (the consumer would otherwise live until it is inactive)."""
        with anyio.CancelScope(shield=True), anyio.move_on_after(CLEANUP_SECONDS):
            if self._subscription is not None:
                subscription, self._subscription = self._subscription, None
                try:
                    await subscription.unsubscribe()
                except Exception as exc:  # the connection is closing
                    logger.debug("reader subscription: %r", exc)
            await self._delete_consumer()

    async def next(self, timeout: float) -> Item | None:
        """The next message; None if none came within ``timeout``."""
        incoming = self._incoming
        while not incoming.empty():  # what came meanwhile, without a wait
            item = self._take(incoming.get_nowait())
            if self._broken:
                await self._restart()
            elif item is not None:
                return item
        loop = asyncio.get_running_loop()
        give_up = loop.time() + timeout
        while True:
            if self._pull is None:
                await self._request()
            wait = give_up - loop.time()
            if self._pull is not None:
                wait = min(wait, self._pull.deadline - loop.time())
            if incoming.empty():
                try:
                    # A timeout scope, not ``wait_for``: no task made per wait.
                    async with asyncio.timeout(max(wait, 0)):
                        msg = await incoming.get()
                except TimeoutError:
                    if self._pull is not None and loop.time() >= self._pull.deadline:
                        logger.info("pull request on %s unanswered: reading again", self._subject)
                        await self._restart()
                        continue
                    return None
            else:
                msg = incoming.get_nowait()
            item = self._take(msg)
            if self._broken:
                await self._restart()
            elif item is not None:
                return item

    @property
    def buffered(self) -> bool:
        """Messages (or a request's end) received and not taken yet."""
        return not self._incoming.empty()

    async def caught_up(self) -> bool:
        """Whether every message of the filter stored before this call was
        handed out (the consumer has none pending and delivered nothing
        this reader did not hand out). False when it cannot tell."""
        consumer = self._consumer
        if consumer is None or self.buffered:
            return False
        try:
            info = await self._js.consumer_info(self._stream, consumer)
        except Exception as exc:  # lost consumer, disconnected: reading again will tell
            logger.debug("reader consumer %s: %r", consumer, exc)
            return False
        delivered = info.delivered.consumer_seq if info.delivered is not None else 0
        return (
            consumer == self._consumer
            and info.num_pending == 0
            and delivered == self._expected - 1
            and not self.buffered
        )

    def _take(self, msg: Msg) -> Item | None:
        """The message's item; None for a status or a message to drop. Sets
        ``_broken`` when the reader must read again (``_restart``)."""
        status = msg.headers.get("Status") if msg.headers else None
        if status is not None:
            pull = self._pull
            if pull is None or msg.subject.rpartition(".")[2] != pull.token:
                return None  # a request that ended already
            self._pull = None
            description = (msg.headers or {}).get("Description", "")
            if status in ENDED:
                return None
            if status == "409" and description == OVER_BYTES:
                self._alone = pull.delivered == 0
                return None
            logger.info("pull on %s: %s %s, reading again", self._subject, status, description)
            self._broken = True
            return None
        position = ack_position(msg.reply)
        if position is None or position[0] != self._consumer:
            return None  # a consumer this reader gave up (or not a stream's message)
        _, consumer_seq, stream_seq = position
        if consumer_seq != self._expected:
            logger.info("gap reading %s: reading again after %d", self._subject, self.position)
            self._broken = True
            return None
        self._expected += 1
        self._alone = False
        if self._pull is not None:
            self._pull.delivered += 1
            self._pull.remaining -= 1
            if self._pull.remaining == 0:
                self._pull = None
        self.position = stream_seq
        return Item(stream_seq, msg.subject, msg.data)

    async def _request(self) -> None:
        if self._consumer is None:
            await self._restart()
        assert self._consumer is not None
        token = str(next(self._tokens))
        body: dict[str, int] = {"expires": int(self._pull_seconds * 1e9)}
        if self._alone:
            body["batch"] = 1
        else:
            body["batch"] = self._window.messages
            body["max_bytes"] = self._window.bytes
        deadline = asyncio.get_running_loop().time() + self._pull_seconds + ANSWER_GRACE_SECONDS
        self._pull = _Pull(token=token, remaining=body["batch"], deadline=deadline)
        subject = f"{DEFAULT_PREFIX}.CONSUMER.MSG.NEXT.{self._stream}.{self._consumer}"
        try:
            request = json.dumps(body).encode()
            await self._nc.publish(subject, request, reply=f"{self._inbox}.{token}")
        except Exception as exc:  # disconnected: the deadline makes it read again
            logger.info("pull on %s not sent: %r", self._subject, exc)

    async def _restart(self) -> None:
        """A new consumer starting right after ``position``; tries until it has one."""
        self._broken = False
        await self._delete_consumer()
        self._pull = None
        while True:
            config = ConsumerConfig(
                deliver_policy=DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=self.position + 1
            )
            try:
                await self._create(config)
                return
            except Exception as exc:
                logger.warning("cannot read %s again yet: %r", self._subject, exc)
                await asyncio.sleep(RETRY_SECONDS)

    async def _create(self, config: ConsumerConfig) -> int:
        """Create the consumer; returns its start (the last stream sequence
        before its first message, for a consumer of new messages)."""
        name = uuid.uuid4().hex
        config.name = name
        config.filter_subject = self._subject
        config.ack_policy = AckPolicy.NONE
        config.mem_storage = True
        config.num_replicas = 1
        config.inactive_threshold = CONSUMER_INACTIVE_SECONDS
        config.max_waiting = 1
        info = await self._js.add_consumer(self._stream, config=config)
        self._consumer = name
        self._expected = 1
        self._alone = False
        # Drop what an earlier consumer delivered meanwhile.
        while not self._incoming.empty():
            self._incoming.get_nowait()
        return info.delivered.stream_seq if info.delivered is not None else 0

    async def _delete_consumer(self) -> None:
        consumer, self._consumer = self._consumer, None
        if consumer is None:
            return
        try:
            await self._js.delete_consumer(self._stream, consumer)
        except NotFoundError:
            pass
        except Exception as exc:  # it goes once inactive
            logger.debug("reader consumer %s not deleted: %r", consumer, exc)

    async def _received(self, msg: Msg) -> None:
        if msg.headers and msg.headers.get("Status") == HEARTBEAT:
            return
        self._incoming.put_nowait(msg)


async def tail(reader: OrderedReader, idle_seconds: float) -> AsyncGenerator[Item | None, None]:
    """Opens ``reader``, yields its messages, and None after ``idle_seconds``
    without one (the caller sends a keep-alive or checks a condition); closes
    it when closed."""
    await reader.open()
    try:
        while True:
            yield await reader.next(idle_seconds)
    finally:
        await reader.close()


async def last_sequence(js: JetStreamContext, stream: str, subject: str) -> int | None:
    """Stream sequence of the last message on ``subject``; None if there is none."""
    try:
        msg = await js.get_last_msg(stream, subject)
    except NotFoundError:
        return None
    return msg.seq
