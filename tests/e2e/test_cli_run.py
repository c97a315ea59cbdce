"""``orchest run`` as a user runs it: the quickstart on the embedded stack,
a partial run, and a failing pipeline."""

from __future__ import annotations

import asyncio
import json
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from e2e_stack import Stack, make_stack

from orchest_cli.statedir import is_running
from support import REPO_ROOT, eventually

pytestmark = pytest.mark.e2e

QUICKSTART = REPO_ROOT / "examples" / "quickstart"


@pytest.fixture
def quickstart(workdir: Path) -> Path:
    copy = workdir / "quickstart"
    shutil.copytree(QUICKSTART, copy, ignore=shutil.ignore_patterns("data"))
    return copy


def run_cli(stack: Stack, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "orchest_cli", *args, "--state-dir", str(stack.state_dir)],
        env={**stack.env, "ORCHEST_PORT": str(stack.port), "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_quickstart_runs_to_success_on_an_embedded_stack(workdir: Path, quickstart: Path) -> None:
    stack = make_stack(workdir)
    result = run_cli(stack, "run", str(quickstart / "quickstart.orchest"), "--embedded")
    assert result.returncode == 0, result.stdout + result.stderr + stack.logs()
    assert "SUCCESS" in result.stdout
    for title in ("Get data", "Clean", "Stats", "Features", "Train", "Report"):
        assert title in result.stdout
    assert (quickstart / "data" / "report.md").exists()
    # --embedded stops the stack it started.
    assert not is_running(stack.state)


def test_partial_run_and_the_other_commands(stack: Stack, quickstart: Path) -> None:
    stack.up()
    result = run_cli(
        stack,
        "run",
        str(quickstart / "quickstart.orchest"),
        "--type",
        "selection_with_ancestors",
        "--step",
        "Clean",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    runs = httpx.get(f"{stack.url}/api/runs").json()["runs"]
    assert len(runs) == 1
    run = runs[0]
    assert run["run_type"] == "selection_with_ancestors"
    assert [s["title"] for s in run["pipeline_steps"]] == ["Get data", "Clean"]
    listed = run_cli(stack, "runs")
    assert run["uuid"] in listed.stdout
    logs = run_cli(stack, "logs", run["uuid"], "Clean")
    assert logs.returncode == 0 and logs.stdout.strip()
    notebook = quickstart / "get-data.executed.ipynb"
    saved = run_cli(stack, "artifacts", run["uuid"][:8], "get data", "--out", str(notebook))
    assert saved.returncode == 0, saved.stderr
    assert json.loads(notebook.read_text())["cells"]  # the executed notebook
    script = run_cli(stack, "artifacts", run["uuid"], "clean.py")
    assert script.returncode == 1 and "has no artifact" in script.stderr
    aborted = run_cli(stack, "abort", run["uuid"])
    assert aborted.returncode == 0 and "SUCCESS" in aborted.stdout  # ended runs stay as they are

    # Without --state-dir or a port: the stack `orchest up` started is remembered.
    remembered = subprocess.run(
        [sys.executable, "-m", "orchest_cli", "logs", run["uuid"][:8], "clean"],
        env={**stack.env, "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert remembered.returncode == 0, remembered.stderr
    assert remembered.stdout == logs.stdout


def test_failing_pipeline_exits_1_with_the_log_tail(stack: Stack, workdir: Path) -> None:
    project = workdir / "failing"
    project.mkdir()
    (project / "boom.sh").write_text("echo about to fail\necho boom-detail >&2\nexit 4\n")
    (project / "p.orchest").write_text(
        json.dumps(
            {
                "uuid": "f00df00d-0000-4000-8000-000000000001",
                "name": "failing",
                "steps": {
                    "s1": {"uuid": "s1", "title": "Boom", "file_path": "boom.sh"},
                },
            }
        )
    )
    stack.up()
    result = run_cli(stack, "run", str(project / "p.orchest"))
    assert result.returncode == 1
    assert "FAILURE" in result.stdout and "boom-detail" in result.stdout


def test_invalid_pipeline_lists_the_problems(stack: Stack, workdir: Path) -> None:
    project = workdir / "invalid"
    project.mkdir()
    (project / "p.orchest").write_text(
        json.dumps(
            {
                "uuid": "f00df00d-0000-4000-8000-000000000002",
                "steps": {
                    "a": {
                        "uuid": "a",
                        "title": "A",
                        "file_path": "missing.py",
                        "incoming_connections": ["b"],
                    },
                    "b": {
                        "uuid": "b",
                        "title": "B",
                        "file_path": "b.txt",
                        "incoming_connections": ["a"],
                    },
                },
            }
        )
    )
    stack.up()
    result = run_cli(stack, "run", str(project / "p.orchest"))
    assert result.returncode != 0
    assert "cycle" in result.stderr.lower() or "cycle" in result.stdout.lower()
    assert "b.txt" in result.stderr + result.stdout


def sigint_as_at_a_terminal() -> None:
    """In the child, before exec: SIGINT back to its default action.

    A background job of a non-interactive shell (``make test &``, CI runners)
    starts with SIGINT ignored, and an ignored signal stays ignored across
    exec: Python would then install no KeyboardInterrupt handler and the
    Ctrl-C this test sends would be lost. A user's terminal delivers it.
    """
    signal.signal(signal.SIGINT, signal.SIG_DFL)


async def test_ctrl_c_aborts_the_run(stack: Stack, workdir: Path) -> None:
    project = workdir / "long"
    project.mkdir()
    (project / "long.sh").write_text("echo started; sleep 300\n")
    (project / "p.orchest").write_text(
        json.dumps(
            {
                "uuid": "f00df00d-0000-4000-8000-000000000003",
                "steps": {"l": {"uuid": "l", "title": "Long", "file_path": "long.sh"}},
            }
        )
    )
    stack.up()
    cli = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "orchest_cli",
        "run",
        str(project / "p.orchest"),
        "--state-dir",
        str(stack.state_dir),
        env={**stack.env, "ORCHEST_PORT": str(stack.port)},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        preexec_fn=sigint_as_at_a_terminal,
    )
    async with httpx.AsyncClient(base_url=stack.url) as http:
        try:

            async def started() -> str | None:
                runs = (await http.get("/api/runs")).json()["runs"]
                return runs[0]["uuid"] if runs and runs[0]["status"] == "STARTED" else None

            run_uuid = await eventually(started, timeout=30, what="the run started")
            cli.send_signal(signal.SIGINT)
            output, _ = await asyncio.wait_for(cli.communicate(), 30)
        finally:
            if cli.returncode is None:
                cli.kill()
                await cli.wait()
        run = (await http.get(f"/api/runs/{run_uuid}")).json()
    assert cli.returncode == 130, output
    assert f"aborting run {run_uuid}" in output.decode()
    assert run["status"] == "ABORTED"
