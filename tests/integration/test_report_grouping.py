"""Reports of one run that arrive together at the ``report-step`` endpoint are
decided together: the endpoint hands each to the run's mailbox and takes the
next request, so the mailbox's worker writes whatever queued meanwhile in one
statement; each answer still leaves at its decision's commit, to its own
asker. An error still reaches its asker; reports in flight at a stop are
answered before the connection closes; above ``MAX_IN_FLIGHT`` the endpoint
waits.

The scheduler runs in this process on the real NATS and Postgres; the test
plays the runners on the bus. The first decision's statement is held at a
gate while the other reports arrive: without the grouping they wait in the
endpoint's subscription, one behind the other."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from runs_harness import Project
from test_hand_off_restart import LEASE, RUNNER, succeeded

import orchest_service.service as service_module
from orchest_scheduler import mailbox, report_answers
from orchest_scheduler.service import build_definition as build_scheduler
from orchest_scheduler.settings import SchedulerSettings
from orchest_schemas.bus import BusNames
from orchest_schemas.commands import CreateRun
from orchest_schemas.errors import ErrorCode
from orchest_schemas.reports import ClaimStep, ReportAnswer, StepClaim
from orchest_schemas.runs import RunView
from orchest_service.commands import request_command
from orchest_service.errors import CommandError, DependencyUnavailable
from support import eventually

PAIRS = 12


@dataclass
class Writes:
    """The decisions' statements: each call's count, the first held at ``gate``."""

    gate: asyncio.Event = field(default_factory=asyncio.Event)
    entered: asyncio.Event = field(default_factory=asyncio.Event)
    calls: int = 0
    submitted: int = 0
    armed: bool = False
    fail: list[BaseException] = field(default_factory=list)
    """Errors the statements after the first raise, one each, in order."""

    def arm(self) -> None:
        """Count from here on, and hold the next statement at the gate."""
        self.calls = self.submitted = 0
        self.gate.clear()
        self.armed = True


@pytest.fixture
def writes(monkeypatch: pytest.MonkeyPatch) -> Writes:
    seen = Writes()
    write_plan = mailbox.write_plan
    submit = mailbox.Mailboxes.submit

    async def written(*args: Any, **kwargs: Any) -> Any:
        seen.calls += 1
        if seen.armed and seen.calls == 1:
            seen.entered.set()
            await seen.gate.wait()
        elif seen.fail:
            raise seen.fail.pop(0)
        return await write_plan(*args, **kwargs)

    def submitted(self: mailbox.Mailboxes, *args: Any, **kwargs: Any) -> Any:
        seen.submitted += 1
        return submit(self, *args, **kwargs)

    monkeypatch.setattr(mailbox, "write_plan", written)
    monkeypatch.setattr(mailbox.Mailboxes, "submit", submitted)
    return seen


def pairs(tmp_path: Path, n: int) -> Project:
    """``n`` independent steps ``a<i>``, each with a child ``b<i>``."""
    project = Project(tmp_path)
    for i in range(n):
        project.step(f"a{i}", f"a{i}.sh", "true\n")
        project.step(f"b{i}", f"b{i}.sh", "true\n", parents=(f"a{i}",))
    return project


async def run_with_all_a_claimed(nc: Any, bus: BusNames, project: Project, n: int) -> RunView:
    run = await request_command(
        nc, bus.create_run, CreateRun.model_validate(project.body()), RunView
    )
    for i in range(n):
        claim = ClaimStep(
            run_uuid=run.uuid, step_uuid=f"a{i}", attempt=1, runner_id=RUNNER, lease_seconds=LEASE
        )
        granted = await request_command(nc, bus.claim_step, claim, StepClaim)
        assert granted.granted, granted
    return run


async def reported(nc: Any, bus: BusNames, run_uuid: str, step: str) -> ReportAnswer | Exception:
    try:
        return await request_command(
            nc, bus.report_step, succeeded(run_uuid, step), ReportAnswer, timeout=10
        )
    except Exception as exc:  # what the asker got, for the test to look at
        return exc


async def all_submitted(writes: Writes, n: int) -> None:
    """Until ``n`` reports reached the mailbox (or a while passed: without
    the grouping, only the first does while its statement is held)."""

    async def probe() -> bool | None:
        return True if writes.submitted >= n else None

    with contextlib.suppress(AssertionError):
        await eventually(probe, timeout=3, what=f"{n} reports submitted")


async def test_reports_arriving_together_are_written_in_one_statement(
    nc: Any,
    bus: BusNames,
    tmp_path: Path,
    service_settings: Callable[..., Any],
    service_runner: Any,
    writes: Writes,
) -> None:
    settings = service_settings(SchedulerSettings, projects_dir=tmp_path / "projects")
    async with service_runner(build_scheduler(settings), settings):
        run = await run_with_all_a_claimed(nc, bus, pairs(tmp_path, PAIRS), PAIRS)
        writes.arm()
        asks = [asyncio.create_task(reported(nc, bus, run.uuid, f"a{i}")) for i in range(PAIRS)]
        await asyncio.wait_for(writes.entered.wait(), 10)
        await all_submitted(writes, PAIRS)
        writes.gate.set()
        answers = await asyncio.gather(*asks)
    for i, answer in enumerate(answers):
        assert isinstance(answer, ReportAnswer), answer
        assert answer.work is not None and answer.work.step_uuid == f"b{i}", (i, answer)
    # Together: the held one with those taken before its worker ran, then
    # the others, queued meanwhile (one at a time, it was one each).
    assert writes.calls <= 2, writes.calls


async def test_each_asker_of_a_failed_decision_gets_its_error(
    nc: Any,
    bus: BusNames,
    tmp_path: Path,
    service_settings: Callable[..., Any],
    service_runner: Any,
    writes: Writes,
) -> None:
    """The grouped statement fails: a dependency lost (``UNAVAILABLE``),
    then a bug (``INTERNAL``); a report of an unknown run gets an empty
    answer, as before."""
    settings = service_settings(SchedulerSettings, projects_dir=tmp_path / "projects")
    async with service_runner(build_scheduler(settings), settings):
        run = await run_with_all_a_claimed(nc, bus, pairs(tmp_path, 5), 5)
        writes.arm()
        writes.fail = [OSError("connection lost"), RuntimeError("a bug")]
        first = asyncio.create_task(reported(nc, bus, run.uuid, "a0"))
        await asyncio.wait_for(writes.entered.wait(), 10)
        unavailable = [asyncio.create_task(reported(nc, bus, run.uuid, f"a{i}")) for i in (1, 2)]
        await all_submitted(writes, 3)
        writes.gate.set()
        assert isinstance(await first, ReportAnswer)
        for ask in unavailable:
            assert isinstance(await ask, DependencyUnavailable), ask.result()
        internal = await reported(nc, bus, run.uuid, "a3")
        assert isinstance(internal, CommandError), internal
        assert internal.code is ErrorCode.INTERNAL, internal
        unknown = await reported(nc, bus, str(uuid.uuid4()), "a0")
        assert unknown == ReportAnswer(), unknown
        retried = await reported(nc, bus, run.uuid, "a1")  # the state was read again
        assert isinstance(retried, ReportAnswer) and retried.work is not None, retried
        assert retried.work.step_uuid == "b1", retried


async def test_reports_in_flight_at_a_stop_are_answered(
    nc: Any,
    bus: BusNames,
    tmp_path: Path,
    service_settings: Callable[..., Any],
    service_runner: Any,
    writes: Writes,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The stop begins (the endpoints no longer take requests) while one
    report's decision is held and five more wait in the run's mailbox behind
    it: each is answered, with its work, before the pool and the connection
    close. The held statement returns once the service waits for the
    reports in flight, or once it closes its pool (without that wait, the
    five would find the pool closing)."""
    endpoints_stopped = asyncio.Event()
    waits_for_answers = asyncio.Event()
    pool_closing = asyncio.Event()
    micro_stop = service_module.micro_stop
    answer_in_flight = report_answers.ReportEndpoint.answer_in_flight
    close = asyncpg.Pool.close

    async def stopped(ctx: Any) -> None:
        await micro_stop(ctx)
        endpoints_stopped.set()

    async def answering(
        self: report_answers.ReportEndpoint, stopping: asyncio.Event, stopped: asyncio.Event
    ) -> None:
        await stopped.wait()
        waits_for_answers.set()
        await answer_in_flight(self, stopping, stopped)

    async def closing(self: asyncpg.Pool) -> None:
        pool_closing.set()
        await close(self)

    monkeypatch.setattr(service_module, "micro_stop", stopped)
    monkeypatch.setattr(report_answers.ReportEndpoint, "answer_in_flight", answering)
    monkeypatch.setattr(asyncpg.Pool, "close", closing)
    settings = service_settings(SchedulerSettings, projects_dir=tmp_path / "projects")
    async with service_runner(build_scheduler(settings), settings) as stop:
        run = await run_with_all_a_claimed(nc, bus, pairs(tmp_path, 6), 6)
        writes.arm()
        asks = [asyncio.create_task(reported(nc, bus, run.uuid, "a0"))]
        await asyncio.wait_for(writes.entered.wait(), 10)
        asks += [asyncio.create_task(reported(nc, bus, run.uuid, f"a{i}")) for i in range(1, 6)]
        await all_submitted(writes, 6)
        stop.set()
        await asyncio.wait_for(endpoints_stopped.wait(), 10)
        waits = [asyncio.ensure_future(e.wait()) for e in (waits_for_answers, pool_closing)]
        await asyncio.wait(waits, timeout=10, return_when=asyncio.FIRST_COMPLETED)
        for wait in waits:
            wait.cancel()
        writes.gate.set()
        answers = await asyncio.gather(*asks)
    for i, answer in enumerate(answers):
        assert isinstance(answer, ReportAnswer), (i, answer)
        assert answer.work is not None and answer.work.step_uuid == f"b{i}", (i, answer)
    assert writes.calls == 2, writes.calls  # the held one, then the five together


async def test_above_the_bound_the_endpoint_waits(
    nc: Any,
    bus: BusNames,
    tmp_path: Path,
    service_settings: Callable[..., Any],
    service_runner: Any,
    writes: Writes,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With two reports in flight at most, the held decision's and one more
    reach the mailbox; the rest wait in the endpoint's subscription until
    there is room, and are answered then."""
    monkeypatch.setattr(report_answers, "MAX_IN_FLIGHT", 2)
    taken: list[object] = []
    third_taken = asyncio.Event()
    handle = report_answers.ReportEndpoint.handle

    async def counted(self: report_answers.ReportEndpoint, request: Any) -> None:
        taken.append(request)
        if len(taken) == 3 and writes.armed:
            third_taken.set()
        await handle(self, request)

    monkeypatch.setattr(report_answers.ReportEndpoint, "handle", counted)
    settings = service_settings(SchedulerSettings, projects_dir=tmp_path / "projects")
    async with service_runner(build_scheduler(settings), settings):
        run = await run_with_all_a_claimed(nc, bus, pairs(tmp_path, 6), 6)
        writes.arm()
        taken.clear()
        asks = [asyncio.create_task(reported(nc, bus, run.uuid, f"a{i}")) for i in range(6)]
        await asyncio.wait_for(writes.entered.wait(), 10)
        # The third request taken while two are in flight: it waits (it
        # would have been submitted before its handler's first await).
        await asyncio.wait_for(third_taken.wait(), 10)
        assert writes.submitted == 2, writes.submitted
        assert len(taken) == 3, len(taken)  # the others wait behind it
        writes.gate.set()
        answers = await asyncio.gather(*asks)
    for i, answer in enumerate(answers):
        assert isinstance(answer, ReportAnswer), (i, answer)
        assert answer.work is not None and answer.work.step_uuid == f"b{i}", (i, answer)
