"""Answers that last as long as their client wants (the live events, a
followed log), cut when the gateway stops.

A stop lets the requests in progress finish (uvicorn's graceful shutdown,
up to ``ORCHEST_DRAIN_TIMEOUT_SECONDS``), but such an answer never finishes
by itself: one dashboard left open held every stop for the whole drain
timeout. So at a stop their connections are dropped at once (the server's
``orchest.abort`` extension, see ``server.py``), before the drain: the
client sees its answer cut short, never a clean end that would say a log is
complete. An event-stream client resumes on its own from the last event it
got (``Last-Event-ID``: a frame cut in the middle is never an event to it);
a followed log is read again.
"""

from __future__ import annotations

import asyncio

import anyio
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from .sse import ABORT_EXTENSION


class CutAtStop(Response):
    """``response``, its connection dropped once ``stopping`` is set (the
    response then ends as it does when its client goes away)."""

    def __init__(self, response: Response, stopping: asyncio.Event) -> None:
        self._response = response
        self._stopping = stopping
        self.status_code = response.status_code
        self.background = None
        self.raw_headers = response.raw_headers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        abort = scope.get("extensions", {}).get(ABORT_EXTENSION)
        if abort is None:  # another server: the drain timeout ends it
            await self._response(scope, receive, send)
            return
        async with anyio.create_task_group() as group:

            async def cut() -> None:
                await self._stopping.wait()
                abort()

            group.start_soon(cut)
            try:
                await self._response(scope, receive, send)
            finally:
                group.cancel_scope.cancel()
