"""Warm kernels for notebook steps (``executor/kernel_pool.py``), against real
kernels: a step on a pooled kernel sees exactly what a step on a kernel
started for it sees, in both isolation modes; abort works as on a cold
kernel; and the pooled kernels end with the executor, and with a runner
killed with ``kill -9`` (its guardian), and are reaped at the next start
when the guardian died too."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import psutil
import pytest
from step_files import Output
from test_process_executor import RESULT_TIMEOUT, STOP_BUDGET, Project

from orchest_schemas.commands import StepWork
from orchest_step_runner.executor import ExecutionResult, ProcessExecutor
from orchest_step_runner.executor.isolation import Isolation, IsolationMode, open_isolation
from orchest_step_runner.executor.kernel_pool import KernelPool, PoolOptions
from orchest_step_runner.executor.reaping import RunnerProcess
from orchest_step_runner.executor.tree import is_gone
from support import eventually

POOL_READY_TIMEOUT = 90.0
"""A kernel starts in 1-3 s; generous for a loaded machine."""
GONE_WITHIN = 5.0

SHOW = """\
import json, os, sys
import orchest
from orchest.config import Config
seen = {
    "pid": os.getpid(),
    "cwd": os.getcwd(),
    "env": dict(os.environ),
    "executable": sys.executable,
    "path": sys.path,
    "dh": [str(d) for d in _dh],
    "x": x,
    "step_param": orchest.get_step_param("x"),
    "pipeline_param": orchest.get_pipeline_param("y"),
    "mine": open("mine.txt").read(),
    "step_data_dir": Config.get_step_data_dir(os.environ["ORCHEST_STEP_UUID"]),
    "data": sorted(os.listdir("/data")) if os.path.isdir("/data") else None,
    "pipeline_json": os.path.exists("/pipeline.json")
    and json.load(open("/pipeline.json"))["name"],
}
print("SEEN=" + json.dumps(seen))
"""


def seen(output: Output) -> dict[str, object]:
    line = next(x for x in output.text.splitlines() if x.startswith("SEEN="))
    result: dict[str, object] = json.loads(line.split("=", 1)[1])
    return result


@contextlib.asynccontextmanager
async def executor_with(
    isolation: Isolation, pool: PoolOptions | None
) -> AsyncIterator[ProcessExecutor]:
    async with ProcessExecutor.open(
        RunnerProcess.current(), isolation=isolation, pool=pool
    ) as executor:
        yield executor


async def run(
    executor: ProcessExecutor, project: Project, work: StepWork
) -> tuple[ExecutionResult, Output]:
    done = await project.run(executor, work)
    view = project.scratch / "view"
    if view.exists():  # the attempt's mount point (the caller removes scratch directories)
        view.rmdir()
    return done


async def filled(executor: ProcessExecutor) -> KernelPool:
    pool = executor.pool
    assert pool is not None
    await asyncio.wait_for(pool.settled(), POOL_READY_TIMEOUT)
    assert pool.kernels(), "no kernel in the pool"
    return pool


def show_work(project: Project) -> StepWork:
    (project.steps / "mine.txt").write_text("mine")
    path = project.notebook("show.ipynb", (SHOW, []))
    return project.work(path, parameters={"y": "why"}, step_parameters={"x": 3})


@pytest.mark.parametrize("setting", ["namespace", "none"])
async def test_a_warm_kernel_sees_what_a_cold_one_sees(tmp_path: Path, setting: str) -> None:
    project = Project(tmp_path)
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "shared.txt").write_text("shared")
    work = show_work(project)
    async with open_isolation(setting, tmp_path / "data") as isolation:
        expected_mode = IsolationMode.NAMESPACE if setting == "namespace" else IsolationMode.NONE
        assert isolation.mode is expected_mode
        async with executor_with(isolation, None) as executor:
            result, output = await run(executor, project, work)
            assert result.succeeded, output.text
            cold = seen(output)
        async with executor_with(isolation, PoolOptions(size=1)) as executor:
            await run(executor, project, work)  # tells the pool which kernel to keep
            pool = await filled(executor)
            pids = {kernel.local.pid for kernel in pool.kernels()}
            result, output = await run(executor, project, work)
            assert result.succeeded, output.text
            warm = seen(output)
    assert warm.pop("pid") in pids  # it ran on the pooled kernel
    cold.pop("pid")
    assert warm == cold
    assert cold["x"] == 3 and cold["step_param"] == 3 and cold["pipeline_param"] == "why"
    assert cold["mine"] == "mine"
    if setting == "namespace":
        assert cold["cwd"] == "/project-dir/steps"
        assert cold["data"] == ["shared.txt"] and cold["pipeline_json"] == "test pipeline"
    else:
        assert cold["cwd"] == str(project.steps)


async def test_a_step_on_a_warm_kernel_is_aborted(tmp_path: Path) -> None:
    project = Project(tmp_path)
    cell = "import os, subprocess, time\nsubprocess.Popen(['setsid', 'sleep', '300'])\n"
    cell += "print('ready', os.getpid(), flush=True)\ntime.sleep(300)\n"  # wait-ok: the step itself runs long, to be aborted
    work = project.work(project.notebook("wait.ipynb", (cell, [])))
    quick = project.work(project.notebook("quick.ipynb", ("1", [])))
    async with (
        open_isolation("auto", tmp_path / "data") as isolation,
        executor_with(isolation, PoolOptions(size=1)) as executor,
    ):
        await run(executor, project, quick)
        pool = await filled(executor)
        pids = {kernel.local.pid for kernel in pool.kernels()}
        output, cancel = Output(), asyncio.Event()
        task = asyncio.create_task(
            executor.execute(work, output=output, cancel=cancel, scratch_dir=project.scratch)
        )
        ready = await output.wait_for(r"ready (\d+)")
        kernel = psutil.Process(int(ready.group(1)))
        assert kernel.pid in pids
        family = [kernel, *kernel.children(recursive=True)]
        assert len(family) >= 2  # the kernel and its setsid'd sleep
        cancel.set()
        t0 = time.monotonic()
        result = await asyncio.wait_for(task, RESULT_TIMEOUT)
        took = time.monotonic() - t0
    assert result.aborted and result.error == "aborted", result
    assert took < STOP_BUDGET + 1.5, took  # nbclient notices a dead kernel within a second
    assert all(is_gone(p) for p in family)


async def test_the_pool_kernels_end_with_the_executor_at_once(tmp_path: Path) -> None:
    project = Project(tmp_path)
    quick = project.work(project.notebook("quick.ipynb", ("1", [])))
    async with open_isolation("auto", tmp_path / "data") as isolation:
        async with executor_with(isolation, PoolOptions(size=2)) as executor:
            await run(executor, project, quick)
            pool = await filled(executor)
            kernels = [psutil.Process(k.local.pid or 0) for k in pool.kernels()]
            assert len(kernels) == 2
            t0 = time.monotonic()
        took = time.monotonic() - t0
    assert all(is_gone(p) for p in kernels)
    assert took < 2.0, f"closing took {took:.2f}s"


async def test_the_pool_keeps_to_its_memory_and_ends_idle_kernels(tmp_path: Path) -> None:
    project = Project(tmp_path)
    quick = project.work(project.notebook("quick.ipynb", ("1", [])))
    isolation = Isolation(IsolationMode.NONE, tmp_path / "data", "not asked")
    # Room for no kernel beside another: the first starts, no second.
    async with executor_with(isolation, PoolOptions(size=3, memory_bytes=1)) as executor:
        await run(executor, project, quick)
        pool = await filled(executor)
        assert len(pool.kernels()) == 1
    idle = PoolOptions(size=1, idle_seconds=3.0)
    async with executor_with(isolation, idle) as executor:
        await run(executor, project, quick)
        pool = await filled(executor)
        (kernel,) = pool.kernels()
        ready_at = kernel.ready_at or 0.0
        await all_gone([psutil.Process(kernel.local.pid or 0)], idle.idle_seconds + GONE_WITHIN)
        assert not pool.kernels()
    assert time.monotonic() - ready_at >= idle.idle_seconds  # not before its idle time


RUNNER = """\
import asyncio, sys
sys.path[:0] = [{tests!r}, {integration!r}]
from step_files import Output
from test_process_executor import Project
from pathlib import Path
from orchest_step_runner.executor import ProcessExecutor
from orchest_step_runner.executor.kernel_pool import PoolOptions
from orchest_step_runner.executor.reaping import RunnerProcess

async def main():
    project = Project(Path({root!r}))
    work = project.work(project.notebook("quick.ipynb", ("1", [])))
    async with ProcessExecutor.open(RunnerProcess.current(), pool=PoolOptions(size=2)) as ex:
        await ex.execute(work, output=Output(), cancel=asyncio.Event(), scratch_dir=project.scratch)
        await ex.pool.settled()
        pids = [k.local.pid for k in ex.pool.kernels()]
        print(ex.guardian_pid, *pids, flush=True)
        await asyncio.Event().wait()

asyncio.run(main())
"""


async def a_runner_with_a_full_pool(
    tmp_path: Path,
) -> tuple[asyncio.subprocess.Process, int, list[psutil.Process]]:
    """A runner's process whose executor has filled its pool: it, its
    guardian's pid and the pooled kernels."""
    here = Path(__file__).parent
    script = RUNNER.format(tests=str(here.parent), integration=str(here), root=str(tmp_path))
    runner = await asyncio.create_subprocess_exec(
        sys.executable, "-c", script, stdout=asyncio.subprocess.PIPE
    )
    assert runner.stdout is not None
    line = await asyncio.wait_for(runner.stdout.readline(), POOL_READY_TIMEOUT)
    guardian, *pids = (int(x) for x in line.split())
    assert len(pids) == 2, line
    return runner, guardian, [psutil.Process(pid) for pid in pids]


async def all_gone(processes: list[psutil.Process], within: float = GONE_WITHIN) -> float:
    t0 = time.monotonic()

    async def probe() -> float | None:
        return time.monotonic() - t0 if all(is_gone(p) for p in processes) else None

    return await eventually(probe, timeout=within, what=f"{len(processes)} kernels gone")


async def test_a_killed_runners_pool_kernels_die_with_it(tmp_path: Path) -> None:
    runner, _, kernels = await a_runner_with_a_full_pool(tmp_path)
    try:
        assert not any(is_gone(p) for p in kernels)
        runner.send_signal(signal.SIGKILL)
        await runner.wait()
        took = await all_gone(kernels)
        print(f"the pooled kernels gone {took * 1000:.0f} ms after the runner's kill")
    finally:
        _kill(kernels)


async def test_pool_kernels_left_by_a_runner_and_its_guardian_are_reaped_at_start(
    tmp_path: Path,
) -> None:
    runner, guardian, kernels = await a_runner_with_a_full_pool(tmp_path)
    try:
        # Taken before the kill: once killed and reaped, there is no process to take.
        its_guardian = psutil.Process(guardian)
        os.kill(guardian, signal.SIGKILL)  # the guardian this test's runner started
        await all_gone([its_guardian])
        runner.send_signal(signal.SIGKILL)
        await runner.wait()
        assert not any(is_gone(p) for p in kernels)  # nobody is left to end them
        async with ProcessExecutor.open(RunnerProcess.current()):
            pass
        assert all(is_gone(p) for p in kernels)
    finally:
        _kill(kernels)


def _kill(processes: list[psutil.Process]) -> None:
    """What a failed test left running."""
    for process in processes:
        with contextlib.suppress(psutil.NoSuchProcess):
            process.kill()
