"""The outbox: messages decided with a write are stored by the same statement
(``run_store.create_run``, ``plan_store.write_plan``), then published after it, in
order, and deleted once published.

The fast path: the writer that gets its commit's reply hands the messages
over (``committed``) and they are published at once, from memory. A commit
whose reply never reaches the writer (its connection broke after Postgres
committed, or before, the transaction still open on a backend that could
commit it later) is settled from the table instead, by the backend that
wrote it (``writer``; each row keeps its writer's pid):

- when the write fails with an outcome it cannot know, the backend that
  held it is first fenced: terminated, and waited for (``fence``), unless it
  is already gone. A terminated backend's open transaction is rolled back,
  so nothing of that write can commit after this point. Then the rows that
  backend committed and this outbox does not know are published, before the
  error goes on. A fence or look-up that fails (Postgres unreachable) is
  tried again, with backoff, until it succeeds;
- at start, every row nobody is publishing is claimed (``FOR UPDATE SKIP
  LOCKED``), published and deleted (``recover``): what a crashed process
  left.

No write notifies anyone, so a commit costs Postgres no notification (no
global lock held through the commit, no listening backend woken) and the
scheduler no listening connection.

JetStream drops a message it already has (``Nats-Msg-Id`` within the
stream's duplicate window), so a message published twice (by two of these
paths, or around a crash) is stored once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg
from nats.aio.client import Client
from nats.errors import ConnectionClosedError, NoRespondersError
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js import JetStreamContext
from nats.js.errors import APIError

from orchest_schemas.bus import HEADER_MSG_ID
from orchest_service.errors import CommandError

from . import outbox_store
from .outbox_store import StoredMessage
from .sql import Connection
from .stream_publish import StreamPublisher

logger = logging.getLogger(__name__)

ACK_TIMEOUT = 5.0
"""Seconds to wait for JetStream to acknowledge a message before sending it again."""
DELETE_EVERY = 0.25
"""Seconds between deletions of published rows (a crash publishes them again:
JetStream drops the duplicates)."""
CLAIM_BATCH = 1024
"""Rows claimed at a time by ``recover``."""
LOOKUP_TIMEOUT = 5.0
"""Seconds a failed write waits for the look-up of its committed rows (beyond
its backend's fence)."""
FENCE_SECONDS = 5.0
"""Seconds the fence waits for a failed write's backend to exit; one still
there is fenced again later."""
UNSURE: tuple[type[BaseException], ...] = (
    asyncpg.PostgresConnectionError,
    asyncpg.exceptions.OperatorInterventionError,
)
"""Errors from Postgres that leave a write's outcome unknown (the connection
broke, the server shut down or cancelled the statement)."""


ACK_ERRORS: tuple[type[BaseException], ...] = (
    NatsTimeoutError,
    APIError,
    ConnectionClosedError,
    OSError,
)
"""Errors of a JetStream acknowledgement that mean: publish it again."""


def _acknowledged(sent: asyncio.Future[Any] | BaseException) -> bool:
    """Whether a message sent was stored: its acknowledgement came, in time."""
    if isinstance(sent, BaseException) or not sent.done() or sent.cancelled():
        return False
    return sent.exception() is None


def refused(exc: Exception) -> bool:
    """Whether a write that raised ``exc`` surely committed nothing: Postgres
    refused it (an error that ends the transaction), or the writer did."""
    if isinstance(exc, CommandError):
        return True
    return isinstance(exc, asyncpg.PostgresError) and not isinstance(exc, UNSURE)


@dataclass(frozen=True)
class OutMessage:
    subject: str
    payload: bytes
    msg_id: str | None = None
    jetstream: bool = True
    """False: core NATS (signals that need no storage)."""

    @classmethod
    def stored(cls, row: StoredMessage) -> OutMessage:
        return cls(row.subject, row.payload, row.msg_id, row.jetstream)


class Outbox:
    def __init__(self, pool: asyncpg.Pool, nc: Client, js: JetStreamContext) -> None:
        self._pool = pool
        self._nc = nc
        self._js = js
        self._stream = StreamPublisher(nc)
        self._queue: asyncio.Queue[list[tuple[int, OutMessage]]] = asyncio.Queue()
        self._published: list[int] = []
        self._known: set[int] = set()
        """Rows handed to the publisher and not deleted yet."""
        self._lookups: asyncio.Queue[tuple[int, int]] = asyncio.Queue()
        """(backend pid, tries so far): failed writes to settle outside a writer."""

    def committed(self, ids: Sequence[int], messages: Sequence[OutMessage]) -> None:
        """Hand the messages of a committed write to the publisher."""
        if ids:
            self._known.update(ids)
            self._queue.put_nowait(list(zip(ids, messages, strict=True)))

    @contextlib.asynccontextmanager
    async def writer(self) -> AsyncIterator[Connection]:
        """A pool connection for a write of outbox rows, up to its commit's reply.

        If the write fails in a way that leaves its outcome unknown (the
        connection broke, a timeout, a cancellation), the backend that wrote
        is fenced and the rows it committed are handed to the publisher
        (``_settle``, once the connection is back in the pool) before the
        error goes on; when that cannot be done now, it is done later, until
        it succeeds."""
        pid = 0
        try:
            async with self._pool.acquire() as conn:
                pid = conn.get_server_pid()
                yield conn
        except Exception as exc:
            if pid and not refused(exc) and not await self._settle(pid):
                self._lookups.put_nowait((pid, 1))
            raise
        except BaseException:  # cancelled: settled from the publisher's side
            if pid:
                self._lookups.put_nowait((pid, 0))
            raise

    async def _settle(self, pid: int) -> bool:
        """Fence backend ``pid`` (nothing it holds can commit afterwards), then
        hand the committed rows it wrote that this outbox does not know to the
        publisher; False when either could not be done."""
        try:
            async with asyncio.timeout(FENCE_SECONDS + LOOKUP_TIMEOUT):
                async with self._pool.acquire() as conn:
                    if not await outbox_store.fence(conn, pid, FENCE_SECONDS):
                        logger.warning("backend %d still there after its fence; again", pid)
                        return False
                    rows = await outbox_store.written_by(conn, pid)
        except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            logger.warning("could not settle the write of backend %d (%s)", pid, exc)
            return False
        found = [row for row in rows if row.id not in self._known]
        if found:
            logger.warning(
                "publishing %d messages of a commit whose reply was lost (backend %d)",
                len(found),
                pid,
            )
            self.committed([r.id for r in found], [OutMessage.stored(r) for r in found])
        return True

    async def recover(self) -> int:
        """Claim, publish and delete every committed row nobody is publishing,
        in commit order; returns how many. At start: what a previous process
        left goes out first."""
        total = 0
        after = 0
        while True:
            async with self._pool.acquire() as conn, conn.transaction():
                rows = await outbox_store.claim(conn, after, CLAIM_BATCH)
                if not rows:
                    break
                after = rows[-1].id
                batch = [(r.id, OutMessage.stored(r)) for r in rows if r.id not in self._known]
                if batch:
                    await self._publish_batch(batch)
                    await outbox_store.delete(conn, [outbox_id for outbox_id, _ in batch])
                    total += len(batch)
        if total:
            logger.info("published %d messages left in the outbox", total)
        return total

    async def run(self, stopping: asyncio.Event) -> None:
        """Publish in commit order until stopped and drained; delete what was
        published in the background, at most every ``DELETE_EVERY`` seconds;
        settle the failed writes a writer could not settle itself."""
        helpers = [
            asyncio.create_task(self._delete_periodically()),
            asyncio.create_task(self._settle_failed_writes()),
        ]
        try:
            await self._publish_until_stopped(stopping)
        finally:
            for helper in helpers:
                helper.cancel()
            await asyncio.gather(*helpers, return_exceptions=True)
            await self._delete_published()

    async def _settle_failed_writes(self) -> None:
        """Settlements that failed are tried again later, until they succeed (a
        timer, not a wait: the next ones go on meanwhile). At a stop, those
        left are the next start's ``recover``."""
        loop = asyncio.get_running_loop()
        while True:
            pid, tries = await self._lookups.get()
            if await self._settle(pid):
                continue
            delay = min(0.2 * 2**tries, 5.0)
            loop.call_later(delay, self._lookups.put_nowait, (pid, tries + 1))

    async def _delete_periodically(self) -> None:
        while True:
            await asyncio.sleep(DELETE_EVERY)
            try:
                await self._delete_published()
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                logger.warning("could not delete published outbox rows (%s); later", exc)

    async def _publish_until_stopped(self, stopping: asyncio.Event) -> None:
        """One ``get`` per batch (no task per batch: this runs at every write);
        the stop wakes it with an empty batch. A batch waits one turn of the
        loop before it is published: the write that handed it over wakes it
        before its own caller, whose answer (a report's, with the next step
        of a chain) is on the critical path and goes out first then."""
        waker = asyncio.create_task(self._wake_on(stopping))
        try:
            while not (stopping.is_set() and self._queue.empty()):
                batch = await self._queue.get()
                if batch:
                    await asyncio.sleep(0)
                    await self._publish_batch(batch)
                    self._published.extend(outbox_id for outbox_id, _ in batch)
        finally:
            waker.cancel()
            await asyncio.gather(waker, return_exceptions=True)

    async def _wake_on(self, stopping: asyncio.Event) -> None:
        await stopping.wait()
        self._queue.put_nowait([])

    async def _publish_batch(self, batch: list[tuple[int, OutMessage]]) -> None:
        """Publish in order. The acknowledgements are awaited together: the
        messages leave on one connection in this order, so the stream stores
        them in this order. On a failure, what was not acknowledged is published
        again one by one (JetStream drops what it already has by its id)."""
        for start in range(0, len(batch), 1024):
            chunk = batch[start : start + 1024]
            pending: list[asyncio.Future[Any] | BaseException | None] = []
            for _, message in chunk:
                try:
                    pending.append(await self._send(message))
                except (NatsTimeoutError, NoRespondersError, ConnectionClosedError, OSError) as exc:
                    pending.append(exc)
            # nats-py puts no deadline on these: an acknowledgement lost in a
            # reconnect would otherwise stall the outbox. One for them all.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(ACK_TIMEOUT):
                    for sent in pending:
                        if isinstance(sent, asyncio.Future):
                            with contextlib.suppress(*ACK_ERRORS):
                                await sent
            self._stream.forget_unanswered()  # published again below
            for (_, message), sent in zip(chunk, pending, strict=True):
                if sent is not None and not _acknowledged(sent):
                    await self._publish_until_done(message)

    async def _send(self, message: OutMessage) -> asyncio.Future[Any] | None:
        """Send without waiting: the future of its acknowledgement (None for core NATS)."""
        if not message.jetstream:
            await self._nc.publish(message.subject, message.payload)
            return None
        headers = {HEADER_MSG_ID: message.msg_id} if message.msg_id else None
        return await self._stream.send(message.subject, message.payload, headers)

    async def _publish_until_done(self, message: OutMessage) -> None:
        delay = 0.1
        while True:
            try:
                await self._publish(message)
                return
            except (
                NatsTimeoutError,
                NoRespondersError,
                ConnectionClosedError,
                APIError,
                OSError,
            ) as exc:
                logger.warning("publish to %s failed (%s); retrying", message.subject, exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    async def _publish(self, message: OutMessage) -> None:
        if not message.jetstream:
            await self._nc.publish(message.subject, message.payload)
            return
        headers = {HEADER_MSG_ID: message.msg_id} if message.msg_id else None
        await self._js.publish(message.subject, message.payload, headers=headers)

    async def _delete_published(self) -> None:
        if not self._published:
            return
        ids, self._published = self._published, []
        try:
            await outbox_store.delete(self._pool, ids)
        except BaseException:
            self._published = ids + self._published  # deleted next time
            raise
        self._known.difference_update(ids)
