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

With ``--sizes 1,3,30,256,1600``, the decision's statement alone by size
instead: one run of as many steps as the largest size, its first step
claimed; for each size in turn, rounds of statements
(``plan_store.write_plan``, committed, each a step's success for that many
steps) on one connection, after a warm-up of 6 (Postgres chooses the plan it
caches after 5); prints the CPU of that connection's backend (its time on a
CPU, ``/proc/PID/schedstat``) per statement and per step, and the
statement's time (p50). ``--few-only`` writes every size with the form of a
few steps (as every size was written before 2026-12-07 11:00), in the same
process, for an A/B that the machine's drift between processes does not
reach.

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

from orchest_scheduler import plan_store
from orchest_scheduler.clock import utcnow
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


def final(step_uuid: str) -> plan_store.StepRow:
    """A step's success as a decision writes it."""
    return plan_store.StepRow(
        step_uuid=step_uuid,
        status="SUCCESS",
        attempt=1,
        dispatched=True,
        retry_at=None,
        runner_id="r",
        lost_leases=0,
        work_attempt=1,
        lease_seconds=30.0,
        handed_by=None,
        mode=plan_store.StepMode.FINAL,
        exit_code=0,
        error=None,
        artifacts="[]",
    )


async def statements(
    conn: asyncpg.Connection, run_uuid: str, steps: int, count: int
) -> list[float]:
    """``count`` decisions writing ``steps`` steps of the run: each one's time."""
    rows = [final(f"s{i}") for i in range(steps)]
    times = []
    for _ in range(count):
        version = await conn.fetchval("SELECT version FROM runs WHERE uuid = $1", run_uuid)
        started = time.perf_counter()
        written = await plan_store.write_plan(
            conn,
            run_uuid=run_uuid,
            expected_version=version,
            run_status=None,
            abort_requested=False,
            event_seq=10,
            steps=rows,
            events=[],
            outbox=[],
            now=utcnow(),
        )
        times.append(time.perf_counter() - started)
        assert written == [], written
    return times


def load_average() -> str:
    return "load average " + " ".join(Path("/proc/loadavg").read_text().split()[:3])


def on_cpu(pid: int) -> float:
    """The seconds a process has run on a CPU (the scheduler's count, in ns)."""
    return int(Path(f"/proc/{pid}/schedstat").read_text().split()[0]) / 1e9


async def by_size(sizes: list[int], rounds: int, few_only: bool) -> None:
    """The statement alone at each size: its backend's CPU, its time."""
    if few_only:
        plan_store.SMALL_WRITE = max(sizes)  # every size in the form of a few steps
    async with scheduler_rig("statement-cost-") as rig:
        run = await started_chain(rig.runs, chain(rig.root, max(sizes)))
        conn = await asyncpg.connect(rig.database_url, server_settings={"search_path": "scheduler"})
        backend = await conn.fetchval("SELECT pg_backend_pid()")
        print(load_average())
        for steps in sizes:
            count = max(12, min(1000, 20000 // steps))
            await statements(conn, run, steps, 6)
            cpu, times = [], []
            for _ in range(rounds):
                before = on_cpu(backend)
                times += await statements(conn, run, steps, count)
                cpu.append((on_cpu(backend) - before) / count)
            per = statistics.median(cpu)
            print(
                f"{steps} steps: postgres {per * 1e3:.3f} CPU-ms a statement"
                f" ({per / steps * 1e6:.1f} CPU-us a step, medians of {rounds} x {count}),"
                f" p50 {statistics.median(times) * 1e3:.3f} ms"
            )
        print(load_average())
        await conn.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m bench.decision_cost")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--blocks", type=int, default=5)
    parser.add_argument("--sizes", help="the statement alone at these sizes: 1,3,30,256,1600")
    parser.add_argument("--rounds", type=int, default=3, help="with --sizes")
    parser.add_argument("--few-only", action="store_true", help="with --sizes: one form")
    args = parser.parse_args()
    if args.sizes:
        sizes = [int(size) for size in args.sizes.split(",")]
        asyncio.run(by_size(sizes, args.rounds, args.few_only))
    else:
        asyncio.run(main(args.steps, args.blocks))
