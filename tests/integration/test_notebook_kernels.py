"""A notebook step runs in the kernel of its own language, or fails before any
kernel starts: the process executor with the host's real kernelspecs and real
kernels, and a run through the whole stack.

Neither an R nor a Julia kernel is installed here (their tests skip where
one is): their notebooks must fail at once, naming the language and the kernels available,
never run in the Python kernel. The cells are valid Python too, so a notebook
run in the wrong kernel would succeed.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import nbformat
import pytest
from jupyter_client.kernelspec import KernelSpecManager
from runs_harness import Project as RunProject
from runs_harness import Stack
from step_files import one_step_work

from orchest_schemas.commands import StepWork
from orchest_step_runner.executor import ExecutionResult, ProcessExecutor
from orchest_step_runner.executor.notebook import CONNECTION_FILE, EXECUTED_NOTEBOOK

RESULT_TIMEOUT = 60.0
"""Generous bound for a step to end (a kernel starts in 1-3 s)."""

R_KERNELSPEC = {"name": "ir", "display_name": "R", "language": "R"}
R_LANGUAGE_INFO = {"name": "R", "file_extension": ".r", "mimetype": "text/x-r-source"}
JULIA_KERNELSPEC = {"name": "julia-1.9", "display_name": "Julia 1.9.3", "language": "julia"}
JULIA_LANGUAGE_INFO = {"name": "julia", "file_extension": ".jl", "version": "1.9.3"}
BOTH_LANGUAGES = 'print("ran")'
"""A cell that is Python, R and Julia alike."""
PYTHON_KERNEL_MARK = "ORCHEST_TEST_KERNEL"


class Steps:
    """A project directory, a scratch directory, and step work over them."""

    def __init__(self, root: Path) -> None:
        self.dir = root / "project"
        self.dir.mkdir()
        self.scratch = root / "scratch"
        self.scratch.mkdir()

    def notebook(
        self,
        name: str,
        source: str,
        kernelspec: dict[str, str] | None,
        language_info: dict[str, str] | None = None,
    ) -> str:
        nb = nbformat.v4.new_notebook()
        if kernelspec is not None:
            nb.metadata["kernelspec"] = kernelspec
        if language_info is not None:
            nb.metadata["language_info"] = language_info
        nb.cells = [nbformat.v4.new_code_cell(source)]
        nbformat.write(nb, self.dir / name)
        return name

    def work(self, file_path: str, kernel: str) -> StepWork:
        return one_step_work(
            self.dir, file_path, step={"kernel": {"name": kernel, "display_name": kernel}}
        )


@pytest.fixture
def steps(tmp_path: Path) -> Steps:
    return Steps(tmp_path)


@pytest.fixture
def executor() -> ProcessExecutor:
    return ProcessExecutor(kill_grace_seconds=1.0)


async def run_step(
    executor: ProcessExecutor, steps: Steps, work: StepWork
) -> tuple[ExecutionResult, str]:
    chunks: list[str] = []

    async def output(text: str) -> None:
        chunks.append(text)

    result = await asyncio.wait_for(
        executor.execute(work, output=output, cancel=asyncio.Event(), scratch_dir=steps.scratch),
        RESULT_TIMEOUT,
    )
    return result, "".join(chunks)


def no_kernel_for(language: str) -> None:
    """These tests are of a host without a kernel of ``language``."""
    specs = KernelSpecManager().get_all_specs()
    found = [n for n, s in specs.items() if s["spec"].get("language", "").lower() == language]
    if found:
        pytest.skip(f"a {language} kernel is installed here ({', '.join(found)})")


def assert_refused_at_once(result: ExecutionResult, output: str, steps: Steps) -> None:
    """Failed before any kernel started: no exit code, no output, no
    executed notebook, no kernel connection file."""
    assert result.exit_code is None and output == "", (result, output)
    assert result.artifacts == {}
    assert not (steps.scratch / CONNECTION_FILE).exists()


@pytest.mark.parametrize("step_kernel", ["ir", "python"])
async def test_an_r_notebook_fails_at_once_naming_r_and_the_kernels_available(
    executor: ProcessExecutor, steps: Steps, step_kernel: str
) -> None:
    no_kernel_for("r")
    path = steps.notebook("r.ipynb", BOTH_LANGUAGES, R_KERNELSPEC, R_LANGUAGE_INFO)
    result, output = await run_step(executor, steps, steps.work(path, step_kernel))
    assert result.error is not None, f"ran in another kernel: {output!r}"
    head, _, available = result.error.partition("; kernels available: ")
    assert head == "no Jupyter kernel for R (the notebook's kernelspec language 'R')"
    assert "python3 (Python)" in available.split(", ")
    assert_refused_at_once(result, output, steps)


async def test_a_julia_notebook_fails_at_once_naming_julia(
    executor: ProcessExecutor, steps: Steps
) -> None:
    no_kernel_for("julia")
    # Language only in language_info: an older notebook's kernelspec has none.
    kernelspec = {k: v for k, v in JULIA_KERNELSPEC.items() if k != "language"}
    path = steps.notebook("j.ipynb", BOTH_LANGUAGES, kernelspec, JULIA_LANGUAGE_INFO)
    result, output = await run_step(executor, steps, steps.work(path, "julia-1.9"))
    assert result.error is not None, f"ran in another kernel: {output!r}"
    assert result.error.startswith(
        "no Jupyter kernel for Julia (the notebook's language_info 'julia'); kernels available: "
    )
    assert "python3 (Python)" in result.error
    assert_refused_at_once(result, output, steps)


@pytest.fixture
def python_kernelspec(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A kernelspec named ``python`` on this host (as ``ipykernel install
    --name python`` writes one), which marks its kernels."""
    spec_dir = tmp_path / "jupyter" / "kernels" / "python"
    spec_dir.mkdir(parents=True)
    spec = {
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "The project's Python",
        "language": "python",
        "env": {PYTHON_KERNEL_MARK: "the project's python"},
        "metadata": {"supported_encryption": ["curve"]},  # as ipykernel writes it
    }
    (spec_dir / "kernel.json").write_text(json.dumps(spec))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    return "the project's python"


async def test_a_kernelspec_named_python_is_used_as_itself(
    executor: ProcessExecutor, steps: Steps, python_kernelspec: str
) -> None:
    kernelspec = {"name": "python", "display_name": "Python 3", "language": "python"}
    source = f"import os, sys\nprint(os.environ.get({PYTHON_KERNEL_MARK!r}), sys.version_info[0])"
    path = steps.notebook("p.ipynb", source, kernelspec)
    result, output = await run_step(executor, steps, steps.work(path, "python"))
    assert result.error is None, output
    assert output == f"{python_kernelspec} 3\n"


@pytest.mark.parametrize(
    ("kernelspec", "step_kernel"),
    [
        ({"name": "python3", "display_name": "Python 3", "language": "python"}, "python"),
        # Orchest's own: one kernelspec per environment, its language said.
        ({"name": "orchest-kernel-3f1e", "display_name": "Py", "language": "python"}, "python"),
        # The step's kernel says R, the notebook Python: the notebook's wins.
        ({"name": "python3", "display_name": "Python 3", "language": "python"}, "ir"),
        (None, "python"),
    ],
)
async def test_a_python_notebook_runs_in_python(
    executor: ProcessExecutor,
    steps: Steps,
    kernelspec: dict[str, str] | None,
    step_kernel: str,
) -> None:
    path = steps.notebook("p.ipynb", "import sys\nprint(sys.version_info[0])", kernelspec)
    result, output = await run_step(executor, steps, steps.work(path, step_kernel))
    assert result.error is None, output
    assert output == "3\n"
    executed = nbformat.reads(result.artifacts[EXECUTED_NOTEBOOK].decode(), as_version=4)
    assert executed.metadata.language_info.name == "python"


# -- through the whole stack ------------------------------------------------------------


async def test_a_run_with_an_r_notebook_is_a_failure(stack: Stack, tmp_path: Path) -> None:
    no_kernel_for("r")
    root = tmp_path / "run-project"
    root.mkdir()
    project = RunProject(root)
    r_notebook = {
        "nbformat": 4,
        "nbformat_minor": 5,
        "metadata": {"kernelspec": R_KERNELSPEC, "language_info": R_LANGUAGE_INFO},
        "cells": [
            {
                "cell_type": "code",
                "id": "r0",
                "metadata": {},
                "source": BOTH_LANGUAGES,
                "outputs": [],
                "execution_count": None,
            }
        ],
    }
    # As Orchest wrote an R step.
    project.step("r", "r.ipynb", json.dumps(r_notebook), kernel={"name": "ir", "display_name": "R"})
    project.step("after", "after.sh", "echo after\n", ("r",))
    run = await stack.run_to_end(project.body(), timeout=RESULT_TIMEOUT)
    by_step = {s["step_uuid"]: s for s in run["pipeline_steps"]}
    assert run["status"] == "FAILURE", by_step
    failed = by_step["r"]
    assert failed["status"] == "FAILURE" and failed["artifacts"] == []
    assert failed["error"].startswith("no Jupyter kernel for R ("), failed
    assert "kernels available: " in failed["error"]
    assert by_step["after"]["status"] != "SUCCESS"
    logs = await stack.http.get(f"/api/runs/{run['uuid']}/steps/r/logs")
    assert logs.status_code == 200 and "ran" not in logs.text
