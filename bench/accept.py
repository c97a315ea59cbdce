"""Figure 3: the gateway's latency accepting a run, against an empty GET."""

from __future__ import annotations

import time

from .harness import Pipeline, Stack, p50, percentile, project_dir
from .report import MS, Figure


async def accept_latency(stack: Stack, n: int = 300) -> Figure:
    assert stack.http is not None
    root = project_dir("accept")
    pipeline = Pipeline(root)
    for i in range(10):
        pipeline.add(f"a{i}", "noop.sh", [f"a{i - 1}"] if i else [])
    empty: list[float] = []
    posts: list[float] = []
    fresh: list[float] = []
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
            # A pipeline never run before: nothing of it known to the gateway
            # or the scheduler (its body, its checks, its stored definition).
            body = pipeline.body()
            body["pipeline_definition"]["name"] = f"bench {len(fresh)}"
            t0 = time.perf_counter()
            response = await stack.http.post("/api/runs", json=body)
            fresh.append(time.perf_counter() - t0)
            assert response.status_code == 201, response.text
            created.append(response.json()["uuid"])
        for run_uuid in created:
            await stack.http.delete(f"/api/runs/{run_uuid}")
    value, floor, tail = p50(posts), p50(empty), percentile(posts, 0.99)
    ratio = value / floor
    return Figure(
        name="3. gateway accept latency, 10-step pipeline",
        value=(
            f"p50 {value * MS:.2f} ms, p99 {tail * MS:.2f} ms; a pipeline never run before:"
            f" p50 {p50(fresh) * MS:.2f} ms ({p50(fresh) / floor:.2f}x)"
        ),
        floor=f"empty GET p50 {floor * MS:.2f} ms",
        ratio=ratio,
        target="p50 <= 3x, p99 <= 2 ms",
        met=ratio <= 3 and tail <= 0.002,
        how=(
            f"{n} `POST /api/runs` of a 10-step chain, one at a time over one keep-alive"
            " connection (httpx), each timed from send to the 201, after 50 warm-up requests;"
            " the step runners are paused (SIGSTOP) meanwhile so the runs they would start do"
            " not compete for the two cores, and the runs are aborted after. The same body each"
            " time, as a pipeline run again unchanged sends it (the gateway and the scheduler"
            " keep what they found of a body and a definition they saw lately); interleaved,"
            " as many POSTs of a pipeline never run before (a new definition each: nothing"
            " kept applies, its definition is stored). Floor: `GET /api/ping` (an empty"
            " Starlette endpoint of the same gateway), interleaved."
        ),
    )
