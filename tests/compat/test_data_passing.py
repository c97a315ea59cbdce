"""Data passing with the Orchest SDK: runs of one pipeline at once (a job's
parameter sets, and an interactive run beside them) each read their own
outputs, through ``/project-dir``, ``/data`` and ``/pipeline.json`` as the
SDK and Orchest projects use them."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import OrchestProject, host_paths
from integration.runs_harness import Stack, event_log, whole_stack

from orchest_schemas.events import JobStatusChanged
from orchest_schemas.status import JobStatus

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


async def isolation_of(stack: Stack) -> str:
    health = (await stack.http.get("/api/health")).json()
    runner = next(s for s in health["services"] if s["name"] == "step-runner")
    return str(runner["instances"][0]["metadata"]["isolation"])


@pytest.mark.parametrize("isolation", ["namespace", "none"])
async def test_runs_at_once_each_pass_their_own_data(
    service_settings: Callable[..., Any],
    datapass_project: OrchestProject,
    tmp_path: Path,
    isolation: str,
) -> None:
    """Four parameter sets of a job and an interactive run, all at once (each
    run's first step waits at a gate until every run has output its data),
    each end with a result made of their own parameters only: a named output,
    a notebook's unnamed output, and (with a view) a file in ``/data``."""
    use_data = isolation == "namespace"  # the unisolated mode has no /data
    on_host = await asyncio.to_thread(host_paths)
    gate = tmp_path / "gate"
    gate.mkdir()
    data_dir = tmp_path / "data"
    project = datapass_project
    load, report = project.step_uuid("load"), project.step_uuid("report")
    common = {"gate": str(gate), "runs": len(FACTORS) + 1, "use_data": use_data}
    grid = [
        {"pipeline_parameters": {"factor": f, "tag": f"job-{f}"}, load: {"offset": OFFSET + f}}
        for f in FACTORS
    ]
    async with whole_stack(
        service_settings,
        slots=len(FACTORS) + 1,
        job_slots=len(FACTORS),
        job_max_parallel_runs=len(FACTORS),
        runner_overrides={"data_dir": data_dir, "isolation": isolation},
    ) as stack:
        mode = await isolation_of(stack)
        assert mode.startswith("mount-namespace" if use_data else "none"), mode
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
        assert seen == wanted
        cwds = {result["cwd"] for result in seen.values()}
        if use_data:  # the step's folder in its view
            assert cwds == {"/project-dir"}
        else:
            assert str(project.root) in cwds
    # Nothing made on the host outside the test's folders.
    assert await asyncio.to_thread(host_paths) == on_host
