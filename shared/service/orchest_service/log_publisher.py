"""Publishing a log (a step attempt's output, an environment build's) as
chunk messages on the ``LOGS`` stream.

Output is buffered and published at most ``flush_seconds`` after it was
written (or at once past 32 KiB), in order, each chunk with its byte offset
in the attempt's log. A chunk holds at most 32 KiB: a single write larger
than a NATS message (a megabyte-long traceback) is published in pieces.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from nats.errors import Error as NatsError
from nats.js import JetStreamContext

from orchest_schemas._base import Message

MAX_CHUNK_BYTES = 32 * 1024
MAX_BUFFERED_BYTES = 8 * 1024 * 1024
CLOSE_SECONDS = 10.0
"""How long ``close`` keeps offering what NATS has not taken yet."""
CLOSE_RETRY_SECONDS = 0.2

logger = logging.getLogger(__name__)


ChunkMaker = Callable[[int, str], Message]
"""The message of a piece of the log: from its byte offset and its text."""


class LogPublisher:
    def __init__(
        self,
        js: JetStreamContext,
        subject: str,
        chunk: ChunkMaker,
        flush_seconds: float,
    ) -> None:
        self._js = js
        self._subject = subject
        self._chunk = chunk
        self._flush_seconds = flush_seconds
        self._buffer: list[str] = []
        self._buffered_bytes = 0
        self._offset = 0
        self._lock = asyncio.Lock()
        self._timer: asyncio.Task[None] | None = None

    async def write(self, text: str) -> None:
        if not text:
            return
        self._buffer.append(text)
        self._buffered_bytes += len(text.encode())
        if self._buffered_bytes >= MAX_CHUNK_BYTES:
            await self.flush()
        elif self._timer is None:
            self._timer = asyncio.create_task(self._flush_later())

    async def _flush_later(self) -> None:
        await asyncio.sleep(self._flush_seconds)
        self._timer = None
        await self.flush()

    async def flush(self) -> None:
        """Publish what is buffered. If NATS does not take it, the output stays
        buffered for the next flush (the step goes on: a bus outage must not
        fail it); past ``MAX_BUFFERED_BYTES`` the oldest output is dropped,
        with a note in the log."""
        async with self._lock:
            if not self._buffer:
                return
            # What is written while a publish is awaited stays in the buffer
            # behind what this flush took, for the next flush.
            taken = len(self._buffer)
            pieces = split_text("".join(self._buffer[:taken]), MAX_CHUNK_BYTES)
            for i, piece in enumerate(pieces):
                chunk = self._chunk(self._offset, piece)
                try:
                    await self._js.publish(self._subject, chunk.to_bytes())
                except (NatsError, OSError, TimeoutError) as exc:
                    logger.warning("output on %s not published (%s); kept", self._subject, exc)
                    self._keep("".join(pieces[i:]), taken)
                    if self._timer is None:
                        self._timer = asyncio.create_task(self._flush_later())
                    return
                self._offset += len(piece.encode())
            del self._buffer[:taken]
            self._buffered_bytes = sum(len(text.encode()) for text in self._buffer)

    def _keep(self, data: str, taken: int) -> None:
        """``data`` (what a flush took and could not publish) in place of the
        buffer's first ``taken`` pieces."""
        data = "".join([data, *self._buffer[taken:]])
        encoded = data.encode()
        if len(encoded) > MAX_BUFFERED_BYTES:
            dropped = len(encoded) - MAX_BUFFERED_BYTES
            data = f"[{dropped} bytes of output lost while NATS was unreachable]\n" + encoded[
                dropped:
            ].decode(errors="replace")
        self._buffer[:] = [data]
        self._buffered_bytes = len(data.encode())

    async def close(self) -> None:
        """Publish what is left, before the log's end is told (a step's
        report, a build's status): a flush that NATS refuses (a publish that
        timed out on a loaded host) is offered again for up to
        ``CLOSE_SECONDS``, never left to a timer that would publish it after
        the end."""
        loop = asyncio.get_running_loop()
        until = loop.time() + CLOSE_SECONDS
        while True:
            await self._cancel_timer()
            await self.flush()
            if not self._buffer or loop.time() >= until:
                break
            await asyncio.sleep(CLOSE_RETRY_SECONDS)
        await self._cancel_timer()
        if self._buffer:
            logger.error(
                "output on %s not published: %d bytes lost", self._subject, self._buffered_bytes
            )

    async def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._timer
            self._timer = None


def split_text(text: str, max_bytes: int) -> list[str]:
    """``text`` in pieces of at most ``max_bytes`` of UTF-8, cut between characters."""
    data = text.encode()
    if len(data) <= max_bytes:
        return [text]
    pieces = []
    start = 0
    while start < len(data):
        end = min(start + max_bytes, len(data))
        while end < len(data) and data[end] & 0xC0 == 0x80:  # inside a character
            end -= 1
        pieces.append(data[start:end].decode())
        start = end
    return pieces
