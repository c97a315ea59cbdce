"""What one report of a chain costs the scheduler and Postgres: ``python -m
bench.decision_cost``.

The scheduler's run handling in this process (``Runs``, its mailboxes and
outbox publisher, as one replica has them) on an embedded Postgres and NATS of
its own, no runner: a chain is created, its first step claimed, then each
step's report is sent as the runner sends it (``ReportAttempt`` with a kept
slot), and its answer hands the next step over (with the outbox's
listening connection in versions that had one, as their service ran it). Prints, per block of a
chain's reports, this process's CPU and all of Postgres' processes' CPU per
report, and the p50 of a report's answer; then the medians over the blocks
(the first block is a warm-up, not counted). After the last block, the WAL
its decisions wrote (``pg_walinspect``): records and bytes per report, and
the records by kind (a ``Heap/HOT_UPDATE`` adds no index entry, a
``Btree/INSERT_LEAF`` is one).

Run it in a checkout of another commit (a copy of this file in its
``bench/``, then ``uv run python -m bench.decision_cost`` there) to compare
two versions, interleaved.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import statistics
import time
from pathlib import Path

import asyncpg
import psutil

from orchest_scheduler.outbox import Outbox
from orchest_scheduler.runs import Runs
from orchest_schemas.commands import CreateRun

from .harness import cpu_seconds
from .scheduler_rig import scheduler_rig, started_chain, succeeded


def _listener(url: str, outbox: Outbox, stop: asyncio.Event) -> asyncio.Task[None] | None:
    """The outbox's listening connection, as the service ran it, in a version
    of the scheduler that has one (before 2026-12-07)."""
    with contextlib.suppress(ImportError):
        module = importlib.import_module("orchest_scheduler.outbox_listener")
        return asyncio.create_task(module.listen(url, "scheduler", outbox, stop))
    return None


def chain(folder: Path, steps: int) -> CreateRun:
    (folder / "s.sh").write_text("true\n")
    return CreateRun.model_validate(
        {
            "pipeline_definition": {
                "uuid": "p",
                "steps": {
                    f"s{i}": {
                        "uuid": f"s{i}",
                        "title": f"S{i}",
                        "file_path": "s.sh",
                        "incoming_connections": [f"s{i - 1}"] if i else [],
                    }
                    for i in range(steps)
                },
            },
            "run_config": {"project_dir": str(folder), "env_variables": {"A": "1"}},
        }
    )


async def one_chain(runs: Runs, create: CreateRun, steps: int) -> list[float]:
    """A chain's reports, each answered with the next step: their latencies."""
    run = await started_chain(runs, create)
    latencies = []
    for i in range(steps):
        report = succeeded(run, f"s{i}")
        started = time.perf_counter()
        answer = await runs.report(report)
        latencies.append(time.perf_counter() - started)
        if i + 1 < steps:
            assert answer.work is not None and answer.work.step_uuid == f"s{i + 1}", answer
    return latencies


class Wal:
    """The WAL a block of decisions wrote (``pg_walinspect``): records and
    bytes per decision, and the heap's updates and B-tree inserts by kind
    (an update that is HOT adds no index entry)."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    @classmethod
    async def open(cls, url: str) -> Wal:
        conn = await asyncpg.connect(url)
        await conn.execute("CREATE EXTENSION IF NOT EXISTS pg_walinspect")
        return cls(conn)

    async def lsn(self) -> int:
        return int(await self._conn.fetchval("SELECT pg_current_wal_insert_lsn()"))

    async def per_decision(self, start: int, decisions: int) -> str:
        rows = await self._conn.fetch(
            'SELECT "resource_manager/record_type" AS kind, count, record_size + fpi_size AS size'
            " FROM pg_get_wal_stats($1::pg_lsn, pg_current_wal_insert_lsn(), true)",
            start,
        )
        total = sum(r["count"] for r in rows) / decisions
        size = sum(r["size"] for r in rows) / decisions
        counts = {r["kind"]: r["count"] / decisions for r in rows}
        parts = ", ".join(
            f"{kind} {n:.2f}"
            for kind, n in sorted(counts.items(), key=lambda kv: -kv[1])
            if n >= 0.05
        )
        return f"  WAL per decision: {total:.1f} records, {size / 1024:.2f} kB ({parts})"

    async def close(self) -> None:
        await self._conn.close()


async def main(steps: int, blocks: int) -> None:
    async with scheduler_rig("decision-cost-") as rig:
        listener = _listener(rig.database_url, rig.outbox, rig.stop)
        postgres, me = rig.pg.pid, psutil.Process()
        create = chain(rig.root, steps)
        rows = []
        wal = await Wal.open(rig.database_url)
        for block in range(blocks + 1):
            start = await wal.lsn()
            own, db = me.cpu_times(), cpu_seconds(postgres, children=True)
            latencies = await one_chain(rig.runs, create, steps)
            await asyncio.sleep(0.3)  # the last events published, their rows deleted
            own_after, db_after = me.cpu_times(), cpu_seconds(postgres, children=True)
            if block == 0:
                continue  # warm-up
            mine = own_after.user + own_after.system - own.user - own.system
            row = (mine / steps * 1e3, (db_after - db) / steps * 1e3)
            rows.append((*row, statistics.median(latencies) * 1e3))
            print(f"block {block}: scheduler {row[0]:.3f}, postgres {row[1]:.3f} CPU-ms")
            if block == blocks:
                print(await wal.per_decision(start, steps))
        await wal.close()
        print(
            f"{steps}-step chains, {blocks} blocks, medians: scheduler"
            f" {statistics.median(r[0] for r in rows):.3f} CPU-ms a report, postgres"
            f" {statistics.median(r[1] for r in rows):.3f}, report -> answer p50"
            f" {statistics.median(r[2] for r in rows):.3f} ms"
        )
        rig.stop.set()
        if listener is not None:
            await listener


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m bench.decision_cost")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--blocks", type=int, default=5)
    args = parser.parse_args()
    asyncio.run(main(args.steps, args.blocks))
