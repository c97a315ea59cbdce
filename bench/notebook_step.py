"""Figure 5: a one-cell notebook step, against nbclient run by the bench."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

from .harness import Pipeline, Stack, p50, percentile, project_dir, run_pipeline
from .report import MS, Figure

NOTEBOOK = {
    "nbformat": 4,
    "nbformat_minor": 5,
    "metadata": {
        "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}
    },
    "cells": [
        {
            "cell_type": "code",
            "id": "c1",
            "metadata": {},
            "source": "print(1 + 1)",
            "outputs": [],
            "execution_count": None,
        }
    ],
}


def bare_nbclient(path: Path) -> float:
    """Seconds the bench takes to run the notebook itself with nbclient."""
    import nbformat
    from nbclient import NotebookClient

    t0 = time.perf_counter()
    notebook = nbformat.read(str(path), as_version=4)  # type: ignore[no-untyped-call]
    NotebookClient(
        notebook, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
    ).execute()
    return time.perf_counter() - t0


async def notebook_step(stack: Stack, runs: int = 7) -> Figure:
    root = project_dir("notebook")
    (root / "one.ipynb").write_text(json.dumps(NOTEBOOK))
    pipeline = Pipeline(root)
    pipeline.add("nb", "one.ipynb")
    await run_pipeline(stack, pipeline.fresh())
    bare_nbclient(root / "one.ipynb")
    ours, bare = [], []
    for _ in range(runs):
        timing = await run_pipeline(stack, pipeline.fresh())
        assert timing.status == "SUCCESS", timing
        ours.append(timing.wall)
        bare.append(await asyncio.to_thread(bare_nbclient, root / "one.ipynb"))
    value, floor, tail = p50(ours), p50(bare), percentile(ours, 0.99)
    ratio = value / floor
    return Figure(
        name="5. notebook step, 1 cell",
        value=f"p50 {value * MS:.0f} ms, p99 {tail * MS:.0f} ms",
        floor=f"bare nbclient p50 {floor * MS:.0f} ms",
        ratio=ratio,
        target="<= 1.25x, p99 < 1.5 s",
        met=ratio <= 1.25 and tail < 1.5,
        how=(
            f"{runs} runs of a one-step pipeline whose notebook prints `1 + 1`, from POST to"
            " the final run event; after a warm-up. Floor: the bench process executing the"
            " same notebook with nbclient (kernel start, execute, shutdown), interleaved."
        ),
    )
