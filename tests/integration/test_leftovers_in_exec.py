"""What a step leaves behind is found by the marker in its environment; a
process inside an exec shows no environment for a moment (until the exec has
set the environment's bounds in its new memory). The ends of a step and of a
runner look at such a process again until it shows one, so it is not missed
(``sweep.exec_inside``, ``sweep.ExecWatch``)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

import psutil
import pytest
from test_process_executor import Project, is_gone, read_pids

from orchest_step_runner.executor import ProcessExecutor, sweep, tree
from orchest_step_runner.executor.sweep import RUNNER_VARIABLE

# A process that does nothing but exec itself: about one look in twenty at
# its environment falls inside an exec and reads it empty.
EXEC_LOOP = 'exec /bin/sh "$0"\n'
LOOPS = 6
STEPS = 8


def _loops(project: Project) -> Path:
    loop = project.files / "loop.sh"
    loop.write_text(EXEC_LOOP)
    return loop


async def test_processes_inside_an_exec_when_a_step_ends_are_found_and_killed(
    project: Project,
) -> None:
    # Each has left the step's group (setsid) and its parent has exited: only
    # its marker leads to it. Without a second look, one of the six is missed
    # at most steps' ends.
    loop, pids_file = _loops(project), project.files / "pids"
    path = project.write(
        "loops.sh",
        "".join(f'setsid /bin/sh {loop} &\necho $! >> "$PIDS_FILE"\n' for _ in range(LOOPS)),
    )
    executor = ProcessExecutor(kill_grace_seconds=1.0)
    try:
        for _ in range(STEPS):
            pids_file.unlink(missing_ok=True)
            work = project.work(path, env={"PIDS_FILE": str(pids_file)})
            result, _ = await project.run(executor, work)
            assert (result.exit_code, result.error) == (0, None)
            pids = read_pids(pids_file)
            assert len(pids) == LOOPS
            assert [pid for pid in pids if not is_gone(pid)] == []
    finally:
        if pids_file.exists():
            sweep.kill(read_pids(pids_file))


def test_a_runners_sweep_finds_a_labelled_process_inside_an_exec(tmp_path: Path) -> None:
    # The guardian's sweep, one process at a time: a look that finds none
    # labelled but one inside an exec is not the last.
    loop = tmp_path / "loop.sh"
    loop.write_text(EXEC_LOOP)
    label = f"test-{uuid.uuid4()}"
    env = {**os.environ, RUNNER_VARIABLE: label}
    for _ in range(40):
        process = subprocess.Popen(["setsid", "/bin/sh", str(loop)], env=env)
        try:
            assert sweep.sweep(label.__eq__) == 1
            assert sweep.is_gone(process.pid)
        finally:
            process.kill()
            process.wait()


async def test_a_second_look_only_when_the_first_may_have_missed_something(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A kernel's end finds its own tree (the roots) and nothing more: one look,
    # as before (it is on the notebook step's way to its report). A daemon
    # found by its marker alone may have forked meanwhile: a second look.
    looks: list[int] = []
    find_and_kill = tree._find_and_kill

    async def counted(*args: Any) -> list[psutil.Process]:
        found = await find_and_kill(*args)
        looks.append(len(found))
        return found

    monkeypatch.setattr(tree, "_find_and_kill", counted)
    marker = {"ORCHEST_TEST_MARK": uuid.uuid4().hex}
    env = {**os.environ, **marker}
    since = time.time() - 5
    sleep = ("sleep", "30")
    kernel = await asyncio.create_subprocess_exec(*sleep, start_new_session=True, env=env)
    await tree.kill_attempt(kernel.pid, marker, tree.process_tree(kernel.pid), since)
    assert looks == [1] and await kernel.wait() == -signal.SIGKILL
    looks.clear()
    daemon = await asyncio.create_subprocess_exec(*sleep, start_new_session=True, env=env)
    await tree.kill_attempt(daemon.pid, marker, (), since)
    assert looks == [1, 0] and await daemon.wait() == -signal.SIGKILL


def test_an_empty_environment_read_is_looked_at_again_only_if_an_exec_may_explain_it() -> None:
    kernel_thread = 2  # kthreadd: no memory, no environment, ever
    assert sweep.exec_inside(kernel_thread) is None
    # Asked after an empty read: an environment there now means an exec
    # ended in between.
    assert sweep.exec_inside(os.getpid()) is True
    no_environment = subprocess.Popen(["sleep", "30"], env={})
    zombie = subprocess.Popen(["true"])
    try:
        os.waitid(os.P_PID, zombie.pid, os.WEXITED | os.WNOWAIT)  # exited, not reaped
        assert psutil.Process(zombie.pid).status() == psutil.STATUS_ZOMBIE
        assert sweep.exec_inside(zombie.pid) is None
        assert sweep.exec_inside(2**22 + 1) is None  # no such process
        # Bounds set and equal: an exec's last step looks the same, so a few
        # looks, not more.
        assert sweep.read_environ(no_environment.pid) == b""
        assert sweep.exec_inside(no_environment.pid) is False
        watch = sweep.ExecWatch()
        looked = []
        for _ in range(sweep.EQUAL_LOOKS + 2):
            watch.next_look()
            for pid in (no_environment.pid, zombie.pid, os.getpid()):
                watch.empty_read(pid)
            looked.append(watch.pending)
        expected = [no_environment.pid, os.getpid()]
        assert looked == [expected] * sweep.EQUAL_LOOKS + [[os.getpid()]] * 2
    finally:
        no_environment.kill()
        no_environment.wait()
        zombie.wait()


@pytest.fixture
def project(tmp_path: Path) -> Project:
    return Project(tmp_path)
