"""Script steps on the process executor run as Orchest's runner ran them:
each file type with its program (``executor/scripts.py``), a ``.py`` with
the interpreter of the environment's Python kernel, not the runner's own.

The environment here: a kernelspec named ``python`` (what Orchest's pipeline
files name) whose ``argv[0]`` is the Python of a virtual environment of its
own, which alone has the module ``envonly``; a ``.py`` step and a notebook of
that step must both import it, from the same interpreter.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
from integration.test_process_executor import Project, kernel_named

from orchest_step_runner.executor import ExecutionResult, ProcessExecutor

ENV_MARK = "ORCHEST_TEST_KERNEL_ENV"
REPORT = """\
import os, sys
import envonly
print("PYTHON", sys.executable, envonly.WHERE, os.environ.get("ORCHEST_TEST_KERNEL_ENV"))
"""


@pytest.fixture
def project(tmp_path: Path) -> Project:
    return Project(tmp_path)


@pytest.fixture
def executor() -> ProcessExecutor:
    return ProcessExecutor(kill_grace_seconds=1.0)


@pytest.fixture
def environment_kernel(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A virtual environment with the module ``envonly`` (and, through a
    ``.pth``, the runner's packages, so ipykernel starts in it), installed as
    the kernelspec ``python``; returns its interpreter."""
    venv = tmp_path / "env"
    subprocess.run(
        [sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=60
    )
    python = venv / "bin" / "python"
    site = Path(
        subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            check=True,
            capture_output=True,
            text=True,
            timeout=60,
        ).stdout.strip()
    )
    (site / "envonly.py").write_text("WHERE = 'the environment'\n")
    (site / "runner-packages.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    spec_dir = tmp_path / "jupyter" / "kernels" / "python"
    spec_dir.mkdir(parents=True)
    spec = {
        "argv": [str(python), "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "The environment's Python",
        "language": "python",
        "env": {ENV_MARK: "from the kernelspec"},
    }
    (spec_dir / "kernel.json").write_text(json.dumps(spec))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    return python


async def test_a_py_step_runs_with_the_python_of_its_environments_kernel(
    executor: ProcessExecutor,
    project: Project,
    environment_kernel: Path,
) -> None:
    script = project.write("report.py", REPORT)
    notebook = project.notebook("report.ipynb", (REPORT, []))
    seen = []
    for path in (script, notebook):
        result, output = await project.run(
            executor, project.work(path, step=kernel_named("python"))
        )
        assert result.error is None, output.text
        (line,) = [x for x in output.text.splitlines() if x.startswith("PYTHON ")]
        seen.append(line)
    wanted = f"PYTHON {environment_kernel} the environment from the kernelspec"
    assert seen == [wanted, wanted]


async def test_a_file_without_extension_runs_with_bash(
    executor: ProcessExecutor,
    project: Project,
) -> None:
    path = project.write("run", 'echo "bash ${BASH_VERSION%%.*}"; echo "$ORCHEST_STEP_UUID"\n')
    work = project.work(path)
    result, output = await project.run(executor, work)
    assert result == ExecutionResult(0, None), output.text
    major = output.text.split()[1]
    assert output.text == f"bash {major}\n{work.step_uuid}\n" and major.isdigit()


@pytest.mark.skipif(shutil.which("node") is None, reason="Node.js is not installed here")
async def test_a_js_step_runs_with_node(
    executor: ProcessExecutor,
    project: Project,
) -> None:
    path = project.write("app.js", "console.log('node', process.env.ORCHEST_STEP_UUID);\n")
    work = project.work(path)
    result, output = await project.run(executor, work)
    assert result == ExecutionResult(0, None), output.text
    assert output.text == f"node {work.step_uuid}\n"


@pytest.mark.skipif(shutil.which("julia") is not None, reason="Julia is installed here")
async def test_a_jl_step_without_julia_fails_naming_what_is_missing(
    executor: ProcessExecutor,
    project: Project,
) -> None:
    path = project.write("model.jl", 'println("julia")\n')
    result, output = await project.run(executor, project.work(path))
    assert result == ExecutionResult(None, "julia not found: install Julia to run .jl steps")
    assert output.text == ""


async def test_a_file_of_another_type_is_refused(
    executor: ProcessExecutor,
    project: Project,
) -> None:
    path = project.write("notes.txt", "echo no\n")
    result, output = await project.run(executor, project.work(path))
    assert result == ExecutionResult(None, "unsupported step file type: notes.txt")
    assert output.text == ""
