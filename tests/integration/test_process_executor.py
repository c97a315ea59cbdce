"""The process executor against real processes and a real ipykernel.

Each test has its own project directory (step files in ``steps/``) and scratch
directory. Nothing sleeps to wait: tests await output the step produced (or
the result), each with a timeout; steps that must block until the test lets
them go wait for a signal or a file the test writes.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import signal
import sys
from pathlib import Path
from typing import Any, ClassVar

import nbformat
import psutil
import pytest
from step_files import Output, StepFiles

from orchest_schemas.commands import StepWork
from orchest_schemas.pipeline import PipelineDefinition
from orchest_step_runner.executor import ExecutionResult, ProcessExecutor
from support import eventually, thread_hops

RESULT_TIMEOUT = 60.0
"""Generous bound for a step to end on its own (a kernel starts in 1-3 s)."""
STOP_BUDGET = 4.0
"""Cancel and timeout: the step and all it started are gone within this. The
slower ways it guards against take 5 s or more (a kernel asked to shut down
gets nbclient's 5 s grace; a daemon or a sleep left behind, minutes); a
SIGKILL with its clean-up took 2.2 s once under the whole suite's load, so
the former budget of 2 s failed on load, not on a fault."""

PROJECT_UUID = "7c0b8a4e-5bd1-4cf6-9c1b-0a4bd2b6c6f1"
PIPELINE_UUID = "d4a3f8a0-8c2b-4a53-9a8e-3f4e8b1c2d3e"


def kernel_named(name: str) -> dict[str, Any]:
    """A step's kernel field."""
    return {"kernel": {"name": name, "display_name": name}}


class Project(StepFiles):
    """A project directory with step files in ``steps/``, a scratch and a ``files`` directory."""

    result_timeout = RESULT_TIMEOUT
    pipeline: ClassVar[dict[str, Any]] = {"uuid": PIPELINE_UUID, "name": "test pipeline"}

    def __init__(self, root: Path) -> None:
        super().__init__(root, PROJECT_UUID)
        self.files = root / "files"
        self.files.mkdir()

    step: ClassVar[dict[str, Any]] = {"title": "the step", **kernel_named("python")}


@pytest.fixture
def project(tmp_path: Path) -> Project:
    return Project(tmp_path)


@pytest.fixture
def executor() -> ProcessExecutor:
    # Without the variable the executor sets itself, whatever the test runner has.
    base_env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    return ProcessExecutor(kill_grace_seconds=1.0, base_env=base_env)


def is_gone(pid: int) -> bool:
    """Exited (a zombie counts: this host's init does not reap orphans)."""
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def read_pids(path: Path) -> list[int]:
    return [int(line) for line in path.read_text().split()]


def executed_notebook(result: ExecutionResult) -> Any:
    return nbformat.reads(result.artifacts["executed.ipynb"].decode(), as_version=4)


def stream_text(cell: Any) -> str:
    return "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream")


def expected_orchest_env(work: StepWork, project: Project) -> dict[str, str]:
    expected = {
        "ORCHEST_RUN_UUID": work.run_uuid,
        "ORCHEST_STEP_UUID": work.step_uuid,
        "ORCHEST_STEP_ATTEMPT": "2",
        "ORCHEST_PIPELINE_UUID": PIPELINE_UUID,
        "ORCHEST_PROJECT_UUID": PROJECT_UUID,
        "ORCHEST_PROJECT_DIR": str(project.dir),
        "ORCHEST_PIPELINE_PATH": str(project.scratch / "pipeline.json"),
        "ORCHEST_SESSION_UUID": PROJECT_UUID[:18] + PIPELINE_UUID[:18],
        "ORCHEST_SESSION_TYPE": "noninteractive" if work.job_uuid else "interactive",
        "ORCHEST_PARAMETERS": json.dumps(
            {**work.pipeline_definition.parameters, **work.step.parameters}
        ),
    }
    if work.job_uuid:
        expected["ORCHEST_JOB_UUID"] = work.job_uuid
    return expected


# The code both a script and a notebook cell use to report what the step sees.
REPORT_ENVIRONMENT = """\
import json, os
seen = {k: v for k, v in os.environ.items() if k.startswith("ORCHEST_")}
seen["cwd"] = os.getcwd()
seen["MY_VAR"] = os.environ.get("MY_VAR")
seen["PYTHONUNBUFFERED"] = os.environ.get("PYTHONUNBUFFERED")
with open(os.environ["ORCHEST_PIPELINE_PATH"]) as f:
    seen["pipeline"] = json.load(f)
print("SEEN " + json.dumps(seen))
"""


def parse_seen(output: Output) -> dict[str, Any]:
    match = re.search(r"SEEN (.*)", output.text)
    assert match, output.text
    seen: dict[str, Any] = json.loads(match.group(1))
    return seen


def is_step_folder(path: str, project: Project) -> bool:
    return Path(path).resolve() == project.steps.resolve()


def check_seen(seen: dict[str, Any], work: StepWork, project: Project) -> None:
    assert is_step_folder(seen.pop("cwd"), project)
    assert seen.pop("MY_VAR") == "my value"
    assert seen.pop("PYTHONUNBUFFERED") == "1"
    pipeline = PipelineDefinition.model_validate(seen.pop("pipeline"))
    assert pipeline == work.pipeline_definition
    assert seen == expected_orchest_env(work, project)


# --- scripts -------------------------------------------------------------------


async def test_python_step_succeeds(executor: ProcessExecutor, project: Project) -> None:
    path = project.write("ok.py", "print('hello from python')\n")
    result, output = await project.run(executor, project.work(path))
    assert result == ExecutionResult(exit_code=0, error=None)
    assert output.text == "hello from python\n"


async def test_python_step_fails_with_its_exit_code(
    executor: ProcessExecutor, project: Project
) -> None:
    path = project.write(
        "fail.py",
        """\
        import sys
        print("about to fail", file=sys.stderr)
        sys.exit(3)
        """,
    )
    result, output = await project.run(executor, project.work(path))
    assert (result.exit_code, result.error) == (3, "exit code 3")
    assert not result.timed_out and not result.aborted
    assert "about to fail" in output.text  # stderr merged into the output


@pytest.mark.parametrize(("code", "error"), [(0, None), (4, "exit code 4")])
async def test_shell_step(
    executor: ProcessExecutor, project: Project, code: int, error: str | None
) -> None:
    path = project.write("run.sh", f'echo "shell in $BASH_VERSION"\nexit {code}\n')
    result, output = await project.run(executor, project.work(path))
    assert (result.exit_code, result.error) == (code, error)
    assert output.text.startswith("shell in ")


async def test_cwd_is_the_step_folder(executor: ProcessExecutor, project: Project) -> None:
    path = project.write("cwd.py", "import os\nprint(os.getcwd())\n")
    result, output = await project.run(executor, project.work(path))
    assert result.exit_code == 0
    assert is_step_folder(output.text.strip(), project)


async def test_step_gets_none_of_the_runners_own_environment(project: Project) -> None:
    """The runner's settings and secrets stay out of a step's environment
    (``env`` prints it whole); its PATH, locale and the run's variables do not."""
    runner_env = {
        "PATH": os.environ["PATH"],
        "LC_ALL": "C.UTF-8",
        "ORCHEST_NATS_PASSWORD": "nats-secret-0c4e",
        "ORCHEST_DATABASE_URL": "postgresql://orchest@127.0.0.1:5432/secret-db",
        "ORCHEST_RUN_UUID": "secret-run-uuid",  # the contract comes from the work only
        "DOCKER_HOST": "unix:///run/secret-engine.sock",
    }
    executor = ProcessExecutor(base_env=runner_env)
    path = project.write("env.sh", "env\n")
    work = project.work(path, env={"MY_VAR": "my value"})
    result, output = await project.run(executor, work)
    assert result.exit_code == 0, output.text
    seen = dict(line.split("=", 1) for line in output.text.splitlines() if "=" in line)
    assert sorted(name for name, value in seen.items() if "secret" in value) == []
    assert (seen["PATH"], seen["LC_ALL"], seen["MY_VAR"]) == (
        os.environ["PATH"],
        "C.UTF-8",
        "my value",
    )
    orchest = {k: v for k, v in seen.items() if k.startswith("ORCHEST_")}
    assert orchest == expected_orchest_env(work, project)


@pytest.mark.parametrize("job_uuid", [None, "5f0e2c1a-job0-4bd3-9a2e-7c6d5b4a3f21"])
async def test_script_sees_orchest_variables_and_env(
    executor: ProcessExecutor, project: Project, job_uuid: str | None
) -> None:
    path = project.write("env.py", REPORT_ENVIRONMENT)
    work = project.work(
        path,
        parameters={"alpha": 1, "beta": "pipeline"},
        step_parameters={"beta": "step", "gamma": [1, 2]},
        env={"MY_VAR": "my value", "ORCHEST_RUN_UUID": "not allowed to override"},
        job_uuid=job_uuid,
    )
    result, output = await project.run(executor, work)
    assert result.exit_code == 0, output.text
    seen = parse_seen(output)
    assert json.loads(seen["ORCHEST_PARAMETERS"]) == {"alpha": 1, "beta": "step", "gamma": [1, 2]}
    check_seen(seen, work, project)


async def test_output_arrives_while_the_step_runs(
    executor: ProcessExecutor, project: Project
) -> None:
    # A plain print (line, no flush): PYTHONUNBUFFERED makes it leave at once.
    path = project.write(
        "live.py",
        """\
        import os, signal
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR1})
        print(f"first line from {os.getpid()}")
        signal.sigwait({signal.SIGUSR1})
        print("second line")
        """,
    )
    async with project.running(executor, project.work(path)) as (task, _, output):
        match = await output.wait_for(r"first line from (\d+)\n")
        assert not task.done()
        assert "second line" not in output.text
        os.kill(int(match.group(1)), signal.SIGUSR1)
        result = await asyncio.wait_for(task, RESULT_TIMEOUT)
    assert result.exit_code == 0
    assert output.text.endswith("second line\n")


async def test_output_without_newline_arrives(executor: ProcessExecutor, project: Project) -> None:
    path = project.write(
        "prompt.py",
        """\
        import os, signal, sys
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR1})
        sys.stdout.write(f"prompt {os.getpid()}> ")
        signal.sigwait({signal.SIGUSR1})
        """,
    )
    async with project.running(executor, project.work(path)) as (task, _, output):
        match = await output.wait_for(r"prompt (\d+)> ")
        assert not task.done()
        os.kill(int(match.group(1)), signal.SIGUSR1)
        result = await asyncio.wait_for(task, RESULT_TIMEOUT)
    assert result.exit_code == 0
    assert output.text == match.group(0)


async def test_timeout_kills_the_whole_tree(executor: ProcessExecutor, project: Project) -> None:
    # Children in the group (one ignores SIGTERM) and one in a session of its own
    # that ignores SIGTERM too: only SIGKILL to the group plus psutil get them all.
    pids_file = project.files / "pids"
    path = project.write(
        "tree.sh",
        """\
        sleep 300 &
        echo $! >> "$PIDS_FILE"
        (trap '' TERM; exec sleep 300) &
        echo $! >> "$PIDS_FILE"
        (trap '' TERM; exec setsid sleep 300) &
        echo $! >> "$PIDS_FILE"
        echo $$ >> "$PIDS_FILE"
        echo ready
        wait
        """,
    )
    work = project.work(path, timeout=2.0, env={"PIDS_FILE": str(pids_file)})
    loop = asyncio.get_running_loop()
    started = loop.time()
    result, output = await project.run(executor, work)
    elapsed = loop.time() - started
    assert result.timed_out and not result.aborted
    assert result.error == "timed out after 2.0s"
    assert result.exit_code == -signal.SIGTERM
    assert "ready" in output.text
    pids = read_pids(pids_file)
    assert len(pids) == 4
    assert [pid for pid in pids if not is_gone(pid)] == []
    assert elapsed < 2.0 + STOP_BUDGET


async def test_a_daemon_left_behind_ends_with_the_step(
    executor: ProcessExecutor, project: Project
) -> None:
    # A double-forked daemon: its parent is gone (no tree leads to it), it left
    # the group, and it holds the output pipe open. The step still ends at once.
    pids_file = project.files / "pids"
    path = project.write(
        "daemon.sh",
        """\
        (setsid bash -c 'echo $$ > "$PIDS_FILE"; exec sleep 300' &)
        while [ ! -s "$PIDS_FILE" ]; do sleep 0.01; done
        echo done
        """,
    )
    work = project.work(path, env={"PIDS_FILE": str(pids_file)})
    loop = asyncio.get_running_loop()
    started = loop.time()
    result, output = await project.run(executor, work)
    assert (result.exit_code, result.error) == (0, None)
    assert output.text == "done\n"
    [daemon] = read_pids(pids_file)
    assert is_gone(daemon)
    assert loop.time() - started < STOP_BUDGET


async def test_a_step_that_ends_reads_only_the_processes_created_since_it_began(
    executor: ProcessExecutor, project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    # After a step, what it left behind is found among the processes created
    # since its first one started (its pid window), not by reading every
    # process of the host; a daemon it left is still found and killed.
    scans: list[int] = []
    every_process = psutil.process_iter

    def counted(*args: Any, **kwargs: Any) -> Any:
        scans.append(1)
        return every_process(*args, **kwargs)

    monkeypatch.setattr(psutil, "process_iter", counted)
    pids_file = project.files / "pids"
    path = project.write(
        "daemon.sh",
        """\
        (setsid bash -c 'echo $$ > "$PIDS_FILE"; exec sleep 300' &)
        while [ ! -s "$PIDS_FILE" ]; do sleep 0.01; done
        """,
    )
    result, _ = await project.run(executor, project.work(path, env={"PIDS_FILE": str(pids_file)}))
    assert (result.exit_code, result.error) == (0, None)
    [daemon] = read_pids(pids_file)
    assert is_gone(daemon)
    assert scans == [], "every process of the host was read"


async def test_a_step_that_left_nothing_ends_without_a_thread_hop(
    executor: ProcessExecutor, project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The few processes created since a trivial step began are read on the
    # loop: a hop to a thread would wait for another thread's wake-up, on the
    # critical path from the step's end to its report.
    from orchest_step_runner.executor import tree

    hops = thread_hops(monkeypatch, tree)
    result, output = await project.run(executor, project.work(project.write("ok.sh", "echo ok\n")))
    assert (result.exit_code, result.error, output.text) == (0, None, "ok\n")
    assert hops == [], "the end of the step went through a thread"


async def test_cancel_kills_the_whole_tree(executor: ProcessExecutor, project: Project) -> None:
    pids_file = project.files / "pids"
    path = project.write(
        "tree.py",
        """\
        import os, subprocess, time
        pids = [os.getpid()]
        pids.append(subprocess.Popen(["sleep", "300"]).pid)
        pids.append(subprocess.Popen(["sleep", "300"], start_new_session=True).pid)
        with open(os.environ["PIDS_FILE"], "w") as f:
            f.write("\\n".join(map(str, pids)))
        print("ready", flush=True)
        time.sleep(300)  # wait-ok: the step's work, killed by the test
        """,
    )
    work = project.work(path, env={"PIDS_FILE": str(pids_file)})
    async with project.running(executor, work) as (task, cancel, output):
        await output.wait_for("ready")
        loop = asyncio.get_running_loop()
        cancelled_at = loop.time()
        cancel.set()
        result = await asyncio.wait_for(task, RESULT_TIMEOUT)
        elapsed = loop.time() - cancelled_at
    assert result.aborted and not result.timed_out
    assert result.error == "aborted"
    assert result.exit_code == -signal.SIGTERM
    pids = read_pids(pids_file)
    assert len(pids) == 3
    assert [pid for pid in pids if not is_gone(pid)] == []
    assert elapsed < STOP_BUDGET


async def test_cancelling_the_call_kills_the_tree(
    executor: ProcessExecutor, project: Project
) -> None:
    # The runner itself stopping (its task cancelled) must not leave the step running.
    pids_file = project.files / "pids"
    path = project.write(
        "orphan.py",
        """\
        import os, subprocess, time
        child = subprocess.Popen(["sleep", "300"])
        with open(os.environ["PIDS_FILE"], "w") as f:
            f.write(f"{os.getpid()}\\n{child.pid}\\n")
        print("ready", flush=True)
        time.sleep(300)  # wait-ok: the step's work, killed by the test
        """,
    )
    work = project.work(path, env={"PIDS_FILE": str(pids_file)})
    async with project.running(executor, work) as (task, _, output):
        await output.wait_for("ready")
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    pids = read_pids(pids_file)

    async def all_gone() -> bool | None:
        return True if all(is_gone(pid) for pid in pids) else None

    # SIGKILL is sent before the call ends; the kernel completes it a moment later.
    await eventually(all_gone, timeout=STOP_BUDGET, what=f"{pids} gone")


@pytest.mark.skipif(shutil.which("Rscript") is not None, reason="R is installed here")
async def test_r_step_without_rscript_gives_a_clear_error(
    executor: ProcessExecutor, project: Project
) -> None:
    path = project.write("analysis.R", 'print("hi")\n')
    result, output = await project.run(executor, project.work(path))
    assert result == ExecutionResult(
        exit_code=None, error="Rscript not found: install R to run .R steps"
    )
    assert output.text == ""


# --- notebooks -----------------------------------------------------------------


async def test_notebook_parameters_injected_after_the_parameters_cell(
    executor: ProcessExecutor, project: Project
) -> None:
    path = project.notebook(
        "params.ipynb",
        ("import math", []),
        ("alpha = 1\nbeta = 'b'\ngamma = None", ["parameters"]),
        ("print(f'alpha={alpha} beta={beta} gamma={gamma} delta={delta}')", []),
    )
    work = project.work(
        path,
        parameters={"alpha": 10, "gamma": [1, 2]},
        step_parameters={"alpha": 20, "delta": "d"},
    )
    result, output = await project.run(executor, work)
    assert (result.exit_code, result.error) == (0, None), output.text
    assert "alpha=20 beta=b gamma=[1, 2] delta=d\n" in output.text
    nb = executed_notebook(result)
    assert len(nb.cells) == 4
    injected = nb.cells[2]
    assert injected.metadata.tags == ["injected-parameters"]
    assert injected.source == "# Parameters\nalpha = 20\ngamma = [1, 2]\ndelta = 'd'\n"
    assert stream_text(nb.cells[3]) == "alpha=20 beta=b gamma=[1, 2] delta=d\n"


async def test_notebook_parameters_injected_first_when_no_cell_is_tagged(
    executor: ProcessExecutor, project: Project
) -> None:
    path = project.notebook("untagged.ipynb", ("print(f'alpha is {alpha}')", []))
    result, output = await project.run(executor, project.work(path, parameters={"alpha": 5}))
    assert result.error is None, output.text
    assert output.text == "alpha is 5\n"
    nb = executed_notebook(result)
    assert [cell.metadata.get("tags") for cell in nb.cells] == [["injected-parameters"], []]
    assert nb.cells[0].source == "# Parameters\nalpha = 5\n"


async def test_failing_notebook_reports_the_exception_and_keeps_earlier_outputs(
    executor: ProcessExecutor, project: Project
) -> None:
    path = project.notebook(
        "fail.ipynb",
        ("print('before the error')", []),
        ("1 / 0", []),
        ("print('never')", []),
    )
    result, output = await project.run(executor, project.work(path, parameters={"p": 1}))
    # Cell numbers count the step's own cells (the injected parameters cell aside).
    assert (result.exit_code, result.error) == (1, "ZeroDivisionError: division by zero (cell 2)")
    assert output.text == "before the error\nZeroDivisionError: division by zero\n"
    nb = executed_notebook(result)
    assert stream_text(nb.cells[1]) == "before the error\n"
    assert [o.output_type for o in nb.cells[2].outputs] == ["error"]
    assert nb.cells[2].outputs[0].ename == "ZeroDivisionError"
    assert nb.cells[3].outputs == []


async def test_kernel_death_is_reported(executor: ProcessExecutor, project: Project) -> None:
    path = project.notebook(
        "die.ipynb",
        ("print('alive', flush=True)", []),
        ("import os, signal\nos.kill(os.getpid(), signal.SIGKILL)", []),
    )
    result, output = await project.run(executor, project.work(path))
    assert (result.exit_code, result.error) == (-signal.SIGKILL, "kernel died")
    assert output.text == "alive\n"
    assert stream_text(executed_notebook(result).cells[0]) == "alive\n"


async def test_notebook_output_arrives_while_the_cell_runs(
    executor: ProcessExecutor, project: Project
) -> None:
    go_file = project.files / "go"
    path = project.notebook(
        "live.ipynb",
        (
            """\
            import os, time
            print("first", flush=True)
            while not os.path.exists(os.environ["GO_FILE"]):
                time.sleep(0.01)  # wait-ok: the step polls the gate file the test writes
            print("second")
            """,
            [],
        ),
    )
    work = project.work(path, env={"GO_FILE": str(go_file)})
    async with project.running(executor, work) as (task, _, output):
        await output.wait_for("first\n")
        assert not task.done()
        assert "second" not in output.text
        go_file.touch()
        result = await asyncio.wait_for(task, RESULT_TIMEOUT)
    assert result.error is None
    assert output.text == "first\nsecond\n"


@pytest.mark.parametrize(
    ("stop", "expected_error"),
    [("cancel", "aborted"), ("timeout", "timed out after 6.0s")],
)
async def test_notebook_stopped_while_a_cell_runs(
    executor: ProcessExecutor, project: Project, stop: str, expected_error: str
) -> None:
    pids_file = project.files / "pids"
    path = project.notebook(
        "sleepy.ipynb",
        (
            """\
            import os, subprocess
            child = subprocess.Popen(["sleep", "300"])
            with open(os.environ["PIDS_FILE"], "w") as f:
                f.write(f"{os.getpid()}\\n{child.pid}\\n")
            """,
            [],
        ),
        (
            "import time\nprint('sleeping', flush=True)\ntime.sleep(300)",  # wait-ok: the step's work, killed by the test
            [],
        ),
    )
    timeout = 6.0 if stop == "timeout" else None
    work = project.work(path, env={"PIDS_FILE": str(pids_file)}, timeout=timeout)
    loop = asyncio.get_running_loop()
    started = loop.time()
    async with project.running(executor, work) as (task, cancel, output):
        await output.wait_for("sleeping\n")
        stopped_at = loop.time()
        if stop == "cancel":
            cancel.set()
        else:
            assert not task.done()
            stopped_at = started + 6.0
        result = await asyncio.wait_for(task, RESULT_TIMEOUT)
        finished_at = loop.time()
    assert result.error == expected_error
    assert (result.aborted, result.timed_out) == (stop == "cancel", stop == "timeout")
    assert result.exit_code == -signal.SIGKILL
    kernel_pid, child_pid = read_pids(pids_file)
    assert is_gone(kernel_pid) and is_gone(child_pid)
    assert finished_at - stopped_at < STOP_BUDGET
    nb = executed_notebook(result)
    assert stream_text(nb.cells[1]) == "sleeping\n"


def install_kernelspec(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, code: str
) -> None:
    """A Python kernelspec ``name`` whose kernel runs ``code`` (``sys.argv[1]``:
    the connection file), the only kernelspec the executor finds."""
    spec_dir = tmp_path / "jupyter" / "kernels" / name
    spec_dir.mkdir(parents=True)
    spec = {
        "argv": [sys.executable, "-c", code, "{connection_file}"],
        "display_name": name,
        "language": "python",
        "metadata": {"supported_encryption": ["curve"]},  # as ipykernel's own
    }
    (spec_dir / "kernel.json").write_text(json.dumps(spec))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))


async def test_kernel_that_dies_at_start_up(
    executor: ProcessExecutor,
    project: Project,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    crash = "import sys; print('no kernel here', file=sys.stderr); sys.exit(3)"
    install_kernelspec(tmp_path, monkeypatch, "broken", crash)
    path = project.notebook("nb.ipynb", ("print('never')", []))
    result, output = await project.run(executor, project.work(path, step=kernel_named("broken")))
    assert (result.exit_code, result.error) == (3, "kernel died")
    # Three kernels started, each one's own stderr in the output.
    assert output.text == (
        "no kernel here\n"
        "The kernel exited (code 3) before it was ready: starting another (2 of 3).\n"
        "no kernel here\n"
        "The kernel exited (code 3) before it was ready: starting another (3 of 3).\n"
        "no kernel here\n"
    )


async def test_a_kernel_that_dies_before_it_is_ready_is_replaced(
    executor: ProcessExecutor,
    project: Project,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The first start exits as a kernel whose port another process took does;
    # the next is a real ipykernel.
    started = tmp_path / "started once"
    first_dies = (
        "import os, pathlib, sys\n"
        f"marker = pathlib.Path({str(started)!r})\n"
        "if not marker.exists():\n"
        "    marker.touch()\n"
        "    sys.exit('zmq.error.ZMQError: Address already in use')\n"
        "os.execv(sys.executable, [sys.executable, '-m', 'ipykernel_launcher', '-f', sys.argv[1]])\n"
    )
    install_kernelspec(tmp_path, monkeypatch, "flaky", first_dies)
    path = project.notebook("nb.ipynb", ("print('ran once')", []))
    result, output = await project.run(executor, project.work(path, step=kernel_named("flaky")))
    assert (result.exit_code, result.error) == (0, None), output.text
    assert output.text == (
        "zmq.error.ZMQError: Address already in use\n"
        "The kernel exited (code 1) before it was ready: starting another (2 of 3).\n"
        "ran once\n"
    )
    assert stream_text(executed_notebook(result).cells[-1]) == "ran once\n"


async def test_a_kernel_that_does_not_answer_is_ended_and_replaced(
    project: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The first start prints what an ipykernel whose IOPub port another process
    # took prints, and then, as it, neither exits nor answers; the next is a
    # real ipykernel.
    started = tmp_path / "started once"
    first_hangs = (
        "import os, pathlib, sys, time\n"
        f"marker = pathlib.Path({str(started)!r})\n"
        "if not marker.exists():\n"
        "    marker.write_text(str(os.getpid()))\n"
        "    print('zmq.error.ZMQError: Address already in use', file=sys.stderr, flush=True)\n"
        "    time.sleep(600)\n"  # wait-ok: a kernel that never answers
        "os.execv(sys.executable, [sys.executable, '-m', 'ipykernel_launcher', '-f', sys.argv[1]])\n"
    )
    install_kernelspec(tmp_path, monkeypatch, "stuck", first_hangs)
    base_env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    executor = ProcessExecutor(kill_grace_seconds=1.0, kernel_start_seconds=10.0, base_env=base_env)
    path = project.notebook("nb.ipynb", ("print('ran once')", []))
    result, output = await project.run(executor, project.work(path, step=kernel_named("stuck")))
    assert (result.exit_code, result.error) == (0, None), output.text
    assert output.text == (
        "zmq.error.ZMQError: Address already in use\n"
        "The kernel did not answer within 10s of its start: ended it, starting another (2 of 3).\n"
        "ran once\n"
    )
    assert is_gone(int(started.read_text()))


@pytest.mark.parametrize("kernel", ["python", "no-such-kernel"])
async def test_unknown_kernel_falls_back_to_python3(
    executor: ProcessExecutor, project: Project, kernel: str
) -> None:
    path = project.notebook("k.ipynb", ("import sys\nprint(sys.version_info[0])", []))
    result, output = await project.run(executor, project.work(path, step=kernel_named(kernel)))
    assert result.error is None, output.text
    assert output.text == "3\n"
    assert executed_notebook(result).metadata.language_info.name == "python"


async def test_kernel_sees_cwd_and_orchest_variables(
    executor: ProcessExecutor, project: Project
) -> None:
    path = project.notebook("env.ipynb", (REPORT_ENVIRONMENT, []))
    work = project.work(path, env={"MY_VAR": "my value"}, job_uuid="0b5e-job")
    result, output = await project.run(executor, work)
    assert result.error is None, output.text
    check_seen(parse_seen(output), work, project)
    # No parameters: no injected cell.
    assert len(executed_notebook(result).cells) == 1
