"""The pure rules of jobs (``orchest_scheduler.job_rules``): taking turns between
jobs, parameters merged into a definition and checked, what a new job or an
update may hold, the first tick, the job as the API shows it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from orchest_scheduler.dag import Problem
from orchest_scheduler.job_rules import (
    apply_update,
    first_tick,
    job_problems,
    job_view,
    merge_parameters,
    parameter_problems,
    relocate,
    schedule_preview,
    start_problem,
    take_turns,
)
from orchest_scheduler.job_store import JobRecord, QueuedRun
from orchest_schemas.commands import CreateJob, PreviewSchedule, UpdateJob
from orchest_schemas.errors import ErrorCode
from orchest_schemas.pipeline import PipelineDefinition
from orchest_schemas.status import JobStatus, RunType
from orchest_service.errors import CommandError

NOW = datetime(2026, 1, 1, 9, 7, tzinfo=UTC)

DEFINITION = PipelineDefinition.model_validate(
    {
        "uuid": "p",
        "parameters": {"alpha": 0, "beta": "b"},
        "steps": {
            "s": {"uuid": "s", "file_path": "s.py", "parameters": {"gamma": 1, "keep": True}},
            "t": {"uuid": "t", "file_path": "t.py", "incoming_connections": ["s"]},
        },
    }
)


def queued(job: str, count: int, limit: int | None = None) -> list[QueuedRun]:
    return [QueuedRun(f"{job}-{i}", job, limit, f"/ws/{job}-{i}", "/snap") for i in range(count)]


def job(**changes: Any) -> JobRecord:
    record = JobRecord(
        uuid="j",
        name="nightly",
        pipeline_uuid="p",
        project_uuid=None,
        project_dir="/project",
        snapshot_dir="/jobs/j/snapshot",
        definition=DEFINITION,
        run_type=RunType.FULL,
        run_uuids=[],
        parameters=[{}],
        env_variables={},
        status=JobStatus.PENDING,
        scheduled_start=None,
        cron_schedule=None,
        next_scheduled_time=None,
        last_scheduled_time=None,
        total_scheduled_executions=0,
        max_retained_pipeline_runs=-1,
        max_parallel_runs=None,
        created_time=NOW,
    )
    for name, value in changes.items():
        setattr(record, name, value)
    return record


# -- take_turns -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("waiting", "active", "free", "default_limit", "chosen"),
    [
        # the job with the fewest runs going first; ties: the job listed first
        (queued("a", 5) + queued("b", 5), {"a": 2}, 4, 10, ["b-0", "b-1", "a-0", "b-2"]),
        (queued("a", 2) + queued("b", 2), {}, 4, 10, ["a-0", "b-0", "a-1", "b-1"]),
        # each job within its own limit, or the default one
        (queued("a", 5, limit=2) + queued("b", 5), {}, 10, 3, ["a-0", "b-0", "a-1", "b-1", "b-2"]),
        (queued("a", 5), {"a": 3}, 5, 3, []),
        # never more than the free places
        (queued("a", 5), {}, 0, 3, []),
        (queued("a", 5), {}, 2, 8, ["a-0", "a-1"]),
        # a later job is not starved by a big one
        (queued("big", 100) + queued("small", 1), {"big": 7}, 1, 8, ["small-0"]),
        ([], {"a": 1}, 5, 3, []),
    ],
)
def test_take_turns(
    waiting: list[QueuedRun],
    active: dict[str, int],
    free: int,
    default_limit: int,
    chosen: list[str],
) -> None:
    assert [r.run_uuid for r in take_turns(waiting, active, free, default_limit)] == chosen


# -- parameters -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("parameters", "pipeline", "s", "t"),
    [
        (
            {"pipeline_parameters": {"alpha": 5}, "s": {"gamma": 2}, "t": {"new": "x"}},
            {"alpha": 5, "beta": "b"},
            {"gamma": 2, "keep": True},
            {"new": "x"},
        ),
        ({"s": {}}, {"alpha": 0, "beta": "b"}, {"gamma": 1, "keep": True}, {}),
        ({"pipeline_parameters": {"c": [1]}}, {"alpha": 0, "beta": "b", "c": [1]}, None, None),
    ],
)
def test_parameters_override_the_definitions_values_and_keep_the_rest(
    parameters: dict[str, dict[str, Any]],
    pipeline: dict[str, Any],
    s: dict[str, Any] | None,
    t: dict[str, Any] | None,
) -> None:
    merged = merge_parameters(DEFINITION, parameters)
    assert merged.parameters == pipeline
    assert merged.steps["s"].parameters == (s if s is not None else {"gamma": 1, "keep": True})
    assert merged.steps["t"].parameters == (t if t is not None else {})
    assert DEFINITION.parameters == {"alpha": 0, "beta": "b"}  # the job's own is untouched


def test_no_parameters_leave_the_definition_itself() -> None:
    assert merge_parameters(DEFINITION, {}) is DEFINITION


@pytest.mark.parametrize(
    ("parameters", "unknown"),
    [
        ([{"pipeline_parameters": {}}, {"s": {}, "t": {}}], []),
        (
            [{"pipeline_parameters": {}}, {"x": {}, "s": {}}, {"y": {}}],
            [("parameters", 1, "x"), ("parameters", 2, "y")],
        ),
        ([{"pipeline_parameter": {}}], [("parameters", 0, "pipeline_parameter")]),
    ],
)
def test_every_unknown_parameter_key_is_a_problem(
    parameters: list[dict[str, dict[str, Any]]], unknown: list[tuple[Any, ...]]
) -> None:
    problems = parameter_problems(DEFINITION, parameters, ("parameters",))
    assert [p.loc for p in problems] == unknown
    assert {p.type for p in problems} <= {"unknown_step"}


# -- what a new job may hold ------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "refused"),
    [
        (datetime(2026, 1, 1, 9, tzinfo=UTC), None),
        (datetime(2026, 1, 1, 9, tzinfo=UTC) + timedelta(days=3650), None),
        (datetime(2026, 1, 1, 9), "datetime_naive"),
        (datetime.max.replace(tzinfo=UTC), None),
    ],
)
def test_start_problem(start: datetime, refused: str | None) -> None:
    problem = start_problem(start)
    assert (problem[1] if problem else None) == refused


def test_a_start_beyond_year_9999_in_utc_is_refused() -> None:
    start = datetime.max.replace(tzinfo=timezone(-timedelta(hours=5)))
    assert start_problem(start) == (
        "scheduled_start is beyond the year 9999 in UTC",
        "datetime_range",
    )


def create(**fields: Any) -> CreateJob:
    return CreateJob.model_validate(
        {"name": "j", "pipeline_definition": DEFINITION, "project_dir": "/p", **fields}
    )


@pytest.mark.parametrize(
    ("fields", "problems"),
    [
        ({}, []),
        (
            {"schedule": {"cron_schedule": "61 * * * *"}},
            [(("schedule", "cron_schedule"), "cron_invalid")],
        ),
        (
            {"schedule": {"scheduled_start": "2026-01-01T09:00:00"}},
            [(("schedule", "scheduled_start"), "datetime_naive")],
        ),
        ({"parameters": [{"x": {}}]}, [(("parameters", 0, "x"), "unknown_step")]),
        (
            {"pipeline_run_spec": {"run_type": "selection", "uuids": ["nope"]}},
            [(("pipeline_run_spec", "uuids", 0), "unknown_step")],
        ),
    ],
)
def test_job_problems_are_located_at_the_jobs_fields(
    fields: dict[str, Any], problems: list[tuple[tuple[Any, ...], str]]
) -> None:
    found = job_problems(DEFINITION, create(**fields))
    assert [(p.loc, p.type) for p in found] == problems


@pytest.mark.parametrize(
    ("loc", "moved"),
    [
        (("run_config", "project_dir"), ("project_dir",)),
        (("uuids", 0), ("pipeline_run_spec", "uuids", 0)),
        (("run_type",), ("pipeline_run_spec", "run_type")),
        (("steps", "s", "file_path"), ("steps", "s", "file_path")),
    ],
)
def test_a_runs_problem_is_moved_to_the_jobs_place(
    loc: tuple[Any, ...], moved: tuple[Any, ...]
) -> None:
    assert relocate(Problem(loc, "m", "t"), ("pipeline_run_spec",)).loc == moved


# -- ticks and updates ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "tick"),
    [
        ({}, NOW),
        ({"scheduled_start": NOW + timedelta(days=1)}, NOW + timedelta(days=1)),
        ({"cron_schedule": "*/15 * * * *"}, datetime(2026, 1, 1, 9, 15, tzinfo=UTC)),
    ],
)
def test_first_tick(changes: dict[str, Any], tick: datetime) -> None:
    assert first_tick(job(**changes), NOW) == tick


QUARTER = datetime(2026, 1, 1, 9, 15, tzinfo=UTC)


@pytest.mark.parametrize(
    ("before", "update", "status", "next_time"),
    [
        ({"status": JobStatus.DRAFT}, {"confirm_draft": True}, JobStatus.PENDING, NOW),
        ({"status": JobStatus.STARTED}, {"paused": True}, JobStatus.PAUSED, None),
        (
            {"status": JobStatus.PAUSED, "cron_schedule": "*/15 * * * *"},
            {"paused": False},
            JobStatus.PENDING,  # never fired yet
            QUARTER,  # ticks missed while paused are skipped
        ),
        (
            {"status": JobStatus.PAUSED, "total_scheduled_executions": 2},
            {"paused": False},
            JobStatus.STARTED,
            None,
        ),
        (
            {"status": JobStatus.SUCCESS, "finished_time": NOW},
            {"cron_schedule": "*/15 * * * *"},
            JobStatus.STARTED,  # a one-off job that ran becomes recurring
            QUARTER,
        ),
        ({"status": JobStatus.FAILURE}, {"name": "renamed"}, JobStatus.FAILURE, None),
    ],
)
def test_apply_update(
    before: dict[str, Any],
    update: dict[str, Any],
    status: JobStatus,
    next_time: datetime | None,
) -> None:
    record = job(**before)
    apply_update(record, UpdateJob(job_uuid="j", **update), NOW)
    assert record.status is status
    assert record.next_scheduled_time == next_time


@pytest.mark.parametrize(
    ("before", "update", "code"),
    [
        ({"status": JobStatus.ABORTED}, {"paused": True}, ErrorCode.CONFLICT),
        ({"status": JobStatus.FAILURE}, {"cron_schedule": "* * * * *"}, ErrorCode.CONFLICT),
        ({"status": JobStatus.DRAFT}, {"paused": True}, ErrorCode.CONFLICT),
        ({}, {"cron_schedule": "@hourly"}, ErrorCode.INVALID),
        ({}, {"parameters": [{"nope": {}}]}, ErrorCode.INVALID),
    ],
)
def test_apply_update_refuses(
    before: dict[str, Any], update: dict[str, Any], code: ErrorCode
) -> None:
    with pytest.raises(CommandError) as refused:
        apply_update(job(**before), UpdateJob(job_uuid="j", **update), NOW)
    assert refused.value.code is code


@pytest.mark.parametrize("with_definition", [False, True])
def test_job_view(with_definition: bool) -> None:
    view = job_view(job(run_counts={"SUCCESS": 2}), with_definition=with_definition)
    assert (view.uuid, view.status, view.run_counts) == ("j", JobStatus.PENDING, {"SUCCESS": 2})
    assert (view.pipeline_definition is not None) is with_definition


def test_a_schedule_preview_is_the_ticks_a_job_made_now_would_fire() -> None:
    preview = schedule_preview(PreviewSchedule(cron_schedule="0 3 * * *", count=2), NOW)
    assert preview.after == NOW and preview.time_zone == "UTC"
    assert preview.next_times[0] == first_tick(job(cron_schedule="0 3 * * *"), NOW)
    assert preview.next_times[1] - preview.next_times[0] == timedelta(days=1)


def test_a_bad_schedule_is_refused_as_a_jobs_would_be() -> None:
    with pytest.raises(CommandError) as refused:
        schedule_preview(PreviewSchedule(cron_schedule="61 * * * *"), NOW)
    assert refused.value.code is ErrorCode.INVALID
    assert [(d.loc, d.type) for d in refused.value.errors] == [(["cron_schedule"], "cron_invalid")]
