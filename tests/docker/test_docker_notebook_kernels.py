"""The docker executor chooses a notebook's kernel by the same rule as the
process executor: a step container offers the image's Python kernel only, so
an R or Julia notebook fails before any container is made. (Python notebooks
in containers: ``test_docker_executor.py``.)

Needs the Docker engine (the ``docker`` fixture), not the images: nothing is
started.
"""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING
from uuid import uuid4

import aiodocker
import nbformat
import pytest
from step_files import one_step_work

from orchest_step_runner.executor.docker import DockerExecutor, DockerOptions
from orchest_step_runner.executor.reaping import LABEL_RUN, RunnerIdentity, RunnerProcess

if TYPE_CHECKING:
    from conftest import Docker

KERNELSPECS = {
    "R": {"name": "ir", "display_name": "R", "language": "R"},
    "Julia": {"name": "julia-1.9", "display_name": "Julia 1.9.3", "language": "julia"},
}


@pytest.mark.parametrize("language", sorted(KERNELSPECS))
async def test_a_notebook_of_another_language_fails_before_any_container(
    docker: Docker, tmp_path: Path, language: str
) -> None:
    project = tmp_path / "project"
    project.mkdir()
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = KERNELSPECS[language]
    nb.cells = [nbformat.v4.new_code_cell('print("ran")')]
    nbformat.write(nb, project / "nb.ipynb")
    work = one_step_work(
        project, "nb.ipynb", step={"kernel": {"name": KERNELSPECS[language]["name"]}}
    )
    me = RunnerIdentity(
        f"test:{os.getpid()}:{uuid4().hex}", f"test-{uuid4().hex}", RunnerProcess.current()
    )
    chunks: list[str] = []

    async def output(text: str) -> None:
        chunks.append(text)

    options = DockerOptions(default_image="orchest/kernel-python:latest", data_dir=tmp_path)
    async with DockerExecutor.open(me, options) as executor:
        result = await asyncio.wait_for(
            executor.execute(work, output=output, cancel=asyncio.Event(), scratch_dir=scratch),
            60.0,
        )
    assert result.error is not None and result.error.startswith(
        f"no Jupyter kernel for {language} (the notebook's kernelspec language "
    ), result
    assert result.error.endswith("; kernels available: python3 (Python)")
    assert (result.exit_code, result.artifacts, chunks) == (None, {}, [])
    async with aiodocker.Docker() as engine:
        made = await engine.containers.list(
            all=True, filters=json.dumps({"label": [f"{LABEL_RUN}={work.run_uuid}"]})
        )
    assert made == []
