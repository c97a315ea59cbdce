"""Figure 11: live updates at scale. 1, 30, 300 and 1000 raw-socket SSE
clients follow one pipeline while a 20-step chain runs; every client is
checked for every event, and the latency from each event's ``occurred_at``
to its arrival is set against a bare NATS subscriber's in the same run.
Measured on the shared stack (one gateway process) and on a stack of two
gateway processes sharing the port (``orchest up --gateways 2``)."""

from __future__ import annotations

import asyncio
import json
import math
import os
import sys
import time
from datetime import datetime
from typing import Any

import psutil

from .harness import Pipeline, Stack, percentile, project_dir, run_pipeline, running_stack
from .report import Figure

MS = 1000.0
AUDIENCES = (1, 30, 300, 1000)
STEPS = 20
CLIENTS_PER_PROCESS = 500
TARGET_P99 = 0.100
TIMEOUT = 120.0


async def _clients(stack: Stack, pipeline: str, count: int) -> list[asyncio.subprocess.Process]:
    """Processes of ``count`` clients in all, each once its clients are connected."""
    port = stack.url.rsplit(":", 1)[1].rstrip("/")
    sizes = [len(part) for part in _split(range(count), math.ceil(count / CLIENTS_PER_PROCESS))]
    processes = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bench.sse_clients",
            port,
            pipeline,
            str(size),
            str(TIMEOUT),
            stdout=asyncio.subprocess.PIPE,
        )
        for size in sizes
    ]
    for process in processes:
        assert process.stdout is not None
        line = await asyncio.wait_for(process.stdout.readline(), TIMEOUT)
        assert line.strip() == b"ready", line
    return processes


def _split(items: range, parts: int) -> list[range]:
    step = math.ceil(len(items) / parts)
    return [items[i : i + step] for i in range(0, len(items), step)]


def _gateways(stack: Stack) -> list[psutil.Process]:
    return [psutil.Process(pid) for pid in stack.pids("gateway")]


def _cpu(processes: list[psutil.Process]) -> float:
    return sum(sum(p.cpu_times()[:2]) for p in processes)


def _rss(processes: list[psutil.Process]) -> int:
    return sum(p.memory_info().rss for p in processes)


async def _audience(stack: Stack, pipeline: Pipeline, count: int) -> dict[str, Any]:
    """One run followed by ``count`` clients and a bare NATS subscriber."""
    assert stack.nc is not None
    gateways = _gateways(stack)
    rss_before = _rss(gateways)
    processes = await _clients(stack, pipeline.uuid, count)
    rss_connected = _rss(gateways)
    on_bus: dict[str, float] = {}

    async def bus_event(msg: Any) -> None:
        arrived = time.time()
        event = json.loads(msg.data)
        on_bus[event["event_id"]] = (
            arrived - datetime.fromisoformat(event["occurred_at"]).timestamp()
        )

    sub = await stack.nc.subscribe(stack.bus.pipeline_events(pipeline.uuid), cb=bus_event)
    cpu_before = _cpu(gateways)
    try:
        timing = await run_pipeline(stack, pipeline, check=False)
        outputs = [await process.communicate() for process in processes]
    finally:
        await sub.unsubscribe()
    cpu = _cpu(gateways) - cpu_before
    load = os.getloadavg()[0]
    assert timing.status == "SUCCESS", timing
    clients = [client for stdout, _ in outputs for client in json.loads(stdout)]
    complete = sum(1 for c in clients if {event_id for event_id, _ in c} >= set(on_bus))
    latencies = [latency for c in clients for _, latency in c]
    return {
        "count": count,
        "gateways": len(gateways),
        "load": load,
        "complete": complete,
        "events": len(on_bus),
        "latencies": latencies,
        "floor": list(on_bus.values()),
        "cpu": cpu,
        "rss_per_connection": (rss_connected - rss_before) / count,
        "wall": timing.wall,
    }


async def sse_fanout(stack: Stack) -> list[Figure]:
    """The audiences on ``stack`` (as many gateways as it has)."""
    root = project_dir("fanout")
    chain = Pipeline(root)
    for i in range(STEPS):
        chain.add(f"f{i:02d}", "noop.sh", [f"f{i - 1:02d}"] if i else [])
    await run_pipeline(stack, chain.fresh())  # warm-up
    figures = []
    for count in AUDIENCES:
        result = await _audience(stack, chain.fresh(), count)
        figures.append(_figure(result))
    return figures


async def sse_fanout_replicas(gateways: int = 2) -> list[Figure]:
    """The audiences on a stack of its own, with ``gateways`` gateway processes."""
    async with running_stack(runners=2, gateways=gateways) as stack:
        assert len(stack.pids("gateway")) == gateways, stack.processes
        return await sse_fanout(stack)


def _figure(r: dict[str, Any]) -> Figure:
    count = r["count"]
    p50, p99 = percentile(r["latencies"], 0.5), percentile(r["latencies"], 0.99)
    f50, f99 = percentile(r["floor"], 0.5), percentile(r["floor"], 0.99)
    every = r["complete"] == count
    gateways = r["gateways"]
    where = "1 gateway" if gateways == 1 else f"{gateways} gateways"
    return Figure(
        name=f"11. live updates, {where}, {count} SSE client{'s' if count > 1 else ''}",
        value=(
            f"{r['complete']} of {count} got every event; p50 {p50 * MS:.1f} ms,"
            f" p99 {p99 * MS:.1f} ms; gateway{'s' if gateways > 1 else ''} {r['cpu']:.2f} CPU-s,"
            f" {r['rss_per_connection'] / 1024:.1f} KiB/connection; load average {r['load']:.1f}"
        ),
        floor=f"bare NATS subscriber p50 {f50 * MS:.1f} ms, p99 {f99 * MS:.1f} ms",
        ratio=p99 / f99 if f99 > 0 else None,
        target="every event, p99 < 100 ms",
        met=every and p99 < TARGET_P99,
        how=(
            f"{count} raw-socket clients of `/api/events?pipeline_uuid=` (in"
            f" {math.ceil(count / CLIENTS_PER_PROCESS)} process(es) of their own, frames"
            f" timestamped on arrival, parsed after the run) follow a {STEPS}-step chain"
            f" of `.sh` ({r['events']} events, {r['wall']:.2f} s); latency = arrival"
            " (`time.time()`) - the event's `occurred_at` (the scheduler's clock, same"
            " machine), over every event of every client; a client got every event when it"
            " has every `event_id` the floor saw. Floor: a core NATS subscriber of the"
            " pipeline's events in the bench process, same latency. Ratio: p99 / floor p99."
            f" Gateway CPU: user + system seconds of its {where} process(es) during the run;"
            " memory: their resident sets' growth while the clients connected, per"
            " connection. Load average: the machine's 1-minute load average at the run's end"
            " (2 cores shared with other work: above 2, processes wait for a core)."
        ),
    )
