"""Step runners that stop heartbeating while their step "runs" (SIGSTOP: the
process lives, holds its work and its connection, and says nothing): the
scheduler's lease sweep ends the attempt. The first time, the step runs
again as attempt 2 on the other runner; when that runner stops too (no runner
left for JetStream to redeliver to), the sweep fails the step once
``max_lost_leases`` (2) is reached, and the run ends. Resumed (SIGCONT), each
runner hears from its heartbeat's answer that its attempt is no longer
current and kills it."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import asyncpg
import httpx
import psutil
import pytest
from fault_kit import Project, StackFactory, all_ended, submit

from support import eventually

pytestmark = pytest.mark.e2e

DAG = {"s": [], "t": ["s"]}
LEASE_SECONDS = 3


def slow_s(root: Path) -> str:
    """Step ``s`` writes its pid (per attempt) and runs for 5 minutes."""
    pid_file = f"{root}/s.$ORCHEST_STEP_ATTEMPT.pid"
    return f'if [ "$ORCHEST_STEP_UUID" = s ]; then echo $$ > "{pid_file}"; exec sleep 300; fi'


async def step_row(database_url: str, run: str) -> dict[str, object]:
    conn = await asyncpg.connect(database_url)
    try:
        row = await conn.fetchrow(
            "SELECT status, attempt, runner_id, error FROM scheduler.run_steps"
            " WHERE run_uuid = $1 AND step_uuid = 's'",
            run,
        )
        assert row is not None
        return dict(row)
    finally:
        await conn.close()


def pid_of(runner_id: object) -> int:
    """A runner id is ``<host>:<pid>:<instance>``."""
    assert isinstance(runner_id, str)
    return int(runner_id.split(":")[1])


async def test_a_silent_runner_loses_its_attempt_to_the_lease_sweep(
    start_stack: StackFactory, workdir: Path
) -> None:
    root = workdir / "project"
    project = Project.make(root, extra=slow_s(root))
    stack = start_stack(
        runners=2,
        ORCHEST_ACK_WAIT_SECONDS=str(LEASE_SECONDS),
        ORCHEST_HEARTBEAT_SECONDS="1",
        ORCHEST_LEASE_SWEEP_SECONDS="1",
    )
    urls = stack.stack_file()
    database_url = urls["database_url"]
    runners = {
        info["pid"] for name, info in urls["processes"].items() if name.startswith("step-runner")
    }
    assert len(runners) == 2
    body = project.body("runner-stopped", DAG)
    body["pipeline_definition"]["settings"] = {"max_lost_leases": 2}
    async with httpx.AsyncClient(base_url=stack.url, timeout=10.0) as http:
        run = await submit(http, body)

    async def attempt_started(n: int) -> dict[str, object] | None:
        row = await step_row(database_url, run)
        started = project.attempts()[(run, "s", n)] and (root / f"s.{n}.pid").exists()
        return row if started and row["status"] == "STARTED" and row["attempt"] == n else None

    stopped: list[int] = []
    try:
        first = await eventually(lambda: attempt_started(1), timeout=30, what="s attempt 1")
        first_runner = pid_of(first["runner_id"])
        assert first_runner in runners
        os.kill(first_runner, signal.SIGSTOP)
        stopped.append(first_runner)
        t0 = time.monotonic()

        second = await eventually(lambda: attempt_started(2), timeout=60, what="s attempt 2")
        rerun_after = time.monotonic() - t0
        second_runner = pid_of(second["runner_id"])
        assert second_runner in runners - {first_runner}  # on the other runner
        os.kill(second_runner, signal.SIGSTOP)
        stopped.append(second_runner)
        t1 = time.monotonic()

        await all_ended(database_url, [run], timeout=60)
        failed_after = time.monotonic() - t1
        row = await step_row(database_url, run)
        assert (row["status"], row["attempt"]) == ("FAILURE", 2), row
        assert row["error"] == "lost its runner 2 times (no heartbeat within its lease)"
        async with httpx.AsyncClient(base_url=stack.url, timeout=10.0) as http:
            view = (await http.get(f"/api/runs/{run}")).json()
        assert view["status"] == "FAILURE"
        assert {s["step_uuid"]: s["status"] for s in view["pipeline_steps"]} == {
            "s": "FAILURE",
            "t": "ABORTED",
        }
    finally:
        for pid in stopped:
            os.kill(pid, signal.SIGCONT)
    t2 = time.monotonic()

    # Resumed, each runner learns from its heartbeat's answer that its attempt
    # is not current any more, and kills it.
    for n in (1, 2):
        pid = int((root / f"s.{n}.pid").read_text())

        async def gone(pid: int = pid) -> bool | None:
            try:
                return True if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE else None
            except psutil.NoSuchProcess:
                return True

        await eventually(gone, timeout=30, what=f"attempt {n} of s killed")
    killed_after = time.monotonic() - t2
    assert project.attempts()[(run, "s", 3)] == 0
    print(
        f"attempt 2 started {rerun_after:.1f} s after runner 1 stopped; the step failed"
        f" {failed_after:.1f} s after runner 2 stopped; both attempts killed"
        f" {killed_after:.1f} s after the runners resumed (lease {LEASE_SECONDS} s)"
    )
