"""The figures of issue 4, each against a floor measured in the same run."""

from __future__ import annotations

import asyncio
import itertools
import json
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import nats
from nats.js.api import ConsumerConfig, DeliverPolicy

from orchest_runtime.commands import request_command
from orchest_schemas.events import ANY_EVENT, JobStatusChanged
from orchest_schemas.reports import ClaimStep, StepAttemptFinished, StepClaim
from orchest_schemas.status import StepStatus

from .harness import Pipeline, Stack, p50, percentile, project_dir, reports_of, run_pipeline
from .report import Figure

MS = 1000.0


async def nats_round_trip(stack: Stack, n: int = 2000) -> list[float]:
    """Request/reply round trips on the stack's NATS, in seconds."""
    assert stack.nc is not None
    subject = f"{stack.bus.prefix}.bench.echo.{uuid.uuid4().hex}"  # the services may use it

    async def echo(msg: Any) -> None:
        await msg.respond(msg.data)

    sub = await stack.nc.subscribe(subject, cb=echo)
    client = await nats.connect(stack.nats_url)
    try:
        for _ in range(100):
            await client.request(subject, b"x", timeout=5)
        samples = []
        for _ in range(n):
            t0 = time.perf_counter()
            await client.request(subject, b"x", timeout=5)
            samples.append(time.perf_counter() - t0)
    finally:
        await client.drain()
        await sub.unsubscribe()
    return samples


async def overhead(stack: Stack, floor_rr: float, steps: int = 100, runs: int = 5) -> Figure:
    root = project_dir("chain")
    pipeline = Pipeline(root)
    for i in range(steps):
        pipeline.add(f"s{i:03d}", "noop.sh", [f"s{i - 1:03d}"] if i else [])
    await run_pipeline(stack, pipeline.fresh())  # warm-up
    per_run: list[float] = []
    gaps: list[float] = []
    for _ in range(runs):
        timing = await run_pipeline(stack, pipeline.fresh())
        assert timing.status == "SUCCESS", timing
        reports = sorted(await reports_of(stack, timing.run_uuid), key=lambda r: r["started_at"])
        executing = sum(r["execution_seconds"] for r in reports)
        per_run.append((timing.wall - executing) / steps)
        for before, after in itertools.pairwise(reports):
            gap = datetime.fromisoformat(after["started_at"]) - datetime.fromisoformat(
                before["finished_at"]
            )
            gaps.append(gap.total_seconds())
    value = p50(per_run)
    ratio = value / floor_rr
    return Figure(
        name=f"1. per-step overhead, {steps}-step chain of .sh",
        value=(
            f"{value * MS:.2f} ms/step (gap p50 {p50(gaps) * MS:.2f},"
            f" p99 {percentile(gaps, 0.99) * MS:.2f} ms)"
        ),
        floor=f"NATS request/reply p50 {floor_rr * MS:.3f} ms",
        ratio=ratio,
        target="<= 2.5x",
        met=ratio <= 2.5,
        how=(
            f"{runs} runs (after a warm-up) of a chain of {steps} `.sh` steps running `:`;"
            " per run (wall time from POST to the final run event - the sum of the steps'"
            " own execution times, measured by the runner around the executor) / steps; the"
            " median over runs. Gap: from one step's end to the next step's start (runner"
            " clocks), over all runs. Floor: p50 of 2000 NATS request/replies on the same"
            " server between two connections of the bench process."
        ),
    )


async def fork_exec_rate(root: Path, n: int, concurrency: int) -> float:
    """Steps per second when the bench just forks and execs them, ``concurrency`` at once."""
    semaphore = asyncio.Semaphore(concurrency)

    async def one() -> None:
        async with semaphore:
            proc = await asyncio.create_subprocess_exec(
                "bash",
                str(root / "noop.sh"),
                cwd=root,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
                start_new_session=True,
            )
            await proc.communicate()

    t0 = time.perf_counter()
    await asyncio.gather(*(one() for _ in range(n)))
    return n / (time.perf_counter() - t0)


async def fan_out(stack: Stack, slots: int, steps: int = 1000, runs: int = 3) -> Figure:
    root = project_dir("fanout")
    pipeline = Pipeline(root)
    for i in range(steps):
        pipeline.add(f"f{i:04d}", "noop.sh")
    floors = [await fork_exec_rate(root, steps, slots) for _ in range(runs)]
    rates = []
    for _ in range(runs):
        timing = await run_pipeline(stack, pipeline.fresh())
        assert timing.status == "SUCCESS", timing
        rates.append(steps / timing.wall)
    value, floor = p50(rates), p50(floors)
    ratio = value / floor
    return Figure(
        name=f"2. fan-out throughput, {steps} independent steps, 2 runners",
        value=f"{value:.0f} steps/s",
        floor=f"fork+exec {floor:.0f} steps/s",
        ratio=ratio,
        target=">= 0.5x",
        met=ratio >= 0.5,
        how=(
            f"{steps} independent `.sh` steps in one run, 2 runner processes of 4 slots;"
            f" steps / (POST to final run event); median of {runs}. Floor: the bench"
            f" process starting the same {steps} `bash noop.sh` with {slots} at a time"
            " (asyncio subprocesses, output piped), median of as many rounds."
        ),
    )


async def accept_latency(stack: Stack, n: int = 300) -> Figure:
    assert stack.http is not None
    root = project_dir("accept")
    pipeline = Pipeline(root)
    for i in range(10):
        pipeline.add(f"a{i}", "noop.sh", [f"a{i - 1}"] if i else [])
    empty: list[float] = []
    posts: list[float] = []
    created: list[str] = []
    with stack.paused("step-runner"):  # what the runs would start must not compete for the CPUs
        for _ in range(50):
            await stack.http.get("/api/ping")
            response = await stack.http.post("/api/runs", json=pipeline.body())
            created.append(response.json()["uuid"])
        for _ in range(n):
            t0 = time.perf_counter()
            response = await stack.http.get("/api/ping")
            empty.append(time.perf_counter() - t0)
            body = pipeline.body()
            t0 = time.perf_counter()
            response = await stack.http.post("/api/runs", json=body)
            posts.append(time.perf_counter() - t0)
            assert response.status_code == 201, response.text
            created.append(response.json()["uuid"])
        for run_uuid in created:
            await stack.http.delete(f"/api/runs/{run_uuid}")
    value, floor, tail = p50(posts), p50(empty), percentile(posts, 0.99)
    ratio = value / floor
    return Figure(
        name="3. gateway accept latency, 10-step pipeline",
        value=f"p50 {value * MS:.2f} ms, p99 {tail * MS:.2f} ms",
        floor=f"empty GET p50 {floor * MS:.2f} ms",
        ratio=ratio,
        target="p50 <= 3x, p99 <= 2 ms",
        met=ratio <= 3 and tail <= 0.002,
        how=(
            f"{n} `POST /api/runs` of a 10-step chain, one at a time over one keep-alive"
            " connection (httpx), each timed from send to the 201, after 50 warm-up requests;"
            " the step runners are paused (SIGSTOP) meanwhile so the runs they would start do"
            " not compete for the two cores, and the runs are aborted after. Floor:"
            " `GET /api/ping` (an empty Starlette endpoint of the same gateway), interleaved."
        ),
    )


FINAL = ("SUCCESS", "FAILURE", "ABORTED")


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
                if event["kind"] == "run_status_changed" and event["status"] in FINAL:
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


NOTEBOOK = {
    "nbformat": 4,
    "nbformat_minor": 5,
    "metadata": {
        "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}
    },
    "cells": [
        {
            "cell_type": "code",
            "id": "c1",
            "metadata": {},
            "source": "print(1 + 1)",
            "outputs": [],
            "execution_count": None,
        }
    ],
}


def bare_nbclient(path: Path) -> float:
    import nbformat
    from nbclient import NotebookClient

    t0 = time.perf_counter()
    notebook = nbformat.read(str(path), as_version=4)
    NotebookClient(
        notebook, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
    ).execute()
    return time.perf_counter() - t0


async def notebook_step(stack: Stack, runs: int = 7) -> Figure:
    root = project_dir("notebook")
    (root / "one.ipynb").write_text(json.dumps(NOTEBOOK))
    pipeline = Pipeline(root)
    pipeline.add("nb", "one.ipynb")
    await run_pipeline(stack, pipeline.fresh())
    bare_nbclient(root / "one.ipynb")
    ours, bare = [], []
    for _ in range(runs):
        timing = await run_pipeline(stack, pipeline.fresh())
        assert timing.status == "SUCCESS", timing
        ours.append(timing.wall)
        bare.append(await asyncio.to_thread(bare_nbclient, root / "one.ipynb"))
    value, floor, tail = p50(ours), p50(bare), percentile(ours, 0.99)
    ratio = value / floor
    return Figure(
        name="5. notebook step, 1 cell",
        value=f"p50 {value * MS:.0f} ms, p99 {tail * MS:.0f} ms",
        floor=f"bare nbclient p50 {floor * MS:.0f} ms",
        ratio=ratio,
        target="<= 1.25x, p99 < 1.5 s",
        met=ratio <= 1.25 and tail < 1.5,
        how=(
            f"{runs} runs of a one-step pipeline whose notebook prints `1 + 1`, from POST to"
            " the final run event; after a warm-up. Floor: the bench process executing the"
            " same notebook with nbclient (kernel start, execute, shutdown), interleaved."
        ),
    )


def timed_cli(*args: str) -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "orchest_cli", *args], check=True, capture_output=True)
    return time.perf_counter() - t0


async def embedded_servers_start(root: Path) -> float:
    from orchest_cli.embedded import EmbeddedNats, EmbeddedPostgres

    t0 = time.perf_counter()
    nats_server = EmbeddedNats(root / "nats", root / "nats.log")
    postgres = EmbeddedPostgres(root / "pg", root / "pg.log")
    await asyncio.gather(nats_server.start(), postgres.start())
    elapsed = time.perf_counter() - t0
    await postgres.stop()
    await nats_server.stop()
    return elapsed


async def startup(runs: int = 3) -> list[Figure]:
    from orchest_cli.embedded import free_port

    cold, warm, floor_cold, floor_warm = [], [], [], []
    with tempfile.TemporaryDirectory(prefix="orchest-bench-startup-") as tmp:
        for i in range(runs):
            state = str(Path(tmp) / f"state{i}")
            port = str(free_port())
            cold.append(
                await asyncio.to_thread(timed_cli, "up", "--state-dir", state, "--port", port)
            )
            await asyncio.to_thread(timed_cli, "down", "--state-dir", state)
            warm.append(
                await asyncio.to_thread(timed_cli, "up", "--state-dir", state, "--port", port)
            )
            await asyncio.to_thread(timed_cli, "down", "--state-dir", state)
            servers = Path(tmp) / f"servers{i}"
            floor_cold.append(await embedded_servers_start(servers))
            floor_warm.append(await embedded_servers_start(servers))
    figures = []
    for label, values, floors in (("cold", cold, floor_cold), ("warm", warm, floor_warm)):
        value, floor = p50(values), p50(floors)
        figures.append(
            Figure(
                name=f"7. start-up to healthy, {label}",
                value=f"{value:.2f} s (max {max(values):.2f} s)",
                floor=f"NATS + Postgres alone {floor:.2f} s",
                ratio=value / floor,
                target="a few seconds",
                met=value < 5.0,
                how=(
                    f"`orchest up` on a {'new' if label == 'cold' else 'used'} state directory"
                    " until it returns (it returns once `/api/health` is 200), median of"
                    f" {runs}. Floor: starting the embedded NATS and Postgres alone, together,"
                    " on a directory in the same state."
                ),
            )
        )
    return figures


async def _copy_floor(stack: Stack, rows: int) -> float:
    """Rows per second Postgres takes through COPY into a table shaped like the
    event log, from the bench process: what any event writer is bounded by."""
    conn = await asyncpg.connect(stack.database_url)
    try:
        await conn.execute(
            "CREATE TEMP TABLE floor_log (seq bigserial PRIMARY KEY, event_id text UNIQUE,"
            " kind text, run_uuid uuid, sequence int, occurred_at timestamptz, payload jsonb)"
        )
        run_uuid = uuid.uuid4()
        now = datetime.now().astimezone()
        payload = json.dumps({"kind": "step_status_changed", "status": "SUCCESS", "pad": "x" * 300})
        records = [
            (uuid.uuid4().hex, "step_status_changed", run_uuid, i, now, payload)
            for i in range(rows)
        ]
        t0 = time.perf_counter()
        for start in range(0, rows, 512):
            await conn.copy_records_to_table(
                "floor_log",
                records=records[start : start + 512],
                columns=["event_id", "kind", "run_uuid", "sequence", "occurred_at", "payload"],
            )
        return rows / (time.perf_counter() - t0)
    finally:
        await conn.close()


async def _event_rows(stack: Stack) -> int:
    conn = await asyncpg.connect(stack.database_url)
    try:
        count: int = await conn.fetchval("SELECT count(*) FROM scheduler.event_log")
        return count
    finally:
        await conn.close()


async def persistence(stack: Stack, steps: int = 2000) -> Figure:
    """A backlog of reports applied by the real scheduler: events persisted per second."""
    assert stack.nc is not None and stack.http is not None
    root = project_dir("persist")
    pipeline = Pipeline(root)
    for i in range(steps):
        pipeline.add(f"p{i:04d}", "noop.sh")
    js = stack.nc.jetstream()
    with stack.paused("step-runner"):
        response = await stack.http.post("/api/runs", json=pipeline.body())
        run_uuid = response.json()["uuid"]
        keys = list(pipeline.steps)
        for start in range(0, steps, 200):  # the bench claims every step, as a runner would
            claims = [
                request_command(
                    stack.nc,
                    stack.bus.claim_step,
                    ClaimStep(run_uuid=run_uuid, step_uuid=k, attempt=1, runner_id="bench"),
                    StepClaim,
                    timeout=30,
                )
                for k in keys[start : start + 200]
            ]
            assert all(c.granted for c in await asyncio.gather(*claims))
        done: asyncio.Future[float] = asyncio.get_running_loop().create_future()

        async def on_event(msg: Any) -> None:
            event = json.loads(msg.data)
            final = event.get("kind") == "run_status_changed" and event["status"] in FINAL
            if final and not done.done():
                done.set_result(time.perf_counter())

        status_subject = stack.bus.run_event(pipeline.uuid, run_uuid)
        sub = await stack.nc.subscribe(status_subject, cb=on_event)
        with stack.paused("scheduler"):
            reports = [
                StepAttemptFinished(
                    run_uuid=run_uuid,
                    step_uuid=k,
                    attempt=1,
                    status=StepStatus.SUCCESS,
                    exit_code=0,
                    runner_id="bench",
                )
                for k in keys
            ]
            for start in range(0, steps, 500):
                await asyncio.gather(
                    *(
                        js.publish(
                            stack.bus.step_report(r.run_uuid, r.step_uuid),
                            r.to_bytes(),
                            headers={"Nats-Msg-Id": r.report_id},
                        )
                        for r in reports[start : start + 500]
                    )
                )
            before = await _event_rows(stack)
            t0 = time.perf_counter()
        ended = await asyncio.wait_for(done, 300)
        await sub.unsubscribe()
        persisted = await _event_rows(stack) - before
    rate = persisted / (ended - t0)
    floor = await _copy_floor(stack, persisted)
    return Figure(
        name=f"6. status persistence, a backlog of {steps} reports",
        value=f"{rate:,.0f} events/s ({persisted} rows)",
        floor=f"COPY {floor:,.0f} rows/s",
        ratio=rate / floor,
        target=">= 20k/s",
        met=rate >= 20_000,
        how=(
            f"a run of {steps} independent steps, claimed by the bench (runners paused); with"
            f" the scheduler paused (SIGSTOP), {steps} SUCCESS reports are published to the"
            " REPORTS stream; from the scheduler's resume to the run's final event, the rows"
            " added to `scheduler.event_log` (each report, each step event, the run event)"
            " per second. Floor: COPY of as many event-log-shaped rows by the bench process,"
            " 512 a batch, into a table with the same keys."
        ),
    )


async def _interactive_runs(stack: Stack, pipeline: Pipeline, runs: int, in_flight: int) -> float:
    """Runs per second of ``runs`` runs of the pipeline, ``in_flight`` at a time."""
    gate = asyncio.Semaphore(in_flight)

    async def one() -> None:
        async with gate:
            timing = await run_pipeline(stack, pipeline.fresh())
            assert timing.status == "SUCCESS", timing

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
    return Figure(
        name=f"8. job of {runs} parameter sets, one step each",
        value=f"{value:.1f} runs/s",
        floor=f"interactive runs {floor:.1f} runs/s",
        ratio=ratio,
        target=">= 0.8x",
        met=ratio >= 0.8,
        how=(
            f"a job of {runs} parameter sets of a one-step `.sh` pipeline (no schedule: it runs"
            " now), from POST /api/jobs to the job's SUCCESS event; each run gets its own"
            " workspace copied from the job's snapshot and goes through the admission (8 job"
            f" runs at most) and the job slots ({job_slots}: 2 runners x 2). Floor: the same"
            f" {runs} runs POSTed as interactive runs, {job_slots} at a time (as many as the"
            " job slots), each from POST to its final event; interleaved, median of 2."
        ),
    )
