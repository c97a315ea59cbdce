"""Raw-socket event-stream clients (hundreds per test, cheaply), a gateway
alone in this process, and events published straight to the events stream."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import sys
import uuid
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
    receive_buffer: int | None = None
    """``SO_RCVBUF`` of the client's socket (set before it connects, which
    turns the kernel's growing of it off), so that the kernel holds little
    of what the client does not read."""
    _reader: asyncio.StreamReader | None = None
    _writer: asyncio.StreamWriter | None = None
    _body: bytes = b""

    async def open(self, timeout: float = 60) -> None:
        """Connects and reads the response's headers: from then on the
        stream is live."""
        self._reader, self._writer = await asyncio.wait_for(self._connect(), timeout)
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

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if self.receive_buffer is None:
            return await asyncio.open_connection("127.0.0.1", self.port)
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, self.receive_buffer)
        sock.setblocking(False)
        try:
            await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", self.port))
        except BaseException:
            sock.close()
            raise
        return await asyncio.open_connection(sock=sock)

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

    @property
    def local_port(self) -> int:
        """The client's side of the connection (which gateway holds it)."""
        assert self._writer is not None
        return int(self._writer.get_extra_info("sockname")[1])

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
    port: int,
    queries: list[dict[str, str]],
    headers: list[dict[str, str]] | None = None,
    receive_buffer: int | None = None,
) -> AsyncIterator[list[SseClient]]:
    """Opens one client per query, all at once; closes them after."""
    opened = [
        SseClient(
            port, dict(query), dict(headers[i]) if headers else {}, receive_buffer=receive_buffer
        )
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

    def listens(self) -> bool:
        """The process itself listens on the port (another may share it)."""
        return any(
            c.status == psutil.CONN_LISTEN and c.laddr.port == self.port
            for c in self.ps.net_connections(kind="tcp")
        )

    def serves(self, client_port: int) -> bool:
        """The gateway still holds the connection from ``client_port``."""
        return any(
            c.raddr and c.raddr.port == client_port and c.laddr.port == self.port
            for c in self.ps.net_connections(kind="tcp")
        )


@contextlib.asynccontextmanager
async def gateway_process(
    nats_url: str,
    database_url: str,
    bus: BusNames,
    log: Path,
    stall_seconds: float = 30.0,
    *,
    port: int | None = None,
    reuse_port: bool = False,
    drain_seconds: float = 30.0,
) -> AsyncIterator[Gateway]:
    """The gateway as a process of its own (``python -m orchest_gateway``),
    on ``port`` (default: a free one), with ``SO_REUSEPORT`` if asked, given
    ``drain_seconds`` to finish its requests when stopped."""
    port = port or free_port()
    env = dict(
        ENV_WITHOUT_ORCHEST,
        ORCHEST_NATS_URL=nats_url,
        ORCHEST_DATABASE_URL=database_url,
        ORCHEST_BUS_PREFIX=bus.prefix,
        ORCHEST_PORT=str(port),
        ORCHEST_SSE_STALL_SECONDS=str(stall_seconds),
        ORCHEST_REUSE_PORT=str(reuse_port).lower(),
        ORCHEST_DRAIN_TIMEOUT_SECONDS=str(drain_seconds),
    )
    with log.open("wb") as out:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "orchest_gateway", env=env, stdout=out, stderr=out
        )
    gateway = Gateway(process, f"http://127.0.0.1:{port}", port)
    try:

        async def up() -> bool | None:
            assert process.returncode is None, f"the gateway exited: see {log}"
            if not gateway.listens():
                return None
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


class Subjects:
    """A few runs, pipelines, a job, a session and projects; which filters
    each subject belongs to (the test's own answer, not the gateway's)."""

    def __init__(self, bus: BusNames) -> None:
        p1, p2 = str(uuid.uuid4()), str(uuid.uuid4())
        r1, r2, r3 = (str(uuid.uuid4()) for _ in range(3))
        job, project, other = str(uuid.uuid4()), str(uuid.uuid4()), str(uuid.uuid4())
        self.filters: dict[str, dict[str, str]] = {
            "all": {},
            "run1": {"run_uuid": r1},
            "run2": {"run_uuid": r2},
            "run3": {"run_uuid": r3},
            "pipeline1": {"pipeline_uuid": p1},
            "pipeline2": {"pipeline_uuid": p2},
            "job": {"job_uuid": job},
            "session": {"session": f"{project}/{p1}"},
            "project": {"project_uuid": project},
        }
        self.subjects: list[tuple[str, str, set[str]]] = [
            (bus.run_event(p1, r1), "run_status_changed", {"run1", "pipeline1"}),
            (bus.step_event(p1, r1, "s1"), "step_status_changed", {"run1", "pipeline1"}),
            (bus.step_event(p1, r2, "s2"), "step_status_changed", {"run2", "pipeline1"}),
            (bus.run_event(p2, r3), "run_status_changed", {"run3", "pipeline2"}),
            (bus.job_event(job), "job_status_changed", {"job"}),
            (bus.job_run_event(job, r3), "run_status_changed", {"job"}),
            (bus.session_event(project, p1), "session_status_changed", {"session"}),
            (bus.project_event(project), "project_changed", {"project"}),
            (bus.project_event(other), "project_changed", set()),
        ]
        self.published: list[tuple[int, str, str, set[str]]] = []
        """(sequence, kind, data, filters) of every event published."""

    async def publish(self, nc: Client, count: int) -> list[int]:
        batch = []
        for _ in range(count):
            n = len(self.published) + len(batch)
            subject, kind, names = self.subjects[n % len(self.subjects)]
            batch.append((subject, kind, json.dumps({"kind": kind, "n": n}), names | {"all"}))
        sequences = await publish(nc, [(s, json.loads(d)) for s, _, d, _ in batch])
        for sequence, (_, kind, data, names) in zip(sequences, batch, strict=True):
            self.published.append((sequence, kind, data, names))
        self.published.sort()
        return sequences

    def expected(self, name: str, after: int) -> list[SseEvent]:
        return [
            SseEvent(sequence, kind, data)
            for sequence, kind, data, names in self.published
            if name in names and sequence > after
        ]


def until_id(last: int) -> Callable[[SseClient], bool]:
    return lambda client: bool(client.events) and client.events[-1].id >= last
