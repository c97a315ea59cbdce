"""The sessions HTTP API: validation, 404s, reads (from rows written here),
the commands forwarded to a stand-in session manager, the SSE session filter
and the OpenAPI document. Launching and stopping real sessions is tested with
the session manager itself."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sessions_harness import Gateway, StandIn, gateway_alone
from sse_client import read_events

from orchest_schemas.events import RunStatusChanged
from orchest_schemas.sessions import SessionView

T0 = datetime(2026, 1, 1, 9, 0, tzinfo=UTC)
PROJECT = "8d0ac69b-0c2b-4c8e-9d0a-4a3b0e5b1c11"
PIPELINE = "6073d12c-194f-4a6a-9836-600bccb37482"


@pytest.fixture
async def gateway(service_settings: Callable[..., Any]) -> AsyncIterator[Gateway]:
    async with gateway_alone(service_settings) as g:
        yield g


@pytest.fixture
async def stand_in(gateway: Gateway) -> StandIn:
    manager = StandIn(gateway)
    await manager.start()
    return manager


def launch_body(**extra: Any) -> dict[str, Any]:
    return {
        "project_uuid": PROJECT,
        "pipeline_uuid": PIPELINE,
        "project_dir": "/projects/p",
        "pipeline_path": "p.orchest",
        **extra,
    }


def locs(response: Any) -> list[list[Any]]:
    return [e["loc"] for e in response.json()["errors"]]


async def count_sessions(gateway: Gateway) -> int:
    count: int = await gateway.pool.fetchval("SELECT count(*) FROM session_manager.sessions")
    return count


# -- validation and 404s (the gateway's own checks)


async def test_a_bad_launch_body_is_422_listing_every_problem(gateway: Gateway) -> None:
    body = {"project_uuid": "a.b", "pipeline_uuid": "x y", "runtime": 3}
    response = await gateway.http.post("/api/sessions", json=body)
    assert response.status_code == 422, response.text
    assert set(response.json()) == {"message", "errors"}
    assert response.json()["message"].startswith("invalid SessionLaunch")
    # project_dir and pipeline_path may be left out: a project of the stack
    # gives them (docs/projects.md, "by reference").
    assert sorted(loc[0] for loc in locs(response)) == [
        "pipeline_uuid",
        "project_uuid",
        "runtime",
    ]
    types = {e["loc"][0]: e["type"] for e in response.json()["errors"]}
    assert types["project_uuid"] == types["pipeline_uuid"] == "string_pattern_mismatch"

    response = await gateway.http.post(
        "/api/sessions", content=b'{"project_uuid": ', headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    text = json.dumps(launch_body()).replace(
        '"pipeline_path": "p.orchest"', '"pipeline_path": "a", "pipeline_path": "b"'
    )
    response = await gateway.http.post(
        "/api/sessions", content=text.encode(), headers={"content-type": "application/json"}
    )
    assert response.status_code == 422
    assert [e["type"] for e in response.json()["errors"]] == ["duplicate_key"]
    assert await count_sessions(gateway) == 0


async def test_a_launch_nobody_answers_is_503(service_settings: Callable[..., Any]) -> None:
    async with gateway_alone(service_settings, command_timeout_seconds=0.5) as gateway:
        response = await gateway.http.post("/api/sessions", json=launch_body())
        assert response.status_code == 503, response.text
        assert set(response.json()) == {"message", "errors"}
        stop = await gateway.http.delete(f"/api/sessions/{PROJECT}/{PIPELINE}")
        assert stop.status_code == 503


@pytest.mark.parametrize("method", ["GET", "DELETE", "PUT"])
@pytest.mark.parametrize(
    ("project", "pipeline"),
    [("a.b", PIPELINE), (PROJECT, "*"), (PROJECT, ">"), ("a b", PIPELINE), (PROJECT, "é")],
)
async def test_a_malformed_session_path_is_404(
    gateway: Gateway, method: str, project: str, pipeline: str
) -> None:
    # No session manager answers here: a 404 shows nothing was forwarded.
    response = await gateway.http.request(method, f"/api/sessions/{project}/{pipeline}")
    assert response.status_code == 404, response.text
    assert set(response.json()) == {"message", "errors"}


@pytest.mark.parametrize(
    "path",
    [f"/api/sessions/{PROJECT}/{PIPELINE}", f"/api/sessions/{PROJECT}", "/api/sessions/a/b/c"],
)
async def test_an_unknown_session_is_404(gateway: Gateway, path: str) -> None:
    response = await gateway.http.get(path)
    assert response.status_code == 404, response.text
    assert set(response.json()) == {"message", "errors"}


async def test_reads_before_the_session_manager_made_its_table_are_503(
    service_settings: Callable[..., Any],
) -> None:
    async with gateway_alone(service_settings, migrate=False) as gateway:
        for path in ("/api/sessions", f"/api/sessions/{PROJECT}/{PIPELINE}"):
            response = await gateway.http.get(path)
            assert response.status_code == 503, response.text
            assert "session manager" in response.json()["message"]


# -- reads


async def test_sessions_are_listed_newest_first_filtered_and_paginated(gateway: Gateway) -> None:
    other_project, other_pipeline = "project-2", "pipeline_2"
    old = await gateway.insert(PROJECT, PIPELINE, "STOPPED", created=T0)
    failed = await gateway.insert(
        PROJECT, PIPELINE, "FAILED", created=T0 + timedelta(hours=1), reason="no jupyter"
    )
    running = await gateway.insert(
        PROJECT,
        other_pipeline,
        "RUNNING",
        created=T0 + timedelta(hours=2),
        jupyter_url="http://127.0.0.1:8888/",
        jupyter_token="secret",
        eg_url="http://127.0.0.1:8889",
        details={"jupyter": {"pid": 12}, "kernels": [1, 2]},
        runtime="docker",
    )
    launching = await gateway.insert(
        other_project, PIPELINE, "LAUNCHING", created=T0 + timedelta(hours=3)
    )

    page = (await gateway.http.get("/api/sessions")).json()
    assert set(page) == {"sessions", "total", "limit", "offset"}
    assert (page["total"], page["limit"], page["offset"]) == (4, 50, 0)
    assert [s["uuid"] for s in page["sessions"]] == [launching, running, failed, old]
    second = page["sessions"][1]
    assert set(second) == set(SessionView.model_fields) | set(SessionView.model_computed_fields)
    assert second["services"] == []  # none in its details
    assert second["gateway_url"] == "http://127.0.0.1:8889"
    assert (second["jupyter_url"], second["jupyter_token"]) == ("http://127.0.0.1:8888/", "secret")
    assert second["details"] == {"jupyter": {"pid": 12}, "kernels": [1, 2]}
    assert second["runtime"] == "docker"
    assert page["sessions"][2]["reason"] == "no jupyter"
    assert page["sessions"][0]["details"] == {}

    async def uuids(**params: Any) -> list[str]:
        response = await gateway.http.get("/api/sessions", params=params)
        assert response.status_code == 200, response.text
        return [s["uuid"] for s in response.json()["sessions"]]

    assert await uuids(project_uuid=PROJECT) == [running, failed, old]
    assert await uuids(pipeline_uuid=PIPELINE) == [launching, failed, old]
    assert await uuids(project_uuid=PROJECT, pipeline_uuid=PIPELINE) == [failed, old]
    assert await uuids(status="failed") == [failed]
    assert await uuids(live="true") == [launching, running]
    assert await uuids(live="false") == [launching, running, failed, old]
    assert await uuids(live="true", project_uuid=PROJECT) == [running]
    assert await uuids(live="true", status="STOPPED") == []
    assert await uuids(limit=2) == [launching, running]
    assert await uuids(limit=2, offset=2) == [failed, old]
    beyond = (await gateway.http.get("/api/sessions", params={"offset": 10})).json()
    assert beyond["sessions"] == [] and beyond["total"] == 4

    for params in ({"status": "NOPE"}, {"live": "maybe"}, {"limit": 0}, {"offset": -1}):
        response = await gateway.http.get("/api/sessions", params=params)
        assert response.status_code == 422, params
        assert locs(response) == [["query", next(iter(params))]]


async def test_a_pipelines_session_is_its_live_one_else_its_latest_ended(
    gateway: Gateway,
) -> None:
    await gateway.insert(PROJECT, PIPELINE, "FAILED", created=T0, reason="first")
    live = await gateway.insert(
        PROJECT,
        PIPELINE,
        "RUNNING",
        created=T0 + timedelta(hours=1),
        jupyter_url="http://127.0.0.1:8888/lab",
        jupyter_token="t0k3n",
        eg_url="http://127.0.0.1:8889",
        details={"processes": {"jupyter": 101, "gateway": 102}},
    )
    # Written later, yet ended: the live session still comes first.
    latest_ended = await gateway.insert(
        PROJECT, PIPELINE, "STOPPED", created=T0 + timedelta(hours=2)
    )
    await gateway.insert(PROJECT, "another", "RUNNING", created=T0 + timedelta(hours=3))

    response = await gateway.http.get(f"/api/sessions/{PROJECT}/{PIPELINE}")
    assert response.status_code == 200, response.text
    session = response.json()
    assert session["uuid"] == live and session["status"] == "RUNNING"
    assert session["jupyter_url"] == "http://127.0.0.1:8888/lab"
    assert session["jupyter_token"] == "t0k3n"
    assert session["gateway_url"] == "http://127.0.0.1:8889"
    assert session["details"] == {"processes": {"jupyter": 101, "gateway": 102}}
    assert (session["project_dir"], session["pipeline_path"]) == ("/projects/p", "p.orchest")

    await gateway.move(live, "STOPPED", publish=False)
    ended = (await gateway.http.get(f"/api/sessions/{PROJECT}/{PIPELINE}")).json()
    assert ended["uuid"] == latest_ended and ended["status"] == "STOPPED"
    # Uuids are matched as they are written.
    missing = await gateway.http.get(f"/api/sessions/{PROJECT.upper()}/{PIPELINE}")
    assert missing.status_code == 404


# -- the commands, forwarded to a stand-in session manager


async def test_launch_stop_and_restart_are_forwarded(gateway: Gateway, stand_in: StandIn) -> None:
    response = await gateway.http.post("/api/sessions", json=launch_body(runtime="docker"))
    assert response.status_code == 201, response.text
    launched = response.json()
    assert launched["status"] == "LAUNCHING" and launched["runtime"] == "docker"
    assert stand_in.commands[-1] == (
        "launch",
        {**launch_body(runtime="docker"), "idempotency_key": None},
    )
    again = await gateway.http.post("/api/sessions", json=launch_body())
    assert again.status_code == 409, again.text
    assert again.json()["message"] == "already has a live session"

    path = f"/api/sessions/{PROJECT}/{PIPELINE}"
    refused = await gateway.http.put(path)
    assert refused.status_code == 409  # still LAUNCHING
    await gateway.move(launched["uuid"], "RUNNING")
    restarted = await gateway.http.put(path)
    assert restarted.status_code == 200, restarted.text
    assert restarted.json()["status"] == "LAUNCHING"
    assert restarted.json()["uuid"] == launched["uuid"]

    stopped = await gateway.http.delete(path)
    assert stopped.status_code == 200, stopped.text
    assert stopped.json()["status"] == "STOPPING"
    await gateway.move(launched["uuid"], "STOPPED")
    assert (await gateway.http.delete(path)).status_code == 404
    assert (await gateway.http.put(path)).status_code == 404
    expected = {"project_uuid": PROJECT, "pipeline_uuid": PIPELINE, "idempotency_key": None}
    assert [c for c in stand_in.commands if c[0] != "launch"] == [
        ("restart", expected),
        ("restart", expected),
        ("stop", expected),
        ("stop", expected),
        ("restart", expected),
    ]


# -- events


async def test_the_event_stream_follows_one_pipelines_sessions(gateway: Gateway) -> None:
    run = str(uuid.uuid4())
    await gateway.publish(PROJECT, PIPELINE, "LAUNCHING")
    await gateway.publish(PROJECT, "other", "LAUNCHING")
    await gateway.publish("other", PIPELINE, "LAUNCHING")
    run_event = RunStatusChanged(run_uuid=run, pipeline_uuid=PIPELINE, status="STARTED")
    await gateway.nc.jetstream().publish(gateway.bus.run_event(PIPELINE, run), run_event.to_bytes())
    await gateway.publish(PROJECT, PIPELINE, "FAILED", reason="no jupyter")

    got = await read_events(
        gateway.http, {"session": f"{PROJECT}/{PIPELINE}"}, lambda got: len(got) == 2
    )
    assert [(e["event"], e["status"], e["reason"]) for e in got] == [
        ("session_status_changed", "LAUNCHING", None),
        ("session_status_changed", "FAILED", "no jupyter"),
    ]
    assert {(e["project_uuid"], e["pipeline_uuid"]) for e in got} == {(PROJECT, PIPELINE)}

    # pipeline_uuid alone still selects that pipeline's runs, not its sessions.
    runs = await read_events(gateway.http, {"pipeline_uuid": PIPELINE}, lambda got: len(got) == 1)
    assert [(e["event"], e["run_uuid"]) for e in runs] == [("run_status_changed", run)]

    # Live, not replayed: an event published once the stream is open arrives.
    async with gateway.http.stream(
        "GET", "/api/events", params={"session": f"{PROJECT}/{PIPELINE}"}
    ) as response:
        lines = response.aiter_lines()
        assert await anext(lines) == ": connected"

        async def first_event() -> str:
            async for line in lines:
                if line.startswith("data: "):
                    return line
            raise AssertionError("the stream ended")

        # Live once ": connected" came: published now, it arrives.
        reading = asyncio.create_task(first_event())
        await gateway.publish(PROJECT, PIPELINE, "STOPPED")
        data = json.loads((await asyncio.wait_for(reading, 10)).removeprefix("data: "))
        assert data["status"] == "STOPPED"

    for bad in (PROJECT, f"{PROJECT}/", f"/{PIPELINE}", f"{PROJECT}/a.b", f"{PROJECT}/x/y"):
        response = await gateway.http.get("/api/events", params={"session": bad})
        assert response.status_code == 422, bad
        assert locs(response) == [["query", "session"]]
    both = await gateway.http.get(
        "/api/events", params={"pipeline_uuid": PIPELINE, "session": f"{PROJECT}/{PIPELINE}"}
    )
    assert both.status_code == 422
    assert locs(both) == [["query", "pipeline_uuid"], ["query", "session"]]


# -- the OpenAPI document


async def test_openapi_documents_every_sessions_path(gateway: Gateway) -> None:
    doc = (await gateway.http.get("/api/openapi.json")).json()
    paths = doc["paths"]
    expected = {
        "/api/sessions": {"get", "post"},
        "/api/sessions/{project_uuid}/{pipeline_uuid}": {"get", "put", "delete"},
    }
    for path, methods in expected.items():
        assert set(paths[path]) == methods, path
    for op in (m for path in expected for m in paths[path].values()):
        assert op["tags"] == ["sessions"]
    schemas = doc["components"]["schemas"]
    assert {"SessionLaunch", "SessionView", "SessionList"} <= set(schemas)
    launch = schemas["SessionLaunch"]
    assert set(launch["required"]) == {"project_uuid", "pipeline_uuid"}
    assert launch["properties"]["project_uuid"]["pattern"] == "^[A-Za-z0-9_-]+$"
    assert paths["/api/sessions"]["post"]["requestBody"]["content"]["application/json"][
        "schema"
    ] == {"$ref": "#/components/schemas/SessionLaunch"}
    listed = {p["name"] for p in paths["/api/sessions"]["get"]["parameters"]}
    assert listed == {"project_uuid", "pipeline_uuid", "status", "live", "limit", "offset"}
    one = paths["/api/sessions/{project_uuid}/{pipeline_uuid}"]
    assert set(one["get"]["responses"]) >= {"200", "404"}
    assert set(one["put"]["responses"]) >= {"200", "404", "409", "503"}
    events = {p["name"] for p in paths["/api/events"]["get"]["parameters"]}
    assert {"run_uuid", "pipeline_uuid", "job_uuid", "session"} <= events
