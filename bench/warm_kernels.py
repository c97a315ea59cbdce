"""Figures 5 and 14: notebook steps on warm kernels (the runners' kernel pools,
``executor/kernel_pool.py``), against a bare nbclient run and against the
same chain on a stack whose runners start a kernel per step."""

from __future__ import annotations

import asyncio
import json
import os

from .harness import (
    Pipeline,
    Stack,
    p50,
    percentile,
    project_dir,
    reports_of,
    run_pipeline,
    running_stack,
)
from .notebook_step import NOTEBOOK, bare_nbclient
from .report import MS, Figure

COLD = {"ORCHEST_KERNEL_POOL_SIZE": "0"}
"""The cold stack's runners: no pool, a kernel started for each notebook step."""
CHAIN_STEPS = 10


def _load() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.1f} (5 min {five:.1f}) on {len(os.sched_getaffinity(0))} CPUs"


def _notebook_project(name: str, steps: int) -> Pipeline:
    root = project_dir(name)
    (root / "one.ipynb").write_text(json.dumps(NOTEBOOK))
    pipeline = Pipeline(root)
    for i in range(steps):
        pipeline.add(f"nb{i}", "one.ipynb", [f"nb{i - 1}"] if i else [])
    return pipeline


async def _executions(stack: Stack, run_uuid: str) -> list[float]:
    return [r["execution_seconds"] for r in await reports_of(stack, run_uuid)]


async def warm_notebook_step(stack: Stack, runs: int = 9) -> Figure:
    pipeline = _notebook_project("warm-notebook", 1)
    path = pipeline.root / "one.ipynb"
    for _ in range(4):  # each runner learns the kernel, and fills its pool
        await run_pipeline(stack, pipeline.fresh())
    await asyncio.to_thread(bare_nbclient, path)
    ours, bare, executing = [], [], []
    for _ in range(runs):
        timing = await run_pipeline(stack, pipeline.fresh())
        ours.append(timing.wall)
        executing += await _executions(stack, timing.run_uuid)
        # Interleaved: the pool refills meanwhile, as it does between a user's runs.
        bare.append(await asyncio.to_thread(bare_nbclient, path))
    value, floor, tail = p50(ours), p50(bare), percentile(ours, 0.99)
    ratio = value / floor
    return Figure.bounded(
        name="5. notebook step, 1 cell, warm kernel",
        value=(
            f"p50 {value * MS:.0f} ms, p99 {tail * MS:.0f} ms"
            f" (the step itself p50 {p50(executing) * MS:.0f} ms)"
        ),
        floor=f"bare nbclient p50 {floor * MS:.0f} ms",
        ratio=ratio,
        at_most=0.3,
        note=" (moonshot 0.1x)",
        how=(
            f"{runs} runs of a one-step pipeline whose notebook prints `1 + 1`, from POST to"
            " the final run event, on runners whose kernel pools (default size) hold ready"
            " kernels after 4 warm-up runs; in brackets the step's execution as its runner"
            " timed it. Floor: the bench process executing the same notebook with nbclient"
            f" (kernel start, execute, shutdown), interleaved; {_load()} at the end."
        ),
    )


async def notebook_chain(stack: Stack, runs: int = 3) -> Figure:
    pipeline = _notebook_project("notebook-chain", CHAIN_STEPS)
    pooled: list[float] = []
    cold: list[float] = []
    async with running_stack(runners=2, env=COLD) as cold_stack:
        await run_pipeline(stack, pipeline.fresh())  # warm-ups
        await run_pipeline(cold_stack, pipeline.fresh())
        for _ in range(runs):  # interleaved: the pools refill during the cold chain
            for target, walls in ((stack, pooled), (cold_stack, cold)):
                timing = await run_pipeline(target, pipeline.fresh())
                walls.append(timing.wall)
    value, floor = p50(pooled), p50(cold)
    ratio = value / floor
    return Figure(
        name=f"14. chain of {CHAIN_STEPS} one-cell notebooks, pooled",
        value=f"p50 {value * MS:.0f} ms ({value / CHAIN_STEPS * MS:.0f} ms a step)",
        floor=f"cold p50 {floor * MS:.0f} ms ({floor / CHAIN_STEPS * MS:.0f} ms a step)",
        ratio=ratio,
        target="report (vs the same chain cold)",
        met=None,
        how=(
            f"{runs} runs of a chain of {CHAIN_STEPS} steps each running the one-cell notebook,"
            " from POST to the final run event, on the shared stack (kernel pools of the"
            " default size) and on a second stack of two runners with"
            " `ORCHEST_KERNEL_POOL_SIZE=0` (a kernel started for each step), interleaved after"
            f" a warm-up run on each; {_load()} at the end."
        ),
    )
