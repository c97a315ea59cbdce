"""What a step of a chain costs each process of the stack, in CPU:
``python -m bench.chain_cpu [STEPS] [CHAINS]``.

Starts a stack with one runner, runs a chain of ``STEPS`` ``.sh`` steps once
to warm up, then ``CHAINS`` more, and prints the median period and each
process's user + system CPU over those chains (``stack_cpu``, children
included) per step. Unlike figure 2 (a fan-out, whose claims and reports
come in batches), every decision here is one input: the per-step cost of
the scheduler and the runner is not shared.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys

from .harness import Pipeline, project_dir, run_pipeline, running_stack, stack_cpu
from .report import MS

SKIPPED = ("supervisor", "session-manager")
"""Processes not on a step's path (the supervisor counts its children)."""


async def main(steps: int, chains: int) -> None:
    async with running_stack(runners=1) as stack:
        pipeline = Pipeline(project_dir("chain-cpu"))
        for i in range(steps):
            pipeline.add(f"s{i:03d}", "noop.sh", [f"s{i - 1:03d}"] if i else [])
        await run_pipeline(stack, pipeline.fresh())  # warm-up
        before = stack_cpu(stack)
        walls = [(await run_pipeline(stack, pipeline.fresh())).wall for _ in range(chains)]
        after = stack_cpu(stack)
    per_step = {
        name: (after[name] - before.get(name, 0.0)) / (steps * chains) * MS
        for name in after
        if name not in SKIPPED
    }
    shown = ", ".join(f"{name} {cpu:.2f}" for name, cpu in per_step.items())
    print(
        f"period {statistics.median(walls) / steps * MS:.2f} ms; CPU ms/step {shown};"
        f" total {sum(per_step.values()):.2f}; load {os.getloadavg()[0]:.1f}"
    )


if __name__ == "__main__":
    arguments = [int(a) for a in sys.argv[1:3]]
    asyncio.run(main(*(arguments + [100, 4][len(arguments) :])))
