"""Docker sessions on the embedded stack: a session manager killed (kill -9)
in the middle of a docker launch, then restarted by the supervisor, leaves
no container behind; ``orchest down`` leaves none either."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest
from e2e_stack import kill_manager_mid_launch, make_stack
from jupyter_harness import execute, start_kernel

from support import launch_body

if TYPE_CHECKING:
    from conftest import Docker, Images

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(2100)]  # a first image build: minutes

PROJECT = "6e1d2c3b-4a59-4687-9a8b-7c6d5e4f3a2b"
PIPELINE = "1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d"


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


async def test_a_manager_killed_during_a_docker_launch_leaves_no_container(
    docker: Docker, images: Images, workdir: Path
) -> None:
    project = workdir / "project"
    project.mkdir()
    body = launch_body(PROJECT, PIPELINE, project, runtime="docker")
    stack = make_stack(workdir)
    try:
        stack.up()
        async with httpx.AsyncClient(base_url=stack.url, timeout=30.0) as http:
            uuid, view = await kill_manager_mid_launch(
                http, body, lambda session: containers_of(docker, session)
            )
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
