"""Retries survive the loss of the scheduler process that was waiting for them."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from integration.runs_harness import run_handling
from nats.aio.client import Client

from orchest_scheduler.runs import Runs
from orchest_schemas.bus import BusNames
from orchest_schemas.commands import CreateRun, StepWork
from orchest_schemas.reports import ClaimStep, StepAttemptFinished
from orchest_schemas.status import Priority, StepStatus


async def failed_once(runs: Runs, tmp_path: Path) -> str:
    """A run whose only step failed its first attempt and waits 1 s to retry (long enough to close its scheduler first)."""
    (tmp_path / "s.sh").write_text("exit 1\n")
    command = CreateRun.model_validate(
        {
            "pipeline_definition": {
                "uuid": "p-retry",
                "settings": {"retries": 1, "retry_backoff_seconds": 1.0},
                "steps": {"s": {"uuid": "s", "title": "S", "file_path": "s.sh"}},
            },
            "run_config": {"project_dir": str(tmp_path)},
        }
    )
    run = await runs.create(command)
    claim = await runs.claim(ClaimStep(run_uuid=run.uuid, step_uuid="s", attempt=1, runner_id="r"))
    assert claim.granted
    await runs.on_report(
        StepAttemptFinished(
            run_uuid=run.uuid,
            step_uuid="s",
            attempt=1,
            status=StepStatus.FAILURE,
            exit_code=1,
            runner_id="r",
        )
    )
    view = await runs.view(run.uuid)
    assert view is not None and view.pipeline_steps[0].attempt == 2
    return run.uuid


async def next_work(nc: Client, bus: BusNames, attempt: int) -> asyncio.Future[StepWork]:
    found: asyncio.Future[StepWork] = asyncio.get_running_loop().create_future()

    async def on_work(msg: Any) -> None:
        work = StepWork.model_validate_json(msg.data)
        if work.attempt == attempt and not found.done():
            found.set_result(work)

    await nc.subscribe(bus.step_work(Priority.INTERACTIVE), cb=on_work)
    return found


@pytest.mark.parametrize("how", ["another replica sweeps", "the next process starts"])
async def test_a_retry_whose_timer_died_is_still_dispatched(
    database_url: str, nc: Client, bus: BusNames, tmp_path: Path, how: str
) -> None:
    work = await next_work(nc, bus, attempt=2)
    async with run_handling(database_url, nc, bus) as first:
        run_uuid = await failed_once(first, tmp_path)
        first.close()  # its timers die with it
    async with run_handling(database_url, nc, bus) as second:
        if how == "another replica sweeps":
            stop = asyncio.Event()
            sweeper = asyncio.create_task(second.sweep_retries(stop, every=0.1))
        else:
            await second.schedule_waiting_retries()
        dispatched = await asyncio.wait_for(work, 10)
        if how == "another replica sweeps":
            stop.set()
            await sweeper
    assert (dispatched.run_uuid, dispatched.step_uuid) == (run_uuid, "s")
