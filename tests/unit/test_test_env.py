"""``scripts/test-env.sh``, the set-up ``make test`` runs the suite under: on a
machine without Docker where it may not install, one line saying what to
install and a failure, never a run with the Docker tests quietly missing."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from support import REPO_ROOT

SCRIPT = REPO_ROOT / "scripts" / "test-env.sh"
TOOLS = ("bash", "id", "uname", "cat", "tail", "seq", "sleep", "touch")
"""What the script may run besides Docker's and apt's commands."""


@pytest.fixture
def bare_path(tmp_path: Path) -> str:
    """A PATH with the basic tools only: no docker, dockerd, debootstrap,
    compose nor apt-get (as on a machine where the script may not install)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in TOOLS:
        found = shutil.which(tool)
        assert found is not None, tool
        (bin_dir / tool).symlink_to(found)
    return str(bin_dir)


def run(*args: str, path: str, **env: str) -> subprocess.CompletedProcess[str]:
    """The script; chromium counts as installed unless ``env`` says otherwise."""
    present = shutil.which("bash")
    assert present is not None
    return subprocess.run(
        ["bash", str(SCRIPT), *args],
        capture_output=True,
        text=True,
        timeout=30,
        env={
            "PATH": path,
            "HOME": os.environ.get("HOME", "/root"),
            "ORCHEST_TEST_CHROMIUM": present,
            **env,
        },
    )


def test_check_lists_what_is_missing(bare_path: str) -> None:
    result = run("--check", path=bare_path)
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "test-env: missing: docker.io debootstrap docker-compose "
        "(apt-get install -y docker.io debootstrap docker-compose)"
    )


def test_check_names_chromium_for_the_dashboard_tests(bare_path: str, tmp_path: Path) -> None:
    absent = str(tmp_path / "no-chromium")
    result = run("--check", path=bare_path, ORCHEST_TEST_DOCKER="0", ORCHEST_TEST_CHROMIUM=absent)
    assert result.returncode == 1
    assert "test-env: missing: chromium (apt-get install -y chromium)" in result.stderr


def test_without_docker_and_no_way_to_install_it_says_what_to_do_and_runs_nothing(
    bare_path: str, tmp_path: Path
) -> None:
    marker = tmp_path / "ran"
    result = run("touch", str(marker), path=bare_path)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "apt-get install -y docker.io debootstrap docker-compose" in lines[0]
    assert "DOCKER=0" in lines[0]
    assert not marker.exists()


def test_leaving_docker_out_is_said_and_runs_the_command(bare_path: str, tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    result = run("touch", str(marker), path=bare_path, ORCHEST_TEST_DOCKER="0")
    assert result.returncode == 0, result.stderr
    assert "Docker tier left out" in result.stderr
    assert marker.exists()


def test_the_commands_exit_status_is_kept(bare_path: str) -> None:
    result = run("bash", "-c", "exit 5", path=bare_path, ORCHEST_TEST_DOCKER="0")
    assert result.returncode == 5  # pytest's "no tests collected" fails make test


def test_no_command_is_a_usage_error(bare_path: str) -> None:
    assert run(path=bare_path).returncode == 2


FAKE_DOCKER = """#!/bin/bash
# An engine that answers and has every image: records each call.
echo "$*" >>"$FAKE_DOCKER_LOG"
if [ "$1 $2" = "image inspect" ] && [ "$3" = --format ]; then echo sha256:fake; fi
exit 0
"""


@pytest.fixture
def fake_engine_path(tmp_path: Path) -> str:
    """The machine's PATH behind a ``docker`` (and ``dockerd``) that answer
    everything and log their calls to ``$FAKE_DOCKER_LOG``."""
    bin_dir = tmp_path / "fake-bin"
    bin_dir.mkdir()
    for name in ("docker", "dockerd"):
        (bin_dir / name).write_text(FAKE_DOCKER)
        (bin_dir / name).chmod(0o755)
    return f"{bin_dir}:{os.environ['PATH']}"


def test_prebuild_builds_both_scripts_images_while_the_command_runs(
    fake_engine_path: str, tmp_path: Path
) -> None:
    calls = tmp_path / "docker-calls.log"
    log = tmp_path / "orchest-test-images.log"
    # The command awaits both builds' end in the log (both print "done in").
    awaits = f"timeout 300 bash -c 'until [ $(grep -c \"done in\" {log} 2>/dev/null) = 2 ]; do sleep 0.05; done'"
    result = run(
        "bash",
        "-c",
        awaits,
        path=fake_engine_path,
        TMPDIR=str(tmp_path),
        FAKE_DOCKER_LOG=str(calls),
        ORCHEST_TEST_PREBUILD="1",
    )
    assert result.returncode == 0, result.stderr + log.read_text()
    assert "building the Docker tier's images in the background" in result.stderr
    built = log.read_text()
    for image in ("enterprise-gateway", "jupyter-server", "kernel-python"):
        assert f"orchest/{image}:" in built, built
    for image in ("services", "nats", "postgres"):
        assert f"orchest/{image}:" in built, built


def test_no_prebuild_unless_asked(fake_engine_path: str, tmp_path: Path) -> None:
    calls = tmp_path / "docker-calls.log"
    result = run("true", path=fake_engine_path, TMPDIR=str(tmp_path), FAKE_DOCKER_LOG=str(calls))
    assert result.returncode == 0, result.stderr
    assert "background" not in result.stderr
    assert "orchest/" not in (calls.read_text() if calls.exists() else "")
