"""Raw-socket event-stream clients, run as a process of their own by figure 11.

``python -m bench.sse_clients PORT PIPELINE_UUID COUNT TIMEOUT`` opens COUNT
connections to ``/api/events?pipeline_uuid=``, prints ``ready`` once every
response's headers arrived, then reads until each client got the run's
final event (or TIMEOUT seconds passed) and prints, as one JSON line, each
client's ``[[event_id, latency_seconds], ...]`` (latency: the arrival time,
``time.time()``, minus the event's ``occurred_at``).

The clients share two cores with the gateway they measure, so they take as
little CPU as they can: one loop over ``epoll`` (``selectors``, no asyncio:
no callback, future or task per read) that only timestamps what each socket
gives and looks for the run's final event; the frames are parsed after.
"""

from __future__ import annotations

import json
import selectors
import socket
import sys
import time
from datetime import datetime

FINAL = (b'"SUCCESS"', b'"FAILURE"', b'"ABORTED"')
RUN_EVENT = b"event: run_status_changed"
READ_SIZE = 65536


class Client:
    """One connection: what arrived, stamped, and whether the run's final event did."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.chunks: list[tuple[float, bytes]] = []
        self.done = False
        self._pending = b""

    def received(self, arrived: float, data: bytes) -> None:
        self.chunks.append((arrived, data))
        self._look(data)

    def _look(self, data: bytes) -> None:
        """Marks ``done`` on the run's final event (its frame may come in pieces)."""
        text = self._pending + data
        self._pending = text[-len(RUN_EVENT) :]
        start = 0
        while (at := text.find(RUN_EVENT, start)) >= 0:
            end = text.find(b"\n\n", at)
            if end < 0:
                self._pending = text[at:]  # the rest of its frame comes next
                return
            if any(status in text[at:end] for status in FINAL):
                self.done = True
            start = end

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


def _open(port: int, pipeline: str, count: int, timeout: float) -> list[Client]:
    """``count`` connections, each once its response's headers (200) arrived."""
    request = f"GET /api/events?pipeline_uuid={pipeline} HTTP/1.1\r\nHost: gateway\r\n\r\n"
    clients = []
    for _ in range(count):
        sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        sock.sendall(request.encode())
        clients.append(Client(sock))
    for client in clients:
        head = b""
        while (end := head.find(b"\r\n\r\n")) < 0:
            data = client.sock.recv(READ_SIZE)
            if not data:
                raise ConnectionError("closed before the headers")
            head += data
        if not head.startswith(b"HTTP/1.1 200"):
            raise RuntimeError(head.decode(errors="replace"))
        if rest := head[end + 4 :]:
            client.received(time.time(), rest)
        client.sock.setblocking(False)
    return clients


def follow(clients: list[Client], timeout: float) -> None:
    """Read every socket as data comes, until each client got the final event
    or ``timeout`` passed (the bench counts the events each client missed)."""
    selector = selectors.DefaultSelector()
    for client in clients:
        if not client.done:
            selector.register(client.sock, selectors.EVENT_READ, client)
    deadline = time.monotonic() + timeout
    waiting = sum(1 for client in clients if not client.done)
    while waiting and (left := deadline - time.monotonic()) > 0:
        for key, _ in selector.select(left):
            client = key.data
            try:
                data = client.sock.recv(READ_SIZE)
            except BlockingIOError:
                continue
            if data:
                client.received(time.time(), data)
            if client.done or not data:
                client.done = True
                selector.unregister(client.sock)
                waiting -= 1
    selector.close()


def main(port: int, pipeline: str, count: int, timeout: float) -> None:
    clients = _open(port, pipeline, count, timeout)
    print("ready", flush=True)
    try:
        follow(clients, timeout)
    finally:
        for client in clients:
            client.sock.close()
    print(json.dumps([c.latencies() for c in clients]), flush=True)


if __name__ == "__main__":
    port, pipeline, count, timeout = sys.argv[1:5]
    main(int(port), pipeline, int(count), float(timeout))
