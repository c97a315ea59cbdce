"""The outbox's listening connection: one per scheduler replica, outside the
pool, LISTENing on the outbox's channel.

Postgres delivers a notification when a transaction that inserted outbox
rows commits, with the pid of the backend that wrote them; the outbox uses
it to publish a commit whose writer never got the reply (``Outbox.notified``).
A notification sent while the connection is down is lost, so each time it
(re)connects the outbox publishes every row nobody is publishing
(``Outbox.recover``). Nothing polls the table.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import asyncpg

from .outbox import Outbox

logger = logging.getLogger(__name__)

CONNECT_TIMEOUT = 10.0
RECONNECT_FIRST = 0.1
RECONNECT_MAX = 5.0
"""Seconds between attempts to (re)connect, doubling from the first to the max."""
ERRORS = (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError)


def channel_of(schema: str) -> str:
    """The channel the outbox table's trigger notifies (``0005_outbox_notify.sql``)."""
    return f"{schema}.outbox"


async def listen(dsn: str, schema: str, outbox: Outbox, stopping: asyncio.Event) -> None:
    """Listen until stopped, reconnecting with backoff whenever the connection is lost."""
    channel = channel_of(schema)
    delay = RECONNECT_FIRST
    while not stopping.is_set():
        try:
            conn = await asyncpg.connect(dsn, timeout=CONNECT_TIMEOUT)
        except ERRORS as exc:
            logger.warning("outbox listener: cannot connect (%s); again in %.1fs", exc, delay)
            await _wait(stopping, delay)
            delay = min(delay * 2, RECONNECT_MAX)
            continue
        lost = asyncio.Event()
        conn.add_termination_listener(lambda _conn, lost=lost: lost.set())
        try:
            await conn.add_listener(channel, lambda _c, pid, _ch, _p: outbox.notified(pid))
            await outbox.recover()  # what committed while nobody here listened
            delay = RECONNECT_FIRST
            await _first_of(lost, stopping)
            if lost.is_set() and not stopping.is_set():
                logger.warning("outbox listener: connection lost; reconnecting")
        except ERRORS as exc:
            logger.warning("outbox listener: %s; reconnecting in %.1fs", exc, delay)
            await _wait(stopping, delay)
            delay = min(delay * 2, RECONNECT_MAX)
        finally:
            if not conn.is_closed():
                try:
                    await asyncio.wait_for(conn.close(), CONNECT_TIMEOUT)
                except ERRORS:
                    conn.terminate()


async def _wait(stopping: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stopping.wait(), seconds)


async def _first_of(*events: asyncio.Event) -> None:
    waiters = [asyncio.create_task(e.wait()) for e in events]
    try:
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
        await asyncio.gather(*waiters, return_exceptions=True)
