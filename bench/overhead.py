"""Figure 1: the per-step overhead of a chain of no-op steps, against a NATS
request/reply."""

from __future__ import annotations

import itertools
from datetime import datetime

from .harness import Pipeline, Stack, p50, percentile, project_dir, reports_of, run_pipeline
from .report import MS, Figure


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
