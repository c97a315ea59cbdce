"""A script step started inside its view by the runner's own thread
(``executor/entering.py``) rather than through ``nsenter``: the leader's
cases of ``test_process_spawn.py`` again, through a view; what the step sees;
that the runner's thread comes back where it was; the ``nsenter`` way where
that one is not used; and a runner killed while such a step runs leaves no
process of it and nothing mounted.

Nothing sleeps to wait: each test awaits the result or output with a
timeout, or probes with ``eventually``.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import threading
from collections.abc import AsyncIterator
from pathlib import Path

import psutil
import pytest
from test_process_spawn import (  # the leader's cases, run here in a view
    PROJECT_UUID,
    Project,
    escapees,  # noqa: F401 (a fixture of those tests)
    test_a_program_that_cannot_be_started_fails_the_step_with_its_name,  # noqa: F401
    test_a_step_that_closes_its_output_early_ends_with_its_exit_code,  # noqa: F401
    test_cancelling_the_call_anywhere_in_the_start_leaves_nothing_behind,  # noqa: F401
    test_output_held_open_by_an_escaped_process_is_given_up_after_the_drain,  # noqa: F401
    test_the_exit_code_and_signal_are_the_leaders,  # noqa: F401
    test_without_pidfds_a_thread_waits_for_the_exit,  # noqa: F401
)
from test_view_executor import without_nsenter

from orchest_step_runner.executor import ProcessExecutor
from orchest_step_runner.executor.isolation import Isolation, open_isolation
from support import eventually

pytestmark = pytest.mark.skipif(os.getuid() != 0, reason="steps start directly only as root")


@pytest.fixture
async def isolation(tmp_path: Path) -> AsyncIterator[Isolation]:
    async with open_isolation("namespace", tmp_path / "data") as chosen:
        yield chosen


@pytest.fixture
def project(tmp_path: Path) -> Project:
    return Project(tmp_path, PROJECT_UUID)


@pytest.fixture
def executor(isolation: Isolation) -> ProcessExecutor:
    """Each step in its view, started directly."""
    return ProcessExecutor(kill_grace_seconds=1.0, isolation=without_nsenter(isolation))


SHOW = """\
echo "cwd=$(pwd)"
echo "mine=$(cat /project-dir/mine.txt)"
echo "data=$(test -d /data && echo yes)"
if echo x > /pipeline.json 2>/dev/null; then echo "pipeline=writable"; else echo "pipeline=read-only"; fi
echo "leader=$(cat /proc/$$/comm)"
"""


def seen(text: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line)


def where_am_i() -> tuple[str, str, tuple[int, int]]:
    """This thread's mount namespace, working directory and root."""
    root = os.stat("/")
    return os.readlink("/proc/thread-self/ns/mnt"), os.getcwd(), (root.st_dev, root.st_ino)


async def test_a_step_starts_in_its_view_without_nsenter_and_the_runner_comes_back(
    executor: ProcessExecutor, project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    (project.dir / "mine.txt").write_text("the project")
    path = project.write("show.sh", SHOW)
    monkeypatch.chdir(project.scratch)  # somewhere neither root of either namespace
    before = where_am_i()
    assert before[1] == str(project.scratch)
    result, output = await project.run(executor, project.work(path))
    assert (result.exit_code, result.error) == (0, None), output.text
    assert seen(output.text) == {
        "cwd": "/project-dir/steps",
        "mine": "the project",
        "data": "yes",
        "pipeline": "read-only",
        "leader": "bash",
    }
    assert where_am_i() == before
    assert executor._isolation.describe().endswith("; started directly)")


async def test_a_thread_started_after_a_step_does_not_stop_the_next_from_starting_directly(
    executor: ProcessExecutor, project: Project
) -> None:
    # A thread started by the loop's thread after a step shares that
    # thread's root and working directory (made its own for the step):
    # the next step's entry into its view must not be refused for it.
    path = project.write("ok.sh", "echo ok\n")
    result, output = await project.run(executor, project.work(path))
    assert (result.exit_code, output.text) == (0, "ok\n")
    release = threading.Event()
    sharer = threading.Thread(target=release.wait, daemon=True)
    sharer.start()
    try:
        result, output = await project.run(executor, project.work(path))
    finally:
        release.set()
        sharer.join()
    assert (result.exit_code, result.error, output.text) == (0, None, "ok\n")


async def test_a_view_the_thread_cannot_enter_is_entered_through_nsenter(
    isolation: Isolation, project: Project
) -> None:
    # Not expected (the direct start is checked at start-up), but should the
    # thread's entry be refused, the step still starts, in its view.
    holder = isolation.holder
    assert isolation.direct and holder is not None
    executor = ProcessExecutor(isolation=isolation)
    (project.dir / "mine.txt").write_text("the project")
    namespace = holder._namespace
    holder._namespace = os.open(os.devnull, os.O_RDONLY)  # setns refuses it
    try:
        result, output = await project.run(executor, project.work(project.write("show.sh", SHOW)))
    finally:
        os.close(holder._namespace)
        holder._namespace = namespace
    assert (result.exit_code, result.error) == (0, None), output.text
    assert seen(output.text)["cwd"] == "/project-dir/steps"
    assert seen(output.text)["mine"] == "the project"


async def test_without_the_direct_start_steps_enter_their_view_through_nsenter(
    isolation: Isolation, project: Project
) -> None:
    # As a runner that is not root does (its holder is in a user namespace).
    isolation.direct = False
    assert isolation.describe().endswith("; started through nsenter)")
    executor = ProcessExecutor(isolation=isolation)
    (project.dir / "mine.txt").write_text("the project")
    result, output = await project.run(executor, project.work(project.write("show.sh", SHOW)))
    assert (result.exit_code, result.error) == (0, None), output.text
    assert seen(output.text)["cwd"] == "/project-dir/steps"
    assert seen(output.text)["mine"] == "the project"
    assert isolation.holder is not None
    isolation.holder._nsenter = "/nonexistent/nsenter"
    result, _ = await project.run(executor, project.work(project.write("show.sh", SHOW)))
    assert result.error == "/nonexistent/nsenter not found"


RUNNER = """\
import asyncio, json, sys
from pathlib import Path
sys.path.insert(0, sys.argv[1])
from step_files import one_step_work
from orchest_step_runner import scratch
from orchest_step_runner.executor import ProcessExecutor
from orchest_step_runner.executor.isolation import open_isolation
from orchest_step_runner.executor.reaping import RunnerProcess

async def main():
    folder = scratch.hold()
    project = Path(sys.argv[2])
    (folder / "s-1").mkdir()
    async with open_isolation("namespace", project / "data") as isolation, ProcessExecutor.open(
        RunnerProcess.current(), isolation=isolation
    ) as executor:
        assert isolation.direct
        isolation.holder._nsenter = "/nonexistent/nsenter"
        work = one_step_work(project, "steps/tree.sh", step_uuid="s", pipeline={"name": "x"})
        holder = isolation.holder
        print(json.dumps({"holder": holder.pid, "base": str(holder.base)}), flush=True)
        await executor.execute(
            work, output=print_nothing, cancel=asyncio.Event(), scratch_dir=folder / "s-1"
        )

async def print_nothing(text):
    pass

asyncio.run(main())
"""

TREE = """\
sleep 300 &
echo $! >> {pids}
setsid sleep 300 &
echo $! >> {pids}
echo $$ >> {pids}
echo ready > {ready}
wait
"""


async def test_a_killed_runner_leaves_no_process_of_a_step_started_directly_nor_a_mount(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "project"
    (folder / "steps").mkdir(parents=True)
    pids, ready = tmp_path / "pids", tmp_path / "ready"
    (folder / "steps" / "tree.sh").write_text(TREE.format(pids=pids, ready=ready))
    tests = Path(__file__).parent.parent
    runner = await asyncio.create_subprocess_exec(
        sys.executable, "-c", RUNNER, str(tests), str(folder), stdout=asyncio.subprocess.PIPE
    )
    try:
        assert runner.stdout is not None
        state = json.loads(await asyncio.wait_for(runner.stdout.readline(), timeout=60))

        async def started() -> bool | None:
            return True if ready.exists() and len(pids.read_text().split()) == 3 else None

        await eventually(started, timeout=60, what="the step and its children started")
        steps = [int(pid) for pid in pids.read_text().split()]
        assert all(psutil.Process(pid).ppid() != state["holder"] for pid in steps)
    finally:
        runner.kill()  # SIGKILL: nothing of its own clean-up runs
        await runner.wait()

    def alive(pid: int) -> bool:
        try:
            return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            return False

    async def all_gone() -> bool | None:
        left = [pid for pid in [*steps, state["holder"]] if alive(pid)]
        return True if not left else None

    await eventually(all_gone, timeout=30, what="the step's processes and the holder gone")
    mounts = await asyncio.to_thread(Path("/proc/self/mountinfo").read_text)
    assert state["base"] not in mounts  # nothing on the host
