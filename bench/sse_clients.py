"""Raw-socket event-stream clients, run as a process of their own by figure 11.

``python -m bench.sse_clients PORT PIPELINE_UUID COUNT TIMEOUT`` opens COUNT
connections to ``/api/events?pipeline_uuid=``, prints ``ready`` once every
response's headers arrived, then reads until each client got the run's
final event (or TIMEOUT seconds passed) and prints, as one JSON line, each
client's ``[[event_id, latency_seconds], ...]`` (latency: the arrival time,
``time.time()``, minus the event's ``occurred_at``).

While the run goes on a client (an ``asyncio.Protocol``: no task of its
own) only timestamps what it receives and looks for the final run event;
the frames are parsed after, so the clients take as little CPU as possible
from the gateway they measure.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from datetime import datetime

FINAL = (b'"SUCCESS"', b'"FAILURE"', b'"ABORTED"')
RUN_EVENT = b"event: run_status_changed"


class Client(asyncio.Protocol):
    """One connection; ``data_received`` only stamps and keeps what arrives
    (no task per client, no parsing while the run goes on)."""

    def __init__(self, pipeline: str, headers: asyncio.Future[None]) -> None:
        self.pipeline = pipeline
        self.chunks: list[tuple[float, bytes]] = []
        self.done = asyncio.Event()
        self._headers = headers
        self._head = b""
        self._pending = b""
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        request = f"GET /api/events?pipeline_uuid={self.pipeline} HTTP/1.1\r\nHost: gateway\r\n\r\n"
        transport.write(request.encode())

    def data_received(self, data: bytes) -> None:
        arrived = time.time()
        if not self._headers.done():
            self._head += data
            end = self._head.find(b"\r\n\r\n")
            if end < 0:
                return
            if not self._head.startswith(b"HTTP/1.1 200"):
                self._headers.set_exception(RuntimeError(self._head.decode(errors="replace")))
                return
            self._headers.set_result(None)
            data = self._head[end + 4 :]
        self.chunks.append((arrived, data))
        self._look(data)

    def _look(self, data: bytes) -> None:
        """Sets ``done`` on the run's final event (its frame may come in pieces)."""
        text = self._pending + data
        self._pending = text[-len(RUN_EVENT) :]  # a RUN_EVENT cut in two
        start = 0
        while (at := text.find(RUN_EVENT, start)) >= 0:
            end = text.find(b"\n\n", at)
            if end < 0:
                self._pending = text[at:]  # the rest of its frame comes next
                return
            if any(status in text[at:end] for status in FINAL):
                self.done.set()
            start = end

    def connection_lost(self, exc: Exception | None) -> None:
        self.done.set()
        if not self._headers.done():
            self._headers.set_exception(exc or ConnectionError("closed before the headers"))

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()

    def latencies(self) -> list[tuple[str, float]]:
        """(event_id, arrival - occurred_at) of every event; an event arrived
        with the piece that completed its frame (the HTTP/1.1 chunk size
        lines between frames are no ``data:`` line)."""
        out = []
        buffer = b""
        for arrived, data in self.chunks:
            buffer += data
            while (end := buffer.find(b"\n\n")) >= 0:
                frame, buffer = buffer[:end], buffer[end + 2 :]
                for line in frame.split(b"\n"):
                    if line.startswith(b"data: "):
                        event = json.loads(line[6:])
                        occurred = datetime.fromisoformat(event["occurred_at"]).timestamp()
                        out.append((event["event_id"], arrived - occurred))
        return out


async def _open(port: int, pipeline: str) -> Client:
    loop = asyncio.get_running_loop()
    headers: asyncio.Future[None] = loop.create_future()
    _, client = await loop.create_connection(lambda: Client(pipeline, headers), "127.0.0.1", port)
    await headers
    return client


async def main(port: int, pipeline: str, count: int, timeout: float) -> None:
    clients = await asyncio.gather(*(_open(port, pipeline) for _ in range(count)))
    print("ready", flush=True)
    try:
        async with asyncio.timeout(timeout):
            for client in clients:
                await client.done.wait()
    except TimeoutError:
        pass  # the bench counts the events each client missed
    finally:
        for client in clients:
            client.close()
    print(json.dumps([c.latencies() for c in clients]), flush=True)


if __name__ == "__main__":
    port, pipeline, count, timeout = sys.argv[1:5]
    asyncio.run(main(int(port), pipeline, int(count), float(timeout)))
