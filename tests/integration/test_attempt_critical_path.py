"""What lies between a step's exit and its report, and between the answer and
the next start: the report leaves before the executor's bookkeeping that it
does not depend on (the guardian's slot, the output pipe), which is done while
its answer is awaited; what the step left behind is dead before the report
says it ended; and the runner's allow-listed environment is not decoded again
for each attempt while it is unchanged, a change being seen by the next one."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil
import pytest
from nats.aio.client import Client
from nats.aio.msg import Msg
from test_process_executor import Project
from test_runner_attempt_cost import _attempts

from orchest_schemas.bus import BusNames
from orchest_schemas.reports import ReportAnswer
from orchest_schemas.status import StepStatus
from orchest_step_runner import attempts as attempts_module
from orchest_step_runner import scratch
from orchest_step_runner.executor import ProcessExecutor, spawn
from orchest_step_runner.executor.guardian import Guardian
from orchest_step_runner.executor.pid_window import PidWindow, new_pids, read_counters
from orchest_step_runner.executor.reaping import RunnerProcess
from orchest_step_runner.heartbeat import Running
from orchest_step_runner.settings import RunnerSettings

RESULT_TIMEOUT = 60.0


def _gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


async def test_the_report_leaves_before_the_attempts_bookkeeping_and_after_its_leftovers_die(
    nc: Client,
    bus: BusNames,
    service_settings: Callable[..., Any],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    project = Project(tmp_path)
    settings: RunnerSettings = service_settings(RunnerSettings)
    left = tmp_path / "left.pid"
    # A process that leaves the step's group and outlives it: found by its
    # marker, killed before the report.
    step = project.work(project.write("leaves.sh", f"setsid sleep 600 &\necho $! > {left}\n"))
    order: list[str] = []
    leftover_gone_at_report: list[bool] = []

    release, close = Guardian.release, spawn.Leader.close

    def released(self: Guardian, pgid: int) -> None:
        order.append("guardian released")
        release(self, pgid)

    def closed(self: spawn.Leader) -> None:
        order.append("output closed")
        close(self)

    monkeypatch.setattr(Guardian, "release", released)
    monkeypatch.setattr(spawn.Leader, "close", closed)
    request = attempts_module.request_command

    async def reported(*args: Any, **kwargs: Any) -> Any:
        order.append("report sent")
        leftover_gone_at_report.append(_gone(int(left.read_text())))
        return await request(*args, **kwargs)

    monkeypatch.setattr(attempts_module, "request_command", reported)

    async def answer(msg: Msg) -> None:
        await msg.respond(ReportAnswer().to_bytes())

    scheduler = await nc.subscribe(bus.report_step, cb=answer)
    await asyncio.to_thread(scratch.hold)
    try:
        async with ProcessExecutor.open(RunnerProcess.current()) as executor:
            attempts, work = await _attempts(nc, bus, settings, project, step)
            attempts._executor = executor
            report, _ = await asyncio.wait_for(
                attempts.run(work, Running(None, work.attempt)), RESULT_TIMEOUT
            )
            assert report.status is StepStatus.SUCCESS, report.error
            assert order == []  # the result is known; the bookkeeping waits for the report
            assert await attempts.report(report, None) is None
            # Done while the answer was awaited, once each, after the report.
            assert order == ["report sent", "guardian released", "output closed"]
            assert leftover_gone_at_report == [True]
            await attempts.drain()
    finally:
        await scheduler.unsubscribe()
        await asyncio.to_thread(scratch.release)


async def test_an_attempt_cancelled_before_its_report_does_its_bookkeeping_at_the_drain(
    nc: Client, bus: BusNames, service_settings: Callable[..., Any], tmp_path: Path
) -> None:
    """No answer, no report: what was left for after the report is not leaked."""
    project = Project(tmp_path)
    settings: RunnerSettings = service_settings(RunnerSettings)
    attempts, work = await _attempts(
        nc, bus, settings, project, project.work(project.write("q.sh", ":\n"))
    )
    leaders: list[spawn.Leader] = []
    init = spawn.Leader.__init__

    def kept(self: spawn.Leader, *args: Any, **kwargs: Any) -> None:
        init(self, *args, **kwargs)
        leaders.append(self)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(spawn.Leader, "__init__", kept)
        report, _ = await attempts.run(work, Running(None, work.attempt))
    assert report.status is StepStatus.SUCCESS, report.error
    (leader,) = leaders
    assert leader.output._fd >= 0  # left for after the report
    await attempts.drain()  # the runner stops without reporting it
    assert leader.output._fd == -1


async def test_the_runner_environment_is_decoded_once_while_unchanged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = Project(tmp_path)
    out = tmp_path / "lang.txt"
    work = project.work(project.write("env.sh", f'printf "%s" "$LANG" > {out}\n'))
    executor = ProcessExecutor(kill_grace_seconds=1.0)  # the runner's own environment
    reads = 0
    environ_type = type(os.environ)
    iterate = environ_type.__iter__

    def counted(self: Any) -> Any:
        nonlocal reads
        if self is os.environ:
            reads += 1
        return iterate(self)

    monkeypatch.setenv("LANG", "C.UTF-8")

    async def run() -> str:
        folder = scratch.attempt_folder(work.step_uuid[:8])
        try:
            result = await asyncio.wait_for(
                executor.execute(work, output=_discard, cancel=asyncio.Event(), scratch_dir=folder),
                RESULT_TIMEOUT,
            )
        finally:
            scratch.remove_attempt_folder(folder)
        assert result.exit_code == 0, result
        return out.read_text()

    assert await run() == "C.UTF-8"
    monkeypatch.setattr(environ_type, "__iter__", counted)
    assert await run() == "C.UTF-8"
    assert reads == 0  # the allow-listed part as it was: os.environ not read again
    monkeypatch.setenv("LANG", "C")
    assert await run() == "C"  # a change is seen by the next attempt
    assert reads == 1


async def _discard(text: str) -> None:
    pass


def test_the_scan_for_leftovers_reads_no_load_average(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only the processes created count at the scan: the tasks alive are the
    ones before the leader started."""
    from orchest_step_runner.executor import pid_window

    before = read_counters()
    assert before is not None
    read: list[str] = []
    read_proc = pid_window.read_proc

    def recorded(path: str | Path) -> bytes:
        read.append(str(path))
        return read_proc(path)

    monkeypatch.setattr(pid_window, "read_proc", recorded)
    assert new_pids(PidWindow(before, os.getpid())) is not None
    assert "/proc/loadavg" not in read and "/proc/stat" in read


async def test_the_next_leaders_pid_counters_are_read_after_the_report_not_before_its_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Read while the answer is awaited, off the path from the answer to the
    next start; and the leftovers are still found with them."""
    from orchest_step_runner.executor import process

    project = Project(tmp_path)
    left = tmp_path / "left.pid"
    work = project.work(project.write("leaves.sh", f"setsid sleep 600 &\necho $! > {left}\n"))
    executor = ProcessExecutor(kill_grace_seconds=1.0)
    seen: list[str] = []
    read_counters, init = process.read_counters, spawn.Leader.__init__

    def counted() -> Any:
        seen.append("counters")
        return read_counters()

    def started(self: spawn.Leader, *args: Any, **kwargs: Any) -> None:
        init(self, *args, **kwargs)
        seen.append("started")

    monkeypatch.setattr(process, "read_counters", counted)
    monkeypatch.setattr(spawn.Leader, "__init__", started)
    for _ in range(2):
        after: list[Callable[[], None]] = []
        folder = scratch.attempt_folder(work.step_uuid[:8])
        try:
            result = await asyncio.wait_for(
                executor.execute(
                    work,
                    output=_discard,
                    cancel=asyncio.Event(),
                    scratch_dir=folder,
                    after_report=after,
                ),
                RESULT_TIMEOUT,
            )
        finally:
            scratch.remove_attempt_folder(folder)
        assert result.exit_code == 0, result
        assert _gone(int(left.read_text()))  # found through the window's counters
        seen.append("reported")
        for call in after:
            call()
        seen.append("answered")
    assert seen == [
        "counters",  # the first leader's: none read ahead
        "started",
        "reported",
        "counters",  # read ahead, for the next leader
        "answered",
        "started",
        "reported",
        "counters",
        "answered",
    ]
