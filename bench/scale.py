"""Figures 12 and 13: many runs at once from several clients, and each
service's memory when idle.

12: 200 runs of a 10-step chain of ``.sh`` steps, posted by 8 HTTP clients
at once (25 each, one request at a time per client, without waiting for
the runs: all 200 run together); steps per second from the first POST to
the last run's final event, the event-log rows the scheduler wrote per
second meanwhile, and the CPU of the scheduler (and of every process of the
stack) per step. Floor: the bench forking and execing the same 2000 steps 8
at a time (as many as the two runners' slots).

13: the resident memory of each process of the stack once it has started
and before it ran anything (Postgres: its postmaster and backends, as
proportional set sizes, which count shared buffers once). Floor: a bare
Python interpreter with asyncio (and psutil, to read it) imported, in the
same run.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from typing import Any

import httpx
import psutil

from orchest_schemas.events import ANY_EVENT, RunStatusChanged

from .fan_out import fork_exec_rate
from .harness import Pipeline, Stack, project_dir, stack_cpu
from .persistence import _event_rows
from .report import MS, Figure

MIB = 1024 * 1024


async def _runs_from_clients(stack: Stack, pipeline: Pipeline, runs: int, clients: int) -> float:
    """POST ``runs`` runs of ``pipeline`` from ``clients`` clients at once;
    seconds from the first POST to the last final run event."""
    assert stack.nc is not None
    loop = asyncio.get_running_loop()
    pending: dict[str, asyncio.Future[None]] = {}
    fresh = [pipeline.fresh() for _ in range(runs)]
    for one in fresh:
        pending[one.uuid] = loop.create_future()

    async def on_event(msg: Any) -> None:
        event = ANY_EVENT.validate_json(msg.data)
        if isinstance(event, RunStatusChanged) and event.status.is_final:
            done = pending.get(str(event.pipeline_uuid))
            if done is not None and not done.done():
                done.set_result(None)

    subs = [
        await stack.nc.subscribe(stack.bus.run_status_events(one.uuid), cb=on_event)
        for one in fresh
    ]
    await stack.nc.flush()
    https = [httpx.AsyncClient(base_url=stack.url, timeout=300.0) for _ in range(clients)]
    try:

        async def post(client: httpx.AsyncClient, mine: list[Pipeline]) -> None:
            for one in mine:  # one request at a time per client, 8 clients at once
                response = await client.post("/api/runs", json=one.body())
                response.raise_for_status()

        t0 = time.perf_counter()
        await asyncio.gather(*(post(https[i], fresh[i::clients]) for i in range(clients)))
        await asyncio.wait_for(asyncio.gather(*pending.values()), 600)
        return time.perf_counter() - t0
    finally:
        for sub in subs:
            await sub.unsubscribe()
        for client in https:
            await client.aclose()


async def concurrent_runs(
    stack: Stack, runs: int = 200, steps: int = 10, clients: int = 8, slots: int = 8
) -> Figure:
    root = project_dir("scale")
    pipeline = Pipeline(root)
    for i in range(steps):
        pipeline.add(f"s{i:02d}", "noop.sh", [f"s{i - 1:02d}"] if i else [])
    await _runs_from_clients(stack, pipeline, clients, clients)  # warm-up
    floor = await fork_exec_rate(root, runs * steps, slots)
    rows_before = await _event_rows(stack)
    cpu_before = stack_cpu(stack)
    wall = await _runs_from_clients(stack, pipeline, runs, clients)
    cpu_after = stack_cpu(stack)
    rows = await _event_rows(stack) - rows_before
    total = runs * steps
    rate = total / wall
    used = {name: cpu_after[name] - cpu_before.get(name, 0.0) for name in cpu_after}
    every = sum(v for name, v in used.items() if name != "supervisor")
    scheduler = used.get("scheduler", 0.0)
    load = os.getloadavg()[0]
    ratio = rate / floor
    return Figure(
        name=f"12. {runs} concurrent {steps}-step runs from {clients} clients",
        value=(
            f"{rate:.0f} steps/s, {rows / wall:,.0f} events persisted/s; scheduler CPU"
            f" {scheduler:.1f} s ({scheduler / total * MS:.2f} ms/step), all processes"
            f" {every / total * MS:.2f} ms/step"
        ),
        floor=f"fork+exec {floor:.0f} steps/s ({slots} at a time)",
        ratio=ratio,
        target="reported",
        met=None,
        how=(
            f"{runs} runs of a chain of {steps} `.sh` steps, posted by {clients} HTTP clients"
            f" at once ({runs // clients} each, one request at a time per client, not waiting"
            " for the runs: all run together), 2 runners of 4 slots; steps /"
            " (first POST to the last run's final event); events persisted: rows added to"
            " `scheduler.event_log` meanwhile; CPU: user + system seconds of each process of"
            " the stack and its children (`psutil`) over the same span. Floor: the bench"
            f" starting the same {total} `bash noop.sh` {slots} at a time. Load average (1 min)"
            f" at the end: {load:.1f}."
        ),
    )


def _memory(pid: int, children: bool) -> float:
    """Resident bytes: RSS of the process; with ``children``, the PSS of it and
    its descendants (shared pages counted once)."""
    process = psutil.Process(pid)
    if not children:
        return float(process.memory_info().rss)
    total = 0.0
    for one in [process, *process.children(recursive=True)]:
        try:
            total += one.memory_full_info().pss
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return total


async def idle_memory(stack: Stack) -> Figure:
    sizes = {
        name: _memory(int(p["pid"]), children=name == "postgres")
        for name, p in sorted(stack.processes.items())
        if name != "supervisor"
    }
    bare = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        # Its resident set now (a peak, ru_maxrss, would be the bench's: it
        # survives the exec of a vforked child).
        "import asyncio, psutil; print(psutil.Process().memory_info().rss)",
        stdout=asyncio.subprocess.PIPE,
    )
    out, _ = await bare.communicate()
    floor = int(out)
    python = [v for name, v in sizes.items() if name not in {"nats", "postgres"}]
    largest = max(python)
    shown = ", ".join(f"{name} {v / MIB:.0f}" for name, v in sizes.items())
    return Figure(
        name="13. idle memory per service (MiB)",
        value=shown,
        floor=f"bare Python (asyncio, psutil) {floor / MIB:.0f} MiB",
        ratio=largest / floor,
        target="reported",
        met=None,
        how=(
            "Right after the shared stack started, before any run: the resident set (RSS)"
            " of each service process (`psutil`), Postgres as the proportional set size"
            " (PSS) of its postmaster and backends together. Ratio: the largest Python"
            " service / the floor, a bare `python -c 'import asyncio, psutil'` (its RSS)."
        ),
    )
