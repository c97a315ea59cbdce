"""The CLI's one error path: every command, given a bad pipeline file or no
stack to talk to, says what was wrong in a line or two and exits 1 (2 for
usage), never with a traceback."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from orchest_cli.main import cli
from support import CLI_CONFIG_DIR, ENV_WITHOUT_ORCHEST, free_port

RUN = "0a1b2c3d-0000-4000-8000-000000000001"
JOB = "0a1b2c3d-0000-4000-8000-000000000002"


@pytest.fixture(scope="module")
def nowhere() -> str:
    """A URL where nothing listens."""
    return f"http://127.0.0.1:{free_port()}"


@pytest.fixture
def good(tmp_path: Path) -> Path:
    path = tmp_path / "good" / "p.orchest"
    path.parent.mkdir()
    (path.parent / "a.sh").write_text("echo a\n")
    step = {"uuid": "a", "title": "A", "file_path": "a.sh"}
    path.write_text(json.dumps({"uuid": RUN, "name": "good", "steps": {"a": step}}))
    return path


BAD_FILES = {
    "not JSON": ('{"uuid": "x",\n  "steps": {', ":2:"),
    "an array": ("[1, 2]", "not an array"),
    "a string": ('"pipeline"', "not a string"),
    "not UTF-8": (b"\xff\xfe{}", "not UTF-8"),
}


def bad_file(tmp_path: Path, kind: str) -> Path:
    content, _ = BAD_FILES[kind]
    path = tmp_path / "bad" / "p.orchest"
    path.parent.mkdir(exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    return path


def invoke(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), env={"ORCHEST_CONFIG_DIR": str(CLI_CONFIG_DIR)})


def assert_clean(result: Result, codes: tuple[int, ...] = (1,)) -> str:
    """One short message, the exit code expected, no traceback; the message."""
    assert result.exit_code in codes, (result.exit_code, result.output, result.exception)
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        f"escaped: {result.exception!r}\n{result.output}"
    )
    assert "Traceback" not in result.output
    assert 1 <= len(result.output.strip().splitlines()) <= 4, result.output
    return result.output


def file_commands(path: Path, grid: Path) -> list[list[str]]:
    return [
        ["run", str(path)],
        ["run", str(path), "--embedded"],
        ["validate", str(path)],
        ["jobs", "create", str(path), "--name", "j"],
        [
            "jobs",
            "create",
            str(grid.parent / "good.orchest"),
            "--name",
            "j",
            "--param-grid",
            str(grid),
        ],
        ["sessions", "launch", str(path)],
        ["sessions", "show", str(path)],
        ["sessions", "stop", str(path)],
        ["sessions", "restart", str(path)],
    ]


@pytest.mark.parametrize("kind", list(BAD_FILES))
def test_every_command_given_a_bad_file_says_where(tmp_path: Path, nowhere: str, kind: str) -> None:
    path = bad_file(tmp_path, kind)
    (tmp_path / "bad" / "good.orchest").write_text(json.dumps({"uuid": RUN, "steps": {}}))
    for args in file_commands(path, path):
        output = assert_clean(invoke(*args, "--url", nowhere))
        assert str(path) in output, (args, output)
        if "--param-grid" in args and kind in ("an array", "a string"):
            continue  # a grid may be an array: this one is a grid of bad sets
        assert BAD_FILES[kind][1] in output, (args, output)


def no_stack_commands(good: Path) -> list[list[str]]:
    pipeline = str(good)
    return [
        ["status"],
        ["run", pipeline],
        ["run", "demo/p.orchest"],
        ["run", pipeline, "--logs", "--step", "a"],
        ["runs"],
        ["runs", "-o", "json"],
        ["logs", RUN, "A"],
        ["logs", RUN[:8], "A", "-f"],
        ["abort", RUN],
        ["abort", RUN[:8]],
        ["artifacts", RUN, "A"],
        ["jobs", "list"],
        ["jobs", "show", JOB],
        ["jobs", "show", "nightly"],
        ["jobs", "create", pipeline, "--name", "j"],
        ["jobs", "runs", JOB],
        ["jobs", "pause", JOB],
        ["jobs", "resume", JOB],
        ["jobs", "confirm", JOB],
        ["jobs", "trigger", JOB],
        ["jobs", "cancel", JOB],
        ["jobs", "cancel", JOB, "--run", RUN],
        ["sessions", "list"],
        ["sessions", "show", pipeline],
        ["sessions", "show", "demo/p.orchest"],
        ["sessions", "launch", pipeline, "--wait"],
        ["sessions", "stop", pipeline],
        ["sessions", "restart", "p", "q"],
        ["projects", "list"],
        ["projects", "create", "demo"],
        ["projects", "add", str(good.parent)],
        ["projects", "show", "demo"],
        ["projects", "rm", "demo"],
        ["pipelines", "list", "demo"],
    ]


def test_every_command_without_a_stack_says_to_start_one(good: Path, nowhere: str) -> None:
    for args in no_stack_commands(good):
        output = assert_clean(invoke(*args, "--url", nowhere))
        assert f"no stack answers at {nowhere}" in output, (args, output)
        assert "orchest up" in output, (args, output)


def test_the_commands_that_need_no_stack_work_without_one(
    good: Path, nowhere: str, tmp_path: Path
) -> None:
    checked = invoke("validate", str(good), "--url", nowhere)
    assert checked.exit_code == 0 and "valid" in checked.output, checked.output
    made = invoke("init", str(tmp_path / "new"))
    assert made.exit_code == 0, made.output
    again = assert_clean(invoke("init", str(tmp_path / "new")))
    assert "already there" in again
    missing = assert_clean(invoke("stack-logs", "gateway", "--state-dir", str(tmp_path / "s")))
    assert "no log at" in missing


def test_usage_errors_exit_2(good: Path, nowhere: str) -> None:
    for args in (
        ["run", str(good), "--type", "sideways"],
        ["run", str(good), "--env", "1=x"],
        ["sessions", "show", "p"],
        ["jobs", "create", str(good), "--name", "x", "--at", "soon"],
        ["nonsense"],
    ):
        assert_clean(invoke(*args, "--url", nowhere), codes=(2,))


def test_the_installed_command_prints_no_traceback_and_debug_does(
    tmp_path: Path, nowhere: str
) -> None:
    path = bad_file(tmp_path, "not JSON")
    env = {**ENV_WITHOUT_ORCHEST, "ORCHEST_CONFIG_DIR": str(tmp_path / "config")}

    def orchest(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "orchest_cli", *args]
        return subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)

    for args in (("run", str(path)), ("runs", "--url", nowhere)):
        result = orchest(*args)
        assert result.returncode == 1, result.stderr
        assert "Traceback" not in result.stderr and result.stderr.startswith("error: ")
        assert len(result.stderr.strip().splitlines()) <= 2, result.stderr
    debug = orchest("--debug", "runs", "--url", nowhere)
    assert debug.returncode == 1 and "Traceback" in debug.stderr and "ConnectError" in debug.stderr


def test_a_time_without_a_zone_is_said_to_be_taken_as_local(good: Path, nowhere: str) -> None:
    result = invoke(
        "jobs", "create", str(good), "--name", "x", "--at", "2099-01-01T09:00:00", "--url", nowhere
    )
    assert "--at 2099-01-01T09:00:00: no zone given, taken as local time (" in result.output
    assert f"no stack answers at {nowhere}" in result.output  # then it went on
