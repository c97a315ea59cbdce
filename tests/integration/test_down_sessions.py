"""``orchest down`` ends what the stack's process sessions left running.

A session's processes are detached (they outlive a restart of the session
manager) and found by the marker in their environment; the session manager
stops them as it stops, but one that did not get through its stop (killed,
or past its drain timeout on a loaded machine) leaves them running, writing
under the state directory after ``orchest down`` returned.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from orchest_cli import stack as stack_module
from orchest_cli.stack import down
from orchest_cli.statedir import StateDir
from orchest_cli.supervisor import _sessions_record
from orchest_schemas.session_marks import MARKER_VARIABLE, owner_key

SESSION = "0b5e3c1e-6a3f-4d8e-9a51-0d1c2b3a4f50"


@pytest.fixture
def started() -> Iterator[list[subprocess.Popen[bytes]]]:
    processes: list[subprocess.Popen[bytes]] = []
    yield processes
    for process in processes:
        if process.poll() is None:
            process.kill()
            process.wait()


def _marked(sessions_dir: Path, script: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, MARKER_VARIABLE: f"{owner_key(sessions_dir)}:{SESSION}"}
    return subprocess.Popen(
        ["bash", "-c", script], env=env, start_new_session=True, stdout=subprocess.PIPE
    )


def test_down_ends_the_sessions_processes_and_their_children_only(
    tmp_path: Path, started: list[subprocess.Popen[bytes]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(stack_module, "SESSION_STOP_GRACE", 0.5)
    state = StateDir(tmp_path / "state")
    state.prepare()
    # A session's server, and a child of it that cleared its environment.
    server = _marked(state.sessions, "env -u ORCHEST_SESSION sleep 300 & echo $!; wait")
    # One that ignores SIGTERM: killed after the grace.
    stubborn = _marked(state.sessions, "trap '' TERM; sleep 300 & wait")
    # Another stack's session (another sessions directory): left alone.
    other = _marked(tmp_path / "other" / "sessions", "sleep 300")
    started += [server, stubborn, other]
    assert server.stdout is not None
    child = psutil.Process(int(server.stdout.readline()))  # once it runs

    ended = down(state)

    assert {server.pid, stubborn.pid, child.pid} <= set(ended)
    assert server.wait(timeout=10) is not None and stubborn.wait(timeout=10) is not None
    assert not child.is_running() or child.status() == psutil.STATUS_ZOMBIE
    assert other.poll() is None
    assert other.pid not in ended


def test_down_keeps_them_when_the_stack_keeps_its_sessions(
    tmp_path: Path, started: list[subprocess.Popen[bytes]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ORCHEST_SESSION_STOP_ON_EXIT", "false")
    monkeypatch.setenv("ORCHEST_SESSIONS_DIR", str(tmp_path / "elsewhere"))
    state = StateDir(tmp_path / "state")
    state.prepare()
    record = _sessions_record(state)
    assert record == {"dir": str(tmp_path / "elsewhere"), "stop_on_exit": False}
    state.write_stack({"processes": {}, "sessions": record})
    kept = _marked(tmp_path / "elsewhere", "sleep 300")
    started.append(kept)

    assert down(state) == []
    assert kept.poll() is None


def test_the_stack_records_where_its_sessions_are(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ORCHEST_SESSION_STOP_ON_EXIT", raising=False)
    monkeypatch.delenv("ORCHEST_SESSIONS_DIR", raising=False)
    state = StateDir(tmp_path / "state")
    assert _sessions_record(state) == {"dir": str(state.sessions), "stop_on_exit": True}
