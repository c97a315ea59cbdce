"""An executed notebook is written back into its step file, as Orchest did
(``executor/write_back.py``): when every cell ran, atomically, its mode
kept, without the injected parameters cell; never over a change made while
it ran (then the log and an artifact say so), nor after a failed cell.
The process executor with a real kernel."""

from __future__ import annotations

import os
from pathlib import Path

import nbformat
import pytest
from integration.test_process_executor import Project, stream_text

from orchest_step_runner.executor import ProcessExecutor
from orchest_step_runner.executor.notebook import EXECUTED_NOTEBOOK
from orchest_step_runner.executor.write_back import NOT_WRITTEN_BACK


@pytest.fixture
def project(tmp_path: Path) -> Project:
    return Project(tmp_path)


@pytest.fixture
def executor() -> ProcessExecutor:
    return ProcessExecutor(kill_grace_seconds=1.0)


def read(project: Project, path: str) -> nbformat.NotebookNode:
    return nbformat.read(project.dir / path, as_version=4)


def files_of(project: Project) -> list[str]:
    return sorted(p.name for p in project.steps.iterdir())


async def test_the_executed_notebook_is_written_back_into_its_file(
    executor: ProcessExecutor,
    project: Project,
) -> None:
    path = project.notebook(
        "count.ipynb",
        ("total = 0", ["parameters"]),
        ("total += 40 + step_extra\nprint('total', total)", []),
    )
    (project.dir / path).chmod(0o640)
    work = project.work(path, step_parameters={"step_extra": 2})
    result, output = await project.run(executor, work)
    assert result.error is None, output.text
    assert set(result.artifacts) == {EXECUTED_NOTEBOOK}
    written = read(project, path)
    # The step's own two cells, run, with their outputs; no injected cell.
    assert [c.source for c in written.cells] == [
        "total = 0",
        "total += 40 + step_extra\nprint('total', total)",
    ]
    assert stream_text(written.cells[1]) == "total 42\n"
    assert [c.execution_count for c in written.cells] == [1, 3]
    assert written.metadata.kernelspec.name == "python3"
    assert written.metadata.language_info.name == "python"
    assert (project.dir / path).stat().st_mode & 0o777 == 0o640
    assert files_of(project) == ["count.ipynb"]  # no temporary file left


async def test_a_notebook_changed_during_the_run_is_not_written_back(
    executor: ProcessExecutor,
    project: Project,
) -> None:
    # The cell saves the notebook as a user would while it runs.
    saved = project.dir / "steps" / "edited.ipynb"
    path = project.notebook(
        "edited.ipynb",
        (f"with open({str(saved)!r}, 'a') as f:\n    f.write(' ')\nprint('ran')", []),
    )
    before = saved.read_bytes()
    result, output = await project.run(executor, project.work(path))
    assert result.error is None, output.text
    assert saved.read_bytes() == before + b" "  # the user's save stays
    note = (
        "The executed notebook was not written back into steps/edited.ipynb: it changed "
        "during the run; it is the artifact executed.ipynb.\n"
    )
    assert output.text == "ran\n" + note
    assert result.artifacts[NOT_WRITTEN_BACK] == note.encode()
    executed = nbformat.reads(result.artifacts[EXECUTED_NOTEBOOK].decode(), as_version=4)
    assert stream_text(executed.cells[0]) == "ran\n"
    assert files_of(project) == ["edited.ipynb"]


async def test_a_notebook_removed_during_the_run_is_not_written_back(
    executor: ProcessExecutor,
    project: Project,
) -> None:
    gone = project.dir / "steps" / "gone.ipynb"
    path = project.notebook("gone.ipynb", (f"import os\nos.remove({str(gone)!r})", []))
    result, output = await project.run(executor, project.work(path))
    assert result.error is None, output.text
    assert not gone.exists()
    assert "not written back into steps/gone.ipynb: it was removed during the run" in output.text
    assert set(result.artifacts) == {EXECUTED_NOTEBOOK, NOT_WRITTEN_BACK}


async def test_a_failed_notebook_is_not_written_back(
    executor: ProcessExecutor,
    project: Project,
) -> None:
    path = project.notebook("fails.ipynb", ("print('first')", []), ("1 / 0", []))
    before = (project.dir / path).read_bytes()
    result, output = await project.run(executor, project.work(path))
    assert result.error == "ZeroDivisionError: division by zero (cell 2)", output.text
    assert (project.dir / path).read_bytes() == before
    assert set(result.artifacts) == {EXECUTED_NOTEBOOK}
    assert os.listdir(project.steps) == ["fails.ipynb"]


async def test_a_job_run_writes_into_its_workspace(
    executor: ProcessExecutor,
    project: Project,
    tmp_path: Path,
) -> None:
    """A job run's project directory is its workspace (a copy of the job's
    snapshot): the notebook is written there, the project stays as it was."""
    path = project.notebook("job.ipynb", ("print('in the job')", []))
    before = (project.dir / path).read_bytes()
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    (workspace / "steps").mkdir()
    (workspace / path).write_bytes(before)
    work = project.work(path, job_uuid="0b5e-job").model_copy(
        update={"project_dir": str(workspace)}
    )
    result, output = await project.run(executor, work)
    assert result.error is None, output.text
    assert (project.dir / path).read_bytes() == before
    written = nbformat.read(workspace / path, as_version=4)
    assert stream_text(written.cells[0]) == "in the job\n"
