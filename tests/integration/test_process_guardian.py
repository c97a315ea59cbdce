"""A process step never outlives its runner: the guardian (which ends the
steps when its pipe from the runner ends) and the reaping of dead runners'
processes at start, against real processes. (The runner killed with
``kill -9`` in a real stack: ``tests/faults/test_runner_killed_processes.py``.)"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import struct
import subprocess
import sys
from pathlib import Path

import psutil
from step_files import Output
from test_process_executor import RESULT_TIMEOUT, Project

from orchest_schemas.commands import StepWork
from orchest_step_runner.executor import ExecutionResult, ProcessExecutor, sweep
from orchest_step_runner.executor.guardian import reap_orphans
from orchest_step_runner.executor.reaping import RunnerProcess, start_ticks
from orchest_step_runner.executor.sweep import RUNNER_VARIABLE
from orchest_step_runner.executor.tree import is_gone
from support import eventually

GONE_WITHIN = 5.0

FAMILY = """\
(while true; do sleep 0.05; done) &
setsid bash -c 'touch grandchild.up; while true; do sleep 0.05; done' &
(setsid bash -c 'touch daemon.up; exec sleep 300' &)
until [ -e grandchild.up ] && [ -e daemon.up ]; do sleep 0.01; done
sleep 300 &
echo ready
wait
"""
"""A child, a setsid grandchild and a daemon, each started before ``ready``
(the daemon's subshell may fork it after the leader's next line: on a busy
machine it did); the leader waits on its own sleep."""


def labelled(label: str) -> list[psutil.Process]:
    found = []
    for process in psutil.process_iter():
        try:
            if process.environ().get(RUNNER_VARIABLE) == label and not is_gone(process):
                found.append(process)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return found


async def all_gone(processes: list[psutil.Process]) -> None:
    async def probe() -> bool | None:
        return True if all(is_gone(p) for p in processes) else None

    await eventually(probe, timeout=GONE_WITHIN, what=f"{len(processes)} processes gone")


async def end_with_the_executor(project: Project, work: StepWork) -> tuple[int, ExecutionResult]:
    """Run ``work`` in an executor opened as the service opens it, until it
    prints ``ready``; close the executor (its guardian's pipe ends, as when
    the runner dies) and wait until every process the step started is gone.
    Returns how many there were, and the step's result."""
    me = RunnerProcess.current()
    output = Output()
    async with ProcessExecutor.open(me) as executor:
        task = asyncio.create_task(
            executor.execute(
                work, output=output, cancel=asyncio.Event(), scratch_dir=project.scratch
            )
        )
        await output.wait_for("ready")
        family = await asyncio.to_thread(labelled, me.label)
    await all_gone(family)
    return len(family), await asyncio.wait_for(task, RESULT_TIMEOUT)


async def test_the_steps_end_with_the_executor_whatever_left_the_group(tmp_path: Path) -> None:
    project = Project(tmp_path)
    count, result = await end_with_the_executor(
        project, project.work(project.write("family.sh", FAMILY))
    )
    assert count >= 5  # leader and its sleep, child, grandchild, daemon
    assert result.exit_code == -9


async def test_a_notebooks_kernel_ends_with_the_executor(tmp_path: Path) -> None:
    project = Project(tmp_path)
    cell = "import subprocess\nsubprocess.Popen(['setsid', 'sleep', '300'])\nprint('ready')\n"
    blocks = "import time\ntime.sleep(300)"  # wait-ok: the notebook's cell blocks, not the test
    path = project.notebook("wait.ipynb", (cell, []), (blocks, []))
    count, result = await end_with_the_executor(project, project.work(path))
    assert count >= 2  # the kernel and its setsid'd sleep
    assert result.error is not None


async def test_a_dead_guardian_is_replaced_at_the_next_step(tmp_path: Path) -> None:
    project = Project(tmp_path)
    async with ProcessExecutor.open(RunnerProcess.current()) as executor:
        guardian = psutil.Process(executor.guardian_pid or 0)
        guardian.kill()
        await all_gone([guardian])
        result = await asyncio.wait_for(
            executor.execute(
                project.work(project.write("ok.sh", "true\n")),
                output=Output(),
                cancel=asyncio.Event(),
                scratch_dir=project.scratch,
            ),
            RESULT_TIMEOUT,
        )
        assert result.exit_code == 0
        assert executor.guardian_pid not in (None, guardian.pid)
        assert not is_gone(psutil.Process(executor.guardian_pid or 0))


UNLABELLED = """\
env -i /bin/sh -c 'echo $$ > unlabelled.new; mv unlabelled.new unlabelled.pid; exec sleep 300' &
while [ ! -e unlabelled.pid ]; do sleep 0.01; done
echo ready
sleep 300
"""
"""A child that dropped the environment (and the runner's label) but stays in
the step's process group: only the group's kill reaches it."""


RUNNER = """\
import asyncio, sys
from pathlib import Path
sys.path[:0] = sys.argv[1:3]
from step_files import Output, one_step_work
from orchest_step_runner.executor import ProcessExecutor
from orchest_step_runner.executor.reaping import RunnerProcess

async def main():
    project = Path(sys.argv[3])
    async with ProcessExecutor.open(RunnerProcess.current()) as executor:
        for name in ("ok.sh", "unlabelled.sh"):
            await executor.execute(
                one_step_work(project, "steps/" + name), output=Output(),
                cancel=asyncio.Event(), scratch_dir=Path(sys.argv[4]),
            )

asyncio.run(main())
"""
"""A runner: a step that ends, then one that runs until the runner is killed."""


async def test_a_process_without_the_label_dies_with_its_killed_runner_through_its_group(
    tmp_path: Path,
) -> None:
    # The steps' groups are kept in the guardian's memory slots (no line on
    # its pipe): read when the runner dies, the unlabelled child's group is
    # killed. Without the slots read, the child survives its runner.
    project = Project(tmp_path)
    project.write("ok.sh", "true\n")
    project.write("unlabelled.sh", UNLABELLED)
    tests = Path(__file__).parent
    runner = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        RUNNER,
        str(tests),
        str(tests.parent),
        str(project.dir),
        str(project.scratch),
    )
    try:

        async def started() -> int | None:
            pid_file = project.steps / "unlabelled.pid"
            text = await asyncio.to_thread(lambda: pid_file.exists() and pid_file.read_text())
            return int(text) if text else None

        child = psutil.Process(await eventually(started, timeout=30, what="the step's child"))
        assert RUNNER_VARIABLE not in child.environ()
    finally:
        runner.kill()  # SIGKILL: only the guardian is left to end the step
        await runner.wait()
    await all_gone([child])


def test_the_guardian_reads_the_groups_of_its_memory_slots() -> None:
    # A step's start and end are a store each to the slots, not a line each
    # on the guardian's pipe.
    fd = os.memfd_create("test-groups")
    try:
        os.ftruncate(fd, sweep.GROUP_SLOTS * 4)
        os.pwrite(fd, struct.pack("=3i", 0, 1234, 0) + struct.pack("=i", 99), 0)
        assert sweep.slotted_groups(fd) == [1234, 99]
    finally:
        os.close(fd)


def start_labelled(label: str) -> psutil.Process:
    """A setsid'd daemon carrying a runner's label (its parent exits at once)."""
    env = {**os.environ, RUNNER_VARIABLE: label}
    out = subprocess.run(
        ["bash", "-c", "setsid sleep 300 > /dev/null 2>&1 & echo $!"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return psutil.Process(int(out.stdout))


def test_processes_of_dead_runners_are_reaped_at_start() -> None:
    # This test's runner and the runners it stages say they are of a pid
    # namespace of their own (a number no namespace has): a runner starting
    # meanwhile in another test worker leaves their processes alone (a runner
    # of another namespace cannot tell whether they live), so only this
    # test's reaping can take the orphans it counts.
    me = dataclasses.replace(RunnerProcess.current(), pid_namespace=1)
    dead = subprocess.Popen(["sleep", "300"])
    alive = subprocess.Popen(["sleep", "300"])
    try:
        dead_label, alive_label = (
            RunnerProcess(me.boot_id, me.pid_namespace, p.pid, start_ticks(p.pid) or 0).label
            for p in (dead, alive)
        )
        orphans = [start_labelled(dead_label) for _ in range(3)]
        kept = start_labelled(alive_label)
        mine = start_labelled(me.label)
        dead.kill()
        dead.wait()
        assert reap_orphans(me) == 3  # it returns once they are gone
        assert all(is_gone(orphan) for orphan in orphans)
        assert not is_gone(kept) and not is_gone(mine)
    finally:
        for process in (dead, alive):
            process.kill()
            process.wait()
        for leftover in [*labelled(dead_label), *labelled(alive_label), *labelled(me.label)]:
            leftover.kill()
