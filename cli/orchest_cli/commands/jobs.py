"""``orchest jobs``: a pipeline run once per parameter set, now, at a time or
on a cron schedule. JOB: its uuid, a uuid prefix or its name."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import click

from .. import pipeline_names
from ..output import emit, output_option, wide_option
from .common import (
    base_url,
    env_option,
    iso_time,
    limit_option,
    param_option,
    project_dir_option,
    query,
    stack_options,
)

job_argument = click.argument("job_ref", metavar="JOB")


@click.group()
def jobs() -> None:
    """Jobs: a pipeline run once per parameter set, now, at a time or on a cron
    schedule. JOB: its uuid, a uuid prefix or its name."""


@jobs.command("list")
@stack_options
@click.option("--status", default=None, help="Only jobs in this status.")
@click.option("--pipeline", "pipeline_uuid", default=None, help="Only this pipeline's jobs.")
@limit_option
@output_option
@wide_option
def jobs_list(
    state_dir: Path | None,
    url: str | None,
    status: str | None,
    pipeline_uuid: str | None,
    limit: int,
    output: str,
    wide: bool,
) -> None:
    """List jobs, newest first, with their runs per status."""
    from orchest_schemas.jobs import JobList

    from ..api import Api
    from ..jobs import print_jobs

    params = query(limit, status=status, pipeline_uuid=pipeline_uuid)
    with Api(base_url(state_dir, url)) as api:
        page = api.get("/api/jobs", JobList, params=params)
    emit(page, output) if output != "table" else print_jobs(page, wide=wide)


@jobs.command("show")
@stack_options
@job_argument
@output_option
def jobs_show(state_dir: Path | None, url: str | None, job_ref: str, output: str) -> None:
    """Show a job: its schedule, parameter sets and runs per status."""
    from ..api import Api
    from ..jobs import find_job, show_job

    with Api(base_url(state_dir, url)) as api:
        job = find_job(api, job_ref)
    emit(job, output) if output != "table" else show_job(job)


@jobs.command("create")
@stack_options
@click.argument("pipeline_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--name", required=True, help="The job's name.")
@project_dir_option
@click.option(
    "--param-grid",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="JSON: a list of parameter sets, or {key: {name: [values...]}} for every combination.",
)
@click.option("--cron", default=None, help="Run on this cron schedule (e.g. '0 3 * * *').")
@click.option(
    "--at",
    callback=iso_time,
    default=None,
    help="Run once at this ISO 8601 time (without a zone: local time).",
)
@click.option(
    "--max-retained",
    type=click.IntRange(min=-1),
    default=None,
    help="Runs to keep; older ones are deleted [default: all].",
)
@click.option(
    "--max-parallel",
    type=click.IntRange(min=1),
    default=None,
    help="Runs of this job at once [default: the scheduler's].",
)
@click.option("--draft", is_flag=True, help="Create it as a draft: nothing runs until confirmed.")
@env_option
@param_option
def jobs_create(
    state_dir: Path | None,
    url: str | None,
    pipeline_file: Path,
    name: str,
    project_dir: Path | None,
    param_grid: Path | None,
    cron: str | None,
    at: datetime | None,
    max_retained: int | None,
    max_parallel: int | None,
    draft: bool,
    env: dict[str, str],
    params: dict[str, Any],
) -> None:
    """Create a job from a pipeline file; without --cron or --at it runs now."""
    from orchest_schemas.jobs import JobView

    from ..api import Api
    from ..jobs import job_body, job_line, load_param_grid

    if cron is not None and at is not None:
        raise click.UsageError("give --cron or --at, not both")
    body = job_body(
        pipeline_file,
        name=name,
        project_dir=project_dir,
        parameters=load_param_grid(param_grid) if param_grid else None,
        cron=cron,
        at=at,
        max_retained=max_retained,
        max_parallel=max_parallel,
        draft=draft,
        env=env,
        pipeline_parameters=params,
    )
    pipeline_names.note(body["pipeline_definition"])
    with Api(base_url(state_dir, url)) as api:
        job = api.send("POST", "/api/jobs", JobView, 201, json=body)
    click.echo(f"{job_line(job)} ({len(job.parameters)} parameter set(s))")


@jobs.command("runs")
@stack_options
@job_argument
@click.option("--status", default=None, help="Only runs in this status.")
@limit_option
@output_option
@wide_option
def jobs_runs(
    state_dir: Path | None,
    url: str | None,
    job_ref: str,
    status: str | None,
    limit: int,
    output: str,
    wide: bool,
) -> None:
    """List a job's runs, the latest execution first."""
    from orchest_schemas.runs import RunList

    from ..api import Api
    from ..jobs import find_job, print_job_runs

    with Api(base_url(state_dir, url)) as api:
        job = find_job(api, job_ref)
        page = api.get(f"/api/jobs/{job.uuid}/runs", RunList, params=query(limit, status=status))
    emit(page, output) if output != "table" else print_job_runs(job, page, wide=wide)


def _change(state_dir: Path | None, url: str | None, job_ref: str, how: str, body: Any) -> None:
    from orchest_schemas.jobs import JobView

    from ..api import Api
    from ..jobs import find_job, job_line

    with Api(base_url(state_dir, url)) as api:
        job = find_job(api, job_ref)
        method, path = {
            "update": ("PUT", f"/api/jobs/{job.uuid}"),
            "trigger": ("POST", f"/api/jobs/{job.uuid}/trigger"),
            "cancel": ("DELETE", f"/api/jobs/{job.uuid}"),
        }[how]
        click.echo(job_line(api.send(method, path, JobView, json=body)))


@jobs.command("pause")
@stack_options
@job_argument
def jobs_pause(state_dir: Path | None, url: str | None, job_ref: str) -> None:
    """Pause a job: no new execution; its queued runs wait."""
    _change(state_dir, url, job_ref, "update", {"paused": True})


@jobs.command("resume")
@stack_options
@job_argument
def jobs_resume(state_dir: Path | None, url: str | None, job_ref: str) -> None:
    """Resume a paused job."""
    _change(state_dir, url, job_ref, "update", {"paused": False})


@jobs.command("confirm")
@stack_options
@job_argument
def jobs_confirm(state_dir: Path | None, url: str | None, job_ref: str) -> None:
    """Confirm a draft: its schedule starts (it runs now if it has none)."""
    _change(state_dir, url, job_ref, "update", {"confirm_draft": True})


@jobs.command("trigger")
@stack_options
@job_argument
def jobs_trigger(state_dir: Path | None, url: str | None, job_ref: str) -> None:
    """Run one execution of a job now, whatever its schedule."""
    _change(state_dir, url, job_ref, "trigger", None)


@jobs.command("cancel")
@stack_options
@job_argument
@click.option("--run", "run_ref", default=None, help="Abort only this run (uuid or prefix).")
def jobs_cancel(state_dir: Path | None, url: str | None, job_ref: str, run_ref: str | None) -> None:
    """Cancel a job (its live runs aborted), or with --run abort one of its runs."""
    if run_ref is None:
        _change(state_dir, url, job_ref, "cancel", None)
        return
    from orchest_schemas.runs import RunView

    from ..api import Api
    from ..jobs import find_job
    from ..runs import find_run

    with Api(base_url(state_dir, url)) as api:
        job = find_job(api, job_ref)
        run_uuid = run_ref if len(run_ref) == 36 else find_run(api, run_ref).uuid
        run = api.send("DELETE", f"/api/jobs/{job.uuid}/runs/{run_uuid}", RunView)
    click.echo(f"run {run.uuid}: {run.status}")
