"""The scheduler's consumer of the ``REPORTS`` stream, against real NATS and
Postgres: a report is acknowledged only once its decision is committed, and a
run whose write is held does not hold the reports of other runs pulled after
it (the next batch is pulled and decided meanwhile). These tests play the
runner on the bus."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from nats.aio.msg import Msg
from runs_harness import Project, run_handling
from test_hand_off_restart import RUNNER, succeeded

from orchest_scheduler import mailbox
from orchest_scheduler import service as scheduler_service
from orchest_scheduler.service import build_definition as build_scheduler
from orchest_scheduler.settings import SchedulerSettings
from orchest_schemas.bus import HEADER_MSG_ID, BusNames
from orchest_schemas.commands import CreateRun
from orchest_schemas.reports import ClaimStep, StepAttemptFinished, StepClaim
from orchest_schemas.runs import RunView
from orchest_schemas.status import StepStatus
from orchest_service.commands import request_command
from support import eventually


async def claimed_run(nc: Any, bus: BusNames, root: Path) -> RunView:
    """A run of one step ``a``, claimed by ``RUNNER``."""
    project = Project(root)
    project.step("a", "a.sh", "true\n")
    run = await request_command(
        nc, bus.create_run, CreateRun.model_validate(project.body()), RunView
    )
    claim = ClaimStep(run_uuid=run.uuid, step_uuid="a", attempt=1, runner_id=RUNNER)
    assert (await request_command(nc, bus.claim_step, claim, StepClaim)).granted
    return run


async def publish_report(nc: Any, bus: BusNames, run_uuid: str, step_uuid: str = "a") -> None:
    """The step ended well, reported on the ``REPORTS`` stream (as a runner does
    when its report's request is not answered)."""
    report = succeeded(run_uuid, step_uuid).report
    await nc.jetstream().publish(
        bus.step_report(run_uuid, step_uuid),
        report.to_bytes(),
        headers={HEADER_MSG_ID: report.report_id},
    )


async def run_status(db: asyncpg.Connection, run_uuid: str) -> str:
    status: str = await db.fetchval("SELECT status FROM scheduler.runs WHERE uuid = $1", run_uuid)
    return status


async def test_a_held_write_does_not_hold_the_reports_pulled_after_it(
    nc: Any,
    bus: BusNames,
    tmp_path: Path,
    database_url: str,
    service_settings: Callable[..., Any],
    service_runner: Any,
) -> None:
    settings = service_settings(SchedulerSettings, projects_dir=tmp_path / "projects")
    db = await asyncpg.connect(database_url)
    holder = await asyncpg.connect(database_url)
    try:
        async with service_runner(build_scheduler(settings), settings):
            held = await claimed_run(nc, bus, tmp_path / "held")
            free = await claimed_run(nc, bus, tmp_path / "free")
            # The held run's row locked: its decision's statement waits for it.
            lock = holder.transaction()
            await lock.start()
            try:
                await holder.execute(
                    "SELECT 1 FROM scheduler.runs WHERE uuid = $1 FOR UPDATE", held.uuid
                )
                await publish_report(nc, bus, held.uuid)
                await reports_pulled_past(nc, bus, db, held.uuid, free.uuid)
            finally:
                await lock.rollback()
            js = nc.jetstream()
            spec = bus.scheduler_reports_consumer(30.0)

            async def all_acknowledged() -> bool | None:
                info = await js.consumer_info(spec.stream, spec.durable_name)
                done = info.num_ack_pending == 0 and info.num_pending == 0
                return True if done else None

            await eventually(all_acknowledged, timeout=10, what="both reports acknowledged")
            assert await run_status(db, held.uuid) == "SUCCESS"
    finally:
        await holder.close()
        await db.close()


async def reports_pulled_past(
    nc: Any, bus: BusNames, db: asyncpg.Connection, held: str, free: str
) -> None:
    """With ``held``'s write waiting for its lock, ``free``'s report, published
    after, is applied and acknowledged; ``held``'s is not acknowledged."""

    async def waiting_on_the_lock() -> bool | None:
        waiting = await db.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
            " AND query LIKE '%UPDATE runs%' AND datname = current_database()"
        )
        return True if waiting else None

    await eventually(waiting_on_the_lock, timeout=10, what="the held run's write waits")
    # Published after the held report was pulled: a later batch.
    await publish_report(nc, bus, free)

    async def free_ended() -> str | None:
        status = await run_status(db, free)
        return status if status == "SUCCESS" else None

    await eventually(free_ended, timeout=10, what="the other run's report applied")
    assert await run_status(db, held) != "SUCCESS"
    spec = bus.scheduler_reports_consumer(30.0)

    async def one_unacknowledged() -> bool | None:
        # The acknowledgement leaves after the commit: the status may be read first.
        info = await nc.jetstream().consumer_info(spec.stream, spec.durable_name)
        return True if info.num_ack_pending == 1 else None

    await eventually(one_unacknowledged, timeout=10, what="only the held run's report unacked")
    assert await run_status(db, held) != "SUCCESS"


async def test_reports_applied_but_not_acknowledged_are_applied_once_when_redelivered(
    nc: Any,
    bus: BusNames,
    tmp_path: Path,
    database_url: str,
    service_settings: Callable[..., Any],
    service_runner: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """As if the scheduler died after its commits and before its acknowledgements."""
    monkeypatch.setattr(scheduler_service, "REPORT_ACK_WAIT_SECONDS", 1.0)
    settings = service_settings(SchedulerSettings, projects_dir=tmp_path / "projects")
    project = Project(tmp_path / "fan")
    steps = [project.step(f"s{i:02d}", "s.sh", "true\n") for i in range(20)]
    real_ack = Msg.ack
    dropped: list[str] = []

    async def ack_dropped(msg: Msg) -> None:
        if msg.subject.startswith(bus.all_reports.rstrip(">")):
            dropped.append(msg.subject)
            return
        await real_ack(msg)

    db = await asyncpg.connect(database_url)
    try:
        with monkeypatch.context() as patch:
            patch.setattr(Msg, "ack", ack_dropped)
            async with service_runner(build_scheduler(settings), settings):
                run = await request_command(
                    nc, bus.create_run, CreateRun.model_validate(project.body()), RunView
                )
                for step in steps:
                    claim = ClaimStep(
                        run_uuid=run.uuid, step_uuid=step, attempt=1, runner_id=RUNNER
                    )
                    assert (await request_command(nc, bus.claim_step, claim, StepClaim)).granted
                for step in steps:
                    await publish_report(nc, bus, run.uuid, step)

                async def ended() -> str | None:
                    status = await run_status(db, run.uuid)
                    return status if status == "SUCCESS" else None

                await eventually(ended, timeout=20, what="every report applied")
        assert len(set(dropped)) == len(steps), "every report's acknowledgement was dropped"
        before = await event_rows(db, run.uuid)
        spec = bus.scheduler_reports_consumer(1.0)
        js = nc.jetstream()
        assert (await js.consumer_info(spec.stream, spec.durable_name)).num_ack_pending == 20

        async with service_runner(build_scheduler(settings), settings):

            async def all_acknowledged() -> bool | None:
                info = await js.consumer_info(spec.stream, spec.durable_name)
                done = info.num_ack_pending == 0 and info.num_pending == 0
                return True if done else None

            await eventually(all_acknowledged, timeout=20, what="the redelivered reports acked")
        after = await event_rows(db, run.uuid)
        assert after == before, "a redelivered report was applied again"
        successes = [r for r in after if r[1] == "step_status_changed" and '"SUCCESS"' in r[2]]
        assert len(successes) == len(steps)
    finally:
        await db.close()


async def event_rows(db: asyncpg.Connection, run_uuid: str) -> list[tuple[str, str, str]]:
    """The run's events and applied reports' rows: (id, kind, payload), in order."""
    rows = await db.fetch(
        "SELECT event_id, kind, payload::text FROM scheduler.event_log"
        " WHERE run_uuid = $1 ORDER BY seq",
        run_uuid,
    )
    return [(r["event_id"], r["kind"], r["payload"]) for r in rows]


async def test_a_burst_of_a_run_s_reports_is_written_in_statements_of_bounded_size(
    database_url: str, nc: Any, bus: BusNames, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """600 reports of one run queued at once: written in order, in statements
    of at most ``MAX_BATCH`` steps (one statement's cost grows faster than its
    steps), each report applied once."""
    sizes: list[int] = []
    write_plan = mailbox.write_plan

    async def counted(*args: Any, **kwargs: Any) -> Any:
        sizes.append(len(kwargs["steps"]))
        return await write_plan(*args, **kwargs)

    monkeypatch.setattr(mailbox, "write_plan", counted)
    monkeypatch.setattr(mailbox, "MAX_BATCH", 256)  # the bound below the burst
    project = Project(tmp_path)
    steps = [project.step(f"s{i:03d}", "s.sh", "true\n") for i in range(600)]
    async with run_handling(database_url, nc, bus) as runs:
        run = await runs.create(CreateRun.model_validate(project.body()))
        claims = [
            runs.claim(ClaimStep(run_uuid=run.uuid, step_uuid=s, attempt=1, runner_id=RUNNER))
            for s in steps
        ]
        assert all(c.granted for c in await asyncio.gather(*claims))
        sizes.clear()
        reports = [
            StepAttemptFinished(
                run_uuid=run.uuid,
                step_uuid=s,
                attempt=1,
                status=StepStatus.SUCCESS,
                exit_code=0,
                runner_id=RUNNER,
            )
            for s in steps
        ]
        await asyncio.gather(*(runs.submit_report(r) for r in reports))
        view = await runs.view(run.uuid)
    assert view is not None and view.status == "SUCCESS"
    assert sum(sizes) == 600 and max(sizes) <= 256, sizes
