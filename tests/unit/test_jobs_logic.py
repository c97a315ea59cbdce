"""The pure parts of jobs: taking turns between jobs, parameters merged into
a definition, parameter keys checked, cron schedules, the manual clock."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from orchest_scheduler.clock import ManualClock
from orchest_scheduler.job_store import QueuedRun
from orchest_scheduler.jobs import merge_parameters, parameter_problems, take_turns
from orchest_scheduler.schedule import cron_problem, next_tick
from orchest_schemas.pipeline import PipelineDefinition


def queued(job: str, count: int, limit: int | None = None) -> list[QueuedRun]:
    return [QueuedRun(f"{job}-{i}", job, limit, f"/ws/{job}-{i}", "/snap") for i in range(count)]


def test_turns_go_to_the_job_with_the_fewest_runs_going() -> None:
    chosen = take_turns(queued("a", 5) + queued("b", 5), {"a": 2}, free=4, default_limit=10)
    assert [r.run_uuid for r in chosen] == ["b-0", "b-1", "a-0", "b-2"]


def test_a_job_never_exceeds_its_own_limit_nor_the_free_places() -> None:
    chosen = take_turns(queued("a", 5, limit=2) + queued("b", 5), {}, free=10, default_limit=3)
    assert [r.run_uuid for r in chosen if r.job_uuid == "a"] == ["a-0", "a-1"]
    assert [r.run_uuid for r in chosen if r.job_uuid == "b"] == ["b-0", "b-1", "b-2"]
    assert take_turns(queued("a", 5), {}, free=0, default_limit=3) == []
    assert take_turns(queued("a", 5), {"a": 3}, free=5, default_limit=3) == []


def test_a_later_job_is_not_starved_by_a_big_one() -> None:
    going = {"big": 7}
    chosen = take_turns(queued("big", 100) + queued("small", 1), going, free=1, default_limit=8)
    assert [r.run_uuid for r in chosen] == ["small-0"]


DEFINITION = PipelineDefinition.model_validate(
    {
        "uuid": "p",
        "parameters": {"alpha": 0, "beta": "b"},
        "steps": {
            "s": {"uuid": "s", "file_path": "s.py", "parameters": {"gamma": 1, "keep": True}},
            "t": {"uuid": "t", "file_path": "t.py"},
        },
    }
)


def test_parameters_override_the_definitions_values_and_keep_the_rest() -> None:
    merged = merge_parameters(
        DEFINITION, {"pipeline_parameters": {"alpha": 5}, "s": {"gamma": 2}, "t": {"new": "x"}}
    )
    assert merged.parameters == {"alpha": 5, "beta": "b"}
    assert merged.steps["s"].parameters == {"gamma": 2, "keep": True}
    assert merged.steps["t"].parameters == {"new": "x"}
    assert DEFINITION.parameters == {"alpha": 0, "beta": "b"}  # the job's own is untouched
    assert merge_parameters(DEFINITION, {}) is DEFINITION


def test_every_unknown_parameter_key_is_a_problem() -> None:
    problems = parameter_problems(
        DEFINITION,
        [{"pipeline_parameters": {}}, {"x": {}, "s": {}}, {"y": {}}],
        ("parameters",),
    )
    assert [(p.loc, p.type) for p in problems] == [
        (("parameters", 1, "x"), "unknown_step"),
        (("parameters", 2, "y"), "unknown_step"),
    ]


@pytest.mark.parametrize(
    ("expression", "valid"),
    [
        ("* * * * *", True),
        ("*/15 9-17 * * 1-5", True),
        ("0 0 1 1 *", True),
        ("61 * * * *", False),
        ("* * * *", False),
        ("* * * * * *", False),
        ("@hourly", False),
        ("every day", False),
        ("0 0 31 2 *", False),  # February 31st: it would never fire
    ],
)
def test_cron_expressions(expression: str, valid: bool) -> None:
    assert (cron_problem(expression) is None) is valid


def test_the_next_tick_is_strictly_after() -> None:
    at = datetime(2026, 1, 1, 9, 15, tzinfo=UTC)
    assert next_tick("*/15 * * * *", at) == datetime(2026, 1, 1, 9, 30, tzinfo=UTC)
    assert next_tick("0 0 * * *", at) == datetime(2026, 1, 2, tzinfo=UTC)


async def test_the_manual_clock_wakes_waiters_when_it_reaches_their_time() -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    clock = ManualClock(start)
    wake = asyncio.Event()
    waiter = asyncio.create_task(clock.wait_until(start + timedelta(minutes=1), wake))
    await clock.advance(timedelta(seconds=30))
    for _ in range(5):  # let the waiter see the move
        await asyncio.sleep(0)
    assert not waiter.done()  # not yet its time
    await clock.advance(timedelta(seconds=30))
    await asyncio.wait_for(waiter, 1)
    other = asyncio.create_task(clock.wait_until(start + timedelta(hours=1), wake))
    wake.set()
    await asyncio.wait_for(other, 1)
