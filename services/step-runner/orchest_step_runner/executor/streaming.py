"""Forwarding a step's output to the sink, in order, as it comes."""

from __future__ import annotations

import asyncio
import codecs
from typing import Protocol

from .base import OutputSink

CHUNK_BYTES = 64 * 1024


class GuardedSink:
    """Forwards text to an output sink; after the sink's first failure, drops
    further text (so the step never blocks on a full pipe) and keeps the error
    for ``raise_failure`` once the attempt is over."""

    def __init__(self, sink: OutputSink) -> None:
        self._sink = sink
        self._failure: Exception | None = None

    async def send(self, text: str) -> None:
        if self._failure is not None or not text:
            return
        try:
            await self._sink(text)
        except Exception as exc:  # re-raised by raise_failure
            self._failure = exc

    def raise_failure(self) -> None:
        if self._failure is not None:
            raise self._failure


class ByteStream(Protocol):
    """Where output is read from: an ``asyncio.StreamReader``, a leader's
    ``spawn.OutputPipe``."""

    async def read(self, n: int) -> bytes: ...


async def pump_stream(stream: ByteStream, sink: GuardedSink) -> None:
    """Forward a byte stream until EOF, chunk by chunk: a read returns whatever
    has arrived, so output without a newline is forwarded too. UTF-8 sequences
    split across chunks are decoded whole; invalid bytes become U+FFFD."""
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    while chunk := await stream.read(CHUNK_BYTES):
        await sink.send(decoder.decode(chunk))
    await sink.send(decoder.decode(b"", final=True))


async def pump_queue(queue: asyncio.Queue[str | None], sink: GuardedSink) -> None:
    """Forward texts from a queue until ``None``."""
    while (text := await queue.get()) is not None:
        await sink.send(text)
