"""A step runner killed (kill -9) mid-step: the step runs again as attempt 2
once its lease lapses, a late report of attempt 1 changes nothing, the run
succeeds."""

from __future__ import annotations

import contextlib
import os
import signal
from pathlib import Path

import asyncpg
import httpx
import pytest
from fault_kit import DIAMOND, Project, StackFactory, all_ended, check_runs, stack_nats, submit

from orchest_schemas.bus import BusNames
from orchest_schemas.reports import StepAttemptFinished
from orchest_schemas.status import StepStatus
from support import eventually

pytestmark = pytest.mark.e2e

SLOW_FIRST_B = (
    'if [ "$ORCHEST_STEP_UUID" = b ] && [ "$ORCHEST_STEP_ATTEMPT" = 1 ]; then sleep 8; fi'
)


def _runner_folder(pid: int) -> Path:
    """The runner's own folder: the one it holds a descriptor of (its lock)."""
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        with contextlib.suppress(OSError):  # closed meanwhile
            target = Path(os.readlink(fd))
            if target.name.startswith("orchest-runner-"):
                return target
    raise AssertionError(f"runner {pid} holds no runner folder")


async def test_a_step_whose_runner_is_killed_runs_again_as_attempt_2(
    start_stack: StackFactory, workdir: Path
) -> None:
    project = Project.make(workdir / "project", extra=SLOW_FIRST_B)
    stack = start_stack(ORCHEST_ACK_WAIT_SECONDS="3", ORCHEST_HEARTBEAT_SECONDS="1")
    urls = stack.stack_file()
    async with httpx.AsyncClient(base_url=stack.url, timeout=10.0) as http:
        run = await submit(http, project.body("runner-killed", DIAMOND))

    async def b_started() -> bool | None:
        return True if project.attempts()[(run, "b", 1)] else None

    await eventually(b_started, timeout=30, what="step b attempt 1 started")

    async def c_done() -> bool | None:  # c runs beside b: the kill must find only b
        conn = await asyncpg.connect(urls["database_url"])
        try:
            status = await conn.fetchval(
                "SELECT status FROM scheduler.run_steps WHERE run_uuid = $1 AND step_uuid = 'c'",
                run,
            )
        finally:
            await conn.close()
        return True if status == "SUCCESS" else None

    await eventually(c_done, timeout=30, what="step c ended while b runs")
    assert project.attempts()[(run, "b", 2)] == 0  # b still in its first attempt
    runner = stack.stack_file()["processes"]["step-runner"]["pid"]
    folder = _runner_folder(runner)
    assert list(folder.glob("b-*")), "b's scratch folder is not in its runner's folder"
    os.kill(runner, signal.SIGKILL)

    await all_ended(urls["database_url"], [run], timeout=60)
    await check_runs(stack, project, [run], DIAMOND, {(run, "b"): 2})
    # The runner started in its place removed what the killed one left.
    assert not folder.exists(), f"the killed runner's folder is left: {folder}"

    # The killed attempt's report arrives late: it changes nothing.
    bus = BusNames("orchest")
    conn = await asyncpg.connect(urls["database_url"])
    nc = await stack_nats(stack)
    try:
        before = await conn.fetchval("SELECT event_seq FROM scheduler.runs WHERE uuid = $1", run)
        late = StepAttemptFinished(
            run_uuid=run,
            step_uuid="b",
            attempt=1,
            status=StepStatus.FAILURE,
            exit_code=137,
            runner_id="killed",
        )
        js = nc.jetstream()
        await js.publish(bus.step_report(run, "b"), late.to_bytes())

        async def consumed() -> bool | None:
            info = await js.stream_info(bus.reports_stream.name)
            return True if info.state.messages == 0 else None

        await eventually(consumed, timeout=10, what="the late report consumed")
        after = await conn.fetchval("SELECT event_seq FROM scheduler.runs WHERE uuid = $1", run)
        assert after == before
    finally:
        await conn.close()
        await nc.close()
    await check_runs(stack, project, [run], DIAMOND, {(run, "b"): 2})
