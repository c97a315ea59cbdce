"""A chain's report -> answer over NATS, in one process: ``python -m
bench.answer_cost``.

``bench.decision_cost`` with the report sent as a NATS request to the
scheduler's ``report-step`` endpoint, registered as this checkout's service
registers it, and answered over NATS: the scheduler's run handling
(``Runs``, mailboxes, outbox publisher) and its endpoint on one connection,
the reports' sender on another, in one process on uvloop (as the services
run), on an embedded Postgres and NATS of its own. Per block of a chain's
reports: the p50 of report -> answer, this process's CPU per report (its
clock, in microseconds), Postgres' (all its processes) and NATS'; then the
medians over the blocks (the first one a warm-up); and the p50 of the span
from the decision's statement returning (its commit) to the answer's bytes
written to the NATS socket, which the machine's load reaches least. One process for both
sides: the machine's load reaches both alike, and a version's CPU is told
apart at the microsecond.

Run it in a checkout of another commit (a copy of this file in its
``bench/``) to compare two versions, interleaved: ``--baton FILE --me A
--next B`` in one and ``--baton FILE --me B --next A`` in the other, started
together, take turns block by block (each waits until FILE names it, runs a
block, then names the other), so both see the same minutes of the machine.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import inspect
import statistics
import time
from pathlib import Path
from typing import Any

import nats
import uvloop
from nats.aio.transport import TcpTransport
from nats.micro import add_service
from nats.micro.service import ServiceConfig

from orchest_scheduler import mailbox
from orchest_scheduler.runs import Runs
from orchest_schemas.bus import BusNames
from orchest_schemas.reports import (
    ReportAnswer,
    ReportAttempt,
)
from orchest_service.commands import add_commands

from .decision_cost import chain
from .harness import cpu_seconds
from .scheduler_rig import scheduler_rig, started_chain, succeeded


async def add_report_endpoint(micro: Any, nc: Any, bus: BusNames, runs: Runs) -> None:
    """The ``report-step`` endpoint as this checkout's scheduler registers it."""
    own: Any = None
    with contextlib.suppress(ImportError):
        own = importlib.import_module("orchest_scheduler.report_answers")
    if own is not None:
        on_nc = (nc,) if "nc" in inspect.signature(own.add_report_endpoint).parameters else ()
        await own.add_report_endpoint(
            micro, *on_nc, name="report-step", subject=bus.report_step, queue_group="s", runs=runs
        )
    else:
        await add_commands(
            micro, "s", [("report-step", bus.report_step, ReportAttempt, runs.report)]
        )


async def one_chain(runs: Runs, client: Any, bus: BusNames, create: Any, steps: int) -> list[float]:
    run = await started_chain(runs, create)
    latencies = []
    for i in range(steps):
        data = succeeded(run, f"s{i}").model_dump_json().encode()
        started = time.perf_counter()
        msg = await client.request(bus.report_step, data, timeout=10)
        latencies.append(time.perf_counter() - started)
        answer = ReportAnswer.model_validate_json(msg.data)
        if i + 1 < steps:
            assert answer.work is not None and answer.work.step_uuid == f"s{i + 1}", answer
    return latencies


class CommitToAnswer:
    """The spans from a decision's statement returning to its answer's bytes
    written to a NATS socket (both patched to note the time: the same patch
    in every version)."""

    def __init__(self) -> None:
        self.spans: list[float] = []
        self._committed = 0.0
        write_plan: Any = getattr(mailbox, "write_plan")  # noqa: B009 (not exported)
        writelines: Any = TcpTransport.writelines

        async def timed(*args: Any, **kwargs: Any) -> Any:
            ids = await write_plan(*args, **kwargs)
            self._committed = time.perf_counter()
            return ids

        def written(transport: TcpTransport, payload: list[bytes]) -> Any:
            if self._committed and any(b'"work":{' in part for part in payload):
                self.spans.append(time.perf_counter() - self._committed)
                self._committed = 0.0
            return writelines(transport, payload)

        setattr(mailbox, "write_plan", timed)  # noqa: B010
        TcpTransport.writelines = written  # type: ignore[method-assign]


class Baton:
    """Turns between two processes: the one a file names runs a block."""

    def __init__(self, path: Path | None, me: str, after: str) -> None:
        self._path, self._me, self._next = path, me, after

    async def take(self) -> None:
        while self._path is not None:
            with contextlib.suppress(FileNotFoundError):
                if self._path.read_text() == self._me:
                    return
            await asyncio.sleep(0.05)

    def give(self) -> None:
        if self._path is not None:
            self._path.write_text(self._next)


async def main(steps: int, blocks: int, baton: Baton) -> None:
    async with scheduler_rig("answer-cost-") as rig:
        client = await nats.connect(rig.nats_server.url)
        micro = await add_service(rig.nc, ServiceConfig(name="cost", version="0.0.1"))
        await add_report_endpoint(micro, rig.nc, rig.bus, rig.runs)
        create = chain(rig.root, steps)
        split = CommitToAnswer()
        rows = []
        for block in range(blocks + 1):
            await baton.take()
            split.spans.clear()
            own = time.process_time()
            db = cpu_seconds(rig.pg.pid, children=True)
            broker = cpu_seconds(rig.nats_server.pid)
            latencies = await one_chain(rig.runs, client, rig.bus, create, steps)
            await asyncio.sleep(0.3)  # the last events published, their rows deleted
            mine = (time.process_time() - own) / steps * 1e3
            db = (cpu_seconds(rig.pg.pid, children=True) - db) / steps * 1e3
            broker = (cpu_seconds(rig.nats_server.pid) - broker) / steps * 1e3
            baton.give()
            if block == 0:
                continue  # warm-up
            span = statistics.median(split.spans) * 1e3
            rows.append((statistics.median(latencies) * 1e3, mine, db, broker, span))
            print(
                f"block {block}: p50 {rows[-1][0]:.3f} ms; CPU-ms a report: this process"
                f" {mine:.3f}, postgres {db:.3f}, nats {broker:.3f}; commit -> answer"
                f" written p50 {span * 1e3:.0f} us"
            )
        print(
            f"{steps}-step chains, {blocks} blocks, medians: report -> answer p50"
            f" {statistics.median(r[0] for r in rows):.3f} ms; CPU-ms a report: this"
            f" process {statistics.median(r[1] for r in rows):.3f}, postgres"
            f" {statistics.median(r[2] for r in rows):.3f}, nats"
            f" {statistics.median(r[3] for r in rows):.3f}; commit -> answer written p50"
            f" {statistics.median(r[4] for r in rows) * 1e3:.0f} us"
        )
        await micro.stop()
        await client.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m bench.answer_cost")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--blocks", type=int, default=5)
    parser.add_argument("--baton", type=Path, default=None)
    parser.add_argument("--me", default="A")
    parser.add_argument("--next", default="B")
    args = parser.parse_args()
    uvloop.run(main(args.steps, args.blocks, Baton(args.baton, args.me, args.next)))
