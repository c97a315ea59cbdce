"""The event stream's response: frames sent one at a time, paced by the client.

Each frame goes to the server only once the previous one was taken (the
server holds at most its send buffer, 64 KiB, before it stops taking more),
so a connection costs the gateway one reader window and that buffer,
however far behind its client is.

A client that stops reading is dropped: when a frame has not been taken
within ``stall_seconds``, the reader is closed at once (its consumer
deleted), the client gets an ``event: error`` frame saying why, with the
``Last-Event-ID`` to resume from (the id of the last event it was sent),
and the response ends, its connection closed (``Connection: close``: a
dropped client is not kept as an idle keep-alive connection). A client that
does not take even that frame within another ``stall_seconds`` has its
connection aborted (the server's
``orchest.abort`` extension, see ``server.py``). A frames generator that
raises ``ClientBehindError`` (its client fell too far behind the live
events) has its client dropped the same way, told why.

The first frame is taken before the response's headers are sent: a
generator that sets up its source there (a listener of the live events, a
reader of the stored stream) has it set up when the client sees the
response start, so nothing published after that is missed.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncGenerator, Callable
from contextlib import aclosing
from dataclasses import dataclass

import anyio
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

logger = logging.getLogger(__name__)

ABORT_EXTENSION = "orchest.abort"
"""ASGI scope extension: a callable that drops the connection at once."""
WRITABLE_EXTENSION = "orchest.writable"
"""ASGI scope extension: a callable telling whether a send would go out at
once (the connection's write buffer is not full)."""
CHUNK_WRITER_EXTENSION = "orchest.chunk_writer"
"""ASGI scope extension: once the response started, a callable returning a
writer of bytes already framed as HTTP/1.1 chunks straight to the
connection (it returns False, writing nothing, when the connection's write
buffer is full or the connection closing), or None when the response is
not chunked. The live events are written through it (``fanout.py``)."""


@dataclass(frozen=True)
class Frame:
    body: bytes
    """What is sent: comments, or one or more events."""
    position: int | None
    """Resume token once this frame was sent: the id of the last event sent
    so far (None if the stream has no start point yet)."""
    before: int | None = None
    """Resume token while this frame is not sent yet, when events went to the
    client other than through the frames since the last one (the live
    events the feed writes straight to the connection)."""


class ClientBehindError(Exception):
    """Raised by a frames generator whose client fell too far behind: the
    client is sent ``event: error`` (this message) and dropped, told to
    resume after ``position`` when given (events may have reached the
    client other than through the generator's frames), else after the last
    frame's."""

    def __init__(self, message: str, position: int | None = None) -> None:
        super().__init__(message)
        self.position = position


class SlowClientError(Exception):
    """A client that took neither its events nor the error frame in time
    (raised only where the server cannot abort the connection)."""


def stall_message(stall_seconds: float) -> str:
    return (
        f"the client took no event for {stall_seconds:g} s: the stream is closed; "
        "reconnect with Last-Event-ID to resume"
    )


def error_frame(position: int | None, message: str) -> str:
    last = None if position is None else str(position)
    data = json.dumps({"message": message, "last_event_id": last})
    id_line = "" if last is None else f"id: {last}\n"
    return f"{id_line}event: error\ndata: {data}\n\n"


def _never() -> bool:
    return False


class EventStreamResponse(Response):
    media_type = "text/event-stream"

    def __init__(self, frames: AsyncGenerator[Frame, None], *, stall_seconds: float) -> None:
        self.status_code = 200
        self.background = None
        # Connection: close: once the stream ends (its frames ended, or its
        # client was dropped) the connection closes, not kept alive idle.
        self.init_headers(
            {"Cache-Control": "no-cache", "X-Accel-Buffering": "no", "Connection": "close"}
        )
        self._frames = frames
        self._stall_seconds = stall_seconds
        self._abort: Callable[[], None] | None = None
        self._writable: Callable[[], bool] = _never
        self._client = "?"
        self._position: int | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self._abort = scope.get("extensions", {}).get(ABORT_EXTENSION)
        self._writable = scope.get("extensions", {}).get(WRITABLE_EXTENSION, _never)
        if client := scope.get("client"):
            self._client = f"{client[0]}:{client[1]}"
        async with anyio.create_task_group() as group:

            async def until_disconnected() -> None:
                while (await receive())["type"] != "http.disconnect":
                    pass
                group.cancel_scope.cancel()

            group.start_soon(until_disconnected)
            try:
                await self._stream(send)
            finally:
                group.cancel_scope.cancel()

    async def _stream(self, send: Send) -> None:
        async with aclosing(self._frames) as frames:
            first = await anext(frames, None)
            await send(
                {
                    "type": "http.response.start",
                    "status": self.status_code,
                    "headers": self.raw_headers,
                }
            )
            if first is None:
                await send({"type": "http.response.body", "body": b"", "more_body": False})
                return
            message = await self._send_frames(first, frames, send)
            position = self._position
        await self._drop(send, position, message)

    async def _send_frames(
        self, first: Frame, frames: AsyncGenerator[Frame, None], send: Send
    ) -> str:
        """Sends the frames; returns why the client is dropped ("": the
        frames ended and so did the response)."""
        frame: Frame | None = first
        loop = asyncio.get_running_loop()
        try:
            # One deadline, set only for a send that may wait (the client's
            # buffers are full): most sends go out at once.
            async with asyncio.timeout(None) as deadline:
                while frame is not None:
                    if frame.before is not None:
                        self._position = frame.before
                    message = {"type": "http.response.body", "body": frame.body, "more_body": True}
                    if self._writable():
                        await send(message)
                    else:
                        deadline.reschedule(loop.time() + self._stall_seconds)
                        await send(message)
                        deadline.reschedule(None)
                    self._position = frame.position
                    try:
                        frame = await anext(frames, None)
                    except ClientBehindError as exc:
                        if exc.position is not None:
                            self._position = exc.position
                        return str(exc)
        except TimeoutError:
            return stall_message(self._stall_seconds)
        await send({"type": "http.response.body", "body": b"", "more_body": False})
        return ""

    async def _drop(self, send: Send, position: int | None, message: str) -> None:
        if not message:
            return
        logger.warning(
            "event stream client %s dropped: %s (resume after %s)", self._client, message, position
        )
        body = error_frame(position, message).encode()
        with anyio.move_on_after(self._stall_seconds) as waited:
            await send({"type": "http.response.body", "body": body, "more_body": False})
        if not waited.cancelled_caught:
            return
        if self._abort is None:
            raise SlowClientError("event stream client took nothing: connection closed")
        self._abort()
        # The server now sees the connection lost: this returns at once.
        with anyio.move_on_after(self._stall_seconds):
            await send({"type": "http.response.body", "body": b"", "more_body": False})
