"""A runner runs at most its slots at once, and job work at most its job
slots; a freed slot goes to waiting interactive work before job work."""

from __future__ import annotations

import asyncio
import itertools
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from nats.aio.client import Client
from nats.aio.msg import Msg
from runs_harness import Project, whole_stack

from orchest_scheduler.definitions import DefinitionStore
from orchest_schemas.bus import HEADER_MSG_ID, BusNames
from orchest_schemas.commands import StepWork
from orchest_schemas.pipeline import PipelineDefinition
from orchest_schemas.reports import ClaimStep, StepClaim
from orchest_schemas.status import Priority
from orchest_service.broker import ensure_streams
from orchest_step_runner.service import build_definition as build_runner
from orchest_step_runner.settings import RunnerSettings
from support import eventually, running_service

# Each step counts the steps running beside it (itself included), then holds
# its slot a moment so that a runner over its limit would be seen.
COUNTING = 'd="{dir}"; touch "$d/run.$$"; ls "$d" | grep -c "^run\\." >> "{log}"; sleep 0.4; rm "$d/run.$$"\n'


def counting_project(root: Path, steps: int) -> tuple[Project, Path]:
    running = root / "running"
    running.mkdir()
    log = root / "concurrency.log"
    project = Project(root)
    for i in range(steps):
        project.step(f"s{i}", f"s{i}.sh", COUNTING.format(dir=running, log=log))
    return project, log


@pytest.mark.parametrize(("slots", "job"), [(2, False), (3, True)])
async def test_concurrency_stays_within_the_slots(
    service_settings: Callable[..., Any], tmp_path: Path, slots: int, job: bool
) -> None:
    project, log = counting_project(tmp_path, steps=6)
    async with whole_stack(service_settings, slots=slots, job_slots=1) as stack:
        if job:  # a job's run: its work goes out on the job priority subject
            created = await stack.http.post("/api/jobs", json=project.job_body("slots"))
            assert created.status_code == 201, created.text
            job_uuid = created.json()["uuid"]

            async def job_run() -> str | None:
                runs = (await stack.http.get(f"/api/jobs/{job_uuid}/runs")).json()["runs"]
                return str(runs[0]["uuid"]) if runs else None

            run_uuid = await eventually(job_run, timeout=20, what="the job's run")
        else:
            run_uuid = (await stack.start_run(project.body()))["uuid"]
        await stack.events(run_uuid)
        final = (await stack.http.get(f"/api/runs/{run_uuid}")).json()
    assert final["status"] == "SUCCESS"
    seen = [int(line) for line in log.read_text().split()]
    assert len(seen) == 6
    limit = 1 if job else slots
    assert max(seen) == limit  # reached (steps run side by side) and never passed


# -- interactive work first ----------------------------------------------------------

ROUNDS = 30
"""Rounds per test: the old runner, whose two fetch loops raced for a freed
slot, lost between one round in twenty and one in five."""
HOLD = 'while [ ! -e "{release}" ]; do sleep 0.005; done\n'  # wait-ok: the step's own work: it holds its slot until the test releases it


@asynccontextmanager
async def granting_claims(nc: Client, bus: BusNames) -> AsyncIterator[asyncio.Queue[str]]:
    """The scheduler's claim endpoint, faked: grants every claim and yields the
    claimed runs in the order the runner asked for them (the order it started
    them)."""
    claimed: asyncio.Queue[str] = asyncio.Queue()

    async def on_claim(msg: Msg) -> None:
        claim = ClaimStep.model_validate_json(msg.data)
        claimed.put_nowait(claim.run_uuid)
        await msg.respond(StepClaim(granted=True, attempt=claim.attempt).to_bytes())

    subscription = await nc.subscribe(bus.claim_step, cb=on_claim)
    try:
        yield claimed
    finally:
        await subscription.unsubscribe()


@pytest.mark.parametrize("slots", [1, 2])
async def test_a_freed_slot_goes_to_interactive_work_before_job_work(
    service_settings: Callable[..., Any], nc: Client, bus: BusNames, tmp_path: Path, slots: int
) -> None:
    """A runner full of job work (job work may hold all its slots), with more
    job work and then interactive work waiting: when a slot frees, the
    interactive step starts next, every time."""
    project = Project(tmp_path)
    project.step("quick", "quick.sh", "true\n")
    holds = [[f"hold{k}-{i}" for i in range(slots)] for k in range(ROUNDS)]
    for step in itertools.chain.from_iterable(holds):
        project.step(step, f"{step}.sh", HOLD.format(release=tmp_path / f"{step}.release"))
    definition = PipelineDefinition.model_validate(project.definition())
    js = nc.jetstream()
    await ensure_streams(js, bus.streams)
    key = await DefinitionStore(js, bus.definitions_bucket, 3600).put(definition)

    async def publish(step: str, priority: Priority) -> str:
        """Step work of a run of its own; returns the run (stored when this returns)."""
        run_uuid = str(uuid.uuid4())
        work = StepWork(
            run_uuid=run_uuid,
            step_uuid=step,
            attempt=1,
            priority=priority,
            definition_key=key,
            project_dir=str(tmp_path),
        )
        headers = {HEADER_MSG_ID: f"{run_uuid}.{step}.1"}
        await js.publish(bus.step_work(priority), work.to_bytes(), headers=headers)
        return run_uuid

    settings: RunnerSettings = service_settings(RunnerSettings, slots=slots, job_slots=slots)
    async with (
        granting_claims(nc, bus) as claimed,
        running_service(build_runner(settings), settings),
    ):

        async def started(count: int) -> list[str]:
            return [await asyncio.wait_for(claimed.get(), 10) for _ in range(count)]

        for k in range(ROUNDS):
            held = [await publish(step, Priority.JOB) for step in holds[k]]
            assert sorted(await started(slots)) == sorted(held)  # the runner is full
            jobs = [await publish("quick", Priority.JOB) for _ in range(3)]
            interactive = await publish("quick", Priority.INTERACTIVE)
            (tmp_path / f"{holds[k][0]}.release").touch()
            assert await started(1) == [interactive], f"round {k}: a job step took the freed slot"
            for step in holds[k][1:]:
                (tmp_path / f"{step}.release").touch()
            assert sorted(await started(3)) == sorted(jobs)
