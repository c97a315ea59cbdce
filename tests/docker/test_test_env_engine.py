"""``scripts/test-env.sh`` where a Docker engine answers (as this tier
needs): it installs nothing, starts no second dockerd, runs the command and
keeps its exit status."""

from __future__ import annotations

import subprocess
from typing import TYPE_CHECKING

from support import REPO_ROOT

if TYPE_CHECKING:
    from conftest import Docker

SCRIPT = REPO_ROOT / "scripts" / "test-env.sh"


def test_a_running_engine_is_used_as_it_is(docker: Docker) -> None:
    check = subprocess.run([str(SCRIPT), "--check"], capture_output=True, text=True, timeout=60)
    assert check.returncode == 0 and "ready" in check.stderr, check.stderr
    result = subprocess.run(
        [str(SCRIPT), "bash", "-c", "docker info >/dev/null && exit 7"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 7, result.stderr
    assert "started dockerd" not in result.stderr
    assert "installing" not in result.stderr
