"""The process executor's cases that a step's start could change, with each
step started inside its view by the runner's own thread
(``executor/entering.py``, no ``nsenter``): exit codes, a timeout and an
abort killing the whole tree, the call cancelled, a daemon left behind."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from test_process_executor import (  # the executor's cases, run here in a view
    project,  # noqa: F401 (a fixture of those tests)
    test_a_daemon_left_behind_ends_with_the_step,  # noqa: F401
    test_cancel_kills_the_whole_tree,  # noqa: F401
    test_cancelling_the_call_kills_the_tree,  # noqa: F401
    test_python_step_fails_with_its_exit_code,  # noqa: F401
    test_shell_step,  # noqa: F401
    test_timeout_kills_the_whole_tree,  # noqa: F401
)

from orchest_step_runner.executor import ProcessExecutor
from orchest_step_runner.executor.isolation import Isolation, open_isolation

pytestmark = pytest.mark.skipif(os.getuid() != 0, reason="steps start directly only as root")


@pytest.fixture
async def isolation(tmp_path: Path) -> AsyncIterator[Isolation]:
    async with open_isolation("namespace", tmp_path / "data") as chosen:
        yield chosen


def without_nsenter(isolation: Isolation) -> Isolation:
    """``isolation`` starting each step in its view directly: ``nsenter`` is
    made unusable, so a step started through it fails."""
    assert isolation.direct and isolation.holder is not None
    isolation.holder._nsenter = "/nonexistent/nsenter"
    return isolation


@pytest.fixture
def executor(isolation: Isolation) -> ProcessExecutor:
    """Each step in its view, started directly."""
    base_env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    return ProcessExecutor(
        kill_grace_seconds=1.0, base_env=base_env, isolation=without_nsenter(isolation)
    )
