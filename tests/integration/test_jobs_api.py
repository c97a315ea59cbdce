"""The jobs HTTP API: validation, reads (from rows written here, so they do
not depend on the scheduler's timing), the commands end to end, the SSE job
filter and the OpenAPI document."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from runs_harness import Project, Stack
from sse_client import read_events

from orchest_schemas.events import JobStatusChanged, RunStatusChanged
from orchest_schemas.jobs import JobView
from orchest_schemas.runs import RunView
from support import eventually

NOBODY = "00000000-0000-4000-8000-000000000000"
T0 = datetime(2026, 1, 1, 9, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def stack(module_stack: Stack) -> Stack:
    """One stack for the module's tests: each sends its own pipeline (a new
    uuid), jobs and ids, reads back only those, and counts as differences;
    the two that list whole tables have a ``fresh_stack`` of their own."""
    return module_stack


@pytest.fixture
def project(project: Project) -> Project:
    """The conftest's project with its steps."""
    project.step("a", "a.sh", "echo a\n")
    return project


def job_body(project: Project, **extra: Any) -> dict[str, Any]:
    return project.job_body("nightly", **extra)


def locs(response: Any) -> list[list[Any]]:
    return [e["loc"] for e in response.json()["errors"]]


async def count_jobs(database_url: str) -> int:
    """Jobs in the scheduler's table (of every test on the stack: compared
    before and after, never read as a total)."""
    conn = await asyncpg.connect(database_url)
    try:
        count: int = await conn.fetchval("SELECT count(*) FROM scheduler.jobs")
        return count
    finally:
        await conn.close()


# -- rows written straight into the scheduler's tables, in ended states (the
# -- scheduler acts on none of them)


async def insert_job(
    stack: Stack,
    project: Project,
    *,
    name: str,
    status: str,
    created: datetime,
    project_uuid: str | None = None,
    parameters: list[dict[str, Any]] | None = None,
    env: dict[str, str] | None = None,
    run_type: str = "full",
    run_uuids: tuple[str, ...] = (),
    cron: str | None = None,
) -> str:
    job_uuid = str(uuid.uuid4())
    conn = await asyncpg.connect(stack.database_url)
    try:
        await conn.execute(
            "INSERT INTO scheduler.jobs (uuid, name, pipeline_uuid, project_uuid, project_dir,"
            " snapshot_dir, pipeline_definition, run_type, run_uuids, parameters, env_variables,"
            " status, cron_schedule, created_time, finished_time)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, $8, $9, $10::jsonb, $11::jsonb, $12,"
            " $13, $14, $14)",
            job_uuid,
            name,
            project.uuid,
            project_uuid,
            str(project.root),
            f"/jobs/{job_uuid}/snapshot",
            json.dumps(project.definition()),
            run_type,
            list(run_uuids),
            json.dumps(parameters if parameters is not None else [{}]),
            json.dumps(env or {}),
            status,
            cron,
            created,
        )
    finally:
        await conn.close()
    return job_uuid


async def insert_run(
    stack: Stack,
    project: Project,
    *,
    job_uuid: str | None,
    status: str,
    execution: int | None = None,
    place: int | None = None,
    parameters: dict[str, Any] | None = None,
    created: datetime = T0,
) -> str:
    run_uuid = str(uuid.uuid4())
    conn = await asyncpg.connect(stack.database_url)
    try:
        await conn.execute(
            "INSERT INTO scheduler.runs (uuid, pipeline_uuid, job_uuid, run_type, status,"
            " pipeline_definition, project_dir, created_time, job_run_index,"
            " job_run_pipeline_run_index, parameters)"
            " VALUES ($1, $2, $3, 'full', $4, $5::jsonb, $6, $7, $8, $9, $10::jsonb)",
            run_uuid,
            project.uuid,
            job_uuid,
            status,
            json.dumps(project.definition()),
            str(project.root),
            created,
            execution,
            place,
            json.dumps(parameters) if parameters is not None else None,
        )
        await conn.execute(
            "INSERT INTO scheduler.run_steps (run_uuid, step_uuid, title, file_path, status,"
            " attempt, position) VALUES ($1, 'a', 'A', 'a.sh', $2, 1, 0)",
            run_uuid,
            status,
        )
    finally:
        await conn.close()
    return run_uuid


# -- validation and 404s (the gateway's own checks)


async def test_an_empty_parameter_list_is_422(stack: Stack, project: Project) -> None:
    before = await count_jobs(stack.database_url)
    response = await stack.http.post("/api/jobs", json=job_body(project, parameters=[]))
    assert response.status_code == 422, response.text
    assert set(response.json()) == {"message", "errors"}
    assert [(e["loc"], e["type"]) for e in response.json()["errors"]] == [
        (["parameters"], "too_short")
    ]
    assert await count_jobs(stack.database_url) == before


async def test_a_bad_job_body_is_422_listing_every_problem(stack: Stack) -> None:
    before = await count_jobs(stack.database_url)
    body = {
        "name": "",
        "pipeline_definition": {"steps": []},
        "parameters": [],
        "schedule": {"cron_schedule": "0 3 * * *", "scheduled_start": "2030-01-01T00:00:00Z"},
        "max_retained_pipeline_runs": -2,
        "max_parallel_runs": 0,
    }
    response = await stack.http.post("/api/jobs", json=body)
    assert response.status_code == 422, response.text
    found = locs(response)
    for where in (
        ["name"],
        ["parameters"],
        ["project_dir"],
        ["schedule"],
        ["max_retained_pipeline_runs"],
        ["max_parallel_runs"],
    ):
        assert where in found, (where, found)
    assert any(loc[0] == "pipeline_definition" for loc in found), found
    assert response.json()["message"].startswith("invalid CreateJob")
    assert await count_jobs(stack.database_url) == before


async def test_malformed_and_repeated_keys_in_a_job_body(stack: Stack, project: Project) -> None:
    response = await stack.http.post(
        "/api/jobs", content=b'{"name": ', headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    text = json.dumps(job_body(project)).replace('"name": "nightly"', '"name": "a", "name": "b"')
    response = await stack.http.post(
        "/api/jobs", content=text.encode(), headers={"content-type": "application/json"}
    )
    assert response.status_code == 422
    assert [e["type"] for e in response.json()["errors"]] == ["duplicate_key"]


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", f"/api/jobs/{NOBODY}"),
        ("GET", "/api/jobs/not-a-uuid"),
        ("GET", f"/api/jobs/{NOBODY}/runs"),
        ("GET", "/api/jobs/not-a-uuid/runs"),
        ("PUT", "/api/jobs/not-a-uuid"),
        ("DELETE", "/api/jobs/not-a-uuid"),
        ("POST", "/api/jobs/not-a-uuid/trigger"),
        ("DELETE", f"/api/jobs/not-a-uuid/runs/{NOBODY}"),
        ("DELETE", f"/api/jobs/{NOBODY}/runs/not-a-uuid"),
    ],
)
async def test_an_unknown_or_malformed_job_is_404(stack: Stack, method: str, path: str) -> None:
    response = await stack.http.request(method, path, json={} if method == "PUT" else None)
    assert response.status_code == 404, response.text
    assert set(response.json()) == {"message", "errors"}


async def test_a_change_is_checked_before_it_reaches_the_scheduler(stack: Stack) -> None:
    other = str(uuid.uuid4())
    response = await stack.http.put(f"/api/jobs/{NOBODY}", json={"job_uuid": other})
    assert response.status_code == 422
    assert [(e["loc"], e["type"]) for e in response.json()["errors"]] == [
        (["job_uuid"], "job_uuid_mismatch")
    ]
    bad = {"name": "", "parameters": [], "max_parallel_runs": 0, "max_retained_pipeline_runs": -3}
    response = await stack.http.put(f"/api/jobs/{NOBODY}", json=bad)
    assert response.status_code == 422
    assert sorted(loc[0] for loc in locs(response)) == sorted(bad)


# -- reads


async def test_jobs_are_listed_newest_first_filtered_and_paginated(
    fresh_stack: Stack, project: Project
) -> None:
    old = await insert_job(fresh_stack, project, name="old", status="SUCCESS", created=T0)
    mid = await insert_job(
        fresh_stack,
        project,
        name="mid",
        status="FAILURE",
        created=T0 + timedelta(hours=1),
        project_uuid="project-1",
        cron="0 3 * * *",
    )
    sets = [{"pipeline_parameters": {"alpha": 1}}, {"a": {"beta": [1, 2]}}]
    new = await insert_job(
        fresh_stack,
        project,
        name="new",
        status="ABORTED",
        created=T0 + timedelta(hours=2),
        parameters=sets,
        env={"KEY": "value"},
        run_type="selection",
        run_uuids=("a",),
    )
    for place, status in enumerate(("SUCCESS", "FAILURE", "SUCCESS")):
        await insert_run(
            fresh_stack, project, job_uuid=new, status=status, execution=1, place=place
        )
    await insert_run(fresh_stack, project, job_uuid=mid, status="ABORTED", execution=1, place=0)

    page = (await fresh_stack.http.get("/api/jobs")).json()
    assert set(page) == {"jobs", "total", "limit", "offset"}
    assert (page["total"], page["limit"], page["offset"]) == (3, 50, 0)
    assert [j["uuid"] for j in page["jobs"]] == [new, mid, old]
    first = page["jobs"][0]
    assert set(first) == set(JobView.model_fields)
    assert first["pipeline_definition"] is None
    assert first["pipeline_run_spec"] == {"run_type": "selection", "uuids": ["a"]}
    assert first["parameters"] == sets and first["env_variables"] == {"KEY": "value"}
    assert first["run_counts"] == {"SUCCESS": 2, "FAILURE": 1}
    assert list(first["run_counts"]) == ["SUCCESS", "FAILURE"]  # the lifecycle's order
    assert page["jobs"][1]["run_counts"] == {"ABORTED": 1}
    assert page["jobs"][1]["cron_schedule"] == "0 3 * * *"
    assert page["jobs"][2]["run_counts"] == {}

    async def names(**params: Any) -> list[str]:
        response = await fresh_stack.http.get("/api/jobs", params=params)
        assert response.status_code == 200, response.text
        return [j["name"] for j in response.json()["jobs"]]

    assert await names(status="FAILURE") == ["mid"]
    assert await names(status="aborted") == ["new"]
    assert await names(project_uuid="project-1") == ["mid"]
    assert await names(pipeline_uuid=project.uuid) == ["new", "mid", "old"]
    assert await names(pipeline_uuid="another") == []
    assert await names(limit=2) == ["new", "mid"]
    assert await names(limit=2, offset=2) == ["old"]
    total = (await fresh_stack.http.get("/api/jobs", params={"limit": 1, "offset": 5})).json()
    assert total["jobs"] == [] and total["total"] == 3

    for params in ({"status": "NOPE"}, {"limit": 0}, {"limit": 501}, {"offset": -1}):
        response = await fresh_stack.http.get("/api/jobs", params=params)
        assert response.status_code == 422, params
        assert locs(response) == [["query", next(iter(params))]]

    one = (await fresh_stack.http.get(f"/api/jobs/{new.upper()}")).json()
    assert one["uuid"] == new
    assert one["pipeline_definition"] == project.definition()
    assert one["run_counts"] == {"SUCCESS": 2, "FAILURE": 1}


async def test_a_jobs_runs_are_listed_latest_execution_first(
    stack: Stack, project: Project
) -> None:
    job = await insert_job(stack, project, name="grid", status="SUCCESS", created=T0)
    other = await insert_job(stack, project, name="other", status="SUCCESS", created=T0)
    await insert_run(stack, project, job_uuid=other, status="SUCCESS", execution=1, place=0)
    made: dict[tuple[int, int], str] = {}
    # The first execution's runs are made last: the order is the job's, not the clock's.
    for execution, place, status, minutes in (
        (2, 1, "SUCCESS", 1),
        (2, 0, "SUCCESS", 2),
        (1, 1, "FAILURE", 3),
        (1, 0, "SUCCESS", 4),
    ):
        made[(execution, place)] = await insert_run(
            stack,
            project,
            job_uuid=job,
            status=status,
            execution=execution,
            place=place,
            parameters={"pipeline_parameters": {"alpha": place}},
            created=T0 + timedelta(minutes=minutes),
        )

    page = (await stack.http.get(f"/api/jobs/{job}/runs")).json()
    assert page["total"] == 4
    order = [(r["job_run_index"], r["job_run_pipeline_run_index"]) for r in page["runs"]]
    assert order == [(2, 0), (2, 1), (1, 0), (1, 1)]
    first = page["runs"][0]
    assert set(first) == set(RunView.model_fields)
    assert first["uuid"] == made[(2, 0)] and first["job_uuid"] == job
    assert first["parameters"] == {"pipeline_parameters": {"alpha": 0}}
    assert [s["step_uuid"] for s in first["pipeline_steps"]] == ["a"]

    failed = (await stack.http.get(f"/api/jobs/{job}/runs", params={"status": "failure"})).json()
    assert [r["uuid"] for r in failed["runs"]] == [made[(1, 1)]] and failed["total"] == 1
    second = (
        await stack.http.get(f"/api/jobs/{job}/runs", params={"limit": 1, "offset": 1})
    ).json()
    assert [r["uuid"] for r in second["runs"]] == [made[(2, 1)]] and second["total"] == 4
    assert (
        await stack.http.get(f"/api/jobs/{job}/runs", params={"status": "x"})
    ).status_code == 422

    # The runs API shows the same fields; a run outside jobs has them empty.
    alone = await insert_run(stack, project, job_uuid=None, status="SUCCESS")
    run = (await stack.http.get(f"/api/runs/{made[(1, 1)]}")).json()
    assert (run["job_uuid"], run["job_run_index"], run["job_run_pipeline_run_index"]) == (job, 1, 1)
    assert run["parameters"] == {"pipeline_parameters": {"alpha": 1}}
    listed = (await stack.http.get("/api/runs", params={"pipeline_uuid": project.uuid})).json()
    by_uuid = {r["uuid"]: r for r in listed["runs"]}
    assert by_uuid[alone]["job_run_index"] is None and by_uuid[alone]["parameters"] is None
    assert by_uuid[made[(2, 0)]]["job_run_index"] == 2


async def test_runs_are_filtered_by_job(fresh_stack: Stack, project: Project) -> None:
    job = await insert_job(fresh_stack, project, name="grid", status="SUCCESS", created=T0)
    other = await insert_job(fresh_stack, project, name="other", status="SUCCESS", created=T0)
    mine = {
        await insert_run(
            fresh_stack, project, job_uuid=job, status=status, execution=1, place=place
        )
        for place, status in enumerate(("SUCCESS", "FAILURE"))
    }
    await insert_run(fresh_stack, project, job_uuid=other, status="SUCCESS", execution=1, place=0)
    await insert_run(fresh_stack, project, job_uuid=None, status="SUCCESS")

    async def listed(**params: Any) -> set[str]:
        response = await fresh_stack.http.get("/api/runs", params=params)
        assert response.status_code == 200, response.text
        page = response.json()
        assert page["total"] == len(page["runs"])
        return {r["uuid"] for r in page["runs"]}

    assert await listed(job_uuid=job) == mine
    assert await listed(job_uuid=job.upper()) == mine
    assert len(await listed(job_uuid=job, status="failure")) == 1
    assert await listed(job_uuid=job, pipeline_uuid="another") == set()
    assert await listed(job_uuid=NOBODY) == set()
    assert len(await listed()) == 4
    bad = await fresh_stack.http.get("/api/runs", params={"job_uuid": "not-a-uuid"})
    assert bad.status_code == 422, bad.text
    assert locs(bad) == [["query", "job_uuid"]]


# -- events


async def test_the_event_stream_follows_one_job(stack: Stack) -> None:
    job, other, run = str(uuid.uuid4()), str(uuid.uuid4()), str(uuid.uuid4())
    js = stack.nc.jetstream()
    mine = [
        (stack.bus.job_event(job), JobStatusChanged(job_uuid=job, status="STARTED")),
        (stack.bus.job_event(other), JobStatusChanged(job_uuid=other, status="STARTED")),
        (
            stack.bus.job_run_event(job, run),
            RunStatusChanged(run_uuid=run, pipeline_uuid="p", job_uuid=job, status="SUCCESS"),
        ),
        (stack.bus.job_event(job), JobStatusChanged(job_uuid=job, status="SUCCESS")),
    ]
    for subject, event in mine:
        await js.publish(subject, event.to_bytes())
    got = await read_events(stack.http, {"job_uuid": job}, lambda got: len(got) == 3)
    assert [(e["event"], e["status"]) for e in got] == [
        ("job_status_changed", "STARTED"),
        ("run_status_changed", "SUCCESS"),
        ("job_status_changed", "SUCCESS"),
    ]
    assert all(e.get("job_uuid") == job for e in got)

    bad = await stack.http.get("/api/events", params={"job_uuid": "not-a-uuid"})
    assert bad.status_code == 422
    both = await stack.http.get("/api/events", params={"job_uuid": job, "run_uuid": run})
    assert both.status_code == 422
    assert locs(both) == [["query", "run_uuid"], ["query", "job_uuid"]]


# -- the OpenAPI document


async def test_openapi_documents_every_jobs_path(stack: Stack) -> None:
    doc = (await stack.http.get("/api/openapi.json")).json()
    paths = doc["paths"]
    expected = {
        "/api/jobs": {"get", "post"},
        "/api/jobs/{job_uuid}": {"get", "put", "delete"},
        "/api/jobs/{job_uuid}/trigger": {"post"},
        "/api/jobs/{job_uuid}/runs": {"get"},
        "/api/jobs/{job_uuid}/runs/{run_uuid}": {"delete"},
    }
    for path, methods in expected.items():
        assert set(paths[path]) == methods, path
    schemas = doc["components"]["schemas"]
    assert {"CreateJob", "JobUpdate", "JobView", "JobList"} <= set(schemas)
    assert "job_uuid" not in schemas["JobUpdate"].get("required", [])
    assert paths["/api/jobs"]["post"]["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/CreateJob"
    }
    runs = {p["name"] for p in paths["/api/runs"]["get"]["parameters"]}
    assert {"pipeline_uuid", "status", "job_uuid"} <= runs
    events = {p["name"] for p in paths["/api/events"]["get"]["parameters"]}
    assert {"run_uuid", "pipeline_uuid", "job_uuid"} <= events
    for op in (m for path in expected for m in paths[path].values()):
        assert "jobs" in op["tags"]


# -- the commands, through the scheduler


async def _job(stack: Stack, job_uuid: str) -> dict[str, Any]:
    response = await stack.http.get(f"/api/jobs/{job_uuid}")
    assert response.status_code == 200, response.text
    job: dict[str, Any] = response.json()
    return job


async def _counts_become(
    stack: Stack, job_uuid: str, counts: dict[str, int], status: str | None = None
) -> dict[str, Any]:
    async def probe() -> dict[str, Any] | None:
        job = await _job(stack, job_uuid)
        if job["run_counts"] == counts and status in (None, job["status"]):
            return job
        return None

    return await eventually(
        probe, timeout=60, what=f"job {job_uuid}: runs {counts}, status {status}"
    )


async def test_a_job_runs_once_per_parameter_set(stack: Stack, project: Project) -> None:
    project.parameters = {"alpha": 0}
    project.step("a", "a.sh", 'echo "$ORCHEST_PARAMETERS"\n')
    sets = [{"pipeline_parameters": {"alpha": 1}}, {"pipeline_parameters": {"alpha": 2}}]
    body = job_body(project, parameters=sets, idempotency_key="job-once")
    response = await stack.http.post("/api/jobs", json=body)
    assert response.status_code == 201, response.text
    created = response.json()
    assert created["name"] == "nightly" and created["parameters"] == sets
    assert created["pipeline_definition"]["uuid"] == project.uuid
    again = await stack.http.post("/api/jobs", json=body)
    assert again.status_code == 201 and again.json()["uuid"] == created["uuid"]

    job = await _counts_become(stack, created["uuid"], {"SUCCESS": 2}, "SUCCESS")
    assert job["total_scheduled_executions"] == 1
    page = (await stack.http.get(f"/api/jobs/{job['uuid']}/runs")).json()
    assert page["total"] == 2
    assert [r["parameters"] for r in page["runs"]] == sets
    assert {r["job_run_index"] for r in page["runs"]} == {1}
    assert all(r["job_uuid"] == job["uuid"] for r in page["runs"])
    listed = (await stack.http.get("/api/jobs", params={"pipeline_uuid": project.uuid})).json()
    assert [j["uuid"] for j in listed["jobs"]] == [job["uuid"]]
    assert listed["jobs"][0]["run_counts"] == {"SUCCESS": 2}

    events = await read_events(
        stack.http,
        {"job_uuid": job["uuid"]},
        lambda got: any(
            e["event"] == "job_status_changed" and e["status"] == "SUCCESS" for e in got
        ),
    )
    kinds = {e["event"] for e in events}
    assert kinds == {"job_status_changed", "run_status_changed"}
    ended = {
        e["run_uuid"]
        for e in events
        if e["event"] == "run_status_changed" and e["status"] == "SUCCESS"
    }
    assert ended == {r["uuid"] for r in page["runs"]}


async def test_a_cron_job_is_paused_resumed_changed_triggered_and_cancelled(
    stack: Stack, project: Project
) -> None:
    body = job_body(project, schedule={"cron_schedule": "0 0 1 1 *"})
    created = (await stack.http.post("/api/jobs", json=body)).json()
    job_uuid = created["uuid"]
    assert created["status"] == "PENDING" and created["next_scheduled_time"] is not None

    paused = await stack.http.put(f"/api/jobs/{job_uuid}", json={"paused": True})
    assert paused.status_code == 200, paused.text
    assert paused.json()["status"] == "PAUSED"
    assert (await stack.http.post(f"/api/jobs/{job_uuid}/trigger")).status_code == 409
    resumed = (await stack.http.put(f"/api/jobs/{job_uuid}", json={"paused": False})).json()
    assert resumed["status"] == "PENDING" and resumed["next_scheduled_time"] is not None

    changed = await stack.http.put(
        f"/api/jobs/{job_uuid}",
        json={"job_uuid": job_uuid.upper(), "name": "renamed", "cron_schedule": "30 2 * * *"},
    )
    assert changed.status_code == 200, changed.text
    assert (changed.json()["name"], changed.json()["cron_schedule"]) == ("renamed", "30 2 * * *")
    assert (await _job(stack, job_uuid))["name"] == "renamed"

    triggered = await stack.http.post(f"/api/jobs/{job_uuid}/trigger")
    assert triggered.status_code == 200, triggered.text
    await _counts_become(stack, job_uuid, {"SUCCESS": 1})

    cancelled = await stack.http.delete(f"/api/jobs/{job_uuid}")
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["status"] == "ABORTED"
    assert cancelled.json()["next_scheduled_time"] is None
    assert (await stack.http.post(f"/api/jobs/{job_uuid}/trigger")).status_code == 409
    job = await _job(stack, job_uuid)
    assert job["status"] == "ABORTED" and job["run_counts"] == {"SUCCESS": 1}  # history kept


async def test_a_draft_runs_only_once_confirmed(stack: Stack, project: Project) -> None:
    created = (await stack.http.post("/api/jobs", json=job_body(project, draft=True))).json()
    assert created["status"] == "DRAFT"
    assert (await stack.http.post(f"/api/jobs/{created['uuid']}/trigger")).status_code == 409
    page = (await stack.http.get(f"/api/jobs/{created['uuid']}/runs")).json()
    assert page["total"] == 0
    confirmed = await stack.http.put(f"/api/jobs/{created['uuid']}", json={"confirm_draft": True})
    assert confirmed.status_code == 200, confirmed.text
    assert confirmed.json()["status"] != "DRAFT"
    await _counts_become(stack, created["uuid"], {"SUCCESS": 1}, "SUCCESS")


async def test_one_run_of_a_job_is_aborted_the_others_go_on(
    stack: Stack, project: Project, tmp_path: Path
) -> None:
    signals = tmp_path / "signals"
    signals.mkdir()
    gate = signals / "gate"
    project.step(
        "a",
        "a.sh",
        f'touch "{signals}/started-$ORCHEST_RUN_UUID"\n'
        f'while [ ! -e "{gate}" ]; do sleep 0.01; done  # wait-ok: the step waits for the test\n',
    )
    sets = [{"pipeline_parameters": {"n": 1}}, {"pipeline_parameters": {"n": 2}}]
    created = (await stack.http.post("/api/jobs", json=job_body(project, parameters=sets))).json()
    job_uuid = created["uuid"]

    async def a_started_run() -> str | None:
        started = sorted(signals.glob("started-*"))
        return started[0].name.removeprefix("started-") if started else None

    run_uuid = await eventually(a_started_run, timeout=60, what="a run of the job started")
    aborted = await stack.http.delete(f"/api/jobs/{job_uuid}/runs/{run_uuid}")
    assert aborted.status_code == 200, aborted.text
    assert aborted.json()["uuid"] == run_uuid and aborted.json()["status"] == "ABORTED"
    assert (await stack.http.delete(f"/api/jobs/{job_uuid}/runs/{NOBODY}")).status_code == 404
    gate.touch()
    await _counts_become(stack, job_uuid, {"SUCCESS": 1, "ABORTED": 1})


async def test_the_scheduler_refuses_a_bad_job_listing_every_problem(
    stack: Stack, project: Project
) -> None:
    project.step("c1", "c1.sh", "echo\n", ("c2",))
    project.step("c2", "c2.sh", "echo\n", ("c1",))
    body = job_body(
        project,
        parameters=[{"ghost-step": {"x": 1}}],
        schedule={"cron_schedule": "every day at noon"},
    )
    before = await count_jobs(stack.database_url)
    response = await stack.http.post("/api/jobs", json=body)
    assert response.status_code == 422, response.text
    errors = response.json()["errors"]
    assert any(e["type"] == "cycle" for e in errors), errors
    assert any(e["loc"][:2] == ["schedule", "cron_schedule"] for e in errors), errors
    assert any("ghost-step" in json.dumps(e) for e in errors), errors
    assert await count_jobs(stack.database_url) == before


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("PUT", f"/api/jobs/{NOBODY}", {"name": "x"}),
        ("POST", f"/api/jobs/{NOBODY}/trigger", None),
        ("DELETE", f"/api/jobs/{NOBODY}", None),
        ("DELETE", f"/api/jobs/{NOBODY}/runs/{NOBODY}", None),
    ],
)
async def test_commands_on_an_unknown_job_are_404(
    stack: Stack, method: str, path: str, body: dict[str, Any] | None
) -> None:
    response = await stack.http.request(method, path, json=body)
    assert response.status_code == 404, response.text
    assert set(response.json()) == {"message", "errors"}
