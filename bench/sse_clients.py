"""Raw-socket event-stream clients, run as a process of their own by figure 11.

``python -m bench.sse_clients PORT PIPELINE_UUID COUNT TIMEOUT`` opens COUNT
connections to ``/api/events?pipeline_uuid=``, prints ``ready`` once every
response's headers arrived, then reads until each client got the run's
final event (or TIMEOUT seconds passed) and prints, as one JSON line, each
client's ``[[event_id, latency_seconds], ...]`` (latency: the arrival time,
``time.time()``, minus the event's ``occurred_at``).

While the run goes on a client only timestamps what it receives and looks
for the final run event; the frames are parsed after, so the clients take
as little CPU as possible from the gateway they measure.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from datetime import datetime

FINAL = (b'"SUCCESS"', b'"FAILURE"', b'"ABORTED"')
RUN_EVENT = b"event: run_status_changed"


class Client:
    def __init__(self, port: int, pipeline: str) -> None:
        self.port = port
        self.pipeline = pipeline
        self.frames: list[tuple[float, bytes]] = []
        self.done = asyncio.Event()
        self._buffer = b""
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def open(self) -> None:
        self._reader, self._writer = await asyncio.open_connection("127.0.0.1", self.port)
        request = f"GET /api/events?pipeline_uuid={self.pipeline} HTTP/1.1\r\nHost: gateway\r\n\r\n"
        self._writer.write(request.encode())
        head = await self._reader.readuntil(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 200"):
            raise RuntimeError(head.decode(errors="replace"))

    async def read(self) -> None:
        assert self._reader is not None
        while not self.done.is_set():
            chunk = await self._reader.read(65536)
            if not chunk:
                return
            arrived = time.time()
            self._buffer += chunk
            while (end := self._buffer.find(b"\n\n")) >= 0:
                frame, self._buffer = self._buffer[:end], self._buffer[end + 2 :]
                self.frames.append((arrived, frame))
                if RUN_EVENT in frame and any(status in frame for status in FINAL):
                    self.done.set()

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()

    def latencies(self) -> list[tuple[str, float]]:
        out = []
        for arrived, frame in self.frames:
            for line in frame.split(b"\n"):
                if line.startswith(b"data: "):
                    event = json.loads(line[6:])
                    occurred = datetime.fromisoformat(event["occurred_at"]).timestamp()
                    out.append((event["event_id"], arrived - occurred))
        return out


async def main(port: int, pipeline: str, count: int, timeout: float) -> None:
    clients = [Client(port, pipeline) for _ in range(count)]
    await asyncio.gather(*(c.open() for c in clients))
    print("ready", flush=True)
    readers = [asyncio.create_task(c.read()) for c in clients]
    try:
        await asyncio.wait(readers, timeout=timeout)
    finally:
        for reader in readers:
            reader.cancel()
        for client in clients:
            client.close()
    print(json.dumps([c.latencies() for c in clients]), flush=True)


if __name__ == "__main__":
    port, pipeline, count, timeout = sys.argv[1:5]
    asyncio.run(main(int(port), pipeline, int(count), float(timeout)))
