"""The data-passing scenario of ``projects/datapass``: four parameter sets
of a job and an interactive run of one pipeline, all at once (each run's
first step waits at a gate until every run has output its data); each run's
result, from its last step's log, beside what its own parameters give."""

from __future__ import annotations

import json
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from integration.runs_harness import Stack, event_log, whole_stack

from orchest_schemas.events import JobStatusChanged
from orchest_schemas.status import JobStatus

if TYPE_CHECKING:  # imported as compat_kit here, as compat.compat_kit from tests/docker
    from compat_kit import OrchestProject

FACTORS = (1, 2, 3, 4)
OFFSET = 7
INTERACTIVE_FACTOR = 9
JOB_ENDS = {JobStatus.SUCCESS, JobStatus.FAILURE, JobStatus.ABORTED}


def expected(factor: int, offset: int, *, use_data: bool) -> dict[str, Any]:
    base = factor * 10 + offset
    result: dict[str, Any] = {"factor": factor, "base": base, "doubled": [2 * base]}
    if use_data:
        result["data"] = str(3 * base)
        result["pipeline"] = "datapass"
    return result


async def step_result(stack: Stack, run_uuid: str, step_uuid: str) -> dict[str, Any]:
    response = await stack.http.get(f"/api/runs/{run_uuid}/steps/{step_uuid}/logs")
    assert response.status_code == 200, response.text
    lines = [x for x in response.text.splitlines() if x.startswith("RESULT=")]
    assert len(lines) == 1, response.text
    result: dict[str, Any] = json.loads(lines[0].split("=", 1)[1])
    return result


def datapass_stack(
    service_settings: Callable[..., Any], runner_overrides: dict[str, Any]
) -> AbstractAsyncContextManager[Stack]:
    """A whole stack whose runner takes every run of the scenario at once."""
    return whole_stack(
        service_settings,
        slots=len(FACTORS) + 1,
        job_slots=len(FACTORS),
        job_max_parallel_runs=len(FACTORS),
        runner_overrides=runner_overrides,
    )


@dataclass(frozen=True)
class Outcome:
    seen: dict[str, Any]
    """Each run's result and status, by run."""
    wanted: dict[str, Any]
    """What each run's own parameters give."""


async def run_datapass(
    stack: Stack, project: OrchestProject, *, gate: str, use_data: bool
) -> Outcome:
    """Run the scenario on ``stack`` (``datapass_stack``). ``gate`` is an empty folder as
    the steps see it; ``use_data``: the steps also pass a file through
    ``/data`` and read ``/pipeline.json``."""
    load, report = project.step_uuid("load"), project.step_uuid("report")
    common = {"gate": gate, "runs": len(FACTORS) + 1, "use_data": use_data}
    grid = [
        {"pipeline_parameters": {"factor": f, "tag": f"job-{f}"}, load: {"offset": OFFSET + f}}
        for f in FACTORS
    ]
    body = {
        "name": "datapass",
        "pipeline_definition": project.definition(**common),
        "project_dir": str(project.root),
        "parameters": grid,
    }
    response = await stack.http.post("/api/jobs", json=body)
    assert response.status_code == 201, response.text
    job = response.json()
    async with event_log(stack, stack.bus.job_events(job["uuid"])) as log:
        interactive = await stack.start_run(
            {
                "pipeline_definition": project.definition(
                    **common, factor=INTERACTIVE_FACTOR, tag="interactive"
                ),
                "run_type": "full",
                "uuids": [],
                "run_config": {"project_dir": str(project.root)},
            }
        )
        await log.wait_for(
            lambda events: any(
                isinstance(e, JobStatusChanged) and e.status in JOB_ENDS for e in events
            ),
            what="the job's end",
            timeout=240,
        )
    await stack.events(interactive["uuid"], timeout=240)
    response = await stack.http.get(f"/api/jobs/{job['uuid']}/runs", params={"limit": 50})
    runs = response.json()["runs"]
    assert len(runs) == len(FACTORS)
    seen: dict[str, Any] = {}
    wanted: dict[str, Any] = {}
    for run in runs:
        factor = run["parameters"]["pipeline_parameters"]["factor"]
        name = f"job run of factor {factor} ({run['status']})"
        seen[name] = await step_result(stack, run["uuid"], report) | {"status": run["status"]}
        wanted[name] = expected(factor, OFFSET + factor, use_data=use_data)
        wanted[name] |= {"status": "SUCCESS", "cwd": seen[name].get("cwd")}
    response = await stack.http.get(f"/api/runs/{interactive['uuid']}")
    seen["interactive"] = await step_result(stack, interactive["uuid"], report)
    seen["interactive"]["status"] = response.json()["status"]
    wanted["interactive"] = expected(INTERACTIVE_FACTOR, 0, use_data=use_data)
    wanted["interactive"] |= {"status": "SUCCESS", "cwd": seen["interactive"].get("cwd")}
    return Outcome(seen, wanted)
