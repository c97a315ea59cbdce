"""Load: 40 runs of a 5-step DAG from 4 concurrent clients on two runners;
every run SUCCESS, every step once, every event persisted and published."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest
from fault_kit import DIAMOND, Project, StackFactory, all_ended, check_runs, submit

pytestmark = pytest.mark.e2e

RUNS = 40
CLIENTS = 4


async def test_forty_concurrent_runs_all_succeed_with_every_event(
    start_stack: StackFactory, workdir: Path
) -> None:
    project = Project.make(workdir / "project")
    stack = start_stack(runners=2)

    async def client(n: int) -> list[str]:
        async with httpx.AsyncClient(base_url=stack.url, timeout=10.0) as http:
            return [await submit(http, project.body(f"load-{n}", DIAMOND)) for _ in range(n)]

    batches = await asyncio.gather(*(client(RUNS // CLIENTS) for _ in range(CLIENTS)))
    runs = [run for batch in batches for run in batch]
    assert len(set(runs)) == RUNS
    await all_ended(stack.stack_file()["database_url"], runs, timeout=150)
    await check_runs(stack, project, runs, DIAMOND)
