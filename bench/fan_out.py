"""Figure 2: the throughput of a fan-out of independent steps, against the
bench forking and execing them itself."""

from __future__ import annotations

import asyncio
import os
import resource
import time
from pathlib import Path

from .contract_floor import contract_floor
from .harness import Pipeline, Stack, p50, project_dir, run_pipeline, run_script, stack_cpu
from .report import MS, Figure


async def fork_exec_rate(root: Path, n: int, concurrency: int) -> float:
    """Steps per second when the bench just forks and execs them, ``concurrency`` at once."""
    semaphore = asyncio.Semaphore(concurrency)

    async def one() -> None:
        async with semaphore:
            await run_script(root, "noop.sh")

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
    io_rate, io_cpu = await _guarantees_alone(stack, root, steps, slots, runs)
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
        floor=(
            f"fork+exec {floor:.0f} steps/s; the guarantees' I/O alone {io_rate:.0f} steps/s"
            f" ({io_rate / floor:.2f}x fork+exec), CPU {sum(io_cpu.values()):.2f} ms/step"
            f" ({', '.join(f'{name} {v:.2f}' for name, v in io_cpu.items())})"
        ),
        ratio=ratio,
        at_least=0.5,
        how=(
            f"{steps} independent `.sh` steps in one run, 2 runner processes of 4 slots;"
            f" steps / (POST to final run event); median of {runs}. Floor: the bench"
            f" process starting the same {steps} `bash noop.sh` with {slots} at a time"
            " (asyncio subprocesses, output piped), median of as many rounds. CPU: user +"
            " system of every process of the stack and its live children (a runner's"
            " guardian and view holder; not the steps' own processes, gone by then) over"
            f" the runs, per step, in ms. The guarantees' I/O alone, after: the bench process"
            f" running the same {steps} steps {slots} at a time with only the I/O the"
            " reliability contract requires around each (the run's rows written, at most"
            " `MAX_QUEUED` work messages published and the rest held; per queued step a pull"
            " and the claim as a NATS request whose responder commits an `UPDATE`; per step"
            " the spawn and the report as a NATS request answered, with a held step when one"
            " is left, once its decision is committed, the reports waiting meanwhile decided"
            " together by one statement and commit; `bench/contract_floor.py`), median of"
            " as many rounds; its CPU: the bench process (without the steps' own processes),"
            " NATS and Postgres, per step."
            f" Load average (1 min) at the end: {load:.1f}."
        ),
    )


async def _guarantees_alone(
    stack: Stack, root: Path, steps: int, lanes: int, runs: int
) -> tuple[float, dict[str, float]]:
    """The rate of the contract's I/O alone around the same steps, and its CPU
    per step (ms) in the bench process, NATS and Postgres."""

    def cpu() -> dict[str, float]:
        own = resource.getrusage(resource.RUSAGE_SELF)
        servers = stack_cpu(stack)
        return {
            "bench": own.ru_utime + own.ru_stime,
            "nats": servers.get("nats", 0.0),
            "postgres": servers.get("postgres", 0.0),
        }

    rates = []
    async with contract_floor(stack) as io:
        before = cpu()
        for _ in range(runs):
            rates.append(steps / await io.fan_out(root, "noop.sh", steps, lanes))
        after = cpu()
    per_step = {name: (after[name] - before[name]) / (steps * runs) * MS for name in after}
    return p50(rates), per_step
