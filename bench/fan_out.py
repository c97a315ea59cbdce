"""Figure 2: the throughput of a fan-out of independent steps, against the
bench forking and execing them itself."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

from .harness import Pipeline, Stack, p50, project_dir, run_pipeline, stack_cpu
from .report import MS, Figure


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
    before = stack_cpu(stack)
    for _ in range(runs):
        timing = await run_pipeline(stack, pipeline.fresh())
        rates.append(steps / timing.wall)
    after = stack_cpu(stack)
    value, floor = p50(rates), p50(floors)
    ratio = value / floor
    per_step = {
        name: (after[name] - before.get(name, 0.0)) / (steps * runs) * MS
        for name in after
        if name != "supervisor"
    }
    runners = sum(v for name, v in per_step.items() if name.startswith("step-runner"))
    parts = {
        "runners": runners,
        **{name: v for name, v in per_step.items() if not name.startswith("step-runner")},
    }
    shown = ", ".join(f"{name} {v:.2f}" for name, v in parts.items() if v >= 0.005)
    load = os.getloadavg()[0]
    return Figure.bounded(
        name=f"2. fan-out throughput, {steps} independent steps, 2 runners",
        value=f"{value:.0f} steps/s; CPU {sum(parts.values()):.2f} ms/step ({shown})",
        floor=f"fork+exec {floor:.0f} steps/s",
        ratio=ratio,
        at_least=0.5,
        how=(
            f"{steps} independent `.sh` steps in one run, 2 runner processes of 4 slots;"
            f" steps / (POST to final run event); median of {runs}. Floor: the bench"
            f" process starting the same {steps} `bash noop.sh` with {slots} at a time"
            " (asyncio subprocesses, output piped), median of as many rounds. CPU: user +"
            " system of every process of the stack and its live children (a runner's"
            " guardian and view holder; not the steps' own processes, gone by then) over"
            f" the runs, per step, in ms. Load average (1 min) at the end: {load:.1f}."
        ),
    )
