"""Figure 2's reports in one process: ``python -m bench.burst_cost``.

``bench.answer_cost`` with reports that arrive together: one run of
``--workers`` independent chains of ``--steps`` steps each, every chain
played by a runner of its own (a loop that sends its step's report to the
``report-step`` endpoint, registered as this checkout's service registers
it, and goes on with the step the answer hands over), all at once, as
figure 2's two runners with several slots each report the steps of one run.
Per block (a run): the reports a second, this process's CPU per report (the
scheduler's side and the runners'), Postgres' (all its processes) and
NATS', and the decisions' statements per report; then the medians over the
blocks (the first one a warm-up). ``--baton`` as in ``bench.answer_cost``:
two checkouts take turns block by block.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from pathlib import Path
from typing import Any

import nats
import uvloop
from nats.micro import add_service
from nats.micro.service import ServiceConfig

from orchest_scheduler import mailbox
from orchest_scheduler.runs import Runs
from orchest_schemas.bus import BusNames
from orchest_schemas.commands import CreateRun
from orchest_schemas.reports import (
    ClaimStep,
    ReportAnswer,
    ReportAttempt,
    StepAttemptFinished,
)
from orchest_schemas.status import StepStatus

from .answer_cost import Baton, add_report_endpoint
from .harness import cpu_seconds
from .scheduler_rig import scheduler_rig


def chains(folder: Path, workers: int, steps: int) -> CreateRun:
    """One pipeline of ``workers`` independent chains ``c<k>s0 -> c<k>s1 -> ...``."""
    (folder / "s.sh").write_text("true\n")
    pipeline = {
        f"c{k}s{i}": {
            "uuid": f"c{k}s{i}",
            "title": f"C{k}S{i}",
            "file_path": "s.sh",
            "incoming_connections": [f"c{k}s{i - 1}"] if i else [],
        }
        for k in range(workers)
        for i in range(steps)
    }
    return CreateRun.model_validate(
        {
            "pipeline_definition": {"uuid": "p", "steps": pipeline},
            "run_config": {"project_dir": str(folder), "env_variables": {"A": "1"}},
        }
    )


async def one_chain(client: Any, bus: BusNames, run: str, k: int, steps: int) -> None:
    """Runner ``r<k>``: each step of chain ``k`` reported, the next one handed over."""
    for i in range(steps):
        report = StepAttemptFinished(
            run_uuid=run,
            step_uuid=f"c{k}s{i}",
            attempt=1,
            status=StepStatus.SUCCESS,
            exit_code=0,
            runner_id=f"r{k}",
        )
        data = ReportAttempt(report=report, next_lease_seconds=30.0).model_dump_json().encode()
        msg = await client.request(bus.report_step, data, timeout=30)
        answer = ReportAnswer.model_validate_json(msg.data)
        if i + 1 < steps:
            assert answer.work is not None and answer.work.step_uuid == f"c{k}s{i + 1}", answer


async def one_run(
    runs: Runs, client: Any, bus: BusNames, create: CreateRun, workers: int, steps: int
) -> None:
    run = await runs.create(create)
    for k in range(workers):
        claim = ClaimStep(run_uuid=run.uuid, step_uuid=f"c{k}s0", attempt=1, runner_id=f"r{k}")
        assert (await runs.claim(claim)).granted
    await asyncio.gather(*(one_chain(client, bus, run.uuid, k, steps) for k in range(workers)))


class Statements:
    """The decisions' statements (the same patch in every version)."""

    def __init__(self) -> None:
        self.count = 0
        write_plan: Any = getattr(mailbox, "write_plan")  # noqa: B009 (not exported)

        async def counted(*args: Any, **kwargs: Any) -> Any:
            self.count += 1
            return await write_plan(*args, **kwargs)

        setattr(mailbox, "write_plan", counted)  # noqa: B010


async def main(workers: int, steps: int, blocks: int, baton: Baton) -> None:
    async with scheduler_rig("burst-cost-") as rig:
        client = await nats.connect(rig.nats_server.url)
        micro = await add_service(rig.nc, ServiceConfig(name="cost", version="0.0.1"))
        await add_report_endpoint(micro, rig.nc, rig.bus, rig.runs)
        create = chains(rig.root, workers, steps)
        statements = Statements()
        reports = workers * steps
        rows = []
        for block in range(blocks + 1):
            await baton.take()
            statements.count = 0
            own = time.process_time()
            db = cpu_seconds(rig.pg.pid, children=True)
            broker = cpu_seconds(rig.nats_server.pid)
            started = time.perf_counter()
            await one_run(rig.runs, client, rig.bus, create, workers, steps)
            rate = reports / (time.perf_counter() - started)
            await asyncio.sleep(0.3)  # the last events published, their rows deleted
            mine = (time.process_time() - own) / reports * 1e3
            db = (cpu_seconds(rig.pg.pid, children=True) - db) / reports * 1e3
            broker = (cpu_seconds(rig.nats_server.pid) - broker) / reports * 1e3
            per = statements.count / reports
            baton.give()
            if block == 0:
                continue  # warm-up
            rows.append((rate, mine, db, broker, per))
            print(
                f"block {block}: {rate:.0f} reports/s; CPU-ms a report: this process"
                f" {mine:.3f}, postgres {db:.3f}, nats {broker:.3f}; statements a report"
                f" {per:.2f}",
                flush=True,
            )
        print(
            f"{workers} chains of {steps} steps, {blocks} blocks, medians:"
            f" {statistics.median(r[0] for r in rows):.0f} reports/s; CPU-ms a report: this"
            f" process {statistics.median(r[1] for r in rows):.3f}, postgres"
            f" {statistics.median(r[2] for r in rows):.3f}, nats"
            f" {statistics.median(r[3] for r in rows):.3f}; statements a report"
            f" {statistics.median(r[4] for r in rows):.2f}"
        )
        await micro.stop()
        await client.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m bench.burst_cost")
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--blocks", type=int, default=5)
    parser.add_argument("--baton", type=Path, default=None)
    parser.add_argument("--me", default="A")
    parser.add_argument("--next", default="B")
    args = parser.parse_args()
    uvloop.run(main(args.workers, args.steps, args.blocks, Baton(args.baton, args.me, args.next)))
