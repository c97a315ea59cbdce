"""How the process executor starts a script step's leader and follows it to
its end (``executor/spawn.py``): the cases the way of starting it could get
wrong, against real processes.

Nothing sleeps to wait: each test awaits the result or output with a
timeout, or probes with ``eventually``.
"""

from __future__ import annotations

import asyncio
import gc
import os
import signal
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import ClassVar
from uuid import uuid4

import psutil
import pytest
from step_files import StepFiles

from orchest_schemas.commands import StepWork
from orchest_step_runner.executor import ExecutionResult, ProcessExecutor
from orchest_step_runner.executor.process import DRAIN_SECONDS
from support import eventually, thread_hops

PROJECT_UUID = "5d0e1c52-7a0b-4f5e-8a51-2f8c3a1b9e07"
RESULT_TIMEOUT = 60.0
STOP_BUDGET = 4.0
"""A step and all it started are gone within this of its end or cancel (as
``test_process_executor.py``: a SIGKILL with its clean-up took 2.2 s once
under the whole suite's load)."""


class Project(StepFiles):
    pipeline: ClassVar[dict[str, str]] = {"name": "spawn"}
    step: ClassVar[dict[str, str]] = {"title": "the step"}


@pytest.fixture
def project(tmp_path: Path) -> Project:
    return Project(tmp_path, PROJECT_UUID)


@pytest.fixture
def executor() -> ProcessExecutor:
    return ProcessExecutor(kill_grace_seconds=1.0)


def open_fds() -> set[str]:
    """This process's open file descriptors (the listing's own is left out),
    after a collection: an earlier test's garbage (a loop, a socket) closes
    its descriptors when collected, which is no concern of the test that
    happens to be running then (CI saw three go mid-test once)."""
    gc.collect()
    return {fd for fd in os.listdir("/proc/self/fd") if os.path.exists(f"/proc/self/fd/{fd}")}


def new_fds(before: set[str]) -> set[str]:
    """Descriptors open now that were not before: what a run left behind."""
    return open_fds() - before


def no_new_fds(before: set[str]) -> Callable[[], Awaitable[bool | None]]:
    """A probe for ``eventually``: true once no descriptor is open that was
    not before."""

    async def probe() -> bool | None:
        return True if not new_fds(before) else None

    return probe


def marked(name: str, value: str) -> list[psutil.Process]:
    """The processes whose environment holds ``name=value``."""
    found = []
    for process in psutil.process_iter():
        try:
            if process.environ().get(name) == value:
                found.append(process)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return [p for p in found if p.status() != psutil.STATUS_ZOMBIE]


@pytest.fixture
def escapees() -> Iterator[list[int]]:
    """Pids of processes a test's step let escape its clean-up on purpose,
    killed at the end (each checked to be the ``sleep`` it started)."""
    pids: list[int] = []
    yield pids
    for pid in pids:
        try:
            process = psutil.Process(pid)
            if process.name() == "sleep":
                process.kill()
        except psutil.NoSuchProcess:
            pass


async def test_a_step_that_closes_its_output_early_ends_with_its_exit_code(
    executor: ProcessExecutor, project: Project
) -> None:
    # The pipe ends long before the process: its end, not the pipe's, ends the step.
    path = project.write(
        "early.sh",
        """\
        echo bye
        exec >&- 2>&-
        sleep 0.3
        exit 3
        """,
    )
    fds = open_fds()
    result, output = await project.run(executor, project.work(path))
    assert (result.exit_code, result.error) == (3, "exit code 3")
    assert output.text == "bye\n"
    assert not new_fds(fds)


async def test_output_held_open_by_an_escaped_process_is_given_up_after_the_drain(
    executor: ProcessExecutor, project: Project, escapees: list[int]
) -> None:
    # A process that left the step's group and dropped its environment (so
    # no sweep finds it) keeps the output pipe open after the leader exits:
    # the step still ends, DRAIN_SECONDS later, with what it wrote.
    pid_file = project.dir / "escapee"
    path = project.write(
        "escape.sh",
        f"""\
        env -i /usr/bin/setsid /bin/sleep 300 &
        echo $! > {pid_file}
        echo started
        """,
    )
    fds = open_fds()
    loop = asyncio.get_running_loop()
    started = loop.time()
    result, output = await project.run(executor, project.work(path))
    elapsed = loop.time() - started
    escapees.append(int(pid_file.read_text()))
    assert (result.exit_code, result.error) == (0, None)
    assert output.text == "started\n"
    assert psutil.Process(escapees[0]).is_running(), "the escapee held no pipe"
    assert elapsed < DRAIN_SECONDS + STOP_BUDGET
    assert not new_fds(fds)


async def test_a_program_that_cannot_be_started_fails_the_step_with_its_name(
    executor: ProcessExecutor, project: Project
) -> None:
    # The environment's venv names an interpreter that is not there: the
    # exec fails, the step fails with the program's name, nothing is left open.
    path = project.write("hello.py", "print('hello')\n")
    work = project.work(path).model_copy(update={"environment_venv": "/nonexistent-venv"})
    fds = open_fds()
    result, output = await project.run(executor, work)
    assert result == ExecutionResult(None, "/nonexistent-venv/bin/python not found")
    assert output.text == ""
    assert not new_fds(fds)


async def cancelled_after(
    executor: ProcessExecutor, project: Project, work: StepWork, turns: int
) -> None:
    """Start ``work`` and cancel the call after the event loop has run
    ``turns`` times (each ``sleep(0)`` yields for exactly one turn: this
    steps the loop to each point of the start, it waits for nothing)."""
    task = asyncio.create_task(
        executor.execute(
            work, output=project.output(), cancel=asyncio.Event(), scratch_dir=project.scratch
        )
    )
    for _ in range(turns):
        await asyncio.sleep(0)  # wait-ok: one turn of the loop, to step through the start
        if task.done():
            break
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_cancelling_the_call_anywhere_in_the_start_leaves_nothing_behind(
    executor: ProcessExecutor, project: Project
) -> None:
    # The runner stopping cancels the attempt's call at whatever point it is:
    # before the spawn, during it, or once the step runs (it starts a child
    # and waits). Each time, no process of the step is left, nor any open
    # file descriptor of the runner.
    ran_dir = project.dir / "ran"
    ran_dir.mkdir()
    path = project.write("wait.sh", f'touch {ran_dir}/"$SPAWN_TEST"\nsleep 300 &\nwait\n')
    fds = open_fds()
    run = uuid4().hex  # this test's own mark: nothing another run left matches it
    ran = 0
    turns = 0
    while ran < 3:
        assert turns < 500, "the step never ran"
        token = f"spawn-cancel-{run}-{turns}"
        work = project.work(path, env={"SPAWN_TEST": token})
        await cancelled_after(executor, project, work, turns)
        turns += 1

        async def gone(token: str = token) -> bool | None:
            return True if not await asyncio.to_thread(marked, "SPAWN_TEST", token) else None

        await eventually(gone, timeout=STOP_BUDGET, what=f"every process of {token} gone")
        # The leader's pidfd is closed once the loop sees it readable, which
        # the kernel makes it only at the end of the exit, after the process
        # stopped showing its environment (``gone`` is true sooner): awaited.
        await eventually(
            no_new_fds(fds),
            timeout=STOP_BUDGET,
            what=f"file descriptors left after {turns - 1} turns",
        )
        if (ran_dir / token).exists():
            ran += 1


async def test_the_exit_code_and_signal_are_the_leaders(
    executor: ProcessExecutor, project: Project
) -> None:
    path = project.write("killed.sh", "kill -KILL $$\n")
    result, _ = await project.run(executor, project.work(path))
    assert (result.exit_code, result.error) == (-signal.SIGKILL, "killed by SIGKILL")
    path = project.write("code.sh", "exit 42\n")
    result, _ = await project.run(executor, project.work(path))
    assert (result.exit_code, result.error) == (42, "exit code 42")


async def test_a_step_that_ran_beside_other_processes_ends_without_a_thread_hop(
    executor: ProcessExecutor, project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Steps of other slots (and other programs of the host) start processes
    # while a step runs: its pid window holds them too. Those that are not
    # the step's are told apart by a raw read of their environment, on the
    # loop; only the step's own would need more.
    from orchest_step_runner.executor import tree

    hops = thread_hops(monkeypatch, tree)
    go = project.dir / "go"
    path = project.write(
        "waits.sh", f"echo ready\nwhile [ ! -e {go} ]; do sleep 0.01; done\necho done\n"
    )
    others: list[asyncio.subprocess.Process] = []
    try:
        async with project.running(executor, project.work(path)) as (task, _, output):
            await output.wait_for("ready")
            for _ in range(2 * tree.INLINE_MARKED):  # more than the 8 read on the loop before
                others.append(
                    await asyncio.create_subprocess_exec(
                        "sleep", "300", stdin=asyncio.subprocess.DEVNULL
                    )
                )
            go.touch()
            result = await asyncio.wait_for(task, RESULT_TIMEOUT)
    finally:
        for other in others:
            other.kill()
            await other.wait()
    assert (result.exit_code, result.error, output.text) == (0, None, "ready\ndone\n")
    assert hops == [], "the end of the step went through a thread"


async def test_without_pidfds_a_thread_waits_for_the_exit(
    executor: ProcessExecutor, project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A host without pid file descriptors (not Linux 5.3+): the exit is
    # awaited in a thread; the step's result and output are the same.
    def no_pidfds(pid: int, flags: int = 0) -> int:
        raise OSError(38, "Function not implemented")

    monkeypatch.setattr(os, "pidfd_open", no_pidfds)
    path = project.write("out.sh", "echo out\nexit 5\n")
    fds = open_fds()
    result, output = await project.run(executor, project.work(path))
    assert (result.exit_code, result.error, output.text) == (5, "exit code 5", "out\n")
    assert not new_fds(fds)
