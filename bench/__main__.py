"""``make bench``: every figure, printed and written to ``docs/performance.md``."""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Callable
from pathlib import Path

from . import (
    accept,
    dashboard,
    docker_step,
    fan_out,
    job_grid,
    live,
    overhead,
    persistence,
    replicas,
    scale,
    sse_fanout,
    startup,
    warm_kernels,
)
from .harness import nats_round_trip, p50, running_stack
from .report import Figure, machine, table, write_docs

DOCS = Path(__file__).resolve().parent.parent / "docs" / "performance.md"
SHARED_STACK = (1, 2, 3, 4, 5, 6, 8, 11, 12, 13, 14, 15)
"""The figures measured on one stack of two runners (process executor)."""


async def _on_shared_stack(wanted: Callable[[int], bool], show: Callable[[Figure], None]) -> None:
    """Figures 1-6, 8 and 11-15, on one stack started once."""
    async with running_stack(runners=2) as stack:
        if wanted(13):
            show(await scale.idle_memory(stack))
        floor_rr = p50(await nats_round_trip(stack))
        if wanted(1):
            show(await overhead.overhead(stack))
        if wanted(2):
            show(await fan_out.fan_out(stack, slots=8))
        if wanted(3):
            show(await accept.accept_latency(stack))
        if wanted(4):
            show(await live.live_latency(stack, floor_rr))
        if wanted(5):
            show(await warm_kernels.warm_notebook_step(stack))
        if wanted(6):
            show(await persistence.persistence(stack))
        if wanted(8):
            show(await job_grid.job_grid(stack))
        if wanted(12):
            show(await scale.concurrent_runs(stack))
        if wanted(11):
            for figure in await sse_fanout.sse_fanout(stack):
                show(figure)
        if wanted(14):
            show(await warm_kernels.notebook_chain(stack))
        if wanted(15):
            for figure in await dashboard.dashboard(stack):
                show(figure)


async def main(write: bool, only: set[int]) -> None:
    t0 = time.perf_counter()
    results: list[Figure] = []

    def wanted(number: int) -> bool:
        return not only or number in only

    def show(figure: Figure) -> None:
        results.append(figure)
        print(table([figure]), flush=True)

    if any(wanted(n) for n in SHARED_STACK):
        await _on_shared_stack(wanted, show)
    if wanted(7):
        results += await startup.startup()
    if wanted(9):
        show(await docker_step.docker_step())
    if wanted(10):
        for figure in await replicas.replicas():
            show(figure)
    if wanted(11):
        for figure in await sse_fanout.sse_fanout_replicas(gateways=2):
            show(figure)
    seconds = time.perf_counter() - t0
    print(f"\n{machine()}, {seconds:.0f} s\n")
    print(table(results))
    if write and not only:
        write_docs(DOCS, results, seconds)
        print(f"\nwritten to {DOCS}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("--no-write", action="store_true", help="print only")
    parser.add_argument("--only", default="", help="figure numbers, e.g. 1,3 (prints only)")
    args = parser.parse_args()
    only = {int(n) for n in args.only.split(",") if n.strip()}
    asyncio.run(main(write=not args.no_write, only=only))
