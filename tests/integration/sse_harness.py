"""Raw-socket event-stream clients (hundreds per test, cheaply), a gateway
alone in this process, and events published straight to the events stream."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import psutil
from nats.aio.client import Client

from orchest_gateway.service import build_definition as build_gateway
from orchest_gateway.settings import GatewaySettings
from orchest_schemas.bus import BusNames
from support import ENV_WITHOUT_ORCHEST, eventually, free_port, running_service


def parse_frames(raw: bytes) -> list[dict[str, str]]:
    """SSE frames (comments left out) of a stream's bytes, chunked encoding
    included: a chunk's size line never holds ``id:``/``event:``/``data:``."""
    frames = []
    for block in raw.decode(errors="replace").replace("\r\n", "\n").split("\n\n"):
        fields = {}
        for line in block.split("\n"):
            key, colon, value = line.partition(": ")
            if colon and key in ("id", "event", "data"):
                fields[key] = value
        if fields:
            frames.append(fields)
    return frames


@dataclass(frozen=True)
class SseEvent:
    id: int
    event: str
    data: str


@dataclass
class SseClient:
    """One ``GET /api/events`` over HTTP/1.1 (chunked), read frame by frame."""

    port: int
    query: dict[str, str]
    headers: dict[str, str] = field(default_factory=dict)
    events: list[SseEvent] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)
    """The ``event: error`` frames received (the stream ended after each)."""
    _reader: asyncio.StreamReader | None = None
    _writer: asyncio.StreamWriter | None = None
    _body: bytes = b""

    async def open(self, timeout: float = 60) -> None:
        """Connects and reads the response's headers: from then on the
        stream is live."""
        self._reader, self._writer = await asyncio.wait_for(
            asyncio.open_connection("127.0.0.1", self.port), timeout
        )
        lines = [f"GET /api/events?{urlencode(self.query)} HTTP/1.1", "Host: gateway"]
        lines += [f"{name}: {value}" for name, value in self.headers.items()]
        self._writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        head = await asyncio.wait_for(self._reader.readuntil(b"\r\n\r\n"), timeout)
        assert head.startswith(b"HTTP/1.1 200"), head
        assert b"transfer-encoding: chunked" in head.lower(), head
        self._body = b""

    async def _frame(self) -> str | None:
        """The next SSE frame (comments included); None at the stream's end."""
        assert self._reader is not None
        while b"\n\n" not in self._body:
            size_line = await self._reader.readuntil(b"\r\n")
            size = int(size_line.strip(), 16)
            chunk = await self._reader.readexactly(size + 2)
            if size == 0:
                return None
            self._body += chunk[:-2]
        frame, _, self._body = self._body.partition(b"\n\n")
        return frame.decode()

    async def read(self, done: Callable[[SseClient], bool], timeout: float = 60) -> bool:
        """Reads events until ``done(self)`` or the stream's end (False)."""
        async with asyncio.timeout(timeout):
            while not done(self):
                frame = await self._frame()
                if frame is None:
                    return False
                fields = {}
                for line in frame.split("\n"):
                    key, colon, value = line.partition(": ")
                    if colon and key in ("id", "event", "data"):
                        fields[key] = value
                if fields.get("event") == "error":
                    self.errors.append(json.loads(fields["data"]))
                elif "id" in fields:
                    self.events.append(SseEvent(int(fields["id"]), fields["event"], fields["data"]))
        return True

    async def follow(
        self, done: Callable[[SseClient], bool], timeout: float = 60, resumes: int = 100
    ) -> None:
        """Reads until ``done``, resuming after an ``event: error`` with its
        ``Last-Event-ID`` (as the CLI and the dashboard do)."""
        async with asyncio.timeout(timeout):
            while not await self.read(done):
                assert self.errors, "the stream ended without an error"
                assert len(self.errors) <= resumes, self.errors[-1]
                self.close()
                self.headers["Last-Event-ID"] = self.errors[-1]["last_event_id"]
                self.query.pop("replay", None)
                await self.open()

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    @property
    def ids(self) -> list[int]:
        return [e.id for e in self.events]


async def publish(nc: Client, subjects: list[tuple[str, dict[str, Any]]]) -> list[int]:
    """Publishes events to the events stream, concurrently; their sequences."""
    js = nc.jetstream()
    acks = await asyncio.gather(
        *(js.publish(subject, json.dumps(body).encode()) for subject, body in subjects)
    )
    return [ack.seq for ack in acks]


@contextlib.asynccontextmanager
async def gateway(service_settings: Callable[..., Any], **overrides: Any) -> AsyncIterator[int]:
    """The gateway alone, in this process; yields its port."""
    settings: GatewaySettings = service_settings(GatewaySettings, port=free_port(), **overrides)
    async with running_service(build_gateway(settings), settings):

        async def listening() -> bool | None:
            async with httpx.AsyncClient() as http:
                response = await http.get(f"http://127.0.0.1:{settings.port}/api/ping")
            return True if response.status_code == 204 else None

        await eventually(listening, timeout=20, what="the gateway listens")
        yield settings.port


@contextlib.asynccontextmanager
async def clients(
    port: int, queries: list[dict[str, str]], headers: list[dict[str, str]] | None = None
) -> AsyncIterator[list[SseClient]]:
    """Opens one client per query, all at once; closes them after."""
    opened = [
        SseClient(port, dict(query), dict(headers[i]) if headers else {})
        for i, query in enumerate(queries)
    ]
    try:
        await asyncio.gather(*(c.open() for c in opened))
        yield opened
    finally:
        for client in opened:
            client.close()


@dataclass
class Gateway:
    process: asyncio.subprocess.Process
    url: str
    port: int
    ps: psutil.Process = field(init=False)

    def __post_init__(self) -> None:
        self.ps = psutil.Process(self.process.pid)

    def rss(self) -> int:
        return int(self.ps.memory_info().rss)

    def serves(self, client_port: int) -> bool:
        """The gateway still holds the connection from ``client_port``."""
        return any(
            c.raddr and c.raddr.port == client_port and c.laddr.port == self.port
            for c in self.ps.net_connections(kind="tcp")
        )


@contextlib.asynccontextmanager
async def gateway_process(
    nats_url: str, database_url: str, bus: BusNames, log: Path, stall_seconds: float = 30.0
) -> AsyncIterator[Gateway]:
    """The gateway as a process of its own (``python -m orchest_gateway``)."""
    port = free_port()
    env = dict(
        ENV_WITHOUT_ORCHEST,
        ORCHEST_NATS_URL=nats_url,
        ORCHEST_DATABASE_URL=database_url,
        ORCHEST_BUS_PREFIX=bus.prefix,
        ORCHEST_PORT=str(port),
        ORCHEST_SSE_STALL_SECONDS=str(stall_seconds),
    )
    with log.open("wb") as out:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "orchest_gateway", env=env, stdout=out, stderr=out
        )
    gateway = Gateway(process, f"http://127.0.0.1:{port}", port)
    try:

        async def up() -> bool | None:
            assert process.returncode is None, f"the gateway exited: see {log}"
            async with httpx.AsyncClient() as client:
                response = await client.get(f"{gateway.url}/api/ping")
            return True if response.status_code == 204 else None

        await eventually(up, timeout=30, what="the gateway answers")
        yield gateway
    finally:
        if process.returncode is None:
            process.terminate()
            try:
                await asyncio.wait_for(process.wait(), 20)
            except TimeoutError:
                process.kill()
                await process.wait()
