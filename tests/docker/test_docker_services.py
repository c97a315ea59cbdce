"""A docker session's user services end to end: gateway -> session manager ->
each interactive service a container of its image on the real dockerd,
beside the session's servers, gone with them."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any
from uuid import uuid4

import httpx
import pytest
from integration.runs_harness import Stack, event_log, session_reaches, whole_stack
from test_docker_sessions import roles

from orchest_session_manager.runtime.base import SessionSpec
from orchest_session_manager.runtime.docker import DockerRuntime
from orchest_session_manager.runtime.docker_containers import OWNER_LABEL, DockerImages
from orchest_session_manager.runtime.services import ServiceSpec
from support import eventually, free_port, http_answer, launch_body

if TYPE_CHECKING:
    from conftest import Docker, Images

# The first test also waits for images/build.sh: minutes on a first build.
pytestmark = pytest.mark.timeout(2100)

PROJECT = "7b2e9d14-5c3a-4f8e-9b1d-6a0c4e2f8d31"
MISSING_IMAGE = "orchest/no-such-image:never-built"


@pytest.fixture
async def stack(
    service_settings: Callable[..., Any], images: Images, tmp_path: Path
) -> AsyncIterator[Stack]:
    sessions = {
        "session_health_seconds": 0.2,
        "docker_gateway_image": images.enterprise_gateway,
        "docker_jupyter_image": images.jupyter_server,
        "docker_kernel_image": images.kernel_python,
        "data_dir": str(tmp_path / "data"),
    }
    async with whole_stack(service_settings, sessions=sessions) as s:
        yield s


def inspect(docker: Docker, container: str) -> dict[str, Any]:
    inspected = docker("inspect", container)
    assert inspected.returncode == 0, inspected.stderr
    found: dict[str, Any] = json.loads(inspected.stdout)[0]
    return found


async def test_a_docker_sessions_services_run_as_containers_and_go_with_it(
    stack: Stack, docker: Docker, images: Images, pipeline: str, tmp_path: Path
) -> None:
    project = tmp_path / "project"
    project.mkdir()
    project.joinpath("index.html").write_text("<h1>served by the session</h1>\n")
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "numbers.csv").write_text("1,2,3\n")
    port = free_port()
    definition = {
        "uuid": pipeline,
        "name": "services",
        "steps": {},
        "services": {
            "web": {
                "name": "web",
                "image": images.jupyter_server,
                "entrypoint": "python",
                "command": f"-m http.server {port} --bind 127.0.0.1",
                "args": "--directory /srv",
                "binds": {"/project-dir": "/srv/project", "/data": "/srv/data"},
                "ports": [port],
                "scope": ["interactive"],
                "env_variables": {"GREETING": "hello"},
                "order": 1,
            },
            "missing": {
                "name": "missing",
                "image": MISSING_IMAGE,
                "command": "true",
                "scope": ["interactive"],
                "order": 2,
            },
        },
    }
    project.joinpath("main.orchest").write_text(json.dumps(definition))
    body = launch_body(PROJECT, pipeline, project, runtime="docker")
    url = f"http://127.0.0.1:{port}/"
    async with event_log(stack, stack.bus.session_event(PROJECT, pipeline)) as log:
        created = await stack.http.post("/api/sessions", json=body)
        assert created.status_code == 201, created.text
        await session_reaches(log, "RUNNING")
        view = (await stack.http.get(f"/api/sessions/{PROJECT}/{pipeline}")).json()
        assert view["status"] == "RUNNING"
        assert view["services"] == [
            {"name": "web", "urls": [url], "state": "running"},
            {
                "name": "missing",
                "urls": [],
                "state": f"not started: image {MISSING_IMAGE} not found locally",
            },
        ]
        # Started once the servers answer; it listens when it has started.
        assert await eventually(lambda: http_answer(url), timeout=60, what="the service") == 200
        async with httpx.AsyncClient(timeout=5.0) as client:
            page = await client.get(f"{url}project/index.html")
            assert "served by the session" in page.text
            assert (await client.get(f"{url}data/numbers.csv")).text == "1,2,3\n"
        container = view["details"]["services"][0]["container"]["id"]
        config = inspect(docker, container)
        env = dict(item.split("=", 1) for item in config["Config"]["Env"])
        assert env["GREETING"] == "hello"
        assert env["ORCHEST_PROJECT_DIR"] == "/srv/project"
        assert env["ORCHEST_PIPELINE_UUID"] == pipeline
        assert not any(name.startswith("ORCHEST_DATABASE") for name in env)  # no settings
        assert config["HostConfig"]["NetworkMode"] == "host"
        assert config["HostConfig"]["CapDrop"] == ["ALL"]
        assert roles(docker, pipeline) == ["enterprise-gateway", "jupyter-server", "service:web"]

        # A restart ends the service's container with the servers and starts it again.
        restarted = await stack.http.put(f"/api/sessions/{PROJECT}/{pipeline}")
        assert restarted.status_code == 200, restarted.text
        await session_reaches(log, "RUNNING", times=2)
        again = (await stack.http.get(f"/api/sessions/{PROJECT}/{pipeline}")).json()
        assert again["services"] == view["services"]
        assert again["details"]["services"][0]["container"]["id"] != container
        assert await eventually(lambda: http_answer(url), timeout=60, what="the service") == 200
        assert roles(docker, pipeline) == ["enterprise-gateway", "jupyter-server", "service:web"]

        stopped = await stack.http.delete(f"/api/sessions/{PROJECT}/{pipeline}")
        assert stopped.status_code == 200, stopped.text
        await session_reaches(log, "STOPPED")
    assert await http_answer(url) is None  # the port is closed
    assert roles(docker, pipeline) == []  # the service's container too


async def test_a_new_runtime_finds_a_services_container_and_stops_it(
    docker: Docker, images: Images, tmp_path: Path
) -> None:
    """As after a restart of the session manager (the reconciliation and its
    orphan sweep): another instance with the same owner lists the service's
    container among the session's and its stop removes it. A service that
    exits at once, and one whose command does not split, say so."""
    owner = f"test-{uuid4().hex[:12]}"
    images_of_runtime = DockerImages(
        enterprise_gateway=images.enterprise_gateway,
        jupyter_server=images.jupyter_server,
        kernel=images.kernel_python,
    )
    runtime = DockerRuntime(
        tmp_path / "sessions", owner=owner, images=images_of_runtime, launch_timeout=120
    )
    port = free_port()
    spec = SessionSpec(
        session_uuid=str(uuid4()),
        project_uuid=PROJECT,
        pipeline_uuid=str(uuid4()),
        project_dir=str(tmp_path),
        pipeline_path="main.orchest",
        services=(
            ServiceSpec(
                name="web",
                image=images.kernel_python,
                command_line="",
                command=f"python -m http.server {port} --bind 127.0.0.1",
                ports=(port,),
            ),
            ServiceSpec(name="quits", image=images.kernel_python, command_line="", command="true"),
            ServiceSpec(
                name="unquoted", image=images.kernel_python, command_line="", command="sh -c 'x"
            ),
        ),
    )
    try:
        endpoints = await runtime.launch(spec)
        states = {s["name"]: s["state"] for s in endpoints.details["services"]}
        assert states["web"] == "running"
        assert states["quits"] in {"running", "exited"}  # it may not have ended yet
        assert states["unquoted"] == "not started: No closing quotation"
        url = f"http://127.0.0.1:{port}/"
        assert await eventually(lambda: http_answer(url), timeout=60, what="the service") == 200

        restarted = DockerRuntime(runtime.sessions_dir, owner=owner, images=images_of_runtime)
        owned = sorted(o.role for o in await restarted.owned())
        assert owned == ["enterprise-gateway", "jupyter-server", "service:quits", "service:web"]
        await restarted.stop(spec.session_uuid)
        assert await restarted.owned() == []
        assert await http_answer(url) is None
    finally:
        ids = docker("ps", "--all", "--quiet", "--filter", f"label={OWNER_LABEL}={owner}")
        if ids.stdout.split():
            docker("rm", "--force", "--volumes", *ids.stdout.split())
