"""Where one step of a chain spends its time: ``python -m bench.trace``.

A plain NATS subscriber timestamps every report request and its answer (which
hands the next step of the chain to the runner) of a 60-step chain of ``.sh``
steps; the reports give when each process started and ended. Prints the p50
and max of each segment.

``python -m bench.trace --profile DIR`` also records the runner and the
scheduler with ``py-spy`` (the bench group: ``uv sync --group bench``; root
or ``ptrace`` allowed) during the traced chain, and prints the functions
holding the most samples of each (``DIR`` keeps the collapsed stacks, which
``flamegraph.pl`` or speedscope read).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import itertools
import signal
import statistics
import time
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any

from .harness import Pipeline, Stack, project_dir, run_pipeline, running_stack

PROFILED = ("step-runner", "scheduler")
"""The stack's processes ``--profile`` records (by name prefix)."""

SEGMENTS = (
    # (label, (step, event) it starts at, (step, event) it ends at): step 0 is a
    # step of the chain, step 1 the next one.
    ("process ended -> report request on the bus", (0, "exec_end"), (0, "report")),
    ("report -> answer handing the next step over", (0, "report"), (1, "handed")),
    ("answer -> next process started", (1, "handed"), (1, "exec_start")),
    ("process ended -> next process started", (0, "exec_end"), (1, "exec_start")),
)


@contextlib.asynccontextmanager
async def profiled(
    stack: Stack, folder: Path | None, prefixes: tuple[str, ...] = PROFILED
) -> AsyncIterator[None]:
    """``py-spy record`` on each process named ``prefixes*`` meanwhile (none:
    ``folder`` None)."""
    if folder is None:
        yield
        return
    spies = []
    for prefix in prefixes:
        for pid in stack.pids(prefix):
            spy = await asyncio.create_subprocess_exec(
                "py-spy",
                "record",
                "--pid",
                str(pid),
                "--rate",
                "250",
                "--gil",  # CPU: only the thread holding the GIL, not the waiting ones
                "--format",
                "raw",
                "--output",
                str(folder / f"{prefix}-{pid}.txt"),
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.DEVNULL,
            )
            spies.append(spy)
    await asyncio.sleep(1.0)  # py-spy attaches
    try:
        yield
    finally:
        for spy in spies:
            spy.send_signal(signal.SIGINT)
        await asyncio.gather(*(spy.wait() for spy in spies))


def summary(collapsed: Path, top: int = 25) -> str:
    """The functions with the most samples (anywhere on the stack, and on top)."""
    inclusive: collections.Counter[str] = collections.Counter()
    own: collections.Counter[str] = collections.Counter()
    total = 0
    for line in collapsed.read_text().splitlines():
        stack, _, text = line.rpartition(" ")
        frames, samples = stack.split(";"), int(text)
        total += samples
        for frame in set(frames):
            inclusive[frame] += samples
        own[frames[-1]] += samples
    lines = [f"{collapsed.name}: {total} samples"]
    for name, counter in (("inclusive", inclusive), ("own", own)):
        lines.append(f"  {name}:")
        for frame, held in counter.most_common(top):
            lines.append(f"    {held / max(total, 1):6.1%}  {frame}")
    return "\n".join(lines)


async def main(steps: int = 60, profile: Path | None = None) -> None:
    async with running_stack(runners=1) as stack:
        assert stack.nc is not None
        pipeline = Pipeline(project_dir("trace"))
        for i in range(steps):
            pipeline.add(f"s{i:03d}", "noop.sh", [f"s{i - 1:03d}"] if i else [])
        await run_pipeline(stack, pipeline.fresh())  # warm-up
        seen: list[tuple[float, str, bytes]] = []

        async def record(msg: Any) -> None:
            seen.append((time.time(), msg.subject, msg.data))

        for subject in (stack.bus.report_step, "_INBOX.>"):
            await stack.nc.subscribe(subject, cb=record)
        async with profiled(stack, profile):
            await run_pipeline(stack, pipeline.fresh())
        await asyncio.sleep(0.3)
    rows = _rows(seen)
    keys = sorted(rows)
    print(f"{steps}-step chain of .sh steps, one runner")
    for label, (first, start), (second, stop) in SEGMENTS:
        values = []
        for pair in itertools.pairwise(keys):
            a, b = rows[pair[first]], rows[pair[second]]
            if start in a and stop in b:
                values.append(b[stop] - a[start])
        if values:
            print(
                f"{label:42s} p50 {statistics.median(values) * 1000:6.2f} ms"
                f"  max {max(values) * 1000:6.2f} ms"
            )


def _rows(seen: list[tuple[float, str, bytes]]) -> dict[str, dict[str, float]]:
    import json

    rows: dict[str, dict[str, float]] = {}
    for at, subject, data in seen:
        try:
            body = json.loads(data)
        except ValueError:
            continue
        if subject == "" or not isinstance(body, dict):
            continue
        if subject.endswith("steps.report"):
            report = body["report"]
            row = rows.setdefault(report["step_uuid"], {})
            row["report"] = at
            row["exec_start"] = datetime.fromisoformat(report["started_at"]).timestamp()
            row["exec_end"] = datetime.fromisoformat(report["finished_at"]).timestamp()
        elif subject.startswith("_INBOX") and body.get("work"):
            rows.setdefault(body["work"]["step_uuid"], {})["handed"] = at
    return rows


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m bench.trace")
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--profile", type=Path, help="py-spy the runner and scheduler, into DIR")
    args = parser.parse_args()
    if args.profile is not None:
        args.profile.mkdir(parents=True, exist_ok=True)
    asyncio.run(main(args.steps, args.profile))
    if args.profile is not None:
        for collapsed in sorted(args.profile.glob("*.txt")):
            print(summary(collapsed))
