"""Sessions on the embedded stack: a session manager killed (kill -9) in the
middle of a launch, then restarted by the supervisor, leaves no orphan; and
``orchest down`` leaves no session process behind."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from e2e_stack import Stack, kill_manager_mid_launch
from jupyter_harness import execute, marked_anywhere, start_kernel

from support import launch_body

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

PROJECT = "5d9a0c1e-3b7f-4e2a-8c6d-1f0e9b8a7c6d"
PIPELINE = "0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9"


async def test_a_manager_killed_during_a_launch_leaves_no_orphan(
    stack: Stack, workdir: Path
) -> None:
    project = workdir / "project"
    project.mkdir()
    body = launch_body(PROJECT, PIPELINE, project)
    stack.up()
    async with httpx.AsyncClient(base_url=stack.url, timeout=30.0) as http:
        uuid, view = await kill_manager_mid_launch(http, body, marked_anywhere)
        kernel = await start_kernel(view["jupyter_url"], view["jupyter_token"])
        assert await execute(view["jupyter_url"], view["jupyter_token"], kernel, "1 + 1") == "2"
        live = view["uuid"]
        assert marked_anywhere(live)
    stack.down()
    assert marked_anywhere(live) == []
    assert marked_anywhere(uuid) == []
