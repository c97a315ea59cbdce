"""Figure 8: a job of many parameter sets, against as many interactive runs."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from nats.js.api import ConsumerConfig, DeliverPolicy

from orchest_schemas.events import ANY_EVENT, JobStatusChanged

from .harness import Pipeline, Stack, p50, project_dir, run_pipeline
from .report import Figure


async def _interactive_runs(stack: Stack, pipeline: Pipeline, runs: int, in_flight: int) -> float:
    """Runs per second of ``runs`` runs of the pipeline, ``in_flight`` at a time."""
    gate = asyncio.Semaphore(in_flight)

    async def one() -> None:
        async with gate:
            await run_pipeline(stack, pipeline.fresh())

    t0 = time.perf_counter()
    await asyncio.gather(*(one() for _ in range(runs)))
    return runs / (time.perf_counter() - t0)


async def _job_runs(stack: Stack, pipeline: Pipeline, runs: int) -> float:
    """Runs per second of a job of ``runs`` parameter sets, POST to the job's end."""
    assert stack.nc is not None and stack.http is not None
    body = {
        "name": "bench",
        "pipeline_definition": pipeline.fresh().body()["pipeline_definition"],
        "project_dir": str(pipeline.root),
        "parameters": [{"pipeline_parameters": {"i": i}} for i in range(runs)],
    }
    t0 = time.perf_counter()
    response = await stack.http.post("/api/jobs", json=body)
    response.raise_for_status()
    job_uuid = response.json()["uuid"]
    ended: asyncio.Future[tuple[float, str]] = asyncio.get_running_loop().create_future()

    async def on_event(msg: Any) -> None:
        event = ANY_EVENT.validate_json(msg.data)
        if not isinstance(event, JobStatusChanged) or ended.done():
            return
        if event.status.value in ("SUCCESS", "FAILURE"):
            ended.set_result((time.perf_counter(), event.status.value))

    sub = await stack.nc.jetstream().subscribe(
        stack.bus.job_event(job_uuid),
        cb=on_event,
        ordered_consumer=True,
        config=ConsumerConfig(deliver_policy=DeliverPolicy.ALL),
    )
    try:
        at, status = await asyncio.wait_for(ended, 600)
    finally:
        await sub.unsubscribe()
    assert status == "SUCCESS", status
    return runs / (at - t0)


async def job_grid(stack: Stack, runs: int = 200, job_slots: int = 4) -> Figure:
    root = project_dir("jobs")
    pipeline = Pipeline(root)
    pipeline.add("s", "noop.sh")
    floors, values = [], []
    for _ in range(2):
        floors.append(await _interactive_runs(stack, pipeline, runs, job_slots))
        values.append(await _job_runs(stack, pipeline, runs))
    value, floor = p50(values), p50(floors)
    ratio = value / floor
    return Figure.bounded(
        name=f"8. job of {runs} parameter sets, one step each",
        value=f"{value:.1f} runs/s",
        floor=f"interactive runs {floor:.1f} runs/s",
        ratio=ratio,
        at_least=0.8,
        how=(
            f"a job of {runs} parameter sets of a one-step `.sh` pipeline (no schedule: it runs"
            " now), from POST /api/jobs to the job's SUCCESS event; each run gets its own"
            " workspace copied from the job's snapshot and goes through the admission (8 job"
            f" runs at most) and the job slots ({job_slots}: 2 runners x 2). Floor: the same"
            f" {runs} runs POSTed as interactive runs, {job_slots} at a time (as many as the"
            " job slots), each from POST to its final event; interleaved, median of 2."
        ),
    )
