"""``make bench``: every figure, printed and written to ``docs/performance.md``."""

from __future__ import annotations

import argparse
import asyncio
import time
from pathlib import Path

from . import figures
from .harness import p50, running_stack
from .report import Figure, machine, table, write_docs

DOCS = Path(__file__).resolve().parent.parent / "docs" / "performance.md"


async def main(write: bool) -> None:
    t0 = time.perf_counter()
    results: list[Figure] = []
    async with running_stack(runners=2) as stack:
        floor_rr = p50(await figures.nats_round_trip(stack))
        results.append(await figures.overhead(stack, floor_rr))
        print(table(results[-1:]), flush=True)
        results.append(await figures.fan_out(stack, slots=8))
        print(table(results[-1:]), flush=True)
        results.append(await figures.accept_latency(stack))
        print(table(results[-1:]), flush=True)
        results.append(await figures.live_latency(stack, floor_rr))
        print(table(results[-1:]), flush=True)
        results.append(await figures.notebook_step(stack))
        print(table(results[-1:]), flush=True)
    results += await figures.startup()
    seconds = time.perf_counter() - t0
    print(f"\n{machine()}, {seconds:.0f} s\n")
    print(table(results))
    if write:
        write_docs(DOCS, results, seconds)
        print(f"\nwritten to {DOCS}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("--no-write", action="store_true", help="print only")
    asyncio.run(main(write=not parser.parse_args().no_write))
