"""Sessions on the embedded stack: a session manager killed (kill -9) in the
middle of a launch, then restarted by the supervisor, leaves no orphan; and
``orchest down`` leaves no session process behind."""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

import httpx
import pytest
from e2e_stack import Stack
from jupyter_harness import execute, marked_anywhere, start_kernel

from orchest_schemas.health import HealthReport
from support import eventually

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

PROJECT = "5d9a0c1e-3b7f-4e2a-8c6d-1f0e9b8a7c6d"
PIPELINE = "0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9"
SESSION = f"/api/sessions/{PROJECT}/{PIPELINE}"


async def manager_pid(http: httpx.AsyncClient) -> int | None:
    report = HealthReport.model_validate_json((await http.get("/api/health")).content)
    instances = next(s for s in report.services if s.name == "session-manager").instances
    return instances[0].pid if instances else None


async def test_a_manager_killed_during_a_launch_leaves_no_orphan(
    stack: Stack, workdir: Path
) -> None:
    project = workdir / "project"
    project.mkdir()
    body = {
        "project_uuid": PROJECT,
        "pipeline_uuid": PIPELINE,
        "project_dir": str(project),
        "pipeline_path": "main.orchest",
    }
    stack.up()
    async with httpx.AsyncClient(base_url=stack.url, timeout=30.0) as http:
        first_pid = await manager_pid(http)
        assert first_pid is not None
        created = (await http.post("/api/sessions", json=body)).json()
        uuid = created["uuid"]

        async def launching() -> list[int] | None:  # its first process is up
            return marked_anywhere(uuid) or None

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
            assert marked_anywhere(uuid) == []
            view = (await http.post("/api/sessions", json=body)).json()

            async def running() -> dict[str, Any] | None:
                current: dict[str, Any] = (await http.get(SESSION)).json()
                return current if current["status"] == "RUNNING" else None

            view = await eventually(running, timeout=120, what="a new session running")
        kernel = await start_kernel(view["jupyter_url"], view["jupyter_token"])
        assert await execute(view["jupyter_url"], view["jupyter_token"], kernel, "1 + 1") == "2"
        live = view["uuid"]
        assert marked_anywhere(live)
    stack.down()
    assert marked_anywhere(live) == []
    assert marked_anywhere(uuid) == []
