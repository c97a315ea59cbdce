"""A docker session end to end: gateway -> session manager -> Enterprise
Gateway and a Jupyter server as containers on the real dockerd -> a kernel in
a container of its own, with the scheduler beside them."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from integration.runs_harness import (
    Stack,
    event_log,
    session_reaches,
    session_statuses,
    whole_stack,
)
from jupyter_harness import execute, start_kernel

from orchest_schemas.events import SessionStatusChanged
from orchest_session_manager.runtime.docker_containers import PIPELINE_LABEL, ROLE_LABEL
from support import launch_body

if TYPE_CHECKING:
    from conftest import Docker, Images

# The first test also waits for images/build.sh: minutes on a first build.
pytestmark = pytest.mark.timeout(2100)

PROJECT = "3c7e1f0a-2b4d-4e6f-8a9c-0d1e2f3a4b5c"


@pytest.fixture
async def stack(service_settings: Callable[..., Any], images: Images) -> AsyncIterator[Stack]:
    sessions = {
        "session_health_seconds": 0.2,
        "docker_gateway_image": images.enterprise_gateway,
        "docker_jupyter_image": images.jupyter_server,
        "docker_kernel_image": images.kernel_python,
    }
    async with whole_stack(service_settings, sessions=sessions) as s:
        yield s


def roles(docker: Docker, pipeline: str) -> list[str]:
    """The roles of the pipeline's containers, whatever their state."""
    listed = docker(
        "ps",
        "--all",
        "--filter",
        f"label={PIPELINE_LABEL}={pipeline}",
        "--format",
        f'{{{{.Label "{ROLE_LABEL}"}}}}',
    )
    return sorted(listed.stdout.split())


async def test_a_docker_session_runs_a_kernel_container_and_stops_clean(
    stack: Stack, docker: Docker, pipeline: str, tmp_path: Path
) -> None:
    project = tmp_path / "project"
    project.mkdir()
    body = launch_body(PROJECT, pipeline, project, runtime="docker")
    async with event_log(stack, stack.bus.session_event(PROJECT, pipeline)) as log:
        started = time.monotonic()
        created = await stack.http.post("/api/sessions", json=body)
        assert created.status_code == 201, created.text
        assert created.json()["status"] == "LAUNCHING"
        await session_reaches(log, "RUNNING")
        print(f"launch to RUNNING through the gateway: {time.monotonic() - started:.2f}s")

        view = (await stack.http.get(f"/api/sessions/{PROJECT}/{pipeline}")).json()
        assert view["runtime"] == "docker" and view["status"] == "RUNNING"
        assert view["jupyter_url"].startswith("http://127.0.0.1:")
        assert set(view["details"]["containers"]) == {"enterprise-gateway", "jupyter-server"}
        kernel = await start_kernel(view["jupyter_url"], view["jupyter_token"])
        assert await execute(view["jupyter_url"], view["jupyter_token"], kernel, "1 + 1") == "2"
        assert roles(docker, pipeline) == ["enterprise-gateway", "jupyter-server", "kernel"]

        stopped = await stack.http.delete(f"/api/sessions/{PROJECT}/{pipeline}")
        assert stopped.status_code == 200, stopped.text
        events = await session_reaches(log, "STOPPED")
    assert session_statuses(events) == ["LAUNCHING", "RUNNING", "STOPPING", "STOPPED"]
    assert roles(docker, pipeline) == []


async def test_a_docker_session_whose_container_dies_fails_and_leaves_nothing(
    stack: Stack, docker: Docker, pipeline: str, tmp_path: Path
) -> None:
    body = launch_body(PROJECT, pipeline, tmp_path, runtime="docker")
    async with event_log(stack, stack.bus.session_event(PROJECT, pipeline)) as log:
        created = await stack.http.post("/api/sessions", json=body)
        assert created.status_code == 201, created.text
        await session_reaches(log, "RUNNING")
        view = (await stack.http.get(f"/api/sessions/{PROJECT}/{pipeline}")).json()
        jupyter = view["details"]["containers"]["jupyter-server"]["id"]
        assert docker("kill", jupyter).returncode == 0
        events = await session_reaches(log, "FAILED")
    failed = [e for e in events if isinstance(e, SessionStatusChanged)][-1]
    assert failed.reason and "died" in failed.reason
    assert roles(docker, pipeline) == []
