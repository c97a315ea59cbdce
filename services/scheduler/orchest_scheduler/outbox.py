"""The outbox: messages decided with a write are stored by the same statement
(``store.create_run``, ``store.write_plan``), then published after it, in
order, and deleted once published.

What a crash leaves behind (committed, not yet published) is published at
the next start, before anything new. JetStream drops a message it already
has (``Nats-Msg-Id`` within the stream's duplicate window), so a message
published twice around a crash is stored once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg
from nats.aio.client import Client
from nats.errors import ConnectionClosedError, NoRespondersError
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js import JetStreamContext
from nats.js.errors import APIError

from orchest_schemas.bus import HEADER_MSG_ID

logger = logging.getLogger(__name__)

ACK_TIMEOUT = 5.0
"""Seconds to wait for JetStream to acknowledge a message before sending it again."""
DELETE_EVERY = 0.25
"""Seconds between deletions of published rows (a crash publishes them again:
JetStream drops the duplicates)."""


@dataclass(frozen=True)
class OutMessage:
    subject: str
    payload: bytes
    msg_id: str | None = None
    jetstream: bool = True
    """False: core NATS (signals that need no storage)."""


class Outbox:
    def __init__(self, pool: asyncpg.Pool, nc: Client, js: JetStreamContext) -> None:
        self._pool = pool
        self._nc = nc
        self._js = js
        self._queue: asyncio.Queue[list[tuple[int, OutMessage]]] = asyncio.Queue()
        self._published: list[int] = []

    def committed(self, ids: Sequence[int], messages: Sequence[OutMessage]) -> None:
        """Hand the messages of a committed write to the publisher."""
        if ids:
            self._queue.put_nowait(list(zip(ids, messages, strict=True)))

    async def recover(self) -> int:
        """Publish what a previous process left; returns how many."""
        rows = await self._pool.fetch(
            "SELECT id, subject, msg_id, payload, jetstream FROM outbox ORDER BY id"
        )
        batch = [
            (r["id"], OutMessage(r["subject"], bytes(r["payload"]), r["msg_id"], r["jetstream"]))
            for r in rows
        ]
        if batch:
            logger.info("publishing %d messages left in the outbox", len(batch))
            await self._publish_batch(batch)
            await self._delete_published()
        return len(batch)

    async def run(self, stopping: asyncio.Event) -> None:
        """Publish in commit order until stopped and drained; delete what was
        published in the background, at most every ``DELETE_EVERY`` seconds."""
        deleter = asyncio.create_task(self._delete_periodically())
        try:
            await self._publish_until_stopped(stopping)
        finally:
            deleter.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await deleter
            await self._delete_published()

    async def _delete_periodically(self) -> None:
        while True:
            await asyncio.sleep(DELETE_EVERY)
            try:
                await self._delete_published()
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                logger.warning("could not delete published outbox rows (%s); later", exc)

    async def _publish_until_stopped(self, stopping: asyncio.Event) -> None:
        while not (stopping.is_set() and self._queue.empty()):
            if self._queue.empty():
                getter = asyncio.create_task(self._queue.get())
                stopper = asyncio.create_task(stopping.wait())
                await asyncio.wait({getter, stopper}, return_when=asyncio.FIRST_COMPLETED)
                stopper.cancel()
                if not getter.done():
                    getter.cancel()
                    continue
                batch = getter.result()
            else:
                batch = self._queue.get_nowait()
            await self._publish_batch(batch)

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
            for (outbox_id, message), sent in zip(chunk, pending, strict=True):
                failed = isinstance(sent, BaseException)
                if isinstance(sent, asyncio.Future):
                    try:
                        # nats-py puts no deadline on these: an acknowledgement
                        # lost in a reconnect would otherwise stall the outbox.
                        await asyncio.wait_for(sent, ACK_TIMEOUT)
                    except (
                        TimeoutError,
                        NatsTimeoutError,
                        APIError,
                        ConnectionClosedError,
                        OSError,
                    ):
                        failed = True
                if failed:
                    await self._publish_until_done(message)
                self._published.append(outbox_id)

    async def _send(self, message: OutMessage) -> asyncio.Future[Any] | None:
        """Send without waiting: the future of its acknowledgement (None for core NATS)."""
        if not message.jetstream:
            await self._nc.publish(message.subject, message.payload)
            return None
        headers = {HEADER_MSG_ID: message.msg_id} if message.msg_id else None
        return await self._js.publish_async(message.subject, message.payload, headers=headers)

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
            await self._pool.execute("DELETE FROM outbox WHERE id = ANY($1::bigint[])", ids)
        except BaseException:
            self._published = ids + self._published  # deleted next time
            raise
