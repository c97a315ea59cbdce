"""Docker sessions on the embedded stack: a session manager killed (kill -9)
in the middle of a docker launch, then restarted by the supervisor, leaves
no container behind; ``orchest down`` leaves none either."""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from e2e_stack import make_stack
from jupyter_harness import execute, start_kernel

from orchest_schemas.health import HealthReport
from support import eventually

if TYPE_CHECKING:
    from conftest import Docker, Images

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(2100)]  # a first image build: minutes

PROJECT = "6e1d2c3b-4a59-4687-9a8b-7c6d5e4f3a2b"
PIPELINE = "1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d"
SESSION = f"/api/sessions/{PROJECT}/{PIPELINE}"


def containers_of(docker: Docker, session_uuid: str) -> list[str]:
    listed = docker(
        "ps",
        "-a",
        "--filter",
        "label=orchest.session",
        "--format",
        '{{.ID}} {{.Label "orchest.session"}}',
    )
    assert listed.returncode == 0, listed.stderr
    return [
        line.split()[0]
        for line in listed.stdout.splitlines()
        if line.strip().endswith(f":{session_uuid}")
    ]


async def manager_pid(http: httpx.AsyncClient) -> int | None:
    report = HealthReport.model_validate_json((await http.get("/api/health")).content)
    instances = next(s for s in report.services if s.name == "session-manager").instances
    return instances[0].pid if instances else None


async def test_a_manager_killed_during_a_docker_launch_leaves_no_container(
    docker: Docker, images: Images, workdir: Path
) -> None:
    project = workdir / "project"
    project.mkdir()
    body = {
        "project_uuid": PROJECT,
        "pipeline_uuid": PIPELINE,
        "project_dir": str(project),
        "pipeline_path": "main.orchest",
        "runtime": "docker",
    }
    stack = make_stack(workdir)
    try:
        stack.up()
        async with httpx.AsyncClient(base_url=stack.url, timeout=30.0) as http:
            first_pid = await manager_pid(http)
            assert first_pid is not None
            created = await http.post("/api/sessions", json=body)
            assert created.status_code == 201, created.text
            uuid = created.json()["uuid"]

            async def launching() -> list[str] | None:  # its first container exists
                return containers_of(docker, uuid) or None

            await eventually(launching, timeout=120, what="the launch under way")
            os.kill(first_pid, signal.SIGKILL)

            async def settled() -> dict[str, Any] | None:
                pid = await manager_pid(http)
                view: dict[str, Any] = (await http.get(SESSION)).json()
                fresh = pid is not None and pid != first_pid
                return view if fresh and view["status"] in ("FAILED", "RUNNING") else None

            view = await eventually(settled, timeout=60, what="a new manager reconciled")
            if view["status"] == "FAILED":  # the usual case: the launch was cut short
                assert "interrupted" in view["reason"]
                assert containers_of(docker, uuid) == []
                view = (await http.post("/api/sessions", json=body)).json()

                async def running() -> dict[str, Any] | None:
                    current: dict[str, Any] = (await http.get(SESSION)).json()
                    return current if current["status"] == "RUNNING" else None

                view = await eventually(running, timeout=120, what="a new session running")
            kernel = await start_kernel(view["jupyter_url"], view["jupyter_token"])
            result = await execute(view["jupyter_url"], view["jupyter_token"], kernel, "1 + 1")
            assert result == "2"
            live = view["uuid"]
            assert len(containers_of(docker, live)) >= 3  # EG, the Jupyter server, the kernel
        stack.down()
        assert containers_of(docker, live) == []
        assert containers_of(docker, uuid) == []
    finally:
        stack.orchest("down")
