"""A step runner killed (kill -9) while its ``.sh`` step runs a child, a
``setsid`` grandchild and a daemon: every process of the attempt dies with the
runner within seconds, and attempt 2 (after the lease) never runs beside a
live attempt 1."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from pathlib import Path

import httpx
import psutil
import pytest
from fault_kit import Project, StackFactory, all_ended, check_runs, submit

from support import eventually

pytestmark = pytest.mark.e2e

CHAIN = {"a": [], "b": ["a"]}
FIRST_B = '[ "$ORCHEST_STEP_UUID" = b ] && [ "$ORCHEST_STEP_ATTEMPT" = 1 ]'
SECOND_B = '[ "$ORCHEST_STEP_UUID" = b ] && [ "$ORCHEST_STEP_ATTEMPT" = 2 ]'
# Attempt 1 of b: a child and a setsid grandchild writing heartbeat files, and a
# daemon (setsid, its parent gone at once), each writing its pid; then the
# leader waits. Attempt 2 of b records every attempt-1 pid still running (not
# a zombie) as it starts: an overlap.
SCRIPT = f"""
d="$ORCHEST_PROJECT_DIR/b1"
if {FIRST_B}; then
  mkdir -p "$d"
  (while true; do date +%s.%N > "$d/child.hb"; sleep 0.05; done) &
  echo $! >> "$d/pids"
  setsid bash -c 'echo $$ >> "$0/pids"; while true; do date > "$0/grandchild.hb"; sleep 0.05; done' "$d" &
  (setsid bash -c 'echo $$ >> "$0/pids"; exec sleep 600' "$d" &)
  echo $$ >> "$d/pids"
  echo $PPID > "$d/runner"
  sleep 600
fi
if {SECOND_B}; then
  for p in $(cat "$d/pids"); do
    if [ -e /proc/$p ] && ! grep -q '^State:.*Z' /proc/$p/status 2>/dev/null; then
      echo "$p" >> "$ORCHEST_PROJECT_DIR/overlaps"
    fi
  done
fi
"""


def attempt_processes(run: str) -> list[psutil.Process]:
    """Every live process whose environment says it belongs to attempt 1 of b."""
    marker = {"ORCHEST_RUN_UUID": run, "ORCHEST_STEP_UUID": "b", "ORCHEST_STEP_ATTEMPT": "1"}
    found = []
    for process in psutil.process_iter():
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
            environ = process.environ()
            if all(environ.get(k) == v for k, v in marker.items()) and not gone(process):
                found.append(process)
    return found


def gone(process: psutil.Process) -> bool:
    try:
        return not process.is_running() or process.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


async def test_a_killed_runners_step_processes_die_with_it(
    start_stack: StackFactory, workdir: Path
) -> None:
    project = Project.make(workdir / "project", extra=SCRIPT)
    b1 = project.root / "b1"
    stack = start_stack(runners=2, ORCHEST_ACK_WAIT_SECONDS="3", ORCHEST_HEARTBEAT_SECONDS="1")
    urls = stack.stack_file()
    async with httpx.AsyncClient(base_url=stack.url, timeout=10.0) as http:
        run = await submit(http, project.body("runner-killed-tree", CHAIN))

    async def started() -> bool | None:
        pids = (b1 / "pids").read_text().split() if (b1 / "pids").exists() else []
        # The shell creates the file before it writes the pid: wait for the pid.
        runner = (b1 / "runner").read_text().strip() if (b1 / "runner").exists() else ""
        return True if len(pids) == 4 and runner else None

    try:
        await eventually(started, timeout=30, what="attempt 1 of b and its processes started")
        runner = int((b1 / "runner").read_text())
        runners = {p["pid"] for n, p in stack.stack_file()["processes"].items() if "runner" in n}
        assert runner in runners, (runner, runners)
        recorded = [psutil.Process(int(p)) for p in (b1 / "pids").read_text().split()]
        # The recorded ones live until killed; the rest of the attempt's
        # processes include the loops' short-lived `sleep 0.05` and `date`.
        assert not any(gone(p) for p in recorded)
        processes = {p.pid: p for p in [*recorded, *attempt_processes(run)]}
        assert len(processes) >= 5  # leader and its sleep, child, grandchild, daemon

        os.kill(runner, signal.SIGKILL)
        killed_at = time.monotonic()

        async def all_gone() -> float | None:
            left = [p for p in processes.values() if not gone(p)] + attempt_processes(run)
            return time.monotonic() - killed_at if not left else None

        took = await eventually(all_gone, timeout=5, what="every process of attempt 1 gone")
        print(f"attempt 1's {len(processes)} processes gone {took * 1000:.0f} ms after the kill")

        await all_ended(urls["database_url"], [run], timeout=60)
        await check_runs(stack, project, [run], CHAIN, {(run, "b"): 2})
        overlaps = project.root / "overlaps"
        assert not overlaps.exists(), f"attempt 2 started beside attempt 1's {overlaps.read_text()}"
    finally:
        await asyncio.to_thread(_kill_leftovers, run)


def _kill_leftovers(run: str) -> None:
    """What a failed test left running (on code whose steps outlive their runner)."""
    for process in attempt_processes(run):
        with contextlib.suppress(psutil.NoSuchProcess):
            process.kill()
