"""JetStream publishes pipelined on one connection, their acknowledgements
matched by reply subject: what ``JetStreamContext.publish_async`` does,
without its per-message costs (a semaphore awaited through ``wait_for``, a
random token and a closure per message, every acknowledgement parsed into a
``PubAck`` through ``dataclasses.fields``). The outbox publishes every event
of every decision through it.

Each message goes out with a reply subject ``<inbox>.<n>`` under one inbox
of this publisher, subscribed once; the stream's acknowledgement comes back
on it and resolves the message's future: with None when stored (or dropped
as a duplicate of its ``Nats-Msg-Id``), with ``APIError`` when the stream
refused it, with ``NoStreamResponseError`` when no stream took the subject.
An acknowledgement that never comes (lost in a reconnect) is the caller's to
time out; it then drops what is still waiting (``forget_unanswered``) and
publishes those messages again (JetStream drops what it already has by id).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.js.api import Header
from nats.js.errors import APIError, NoStreamResponseError

NO_RESPONDERS = "503"


class StreamPublisher:
    def __init__(self, nc: Client) -> None:
        self._nc = nc
        self._prefix = ""
        self._sent = 0
        self._waiting: dict[str, asyncio.Future[None]] = {}
        self._sub: Subscription | None = None

    async def send(
        self, subject: str, payload: bytes, headers: dict[str, str] | None = None
    ) -> asyncio.Future[None]:
        """Publish without waiting: the future of the stream's acknowledgement."""
        if self._sub is None:
            inbox = self._nc.new_inbox()
            self._sub = await self._nc.subscribe(f"{inbox}.*", cb=self._on_ack)
            self._prefix = f"{inbox}."
        self._sent += 1
        reply = f"{self._prefix}{self._sent}"
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting[reply] = future
        try:
            await self._nc.publish(subject, payload, reply=reply, headers=headers)
        except BaseException:
            del self._waiting[reply]
            raise
        return future

    def forget_unanswered(self) -> None:
        """Give up on every acknowledgement still awaited (their futures cancelled)."""
        waiting, self._waiting = self._waiting, {}
        for future in waiting.values():
            future.cancel()

    @property
    def unanswered(self) -> int:
        return len(self._waiting)

    async def _on_ack(self, msg: Msg) -> None:
        future = self._waiting.pop(msg.subject, None)
        if future is None or future.done():
            return
        headers = msg.headers
        if headers and headers.get(Header.STATUS) == NO_RESPONDERS:
            future.set_exception(NoStreamResponseError())
            return
        data = msg.data
        if b'"error"' in data:
            answer: dict[str, Any] = json.loads(data)
            if "error" in answer:
                try:
                    APIError.from_error(answer["error"])  # raises the error's own class
                except APIError as exc:
                    future.set_exception(exc)
                    return
        future.set_result(None)
