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

from orchest_schemas.commands import StepWork
from orchest_schemas.pipeline import PipelineDefinition
from orchest_schemas.status import Priority
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
    step_uuid = str(uuid4())
    work = StepWork(
        run_uuid=str(uuid4()),
        step_uuid=step_uuid,
        attempt=1,
        priority=Priority.INTERACTIVE,
        definition_key=uuid4().hex,
        pipeline_definition=PipelineDefinition.model_validate(
            {
                "uuid": str(uuid4()),
                "steps": {
                    step_uuid: {
                        "uuid": step_uuid,
                        "file_path": "nb.ipynb",
                        "kernel": {"name": KERNELSPECS[language]["name"]},
                    }
                },
            }
        ),
        project_dir=str(project),
        project_uuid=str(uuid4()),
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
