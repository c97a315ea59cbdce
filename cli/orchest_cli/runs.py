"""Runs: started from a pipeline file or a project's pipeline and followed
live, listed with their pipeline's name, found by uuid or uuid prefix, their
steps' output and artifacts."""

from __future__ import annotations

import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from orchest_schemas.projects import PipelineList, ProjectList
from orchest_schemas.runs import RunList, RunView

from .api import Api
from .assignments import with_parameters
from .errors import CliError
from .output import Column, print_table, when
from .pipeline_file import (
    StepName,
    definition_steps,
    find_step,
    read_definition,
    step_uuids_named,
)
from .progress import LogFollower, RunProgress, status_text
from .project_id import project_uuid_of

PAGE = 500
"""The API's largest page (``limit``)."""


def file_run_body(
    pipeline_file: Path,
    project_dir: Path | None,
    run_type: str,
    steps: tuple[str, ...],
    env: dict[str, str] | None = None,
    parameters: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """``POST /api/runs`` for a pipeline file (its definition sent inline)."""
    definition = with_parameters(read_definition(pipeline_file), parameters or {})
    project = (project_dir or pipeline_file.parent).resolve()
    path = pipeline_file.resolve()
    return {
        "pipeline_definition": definition,
        "run_type": run_type,
        "uuids": step_uuids_named(definition_steps(definition), steps, str(pipeline_file)),
        "run_config": {
            "project_dir": str(project),
            "project_uuid": project_uuid_of(project),
            "env_variables": env or {},
            "pipeline_path": str(path.relative_to(project))
            if path.is_relative_to(project)
            else pipeline_file.name,
        },
        "idempotency_key": str(uuid.uuid4()),
    }


def project_run_body(
    api: Api, reference: str, run_type: str, steps: tuple[str, ...], env: dict[str, str]
) -> dict[str, Any]:
    """``POST /api/runs`` for a project's pipeline, ``PROJECT/PIPELINE_PATH``."""
    from .projects import find_pipeline, find_project

    project_name, sep, path = reference.partition("/")
    if not sep or not project_name or not path:
        raise CliError(
            f"{reference}: no such file, and not PROJECT/PIPELINE_PATH (a project's pipeline)"
        )
    project = find_project(api, project_name)
    document = find_pipeline(api, project, path)
    return {
        "project_uuid": project.uuid,
        "pipeline_uuid": document.uuid,
        "run_type": run_type,
        "uuids": step_uuids_named(definition_steps(document.definition), steps, reference),
        "env_variables": env,
        "idempotency_key": str(uuid.uuid4()),
    }


def start_and_follow(api: Api, body: dict[str, Any], *, show_logs: bool = False) -> int:
    """Start the run of ``body`` and show it live; 0 only on SUCCESS, 130 on
    Ctrl-C (the run aborted)."""
    from rich.console import Console
    from rich.live import Live

    from .sse import follow

    console = Console()
    progress = RunProgress(api.send("POST", "/api/runs", RunView, 201, json=body))
    run_uuid = progress.run.uuid
    # The run's view in the dashboard (served by the gateway at its root).
    link = f"Dashboard: {api.base_url.rstrip('/')}/runs/{run_uuid}"
    console.print(link, highlight=False, markup=False, soft_wrap=True)
    logs = LogFollower(
        console,
        lambda step: api.stream(f"/api/runs/{run_uuid}/steps/{step}/logs", params={"follow": "1"}),
    )
    live = Live(progress, console=console, refresh_per_second=4) if console.is_terminal else None
    try:
        if live is not None:
            live.start()
        else:
            console.print(f"run {run_uuid}: {progress.status}", highlight=False)
        events = follow(api.client, "/api/events", {"run_uuid": run_uuid, "replay": "true"})
        for event in events:
            line = progress.apply(event.event, event.data)
            if show_logs:
                logs.start(progress)
            if event.event == "run_status_changed" and progress.status.is_final:
                break  # its line comes last, after the steps' output
            if live is None and line is not None:
                console.print(line, highlight=False, markup=False)
    except KeyboardInterrupt:
        if live is not None:
            live.stop()
        console.print(f"aborting run {run_uuid}")
        api.client.delete(f"/api/runs/{run_uuid}")
        return 130
    finally:
        if live is not None:
            live.stop()
    if show_logs:
        logs.wait()
    for step_uuid, row in progress.steps.items():
        if row.status == "FAILURE" and not show_logs:
            console.rule(f"[red]{row.name}: {row.error or 'failed'}")
            log = api.client.get(f"/api/runs/{run_uuid}/steps/{step_uuid}/logs")
            tail = log.text.splitlines()[-30:] if log.status_code == 200 else []
            console.print("\n".join(tail) or "(no output)", markup=False, highlight=False)
    gap = "\n" if live is not None else ""
    console.print(f"{gap}run {run_uuid}: {progress.status}", highlight=False)
    return 0 if progress.status == "SUCCESS" else 1


def find_run(api: Api, reference: str) -> RunView:
    """The run ``reference`` names: its uuid or a uuid prefix (an ambiguous
    prefix is refused with the runs it names)."""
    if len(reference) == 36:
        return api.get(f"/api/runs/{reference}", RunView)
    found = [run for run in _all_runs(api) if run.uuid.startswith(reference.lower())]
    if len(found) == 1:
        return found[0]
    if not found:
        raise CliError(f"no run {reference!r} (`orchest runs` lists them)")
    listed = "\n".join(f"  {r.uuid} {r.status} {when(r.created_time)}" for r in found[:10])
    raise CliError(f"{reference!r} names {len(found)} runs; give more of the uuid:\n{listed}")


def _all_runs(api: Api) -> Iterator[RunView]:
    offset = 0
    while True:
        page = api.get("/api/runs", RunList, params={"limit": PAGE, "offset": offset})
        yield from page.runs
        offset += len(page.runs)
        if not page.runs or offset >= page.total:
            return


def pipeline_names(api: Api, runs: list[RunView]) -> dict[str, str]:
    """Pipeline uuid -> name: of the stack's projects' pipelines, else of the
    files this user ran (``pipeline_names``)."""
    from . import pipeline_names as noted

    names = noted.known()
    wanted = {run.project_uuid for run in runs if run.project_uuid}
    if not wanted or all(run.pipeline_uuid in names for run in runs):
        return names
    for project in api.get("/api/projects", ProjectList).projects:
        if project.uuid in wanted:
            listed = api.get(f"/api/projects/{project.uuid}/pipelines", PipelineList)
            names.update((p.uuid, p.name or p.path) for p in listed.pipelines if p.uuid)
    return names


RUN_COLUMNS = (
    Column("uuid", 5, no_wrap=True),
    Column("pipeline", 4),
    Column("status", 6, no_wrap=True),
    Column("steps", 3, no_wrap=True),
    Column("created", 2),
    Column("type", 1),
    Column("pipeline uuid", 0, no_wrap=True),
)


def print_runs(api: Api, page: RunList, *, wide: bool) -> None:
    names = pipeline_names(api, page.runs)
    rows = []
    for run in page.runs:
        done = sum(1 for s in run.pipeline_steps if s.status.is_final)
        rows.append(
            [
                run.uuid,
                names.get(run.pipeline_uuid, run.pipeline_uuid[:8]),
                status_text(run.status),
                f"{done}/{len(run.pipeline_steps)}",
                when(run.created_time),
                str(run.run_type),
                run.pipeline_uuid,
            ]
        )
    title = f"{len(page.runs)} of {page.total} runs"
    print_table(RUN_COLUMNS, rows, title=title, wide=wide)


def step_of(run: RunView, name: str) -> StepName:
    steps = [StepName(s.step_uuid, s.title, s.file_path) for s in run.pipeline_steps]
    return find_step(steps, name, f"run {run.uuid}")


def print_logs(api: Api, run: RunView, step: str, follow_log: bool) -> None:
    step_uuid = step_of(run, step).uuid
    params = {"follow": "true"} if follow_log else {}
    with api.stream(f"/api/runs/{run.uuid}/steps/{step_uuid}/logs", params=params) as logs:
        for text in logs.iter_text():
            sys.stdout.write(text)
            sys.stdout.flush()


def save_artifact(api: Api, run: RunView, step: str, name: str | None, out: Path | None) -> Path:
    """Write one artifact of a step's latest attempt (default: its only one,
    the executed notebook) to ``out``; the path written."""
    found = step_of(run, step)
    view = next(s for s in run.pipeline_steps if s.step_uuid == found.uuid)
    if not view.artifacts:
        raise CliError(f"step {found} of run {run.uuid} has no artifact (a notebook step has one)")
    if name is None and len(view.artifacts) > 1:
        raise CliError(f"step {found} has {len(view.artifacts)}: {', '.join(view.artifacts)}")
    chosen = name or view.artifacts[0]
    target = out or Path(f"{Path(found.file_path).stem or found.uuid}.{chosen}")
    path = f"/api/runs/{run.uuid}/steps/{found.uuid}/artifacts/{chosen}"
    with api.stream(path) as answer, target.open("wb") as file:
        for chunk in answer.iter_bytes():
            file.write(chunk)
    return target
