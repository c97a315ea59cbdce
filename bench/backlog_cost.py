"""What a backlog of reports on the ``REPORTS`` stream costs the scheduler:
``python -m bench.backlog_cost`` (figure 6 in one process).

The scheduler's run handling in this process (``Runs``, its mailboxes, the
outbox publisher and the report consumer, as one replica has them) on an
embedded Postgres and NATS of its own, no runner: per block, a run of
``--steps`` independent steps is created and every step claimed, then with
the consumer not running a report of each is published on the stream; from
the consumer's start to the run's final event, the rows added to the event
log per second, and this process's and Postgres' CPU per row. The first
block is a warm-up, not counted; then the medians.

Run it in a checkout of another commit (a copy of this file in its
``bench/``, then ``uv run python -m bench.backlog_cost`` there) to compare
two versions, interleaved: it uses the consumer that checkout has.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import statistics
import time
from pathlib import Path
from typing import Any

import psutil

from orchest_scheduler import mailbox, plan_store
from orchest_scheduler.runs import Runs
from orchest_schemas.bus import HEADER_MSG_ID, BusNames
from orchest_schemas.commands import CreateRun
from orchest_schemas.reports import ClaimStep, StepAttemptFinished
from orchest_schemas.status import RunStatus, StepStatus

from .harness import cpu_seconds
from .scheduler_rig import scheduler_rig

STATEMENTS: list[str] = []
"""Each decision's statement (``write_plan`` call) so far: its steps, its
time and its backend's CPU."""


def _count_writes() -> None:
    write_plan = plan_store.write_plan

    async def counted(*args: Any, **kwargs: Any) -> Any:
        backend = psutil.Process(args[0].get_server_pid())
        cpu, started = backend.cpu_times(), time.perf_counter()
        try:
            return await write_plan(*args, **kwargs)
        finally:
            after = backend.cpu_times()
            used = after.user + after.system - cpu.user - cpu.system
            STATEMENTS.append(
                f"{len(kwargs.get('steps', ()))} steps:"
                f" {(time.perf_counter() - started) * 1e3:.0f} ms, backend {used * 1e3:.0f} CPU-ms"
            )

    setattr(mailbox, "write_plan", counted)  # noqa: B010 (as the mailbox imported it)


async def _maintenance(pool: Any) -> tuple[int, int]:
    """(autovacuum workers running, autovacuums and autoanalyzes done so far)."""
    workers = await pool.fetchval(
        "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'autovacuum worker'"
    )
    done = await pool.fetchval(
        "SELECT coalesce(sum(autovacuum_count + autoanalyze_count), 0) FROM pg_stat_all_tables"
    )
    return workers, done


def fan(folder: Path, steps: int) -> CreateRun:
    (folder / "s.sh").write_text("true\n")
    return CreateRun.model_validate(
        {
            "pipeline_definition": {
                "uuid": "p",
                "steps": {
                    f"s{i:04d}": {"uuid": f"s{i:04d}", "title": f"S{i}", "file_path": "s.sh"}
                    for i in range(steps)
                },
            },
            "run_config": {"project_dir": str(folder)},
        }
    )


def consumer(js: Any, nc: Any, bus: BusNames, runs: Runs, stop: asyncio.Event) -> Any:
    """The checkout's consumer of the stream, as its service runs it."""
    spec = bus.scheduler_reports_consumer(30.0)
    try:
        module = importlib.import_module("orchest_scheduler.report_consumer")
    except ImportError:
        from orchest_service.consumer import consume

        return consume(
            js, spec, StepAttemptFinished, runs.on_report, stop, batch=1024, concurrent=True
        )
    return module.ReportConsumer(js, nc, spec, runs.submit_report).run(stop)


async def one_backlog(
    nc: Any, bus: BusNames, runs: Runs, create: CreateRun, pool: Any, postgres: int
) -> tuple[int, float, float, float]:
    """A backlog applied: (rows added to the event log, seconds, this process's
    CPU seconds, Postgres' CPU seconds), from the consumer's start to the run's
    final event."""
    js = nc.jetstream()
    run = await runs.create(create)
    steps = list(create.pipeline_definition.steps) if create.pipeline_definition else []
    claims = [
        runs.claim(ClaimStep(run_uuid=run.uuid, step_uuid=s, attempt=1, runner_id="r"))
        for s in steps
    ]
    assert all(c.granted for c in await asyncio.gather(*claims))
    for start in range(0, len(steps), 500):
        reports = [
            StepAttemptFinished(
                run_uuid=run.uuid,
                step_uuid=s,
                attempt=1,
                status=StepStatus.SUCCESS,
                exit_code=0,
                runner_id="r",
            )
            for s in steps[start : start + 500]
        ]
        await asyncio.gather(
            *(
                js.publish(
                    bus.step_report(r.run_uuid, r.step_uuid),
                    r.to_bytes(),
                    headers={HEADER_MSG_ID: r.report_id},
                )
                for r in reports
            )
        )
    done: asyncio.Future[float] = asyncio.get_running_loop().create_future()

    async def on_event(msg: Any) -> None:
        event = json.loads(msg.data)
        final = event.get("kind") == "run_status_changed" and RunStatus(event["status"]).is_final
        if final and not done.done():
            done.set_result(time.perf_counter())

    sub = await nc.subscribe(bus.run_event("p", run.uuid), cb=on_event)
    before = await pool.fetchval("SELECT count(*) FROM scheduler.event_log")
    vacuums = await _maintenance(pool)
    stop = asyncio.Event()
    writes = len(STATEMENTS)
    me = psutil.Process()
    own, db = me.cpu_times(), cpu_seconds(postgres, children=True)
    t0 = time.perf_counter()
    task = asyncio.create_task(consumer(js, nc, bus, runs, stop))
    ended = await asyncio.wait_for(done, 300)
    own_after, db_after = me.cpu_times(), cpu_seconds(postgres, children=True)
    stop.set()
    await task
    await sub.unsubscribe()
    rows: int = await pool.fetchval("SELECT count(*) FROM scheduler.event_log") - before
    mine = own_after.user + own_after.system - own.user - own.system
    print(
        f"  statements: {'; '.join(STATEMENTS[writes:])}; autovacuum workers and runs at the start,"
        f" at the end: {vacuums}, {await _maintenance(pool)}",
        flush=True,
    )
    return rows, ended - t0, mine, db_after - db


async def main(steps: int, blocks: int) -> None:
    _count_writes()
    async with scheduler_rig("backlog-cost-") as rig:
        create = fan(rig.root, steps)
        results = []
        for block in range(blocks + 1):
            rows, seconds, mine, db = await one_backlog(
                rig.nc, rig.bus, rig.runs, create, rig.pool, rig.pg.pid
            )
            if block == 0:
                continue  # warm-up
            result = (rows / seconds, mine / rows * 1e6, db / rows * 1e6)
            results.append(result)
            print(
                f"block {block}: {result[0]:,.0f} rows/s ({rows} rows), CPU-us a row:"
                f" this process {result[1]:.0f}, postgres {result[2]:.0f}",
                flush=True,
            )
        print(
            f"{steps} reports, {blocks} blocks, medians:"
            f" {statistics.median(r[0] for r in results):,.0f} rows/s, CPU-us a row:"
            f" this process {statistics.median(r[1] for r in results):.0f},"
            f" postgres {statistics.median(r[2] for r in results):.0f}"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m bench.backlog_cost")
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--blocks", type=int, default=5)
    args = parser.parse_args()
    asyncio.run(main(args.steps, args.blocks))
