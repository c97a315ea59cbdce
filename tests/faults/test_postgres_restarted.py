"""Postgres stopped and started again mid-run: the services reconnect, the runs
finish correctly.

The supervisor does not restart its embedded Postgres, so the test runs one of
its own (``ORCHEST_DATABASE_URL``) and restarts it itself."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from fault_kit import Project, StackFactory, all_ended, check_runs, submit

from orchest_cli.embedded import EmbeddedPostgres
from support import eventually

pytestmark = pytest.mark.e2e

CHAIN = {f"s{i}": [f"s{i - 1}"] if i else [] for i in range(6)}


async def test_runs_finish_after_postgres_is_restarted(
    start_stack: StackFactory, own_postgres: EmbeddedPostgres, workdir: Path
) -> None:
    project = Project.make(workdir / "project", extra="sleep 0.3")
    stack = start_stack(ORCHEST_DATABASE_URL=own_postgres.url("orchest"))
    async with httpx.AsyncClient(base_url=stack.url, timeout=10.0) as http:
        runs = [await submit(http, project.body("postgres-restart", CHAIN)) for _ in range(2)]

    async def mid_run() -> bool | None:
        return True if project.attempts()[(runs[0], "s2", 1)] else None

    await eventually(mid_run, timeout=30, what="step s2 started")
    await own_postgres.stop()  # fast shutdown: every connection is cut
    await own_postgres.start()  # same port, same data

    await all_ended(stack.stack_file()["database_url"], runs, timeout=90)
    await check_runs(stack, project, runs, CHAIN)
