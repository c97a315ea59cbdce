"""Figure 10 (issue 7): a fan-out of one-second docker steps run by 1, 2 and 4
step-runner replicas, against the ideal time of that many slots."""

from __future__ import annotations

import asyncio
import math
import os
import tempfile
import time
from collections import Counter
from pathlib import Path

import aiodocker
from aiodocker.exceptions import DockerError

from .docker_step import IMAGE, bare_container
from .harness import Pipeline, Stack, p50, reports_of, run_pipeline, running_stack
from .report import Figure

STEPS = 40
SLEEP_SECONDS = 1.0
SLOTS = 4
"""A runner's default slots (``RunnerSettings.slots``); an interactive run may take all."""
REPLICAS = (1, 2, 4)


def _name(replicas: int) -> str:
    runners = "1 runner" if replicas == 1 else f"{replicas} runners"
    return f"10. fan-out of {STEPS} docker steps of 1 s, {runners}"


def ideal_seconds(replicas: int, bare: float) -> float:
    """Waves of ``SLOTS x replicas`` sleeping steps, plus one container's start-stop."""
    return math.ceil(STEPS / (SLOTS * replicas)) * SLEEP_SECONDS + bare


async def engine_fan_out(docker: aiodocker.Docker, image: str, root: Path, at_once: int) -> float:
    """The Docker engine alone: ``STEPS`` bare containers of ``sleep.py``,
    ``at_once`` at a time (as many as the runners' slots): seconds."""
    gate = asyncio.Semaphore(at_once)

    async def one() -> None:
        async with gate:
            await bare_container(docker, image, root, "sleep.py")

    t0 = time.perf_counter()
    await asyncio.gather(*(one() for _ in range(STEPS)))
    return time.perf_counter() - t0


async def _all_runners_up(stack: Stack, replicas: int, timeout: float = 60.0) -> None:
    """Wait until ``/api/health`` lists every runner replica."""
    assert stack.http is not None
    deadline = time.monotonic() + timeout
    while True:
        services = (await stack.http.get("/api/health")).json().get("services", [])
        up = [i for s in services if s["name"] == "step-runner" for i in s["instances"]]
        if len(up) >= replicas:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"{len(up)} of {replicas} step runners up after {timeout:.0f} s")
        await asyncio.sleep(0.2)


def _replica_of(stack: Stack, runner_id: str) -> str:
    """The stack's process name (``step-runner-2``) of a runner id ``<host>:<pid>:<id>``."""
    pid = int(runner_id.split(":")[1])
    names = [name for name, p in stack.processes.items() if int(p["pid"]) == pid]
    return names[0] if names else runner_id


async def _who_ran(stack: Stack, run_uuid: str, steps: list[str]) -> Counter[str]:
    """Steps per replica, from the runners' reports; every step ran once and succeeded."""
    reports = await reports_of(stack, run_uuid)
    ran = sorted(r["step_uuid"] for r in reports)
    assert ran == sorted(steps), f"steps reported: {len(ran)} of {len(steps)}"
    failed = [r for r in reports if r["status"] != "SUCCESS"]
    assert not failed, failed
    return Counter(_replica_of(stack, r["runner_id"]) for r in reports)


async def _measure(replicas: int, image: str, tmp: Path, runs: int) -> Figure:
    root = tmp / f"project-{replicas}"
    root.mkdir()
    (root / "sleep.py").write_text(f"import time\n\ntime.sleep({SLEEP_SECONDS})\n")
    (root / "noop.py").write_text("pass\n")
    fan_out = Pipeline(root)
    for i in range(STEPS):
        fan_out.add(f"s{i:02d}", "sleep.py")
    warm_up = Pipeline(root)
    for i in range(SLOTS * replicas):
        warm_up.add(f"w{i:02d}", "noop.py")
    env = {
        "ORCHEST_EXECUTOR": "docker",
        "ORCHEST_DEFAULT_STEP_IMAGE": image,
        "ORCHEST_DOCKER_DATA_DIR": str(tmp / "data"),
    }
    walls: list[float] = []
    bares: list[float] = []
    engine: list[float] = []
    splits: list[Counter[str]] = []
    async with running_stack(runners=replicas, env=env) as stack, aiodocker.Docker() as docker:
        await _all_runners_up(stack, replicas)
        await run_pipeline(stack, warm_up)
        await bare_container(docker, image, root)
        for _ in range(runs):  # interleaved: both see the same engine and load
            timing = await run_pipeline(stack, fan_out.fresh())
            walls.append(timing.wall)
            splits.append(await _who_ran(stack, timing.run_uuid, list(fan_out.steps)))
            bares.append(await bare_container(docker, image, root))
            engine.append(await engine_fan_out(docker, image, root, SLOTS * replicas))
    value, bare = p50(walls), p50(bares)
    floor = ideal_seconds(replicas, bare)
    waves = math.ceil(STEPS / (SLOTS * replicas))
    median_run = splits[walls.index(sorted(walls)[len(walls) // 2])]
    shared = all(len(split) == replicas for split in splits)
    return Figure(
        name=_name(replicas),
        value=(
            f"{value:.2f} s (runs {min(walls):.2f}-{max(walls):.2f} s); steps per replica"
            f" {'/'.join(str(n) for _, n in sorted(median_run.items()))}"
        ),
        floor=(
            f"{waves} x 1 s + bare container {bare * 1000:.0f} ms = {floor:.2f} s"
            f" (the engine alone, {SLOTS * replicas} at a time: {p50(engine):.2f} s)"
        ),
        ratio=value / floor,
        target="every replica runs steps",
        met=shared,
        how=(
            f"{STEPS} independent `.py` steps that each sleep {SLEEP_SECONDS:.0f} s, one run"
            f" (after a warm-up run of {SLOTS * replicas} no-op steps), in docker steps"
            f" (`ORCHEST_EXECUTOR=docker`, `{image}`), `orchest up --runners {replicas}`,"
            f" each runner with its default {SLOTS} slots; wall time from POST to the final"
            f" run event, median of {runs}. A sleeping step needs no CPU, so the work"
            f" parallelises on 2 cores: the figure shows the scale-out of the slots (and"
            f" what starting containers costs), not CPU contention between the steps."
            f" Floor: the ideal time of {SLOTS * replicas} slots, ceil({STEPS} /"
            f" {SLOTS * replicas}) x 1 s, plus one bare container's create-start-wait-remove"
            " (aiodocker, the same image running a no-op file with the project mounted,"
            f" measured after each run, median); a slot runs its steps' containers one after"
            f" another, so each of the {waves} waves pays a container's start-stop again and"
            " the ratio includes that. In brackets, not in the ratio: the engine alone, the"
            f" bench running the same {STEPS} containers of `sleep.py` through aiodocker,"
            f" {SLOTS * replicas} at a time, after each run, median. Every run is checked"
            " from the runners' reports: each step ran once and succeeded; steps per replica"
            " (runner id -> the stack's process) are those of the median run; met: every"
            " replica ran steps in every run."
        ),
    )


def _not_measured(why: str) -> list[Figure]:
    return [
        Figure(_name(n), f"not measured: {why}", "-", None, "-", None, "needs a Docker engine")
        for n in REPLICAS
    ]


async def replicas(runs: int = 3) -> list[Figure]:
    image = os.environ.get("ORCHEST_DEFAULT_STEP_IMAGE", IMAGE)
    async with aiodocker.Docker() as docker:
        try:
            await docker.images.inspect(image)
        except (DockerError, OSError) as exc:
            return _not_measured(f"{image} not on a Docker engine ({exc}); images/build.sh")
    with tempfile.TemporaryDirectory(prefix="orchest-bench-replicas-") as tmp:
        return [await _measure(n, image, Path(tmp), runs) for n in REPLICAS]


if __name__ == "__main__":
    from .report import table

    print(table(asyncio.run(replicas())))
