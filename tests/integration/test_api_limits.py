"""Bad input at the HTTP API: limits, and the inputs JSON allows but the API
cannot take (the fuzz from the OpenAPI document is in ``test_api_fuzz_*.py``,
see ``fuzz_kit``); and the fuzz's parts, which together hold every operation.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import asyncpg
import pytest
from fuzz_kit import FIXED, PARTS, REST, part_of
from runs_harness import Project, Stack, whole_stack
from test_auth import gateway_overrides

from orchest_gateway.app import OPERATIONS
from orchest_gateway.settings import GatewaySettings


def test_the_fuzz_parts_hold_every_operation() -> None:
    """Each operation in one part (a module of its own), no part empty, and
    the operations fuzzed with a real run's or job's path parameters exist."""
    parts = {op.operation_id: part_of(op.tags) for op in OPERATIONS}
    assert len(parts) == len(OPERATIONS) >= 52
    assert set(parts.values()) == {*PARTS, REST}
    assert {parts[op] for op in FIXED} == {"runs", "jobs"}
    assert (part_of(["sessions"]), part_of(["environments"]), part_of([])) == (
        "projects",
        REST,
        REST,
    )


# -- limits and hostile input --------------------------------------------------------


@pytest.fixture
def project(project: Project) -> Project:
    """The conftest's project with its steps."""
    project.step("a", "a.sh", "echo a\n")
    return project


LIMITS = {"max_steps": 20, "max_parameters_bytes": 1024, "max_json_depth": 16}


@pytest.fixture(scope="module")
async def limited(module_settings: Callable[..., Any]) -> AsyncIterator[Stack]:
    """A stack whose gateway has small limits (and no tokens), shared by the
    module's tests: each sends its own project (``project``: a new pipeline
    uuid) and its own ids, and ``refused`` compares counts before and after."""
    async with whole_stack(gateway_overrides(module_settings, **LIMITS), sessions={}) as s:
        yield s


async def counts(stack: Stack) -> tuple[int, int]:
    """(runs, jobs) in the scheduler's tables (of every test on the stack:
    compared before and after one request, never read as totals)."""
    conn = await asyncpg.connect(stack.database_url)
    try:
        runs = await conn.fetchval("SELECT count(*) FROM scheduler.runs")
        jobs = await conn.fetchval("SELECT count(*) FROM scheduler.jobs")
        return int(runs), int(jobs)
    finally:
        await conn.close()


async def refused(
    stack: Stack, method: str, path: str, body: Any, status: int = 422
) -> list[dict[str, Any]]:
    """Send ``body`` (bytes as they are, else as JSON); it must be refused
    with ``status`` and the API's error body, nothing written. Its problems."""
    before = await counts(stack)
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    response = await stack.http.request(
        method, path, content=content, headers={"content-type": "application/json"}
    )
    assert response.status_code == status, response.text
    answer = response.json()
    assert set(answer) == {"message", "errors"} and answer["message"]
    assert await counts(stack) == before
    problems: list[dict[str, Any]] = answer["errors"]
    return problems


def kinds(problems: list[dict[str, Any]]) -> list[tuple[list[Any], str]]:
    return [(p["loc"], p["type"]) for p in problems]


def job_body(project: Project, **extra: Any) -> dict[str, Any]:
    return {
        "name": "job",
        "pipeline_definition": project.definition(),
        "project_dir": str(project.root),
        "draft": True,
        **extra,
    }


def test_the_limits_default_to_the_documented_values() -> None:
    settings = GatewaySettings()
    assert settings.max_steps == 5000
    assert settings.max_parameters_bytes == 64 * 1024
    assert settings.max_json_depth == 64
    assert settings.max_body_bytes == 10 * 1024 * 1024


async def test_limits_are_refused_listing_every_problem(limited: Stack, project: Project) -> None:
    big = {"blob": "x" * 1100}
    for n in range(21):
        project.step(f"s{n}", "a.sh", parameters=big if n == 3 else {})
    project.parameters = big
    problems = await refused(limited, "POST", "/api/runs", project.body())
    assert kinds(problems) == [
        (["pipeline_definition", "parameters"], "parameters_too_large"),
        (["pipeline_definition", "steps"], "too_many_steps"),
        (["pipeline_definition", "steps", "s3", "parameters"], "parameters_too_large"),
    ]
    assert "22 steps" in problems[1]["msg"] and "at most 20" in problems[1]["msg"]
    assert "at most 1024" in problems[0]["msg"]

    sets = [{}, {"pipeline_parameters": big}, {"a": big}]
    problems = await refused(limited, "POST", "/api/jobs", job_body(project, parameters=sets))
    assert (["parameters", 1], "parameters_too_large") in kinds(problems)
    assert (["parameters", 2], "parameters_too_large") in kinds(problems)
    assert (["pipeline_definition", "steps"], "too_many_steps") in kinds(problems)

    job = await limited.http.post("/api/jobs", json=job_body(Project(project.root, uuid="p")))
    assert job.status_code == 422  # no step: the scheduler's refusal, past the gateway
    problems = await refused(limited, "PUT", f"/api/jobs/{uuid.uuid4()}", {"parameters": sets})
    assert kinds(problems) == [
        (["parameters", 1], "parameters_too_large"),
        (["parameters", 2], "parameters_too_large"),
    ]


async def test_at_the_limits_the_gateway_lets_requests_through(
    limited: Stack, project: Project
) -> None:
    for n in range(19):
        project.step(f"s{n}", "a.sh")
    project.parameters = {"blob": "x" * 1000}
    nested: Any = "leaf"
    for _ in range(11):  # 16 containers deep, all told
        nested = [nested]
    project.steps["a"]["parameters"] = {"deep": nested}
    run = await limited.run_to_end(project.body())
    assert run["status"] == "SUCCESS", run


async def test_depth_and_size_of_the_body(limited: Stack, project: Project) -> None:
    nested: Any = 1
    for _ in range(200):
        nested = {"k": nested}
    problems = await refused(limited, "POST", "/api/runs", {**project.body(), "x": nested})
    assert [p["type"] for p in problems] == ["too_deep"]
    assert problems[0]["loc"] == ["x", *(["k"] * 15)]
    # Deeper than the parser goes: not JSON it can read.
    problems = await refused(limited, "POST", "/api/runs", b"[" * 100_000, 400)
    assert [p["type"] for p in problems] == ["json_invalid"]

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(12):
            yield b" " * (1024 * 1024)

    # No Content-Length (chunked): counted as it arrives.
    response = await limited.http.post("/api/runs", content=chunks())
    assert response.status_code == 413, response.text
    assert "10485760 bytes" in response.json()["message"]


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity", "1e400", "-2E+999"])
async def test_numbers_json_does_not_have_are_400(limited: Stack, constant: str) -> None:
    body = '{"pipeline_definition": {"uuid": "p", "parameters": {"x": CONSTANT}}}'
    body = body.replace("CONSTANT", constant)
    problems = await refused(limited, "POST", "/api/runs", body.encode(), 400)
    assert kinds(problems) == [([], "json_invalid")]
    assert constant in problems[0]["msg"]


@pytest.mark.parametrize(
    "body",
    [
        '{"run_type": "full"}'.encode("utf-16"),
        '{"run_type": "full"}'.encode("utf-32-le"),
        b'{"run_type": "\xed\xa0\x80"}',  # a surrogate, encoded as if it were a character
        b'{"run_type": "\xff"}',
        b'\xef\xbb\xbf{"run_type": "full"}',  # a byte order mark
    ],
)
async def test_bodies_in_anything_but_utf8_are_400(limited: Stack, body: bytes) -> None:
    problems = await refused(limited, "POST", "/api/runs", body, 400)
    assert kinds(problems) == [([], "json_invalid")]


async def test_strings_storage_cannot_hold_are_422(limited: Stack, project: Project) -> None:
    """U+0000 (Postgres text and jsonb refuse it) and half a surrogate pair
    (no UTF-8 for it), in values and in keys, wherever they are."""
    body = project.body()
    body["pipeline_definition"]["name"] = "a\u0000b"
    body["pipeline_definition"]["parameters"] = {"k\u0000": 1, "s": "\ud800"}
    body["run_config"]["env_variables"] = {"A": "\udfff!"}
    problems = await refused(limited, "POST", "/api/runs", body)
    assert kinds(problems) == [
        (["pipeline_definition", "name"], "null_character"),
        (["pipeline_definition", "parameters", "k\u0000"], "null_character"),
        (["pipeline_definition", "parameters", "s"], "invalid_unicode"),
        (["run_config", "env_variables", "A"], "invalid_unicode"),
    ]
    problems = await refused(limited, "POST", "/api/jobs", job_body(project, name="\u0000"))
    assert kinds(problems) == [(["name"], "null_character")]
    launch = {
        "project_uuid": "a",
        "pipeline_uuid": "b",
        "project_dir": "/\ud800",
        "pipeline_path": "p",
    }
    problems = await refused(limited, "POST", "/api/sessions", launch)
    assert kinds(problems) == [(["project_dir"], "invalid_unicode")]
    update = {"parameters": [{"pipeline_parameters": {"x": "\u0000"}}]}
    problems = await refused(limited, "PUT", f"/api/jobs/{uuid.uuid4()}", update)
    assert kinds(problems) == [(["parameters", 0, "pipeline_parameters", "x"], "null_character")]


async def test_unicode_goes_through_intact(limited: Stack, project: Project) -> None:
    title = "Ünïcödé 🚀 שלום 中文 e\u0301 \u200b"
    project.steps["a"]["title"] = title
    project.parameters = {"π": "∞ 😀", "ключ": ["ø", {"嵌套": "\U0010ffff"}]}
    run = await limited.run_to_end(project.body())
    assert run["status"] == "SUCCESS"
    assert run["pipeline_steps"][0]["title"] == title
    job = await limited.http.post(
        "/api/jobs",
        json=job_body(
            project, name=title, parameters=[{"pipeline_parameters": project.parameters}]
        ),
    )
    assert job.status_code == 201, job.text
    assert job.json()["name"] == title
    assert job.json()["parameters"] == [{"pipeline_parameters": project.parameters}]


async def test_wrong_types_are_422_listing_every_problem(limited: Stack, project: Project) -> None:
    for body in (b"null", b"[]", b'"run"', b"42", b"true"):
        problems = await refused(limited, "POST", "/api/runs", body)
        assert kinds(problems) == [([], "model_type")]
    body = project.body()
    body["run_config"] = ["not", "an", "object"]
    body["uuids"] = "a"
    body["run_type"] = 3
    body["pipeline_definition"]["steps"]["a"]["incoming_connections"] = {"b": 1}
    body["pipeline_definition"]["settings"] = {"retries": "two", "fail_fast": "perhaps"}
    problems = await refused(limited, "POST", "/api/runs", body)
    locs = [tuple(p["loc"]) for p in problems]
    for loc in [
        ("run_config",),
        ("uuids",),
        ("run_type",),
        ("pipeline_definition", "steps", "a", "incoming_connections"),
        ("pipeline_definition", "settings", "retries"),
        ("pipeline_definition", "settings", "fail_fast"),
    ]:
        assert loc in locs, (loc, locs)
    problems = await refused(
        limited,
        "POST",
        "/api/jobs",
        job_body(project, parameters={"x": 1}, draft="perhaps", name=7),
    )
    assert {("parameters",), ("draft",), ("name",)} <= {tuple(p["loc"]) for p in problems}


@pytest.mark.parametrize(
    ("where", "name", "value"),
    [
        ("settings", "retries", -1),
        ("settings", "timeout_seconds", -0.5),
        ("settings", "retry_backoff_seconds", 0),
        ("settings", "max_steps_parallelism", -3),
        ("job", "max_retained_pipeline_runs", -2),
        ("job", "max_parallel_runs", 0),
        ("job", "max_parallel_runs", -(10**40)),
    ],
)
async def test_negative_numbers_are_422(
    limited: Stack, project: Project, where: str, name: str, value: float
) -> None:
    if where == "settings":
        body = project.body()
        body["pipeline_definition"]["settings"] = {name: value}
        problems = await refused(limited, "POST", "/api/runs", body)
        assert [p["loc"] for p in problems] == [["pipeline_definition", "settings", name]]
    else:
        problems = await refused(limited, "POST", "/api/jobs", job_body(project, **{name: value}))
        assert [p["loc"] for p in problems] == [[name]]


async def test_huge_numbers_in_parameters_stay_exact(limited: Stack, project: Project) -> None:
    values = {"big": 10**300, "small": -(10**300), "float": 1.7976931348623157e308, "tiny": 5e-324}
    job = await limited.http.post(
        "/api/jobs", json=job_body(project, parameters=[{"pipeline_parameters": values}])
    )
    assert job.status_code == 201, job.text
    assert job.json()["parameters"] == [{"pipeline_parameters": values}]
    # Beyond the 4300 digits Python reads: not JSON the gateway can take.
    body = b'{"parameters": [{"pipeline_parameters": {"x": 1' + b"0" * 5000 + b"}}]}"
    await refused(limited, "POST", "/api/jobs", body, 400)


async def test_duplicate_keys_are_refused_everywhere(limited: Stack, project: Project) -> None:
    job = json.dumps(job_body(project)).replace('"name": "job"', '"name": "job", "name": "again"')
    problems = await refused(limited, "POST", "/api/jobs", job.encode())
    assert kinds(problems) == [(["name"], "duplicate_key")]
    update = b'{"parameters": [{"pipeline_parameters": {"x": 1, "x": 2}, "a": {}, "a": {}}]}'
    problems = await refused(limited, "PUT", f"/api/jobs/{uuid.uuid4()}", update)
    assert kinds(problems) == [
        (["parameters", 0, "a"], "duplicate_key"),
        (["parameters", 0, "pipeline_parameters", "x"], "duplicate_key"),
    ]
    launch = b'{"project_uuid": "a", "project_uuid": "b", "pipeline_uuid": "c", "project_dir": "/x", "pipeline_path": "p"}'
    problems = await refused(limited, "POST", "/api/sessions", launch)
    assert kinds(problems) == [(["project_uuid"], "duplicate_key")]


@pytest.mark.parametrize(
    ("path", "headers"),
    [
        ("/api/runs?limit=-1", {}),
        ("/api/runs?limit=0", {}),
        ("/api/runs?offset=-5", {}),
        ("/api/runs?offset=1e3", {}),
        ("/api/runs?limit=99999999999999999999999999", {}),
        ("/api/runs?status=done", {}),
        ("/api/runs?pipeline_uuid=%00", {}),
        ("/api/jobs?project_uuid=a%00b", {}),
        ("/api/sessions?pipeline_uuid=%00&live=maybe", {}),
        ("/api/events?replay=14", {}),
        ("/api/events?run_uuid=x&job_uuid=y", {}),
        ("/api/events", {"Last-Event-ID": "-1"}),
        ("/api/events", {"Last-Event-ID": b"\xb2"}),  # "²": a digit to str.isdigit, not to int
        ("/api/events", {"Last-Event-ID": "99999999999999999999"}),
    ],
)
async def test_bad_query_parameters_are_422(
    limited: Stack, path: str, headers: dict[str, str | bytes]
) -> None:
    response = await limited.http.get(path, headers=headers)
    assert response.status_code == 422, response.text
    assert response.json()["errors"]


async def test_paths_naming_nothing_are_404(limited: Stack) -> None:
    run = "00000000-0000-4000-8000-000000000000"
    for path in (
        "/api/runs/%00",
        f"/api/runs/{run}/steps/%00",
        f"/api/runs/{run}/steps/%00/logs",
        f"/api/runs/{run}/steps/a/artifacts/%00",
        "/api/jobs/%F0%9F%9A%80",
        "/api/sessions/a%00/b",
        "/api/sessions/a.b/c",
    ):
        response = await limited.http.get(path)
        assert response.status_code == 404, (path, response.text)


# -- 5xx the fuzz found in the scheduler (fixed: each is now a 422) -----------------------


async def test_retries_beyond_int32_are_422(limited: Stack, project: Project) -> None:
    body = project.body()
    body["pipeline_definition"]["settings"] = {"retries": 2**31}
    await refused(limited, "POST", "/api/runs", body)


@pytest.mark.parametrize("name", ["max_parallel_runs", "max_retained_pipeline_runs"])
async def test_job_limits_beyond_int32_are_422(limited: Stack, project: Project, name: str) -> None:
    await refused(limited, "POST", "/api/jobs", job_body(project, **{name: 2**31}))


@pytest.mark.parametrize("name", ["max_parallel_runs", "max_retained_pipeline_runs"])
async def test_job_changes_beyond_int32_are_422(
    limited: Stack, project: Project, name: str
) -> None:
    job = await limited.http.post("/api/jobs", json=job_body(project))
    assert job.status_code == 201, job.text
    await refused(limited, "PUT", f"/api/jobs/{job.json()['uuid']}", {name: 2**31})


async def test_a_cron_that_never_fires_is_422(limited: Stack, project: Project) -> None:
    body = job_body(project, schedule={"cron_schedule": "0 0 31 2 *"})
    await refused(limited, "POST", "/api/jobs", body)


async def test_a_start_beyond_year_9999_is_422(limited: Stack, project: Project) -> None:
    body = job_body(project, schedule={"scheduled_start": "9999-12-31T23:59:59-14:00"})
    await refused(limited, "POST", "/api/jobs", body)
