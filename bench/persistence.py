"""Figure 6: how fast the scheduler persists a backlog of reports, against
COPY into a table shaped like the event log."""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import time
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

import asyncpg

from orchest_schemas.reports import ClaimStep, StepAttemptFinished, StepClaim
from orchest_schemas.status import RunStatus, StepStatus
from orchest_service.commands import request_command

from .harness import Pipeline, Stack, project_dir, running_stack, stack_cpu
from .profile_fanout import summary
from .report import Figure, table

RATE = 1000
"""py-spy's samples per second (``--profile``): the backlog lasts a fraction of a second."""


async def _copy_floor(stack: Stack, rows: int) -> float:
    """Rows per second Postgres takes through COPY into a table shaped like the
    event log, from the bench process: what any event writer is bounded by."""
    conn = await asyncpg.connect(stack.database_url)
    try:
        await conn.execute(
            "CREATE TEMP TABLE floor_log (seq bigserial PRIMARY KEY, event_id text UNIQUE,"
            " kind text, run_uuid uuid, sequence int, occurred_at timestamptz, payload jsonb)"
        )
        run_uuid = uuid.uuid4()
        now = datetime.now().astimezone()
        payload = json.dumps({"kind": "step_status_changed", "status": "SUCCESS", "pad": "x" * 300})
        records = [
            (uuid.uuid4().hex, "step_status_changed", run_uuid, i, now, payload)
            for i in range(rows)
        ]
        t0 = time.perf_counter()
        for start in range(0, rows, 512):
            await conn.copy_records_to_table(
                "floor_log",
                records=records[start : start + 512],
                columns=["event_id", "kind", "run_uuid", "sequence", "occurred_at", "payload"],
            )
        return rows / (time.perf_counter() - t0)
    finally:
        await conn.close()


async def _event_rows(stack: Stack) -> int:
    conn = await asyncpg.connect(stack.database_url)
    try:
        count: int = await conn.fetchval("SELECT count(*) FROM scheduler.event_log")
        return count
    finally:
        await conn.close()


def _cpu_used(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    """CPU seconds used meanwhile by the scheduler, NATS and Postgres."""
    return {
        name: after[name] - before[name]
        for name in sorted(after)
        if name.split("-")[0] in ("scheduler", "nats", "postgres") and name in before
    }


async def _spies(stack: Stack, folder: Path) -> list[asyncio.subprocess.Process]:
    """py-spy on each scheduler process, not pausing it (a paused process is
    idle to py-spy: its samples start at the resume)."""
    return [
        await asyncio.create_subprocess_exec(
            *("py-spy", "record", "--pid", str(pid), "--rate", str(RATE), "--nonblocking", "--gil"),
            *("--format", "raw", "--output", str(folder / f"scheduler-{pid}.txt")),
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        for pid in stack.pids("scheduler")
    ]


async def persistence(stack: Stack, steps: int = 2000, profile: Path | None = None) -> Figure:
    """A backlog of reports applied by the real scheduler: events persisted per second;
    with ``profile``, py-spy's samples of the scheduler from its resume to the end."""
    assert stack.nc is not None and stack.http is not None
    root = project_dir("persist")
    pipeline = Pipeline(root)
    for i in range(steps):
        pipeline.add(f"p{i:04d}", "noop.sh")
    js = stack.nc.jetstream()
    with stack.paused("step-runner"):
        response = await stack.http.post("/api/runs", json=pipeline.body())
        run_uuid = response.json()["uuid"]
        keys = list(pipeline.steps)
        for start in range(0, steps, 200):  # the bench claims every step, as a runner would
            claims = [
                request_command(
                    stack.nc,
                    stack.bus.claim_step,
                    ClaimStep(run_uuid=run_uuid, step_uuid=k, attempt=1, runner_id="bench"),
                    StepClaim,
                    timeout=30,
                )
                for k in keys[start : start + 200]
            ]
            assert all(c.granted for c in await asyncio.gather(*claims))
        done: asyncio.Future[float] = asyncio.get_running_loop().create_future()

        async def on_event(msg: Any) -> None:
            event = json.loads(msg.data)
            final = (
                event.get("kind") == "run_status_changed" and RunStatus(event["status"]).is_final
            )
            if final and not done.done():
                done.set_result(time.perf_counter())

        status_subject = stack.bus.run_event(pipeline.uuid, run_uuid)
        sub = await stack.nc.subscribe(status_subject, cb=on_event)
        spies: list[asyncio.subprocess.Process] = []
        with stack.paused("scheduler"):
            if profile is not None:
                spies = await _spies(stack, profile)
                await asyncio.sleep(1.0)  # py-spy attaches
            reports = [
                StepAttemptFinished(
                    run_uuid=run_uuid,
                    step_uuid=k,
                    attempt=1,
                    status=StepStatus.SUCCESS,
                    exit_code=0,
                    runner_id="bench",
                )
                for k in keys
            ]
            for start in range(0, steps, 500):
                await asyncio.gather(
                    *(
                        js.publish(
                            stack.bus.step_report(r.run_uuid, r.step_uuid),
                            r.to_bytes(),
                            headers={"Nats-Msg-Id": r.report_id},
                        )
                        for r in reports[start : start + 500]
                    )
                )
            before = await _event_rows(stack)
            cpu_before = stack_cpu(stack)
            t0 = time.perf_counter()
        ended = await asyncio.wait_for(done, 300)
        for spy in spies:
            spy.send_signal(signal.SIGINT)  # py-spy writes its file and exits
        for spy in spies:
            await spy.wait()
        cpu = _cpu_used(cpu_before, stack_cpu(stack))
        await sub.unsubscribe()
        persisted = await _event_rows(stack) - before
    rate = persisted / (ended - t0)
    per_row = ", ".join(f"{name} {seconds / persisted * 1e6:.0f}" for name, seconds in cpu.items())
    floor = await _copy_floor(stack, persisted)
    return Figure(
        name=f"6. status persistence, a backlog of {steps} reports",
        value=f"{rate:,.0f} events/s ({persisted} rows; CPU-us a row: {per_row})",
        floor=f"COPY {floor:,.0f} rows/s",
        ratio=rate / floor,
        target=">= 20k/s",
        met=rate >= 20_000,
        how=(
            f"a run of {steps} independent steps, claimed by the bench (runners paused); with"
            f" the scheduler paused (SIGSTOP), {steps} SUCCESS reports are published to the"
            " REPORTS stream; from the scheduler's resume to the run's final event, the rows"
            " added to `scheduler.event_log` (each report, each step event, the run event)"
            " per second. Floor: COPY of as many event-log-shaped rows by the bench process,"
            " 512 a batch, into a table with the same keys. CPU: user + system of the"
            " scheduler, NATS and Postgres (with their children) from the resume to the"
            " final event, per row."
        ),
    )


async def _main(rounds: int, steps: int, profile: Path | None) -> None:
    async with running_stack(runners=2) as stack:
        for n in range(rounds):
            folder = None
            if profile is not None:
                folder = profile / f"round-{n + 1}"
                folder.mkdir(parents=True, exist_ok=True)
            print(table([await persistence(stack, steps, folder)]), flush=True)
            for path in sorted(folder.iterdir()) if folder else []:
                print(f"{path}:\n{summary(path.read_text())}\n")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.persistence")
    parser.add_argument("--rounds", type=int, default=1, help="figure 6, again on the same stack")
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--profile", type=Path, help="a folder for py-spy's raw stacks")
    args = parser.parse_args()
    asyncio.run(_main(args.rounds, args.steps, args.profile))


if __name__ == "__main__":
    main()
