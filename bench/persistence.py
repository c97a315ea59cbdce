"""Figure 6: how fast the scheduler persists a backlog of reports, against
COPY into a table shaped like the event log."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from datetime import datetime
from typing import Any

import asyncpg

from orchest_schemas.reports import ClaimStep, StepAttemptFinished, StepClaim
from orchest_schemas.status import RunStatus, StepStatus
from orchest_service.commands import request_command

from .harness import Pipeline, Stack, project_dir
from .report import Figure


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


async def persistence(stack: Stack, steps: int = 2000) -> Figure:
    """A backlog of reports applied by the real scheduler: events persisted per second."""
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
        with stack.paused("scheduler"):
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
            t0 = time.perf_counter()
        ended = await asyncio.wait_for(done, 300)
        await sub.unsubscribe()
        persisted = await _event_rows(stack) - before
    rate = persisted / (ended - t0)
    floor = await _copy_floor(stack, persisted)
    return Figure(
        name=f"6. status persistence, a backlog of {steps} reports",
        value=f"{rate:,.0f} events/s ({persisted} rows)",
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
            " 512 a batch, into a table with the same keys."
        ),
    )
