"""``orchest jobs`` as a user runs it, against a whole stack in this process."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from runs_harness import Project, Stack

from support import CommandResult, eventually, orchest_command

NOBODY = "00000000-0000-4000-8000-000000000000"


def pipeline_file(tmp_path: Path, parameters: dict[str, Any], script: str) -> Path:
    """A pipeline file ``p.orchest`` in its project folder: one step ``a.sh``
    running ``script``, with the pipeline's ``parameters``."""
    root = tmp_path / "project"
    root.mkdir()
    project = Project(root)
    project.parameters = parameters
    project.step("a", "a.sh", script)
    path = root / "p.orchest"
    path.write_text(json.dumps(project.definition()))
    return path


@pytest.fixture
def pipeline(tmp_path: Path) -> Path:
    return pipeline_file(tmp_path, {"alpha": 0}, 'echo "$ORCHEST_PARAMETERS"\n')


async def orchest(stack: Stack, *args: str, env: dict[str, str] | None = None) -> CommandResult:
    """The command in a child process (the gateway serves in this loop meanwhile);
    times are shown in UTC, the terminal is 250 columns wide unless ``env`` says."""
    url = str(stack.http.base_url).rstrip("/")
    return await orchest_command(url, *args, env={"TZ": "UTC", **(env or {})})


def job_uuid_of(result: CommandResult) -> str:
    assert result.code == 0, result.out + result.err
    return result.out.split()[1]


async def test_create_from_a_grid_list_show_pause_resume_trigger_and_cancel(
    stack: Stack, pipeline: Path, tmp_path: Path
) -> None:
    grid = tmp_path / "grid.json"
    grid.write_text(json.dumps({"pipeline_parameters": {"alpha": [1, 2]}, "a": {"b": ["x", "y"]}}))
    created = await orchest(
        stack,
        "jobs",
        "create",
        str(pipeline),
        "--name",
        "grid job",
        "--param-grid",
        str(grid),
        "--cron",
        "0 0 1 1 *",
        "--max-parallel",
        "2",
    )
    job_uuid = job_uuid_of(created)
    assert "'grid job': PENDING, next run at" in created.out
    assert "(4 parameter set(s))" in created.out
    job = (await stack.http.get(f"/api/jobs/{job_uuid}")).json()
    assert job["project_dir"] == str(pipeline.parent)
    assert job["max_parallel_runs"] == 2
    assert job["parameters"][1] == {"pipeline_parameters": {"alpha": 1}, "a": {"b": "y"}}

    listed = await orchest(stack, "jobs", "list")
    assert listed.code == 0, listed.err
    assert job_uuid in listed.out and "grid job" in listed.out and "0 0 1 1 *" in listed.out

    paused = await orchest(stack, "jobs", "pause", job_uuid)
    assert paused.code == 0 and "PAUSED" in paused.out
    resumed = await orchest(stack, "jobs", "resume", job_uuid)
    assert resumed.code == 0 and "PENDING" in resumed.out
    triggered = await orchest(stack, "jobs", "trigger", job_uuid)
    assert triggered.code == 0, triggered.err

    async def four_succeeded() -> bool | None:
        job = (await stack.http.get(f"/api/jobs/{job_uuid}")).json()
        return True if job["run_counts"] == {"SUCCESS": 4} else None

    await eventually(four_succeeded, timeout=60, what="the four runs of the execution")
    shown = await orchest(stack, "jobs", "show", job_uuid)
    assert shown.code == 0, shown.err
    assert "parameter sets" in shown.out and "4 SUCCESS" in shown.out
    runs = await orchest(stack, "jobs", "runs", job_uuid)
    assert runs.code == 0, runs.err
    assert "4 of 4 runs" in runs.out and '"pipeline_parameters":{"alpha":2}' in runs.out, runs.out
    failed = await orchest(stack, "jobs", "runs", job_uuid, "--status", "FAILURE")
    assert "0 of 0 runs" in failed.out

    cancelled = await orchest(stack, "jobs", "cancel", job_uuid)
    assert cancelled.code == 0 and "ABORTED" in cancelled.out
    again = await orchest(stack, "jobs", "trigger", job_uuid)
    assert again.code == 1 and "cannot be triggered" in again.err


async def test_a_draft_at_a_time_is_confirmed_and_one_run_aborted(
    stack: Stack, pipeline: Path, tmp_path: Path
) -> None:
    grid = tmp_path / "sets.json"
    grid.write_text(json.dumps([{"pipeline_parameters": {"alpha": 5}}]))
    created = await orchest(
        stack,
        "jobs",
        "create",
        str(pipeline),
        "--name",
        "later",
        "--param-grid",
        str(grid),
        "--at",
        "2099-01-01T09:00:00+00:00",
        "--draft",
    )
    job_uuid = job_uuid_of(created)
    assert "DRAFT" in created.out and "(1 parameter set(s))" in created.out
    confirmed = await orchest(stack, "jobs", "confirm", job_uuid)
    assert confirmed.code == 0 and "next run at 2099-01-01 09:00:00 UTC" in confirmed.out
    triggered = await orchest(stack, "jobs", "trigger", job_uuid)
    assert triggered.code == 0, triggered.err

    async def the_run() -> str | None:
        page = (await stack.http.get(f"/api/jobs/{job_uuid}/runs")).json()
        return str(page["runs"][0]["uuid"]) if page["runs"] else None

    run_uuid = await eventually(the_run, timeout=30, what="the triggered run")
    aborted = await orchest(stack, "jobs", "cancel", job_uuid, "--run", run_uuid)
    assert aborted.code == 0, aborted.err
    assert aborted.out.startswith(f"run {run_uuid}: ")
    unknown = await orchest(stack, "jobs", "cancel", job_uuid, "--run", NOBODY)
    assert unknown.code == 1 and f"has no run {NOBODY}" in unknown.err


async def test_errors_are_shown_with_every_problem(
    stack: Stack, pipeline: Path, tmp_path: Path
) -> None:
    missing = await orchest(stack, "jobs", "show", NOBODY)
    assert missing.code == 1 and f"no job {NOBODY}" in missing.err
    both = await orchest(
        stack, "jobs", "create", str(pipeline), "--name", "x", "--cron", "0 * * * *", "--at",
        "2099-01-01T00:00:00",
    )  # fmt: skip
    assert both.code == 2 and "--cron or --at" in both.err
    bad_time = await orchest(stack, "jobs", "create", str(pipeline), "--name", "x", "--at", "soon")
    assert bad_time.code == 2 and "ISO 8601" in bad_time.err
    grid = tmp_path / "grid.json"
    grid.write_text(json.dumps({"pipeline_parameters": {"alpha": 1, "beta": []}}))
    bad_grid = await orchest(
        stack, "jobs", "create", str(pipeline), "--name", "x", "--param-grid", str(grid)
    )
    assert bad_grid.code == 1
    assert (
        "pipeline_parameters.alpha" in bad_grid.err and "pipeline_parameters.beta" in bad_grid.err
    )
    refused = await orchest(
        stack, "jobs", "create", str(pipeline), "--name", "x", "--cron", "whenever"
    )
    assert refused.code == 1
    assert "invalid job" in refused.err and "schedule.cron_schedule:" in refused.err
    bad_status = await orchest(stack, "jobs", "list", "--status", "NOPE")
    assert bad_status.code == 1 and "query.status: must be one of" in bad_status.err
    assert (await stack.http.get("/api/jobs")).json()["total"] == 0
