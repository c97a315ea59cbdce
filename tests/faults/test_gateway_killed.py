"""The gateway killed (kill -9) during a burst of run submissions, each with its
own idempotency key and retried until answered: exactly one run per key, all
SUCCESS."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import asyncpg
import httpx
import pytest
from fault_kit import Project, StackFactory, all_ended, check_runs, submit

from support import eventually

pytestmark = pytest.mark.e2e

RUNS = 24
CLIENTS = 4
DAG: dict[str, list[str]] = {"a": [], "b": ["a"]}


async def test_no_submission_is_lost_or_doubled_when_the_gateway_dies(
    start_stack: StackFactory, workdir: Path
) -> None:
    project = Project.make(workdir / "project")
    stack = start_stack()
    answered: dict[str, str] = {}
    kill_at = {RUNS // 4, RUNS // 2}

    async def client(keys: list[str]) -> None:
        async with httpx.AsyncClient(base_url=stack.url, timeout=5.0) as http:
            for key in keys:
                answered[key] = await submit(http, project.body("burst", DAG, key=key))
                if len(answered) in kill_at:  # the others' requests are in flight
                    kill_at.discard(len(answered))
                    os.kill(stack.stack_file()["processes"]["gateway"]["pid"], signal.SIGKILL)

    keys = [f"burst-{i:03d}" for i in range(RUNS)]
    await asyncio.gather(*(client(keys[i::CLIENTS]) for i in range(CLIENTS)))

    async def restarted_twice() -> bool | None:
        return True if stack.stack_file()["restarts"]["gateway"] >= 2 else None

    await eventually(restarted_twice, timeout=30, what="the gateway restarted twice")

    database_url = stack.stack_file()["database_url"]
    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch("SELECT uuid::text, idempotency_key FROM scheduler.runs")
    finally:
        await conn.close()
    by_key = {r["idempotency_key"]: r["uuid"] for r in rows}
    assert len(rows) == RUNS and by_key == answered
    runs = sorted(answered.values())
    await all_ended(database_url, runs, timeout=90)
    await check_runs(stack, project, runs, DAG)
