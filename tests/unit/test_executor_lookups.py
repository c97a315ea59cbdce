"""What the process executor looks up once rather than per step: a step
program's place on a ``PATH`` (``process._which``) and whether ``/proc``
is this process's pid namespace (``pid_window._same_namespace``)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from orchest_step_runner.executor import pid_window, process


def _program(folder: Path, name: str) -> Path:
    folder.mkdir(exist_ok=True)
    program = folder / name
    program.write_text("#!/bin/sh\n")
    program.chmod(0o755)
    return program


def test_a_program_found_is_taken_as_found_for_a_while(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = f"orchest-test-{os.getpid()}-found"
    program = _program(tmp_path / "bin", name)
    path = str(tmp_path / "bin")
    assert process._which(name, path) == str(program)
    program.unlink()  # not looked for again within WHICH_SECONDS
    assert process._which(name, path) == str(program)
    monkeypatch.setattr(process, "WHICH_SECONDS", 0.0)
    assert process._which(name, path) is None  # looked for again after


def test_a_missing_program_is_found_as_soon_as_it_is_there(tmp_path: Path) -> None:
    name = f"orchest-test-{os.getpid()}-missing"
    path = str(tmp_path / "bin")
    assert process._which(name, path) is None
    program = _program(tmp_path / "bin", name)
    assert process._which(name, path) == str(program)


def test_the_pid_namespace_is_looked_at_once_per_process(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pid_window, "_SAME_NAMESPACE", {})
    first = pid_window._same_namespace()

    def fails(path: object) -> str:
        raise AssertionError("looked at again")

    monkeypatch.setattr(os, "readlink", fails)
    assert pid_window._same_namespace() == first
