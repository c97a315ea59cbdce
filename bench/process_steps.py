"""What a trivial ``.sh`` step costs in the process executor, one after another
(no stack: the executor alone, as the runner calls it), and ``bash -c true``
started the same way as the floor.

``uv run python -m bench.process_steps [STEPS]`` prints the median and p90 of
a chain of steps, with the runner's guardian (``ProcessExecutor.open``, as
the service runs it), without it (a bare ``ProcessExecutor``), and with the
guardian and each step in its own view (``ORCHEST_ISOLATION=auto`` where
this host allows mount namespaces, as figure 2's runners run), and the CPU
of the runner process (this one: the executor's work, not the step's) and of
its guardian and view holder per step. The loop learns of exits through
pidfds, as the runner's ``__main__`` sets it up. Each step's work is made
before the chain starts (the runner gets it from the bus); each attempt's
scratch folder is made in the runner's folder and removed after it, as the
runner does (``scratch.py``: on a tmpfs where there is one).
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import psutil

from orchest_schemas.commands import StepWork
from orchest_step_runner import scratch
from orchest_step_runner.executor import ProcessExecutor
from orchest_step_runner.executor.isolation import open_isolation
from orchest_step_runner.executor.reaping import RunnerProcess
from orchest_step_runner.scratch import runner_directory
from orchest_step_runner.service import watch_children_by_pidfd

from .docker_step import step_work
from .report import MS

BLOCK = 20
"""Steps of each kind in turn: the machine's load drifts alike for each."""


async def _discard(text: str) -> None:
    pass


CPU: dict[str, float] = {}
"""The runner process's CPU seconds (all its threads) spent in each chain kind."""


def _works(root: Path, steps: int) -> list[StepWork]:
    """Steps of one definition (a run's steps share theirs), each its own attempt."""
    first = step_work(root, "noop.sh")
    return [first.model_copy(update={"run_uuid": str(uuid.uuid4())}) for _ in range(steps)]


async def chain(executor: ProcessExecutor, root: Path, steps: int, kind: str = "") -> list[float]:
    """Each step's time, start to result, run one after another."""
    times = []
    works = _works(root, steps)
    cpu = time.process_time()
    for work in works:
        # As the runner makes and removes each attempt's (``attempts.py``).
        scratch = Path(tempfile.mkdtemp(prefix=f"{work.step_uuid[:8]}-", dir=runner_directory()))
        started = time.perf_counter()
        result = await executor.execute(
            work, output=_discard, cancel=asyncio.Event(), scratch_dir=scratch
        )
        times.append(time.perf_counter() - started)
        shutil.rmtree(scratch, True)
        assert result.exit_code == 0, result
    CPU[kind] = CPU.get(kind, 0.0) + time.process_time() - cpu
    return times


async def floor(steps: int) -> list[float]:
    """``bash -c true`` as a session leader with its output piped: the process alone."""
    times = []
    for _ in range(steps):
        started = time.perf_counter()
        process = await asyncio.create_subprocess_exec(
            "bash", "-c", "true", stdout=asyncio.subprocess.PIPE, start_new_session=True
        )
        await process.communicate()
        times.append(time.perf_counter() - started)
    return times


@contextlib.asynccontextmanager
async def guarded(data_dir: Path | None = None) -> AsyncIterator[ProcessExecutor]:
    """The executor as the service opens it (``data_dir``: with each step's view)."""
    if data_dir is None:
        async with ProcessExecutor.open(RunnerProcess.current()) as executor:
            yield executor
        return
    async with (
        open_isolation("auto", data_dir) as isolation,
        ProcessExecutor.open(RunnerProcess.current(), isolation=isolation) as executor,
    ):
        if isolation.holder is None:
            print(f"(no views on this host: {isolation.reason})")
        yield executor


def _cpu(pid: int | None) -> float:
    return sum(psutil.Process(pid).cpu_times()[:2]) if pid else 0.0


def _line(name: str, times: list[float]) -> str:
    ordered = sorted(times)
    p90 = ordered[int(len(ordered) * 0.9)]
    return f"{name:<28} median {statistics.median(times) * MS:6.2f} ms   p90 {p90 * MS:6.2f} ms"


async def main(steps: int) -> None:
    folder = await asyncio.to_thread(scratch.hold)
    print(f"(scratch folders in {folder.parent})")
    try:
        await _main(steps)
    finally:
        await asyncio.to_thread(scratch.release)


async def _main(steps: int) -> None:
    with tempfile.TemporaryDirectory() as project:
        root = Path(project)
        (root / "noop.sh").write_text("true\n")
        bare = ProcessExecutor()
        await chain(bare, root, BLOCK)  # warm up (imports, page cache)
        times: dict[str, list[float]] = {"floor": [], "bare": [], "guarded": [], "view": []}
        helpers: dict[str, float] = {}
        async with guarded() as executor, guarded(root / "data") as viewed:
            isolation = viewed._isolation
            await chain(viewed, root, BLOCK)  # warm up the view holder
            holder = isolation.holder.pid if isolation.holder else None
            before = {"guardian": _cpu(executor.guardian_pid), "holder": _cpu(holder)}
            for _ in range(steps // BLOCK):
                times["floor"] += await floor(BLOCK)
                times["bare"] += await chain(bare, root, BLOCK, "bare")
                times["guarded"] += await chain(executor, root, BLOCK, "guarded")
                times["view"] += await chain(viewed, root, BLOCK, "view")
            helpers["guardian"] = _cpu(executor.guardian_pid) - before["guardian"]
            helpers["holder"] = _cpu(holder) - before["holder"]
        print(_line("bash -c true (floor)", times["floor"]))
        kinds = [
            ("bare", "step, no guardian"),
            ("guarded", "step, with the guardian"),
            ("view", "step, guardian and view"),
        ]
        for kind, name in kinds:
            cpu = CPU[kind] / len(times[kind]) * MS
            print(f"{_line(name, times[kind])}   runner CPU {cpu:5.2f} ms/step")
        print(
            f"guardian CPU {helpers['guardian'] / len(times['guarded']) * MS:5.3f} ms/step"
            f"   view holder CPU {helpers['holder'] / len(times['view']) * MS:5.3f} ms/step"
            f"   load average {psutil.getloadavg()[0]:.1f}"
        )


if __name__ == "__main__":
    watch_children_by_pidfd()
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 200))
