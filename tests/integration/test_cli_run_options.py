"""``orchest run`` and ``orchest jobs create`` send what a step of a project
folder expects: the project's stable uuid (``ORCHEST_PROJECT_UUID``), the
``--env`` variables and the ``--param`` pipeline parameters."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from runs_harness import Stack, event_log
from test_cli_jobs import job_uuid_of, orchest, pipeline_file

from orchest_cli.project_id import project_uuid_of
from orchest_schemas.events import RunStatusChanged
from orchest_schemas.status import RunStatus

PRINT = 'echo "project=$ORCHEST_PROJECT_UUID greeting=$GREETING params=$ORCHEST_PARAMETERS"\n'


@pytest.fixture
def pipeline(tmp_path: Path) -> Path:
    return pipeline_file(tmp_path, {"alpha": 0, "beta": "kept"}, PRINT)


async def step_output(stack: Stack, run_uuid: str) -> str:
    response = await stack.http.get(f"/api/runs/{run_uuid}/steps/a/logs")
    assert response.status_code == 200, response.text
    return response.text


def assert_seen(pipeline: Path, output: str) -> None:
    """The step saw the project's uuid, the env variable and the parameters."""
    line = output.strip().splitlines()[-1]
    head, _, params = line.partition(" params=")
    assert head == f"project={project_uuid_of(pipeline.parent)} greeting=hello world", line
    assert json.loads(params) == {"alpha": 5, "beta": "kept", "tags": ["x", "y"], "note": "a b"}


OPTIONS = (
    "--env",
    "GREETING=hello world",
    "--param",
    "alpha=5",
    "--param",
    'tags=["x", "y"]',
    "--param",
    "note=a b",
)


async def test_run_sends_the_project_uuid_env_and_parameters(stack: Stack, pipeline: Path) -> None:
    result = await orchest(stack, "run", str(pipeline), *OPTIONS)
    assert result.code == 0, result.out + result.err
    run_uuid = result.out.split()[-2].rstrip(":")
    assert_seen(pipeline, await step_output(stack, run_uuid))


async def test_run_prints_the_runs_dashboard_url(stack: Stack, pipeline: Path) -> None:
    """The run's view in the dashboard, said before the run's progress, so
    it can be opened while the run runs."""
    result = await orchest(stack, "run", str(pipeline))
    assert result.code == 0, result.out + result.err
    run_uuid = result.out.split()[-2].rstrip(":")
    base = str(stack.http.base_url).rstrip("/")
    lines = result.out.splitlines()
    assert lines[0] == f"Dashboard: {base}/runs/{run_uuid}", result.out


async def test_jobs_create_sends_the_project_uuid_env_and_parameters(
    stack: Stack, pipeline: Path
) -> None:
    async with event_log(stack) as log:
        created = await orchest(stack, "jobs", "create", str(pipeline), "--name", "opts", *OPTIONS)
        job_uuid_of(created)
        events = await log.wait_for(
            lambda seen: any(ended(event) for event in seen), what="the job's run ended"
        )
    run = next(event for event in events if ended(event))
    assert isinstance(run, RunStatusChanged) and run.status is RunStatus.SUCCESS
    assert_seen(pipeline, await step_output(stack, run.run_uuid))


def ended(event: object) -> bool:
    return isinstance(event, RunStatusChanged) and event.status.is_final


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--env", "NOEQUALS", "is not KEY=VALUE"),
        ("--env", "1BAD=x", "is not a variable name"),
        ("--param", "=x", "is not KEY=VALUE"),
    ],
)
async def test_malformed_assignments_are_usage_errors(
    stack: Stack, pipeline: Path, option: str, value: str, message: str
) -> None:
    result = await orchest(stack, "run", str(pipeline), option, value)
    assert result.code == 2
    assert message in result.err
