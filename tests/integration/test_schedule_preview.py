"""``GET /api/schedules/preview``: the next firing times of a cron schedule,
answered by the scheduler with the rules and the clock it fires jobs by."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from runs_harness import Project, Stack, whole_stack

from orchest_scheduler.clock import ManualClock

T0 = datetime(2026, 1, 1, 9, 10, tzinfo=UTC)


@pytest.fixture
async def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture
async def stack(service_settings: Callable[..., Any], clock: ManualClock) -> AsyncIterator[Stack]:
    async with whole_stack(service_settings, clock=clock, runner=False) as s:
        yield s


def problems(response: Any) -> list[tuple[list[Any], str]]:
    return [(e["loc"], e["type"]) for e in response.json()["errors"]]


async def test_the_next_firing_times_follow_the_schedulers_clock(
    stack: Stack, clock: ManualClock, tmp_path: Path
) -> None:
    response = await stack.http.get(
        "/api/schedules/preview", params={"cron": "*/15 * * * *", "count": 3}
    )
    assert response.status_code == 200, response.text
    preview = response.json()
    assert preview["cron_schedule"] == "*/15 * * * *"
    assert preview["time_zone"] == "UTC"
    assert preview["after"] == "2026-01-01T09:10:00Z"
    assert preview["next_times"] == [
        "2026-01-01T09:15:00Z",
        "2026-01-01T09:30:00Z",
        "2026-01-01T09:45:00Z",
    ]

    await clock.advance(timedelta(days=1))
    daily = (await stack.http.get("/api/schedules/preview", params={"cron": "0 3 * * *"})).json()
    assert len(daily["next_times"]) == 5  # the default count
    assert daily["next_times"][:2] == ["2026-01-03T03:00:00Z", "2026-01-04T03:00:00Z"]

    # A cron job made now fires first at the preview's first time.
    project = Project(tmp_path)
    project.step("a", "a.sh", "echo a\n")
    body = project.job_body("nightly", schedule={"cron_schedule": "0 3 * * *"})
    created = await stack.http.post("/api/jobs", json=body)
    assert created.status_code == 201, created.text
    assert created.json()["next_scheduled_time"] == daily["next_times"][0]


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"cron": "61 * * * *"}, [(["query", "cron"], "cron_invalid")]),
        ({"cron": "* * * *"}, [(["query", "cron"], "cron_invalid")]),
        ({"cron": "0 0 31 2 *"}, [(["query", "cron"], "cron_invalid")]),
        ({}, [(["query", "cron"], "string_too_short")]),
        (
            {"cron": "", "count": "0"},
            [(["query", "cron"], "string_too_short"), (["query", "count"], "greater_than_equal")],
        ),
        ({"cron": "* * * * *", "count": "many"}, [(["query", "count"], "int_parsing")]),
        ({"cron": "* * * * *", "count": "51"}, [(["query", "count"], "less_than_equal")]),
    ],
)
async def test_a_bad_query_is_422_listing_every_problem(
    stack: Stack, params: dict[str, str], expected: list[tuple[list[Any], str]]
) -> None:
    response = await stack.http.get("/api/schedules/preview", params=params)
    assert response.status_code == 422, response.text
    assert set(response.json()) == {"message", "errors"}
    assert problems(response) == expected


async def test_the_preview_is_in_the_openapi_document(stack: Stack) -> None:
    doc = (await stack.http.get("/api/openapi.json")).json()
    op = doc["paths"]["/api/schedules/preview"]["get"]
    assert {p["name"] for p in op["parameters"]} == {"cron", "count"}
    assert op["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/SchedulePreview"
    }
    assert "jobs" in op["tags"]
