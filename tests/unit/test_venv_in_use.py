"""What keeps a build's folder from being removed (``builders/in_use.py``),
read from the real ``/proc`` of real processes: each way a process may use a
venv, a live session's kernelspec naming it, and what does not count."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from orchest_session_manager.builders.in_use import users
from orchest_session_manager.runtime.process import session_kernelspecs

WAIT = "import sys; sys.stdout.write('up\\n'); sys.stdout.flush(); sys.stdin.read()"
"""Says it runs, then waits for its stdin to close."""


@pytest.fixture
def folders(tmp_path: Path) -> tuple[Path, Path]:
    """Two build folders whose names share a prefix (one must not count for the other)."""
    one, other = tmp_path / "build", tmp_path / "build-2"
    for folder in (one, other):
        (folder / "venv" / "bin").mkdir(parents=True)
    return one, other


@pytest.fixture
def started() -> Iterator[list[subprocess.Popen[bytes]]]:
    processes: list[subprocess.Popen[bytes]] = []
    yield processes
    for process in processes:
        assert process.stdin is not None
        process.stdin.close()
        process.wait(10)


def run(
    started: list[subprocess.Popen[bytes]],
    code: str = WAIT,
    python: str = sys.executable,
    **kwargs: object,
) -> int:
    process = subprocess.Popen(
        [python, "-c", code],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        **kwargs,  # type: ignore[call-overload]
    )
    started.append(process)
    assert process.stdout is not None
    assert process.stdout.readline() == b"up\n"
    return process.pid


def test_nothing_uses_them_at_first(folders: tuple[Path, Path]) -> None:
    assert users(list(folders)) == {}


def test_a_process_working_in_the_folder(
    folders: tuple[Path, Path], started: list[subprocess.Popen[bytes]]
) -> None:
    one, other = folders
    pid = run(started, cwd=other / "venv")
    assert users([one, other]) == {other: f"process {pid}"}


def test_a_process_holding_a_file_of_it_open(
    folders: tuple[Path, Path], started: list[subprocess.Popen[bytes]]
) -> None:
    one, _ = folders
    held = one / "venv" / "held.txt"
    held.write_text("x")
    pid = run(started, f"f = open({str(held)!r}); " + WAIT)
    assert users(list(folders)) == {one: f"process {pid}"}


def test_a_process_started_by_its_interpreter_or_inside_it(
    folders: tuple[Path, Path], started: list[subprocess.Popen[bytes]]
) -> None:
    """A venv's python is a symlink to the base interpreter: the path it was
    started by tells, as does ``VIRTUAL_ENV`` (a child of a step, a shell)."""
    one, other = folders
    python = one / "venv" / "bin" / "python"
    python.symlink_to(sys.executable)
    by_path = run(started, python=str(python))
    got = users([one])
    assert got == {one: f"process {by_path}"}, got
    inside = run(started, env={**os.environ, "VIRTUAL_ENV": str(other / "venv")})
    assert users([other]) == {other: f"process {inside}"}


def test_a_live_sessions_kernelspec_naming_its_python(
    folders: tuple[Path, Path], tmp_path: Path
) -> None:
    one, other = folders
    kernel = tmp_path / "sessions" / "s1" / "jupyter" / "kernels" / "orchest-kernel-e"
    kernel.mkdir(parents=True)
    argv = [str(other / "venv" / "bin" / "python"), "-m", "ipykernel_launcher"]
    (kernel / "kernel.json").write_text(json.dumps({"argv": argv}))
    specs = session_kernelspecs(tmp_path / "sessions")
    assert specs == [kernel / "kernel.json"]
    assert users([one, other], specs) == {other: f"the kernelspec {specs[0]}"}
