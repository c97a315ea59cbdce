"""What a trivial ``.sh`` step costs in the process executor, one after another
(no stack: the executor alone, as the runner calls it), and ``bash -c true``
started the same way as the floor.

``uv run python -m bench.process_steps [STEPS]`` prints the median and p90 of
a chain of steps, with the runner's guardian (``ProcessExecutor.open``, as
the service runs it) and without (a bare ``ProcessExecutor``).
"""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path

import psutil

from orchest_step_runner.executor import ProcessExecutor
from orchest_step_runner.executor.reaping import RunnerProcess

from .docker_step import step_work
from .report import MS


async def _discard(text: str) -> None:
    pass


CPU: dict[str, float] = {}
"""The runner process's CPU seconds (all its threads) spent in each chain kind."""


async def chain(executor: ProcessExecutor, root: Path, steps: int, kind: str = "") -> list[float]:
    """Each step's time, start to result, run one after another."""
    times = []
    cpu = time.process_time()
    for _ in range(steps):
        with tempfile.TemporaryDirectory() as scratch:
            started = time.perf_counter()
            result = await executor.execute(
                step_work(root, "noop.sh"),
                output=_discard,
                cancel=asyncio.Event(),
                scratch_dir=Path(scratch),
            )
            times.append(time.perf_counter() - started)
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
async def guarded() -> AsyncIterator[ProcessExecutor]:
    if not hasattr(ProcessExecutor, "open"):  # measuring a version before the guardian
        yield ProcessExecutor()
        return
    async with ProcessExecutor.open(RunnerProcess.current()) as executor:
        yield executor


def _line(name: str, times: list[float]) -> str:
    ordered = sorted(times)
    p90 = ordered[int(len(ordered) * 0.9)]
    return f"{name:<28} median {statistics.median(times) * MS:6.2f} ms   p90 {p90 * MS:6.2f} ms"


async def main(steps: int) -> None:
    with tempfile.TemporaryDirectory() as project:
        root = Path(project)
        (root / "noop.sh").write_text("true\n")
        bare = ProcessExecutor()
        await chain(bare, root, 20)  # warm up (imports, page cache)
        times: dict[str, list[float]] = {"floor": [], "bare": [], "guarded": []}
        async with guarded() as executor:
            if not hasattr(ProcessExecutor, "open"):
                print("(this version has no guardian: both chains are bare)")
            # Interleaved blocks: the machine's load drifts alike for each.
            for _ in range(steps // 20):
                times["floor"] += await floor(20)
                times["bare"] += await chain(bare, root, 20, "bare")
                times["guarded"] += await chain(executor, root, 20, "guarded")
            guardian = getattr(getattr(executor, "_guardian", None), "pid", None)
            guardian_cpu = sum(psutil.Process(guardian).cpu_times()[:2]) if guardian else 0.0
        print(_line("bash -c true (floor)", times["floor"]))
        for kind, name in [("bare", "step, no guardian"), ("guarded", "step, with the guardian")]:
            cpu = CPU[kind] / len(times[kind]) * MS
            print(f"{_line(name, times[kind])}   runner CPU {cpu:5.2f} ms/step")
        print(f"guardian CPU {guardian_cpu / len(times['guarded']) * MS:5.3f} ms/step")


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 200))
