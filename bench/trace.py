"""Where one step of a chain spends its time: ``python -m bench.trace``.

A plain NATS subscriber timestamps every report, step work, claim and claim
answer of a 60-step chain of ``.sh`` steps; the runners' reports give when
each process started and ended. Prints the p50 and max of each segment.
"""

from __future__ import annotations

import asyncio
import itertools
import statistics
import time
from datetime import datetime
from typing import Any

from .harness import Pipeline, project_dir, run_pipeline, running_stack

SEGMENTS = (
    # (label, (step, event) it starts at, (step, event) it ends at): step 0 is a
    # step of the chain, step 1 the next one.
    ("process ended -> report on the bus", (0, "exec_end"), (0, "report")),
    ("report -> next step's work on the bus", (0, "report"), (1, "work")),
    ("work -> claim request", (1, "work"), (1, "claim")),
    ("claim -> claim granted", (1, "claim"), (1, "reply")),
    ("granted -> process started", (1, "reply"), (1, "exec_start")),
    ("process ended -> next process started", (0, "exec_end"), (1, "exec_start")),
)


async def main(steps: int = 60) -> None:
    async with running_stack(runners=1) as stack:
        assert stack.nc is not None
        pipeline = Pipeline(project_dir("trace"))
        for i in range(steps):
            pipeline.add(f"s{i:03d}", "noop.sh", [f"s{i - 1:03d}"] if i else [])
        await run_pipeline(stack, pipeline.fresh())  # warm-up
        seen: list[tuple[float, str, bytes]] = []

        async def record(msg: Any) -> None:
            seen.append((time.time(), msg.subject, msg.data))

        prefix = stack.bus.prefix
        for subject in (
            f"{prefix}.reports.v1.>",
            f"{prefix}.steps.v1.>",
            stack.bus.claim_step,
            "_INBOX.>",
        ):
            await stack.nc.subscribe(subject, cb=record)
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
    claims: list[tuple[float, str]] = []
    replies: list[float] = []
    for at, subject, data in seen:
        try:
            body = json.loads(data)
        except ValueError:
            continue
        if ".reports." in subject:
            row = rows.setdefault(body["step_uuid"], {})
            row["report"] = at
            row["exec_start"] = datetime.fromisoformat(body["started_at"]).timestamp()
            row["exec_end"] = datetime.fromisoformat(body["finished_at"]).timestamp()
        elif subject.endswith("steps.claim"):
            claims.append((at, body["step_uuid"]))
        elif ".steps." in subject:
            rows.setdefault(body["step_uuid"], {})["work"] = at
        elif subject.startswith("_INBOX") and "granted" in body:
            replies.append(at)
    for (at, step), replied in zip(sorted(claims), replies, strict=False):
        rows[step]["claim"] = at
        rows[step]["reply"] = replied
    return rows


if __name__ == "__main__":
    asyncio.run(main())
