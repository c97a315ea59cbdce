"""A run survives its scheduler being killed (kill -9) in the middle of it."""

from __future__ import annotations

import asyncio
import json
import os
import signal
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from fault_kit import StackFactory, stack_nats

from orchest_schemas.bus import HEADER_MSG_ID, BusNames
from orchest_schemas.health import HealthReport
from orchest_schemas.reports import ClaimStep, StepAttemptFinished, StepClaim
from orchest_schemas.status import StepStatus
from orchest_service.commands import request_command
from support import eventually

pytestmark = pytest.mark.e2e


async def test_a_chain_finishes_after_the_scheduler_is_killed_twice(
    start_stack: StackFactory, workdir: Path
) -> None:
    project = workdir / "chain"
    project.mkdir()
    (project / "step.sh").write_text(f'echo "$ORCHEST_STEP_UUID" >> "{project}/ran"\nsleep 0.2\n')
    steps = {
        f"s{i:02d}": {
            "uuid": f"s{i:02d}",
            "title": f"S{i:02d}",
            "file_path": "step.sh",
            "incoming_connections": [f"s{i - 1:02d}"] if i else [],
        }
        for i in range(16)
    }
    body = {
        "pipeline_definition": {"uuid": "crash-chain", "steps": steps},
        "run_config": {"project_dir": str(project)},
    }
    stack = start_stack()
    async with httpx.AsyncClient(base_url=stack.url, timeout=10.0) as http:
        run = (await http.post("/api/runs", json=body)).json()

        async def steps_done(at_least: int) -> int | None:
            view = (await http.get(f"/api/runs/{run['uuid']}")).json()
            done = sum(s["status"] == "SUCCESS" for s in view["pipeline_steps"])
            return done if done >= at_least else None

        for at_least in (3, 8):
            await eventually(lambda n=at_least: steps_done(n), timeout=30, what=f"{at_least} steps")
            report = HealthReport.model_validate_json((await http.get("/api/health")).content)
            [scheduler] = next(s for s in report.services if s.name == "scheduler").instances
            assert scheduler.pid is not None
            os.kill(scheduler.pid, signal.SIGKILL)

        async def ended() -> dict[str, Any] | None:
            try:
                view: dict[str, Any] = (await http.get(f"/api/runs/{run['uuid']}")).json()
            except httpx.HTTPError:
                return None
            return view if view["status"] in ("SUCCESS", "FAILURE", "ABORTED") else None

        final = await eventually(ended, timeout=90, what="the run ended")
    assert final["status"] == "SUCCESS", json.dumps(final, indent=1)
    assert all(s["status"] == "SUCCESS" for s in final["pipeline_steps"])
    # Every step ran exactly once: no attempt was lost, none was repeated.
    assert sorted((project / "ran").read_text().split()) == sorted(steps)
    assert all(s["attempt"] == 1 for s in final["pipeline_steps"])
    # No event lost: the run's sequence numbers are 1..n, n its last one.
    conn = await asyncpg.connect(stack.stack_file()["database_url"])
    try:
        sequences = [
            r["sequence"]
            for r in await conn.fetch(
                "SELECT sequence FROM scheduler.event_log"
                " WHERE run_uuid = $1 AND sequence IS NOT NULL ORDER BY sequence",
                run["uuid"],
            )
        ]
        last = await conn.fetchval(
            "SELECT event_seq FROM scheduler.runs WHERE uuid = $1", run["uuid"]
        )
    finally:
        await conn.close()
    assert sequences == list(range(1, last + 1))
    assert last >= 3 * len(steps)  # at least PENDING, STARTED, SUCCESS of each step


BACKLOG = 1500
"""Reports waiting on the ``REPORTS`` stream when the scheduler resumes."""


async def test_a_backlog_survives_the_scheduler_killed_between_commits_and_acks(
    start_stack: StackFactory, workdir: Path
) -> None:
    """A backlog of reports on the stream (the runner paused; the test claims
    every step and publishes every report while the scheduler is stopped); the
    scheduler is frozen now and then while it applies them until it has
    reports committed and not acknowledged, then killed: after its restart
    every report is applied once (each step one ``SUCCESS``, the run's events
    numbered without a gap and all published) and every report acknowledged."""
    project = workdir / "backlog"
    project.mkdir()
    (project / "step.sh").write_text("true\n")
    steps = {f"s{i:04d}": {"uuid": f"s{i:04d}", "file_path": "step.sh"} for i in range(BACKLOG)}
    body = {
        "pipeline_definition": {"uuid": "backlog", "steps": steps},
        "run_config": {"project_dir": str(project)},
    }
    stack = start_stack()
    info = stack.stack_file()
    bus = BusNames("orchest")
    runner = int(info["processes"]["step-runner"]["pid"])
    os.kill(runner, signal.SIGSTOP)
    nc = await stack_nats(stack)
    db = await asyncpg.connect(info["database_url"])
    try:
        async with httpx.AsyncClient(base_url=stack.url, timeout=30.0) as http:
            run = (await http.post("/api/runs", json=body)).json()["uuid"]
            claims = [
                request_command(
                    nc,
                    bus.claim_step,
                    ClaimStep(
                        run_uuid=run, step_uuid=s, attempt=1, runner_id="fault", lease_seconds=600
                    ),
                    StepClaim,
                    timeout=30,
                )
                for s in steps
            ]
            assert all(c.granted for c in await asyncio.gather(*claims))
            scheduler = await scheduler_pid(http)
        await db.execute(SLOW_COMMIT)
        js = nc.jetstream()
        os.kill(scheduler, signal.SIGSTOP)
        try:
            for s in steps:
                report = StepAttemptFinished(
                    run_uuid=run,
                    step_uuid=s,
                    attempt=1,
                    status=StepStatus.SUCCESS,
                    exit_code=0,
                    runner_id="fault",
                )
                await js.publish(
                    bus.step_report(run, s),
                    report.to_bytes(),
                    headers={HEADER_MSG_ID: report.report_id},
                )
        finally:
            os.kill(scheduler, signal.SIGCONT)
        unacknowledged = await freeze_with_commits_unacknowledged(db, js, bus, scheduler)
        os.kill(scheduler, signal.SIGKILL)

        async def ended() -> bool | None:
            status = await db.fetchval("SELECT status FROM scheduler.runs WHERE uuid = $1", run)
            return True if status == "SUCCESS" else None

        # The restarted scheduler gets the unacknowledged reports after the ack wait (30 s).
        await eventually(ended, timeout=120, what="the run ended")
        consumer = bus.scheduler_reports_consumer(30.0)

        async def all_acknowledged() -> bool | None:
            state = await js.consumer_info(consumer.stream, consumer.durable_name)
            return True if state.num_ack_pending == 0 and state.num_pending == 0 else None

        await eventually(all_acknowledged, timeout=60, what="every report acknowledged")
        successes = await db.fetch(
            "SELECT payload->>'step_uuid' AS step, count(*) AS n FROM scheduler.event_log"
            " WHERE run_uuid = $1 AND kind = 'step_status_changed'"
            " AND payload->>'status' = 'SUCCESS' GROUP BY 1",
            run,
        )
        assert {r["step"]: r["n"] for r in successes} == dict.fromkeys(steps, 1)
        reports = await db.fetchval(
            "SELECT count(*) FROM scheduler.event_log WHERE run_uuid = $1 AND sequence IS NULL",
            run,
        )
        assert reports == BACKLOG, f"{unacknowledged} committed, not acknowledged at the kill"
        numbers = [
            r["sequence"]
            for r in await db.fetch(
                "SELECT sequence FROM scheduler.event_log"
                " WHERE run_uuid = $1 AND sequence IS NOT NULL ORDER BY sequence",
                run,
            )
        ]
        last = await db.fetchval("SELECT event_seq FROM scheduler.runs WHERE uuid = $1", run)
        assert numbers == list(range(1, last + 1))
        events = await js.stream_info(bus.events_stream.name, subjects_filter=bus.run_events(run))
        assert sum((events.state.subjects or {}).values()) == last
    finally:
        os.kill(runner, signal.SIGCONT)
        await db.close()
        await nc.close()


async def scheduler_pid(http: httpx.AsyncClient) -> int:
    report = HealthReport.model_validate_json((await http.get("/api/health")).content)
    [scheduler] = next(s for s in report.services if s.name == "scheduler").instances
    assert scheduler.pid is not None
    return scheduler.pid


SLOW_COMMIT = """
CREATE FUNCTION scheduler.fault_slow_commit() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('fault.slowed', true) IS DISTINCT FROM 'yes' THEN
        PERFORM set_config('fault.slowed', 'yes', true);
        PERFORM pg_sleep(2);
    END IF;
    RETURN NULL;
END $$;
CREATE CONSTRAINT TRIGGER fault_slow_commit AFTER INSERT ON scheduler.event_log
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW WHEN (NEW.kind = 'step_attempt_finished')
    EXECUTE FUNCTION scheduler.fault_slow_commit();
"""
"""Each transaction that records reports spends two seconds in its commit (a
deferred trigger runs at the commit, before it is durable): a window in
which to stop the scheduler whatever the machine's speed."""


async def freeze_with_commits_unacknowledged(
    db: asyncpg.Connection, js: Any, bus: BusNames, scheduler: int
) -> int:
    """Stop the scheduler (``SIGSTOP``) while a write of reports is in its
    commit (``SLOW_COMMIT``), so that once the commit is done it has reports
    committed and not acknowledged (it acknowledges after the commit, and is
    stopped); it stays stopped. How many."""
    stream = bus.reports_stream.name

    async def committing() -> int | None:
        pid: int | None = await db.fetchval(
            "SELECT pid FROM pg_stat_activity WHERE wait_event = 'PgSleep'"
            " AND datname = current_database() LIMIT 1"
        )
        return pid

    backend = await eventually(committing, timeout=60, what="a write of reports in its commit")
    os.kill(scheduler, signal.SIGSTOP)

    async def committed_then() -> bool | None:
        state = await db.fetchval("SELECT state FROM pg_stat_activity WHERE pid = $1", backend)
        return True if state != "active" else None

    await eventually(committed_then, timeout=30, what="the write's commit done")
    committed = await db.fetchval(
        "SELECT count(*) FROM scheduler.event_log WHERE kind = 'step_attempt_finished'"
    )
    acknowledged = BACKLOG - (await js.stream_info(stream)).state.messages
    assert committed > acknowledged, (committed, acknowledged)
    return committed - acknowledged
