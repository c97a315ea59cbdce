"""The whole stack started by the ``orchest`` command, for end-to-end tests
(a module of its own name: test folders' ``conftest`` modules share one)."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from orchest_cli.statedir import StateDir
from support import ENV_WITHOUT_ORCHEST, free_port


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
