"""Helpers of the environments tests (``tests/integration/test_environments.py``,
``tests/docker/test_docker_environments.py``): an environment made, its build
awaited on its events, its log read, a step run in it."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

from integration.runs_harness import Project

from orchest_schemas.events import ANY_EVENT, EnvironmentBuildChanged

Stack = Any
"""``runs_harness.Stack`` (imported as the test's own module)."""

PACKAGE = "pyjokes==0.8.3"
"""A small pure-Python package from PyPI, not in the stack's own environment."""


async def new_project(stack: Stack, name: str = "envs") -> dict[str, Any]:
    response = await stack.http.post("/api/projects", json={"name": name})
    assert response.status_code == 201, response.text
    made: dict[str, Any] = response.json()
    return made


async def create_env(stack: Stack, project: str, **body: Any) -> dict[str, Any]:
    response = await stack.http.post(f"/api/projects/{project}/environments", json=body)
    assert response.status_code == 201, response.text
    made: dict[str, Any] = response.json()
    return made


async def build_end(
    stack: Stack, project: str, env: str, build: str, timeout: float = 240
) -> dict[str, Any]:
    """The build once it ended, awaited on its events (the stored ones too)."""
    js = stack.nc.jetstream()
    ended: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    async def on_msg(msg: Any) -> None:
        event = ANY_EVENT.validate_json(msg.data)
        if (
            isinstance(event, EnvironmentBuildChanged)
            and event.build_uuid == build
            and event.status.is_final
            and not ended.done()
        ):
            ended.set_result(None)

    sub = await js.subscribe(stack.bus.environment_events(env), cb=on_msg, ordered_consumer=True)
    try:
        await asyncio.wait_for(ended, timeout)
    finally:
        await sub.unsubscribe()
    got = await stack.http.get(f"/api/projects/{project}/environments/{env}/builds/{build}")
    assert got.status_code == 200, got.text
    answer: dict[str, Any] = got.json()
    return answer


async def log_of(stack: Stack, project: str, env: str, build: str) -> str:
    url = f"/api/projects/{project}/environments/{env}/builds/{build}/logs"
    response = await stack.http.get(url)
    assert response.status_code == 200, response.text
    return response.text


async def run_step(
    stack: Stack, folder: Path, env: str, file: str, code: str | None
) -> dict[str, Any]:
    project = Project(folder)
    project.step("s", file, code, environment=env)
    run = await stack.start_run(
        {
            "pipeline_definition": project.definition(),
            "run_config": {"project_dir": str(folder), "project_uuid": project_uuid_of(folder)},
        }
    )
    await stack.events(run["uuid"])
    step = await stack.http.get(f"/api/runs/{run['uuid']}/steps/s")
    logs = await stack.http.get(f"/api/runs/{run['uuid']}/steps/s/logs")
    return {**step.json(), "log": logs.text}


def project_uuid_of(folder: Path) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, folder.resolve().as_uri()))


def alive(pid: int) -> bool:
    """The process runs (a zombie waiting for its parent does not)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


async def session_kernel_runs(
    stack: Stack, project: dict[str, Any], env: str, runtime: str, code: str
) -> str:
    """Launch a session of the project (``runtime``), start the kernel of
    ``env`` in it, run ``code``; its result's text. The session is stopped after."""
    from jupyter_harness import execute, start_kernel

    from support import eventually, launch_body

    pipeline = str(uuid.uuid4())
    body = launch_body(project["uuid"], pipeline, project["path"], runtime=runtime)
    launched = await stack.http.post("/api/sessions", json=body)
    assert launched.status_code in (200, 201, 202), launched.text
    url = f"/api/sessions/{project['uuid']}/{pipeline}"

    async def running() -> dict[str, Any] | None:
        view: dict[str, Any] = (await stack.http.get(url)).json()
        assert view["status"] != "FAILED", view
        return view if view["status"] == "RUNNING" else None

    try:
        view = await eventually(running, timeout=300, what="the session running")
        jupyter, token = view["jupyter_url"], view["jupyter_token"]
        kernel = await start_kernel(jupyter, token, name=f"orchest-kernel-{env}")
        return await execute(jupyter, token, kernel, code)
    finally:
        await stack.http.delete(url)
