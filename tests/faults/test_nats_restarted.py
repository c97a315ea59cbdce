"""NATS killed (kill -9) and started again on its store mid-run: the services
reconnect, what was in JetStream is still there, the runs finish correctly.

The supervisor restarts services, not its embedded NATS, so the test runs a
nats-server of its own (``ORCHEST_NATS_URL``) and restarts it itself."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import httpx
import pytest
from fault_kit import Project, StackFactory, all_ended, check_runs, submit

from orchest_cli.embedded import EmbeddedNats
from support import eventually

pytestmark = pytest.mark.e2e

CHAIN = {f"s{i}": [f"s{i - 1}"] if i else [] for i in range(6)}


async def test_runs_finish_after_nats_is_killed_and_restarted(
    start_stack: StackFactory, own_nats: EmbeddedNats, workdir: Path
) -> None:
    project = Project.make(workdir / "project", extra="sleep 0.3")
    stack = start_stack(ORCHEST_NATS_URL=own_nats.url)
    async with httpx.AsyncClient(base_url=stack.url, timeout=10.0) as http:
        runs = [await submit(http, project.body("nats-restart", CHAIN)) for _ in range(2)]

    async def mid_run() -> bool | None:
        return True if project.attempts()[(runs[0], "s2", 1)] else None

    await eventually(mid_run, timeout=30, what="step s2 started")
    os.kill(own_nats.pid, signal.SIGKILL)
    await own_nats.stop()  # reaps it
    await own_nats.start()  # same port, same store

    await all_ended(stack.stack_file()["database_url"], runs, timeout=90)
    await check_runs(stack, project, runs, CHAIN)
