"""Figure 4: the live-update latency, from the bus to an SSE client of the
gateway."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import httpx

from orchest_schemas.status import RunStatus

from .harness import Pipeline, Stack, p50, percentile, project_dir, run_pipeline
from .report import MS, Figure


async def _live_run(stack: Stack, run: Pipeline) -> list[float]:
    """One run watched by a NATS subscriber and an SSE client; per-event delays."""
    assert stack.nc is not None
    on_bus: dict[str, float] = {}
    on_sse: dict[str, float] = {}
    connected, finished = asyncio.Event(), asyncio.Event()

    async def bus_event(msg: Any) -> None:
        on_bus[json.loads(msg.data)["event_id"]] = time.perf_counter()

    async def sse_client() -> None:
        params = {"pipeline_uuid": run.uuid}
        async with (
            httpx.AsyncClient(base_url=stack.url, timeout=None) as client,
            client.stream("GET", "/api/events", params=params) as response,
        ):
            connected.set()
            async for line in response.aiter_lines():
                if not line.startswith("data: "):
                    continue
                event = json.loads(line[6:])
                on_sse[event["event_id"]] = time.perf_counter()
                if event["kind"] == "run_status_changed" and RunStatus(event["status"]).is_final:
                    finished.set()
                    return

    sub = await stack.nc.subscribe(stack.bus.pipeline_events(run.uuid), cb=bus_event)
    reader = asyncio.create_task(sse_client())
    try:
        await asyncio.wait_for(connected.wait(), 10)  # live once the headers arrived
        await run_pipeline(stack, run)
        await asyncio.wait_for(finished.wait(), 30)
    finally:
        reader.cancel()
        await sub.unsubscribe()
    return [on_sse[k] - on_bus[k] for k in on_sse if k in on_bus]


async def live_latency(stack: Stack, floor_rr: float, steps: int = 30, runs: int = 3) -> Figure:
    root = project_dir("live")
    pipeline = Pipeline(root)
    for i in range(steps):
        pipeline.add(f"l{i:02d}", "noop.sh", [f"l{i - 1:02d}"] if i else [])
    latencies: list[float] = []
    for _ in range(runs):
        latencies += await _live_run(stack, pipeline.fresh())
    value, tail = p50(latencies), percentile(latencies, 0.99)
    return Figure(
        name="4. live-update latency, bus to SSE client",
        value=f"p50 {value * MS:.2f} ms, p99 {tail * MS:.2f} ms",
        floor=f"NATS request/reply p50 {floor_rr * MS:.3f} ms",
        ratio=value / floor_rr,
        target="p50 < 5 ms, p99 < 20 ms",
        met=value < 0.005 and tail < 0.020,
        how=(
            f"{runs} runs of a {steps}-step chain; for each event, the time between its"
            " arrival at a plain NATS subscriber of the bench process and at an SSE client"
            " of the gateway (`/api/events?pipeline_uuid=`), same clock;"
            f" {len(latencies)} events."
        ),
    )
