"""A runner runs at most its slots at once, and job work at most its job slots."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from runs_harness import Project, whole_stack

from orchest_runtime.commands import request_command
from orchest_schemas.commands import CreateRun
from orchest_schemas.runs import RunView

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
            command = CreateRun.model_validate({**project.body(), "job_uuid": str(uuid.uuid4())})
            run = await request_command(stack.nc, stack.bus.create_run, command, RunView)
            run_uuid = run.uuid
        else:
            run_uuid = (await stack.start_run(project.body()))["uuid"]
        await stack.events(run_uuid)
        final = (await stack.http.get(f"/api/runs/{run_uuid}")).json()
    assert final["status"] == "SUCCESS"
    seen = [int(line) for line in log.read_text().split()]
    assert len(seen) == 6
    limit = 1 if job else slots
    assert max(seen) == limit  # reached (steps run side by side) and never passed
