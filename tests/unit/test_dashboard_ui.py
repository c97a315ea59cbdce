"""The dashboard's own checks, run by ``make test``: its unit tests (Vitest:
events applied to runs, jobs and sessions, out of order and twice; the
partial-run selection rules; ANSI colours) and the API types it was built
with, which must be what the gateway's OpenAPI document says now.

Needs ``make install`` (``npm ci`` in ``ui/``) and node.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

from support import REPO_ROOT

UI = REPO_ROOT / "ui"


def npm_run(*args: str) -> subprocess.CompletedProcess[str]:
    node = shutil.which("node")
    assert node, "the dashboard's tests need node (Node 20)"
    assert (UI / "node_modules").is_dir(), "run make install (npm ci in ui/)"
    return subprocess.run(
        [node, *args],
        cwd=UI,
        env={**os.environ, "PYTHON": sys.executable, "CI": "true"},
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_vitest_unit_tests_pass() -> None:
    result = npm_run("node_modules/vitest/vitest.mjs", "run")
    assert result.returncode == 0, result.stdout + result.stderr
    assert " passed" in result.stdout


def test_api_types_match_the_gateway_document() -> None:
    result = npm_run("scripts/gen-api.mjs", "--check")
    assert result.returncode == 0, result.stdout + result.stderr
