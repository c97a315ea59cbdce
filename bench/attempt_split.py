"""Where the wall time of one script step goes in the process executor, with
and without its view: ``uv run python -m bench.attempt_split [STEPS]``.

Each step is ``stamp.sh``, whose first instruction writes its
``$EPOCHREALTIME``; the executor's leader (``spawn.Leader``) is wrapped to
stamp its start (the spawn returned) and its exit seen (``exited`` done).
Printed, medians over the chain (ms): attempt start -> spawn returned ->
the step's first instruction -> exit seen -> result returned; and the same
``bash stamp.sh`` started bare by ``subprocess.Popen`` (the floor: spawn
returned -> first instruction -> exit seen, by ``wait``).
"""

from __future__ import annotations

import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from orchest_step_runner import scratch
from orchest_step_runner.executor import spawn
from orchest_step_runner.service import watch_children_by_pidfd

from .process_steps import _works, guarded
from .report import MS

STAMP = 'printf "%s\\n" "$EPOCHREALTIME" > stamp.at\n'
MARKS: list[dict[str, float]] = []


def _wrap_leader() -> None:
    """Stamp each leader's start and its exit seen."""
    original = spawn.Leader.__init__

    def init(self: spawn.Leader, *args: object, **kwargs: object) -> None:
        original(self, *args, **kwargs)  # type: ignore[arg-type]
        mark = {"spawned": time.time()}
        MARKS.append(mark)
        self.exited.add_done_callback(lambda _: mark.__setitem__("seen", time.time()))

    spawn.Leader.__init__ = init  # type: ignore[method-assign]


def _first(stamp: Path) -> float:
    return float(stamp.read_text().replace(",", "."))


async def chain(viewed: bool, root: Path, steps: int) -> dict[str, list[float]]:
    spans: dict[str, list[float]] = {k: [] for k in ("spawn", "first", "exit", "result", "all")}
    stamp = root / "stamp.at"
    async with guarded(root / "data" if viewed else None) as executor:
        for work in _works(root, steps):
            folder = Path(tempfile.mkdtemp(dir=scratch.runner_directory()))
            MARKS.clear()
            start = time.time()
            result = await executor.execute(
                work, output=_discard, cancel=asyncio.Event(), scratch_dir=folder
            )
            end = time.time()
            assert result.exit_code == 0, result
            mark, first = MARKS[0], _first(stamp)
            spans["spawn"].append(mark["spawned"] - start)
            spans["first"].append(first - mark["spawned"])
            spans["exit"].append(mark["seen"] - first)
            spans["result"].append(end - mark["seen"])
            spans["all"].append(end - start)
    return spans


async def _discard(text: str) -> None:
    pass


def bare(root: Path, steps: int) -> dict[str, list[float]]:
    spans: dict[str, list[float]] = {"first": [], "exit": [], "all": []}
    for _ in range(steps):
        start = time.time()
        process = subprocess.Popen(
            ["bash", str(root / "stamp.sh")], cwd=root, start_new_session=True
        )
        spawned = time.time()
        process.wait()
        seen = time.time()
        first = _first(root / "stamp.at")
        spans["first"].append(first - spawned)
        spans["exit"].append(seen - first)
        spans["all"].append(seen - start)
    return spans


def _print(name: str, spans: dict[str, list[float]]) -> None:
    cells = "  ".join(f"{k} {statistics.median(v) * MS:5.2f}" for k, v in spans.items())
    print(f"{name:<8} {cells}")


async def main(steps: int) -> None:
    await asyncio.to_thread(scratch.hold)
    try:
        with tempfile.TemporaryDirectory() as project:
            root = Path(project)
            (root / "stamp.sh").write_text(STAMP)
            (root / "noop.sh").write_text(STAMP)
            _wrap_leader()
            await chain(True, root, 20)  # warm up
            for _ in range(3):
                _print("bare", bare(root, steps))
                _print("guarded", await chain(False, root, steps))
                _print("view", await chain(True, root, steps))
    finally:
        await asyncio.to_thread(scratch.release)
    print(f"load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    watch_children_by_pidfd()
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 100))
