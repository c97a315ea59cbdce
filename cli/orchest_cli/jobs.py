"""Jobs: their parameter grids, their creation from a pipeline file, and
what ``orchest jobs`` prints of them."""

from __future__ import annotations

import itertools
import json
import math
import uuid
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from orchest_schemas.jobs import JobList, JobView
from orchest_schemas.runs import RunList

from .api import Api
from .assignments import with_parameters
from .errors import CliError
from .output import Column, print_fields, print_table, styled, when
from .pipeline_file import read_definition, read_json
from .progress import STYLE
from .project_id import project_uuid_of

JOB_STYLE = {**{str(k): v for k, v in STYLE.items()}, "DRAFT": "cyan", "PAUSED": "blue"}
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
    document = read_json(path)
    try:
        return expand_param_grid(document)
    except ParamGridError as exc:
        raise CliError("\n".join([f"{path}: not a parameter grid", *exc.problems])) from None


def job_body(
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
    """``POST /api/jobs`` for a pipeline file."""
    definition = with_parameters(read_definition(pipeline_file), pipeline_parameters or {})
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
    return body


def find_job(api: Api, reference: str) -> JobView:
    """The job ``reference`` names: its uuid, a uuid prefix or its name (any case)."""
    if len(reference) == 36:
        return api.get(f"/api/jobs/{reference}", JobView)
    jobs = api.get("/api/jobs", JobList, params={"limit": 500}).jobs
    tests: list[Callable[[JobView], bool]] = [
        lambda j: j.name.casefold() == reference.casefold(),
        lambda j: j.uuid.startswith(reference.lower()),
    ]
    for test in tests:
        found = [job for job in jobs if test(job)]
        if len(found) == 1:
            return api.get(f"/api/jobs/{found[0].uuid}", JobView)
        if found:
            listed = "\n".join(f"  {j.uuid} {j.name!r} {j.status}" for j in found[:10])
            raise CliError(f"{reference!r} names {len(found)} jobs; give its uuid:\n{listed}")
    raise CliError(f"no job {reference!r} (`orchest jobs list` lists them)")


def job_line(job: JobView) -> str:
    """One line about a job: uuid, name, status and what comes next."""
    line = f"job {job.uuid} {job.name!r}: {job.status}"
    if job.next_scheduled_time:
        line += f", next run at {when(job.next_scheduled_time)}"
    return line


def _schedule(job: JobView) -> str:
    if job.cron_schedule:
        return job.cron_schedule
    if job.scheduled_start:
        return f"at {when(job.scheduled_start)}"
    return "once"


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{n} {styled(status, JOB_STYLE)}" for status, n in counts.items()) or "-"


JOB_COLUMNS = (
    Column("uuid", 5, no_wrap=True),
    Column("name", 6),
    Column("status", 6, no_wrap=True),
    Column("schedule", 3),
    Column("next", 2),
    Column("runs", 4),
    Column("created", 1),
)


def print_jobs(page: JobList, *, wide: bool) -> None:
    from rich.markup import escape

    rows = [
        [
            job.uuid,
            escape(job.name),
            styled(job.status, JOB_STYLE),
            escape(_schedule(job)),
            when(job.next_scheduled_time, ""),
            _counts(job.run_counts),
            when(job.created_time),
        ]
        for job in page.jobs
    ]
    print_table(JOB_COLUMNS, rows, title=f"{len(page.jobs)} of {page.total} jobs", wide=wide)


def show_job(job: JobView) -> None:
    from rich.markup import escape

    spec = job.pipeline_run_spec
    run_type = str(spec.run_type) + (f" {', '.join(spec.uuids)}" if spec.uuids else "")
    retained = job.max_retained_pipeline_runs
    rows = [
        ("name", escape(job.name)),
        ("status", styled(job.status, JOB_STYLE)),
        ("pipeline", job.pipeline_uuid),
        ("project", escape(job.project_dir)),
        ("snapshot", escape(job.snapshot_dir)),
        ("run type", run_type),
        ("schedule", escape(_schedule(job))),
        ("next run", when(job.next_scheduled_time)),
        ("last run", when(job.last_scheduled_time)),
        ("executions", str(job.total_scheduled_executions)),
        ("parameter sets", str(len(job.parameters))),
        ("runs", _counts(job.run_counts)),
        ("max retained runs", "all" if retained < 0 else str(retained)),
        ("max parallel runs", str(job.max_parallel_runs or "default")),
        ("created", when(job.created_time)),
        ("finished", when(job.finished_time)),
    ]
    print_fields(f"job {job.uuid}", rows)


JOB_RUN_COLUMNS = (
    Column("uuid", 5, no_wrap=True),
    Column("execution", 2, no_wrap=True),
    Column("set", 2, no_wrap=True),
    Column("status", 6, no_wrap=True),
    Column("created", 1),
    Column("steps", 3, no_wrap=True),
    Column("parameters", 4),
)


def print_job_runs(job: JobView, page: RunList, *, wide: bool) -> None:
    from rich.markup import escape

    rows = []
    for run in page.runs:
        done = sum(1 for s in run.pipeline_steps if s.status.is_final)
        rows.append(
            [
                run.uuid,
                _index(run.job_run_index),
                _index(run.job_run_pipeline_run_index),
                styled(run.status, JOB_STYLE),
                when(run.created_time),
                f"{done}/{len(run.pipeline_steps)}",
                escape(json.dumps(run.parameters or {}, separators=(",", ":"))),
            ]
        )
    title = f"{len(page.runs)} of {page.total} runs of job {job.name!r} ({job.uuid})"
    print_table(JOB_RUN_COLUMNS, rows, title=title, wide=wide)


def _index(value: int | None) -> str:
    return "" if value is None else str(value)
