"""The whole stack started by the ``orchest`` command, for end-to-end tests
(a module of its own name: test folders' ``conftest`` modules share one)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from orchest_cli.statedir import StateDir
from orchest_schemas.health import HealthReport
from support import ENV_WITHOUT_ORCHEST, eventually, free_port


@dataclass
class Stack:
    state_dir: Path
    port: int
    env: dict[str, str]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def state(self) -> StateDir:
        return StateDir(self.state_dir)

    def orchest(self, *args: str, timeout: float = 120.0) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "orchest_cli", *args, "--state-dir", str(self.state_dir)],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def up(self) -> subprocess.CompletedProcess[str]:
        result = self.orchest("up", "--port", str(self.port))
        assert result.returncode == 0, result.stdout + result.stderr + self.logs()
        return result

    def down(self) -> subprocess.CompletedProcess[str]:
        result = self.orchest("down")
        assert result.returncode == 0, result.stdout + result.stderr
        return result

    def stack_file(self) -> dict[str, Any]:
        data = self.state.read_stack()
        assert data is not None, "no run/stack.json"
        return data

    async def health(self) -> httpx.Response:
        async with httpx.AsyncClient(timeout=5.0) as client:
            return await client.get(f"{self.url}/api/health")

    def logs(self) -> str:
        out = []
        for path in sorted(self.state.logs.glob("*.log")):
            out.append(f"--- {path.name}\n" + "\n".join(path.read_text().splitlines()[-15:]))
        return "\n".join(out)


def make_stack(workdir: Path, **env: str) -> Stack:
    """A stack on ``workdir``; ``orchest up`` remembers it in ``workdir/config``
    (``ORCHEST_CONFIG_DIR``), not in the user's own configuration."""
    config = {"ORCHEST_CONFIG_DIR": str(workdir / "config")}
    return Stack(
        state_dir=workdir / "state",
        port=free_port(),
        env=dict(ENV_WITHOUT_ORCHEST, **config, **env),
    )


async def manager_pid(http: httpx.AsyncClient) -> int | None:
    """The session manager's process, as the health report names it."""
    report = HealthReport.model_validate_json((await http.get("/api/health")).content)
    instances = next(s for s in report.services if s.name == "session-manager").instances
    return instances[0].pid if instances else None


async def kill_manager_mid_launch(
    http: httpx.AsyncClient, body: dict[str, Any], leftovers: Callable[[str], list[Any]]
) -> tuple[str, dict[str, Any]]:
    """Launch the session of ``body``, kill -9 the session manager once
    ``leftovers`` (what a session's launch leaves: processes, containers) finds
    the launch under way, await the supervisor's new manager, and return the
    killed launch's session uuid and the view of a running session: the same
    one, or (the usual case: the launch was cut short, failed as interrupted,
    nothing of it left) a new launch."""
    session = f"/api/sessions/{body['project_uuid']}/{body['pipeline_uuid']}"
    first_pid = await manager_pid(http)
    assert first_pid is not None
    created = await http.post("/api/sessions", json=body)
    assert created.status_code == 201, created.text
    uuid: str = created.json()["uuid"]

    async def launching() -> list[Any] | None:  # its first process or container exists
        return leftovers(uuid) or None

    await eventually(launching, timeout=120, what="the launch under way")
    os.kill(first_pid, signal.SIGKILL)

    async def settled() -> dict[str, Any] | None:
        pid = await manager_pid(http)
        view: dict[str, Any] = (await http.get(session)).json()
        fresh = pid is not None and pid != first_pid
        return view if fresh and view["status"] in ("FAILED", "RUNNING") else None

    view = await eventually(settled, timeout=60, what="a new manager reconciled")
    if view["status"] == "FAILED":
        assert "interrupted" in view["reason"]
        assert leftovers(uuid) == []
        await http.post("/api/sessions", json=body)

        async def running() -> dict[str, Any] | None:
            current: dict[str, Any] = (await http.get(session)).json()
            return current if current["status"] == "RUNNING" else None

        view = await eventually(running, timeout=120, what="a new session running")
    return uuid, view
