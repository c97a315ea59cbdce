"""Figure 1: the per-step overhead of a chain of bash steps, against Celery+Redis.

Every step runs ``stamp.sh``, which appends its own start time
(``$EPOCHREALTIME``, bash's clock) to a file named after its run
(``ORCHEST_RUN_UUID``); the period of a chain is the mean time between
consecutive steps' stamps. The floor is the same steps spawned back to back
by the bench with no orchestration at all (asyncio subprocesses, output
piped); a chain's per-step overhead is its period minus the floor's, for the
stack, for the Celery chain (``celery_chain.py``) and for the stack's
guarantees' I/O alone (``contract_floor.py``), in rounds that interleave the
four.
"""

from __future__ import annotations

import logging
import os
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path

from .celery_chain import BaselineMissing, CeleryWorker, celery_worker
from .contract_floor import ContractFloor, contract_floor
from .harness import Pipeline, Stack, p50, project_dir, run_pipeline, run_script
from .report import MS, Figure

logger = logging.getLogger(__name__)

STAMP_SCRIPT = "stamp.sh"


def stamp_project(name: str) -> tuple[Path, Path]:
    """A project directory holding ``stamp.sh``, and the folder it stamps into
    (outside the project: the scheduler watches projects for changes, which
    the steps of the baseline would not pay for)."""
    root = project_dir(name)
    stamps = Path(tempfile.mkdtemp(prefix=f"orchest-bench-{name}-stamps-"))
    (root / STAMP_SCRIPT).write_text(
        f"printf '%s\\n' \"$EPOCHREALTIME\" >> '{stamps}'/\"$ORCHEST_RUN_UUID\"\n"
    )
    return root, stamps


def period(stamps: Path, run_uuid: str, steps: int) -> float:
    """Mean seconds between consecutive start stamps of one chain."""
    values = [float(line) for line in (stamps / run_uuid).read_text().split()]
    assert len(values) == steps, f"{len(values)} stamps of {steps} steps"
    return (values[-1] - values[0]) / (steps - 1)


async def spawn_chain(root: Path, run_uuid: str, steps: int) -> None:
    """The floor: ``bash stamp.sh`` spawned back to back by the bench."""
    env = {**os.environ, "ORCHEST_RUN_UUID": run_uuid}
    for _ in range(steps):
        await run_script(root, STAMP_SCRIPT, env)


@dataclass
class Periods:
    floor: list[float]
    ours: list[float]
    celery: list[float]
    contract: list[float]


async def _rounds(
    stack: Stack, worker: CeleryWorker | None, steps: int, runs: int, io: ContractFloor
) -> Periods:
    root, stamps = stamp_project("chain")
    pipeline = Pipeline(root)
    for i in range(steps):
        pipeline.add(f"s{i:03d}", STAMP_SCRIPT, [f"s{i - 1:03d}"] if i else [])
    await run_pipeline(stack, pipeline.fresh())  # warm-ups
    if worker is not None:
        await worker.chain(root / STAMP_SCRIPT, str(uuid.uuid4()), steps)
    await io.chain(root, STAMP_SCRIPT, str(uuid.uuid4()), steps)
    io.segments.clear()  # the parts' medians over the measured rounds only
    found = Periods([], [], [], [])
    for _ in range(runs):
        floor_run = str(uuid.uuid4())
        await spawn_chain(root, floor_run, steps)
        found.floor.append(period(stamps, floor_run, steps))
        timing = await run_pipeline(stack, pipeline.fresh())
        found.ours.append(period(stamps, timing.run_uuid, steps))
        if worker is not None:
            celery_run = str(uuid.uuid4())
            await worker.chain(root / STAMP_SCRIPT, celery_run, steps)
            found.celery.append(period(stamps, celery_run, steps))
        contract_run = str(uuid.uuid4())
        await io.chain(root, STAMP_SCRIPT, contract_run, steps)
        found.contract.append(period(stamps, contract_run, steps))
    return found


async def overhead(stack: Stack, steps: int = 100, runs: int = 5) -> Figure:
    missing = None
    async with contract_floor(stack) as io:
        try:
            async with celery_worker() as worker:
                found = await _rounds(stack, worker, steps, runs, io)
        except BaselineMissing as error:
            missing = str(error)
            print(f"figure 1: the Celery baseline is skipped: {missing}", flush=True)
            found = await _rounds(stack, None, steps, runs, io)
    floor = p50(found.floor)
    ours = p50(found.ours) - floor
    contract = p50(found.contract) - floor
    load = os.getloadavg()[0]
    how = (
        f"{runs} rounds (after a warm-up) of a chain of {steps} `.sh` steps, each appending"
        " its own start time (`$EPOCHREALTIME`) to a file of its run; a chain's period is"
        " (last stamp - first stamp) / (steps - 1), its per-step overhead the period minus"
        " the floor's, medians over the rounds. Floor: the bench spawning the same"
        f" `bash stamp.sh` {steps} times back to back (asyncio subprocesses, output piped)."
        " Baseline, in the same rounds: a Celery worker (prefork pool, 2 processes; Redis"
        " from Debian's `redis-server` as broker and result backend, nothing persisted)"
        " running the same steps as one `chain` of tasks that each `subprocess.run` bash."
        " The guarantees' I/O alone, in the same rounds: the bench process doing, before each"
        " step's spawn, only what the stack's reliability contract requires between two steps"
        " of a chain (the report as a NATS request whose responder commits one Postgres UPDATE"
        " that ends the step and grants the next one, and answers with it), on the stack's"
        " NATS and Postgres, with no other logic (`bench/contract_floor.py`); its parts:"
        " the median time of each await over every step of those rounds."
        f" Load average (1 min) at the end: {load:.1f}."
    )
    if missing is not None:
        return Figure(
            name=f"1. per-step overhead, {steps}-step chain of .sh",
            value=f"{ours * MS:.2f} ms/step (period {p50(found.ours) * MS:.2f} ms)",
            floor=(
                f"spawned back to back: period {floor * MS:.2f} ms; Celery: skipped ({missing});"
                f" the guarantees' I/O alone {contract * MS:.2f} ms/step"
            ),
            ratio=None,
            target="<= 0.5x Celery+Redis",
            met=None,
            how=how,
        )
    celery = p50(found.celery) - floor
    ratio = ours / celery if celery > 0 else None
    return Figure.bounded(
        name=f"1. per-step overhead, {steps}-step chain of .sh",
        value=f"{ours * MS:.2f} ms/step (period {p50(found.ours) * MS:.2f} ms)",
        floor=(
            f"Celery+Redis {celery * MS:.2f} ms/step (period {p50(found.celery) * MS:.2f} ms);"
            f" spawned back to back: period {floor * MS:.2f} ms; the guarantees' I/O alone"
            f" {contract * MS:.2f} ms/step ({contract / celery:.2f}x Celery+Redis; p50 ms of its"
            f" parts: {io.parts()})"
        ),
        ratio=ratio,
        at_most=0.5,
        note=" Celery+Redis (moonshot 0.25x)",
        how=how,
    )
