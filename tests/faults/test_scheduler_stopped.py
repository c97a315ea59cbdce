"""A scheduler that does not answer a report in time (SIGSTOP: alive, its
requests waiting in its socket): the runner asks again with the same report,
and the answer to the repeat hands over the step the first request's
decision granted to it. The next step runs as attempt 1 as soon as the
scheduler answers, not once its lease has lapsed."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from fault_kit import Project, StackFactory, all_ended, check_runs, stack_nats, submit

from orchest_schemas.bus import BusNames
from support import eventually

pytestmark = pytest.mark.e2e

DAG = {"a": [], "b": ["a"]}
CLAIM_TIMEOUT = 1.0
"""The runner's wait for an answer (``ORCHEST_CLAIM_TIMEOUT_SECONDS``); the
lease stays the default 30 s."""


async def test_a_report_answered_late_still_hands_the_next_step_over(
    start_stack: StackFactory, workdir: Path
) -> None:
    gate = workdir / "gate"
    wait_for_gate = (
        f'if [ "$ORCHEST_STEP_UUID" = a ]; then while [ ! -e "{gate}" ]; do sleep 0.05; done; fi'
    )
    project = Project.make(workdir / "project", extra=wait_for_gate)
    stack = start_stack(ORCHEST_CLAIM_TIMEOUT_SECONDS=str(CLAIM_TIMEOUT))
    urls = stack.stack_file()
    async with httpx.AsyncClient(base_url=stack.url, timeout=10.0) as http:
        run = await submit(http, project.body("scheduler-stopped", DAG))

    async def a_started() -> bool | None:
        return True if project.attempts()[(run, "a", 1)] else None

    await eventually(a_started, timeout=30, what="step a started")
    nc = await stack_nats(stack)
    requests: asyncio.Queue[Any] = asyncio.Queue()

    async def on_request(msg: Any) -> None:
        await requests.put(msg)

    sub = await nc.subscribe(BusNames("orchest").report_step, cb=on_request)
    await nc.flush()
    scheduler = urls["processes"]["scheduler"]["pid"]
    os.kill(scheduler, signal.SIGSTOP)
    try:
        gate.touch()
        await asyncio.wait_for(requests.get(), 30)  # a's report, to a scheduler that is stopped
        asked = time.monotonic()
        await asyncio.wait_for(requests.get(), 30)  # asked again once not answered
        assert time.monotonic() - asked >= CLAIM_TIMEOUT * 0.9
    finally:
        os.kill(scheduler, signal.SIGCONT)
        await sub.unsubscribe()
        await nc.close()
    resumed = time.monotonic()
    await all_ended(urls["database_url"], [run], timeout=60)
    assert time.monotonic() - resumed < 15, "b waited for its lease to lapse"
    await check_runs(stack, project, [run], DAG)  # b ran once, as attempt 1
