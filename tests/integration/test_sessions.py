"""Interactive sessions end to end with the process runtime: gateway ->
session manager -> Enterprise Gateway and a Jupyter server as real local
processes -> a real kernel, with the scheduler beside them."""

from __future__ import annotations

import json
import os
import signal
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest
from jupyter_harness import execute, marked_anywhere, start_kernel
from runs_harness import (
    EventLog,
    Project,
    Stack,
    event_log,
    session_reaches,
    session_statuses,
    whole_stack,
)

import support
from orchest_schemas.events import RunStatusChanged, SessionStatusChanged
from support import eventually, free_port, http_answer

# The first launch on a machine makes the environments of Enterprise Gateway
# and the Jupyter server (downloads when uv's cache is empty).
pytestmark = pytest.mark.timeout(300)

PROJECT = "2b1f6a3e-6f8a-4c55-9d0e-5a7b3c1d9e01"
PIPELINE = "8e0c4d2a-1b3f-4a6e-9c5d-7f2e1a0b3c4d"


@pytest.fixture
async def stack(service_settings: Callable[..., Any]) -> AsyncIterator[Stack]:
    async with whole_stack(service_settings, sessions={"session_health_seconds": 0.2}) as s:
        yield s


@pytest.fixture
def project(tmp_path: Path) -> Project:
    root = tmp_path / "project"
    root.mkdir()
    return Project(root, uuid=PIPELINE)


def launch_body(project: Project, **extra: Any) -> dict[str, Any]:
    return support.launch_body(PROJECT, PIPELINE, project.root, **extra)


async def run_reaches(log: EventLog, run_uuid: str, status: str) -> None:
    await log.wait_for(
        lambda events: any(
            isinstance(e, RunStatusChanged) and e.run_uuid == run_uuid and e.status.value == status
            for e in events
        ),
        what=f"run {status}",
    )


async def session(stack: Stack) -> dict[str, Any]:
    response = await stack.http.get(f"/api/sessions/{PROJECT}/{PIPELINE}")
    assert response.status_code == 200, response.text
    view: dict[str, Any] = response.json()
    return view


async def one_plus_one(view: dict[str, Any]) -> str:
    kernel = await start_kernel(view["jupyter_url"], view["jupyter_token"])
    return await execute(view["jupyter_url"], view["jupyter_token"], kernel, "1 + 1")


async def test_a_session_runs_kernels_through_its_gateway_restarts_and_stops_clean(
    stack: Stack, project: Project
) -> None:
    async with event_log(stack, stack.bus.session_event(PROJECT, PIPELINE)) as log:
        created = await stack.http.post("/api/sessions", json=launch_body(project))
        assert created.status_code == 201, created.text
        assert created.json()["status"] == "LAUNCHING"  # answered at once
        uuid = created.json()["uuid"]

        again = await stack.http.post("/api/sessions", json=launch_body(project))
        assert again.status_code == 409, again.text

        await session_reaches(log, "RUNNING")
        view = await session(stack)
        assert view["uuid"] == uuid and view["status"] == "RUNNING"
        assert view["gateway_url"] and view["jupyter_token"]
        assert await one_plus_one(view) == "2"
        running = marked_anywhere(uuid)
        assert len(running) >= 3  # Enterprise Gateway, the Jupyter server, the kernel

        restarted = await stack.http.put(f"/api/sessions/{PROJECT}/{PIPELINE}")
        assert restarted.status_code == 200, restarted.text
        assert restarted.json()["status"] == "LAUNCHING"
        await session_reaches(log, "RUNNING", times=2)
        view = await session(stack)
        assert not set(running) & set(marked_anywhere(uuid))  # all new processes
        assert await one_plus_one(view) == "2"

        stopped = await stack.http.delete(f"/api/sessions/{PROJECT}/{PIPELINE}")
        assert stopped.status_code == 200, stopped.text
        assert stopped.json()["status"] == "STOPPING"
        events = await session_reaches(log, "STOPPED")
    assert session_statuses(events) == [
        "LAUNCHING",
        "RUNNING",
        "LAUNCHING",
        "RUNNING",
        "STOPPING",
        "STOPPED",
    ]
    assert marked_anywhere(uuid) == []
    assert (await session(stack))["status"] == "STOPPED"
    relaunched = await stack.http.post("/api/sessions", json=launch_body(project))
    assert relaunched.status_code == 201  # a stopped session frees its pipeline
    await stack.http.delete(f"/api/sessions/{PROJECT}/{PIPELINE}")


async def test_stopping_a_session_aborts_its_pipelines_interactive_run(
    stack: Stack, project: Project
) -> None:
    project.step("wait", "wait.sh", "sleep 120\n")  # wait-ok: the step's own work
    async with event_log(stack) as log:
        created = await stack.http.post("/api/sessions", json=launch_body(project))
        assert created.status_code == 201, created.text
        await session_reaches(log, "RUNNING")
        run = await stack.start_run(
            project.body(run_config={"project_dir": str(project.root), "project_uuid": PROJECT})
        )
        await run_reaches(log, run["uuid"], "STARTED")
        await stack.http.delete(f"/api/sessions/{PROJECT}/{PIPELINE}")
        await run_reaches(log, run["uuid"], "ABORTED")
        await session_reaches(log, "STOPPED")


async def test_a_session_whose_processes_die_fails_and_leaves_nothing(
    stack: Stack, project: Project
) -> None:
    async with event_log(stack, stack.bus.session_event(PROJECT, PIPELINE)) as log:
        created = await stack.http.post("/api/sessions", json=launch_body(project))
        uuid = created.json()["uuid"]
        await session_reaches(log, "RUNNING")
        for pid in marked_anywhere(uuid):
            os.kill(pid, signal.SIGKILL)
        events = await session_reaches(log, "FAILED")
    failed = [e for e in events if isinstance(e, SessionStatusChanged)][-1]
    assert failed.reason and "died" in failed.reason
    assert marked_anywhere(uuid) == []
    assert (await session(stack))["status"] == "FAILED"


async def test_a_launch_that_cannot_start_ends_failed_with_the_reason(
    service_settings: Callable[..., Any], project: Project, tmp_path: Path
) -> None:
    blocked = tmp_path / "not-a-dir"
    blocked.write_text("a file where the environments should go")
    async with (
        whole_stack(service_settings, sessions={"venvs_dir": blocked}) as stack,
        event_log(stack, stack.bus.session_event(PROJECT, PIPELINE)) as log,
    ):
        created = await stack.http.post("/api/sessions", json=launch_body(project))
        assert created.status_code == 201, created.text
        events = await session_reaches(log, "FAILED")
        failed = [e for e in events if isinstance(e, SessionStatusChanged)][-1]
        assert failed.reason and str(blocked) in failed.reason  # the cause, named
        assert marked_anywhere(created.json()["uuid"]) == []
        bad = await stack.http.post(
            "/api/sessions",
            json={**launch_body(project), "project_dir": "relative", "runtime": "nope"},
        )
        assert bad.status_code == 422
        assert {e["type"] for e in bad.json()["errors"]} == {
            "runtime_unknown",
            "project_dir_invalid",
        }


async def test_a_session_of_a_known_project_is_launched_by_reference(
    stack: Stack, tmp_path: Path
) -> None:
    root = tmp_path / "registered"
    project = Project(root, uuid=PIPELINE)
    project.step("a", "a.sh", "echo a\n")
    (root / "flows").mkdir()
    (root / "flows" / "main.orchest").write_text(json.dumps(project.definition()))
    made = await stack.http.post("/api/projects", json={"name": "known", "path": str(root)})
    assert made.status_code == 201, made.text
    project_uuid = made.json()["uuid"]

    unknown = await stack.http.post(
        "/api/sessions", json={"project_uuid": PROJECT, "pipeline_uuid": PIPELINE}
    )
    assert unknown.status_code == 404 and "no project" in unknown.text
    subject = stack.bus.session_event(project_uuid, PIPELINE)
    async with event_log(stack, subject) as log:
        launched = await stack.http.post(
            "/api/sessions", json={"project_uuid": project_uuid, "pipeline_uuid": PIPELINE}
        )
        assert launched.status_code == 201, launched.text
        assert launched.json()["project_dir"] == str(root)
        assert launched.json()["pipeline_path"] == "flows/main.orchest"
        await log.wait_for(
            lambda events: "RUNNING" in session_statuses(events), timeout=240, what="RUNNING"
        )
        stopped = await stack.http.delete(f"/api/sessions/{project_uuid}/{PIPELINE}")
        assert stopped.status_code == 200
        await log.wait_for(
            lambda events: "STOPPED" in session_statuses(events), timeout=60, what="STOPPED"
        )


async def test_a_sessions_interactive_services_run_with_it_and_stop_with_it(
    stack: Stack, project: Project
) -> None:
    web, batch = free_port(), free_port()
    project.root.joinpath("index.html").write_text("<h1>served by the session</h1>\n")
    definition = project.definition()
    definition["services"] = {
        "web": {
            "name": "web",
            "image": "python:3.11-slim",
            "command": f"{sys.executable} -m http.server {web} --bind 127.0.0.1",
            "ports": [web],
            "scope": ["interactive", "noninteractive"],
            "env_variables": {"GREETING": "hello"},
        },
        "batch": {
            "name": "batch",
            "image": "python:3.11-slim",
            "command": f"{sys.executable} -m http.server {batch} --bind 127.0.0.1",
            "ports": [batch],
            "scope": ["noninteractive"],
        },
    }
    project.root.joinpath("main.orchest").write_text(json.dumps(definition))
    url = f"http://127.0.0.1:{web}/"
    async with event_log(stack, stack.bus.session_event(PROJECT, PIPELINE)) as log:
        created = await stack.http.post("/api/sessions", json=launch_body(project))
        assert created.status_code == 201, created.text
        await session_reaches(log, "RUNNING")
        view = await session(stack)
        assert view["services"] == [{"name": "web", "urls": [url], "state": "running"}]
        # Started once the servers answer; it listens when it has started.
        assert await eventually(lambda: http_answer(url), timeout=60, what="the service") == 200
        async with httpx.AsyncClient(timeout=5.0) as client:
            assert "served by the session" in (await client.get(f"{url}index.html")).text
        pid = view["details"]["services"][0]["pid"]
        assert pid in marked_anywhere(view["uuid"])  # one of the session's processes
        env = psutil.Process(pid).environ()
        assert env["GREETING"] == "hello"
        assert env["ORCHEST_PROJECT_DIR"] == str(project.root)
        assert not any(name.startswith("ORCHEST_DATABASE") for name in env)  # no settings
        assert await http_answer(f"http://127.0.0.1:{batch}/") is None  # not interactive
        stopped = await stack.http.delete(f"/api/sessions/{PROJECT}/{PIPELINE}")
        assert stopped.status_code == 200, stopped.text
        await session_reaches(log, "STOPPED")
    assert await http_answer(url) is None  # the port is closed
    assert marked_anywhere(view["uuid"]) == []
