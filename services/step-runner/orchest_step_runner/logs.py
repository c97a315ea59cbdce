"""Publishing a step attempt's output as ``StepLogChunk`` messages.

Output is buffered and published at most ``flush_seconds`` after it was
written (or at once past 32 KiB), in order, each chunk with its byte offset
in the attempt's log.
"""

from __future__ import annotations

import asyncio
import contextlib

from nats.js import JetStreamContext

from orchest_schemas.events import StepLogChunk

MAX_CHUNK_BYTES = 32 * 1024


class LogPublisher:
    def __init__(
        self,
        js: JetStreamContext,
        subject: str,
        run_uuid: str,
        step_uuid: str,
        attempt: int,
        flush_seconds: float,
    ) -> None:
        self._js = js
        self._subject = subject
        self._run_uuid = run_uuid
        self._step_uuid = step_uuid
        self._attempt = attempt
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
        async with self._lock:
            if not self._buffer:
                return
            data = "".join(self._buffer)
            self._buffer.clear()
            self._buffered_bytes = 0
            chunk = StepLogChunk(
                run_uuid=self._run_uuid,
                step_uuid=self._step_uuid,
                attempt=self._attempt,
                offset=self._offset,
                data=data,
            )
            self._offset += len(data.encode())
            await self._js.publish(self._subject, chunk.to_bytes())

    async def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._timer
            self._timer = None
        await self.flush()
