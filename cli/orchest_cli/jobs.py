"""``orchest jobs``: create, list, show, pause, resume, trigger and cancel jobs."""

from __future__ import annotations

import itertools
import json
import math
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from .assignments import with_parameters
from .auth import auth_headers
from .project_id import project_uuid_of
from .runs import FINAL, STYLE, CliError, api_error

JOB_STYLE = {**STYLE, "DRAFT": "cyan", "PAUSED": "blue"}
MAX_PARAMETER_SETS = 10_000
"""The API's limit on a job's parameter sets (``CreateJob.parameters``)."""

ParameterSet = dict[str, dict[str, Any]]


class ParamGridError(ValueError):
    """A parameter grid that cannot be expanded; ``problems`` names each fault."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def expand_param_grid(grid: Any, limit: int = MAX_PARAMETER_SETS) -> list[ParameterSet]:
    """The parameter sets of a ``--param-grid`` document.

    A list is a list of parameter sets, used as it is. An object maps
    ``pipeline_parameters`` or a step uuid to ``{name: [values...]}``; it
    gives every combination of the values (keys and names in the document's
    order, values in list order, the last name varying fastest).
    """
    if isinstance(grid, list):
        problems = [
            f"[{index}]: a parameter set must be an object of objects"
            for index, item in enumerate(grid)
            if not isinstance(item, dict) or not all(isinstance(v, dict) for v in item.values())
        ]
        if problems:
            raise ParamGridError(problems)
        return [dict(item) for item in grid]
    if not isinstance(grid, dict):
        raise ParamGridError(["must be a list of parameter sets or an object of value lists"])
    axes: list[tuple[str, str, list[Any]]] = []
    problems = []
    for key, names in grid.items():
        if not isinstance(names, dict):
            problems.append(f"{key}: must be an object of value lists")
            continue
        for name, values in names.items():
            if not isinstance(values, list) or not values:
                problems.append(f"{key}.{name}: must be a non-empty list of values")
            else:
                axes.append((key, name, values))
    if problems:
        raise ParamGridError(problems)
    count = math.prod(len(values) for _, _, values in axes)
    if count > limit:
        raise ParamGridError([f"{count} combinations, more than the {limit} a job may have"])
    sets: list[ParameterSet] = []
    for combination in itertools.product(*(values for _, _, values in axes)):
        one: ParameterSet = {key: {} for key in grid}
        for (key, name, _), value in zip(axes, combination, strict=True):
            one[key][name] = value
        sets.append(one)
    return sets


def load_param_grid(path: Path) -> list[ParameterSet]:
    try:
        document = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise CliError(f"{path}: {exc}") from None
    try:
        return expand_param_grid(document)
    except ParamGridError as exc:
        raise CliError("\n".join([f"{path}: not a parameter grid", *exc.problems])) from None


def call_api(base_url: str, method: str, path: str, expected: int, **kwargs: Any) -> dict[str, Any]:
    """One API request; its JSON answer, or the API's error as a ``CliError``."""
    try:
        response = httpx.request(
            method, f"{base_url}{path}", headers=auth_headers(), timeout=30.0, **kwargs
        )
    except httpx.HTTPError as exc:
        raise CliError(f"no answer from {base_url}: {exc}") from None
    if response.status_code != expected:
        raise api_error(response)
    answer: dict[str, Any] = response.json()
    return answer


def create_job(
    base_url: str,
    pipeline_file: Path,
    *,
    name: str,
    project_dir: Path | None,
    parameters: list[ParameterSet] | None,
    cron: str | None,
    at: datetime | None,
    max_retained: int | None,
    max_parallel: int | None,
    draft: bool,
    env: dict[str, str] | None = None,
    pipeline_parameters: dict[str, Any] | None = None,
) -> dict[str, Any]:
    try:
        definition = with_parameters(
            json.loads(pipeline_file.read_text()), pipeline_parameters or {}
        )
    except (OSError, ValueError) as exc:
        raise CliError(f"{pipeline_file}: {exc}") from None
    project = (project_dir or pipeline_file.parent).resolve()
    body: dict[str, Any] = {
        "name": name,
        "pipeline_definition": definition,
        "project_dir": str(project),
        "project_uuid": project_uuid_of(project),
        "env_variables": env or {},
        "draft": draft,
        "idempotency_key": str(uuid.uuid4()),
    }
    if parameters is not None:
        body["parameters"] = parameters
    if cron is not None:
        body["schedule"] = {"cron_schedule": cron}
    elif at is not None:
        body["schedule"] = {"scheduled_start": at.isoformat()}
    if max_retained is not None:
        body["max_retained_pipeline_runs"] = max_retained
    if max_parallel is not None:
        body["max_parallel_runs"] = max_parallel
    return call_api(base_url, "POST", "/api/jobs", 201, json=body)


def update_job(base_url: str, job_uuid: str, changes: dict[str, Any]) -> dict[str, Any]:
    return call_api(base_url, "PUT", f"/api/jobs/{job_uuid}", 200, json=changes)


def trigger_job(base_url: str, job_uuid: str) -> dict[str, Any]:
    return call_api(base_url, "POST", f"/api/jobs/{job_uuid}/trigger", 200)


def cancel_job(base_url: str, job_uuid: str) -> dict[str, Any]:
    return call_api(base_url, "DELETE", f"/api/jobs/{job_uuid}", 200)


def abort_job_run(base_url: str, job_uuid: str, run_uuid: str) -> dict[str, Any]:
    return call_api(base_url, "DELETE", f"/api/jobs/{job_uuid}/runs/{run_uuid}", 200)


def job_line(job: dict[str, Any]) -> str:
    """One line about a job: uuid, name, status and what comes next."""
    line = f"job {job['uuid']} {job['name']!r}: {job['status']}"
    if job.get("next_scheduled_time"):
        line += f", next run at {job['next_scheduled_time'][:19]}"
    return line


def _styled(status: str) -> str:
    style = JOB_STYLE.get(status, "")
    return f"[{style}]{status}[/{style}]" if style else status


def _schedule(job: dict[str, Any]) -> str:
    if job.get("cron_schedule"):
        return str(job["cron_schedule"])
    if job.get("scheduled_start"):
        return f"at {job['scheduled_start'][:19]}"
    return "once"


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{n} {_styled(status)}" for status, n in counts.items()) or "-"


def print_jobs(base_url: str, params: dict[str, str]) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    page = call_api(base_url, "GET", "/api/jobs", 200, params=params)
    table = Table(title=f"{len(page['jobs'])} of {page['total']} jobs")
    table.add_column("uuid", min_width=36, no_wrap=True)
    for column in ("name", "status", "schedule", "next", "runs", "created"):
        table.add_column(column)
    for job in page["jobs"]:
        table.add_row(
            job["uuid"],
            escape(job["name"]),
            _styled(job["status"]),
            escape(_schedule(job)),
            (job.get("next_scheduled_time") or "")[:19],
            _counts(job["run_counts"]),
            job["created_time"][:19],
        )
    Console().print(table)


def show_job(base_url: str, job_uuid: str) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    job = call_api(base_url, "GET", f"/api/jobs/{job_uuid}", 200)
    spec = job["pipeline_run_spec"]
    run_type = spec["run_type"] + (f" {', '.join(spec['uuids'])}" if spec["uuids"] else "")
    rows = [
        ("name", escape(job["name"])),
        ("status", _styled(job["status"])),
        ("pipeline", job["pipeline_uuid"]),
        ("project", escape(job["project_dir"])),
        ("snapshot", escape(job["snapshot_dir"])),
        ("run type", run_type),
        ("schedule", escape(_schedule(job))),
        ("next run", (job.get("next_scheduled_time") or "-")[:19]),
        ("last run", (job.get("last_scheduled_time") or "-")[:19]),
        ("executions", str(job["total_scheduled_executions"])),
        ("parameter sets", str(len(job["parameters"]))),
        ("runs", _counts(job["run_counts"])),
        ("max retained runs", _limit(job["max_retained_pipeline_runs"])),
        ("max parallel runs", str(job.get("max_parallel_runs") or "default")),
        ("created", job["created_time"][:19]),
        ("finished", (job.get("finished_time") or "-")[:19]),
    ]
    table = Table(title=f"job {job['uuid']}", show_header=False)
    table.add_column("field", style="bold")
    table.add_column("value")
    for field, value in rows:
        table.add_row(field, value)
    Console().print(table)


def _limit(value: int) -> str:
    return "all" if value < 0 else str(value)


def print_job_runs(base_url: str, job_uuid: str, params: dict[str, str]) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    page = call_api(base_url, "GET", f"/api/jobs/{job_uuid}/runs", 200, params=params)
    table = Table(title=f"{len(page['runs'])} of {page['total']} runs of job {job_uuid}")
    table.add_column("uuid", min_width=36, no_wrap=True)
    for column in ("execution", "set", "status", "created", "steps", "parameters"):
        table.add_column(column)
    for run in page["runs"]:
        done = sum(1 for s in run["pipeline_steps"] if s["status"] in FINAL)
        parameters = json.dumps(run.get("parameters") or {}, separators=(",", ":"))
        table.add_row(
            run["uuid"],
            _index(run.get("job_run_index")),
            _index(run.get("job_run_pipeline_run_index")),
            _styled(run["status"]),
            run["created_time"][:19],
            f"{done}/{len(run['pipeline_steps'])}",
            escape(parameters if len(parameters) <= 60 else parameters[:57] + "..."),
        )
    Console().print(table)


def _index(value: int | None) -> str:
    return "" if value is None else str(value)
