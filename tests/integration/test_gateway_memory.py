"""The gateway's memory, whatever its clients do: an event-stream client that
stops reading, a log of tens of MB.

The gateway runs as a process of its own (``python -m orchest_gateway``), so
its resident set (psutil) is its memory alone: nothing the test publishes,
reads or keeps is counted in it (tracemalloc in this process would count the
test's own allocations, and miss the NATS client's buffers as allocated).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from nats.aio.client import Client
from runs_harness import Project
from sse_client import frames
from sse_harness import Gateway, gateway_process, parse_frames

from orchest_scheduler.service import build_definition as build_scheduler
from orchest_schemas.bus import BusNames
from orchest_schemas.events import StepLogChunk
from support import eventually

MIB = 1024 * 1024
STALL_SECONDS = 5.0
EVENTS = 20_000
LIVE_EVENTS = 50
PAD = "x" * 900  # events of about 1 KiB
EVENTS_GROWTH_LIMIT = 16 * MIB
LOG_BYTES = 40 * MIB
LOG_GROWTH_LIMIT = 16 * MIB


class PeakRss:
    """Samples a process's resident set while it runs (every 20 ms)."""

    def __init__(self, gateway: Gateway) -> None:
        self._gateway = gateway
        self.baseline = gateway.rss()
        self.peak = self.baseline
        self._task: asyncio.Task[None] | None = None

    async def _sample(self) -> None:
        while True:
            self.peak = max(self.peak, self._gateway.rss())
            await asyncio.sleep(0.02)  # wait-ok: a sampling period, not a wait for something

    async def __aenter__(self) -> PeakRss:
        self._task = asyncio.create_task(self._sample())
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self.peak = max(self.peak, self._gateway.rss())

    @property
    def growth(self) -> int:
        return self.peak - self.baseline

    def __str__(self) -> str:
        return (
            f"gateway RSS {self.baseline / MIB:.1f} MiB -> peak {self.peak / MIB:.1f} MiB "
            f"(+{self.growth / MIB:.1f} MiB)"
        )


def event(sequence: int) -> bytes:
    return json.dumps({"kind": "step_status_changed", "sequence": sequence, "pad": PAD}).encode()


async def publish_events(nc: Client, subject: str, first: int, count: int) -> None:
    js = nc.jetstream()
    for start in range(first, first + count, 500):
        batch = range(start, min(start + 500, first + count))
        await asyncio.gather(*(js.publish(subject, event(i)) for i in batch))


class StalledClient:
    """A raw socket that asks for the event stream, reads the response's
    headers, then stops reading (a 4 KiB receive buffer)."""

    def __init__(self, gateway: Gateway, query: str) -> None:
        self._gateway = gateway
        self._query = query
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self.sock.setblocking(False)
        self.received = b""

    @property
    def port(self) -> int:
        port: int = self.sock.getsockname()[1]
        return port

    async def open(self) -> None:
        loop = asyncio.get_running_loop()
        await loop.sock_connect(self.sock, ("127.0.0.1", self._gateway.port))
        request = f"GET /api/events?{self._query} HTTP/1.1\r\nHost: gateway\r\n\r\n"
        await loop.sock_sendall(self.sock, request.encode())
        while b"\r\n\r\n" not in self.received:
            chunk = await asyncio.wait_for(loop.sock_recv(self.sock, 1), 20)
            assert chunk, "closed before the headers"
            self.received += chunk
        assert self.received.startswith(b"HTTP/1.1 200"), self.received

    async def read_to_end(self, timeout: float) -> list[dict[str, str]]:
        """Read again, until the gateway closes the connection."""
        loop = asyncio.get_running_loop()
        while True:
            try:
                chunk = await asyncio.wait_for(loop.sock_recv(self.sock, 65536), timeout)
            except ConnectionResetError:
                break
            if not chunk:
                break
            self.received += chunk
        return parse_frames(self.received.partition(b"\r\n\r\n")[2])

    def close(self) -> None:
        self.sock.close()


async def consumer_filters(nc: Client, stream: str) -> list[str]:
    infos = await nc.jetstream().consumers_info(stream)
    return [info.config.filter_subject or "" for info in infos]


async def read_sse(
    url: str, params: dict[str, str], until: int, headers: dict[str, str] | None = None
) -> list[int]:
    """The ``sequence`` of every event read, up to the one numbered ``until``."""
    sequences: list[int] = []
    async with (
        httpx.AsyncClient(timeout=httpx.Timeout(60.0)) as client,
        client.stream("GET", f"{url}/api/events", params=params, headers=headers) as response,
    ):
        assert response.status_code == 200
        async for frame in frames(response):
            sequences.append(frame.json()["sequence"])
            if sequences[-1] == until:
                break
    return sequences


async def test_a_stalled_event_stream_client_holds_no_backlog_and_is_dropped(
    nats_server: Any, database_url: str, bus: BusNames, nc: Client, tmp_path: Path
) -> None:
    pipeline, run = str(uuid.uuid4()), str(uuid.uuid4())
    subject = bus.step_event(pipeline, run, "s")
    stream = bus.events_stream.name
    total = EVENTS + LIVE_EVENTS
    async with gateway_process(
        nats_server.url, database_url, bus, tmp_path / "gw.log", stall_seconds=STALL_SECONDS
    ) as gw:
        await publish_events(nc, subject, 1, 10)
        assert await read_sse(gw.url, {"replay": "true"}, until=10) == list(range(1, 11))
        await publish_events(nc, subject, 11, EVENTS - 10)

        async with PeakRss(gw) as rss:
            # Told and dropped: resumes reading once dropped. Aborted: never reads.
            told = StalledClient(gw, f"replay=true&pipeline_uuid={pipeline}")
            aborted = StalledClient(gw, "replay=true")
            await told.open()
            await aborted.open()
            reader = asyncio.create_task(
                read_sse(gw.url, {"replay": "true", "run_uuid": run}, until=total)
            )
            for sequence in range(EVENTS + 1, total + 1):  # live events keep coming
                await publish_events(nc, subject, sequence, 1)
                await asyncio.sleep(0.1)  # wait-ok: pacing the publisher, not waiting for anything
            got = await asyncio.wait_for(reader, 120)

        print(f"events: {rss}")
        assert rss.growth < EVENTS_GROWTH_LIMIT, str(rss)
        # The reading client got every event once, in order.
        assert got == list(range(1, total + 1))

        async def told_dropped() -> bool | None:
            return (
                True
                if bus.pipeline_events(pipeline) not in await consumer_filters(nc, stream)
                else None
            )

        await eventually(told_dropped, timeout=4 * STALL_SECONDS, what="the stalled reader dropped")
        frames = await told.read_to_end(timeout=4 * STALL_SECONDS)
        *events, last = frames
        assert last["event"] == "error", last
        error = json.loads(last["data"])
        assert "Last-Event-ID" in error["message"]
        assert error["last_event_id"] == events[-1]["id"] == last["id"]
        # It was sent what the sockets' kernel buffers took (some MB on loopback).
        assert len(events) < EVENTS // 2
        sent = [json.loads(e["data"])["sequence"] for e in events]
        assert sent == list(range(1, len(sent) + 1))
        # Resuming from the error's id misses and repeats nothing.
        resumed = await read_sse(
            gw.url,
            {"pipeline_uuid": pipeline},
            until=total,
            headers={"Last-Event-ID": error["last_event_id"]},
        )
        assert resumed == list(range(len(sent) + 1, total + 1))

        # The client that reads nothing at all is disconnected by the gateway.
        async def aborted_gone() -> bool | None:
            return None if gw.serves(aborted.port) else True

        await eventually(aborted_gone, timeout=6 * STALL_SECONDS, what="the silent reader cut")
        rest = await aborted.read_to_end(timeout=4 * STALL_SECONDS)
        assert len(rest) < EVENTS // 2
        told.close()
        aborted.close()
        log = (tmp_path / "gw.log").read_text()
        assert log.count("dropped") == 2, log
        print(f"stalled clients were sent {len(events)} and {len(rest)} events")


async def test_a_large_log_is_streamed_not_held(
    nats_server: Any,
    database_url: str,
    bus: BusNames,
    nc: Client,
    tmp_path: Path,
    service_settings: Callable[..., Any],
    service_runner: Any,
) -> None:
    project = Project(tmp_path)
    project.step("s", "s.sh", "echo hi\n")
    scheduler = build_scheduler()
    async with (
        gateway_process(
            nats_server.url, database_url, bus, tmp_path / "gw.log", stall_seconds=STALL_SECONDS
        ) as gw,
        service_runner(scheduler, service_settings()),
        httpx.AsyncClient(base_url=gw.url, timeout=httpx.Timeout(60.0)) as http,
    ):
        created = await http.post("/api/runs", json=project.body())
        assert created.status_code == 201, created.text
        run = created.json()["uuid"]
        # No step runner: the step waits, and its log is what is published here.
        js = nc.jetstream()
        piece = 32 * 1024
        line = ("0123456789abcdef" * 4)[:63] + "\n"
        text = line * (piece // len(line))
        count = LOG_BYTES // len(text)
        for start in range(0, count, 64):
            chunks = [
                StepLogChunk(
                    run_uuid=run, step_uuid="s", attempt=1, offset=i * len(text), data=text
                )
                for i in range(start, min(start + 64, count))
            ]
            await asyncio.gather(
                *(js.publish(bus.step_log(run, "s"), c.to_bytes()) for c in chunks)
            )

        async with PeakRss(gw) as rss:
            size = 0
            async with http.stream("GET", f"/api/runs/{run}/steps/s/logs") as response:
                assert response.status_code == 200
                async for part in response.aiter_bytes():
                    size += len(part)
        assert size == count * len(text)
        print(f"log of {size / MIB:.1f} MiB: {rss}")
        assert rss.growth < LOG_GROWTH_LIMIT, str(rss)
