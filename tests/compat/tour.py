"""The scenario of ``projects/tour``, an Orchest project as public ones are
written: a ``.py`` step importing a helper module of the project, reading a
step and a pipeline parameter and an env variable, writing a named output
and a file in ``/data``; a notebook reading it with ``get_inputs`` and
writing an unnamed output; a ``.sh`` step and a file without an extension
(bash, as Orchest ran it); a last step reading everything back, with
``/pipeline.json`` and ``ORCHEST_PROJECT_UUID``. Then the same pipeline as
a job of two parameter sets, and the steps of ``languages.orchest`` (an R
notebook, a ``.js`` and a ``.jl`` script), each in a run of its own.

What each executor gives is checked by the caller against ``expected_*``;
the same scenario runs on the process executor (``test_orchest_projects.py``)
and the docker executor (``tests/docker/test_docker_compat.py``)."""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import nbformat
from compat.datapass import JOB_ENDS, step_result
from integration.runs_harness import Stack, event_log

from orchest_schemas.events import JobStatusChanged

if TYPE_CHECKING:  # imported as compat_kit here, as compat.compat_kit from tests/docker
    from compat_kit import OrchestProject

TOUR_PIPELINE = "3e7d1c52-8a4b-4f0e-b6d2-9c1a5e7f3b20"
PROJECT_UUID = "9d1f6a2e-3c4b-4e8f-a1b2-c3d4e5f60718"
INTERACTIVE_DATASET = "interactive-set"
JOB_DATASET = "job-set"
JOB_GRID = ({"scale": 2, "tag": "job-2"}, {"scale": 3, "tag": "job-3", "rows": 4})
"""The job's parameter sets (``rows``: the step parameter of ``prepare``)."""
RUN_TIMEOUT = 240.0


def expected_result(*, scale: int, rows: int, tag: str, dataset: str, cwd: str) -> dict[str, Any]:
    """The last step's result for a run of these parameters."""
    values = [scale * i for i in range(1, rows + 1)]
    return {
        "values": values,
        "totals": [sum(values) + 5],  # the notebook's step parameter offset=5
        "data": f"{dataset}:{tag}",
        "pipeline": "tour",
        "pipeline_params": {"scale": scale, "tag": tag},
        "project_uuid": PROJECT_UUID,
        "cwd": cwd,
    }


@dataclass
class TourOutcome:
    interactive: dict[str, Any] = field(default_factory=dict)
    """The interactive run: status, the last step's result, what the other
    steps printed, and the notebook as written back into the project."""
    jobs: dict[str, Any] = field(default_factory=dict)
    """Each job run's status and result, by its ``tag``."""
    notebook_after_job: bytes = b""
    notebook_after_interactive: bytes = b""
    languages: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Each step of ``languages.orchest``: its status, error and output."""


async def step_log(stack: Stack, run_uuid: str, step_uuid: str) -> str:
    response = await stack.http.get(f"/api/runs/{run_uuid}/steps/{step_uuid}/logs")
    assert response.status_code == 200, response.text
    return response.text


async def run_tour(stack: Stack, tour: OrchestProject, languages: OrchestProject) -> TourOutcome:
    outcome = TourOutcome()
    await _interactive(stack, tour, outcome)
    await _job(stack, tour, outcome)
    steps = languages.definition()["steps"]
    results = await asyncio.gather(*(_one_step(stack, languages, s) for s in steps.values()))
    outcome.languages = dict(results)
    return outcome


async def _interactive(stack: Stack, tour: OrchestProject, outcome: TourOutcome) -> None:
    run = await stack.run_to_end(
        {
            "pipeline_definition": tour.definition(),
            "run_type": "full",
            "uuids": [],
            "run_config": {
                "project_dir": str(tour.root),
                "project_uuid": PROJECT_UUID,
                "env_variables": {"DATASET": INTERACTIVE_DATASET},
            },
        },
        timeout=RUN_TIMEOUT,
    )
    seen: dict[str, Any] = {"status": run["status"]}
    seen["result"] = await step_result(stack, run["uuid"], tour.step_uuid("report"))
    for title in ("summarize", "check"):
        log = await step_log(stack, run["uuid"], tour.step_uuid(title))
        seen[title] = log.strip()
    steps = {s["title"]: s for s in run["pipeline_steps"]}
    seen["transform_artifacts"] = steps["transform"]["artifacts"]
    outcome.interactive = seen
    outcome.notebook_after_interactive = (tour.root / "transform.ipynb").read_bytes()


async def _job(stack: Stack, tour: OrchestProject, outcome: TourOutcome) -> None:
    prepare = tour.step_uuid("prepare")
    grid = []
    for params in JOB_GRID:
        parameter_set: dict[str, Any] = {
            "pipeline_parameters": {"scale": params["scale"], "tag": params["tag"]}
        }
        if "rows" in params:
            parameter_set[prepare] = {"rows": params["rows"]}
        grid.append(parameter_set)
    body = {
        "name": "tour",
        "pipeline_definition": tour.definition(),
        "project_dir": str(tour.root),
        "project_uuid": PROJECT_UUID,
        "parameters": grid,
        "env_variables": {"DATASET": JOB_DATASET},
    }
    response = await stack.http.post("/api/jobs", json=body)
    assert response.status_code == 201, response.text
    job = response.json()
    async with event_log(stack, stack.bus.job_events(job["uuid"])) as log:
        await log.wait_for(
            lambda events: any(
                isinstance(e, JobStatusChanged) and e.status in JOB_ENDS for e in events
            ),
            what="the job's end",
            timeout=RUN_TIMEOUT,
        )
    response = await stack.http.get(f"/api/jobs/{job['uuid']}/runs", params={"limit": 50})
    for run in response.json()["runs"]:
        tag = run["parameters"]["pipeline_parameters"]["tag"]
        result = await step_result(stack, run["uuid"], tour.step_uuid("report"))
        outcome.jobs[tag] = {"status": run["status"], "result": result}
    outcome.notebook_after_job = (tour.root / "transform.ipynb").read_bytes()


async def _one_step(
    stack: Stack, project: OrchestProject, step: dict[str, Any]
) -> tuple[str, dict[str, Any]]:
    run = await stack.run_to_end(
        {
            "pipeline_definition": project.definition(),
            "run_type": "selection",
            "uuids": [step["uuid"]],
            "run_config": {"project_dir": str(project.root), "project_uuid": PROJECT_UUID},
        },
        timeout=RUN_TIMEOUT,
    )
    (view,) = run["pipeline_steps"]
    log = await step_log(stack, run["uuid"], step["uuid"])
    return step["title"], {"status": view["status"], "error": view["error"], "log": log.strip()}


def written_back_outputs(notebook: bytes) -> list[str]:
    """The stream outputs of the notebook's cells, as saved."""
    nb = nbformat.reads(notebook.decode(), as_version=4)
    return [
        "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream")
        for cell in nb.cells
    ]


def bash_major(text: str) -> bool:
    return re.fullmatch(r"no extension: bash \d+", text) is not None


def check_tour(outcome: TourOutcome, *, cwd: str) -> None:
    """What every executor must give for ``projects/tour``."""
    interactive = outcome.interactive
    assert interactive["status"] == "SUCCESS", interactive
    assert interactive["result"] == expected_result(
        scale=1, rows=3, tag="interactive", dataset=INTERACTIVE_DATASET, cwd=cwd
    )
    assert interactive["summarize"] == f"shell: {INTERACTIVE_DATASET} {TOUR_PIPELINE}"
    assert bash_major(interactive["check"]), interactive["check"]
    # Written back into the project: the notebook's own three cells, run.
    assert interactive["transform_artifacts"] == ["executed.ipynb"]
    assert written_back_outputs(outcome.notebook_after_interactive) == ["", "total 11\n", ""]
    jobs = {
        params["tag"]: {
            "status": "SUCCESS",
            "result": expected_result(
                scale=params["scale"],
                rows=params.get("rows", 3),
                tag=params["tag"],
                dataset=JOB_DATASET,
                cwd=cwd,
            ),
        }
        for params in JOB_GRID
    }
    assert outcome.jobs == jobs
    # The job's runs wrote into their workspaces only.
    assert outcome.notebook_after_job == outcome.notebook_after_interactive
