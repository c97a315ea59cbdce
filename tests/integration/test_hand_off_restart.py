"""A report whose answer handed the run's next step over, asked again of a
scheduler started since (the first one died before its answer reached the
runner, or another replica takes the request): the same attempt is handed
over again, not left to wait for its lease. And a report whose answers were
all lost, so that its runner gave up and published it on the ``REPORTS``
stream: the attempt it handed over is dispatched again at once. The
scheduler's side alone, against real NATS and Postgres; these tests play the
runner on the bus."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

from runs_harness import Project

from orchest_scheduler.service import build_definition as build_scheduler
from orchest_scheduler.settings import SchedulerSettings
from orchest_schemas.bus import HEADER_MSG_ID, BusNames
from orchest_schemas.commands import CreateRun, StepWork
from orchest_schemas.reports import (
    ClaimStep,
    ReportAnswer,
    ReportAttempt,
    StepAttemptFinished,
    StepClaim,
)
from orchest_schemas.runs import RunView
from orchest_schemas.status import Priority, StepStatus
from orchest_service.commands import request_command

RUNNER = "runner-1"
LEASE = 30.0


def succeeded(run_uuid: str, step_uuid: str, runner_id: str = RUNNER) -> ReportAttempt:
    """A report of the step's attempt 1 ending well, its runner keeping the slot."""
    finished = StepAttemptFinished(
        run_uuid=run_uuid,
        step_uuid=step_uuid,
        attempt=1,
        status=StepStatus.SUCCESS,
        exit_code=0,
        runner_id=runner_id,
    )
    return ReportAttempt(report=finished, next_lease_seconds=LEASE)


def chain(tmp_path: Path, *names: str) -> Project:
    """A project whose steps ``names`` run one after the other."""
    project = Project(tmp_path)
    for parent, name in zip((None, *names), names, strict=False):
        project.step(name, f"{name}.sh", "true\n", parents=(parent,) if parent else ())
    return project


async def run_with_a_claimed(nc: Any, bus: BusNames, project: Project) -> RunView:
    """The project's run, created, its first step ``a`` claimed by ``RUNNER``."""
    run = await request_command(
        nc, bus.create_run, CreateRun.model_validate(project.body()), RunView
    )
    claim = ClaimStep(
        run_uuid=run.uuid, step_uuid="a", attempt=1, runner_id=RUNNER, lease_seconds=LEASE
    )
    granted = await request_command(nc, bus.claim_step, claim, StepClaim)
    assert granted.granted, granted
    return run


async def test_a_report_asked_again_of_a_new_scheduler_gets_the_same_hand_off(
    nc: Any,
    bus: BusNames,
    tmp_path: Path,
    service_settings: Callable[..., Any],
    service_runner: Any,
) -> None:
    project = chain(tmp_path, "a", "b", "c")
    settings = service_settings(SchedulerSettings, projects_dir=tmp_path / "projects")

    async with service_runner(build_scheduler(settings), settings):
        run = await run_with_a_claimed(nc, bus, project)
        report = succeeded(run.uuid, "a")
        first = await request_command(nc, bus.report_step, report, ReportAnswer)
        assert first.work is not None
        assert (first.work.step_uuid, first.work.attempt) == ("b", 1)

    # The first answer is taken as lost: the runner asks again, of another scheduler.
    async with service_runner(build_scheduler(settings), settings):
        again = await request_command(nc, bus.report_step, report, ReportAnswer)
        assert again.work is not None, "the handed attempt was not handed over again"
        assert (again.work.step_uuid, again.work.attempt) == ("b", 1)
        # Another runner repeating the report is handed nothing: b is runner-1's.
        other = report.model_copy(
            update={"report": report.report.model_copy(update={"runner_id": "runner-2"})}
        )
        assert (await request_command(nc, bus.report_step, other, ReportAnswer)).work is None
        # b, run by runner-1 and reported, hands c over; b's report asked again
        # still gets c, and a's report (b is no longer running) gets nothing.
        b_done = succeeded(run.uuid, "b")
        handed_c = await request_command(nc, bus.report_step, b_done, ReportAnswer)
        assert handed_c.work is not None and handed_c.work.step_uuid == "c"
        c_again = await request_command(nc, bus.report_step, b_done, ReportAnswer)
        assert c_again.work is not None and c_again.work.step_uuid == "c"
        assert (await request_command(nc, bus.report_step, report, ReportAnswer)).work is None


async def test_a_hand_off_whose_answers_were_lost_is_dispatched_again_at_once(
    nc: Any,
    bus: BusNames,
    tmp_path: Path,
    service_settings: Callable[..., Any],
    service_runner: Any,
) -> None:
    project = chain(tmp_path, "a", "b")
    settings = service_settings(SchedulerSettings, projects_dir=tmp_path / "projects")

    async with service_runner(build_scheduler(settings), settings):
        run = await run_with_a_claimed(nc, bus, project)
        report = succeeded(run.uuid, "a")
        handed = await request_command(nc, bus.report_step, report, ReportAnswer)
        assert handed.work is not None and (handed.work.step_uuid, handed.work.attempt) == ("b", 1)

        # The answer never reached the runner (taken as lost): having asked three
        # times, it gives up, publishes the report on REPORTS and frees the slot.
        # Nobody will run b's attempt 1: b goes out again as new work now, not
        # after its 30 s lease.
        dispatched: asyncio.Future[StepWork] = asyncio.get_running_loop().create_future()

        async def on_work(msg: Any) -> None:
            work = StepWork.model_validate_json(msg.data)
            if work.step_uuid == "b" and not dispatched.done():
                dispatched.set_result(work)

        sub = await nc.subscribe(bus.step_work(Priority.INTERACTIVE), cb=on_work)
        try:
            await nc.jetstream().publish(
                bus.step_report(run.uuid, "a"),
                report.report.to_bytes(),
                headers={HEADER_MSG_ID: report.report.report_id},
            )
            work = await asyncio.wait_for(dispatched, 10)
        finally:
            await sub.unsubscribe()
        assert work.attempt == 2  # fenced: attempt 1 is cancelled, in case
        second = ClaimStep(
            run_uuid=run.uuid, step_uuid="b", attempt=2, runner_id="runner-2", lease_seconds=LEASE
        )
        assert (await request_command(nc, bus.claim_step, second, StepClaim)).granted
        # The report asked again now hands nothing over: b is no longer its.
        assert (await request_command(nc, bus.report_step, report, ReportAnswer)).work is None
