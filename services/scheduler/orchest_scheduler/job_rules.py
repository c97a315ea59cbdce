"""The rules of jobs, as plain functions over plain data (no I/O).

What a new job or an update may hold (``job_problems``, ``apply_update``), the
first tick of a job, a job's parameters merged into its definition, which
queued runs the admission lets start (``take_turns``) and the job as the API
shows it. ``jobs.py`` and its parts call them; ``tests/unit/test_job_rules.py``
tests them.
"""

from __future__ import annotations

from datetime import UTC, datetime

from orchest_schemas.commands import (
    PIPELINE_PARAMETERS,
    CreateJob,
    ParameterSet,
    PipelineRunSpec,
    PreviewSchedule,
    UpdateJob,
)
from orchest_schemas.errors import ErrorCode
from orchest_schemas.jobs import JobView, SchedulePreview
from orchest_schemas.pipeline import PipelineDefinition
from orchest_schemas.status import JobStatus
from orchest_service.errors import CommandError

from .dag import Problem, select_steps, validate_definition
from .job_store import ENDED_JOB_STATES, LIVE_JOB_STATES, JobRecord, QueuedRun
from .schedule import cron_problem, next_tick, next_ticks


def job_problems(definition: PipelineDefinition, command: CreateJob) -> list[Problem]:
    """What is wrong with a new job: its definition, selection, parameter sets
    and schedule (located at the job's own fields)."""
    spec = command.pipeline_run_spec
    problems = validate_definition(definition)
    if not problems:
        _, problems = select_steps(definition, spec.run_type, spec.uuids)
        problems = [relocate(p, ("pipeline_run_spec",)) for p in problems]
    problems += parameter_problems(definition, command.parameters, ("parameters",))
    schedule = command.schedule
    if schedule.cron_schedule is not None:
        why = cron_problem(schedule.cron_schedule)
        if why:
            problems.append(Problem(("schedule", "cron_schedule"), why, "cron_invalid"))
    if schedule.scheduled_start is not None:
        refused = start_problem(schedule.scheduled_start)
        if refused:
            problems.append(Problem(("schedule", "scheduled_start"), *refused))
    return problems


def schedule_preview(command: PreviewSchedule, now: datetime) -> SchedulePreview:
    """The next firing times of a cron schedule after ``now``, by the rules
    jobs fire by; a bad expression is refused as a job's would be."""
    why = cron_problem(command.cron_schedule)
    raise_if([Problem(("cron_schedule",), why, "cron_invalid")] if why else [], "invalid schedule")
    return SchedulePreview(
        cron_schedule=command.cron_schedule,
        next_times=next_ticks(command.cron_schedule, now, command.count),
        after=now,
    )


def first_tick(job: JobRecord, now: datetime) -> datetime:
    """When a job that is confirmed now fires first."""
    if job.cron_schedule:
        return next_tick(job.cron_schedule, now)
    if job.scheduled_start is not None:
        return job.scheduled_start
    return now


_COPIED_AS_GIVEN = (
    "name",
    "parameters",
    "env_variables",
    "max_retained_pipeline_runs",
    "max_parallel_runs",
)
"""The fields of an update that replace the job's own, when given."""


def apply_update(job: JobRecord, command: UpdateJob, now: datetime) -> None:
    """Change ``job`` as the update says, or raise the ``CommandError`` that
    refuses it (nothing changed then)."""
    problems: list[Problem] = []
    if command.parameters is not None:
        problems += parameter_problems(job.definition, command.parameters, ("parameters",))
    if command.cron_schedule is not None:
        why = cron_problem(command.cron_schedule)
        if why:
            problems.append(Problem(("cron_schedule",), why, "cron_invalid"))
    raise_if(problems, "invalid job update")
    changes_schedule = (
        command.cron_schedule is not None
        or command.parameters is not None
        or command.confirm_draft
        or command.paused is not None
    )
    if changes_schedule and job.status in ENDED_JOB_STATES - {JobStatus.SUCCESS}:
        raise CommandError(
            ErrorCode.CONFLICT, f"job {job.uuid} is {job.status.value}: it cannot change"
        )
    for field in _COPIED_AS_GIVEN:
        value = getattr(command, field)
        if value is not None:
            setattr(job, field, value)
    if command.cron_schedule is not None:
        job.cron_schedule = command.cron_schedule
        job.scheduled_start = None
        if job.status is JobStatus.SUCCESS:  # a one-off job that ran becomes recurring
            job.status = JobStatus.STARTED
            job.finished_time = None
        if job.status in LIVE_JOB_STATES:
            job.next_scheduled_time = next_tick(job.cron_schedule, now)
    if command.confirm_draft and job.status is JobStatus.DRAFT:
        job.status = JobStatus.PENDING
        job.next_scheduled_time = first_tick(job, now)
    if command.paused is True and job.status in LIVE_JOB_STATES:
        job.status = JobStatus.PAUSED
    elif command.paused is False and job.status is JobStatus.PAUSED:
        job.status = JobStatus.STARTED if job.total_scheduled_executions else JobStatus.PENDING
        if job.cron_schedule:  # ticks missed while paused are skipped
            job.next_scheduled_time = next_tick(job.cron_schedule, now)
    elif command.paused is not None and job.status is JobStatus.DRAFT:
        raise CommandError(ErrorCode.CONFLICT, f"job {job.uuid} is a draft: confirm it first")


def take_turns(
    queued: list[QueuedRun], active: dict[str, int], free: int, default_limit: int
) -> list[QueuedRun]:
    """Which queued runs start: up to ``free``, one at a time to the job with the
    fewest runs going (ties: the job listed first), each job within its limit."""
    waiting: dict[str, list[QueuedRun]] = {}
    for run in queued:
        waiting.setdefault(run.job_uuid, []).append(run)
    going = {job: active.get(job, 0) for job in waiting}
    chosen: list[QueuedRun] = []
    while len(chosen) < free:
        candidates = [
            job
            for job, runs in waiting.items()
            if runs and going[job] < (runs[0].job_limit or default_limit)
        ]
        if not candidates:
            break
        job = min(candidates, key=lambda j: going[j])
        chosen.append(waiting[job].pop(0))
        going[job] += 1
    return chosen


def start_problem(start: datetime) -> tuple[str, str] | None:
    """Why a ``scheduled_start`` cannot be used (message, type), or None."""
    if start.tzinfo is None:
        return "scheduled_start needs a time zone (e.g. 2026-01-01T09:00:00Z)", "datetime_naive"
    try:
        start.astimezone(UTC)
    except OverflowError:
        return "scheduled_start is beyond the year 9999 in UTC", "datetime_range"
    return None


def parameter_problems(
    definition: PipelineDefinition, parameters: list[ParameterSet], loc: tuple[str, ...]
) -> list[Problem]:
    """Every key of a parameter set must be ``pipeline_parameters`` or a step."""
    problems = []
    for index, parameter_set in enumerate(parameters):
        for key in parameter_set:
            if key != PIPELINE_PARAMETERS and key not in definition.steps:
                problems.append(
                    Problem(
                        (*loc, index, key),
                        f"{key!r} is neither {PIPELINE_PARAMETERS!r} nor a step of the pipeline",
                        "unknown_step",
                    )
                )
    return problems


def merge_parameters(
    definition: PipelineDefinition, parameters: ParameterSet
) -> PipelineDefinition:
    """A copy of the definition with the set's values over its own (Orchest's
    job parameters: steps read them from the definition as ever)."""
    if not parameters:
        return definition
    data = definition.model_dump(mode="json", exclude_unset=True)
    pipeline_values = parameters.get(PIPELINE_PARAMETERS)
    if pipeline_values:
        data["parameters"] = {**data.get("parameters", {}), **pipeline_values}
    for key, values in parameters.items():
        if key != PIPELINE_PARAMETERS and values:
            step = data["steps"][key]
            step["parameters"] = {**step.get("parameters", {}), **values}
    return PipelineDefinition.model_validate(data)


def job_view(job: JobRecord, *, with_definition: bool = False) -> JobView:
    return JobView(
        uuid=job.uuid,
        name=job.name,
        pipeline_uuid=job.pipeline_uuid,
        project_uuid=job.project_uuid,
        project_dir=job.project_dir,
        snapshot_dir=job.snapshot_dir,
        pipeline_run_spec=PipelineRunSpec(run_type=job.run_type, uuids=job.run_uuids),
        parameters=job.parameters,
        env_variables=job.env_variables,
        status=job.status,
        scheduled_start=job.scheduled_start,
        cron_schedule=job.cron_schedule,
        next_scheduled_time=job.next_scheduled_time,
        last_scheduled_time=job.last_scheduled_time,
        total_scheduled_executions=job.total_scheduled_executions,
        max_retained_pipeline_runs=job.max_retained_pipeline_runs,
        max_parallel_runs=job.max_parallel_runs,
        created_time=job.created_time,
        finished_time=job.finished_time,
        run_counts=job.run_counts,
        pipeline_definition=(
            job.definition.model_dump(mode="json", exclude_unset=True) if with_definition else None
        ),
    )


def relocate(problem: Problem, prefix: tuple[str, ...]) -> Problem:
    """A run's problem at a job's place (``run_config.project_dir`` is the job's
    ``project_dir``; a run's ``uuids`` are the job's ``pipeline_run_spec.uuids``)."""
    loc = problem.loc
    if loc[:2] == ("run_config", "project_dir"):
        loc = ("project_dir",)
    elif loc and loc[0] in ("uuids", "run_type"):
        loc = (*prefix, *loc)
    return Problem(loc, problem.msg, problem.type)


def raise_if(problems: list[Problem], what: str) -> None:
    """Refuse a command with its problems, if any."""
    if problems:
        raise CommandError(
            ErrorCode.INVALID,
            f"{what}: {len(problems)} problem(s)",
            [p.to_detail() for p in problems],
        )
